"""tools/nbgrader_config.py, the course's nbgrader configuration (`make course` copies it).

Its feedback step must never show hidden tests: nbgrader's ClearHiddenTests among the feedback
preprocessors, and a failed check cell's error shown as its message without the traceback, whose
context lines quote the cell, hidden tests included. The feedback pages of real submissions are
checked in tests/test_nbgrader.py (slow tier).
"""
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")
from traitlets.config import Config  # noqa: E402 (nbgrader brings traitlets)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config():
    """The file executed as nbgrader executes a config file: with `get_config` defined."""
    c = Config()
    namespace = {"get_config": lambda: c, "__name__": "nbgrader_config"}
    exec(compile((ROOT / "tools" / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"), namespace)
    return c, namespace


def test_feedback_clears_hidden_tests_after_reading_the_grades(config):
    c, namespace = config
    steps = c.GenerateFeedback.preprocessors
    assert steps[0] == "nbgrader.preprocessors.GetGrades"  # nbgrader's default, kept first
    assert "nbgrader.preprocessors.ClearHiddenTests" in steps
    assert namespace["ErrorMessageOnly"] in steps
    assert c.Execute.timeout >= 600


def test_a_failed_check_shows_its_message_not_the_cell_quoted_in_its_traceback(config):
    from nbgrader.preprocessors import ClearHiddenTests

    _, namespace = config
    hidden = "check('n (hand value)', lambda: n, 853)"
    cell = nbformat.v4.new_code_cell(
        f"check('n', lambda: n, oracle())\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "ex1_check", "points": 1, "locked": True}},
        outputs=[nbformat.v4.new_output("error", ename="AssertionError", evalue="✘ n (hand value): got 852, too small.",
                                        traceback=["----> 3 " + hidden, "AssertionError: ✘ n (hand value): got 852, too small."])])
    answer = nbformat.v4.new_code_cell("n = 852", outputs=[nbformat.v4.new_output(
        "error", ename="ValueError", evalue="x", traceback=["the student's own traceback"])])
    nb = nbformat.v4.new_notebook(cells=[answer, cell])
    for step in (ClearHiddenTests(), namespace["ErrorMessageOnly"]()):
        nb, _ = step.preprocess(nb, {})
    shown = nbformat.writes(nb)
    assert "853" not in shown and "HIDDEN" not in shown
    assert nb.cells[1].outputs[0].traceback == ["AssertionError: ✘ n (hand value): got 852, too small."]
    assert nb.cells[0].outputs[0].traceback == ["the student's own traceback"]  # answer cells keep theirs
