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


def check_calls(source):
    """(part, how) for each check a check cell makes: the part its name (or ``part=``) names, and
    ``"parts"`` for ``parts.check...`` or ``"plain"`` for a bare ``check``/``check_function``."""
    import ast

    calls = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("check", "check_function"):
            given = [k.value.value for k in node.keywords if k.arg == "part"]
            calls.append((given[0] if given else node.args[0].value.split(" (")[0], "parts"))
        elif isinstance(func, ast.Name) and func.id in ("check", "check_function"):
            calls.append((node.args[0].value.split(" (")[0], "plain"))
    return calls


def declared_parts(source):
    """The names and points of a check cell's ``Parts(...)``, or ``None``."""
    import ast

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Parts":
            points = ast.literal_eval(next(k.value for k in node.keywords if k.arg == "points"))
            if isinstance(points, dict):
                return list(points), sum(points.values())
            return [ast.literal_eval(a) for a in node.args], points
    return None


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_a_check_cell_of_several_parts_scores_each_part(path):
    # Issue 20: a check cell of several parts earns each part's share (cnnlib.exercises.Parts);
    # the parts are declared up front, hidden tests included, and add up to the cell's points.
    for cell in code_cells(load(path)):
        grader = cell["metadata"].get("nbgrader", {})
        if not grader.get("grade") or grader.get("solution"):
            continue
        source = "".join(cell["source"])
        calls, declared = check_calls(source), declared_parts(source)
        where = f"{path.name} {grader['grade_id']}"
        if declared is None:
            assert len({part for part, _ in calls}) == 1, f"{where}: several parts, and no Parts"
            continue
        names, points = declared
        assert {how for _, how in calls} == {"parts"}, f"{where}: a bare check in a cell of parts"
        assert sorted(names) == sorted({part for part, _ in calls}), f"{where}: Parts declares {names}"
        assert points == grader["points"], f"{where}: Parts(points=...) is not the cell's points"
        assert source.rstrip().endswith("\nparts.score()"), f"{where}: the cell ends with its score"
        assert "### BEGIN HIDDEN TESTS" not in source.split("parts = Parts(")[0], where


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_plot_cells_end_with_plt_show(path):
    for cell in code_cells(load(path)):
        source = "".join(cell["source"]).rstrip()
        if "plt.subplots" in source or "plt.figure" in source:
            assert source.endswith("plt.show()"), source[:80]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_outputs_come_from_the_full_profile(path):
    text = json.dumps(load(path))
    assert "the full profile (" in text, "commit chapters executed with CNNLIB_PROFILE=full"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapters_normalise_with_the_library_not_by_hand(path):
    # (x / 255 - mean) / std is cnnlib.data.normalise / ImageDataset.normalised(): one formula,
    # one place (and a constant channel there is not a division by zero).
    for cell in code_cells(load(path)):
        source = "".join(cell["source"])
        assert not re.search(r"/\s*255\.?\s*-", source), source[:80]


# The page conventions (issue 13): what the HTML book shows is what a reader needs -------------
TOOLS = ROOT / "tools"
HIDDEN_INPUT_TAGS = {"remove-input", "hide-input", "remove-cell"}
MACHINE_PATH = re.compile(r"/tmp/|/work/|/home/|/root/|site-packages")


def line_length() -> int:
    """The formatter's line length (tools/format_notebooks.py: what fits the book's code column)."""
    import sys

    sys.path.insert(0, str(TOOLS))
    from format_notebooks import LINE_LENGTH

    return LINE_LENGTH


def first_line(cell) -> str:
    return "".join(cell["source"]).strip().split("\n")[0][:70]


def output_text(cell) -> str:
    """All the text a cell's outputs hold: streams, tracebacks and every text-like display."""
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        parts.extend(out.get("traceback", []))
        for kind, data in out.get("data", {}).items():
            if kind.startswith("text/") or kind.endswith(("text/plain", "text/html")):
                parts.append(data if isinstance(data, str) else "".join(data))
    return "\n".join(parts)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_glue_cells_hide_their_input(path):
    # glue() calls are bookkeeping: the page shows their numbers in the prose, not the code.
    shown = [f"code cell {k + 1}: {first_line(c)}" for k, c in enumerate(code_cells(load(path)))
             if re.search(r"(?<![\w.])glue\(|\.glue\(", "".join(c["source"]))
             and not HIDDEN_INPUT_TAGS & set(c["metadata"].get("tags", []))]
    assert not shown, (f"{path.name}: tag these glue cells `remove-input` (keep in them only "
                       "what a reader need not see):\n  " + "\n  ".join(shown))


def lines_over_the_column(path, texts_of_cell):
    """``code cell k, line n (m characters): ...`` for each line of ``texts_of_cell(cell)``
    (the texts of one code cell) longer than the book's column."""
    limit = line_length()
    return [f"code cell {k + 1}, line {n + 1} ({len(line)} characters): {line.strip()[:50]}"
            for k, c in enumerate(code_cells(load(path)))
            for text in texts_of_cell(c)
            for n, line in enumerate(text.split("\n")) if len(line) > limit]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_lines_fit_the_column(path):
    long = lines_over_the_column(path, lambda c: ["".join(c["source"])])
    assert not long, (f"{path.name}: code lines longer than {line_length()} characters (the "
                      "book's code column; run tools/format_notebooks.py, then split long "
                      "strings and comments by hand):\n  " + "\n  ".join(long))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_printed_lines_fit_the_column(path):
    # The same column holds the text outputs (tests/test_book_html.py measures it in a browser;
    # this says which line, without one). Tables and figures are HTML and images, not text.
    long = lines_over_the_column(path, lambda c: ["".join(out.get("text", ""))
                                                  for out in c.get("outputs", [])
                                                  if out.get("output_type") == "stream"])
    assert not long, (f"{path.name}: printed lines longer than {line_length()} characters "
                      "(wrap them: textwrap.fill, or cnnlib.pretrained.wrap):\n  "
                      + "\n  ".join(long))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_cells_that_draw_end_with_plt_show(path):
    # A figure cell that does not end with plt.show() also prints `<Figure size ...>` or
    # `<matplotlib... at 0x...>` under the picture.
    drawing = [f"code cell {k + 1}: {first_line(c)}" for k, c in enumerate(code_cells(load(path)))
               if any("image/png" in out.get("data", {}) for out in c["outputs"])
               and not "".join(c["source"]).rstrip().endswith("plt.show()")]
    assert not drawing, f"{path.name}: end these cells with plt.show():\n  " + "\n  ".join(drawing)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_output_shows_a_machine_path(path):
    # A temp or home folder in an output (a warning's file name, a cache folder) means nothing
    # to a reader; cnnlib.book.setup names the settings (CNNLIB_DATA, CNNLIB_CACHE) instead.
    shown = [f"code cell {k + 1} ({first_line(c)}): {line.strip()[:80]}"
             for k, c in enumerate(code_cells(load(path)))
             for line in output_text(c).splitlines() if MACHINE_PATH.search(line)]
    assert not shown, f"{path.name}: outputs print machine paths:\n  " + "\n  ".join(shown)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_code_is_formatted(path, capsys):
    line_length()  # puts tools/ on the path
    from format_notebooks import main as format_notebooks

    status = format_notebooks(["--check", str(path)])
    said = capsys.readouterr()
    assert status == 0, said.out + said.err
