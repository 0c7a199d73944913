"""The chapters as an nbgrader assignment, graded by the real nbgrader (`pip install .[instructor]`).

A course folder is made from the chapters (source/<assignment>/), `nbgrader generate_assignment`
releases them, and:

* the release has the same cells as `make student`'s edition (tools/student.py), for every chapter;
* `nbgrader autograde` gives (1) the release as it is 0 points on every exercise, (2) the release
  with the reference solutions pasted back full points, (3) a release with one deliberately
  wrong answer per chapter full points except on exactly that exercise;
* the unanswered release fails only in its answer and check cells, and each check says
  "not done yet" (the rest of the chapter ran);
* `nbgrader validate` fails an unanswered chapter and passes a solved one.

Autograding executes every chapter three times (and validate one chapter twice more), training
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
from exercise_answers import WRONG

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
    return {c.metadata.nbgrader.grade_id: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def solved(release, source):
    """The released notebook with the source chapter's reference solutions pasted back."""
    nb = nbformat.from_dict(release)
    reference = answer_cells(source)
    for grade_id, cell in answer_cells(nb).items():
        cell.source = reference[grade_id].source
    return nb


def with_one_wrong_answer(release, source, chapter):
    nb = solved(release, source)
    number, right, wrong = WRONG[chapter]
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
    """Three submissions of the autograded chapters (blank, solved, one wrong answer per chapter), autograded."""
    chapters = autograded_chapters()
    assert chapters, "CNNLIB_NBGRADER_CHAPTERS names no chapter"
    course = tmp_path_factory.mktemp("course")
    make_course(course, "ch", chapters)
    nbgrader(course, "generate_assignment", "ch", "--force")
    for path in chapters:
        release = nbformat.read(course / "release" / "ch" / path.name, 4)
        source = nbformat.read(path, 4)
        for who, nb in (("blank", release), ("solved", solved(release, source)),
                        ("wrong", with_one_wrong_answer(release, source, path.name[:2]))):
            target = course / "submitted" / who / "ch" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
    nbgrader(course, "autograde", "ch", "--force", "--create")

    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for path in chapters:
            for who in ("blank", "solved", "wrong"):
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
        assert lost == [f"ex{number}_check"], (path.name, scores)
        assert scores[f"ex{number}_check"][0] == 0


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


def test_validate_fails_an_unanswered_chapter_and_passes_a_solved_one(graded):
    course, chapters, _ = graded
    path = next((p for p in chapters if p.name.startswith(VALIDATED)), chapters[0])
    unanswered = nbgrader(course, "validate", str(course / "release" / "ch" / path.name))
    assert "VALIDATION FAILED" in unanswered and "Success!" not in unanswered
    answered = nbgrader(course, "validate", str(course / "submitted" / "solved" / "ch" / path.name))
    assert "Success! Your notebook passes all the tests." in answered, answered
