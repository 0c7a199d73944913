"""tools/format_notebooks.py: ruff format on code cells only, at the book's line length."""
import sys
from pathlib import Path

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
