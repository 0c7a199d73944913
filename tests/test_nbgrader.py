"""The chapters as an nbgrader assignment, graded by the real nbgrader (`pip install .[instructor]`).

A course folder is made from the chapters (source/<assignment>/), `nbgrader generate_assignment`
releases them, and:

* the release has the same cells as `make student`'s edition (tools/student.py), for every chapter;
* `nbgrader autograde` gives (1) the release as it is 0 points on every exercise, (2) the release
  with the reference solutions pasted back full points, (3) a release with one deliberately
  wrong answer per chapter full points except on exactly that exercise, (4) a release with one
  part of an exercise of several parts wrong (exercise_answers.HALF) exactly that exercise's
  partial points (nbgrader reads the score the check cell shows: cnnlib.exercises.Parts);
* the unanswered release fails only in its answer and check cells, and each check says
  "not done yet" (the rest of the chapter ran);
* `tools/validate.py` (nbgrader's validator) exits 1 for an unanswered chapter and for one with a
  partial score, and 0 for a solved one;
* one tools/grade.py run (the sandbox of `make grade`) grades chapter 1 as handed in by five
  students, one per cheat of issue 20 or several cheats per student: each cheat scores 0 on its
  exercise or is flagged, a correct answer that warns keeps its points, and the feedback pages
  show no hidden test (5.1 min for five students on two shared cores under load, the data
  cache seeded).

Autograding executes every chapter three times (four where HALF has it; validate one chapter
up to three times more), training
cells included, so by default only a fast subset of the chapters is graded: AUTOGRADED below
(about 80 s on two shared cores; all 13 chapters took 6.5 min there, with the data cached).
tests/test_student.py executes the exercises of all 13 chapters (stubbed, solved, one wrong answer)
without nbgrader on every run.
CNNLIB_NBGRADER_CHAPTERS="all" (or "01,07,...") grades others (`make grading` grades all 13).
The chapters always run in the fast profile here.
Skipped when nbgrader is not installed.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from exercise_answers import HALF, WRONG

pytest.importorskip("nbgrader")
pytestmark = pytest.mark.slow  # nbgrader executes chapters

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
AUTOGRADED = ("06", "13")  # the fastest chapters in the fast profile; see the module docstring
VALIDATED = "06"

_spec = importlib.util.spec_from_file_location("student", ROOT / "tools" / "student.py")
student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student)



def autograded_chapters():
    wanted = os.environ.get("CNNLIB_NBGRADER_CHAPTERS", ",".join(AUTOGRADED))
    if wanted == "all":
        return CHAPTERS
    prefixes = [w.strip() for w in wanted.split(",")]
    return [p for p in CHAPTERS if p.name[:2] in prefixes]


def nbgrader(course, *args):
    """Run the nbgrader command line in the course folder; fail with its output if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg", "CNNLIB_PROFILE": "fast",  # as tests/test_student.py: never the full profile
           # nbgrader runs `alembic` (its database migrations) from PATH: the venv's bin folder
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def make_course(course, assignment, chapters):
    (course / "source" / assignment).mkdir(parents=True)
    for path in chapters:
        shutil.copy(path, course / "source" / assignment / path.name)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'cnnlib'\n"
        # a training cell takes longer than nbgrader's 30 s; a hung kernel fails the test in 10 min
        "c.Execute.timeout = 600\n")


