"""Plain-text and HTML tables for the library's results and the chapters' result tables.

``print(result)`` shows ``text_table``; Jupyter shows ``html_table`` through ``_repr_html_``.
A chapter shows its own results with :class:`Table`, so the HTML book gets a real table that
fits the column instead of fixed-width text that is cut at the edge.
"""
from __future__ import annotations

import html

__all__ = ["Table", "html_table", "text_table"]


def text_table(columns, cells, right, footer) -> str:
    """A fixed-width table: columns as wide as their widest cell, ``right`` ones right-aligned."""
    right = set(right)
    widths = [max(len(str(c)) for c in [title] + [row[i] for row in cells]) for i, title in enumerate(columns)]

    def line(values):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    body = [line(columns), rule] + [line(row) for row in cells] + [rule.replace("-", "=")]
    return "\n".join(body + list(footer))


def html_table(columns, cells, right, footer) -> str:
    """The same table as HTML, with the footer lines in a monospace paragraph below it.

    Only the alignment is set inline: Jupyter pads table cells with its own style sheet, and the
    book does it with _static/output-tables.css. nbval compares the chapters' stored HTML byte
    for byte, so a change here waits for the chapters' next execution (tests/test_tables.py)."""
    right = set(right)

    def cell(tag, i, value):
        style = ' style="text-align:right"' if i in right else ' style="text-align:left"'
        return f"<{tag}{style}>{html.escape(value)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in cells)
    notes = "<br>".join(html.escape(line) for line in footer)
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p style=\"font-family:monospace\">{notes}</p>")


def _format(value, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        # Thousands separators from 10,000 on: years (2012) and small counts read better plain.
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


class Table:
    """A result table: ``Table(["net", "accuracy"], [["LeNet", 0.98], ...])``.

    Floats are shown with ``digits`` decimals, integers of 10,000 or more with thousands
    separators, and numeric columns are right-aligned. Jupyter (and the HTML book) shows it as an HTML table, ``print``
    as text.
    """

    def __init__(self, columns, rows, *, digits: int = 3, footer=()):
        self.columns = [str(c) for c in columns]
        self.rows = [list(row) for row in rows]
        bad = [row for row in self.rows if len(row) != len(self.columns)]
        if bad:
            raise ValueError(f"every row needs {len(self.columns)} values, one per column "
                             f"{self.columns}; this one has {len(bad[0])}: {bad[0]}")
        self.cells = [[_format(v, digits) for v in row] for row in self.rows]
        self.right = [i for i in range(len(self.columns))
                      if self.rows and all(isinstance(row[i], (int, float)) for row in self.rows)]
        self.footer = list(footer)

    def __str__(self) -> str:
        return text_table(self.columns, self.cells, self.right, self.footer)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return html_table(self.columns, self.cells, self.right, self.footer)
