"""tools/format_notebooks.py: ruff format on code cells, at the book's line length, and the page
rules (check cells' code removed from the HTML page, figures' alt texts)."""
import sys
from pathlib import Path

import base64
import json

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import format_notebooks  # noqa: E402

LONG = ("result = {'first': [1, 2, 3], 'second': [4, 5, 6], 'third': [7, 8, 9], "
        "'fourth': [10, 11, 12]}")
SETUP = ('import sys\nif "google.colab" in sys.modules:\n'
         '    %pip install -q "cnnlib @ git+https://example.org/x"\n    !ls /content')


def notebook(tmp_path, sources=(SETUP, LONG)):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("Some *text*  with  spaces,x=1"))
    for k, source in enumerate(sources):
        cell = nbformat.v4.new_code_cell(source, execution_count=k + 1)
        cell.metadata["tags"] = ["remove-input"]
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="out  put\n")]
        nb.cells.append(cell)
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    return path


def test_formats_code_to_the_line_length_and_keeps_the_rest(tmp_path):
    path = notebook(tmp_path)
    before = nbformat.read(path, as_version=4)
    assert format_notebooks.main([str(path)]) == 0
    after = nbformat.read(path, as_version=4)
    code = after.cells[2].source
    assert code.startswith('result = {\n    "first": [1, 2, 3],')  # ruff's style, split
    assert max(map(len, code.splitlines())) <= format_notebooks.LINE_LENGTH < len(LONG)
    # IPython lines kept as they were (ruff alone would not parse them as Python)
    assert '    %pip install -q "cnnlib @ git+https://example.org/x"\n    !ls /content' in after.cells[1].source
    for old, new in zip(before.cells, after.cells, strict=True):
        assert new.metadata == old.metadata
        assert new.get("outputs") == old.get("outputs")
        assert new.get("execution_count") == old.get("execution_count")
    assert after.cells[0].source == before.cells[0].source  # Markdown untouched
    assert after.metadata == before.metadata


def test_check_mode_changes_nothing_and_fails_until_formatted(tmp_path, capsys):
    path = notebook(tmp_path)
    original = path.read_bytes()
    assert format_notebooks.main(["--check", str(path)]) == 1
    assert path.read_bytes() == original
    assert "chapter.ipynb: 2 code cell(s) would be reformatted (cells 2, 3)" in capsys.readouterr().out
    assert format_notebooks.main([str(path)]) == 0
    formatted = path.read_bytes()
    assert format_notebooks.main(["--check", str(path)]) == 0
    assert format_notebooks.main([str(path)]) == 0
    assert path.read_bytes() == formatted  # a formatted notebook is written back byte for byte


def test_a_cell_ruff_cannot_parse_names_the_notebook(tmp_path, capsys):
    path = notebook(tmp_path, sources=("def broken(:\n    pass",))
    original = path.read_bytes()
    assert format_notebooks.main([str(path)]) == 2
    assert "chapter.ipynb" in capsys.readouterr().err
    assert path.read_bytes() == original


@pytest.mark.parametrize("chapter", sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))[:1],
                         ids=lambda p: p.name)
def test_a_chapter_formats_without_touching_outputs_or_tags(tmp_path, chapter):
    copy = tmp_path / chapter.name
    copy.write_bytes(chapter.read_bytes())
    assert format_notebooks.main([str(copy)]) == 0
    before, after = (nbformat.read(p, as_version=4) for p in (chapter, copy))
    for old, new in zip(before.cells, after.cells, strict=True):
        assert (new.metadata, new.get("outputs")) == (old.metadata, old.get("outputs"))
    assert format_notebooks.main(["--check", str(copy)]) == 0


CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()