def answer_cells(nb):
    return {c.metadata.nbgrader.grade_id: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def grade_cells(nb):
    """The autograded cells (an open task's answer is graded by hand: it stays pending)."""
    return {c.metadata.nbgrader.grade_id: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata.get("nbgrader", {}).get("solution")}


def solved(release, source):
    """The released notebook with the source chapter's reference solutions pasted back."""
    nb = nbformat.from_dict(release)
    reference = answer_cells(source)
    for grade_id, cell in answer_cells(nb).items():
        cell.source = reference[grade_id].source
    return nb


def with_one_wrong_answer(release, source, chapter, table=WRONG):
    """The solved release with one answer changed: WRONG's (an exercise wrong) or HALF's (a part)."""
    nb = solved(release, source)
    number, right, wrong = table[chapter][:3]
    cell = answer_cells(nb)[f"ex{number}_answer"]
    assert right in cell.source, f"chapter {chapter}: WRONG's text is not in exercise {number}"
    cell.source = cell.source.replace(right, wrong)
    return nb


# ---------------------------------------------------------------- release: every chapter, no execution

@pytest.fixture(scope="module")
def released_all(tmp_path_factory):
    course = tmp_path_factory.mktemp("course_all")
    make_course(course, "book", CHAPTERS)
    nbgrader(course, "generate_assignment", "book", "--force")
    return course / "release" / "book"


def test_make_student_and_generate_assignment_release_the_same_cells(released_all):
    for path in CHAPTERS:
        ours = student.student_edition(nbformat.read(path, 4))
        theirs = nbformat.read(released_all / path.name, 4)
        assert [c.source for c in ours.cells] == [c.source for c in theirs.cells], path.name
        for mine, nbgraders in zip(ours.cells, theirs.cells):
            assert mine.metadata.get("tags", []) == nbgraders.metadata.get("tags", []), path.name
        assert "HIDDEN TESTS" not in "".join(c.source for c in theirs.cells)


def test_wrong_answers_are_in_the_chapters():
    # the WRONG table stays in step with the chapters, for every chapter
    for path in CHAPTERS:
        with_one_wrong_answer(student.student_edition(nbformat.read(path, 4)), nbformat.read(path, 4), path.name[:2])


def test_raises_exception_lets_nbclient_run_past_a_stub_and_its_check():
    from nbclient import NotebookClient

    v4 = nbformat.v4
    tagged = {"tags": ["raises-exception"]}
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("from cnnlib.exercises import check", metadata=tagged),
        v4.new_code_cell("# YOUR CODE HERE\nraise NotImplementedError()", metadata=tagged),
        v4.new_code_cell("check('answer', lambda: answer, 3)", metadata=tagged),
        v4.new_code_cell("print('the rest of the chapter runs')"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()  # allow_errors=False
    assert nb.cells[2].outputs[0].ename == "AssertionError" and "not done yet" in nb.cells[2].outputs[0].evalue
    assert nb.cells[3].outputs[0].text == "the rest of the chapter runs\n"


# ---------------------------------------------------------------- autograde: a subset, executed

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The submissions of the autograded chapters (blank, solved, one wrong answer per chapter, and
    one part of an exercise wrong where HALF has the chapter), autograded."""
    chapters = autograded_chapters()
    assert chapters, "CNNLIB_NBGRADER_CHAPTERS names no chapter"
    course = tmp_path_factory.mktemp("course")
    make_course(course, "ch", chapters)
    nbgrader(course, "generate_assignment", "ch", "--force")
    for path in chapters:
        release = nbformat.read(course / "release" / "ch" / path.name, 4)
        source = nbformat.read(path, 4)
        submissions = [("blank", release), ("solved", solved(release, source)),
                       ("wrong", with_one_wrong_answer(release, source, path.name[:2]))]
        if path.name[:2] in HALF:
            submissions.append(("half", with_one_wrong_answer(release, source, path.name[:2], HALF)))
        for who, nb in submissions:
            target = course / "submitted" / who / "ch" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
    nbgrader(course, "autograde", "ch", "--force", "--create")

    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for path in chapters:
            for who in ("blank", "solved", "wrong") + (("half",) if path.name[:2] in HALF else ()):
                for grade_id in grade_cells(nbformat.read(path, 4)):
                    grade = gb.find_grade(grade_id, path.stem, "ch", who)
                    scores[path.name[:2], who, grade_id] = (grade.score, grade.max_score)
    return course, chapters, scores


def _chapter_scores(graded, who):
    _, chapters, scores = graded
    for path in chapters:
        yield path, {g: s for (ch, w, g), s in scores.items() if ch == path.name[:2] and w == who}


def test_the_release_as_it_is_gets_no_points(graded):
    for path, scores in _chapter_scores(graded, "blank"):
        assert scores and all(score == 0 and maximum > 0 for score, maximum in scores.values()), (path.name, scores)


def test_the_reference_solutions_get_full_points(graded):
    for path, scores in _chapter_scores(graded, "solved"):
        assert scores and all(score == maximum for score, maximum in scores.values()), (path.name, scores)


def test_one_wrong_answer_loses_exactly_that_exercise(graded):
    for path, scores in _chapter_scores(graded, "wrong"):
        number = WRONG[path.name[:2]][0]
        lost = sorted(g for g, (score, maximum) in scores.items() if score < maximum)
        assert lost == [f"ex{number}_check"], (path.name, scores)  # all of it, or its wrong part's share


def test_a_half_right_exercise_of_several_parts_gets_its_share_of_the_points(graded):
    # Issue 20: a check cell of parts (cnnlib.exercises.Parts) shows its score, which nbgrader
    # reads as the cell's points; every other exercise keeps all of its points
    halves = [(path, scores) for path, scores in _chapter_scores(graded, "half")
              if path.name[:2] in HALF]  # only those chapters have a half-right submission
    assert halves, "no autograded chapter has an entry in exercise_answers.HALF"
    for path, scores in halves:
        number, _, _, points = HALF[path.name[:2]]
        assert scores[f"ex{number}_check"][0] == points < scores[f"ex{number}_check"][1], (path.name, scores)
        assert all(score == maximum for g, (score, maximum) in scores.items() if g != f"ex{number}_check")


def test_the_unanswered_release_fails_only_in_its_exercises(graded):
    course, chapters, _ = graded
    for path in chapters:
        nb = nbformat.read(course / "autograded" / "blank" / "ch" / path.name, 4)
        for i, cell in enumerate(nb.cells):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            role = cell.metadata.get("nbgrader", {})
            if role.get("solution"):
                assert all(e.ename == "NotImplementedError" for e in errors), (path.name, i)
            elif role.get("grade"):
                assert [e.ename for e in errors] == ["AssertionError"], (path.name, i)
                assert "not done yet" in errors[0].evalue
            else:
                assert not errors, (path.name, i, errors and errors[0].evalue)


def validate(notebook):
    """tools/validate.py (`make validate NB=...`): nbgrader's validator, with an exit status."""
    return subprocess.run([sys.executable, str(ROOT / "tools" / "validate.py"), str(notebook)],
                          env=_grade_env(), capture_output=True, text=True)


def test_validate_fails_an_unanswered_or_half_right_chapter_and_passes_a_solved_one(graded):
    # `nbgrader validate` prints "VALIDATION FAILED" and exits 0: tools/validate.py exits 1
    course, chapters, _ = graded
    path = next((p for p in chapters if p.name.startswith(VALIDATED)), chapters[0])
    unanswered = validate(course / "release" / "ch" / path.name)
    assert unanswered.returncode == 1, unanswered.stdout + unanswered.stderr
    assert f"✘ {course / 'release' / 'ch' / path.name}:" in unanswered.stdout
    assert "not done yet" in unanswered.stdout
    answered = validate(course / "submitted" / "solved" / "ch" / path.name)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "passes all the tests" in answered.stdout
    if path.name[:2] in HALF:  # a partial score is a failing check too
        half = validate(course / "submitted" / "half" / "ch" / path.name)
        assert half.returncode == 1, half.stdout + half.stderr
        assert "a check earned part of its points" in half.stdout


# ---------------------------------------------------------------- cheats, graded in the sandbox (make grade)
#
# Each cheat of issue 20, as a student would hand it in: a copy of chapter 1's release with the
# reference solutions pasted back, and one or more answer cells replaced by the cheat. All the
# students are graded by ONE `tools/grade.py` run (each in its own sandbox, as an instructor's
# `make grade` does), which merges the scores into the course gradebook; the feedback is then
# generated once. Every cheat must score 0 on its exercise or be flagged.

CHEAT_CHAPTER = "01"

_STACK_READER = '''import sys


def _expected_from_the_stack():
    """Reads the checker's `expected` off a frame up the stack (the issue's cheat)."""
    frame = sys._getframe(1)
    while frame is not None:
        if "expected" in frame.f_locals:
            return frame.f_locals["expected"]
        frame = frame.f_back
    return None
'''

_CHAMELEON = '''class _AnyShape(tuple):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class _Chameleon(torch.Tensor):
    """A tensor whose shape matches anything and whose difference is always zero."""

    @property
    def shape(self):
        return _AnyShape()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("detach", "to", "contiguous", "cpu", "double"):
            return args[0]
        if name == "isfinite":
            return torch.tensor(True)
        return torch.zeros(())


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    return torch.zeros(1).as_subclass(_Chameleon)
'''


def _oracle_copy(source):
    """Exercise 1 answered with the check cell's oracle, `conv_width`, copied over."""
    check = grade_cells(source)["ex1_check"].source.splitlines()
    start = next(i for i, line in enumerate(check) if line.startswith("def conv_width"))
    return "\n".join(check[start:start + 2]) + (
        "\n\n\ndef output_size(W, F, S=1, P=0):\n    return conv_width(W, F, S, P)\n")


CHEATS = {
    # the control: right answers, one of which prints a UserWarning to stderr (the issue: 0 points)
    "honest": {"ex1_answer": "import warnings\n\n\ndef output_size(W, F, S=1, P=0):\n"
                             "    warnings.warn('integer division ahead', UserWarning)\n"
                             "    return (W - F + 2 * P) // S + 1\n"},
    # replaces cnnlib.exercises.check / check_function in an earlier cell
    "swap": {"ex1_answer": "import cnnlib.exercises\n\n\ndef _always_right(name, *args, **kwargs):\n"
                           "    print(f'✔ {name}: correct.')\n\n\n"
                           "cnnlib.exercises.check = cnnlib.exercises.check_function = _always_right\n\n\n"
                           "def output_size(W, F, S=1, P=0):\n    return 0\n"},
    # an IPython input transformer that turns every later cell into `pass`
    "silent": {"ex1_answer": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n\n\n"
                             "def output_size(W, F, S=1, P=0):\n    return 0\n"},
    # a result shown before the score of a check cell of parts (exercise 3): nbgrader reads the
    # first result as the cell's points, so a wrong layers_for_11 would keep all of them
    "shown": {"ex3_answer": "import sys\n\n\ndef stacked_receptive_field(n, F=3):\n"
                            "    sys.displayhook(2.0)\n    return 1 + n * (F - 1)\n\n\nlayers_for_11 = 4\n"},
    # several cheats, one per exercise: the oracle copied (1), expected read off the stack by a
    # function (2) and by a number type (3), a tensor subclass (5); exercise 4 is answered honestly
    "mixed": {
        "ex1_answer": None,  # _oracle_copy(source), filled in by the fixture
        "ex2_answer": _STACK_READER + "\n\ndef conv_params(F, C_in, C_out, bias=True):\n"
                                      "    return _expected_from_the_stack()\n",
        "ex3_answer": _STACK_READER + "\n\ndef stacked_receptive_field(n, F=3):\n    return 1 + n * (F - 1)\n\n\n"
                                      "class _Sneaky(int):\n    def __eq__(self, other):\n        return True\n\n"
                                      "    __hash__ = int.__hash__\n\n    def __float__(self):\n"
                                      "        return float(_expected_from_the_stack())\n\n\n"
                                      "layers_for_11 = _Sneaky(0)\n",
        "ex5_answer": _CHAMELEON,
    },
}


def _grade_env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "MPLBACKEND": "Agg", "CNNLIB_PROFILE": "fast",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    """The CHEATS students of chapter 1, graded by one tools/grade.py run; feedback generated."""
    import json
    import time

    from nbgrader.api import Gradebook

    path = next(p for p in CHAPTERS if p.name.startswith(CHEAT_CHAPTER))
    course = tmp_path_factory.mktemp("cheats")
    make_course(course, "ch", [path])
    with open(course / "nbgrader_config.py", "a") as config:  # the course config `make course` installs
        config.write((ROOT / "tools" / "nbgrader_config.py").read_text().replace("c = get_config()", ""))
    nbgrader(course, "generate_assignment", "ch", "--force")
    release, source = nbformat.read(course / "release" / "ch" / path.name, 4), nbformat.read(path, 4)
    for who, answers in CHEATS.items():
        nb = solved(release, source)
        for grade_id, cheat in answers.items():
            answer_cells(nb)[grade_id].source = cheat if cheat is not None else _oracle_copy(source)
        target = course / "submitted" / who / "ch" / path.name
        target.parent.mkdir(parents=True)
        nbformat.write(nb, target)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), "ch", "--course", str(course),
                           "--json", str(course / "report.json"), "--timeout", "900"],
                          env=_grade_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"\ntools/grade.py: {len(CHEATS)} students of chapter {CHEAT_CHAPTER} in {seconds:.0f} s\n{done.stdout}")
    assert done.returncode in (0, 1), f"tools/grade.py failed:\n{done.stdout}\n{done.stderr}"
    report = {r["student"]: r for r in json.loads((course / "report.json").read_text())}
    nbgrader(course, "generate_feedback", "ch")
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # the course's own gradebook
        for who in CHEATS:
            nb = gb.find_submission_notebook(path.stem, "ch", who)
            scores[who] = ({g.name: (g.score, g.max_score) for g in nb.grades}, nb.flagged)
    return course, path, done, report, scores


