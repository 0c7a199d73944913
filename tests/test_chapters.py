"""The chapters follow the book's conventions (see README, "Writing a chapter")."""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def load(path):
    return json.loads(path.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_every_chapter_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    assert CHAPTERS
    for path in CHAPTERS:
        assert f"chapters/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_starts_with_the_colab_setup_cell(path):
    first = "".join(code_cells(load(path))[0]["source"])
    assert '"google.colab" in sys.modules' in first
    assert f"git+{repository_url()}" in first, "the set-up cell must install from _config.yml's repository"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_executed_in_order_without_errors(path):
    cells = code_cells(load(path))
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
    for cell in cells:
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_three_checked_exercises_with_hidden_solutions(path):
    cells = code_cells(load(path))
    solutions = [i for i, c in enumerate(cells) if "### BEGIN SOLUTION" in "".join(c["source"])]
    assert len(solutions) >= 3
    for i in solutions:
        tags = cells[i]["metadata"].get("tags", [])
        assert "solution" in tags and "hide-cell" in tags
        assert "### END SOLUTION" in "".join(cells[i]["source"])
        following = "".join(cells[i + 1]["source"])
        assert re.search(r"\bcheck(_function)?\(", following), "a check cell must follow each solution"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_plot_cells_end_with_plt_show(path):
    for cell in code_cells(load(path)):
        source = "".join(cell["source"]).rstrip()
        if "plt.subplots" in source or "plt.figure" in source:
            assert source.endswith("plt.show()"), source[:80]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_outputs_come_from_the_full_profile(path):
    text = json.dumps(load(path))
    assert "profile 'full'" in text, "commit chapters executed with CNNLIB_PROFILE=full"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapters_normalise_with_the_library_not_by_hand(path):
    # (x / 255 - mean) / std is cnnlib.data.normalise / ImageDataset.normalised(): one formula,
    # one place (and a constant channel there is not a division by zero).
    for cell in code_cells(load(path)):
        source = "".join(cell["source"])
        assert not re.search(r"/\s*255\.?\s*-", source), source[:80]
