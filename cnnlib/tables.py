"""Plain-text and HTML tables for the library's results (``ReceptiveField``, ``Summary``).

``print(result)`` shows ``text_table``; Jupyter shows ``html_table`` through ``_repr_html_``.
"""
from __future__ import annotations

import html

__all__ = ["html_table", "text_table"]


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
    """The same table as HTML, with the footer lines in a monospace paragraph below it."""
    right = set(right)

    def cell(tag, i, value):
        style = ' style="text-align:right"' if i in right else ' style="text-align:left"'
        return f"<{tag}{style}>{html.escape(value)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in cells)
    notes = "<br>".join(html.escape(line) for line in footer)
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p style=\"font-family:monospace\">{notes}</p>")