def exercise_notebook(tmp_path):
    """A solution cell, its check cell (nbgrader's locked test cell), and a cell with a figure."""
    v4 = nbformat.v4
    solution = v4.new_code_cell("### BEGIN SOLUTION\nanswer = 6\n### END SOLUTION", metadata={
        "nbgrader": {"grade": False, "locked": False, "solution": True, "grade_id": "a"},
        "tags": ["solution", "hide-cell", "raises-exception"]})
    check = v4.new_code_cell(
        'check("answer", lambda: answer, 2 * 3)\n### BEGIN HIDDEN TESTS\n'
        'check("answer (hand value)", lambda: answer, 6)\n### END HIDDEN TESTS', metadata={
            "nbgrader": {"grade": True, "locked": True, "solution": False, "points": 1,
                         "grade_id": "b"},
            "tags": ["raises-exception"]})
    check.outputs = [v4.new_output("stream", name="stdout", text="\u2714 answer: correct.\n")]
    figure = v4.new_code_cell("plt.show()")
    figure.outputs = [v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    nb = v4.new_notebook(cells=[solution, check, figure])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    return path, figure.id


@pytest.fixture
def alt_texts(tmp_path, monkeypatch):
    """Point the formatter at a scratch alt-text file; returns a function that writes it."""
    path = tmp_path / "figure_alt.json"
    monkeypatch.setattr(format_notebooks, "ALT_TEXTS", path)

    def write(texts):
        path.write_text(json.dumps(texts), encoding="utf-8")
    write({})
    return write


def test_check_cells_lose_their_input_on_the_page_and_keep_the_rest(tmp_path, alt_texts, capsys):
    path, _ = exercise_notebook(tmp_path)
    before = nbformat.read(path, as_version=4)
    assert format_notebooks.main(["--check", str(path)]) == 1  # the rule is not applied yet
    assert format_notebooks.main([str(path)]) == 0
    after = nbformat.read(path, as_version=4)
    assert after.cells[1].metadata.tags == ["raises-exception", "remove-input"]
    assert after.cells[1].outputs == before.cells[1].outputs  # the \u2714 line still shows
    assert after.cells[1].source == before.cells[1].source  # runnable, hidden tests kept
    # the worked solution stays a collapsed toggle (tests/test_book_html.py opens it)
    assert after.cells[0].metadata == before.cells[0].metadata
    applied = path.read_bytes()
    assert format_notebooks.main(["--check", str(path)]) == 0
    assert format_notebooks.main([str(path)]) == 0 and path.read_bytes() == applied


def test_alt_texts_are_written_into_mystnb_metadata(tmp_path, alt_texts, capsys):
    path, figure_id = exercise_notebook(tmp_path)
    assert format_notebooks.main([str(path)]) == 0
    assert f"1 figure cell(s) without alt text ({figure_id})" in capsys.readouterr().out
    text = "A single dot: the smallest figure there is."
    alt_texts({"chapter.ipynb": {figure_id: text}, "other.ipynb": {"x": "Not this notebook's."}})
    assert format_notebooks.main(["--check", str(path)]) == 1
    assert format_notebooks.main([str(path)]) == 0
    assert "without alt text" not in capsys.readouterr().out
    cell = nbformat.read(path, as_version=4).cells[2]
    assert cell.metadata.mystnb == {"image": {"alt": text}}
    assert format_notebooks.main(["--check", str(path)]) == 0


@pytest.mark.parametrize("where", ["no such cell", "a cell without a figure"])
def test_an_alt_text_for_a_missing_figure_is_an_error_naming_it(tmp_path, alt_texts, capsys, where):
    path, _ = exercise_notebook(tmp_path)
    cell_id = "gone" if where == "no such cell" else nbformat.read(path, as_version=4).cells[0].id
    alt_texts({"chapter.ipynb": {cell_id: "A figure that moved."}})
    original = path.read_bytes()
    assert format_notebooks.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "chapter.ipynb" in err and repr(cell_id) in err and "figure_alt.json" in err
    assert path.read_bytes() == original


def test_a_malformed_alt_text_file_is_an_error_naming_it(tmp_path, alt_texts):
    path, figure_id = exercise_notebook(tmp_path)
    alt_texts({"chapter.ipynb": {figure_id: ""}})
    with pytest.raises(ValueError, match="figure_alt.json must map"):
        format_notebooks.main([str(path)])


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_of_a_chapter_has_an_alt_sentence(chapter):
    # tools/figure_alt.json holds the texts; the formatter writes them into the chapters
    # (tests/test_chapters.py's --check run fails if a chapter does not carry them).
    nb = nbformat.read(chapter, as_version=4)
    texts = format_notebooks.load_alt_texts(format_notebooks.ALT_TEXTS).get(chapter.name, {})
    figures = [cell.id for cell in nb.cells if format_notebooks.shows_a_figure(cell)]
    assert sorted(texts) == sorted(figures), f"{chapter.name}: figure cells and alt texts differ"
    for cell_id, text in texts.items():
        assert text[0].isupper() and text.endswith(".") and len(text.split()) >= 8, (cell_id, text)
        assert not any(s in text for s in (".png", ".gif", ".jpeg", "_images/")), (cell_id, text)