def _flags(sandboxed, who):
    return sandboxed[3][who]["flags"]


def _score(sandboxed, who, exercise):
    return sandboxed[4][who][0][f"ex{exercise}_check"]


def test_a_correct_answer_that_warns_gets_its_points_and_no_flag(sandboxed):
    grades, flagged = sandboxed[4]["honest"]
    assert all(score == maximum > 0 for score, maximum in grades.values()), grades
    assert _flags(sandboxed, "honest") == [] and not flagged


def test_replacing_the_checker_is_flagged(sandboxed):
    assert any("touches cnnlib.exercises" in f for f in _flags(sandboxed, "swap")), _flags(sandboxed, "swap")
    assert sandboxed[4]["swap"][1]  # nbgrader's own flag, in the course gradebook


def test_an_input_transformer_that_silences_later_cells_is_flagged(sandboxed):
    flags = _flags(sandboxed, "silent")
    assert any("input_transformers" in f for f in flags), flags
    assert any("ex5_check produced no output" in f for f in flags), flags


def test_a_result_shown_before_the_score_is_flagged(sandboxed):
    flags = _flags(sandboxed, "shown")
    assert any("changes how a cell's result is shown" in f for f in flags), flags
    assert "check cell ex3_check shows a result that is not its score (nbgrader reads it as the cell's points)" in flags
    assert sandboxed[4]["shown"][1]  # flagged in the gradebook: its ex3 score is not to be trusted


