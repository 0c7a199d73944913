"""tools/grade.py's parts that need no nbgrader run: the flags (a check cell's score included) and
the sandbox's read-only copies.

The whole command, with real nbgrader and a cheating submission per cheat of issue 20, is in
tests/test_nbgrader.py (slow tier).
"""
import importlib.util
import os
import stat
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))  # grade.py's own `from cli import run`


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


grade, student = _load("grade"), _load("student")
v4 = nbformat.v4


def _release():
    """A small release: a set-up cell, an answer stub, and its locked check cell with an oracle."""
    return v4.new_notebook(cells=[
        v4.new_code_cell("import torch\nfrom torch import nn"),
        v4.new_code_cell("def width(W):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                         metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "ex1_answer"}}),
        v4.new_code_cell("from cnnlib.exercises import check_function\n\n\n"
                         "def real_width(W):  # the oracle: a real layer\n"
                         "    return nn.Conv2d(1, 1, 3)(torch.zeros(1, 1, W, W)).shape[-1]\n\n\n"
                         "cases = [((W,), real_width(W)) for W in (5, 8)]\n"
                         "check_function('width', width, cases)",
                         metadata={"nbgrader": {"grade": True, "locked": True, "points": 1, "grade_id": "ex1_check"}}),
    ])


def _submitted(answer, extra=None):
    nb = _release()
    nb.cells[1].source = answer
    if extra is not None:
        nb.cells.insert(2, v4.new_code_cell(extra))
    return nb


def _all_flags(nb):
    return grade.code_flags(nb, _release()) + grade.oracle_flags(nb, _release())


def test_an_honest_answer_raises_no_flag():
    assert _all_flags(_submitted("import warnings\n\n\ndef width(W):\n    return W - 2\n")) == []


@pytest.mark.parametrize("cheat, words", [
    ("import cnnlib.exercises as ex\nex.check_function = print", "touches cnnlib.exercises"),
    ("from cnnlib import exercises", "touches cnnlib.exercises"),
    ("def check_function(*args):\n    print('✔')", "redefines check/check_function"),
    ("import sys\ndef width(W):\n    return sys._getframe(1).f_locals['expected']", "walks the call stack"),
    ("import inspect\ndef width(W):\n    return inspect.stack()", "uses inspect"),
    ("get_ipython().input_transformers_post.append(lambda lines: ['pass'])", "input_transformers"),
    ("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass'])", "input_transformers"),
    ("get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)", "set_custom_exc"),
    ("class A(int):\n    def __eq__(self, other):\n        return True", "defines __eq__"),
    ("class T(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, *a):\n        pass", "tensor or array"),
    ("import gc\nfound = gc.get_referrers(width)", "searches the heap"),
    ("exec('import sy' + 's')", "exec/eval"),
    ("class Parts:\n    pass", "redefines check/check_function/Parts"),
    ("import sys\ndef width(W):\n    sys.displayhook(2.0)\n    return 0", "changes how a cell's result is shown"),
    ("get_ipython().ast_node_interactivity = 'none'", "changes how a cell's result is shown"),
    ("get_ipython().display_formatter.formatters['text/plain'].for_type(float, print)",
     "changes how a cell's result is shown"),
])
def test_each_cheat_of_the_issue_is_flagged(cheat, words):
    flags = _all_flags(_submitted("def width(W):\n    return W - 2\n", extra=cheat))
    assert any(words in f for f in flags), flags
    assert all(f.startswith("cell 2 ") for f in flags)  # the cell the cheat is in


def test_copying_the_visible_oracle_is_flagged():
    copied = ("def width(W):\n    return nn.Conv2d(1, 1, 3)(torch.zeros(1, 1, W, W)).shape[-1]\n")
    assert any("copies a check cell's line" in f for f in _all_flags(_submitted(copied)))
    # or calling it by name: the check cell defines it, and runs before the answer is called
    borrowed = _all_flags(_submitted("def width(W):\n    return real_width(W)\n"))
    assert borrowed == ["cell 1 uses real_width, which only a check cell defines"]
    # or reading the check cell's cases from the notebook's globals
    assert "uses cases" in _all_flags(_submitted("def width(W):\n    return dict(cases)[(W,)]\n"))[0]


def test_an_edited_locked_check_cell_is_not_student_code():
    nb = _submitted("def width(W):\n    return W - 2\n")
    nb.cells[2].source += "\nimport inspect"  # nbgrader restores the locked cell before grading
    assert _all_flags(nb) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_the_reference_solutions_raise_no_flag(path):
    source = nbformat.read(path, 4)
    assert _all_flags_for(source, student.student_edition(source)) == []


def _all_flags_for(submitted, released):
    return grade.code_flags(submitted, released) + grade.oracle_flags(submitted, released)


def _check_cell(*outputs):
    return v4.new_code_cell("check('x', lambda: x, 1)", outputs=list(outputs),
                            metadata={"nbgrader": {"grade": True, "grade_id": "ex1_check", "points": 1}})


def test_a_check_cell_that_printed_no_verdict_is_flagged():
    verdict = v4.new_output("stream", name="stdout", text="✔ x: correct.\n")
    failed = v4.new_output("error", ename="AssertionError", evalue="✘ x: got 2, too large.", traceback=[])
    other = v4.new_output("stream", name="stdout", text="all good\n")
    assert grade.silent_check_flags(v4.new_notebook(cells=[_check_cell(verdict), _check_cell(failed)])) == []
    assert grade.silent_check_flags(v4.new_notebook(cells=[_check_cell()])) == [
        "check cell ex1_check produced no output"]
    assert grade.silent_check_flags(v4.new_notebook(cells=[_check_cell(other)])) == [
        "check cell ex1_check passed without printing a verdict"]


def _parts_cell(*outputs, points=3):
    return v4.new_code_cell("parts = Parts('a', 'b', 'c', points=3)\nparts.check('a', lambda: a, 1)\nparts.score()",
                            outputs=list(outputs),
                            metadata={"nbgrader": {"grade": True, "grade_id": "ex1_check", "points": points}})


def _result(plain, markdown=None):
    data = {"text/plain": plain, **({"text/markdown": markdown} if markdown else {})}
    return v4.new_output("execute_result", data=data, execution_count=1)


def test_a_check_cell_whose_result_is_not_its_own_score_is_flagged():
    printed = v4.new_output("stream", name="stdout", text="✔ a: correct.\n✘ b: got 2, too large.\n")
    score = _result("2.0", "**2 of 3 points**: a ✔, b ✘, c ✔")
    failed = v4.new_output("error", ename="AssertionError", evalue="✘ 0 of 3 points: no part is right yet.",
                           traceback=[])
    # a genuine partial score, and a cell of parts that earned nothing (it raised): nothing to look at
    assert grade.score_flags(v4.new_notebook(cells=[_parts_cell(printed, score), _parts_cell(printed, failed)])) == []
    wrong = "check cell ex1_check shows a result that is not its score (nbgrader reads it as the cell's points)"
    cases = [
        (_parts_cell(printed), "check cell ex1_check shows no score"),  # suppressed: nbgrader gives full points
        (_parts_cell(_result("3.0"), printed, score), wrong),  # the student's code called the display hook
        (_parts_cell(printed, _result("3.0", "**2 of 3 points**: a ✔, b ✘, c ✔")), wrong),  # a formatter
        (_parts_cell(printed, score, points=2), wrong),  # a score of another cell's points
        (_check_cell(v4.new_output("stream", name="stdout", text="✔ x: correct.\n"), _result("0.5")), wrong),
    ]
    for cell, flag in cases:
        assert grade.score_flags(v4.new_notebook(cells=[cell])) == [flag]
    # the printed verdicts of a partial score are verdicts: no "passed without printing a verdict"
    assert grade.silent_check_flags(v4.new_notebook(cells=[_parts_cell(printed, score)])) == []


def test_the_read_only_copy_is_read_only_and_its_digest_shows_a_change(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("X = 1\n")
    copy = grade.read_only_copy(tmp_path / "pkg", tmp_path / "lib" / "pkg")
    assert stat.S_IMODE(os.stat(copy / "mod.py").st_mode) == 0o444
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o555
    assert list(copy.glob("__pycache__/mod.*.pyc"))  # compiled beforehand: imports write nothing
    before = grade.tree_digest(copy)
    os.chmod(copy / "mod.py", 0o644)  # what a student's code (or root, regardless of modes) can do
    (copy / "mod.py").write_text("X = 2\n")
    assert grade.tree_digest(copy) != before
    grade.make_writable(tmp_path / "lib")  # the sandbox can be removed afterwards


def test_grade_says_what_is_missing_in_a_course_folder(tmp_path, capsys):
    import cli

    assert cli.run(grade.main, ["chapters", "--course", str(tmp_path)]) == 2
    assert "run `make course`" in capsys.readouterr().err


def test_grade_needs_the_course_gradebook(tmp_path, capsys):
    import cli

    for folder in ("source/chapters", "submitted"):
        (tmp_path / folder).mkdir(parents=True)
    assert cli.run(grade.main, ["chapters", "--course", str(tmp_path)]) == 2
    assert "gradebook.db is missing" in capsys.readouterr().err


def test_a_deleted_check_cell_is_flagged():
    released = _release()
    kept = _submitted("def width(W):\n    return W - 2\n")
    assert grade.missing_check_flags(kept, released) == []
    del kept.cells[2]
    assert grade.missing_check_flags(kept, released) == ["check cell ex1_check was deleted"]
