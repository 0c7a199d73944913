"""cnnlib.tables: the result tables the chapters show."""
import pytest

from cnnlib.tables import Table


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