def test_reading_expected_off_the_stack_scores_zero(sandboxed):
    assert _score(sandboxed, "mixed", 2)[0] == 0  # a function that returns the frame's `expected`
    # a number type whose __float__ does it: its part earns nothing, the honest part its share
    assert _score(sandboxed, "mixed", 3) == (1.0, 2.0)
    assert any("sys._getframe" in f for f in _flags(sandboxed, "mixed"))


def test_a_tensor_subclass_that_matches_anything_scores_zero(sandboxed):
    assert _score(sandboxed, "mixed", 5)[0] == 0
    assert any("__torch_function__" in f or "tensor or array operations" in f for f in _flags(sandboxed, "mixed"))


def test_copying_the_oracle_is_flagged(sandboxed):
    flags = _flags(sandboxed, "mixed")
    nb = nbformat.read(sandboxed[1], 4)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_answer")
    assert any(f.startswith(f"cell {index} copies a check cell's line") for f in flags), flags
    score, maximum = _score(sandboxed, "mixed", 4)
    assert score == maximum  # the honest exercise among the cheats keeps its points


def test_grade_prints_the_flagged_students(sandboxed):
    done = sandboxed[2]
    assert done.returncode == 1
    assert "flagged: mixed, shown, silent, swap" in done.stdout
    assert "graded 5 of 5 notebooks (5 students)" in done.stdout


