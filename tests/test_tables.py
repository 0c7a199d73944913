"""cnnlib.tables: the result tables the chapters show."""
import html
import re
from pathlib import Path

import nbformat
import pytest

from cnnlib.tables import Table, html_table


def test_table_formats_numbers_and_aligns_numeric_columns():
    table = Table(["net", "params", "accuracy"], [["LeNet-5", 61706, 0.98765], ["MLP", 397510, 0.5]])
    assert table.cells == [["LeNet-5", "61,706", "0.988"], ["MLP", "397,510", "0.500"]]
    assert Table(["year", "layers"], [[2012, 8]]).cells == [["2012", "8"]]  # no "2,012"
    assert table.right == [1, 2]
    text = str(table).splitlines()
    assert text[0].split() == ["net", "params", "accuracy"] and text[2].endswith("0.988")
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and '<td style="text-align:right">61,706</td>' in html


def test_table_rows_must_match_the_columns():
    with pytest.raises(ValueError, match="every row needs 2 values"):
        Table(["a", "b"], [[1, 2, 3]])


CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
CELL = re.compile(r'<(th|td) style="text-align:(left|right)">(.*?)</\1>')


def stored_tables(path):
    """The HTML of every Table a chapter's stored outputs show."""
    nb = nbformat.read(path, as_version=4)
    return ["".join(out["data"]["text/html"])
            for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if "".join(out.get("data", {}).get("text/html", "")).startswith("<table><thead>")]


def rebuilt(stored):
    """``html_table`` called with the columns, cells, alignment and footer read back from ``stored``."""
    head, body = stored.split("</thead>", 1)
    columns = [html.unescape(v) for _, _, v in CELL.findall(head)]
    rows = [[html.unescape(v) for _, _, v in CELL.findall(row)] for row in body.split("</tr>")[:-1]]
    right = [i for i, (_, side, _) in enumerate(CELL.findall(head)) if side == "right"]
    notes = stored.split('<p style="font-family:monospace">', 1)[1].removesuffix("</p>")
    footer = [html.unescape(line) for line in notes.split("<br>")] if notes else []
    return html_table(columns, rows, right, footer)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_html_is_what_the_chapters_stored(path):
    # nbval compares text/html outputs byte for byte, so Table's HTML must stay what the
    # stored chapters hold until they are executed again: the book pads and scrolls the tables
    # with _static/output-tables.css instead (tests/test_book_html.py measures it).
    for stored in stored_tables(path):
        assert rebuilt(stored) == stored