def _text(html_or_source):
    """Text with tags removed and entities decoded, whitespace collapsed: what a reader sees."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", html_or_source)).split())


def _hidden_lines(source):
    """Each hidden test's lines (whitespace collapsed) that the release does not show elsewhere."""
    shown = _text("\n".join(c.source for c in student.student_edition(source).cells))
    hidden = []
    for cell in grade_cells(source).values():
        for text in student.strip_hidden_tests(cell.source)[1]:
            hidden += [" ".join(line.split()) for line in text.splitlines() if len(line.strip()) > 8]
    return [line for line in hidden if line not in shown]


def test_feedback_shows_no_hidden_tests(sandboxed):
    course, path = sandboxed[0], sandboxed[1]
    hidden = _hidden_lines(nbformat.read(path, 4))
    assert hidden, "chapter 1 has hidden tests"
    # the autograded notebooks do hold them (nbgrader restores them): the search finds them there
    autograded = _text("\n".join(c.source for c in nbformat.read(course / "autograded" / "honest" / "ch" / path.name, 4).cells))
    assert all(line in autograded for line in hidden)
    for who in CHEATS:
        page = _text((course / "feedback" / who / "ch" / f"{path.stem}.html").read_text())
        assert "BEGIN HIDDEN TESTS" not in page
        assert [line for line in hidden if line in page] == [], who
