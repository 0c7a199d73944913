"""The course an instructor builds on the book: `make course`'s assignments, the instructor file,
`make export`'s per-exercise CSV.

* tools/course.py releases the syllabus page's assignments (tools/syllabus.py keeps the
  schedules): one per chapter, or one per week of the short course, every chapter in exactly one;
* instructor/solutions.md has a worked solution for every derivation exercise and a rubric for
  every exercise graded by hand, whose criteria add up to the cell's points; the book and the
  student edition leave it out;
* tools/export_grades.py, after a real nbgrader round trip (slow tier: chapter 6 released by
  tools/course.py, two students autograded, an open task graded by hand through nbgrader's API as
  the formgrader does), writes one row per student and graded cell with the right scores.
"""
import csv
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import course  # noqa: E402
import export_grades  # noqa: E402
import student  # noqa: E402
import syllabus  # noqa: E402

INSTRUCTOR_FILE = ROOT / "instructor" / "solutions.md"
# Derivations the issue names besides those KINDS calls `derive` (9.3 is a design with a count
# worked out on paper)
WORKED_TOO = {(9, 3)}


# ---------------------------------------------------------------- the assignments

def test_one_assignment_per_chapter_named_after_its_notebook():
    facts = syllabus.all_facts()
    plan = syllabus.assignments("chapters", facts)
    assert list(plan) == [f"ch{c['file']}" for c in facts.values()]
    assert list(plan)[0] == "ch01_conv_design"
    assert all(notebooks == [name[2:]] for name, notebooks in plan.items())


def test_the_short_course_releases_every_chapter_once_a_week_each():
    facts = syllabus.all_facts()
    plan = syllabus.assignments("short", facts)
    assert list(plan) == [f"week{w}" for w in syllabus.SHORT_COURSE]
    released = [nb for notebooks in plan.values() for nb in notebooks]
    assert sorted(released) == sorted(c["file"] for c in facts.values())


def test_a_short_course_that_leaves_a_chapter_out_is_an_error(monkeypatch):
    monkeypatch.setitem(syllabus.SHORT_COURSE, 6, [])
    with pytest.raises(syllabus.SyllabusError, match="SHORT_COURSE must hold every chapter once"):
        syllabus.check_data(syllabus.all_facts())


def test_the_syllabus_page_names_the_assignments_make_course_releases():
    page = syllabus.PAGE.read_text()
    for schedule in syllabus.SCHEDULES:
        for name in syllabus.assignments(schedule):
            assert f"| `{name}` |" in page, name


def test_an_unknown_schedule_or_assignment_is_one_line(tmp_path):
    with pytest.raises(syllabus.SyllabusError, match="no schedule 'terms'"):
        syllabus.assignments("terms")
    with pytest.raises(ValueError, match="has no assignment 'chapters'"):
        course.build(tmp_path / "course", "chapters", ["chapters"])
    assert not (tmp_path / "course").exists(), "nothing written before the names are checked"


def test_make_course_and_make_grade_take_the_schedule_and_the_assignment():
    makefile = (ROOT / "Makefile").read_text()
    assert "tools/course.py --course course --schedule $(SCHEDULE)" in makefile
    assert re.search(r"tools/grade.py \\\n\s+\$\(or \$\(ASSIGNMENT\)", makefile)
    assert "tools/export_grades.py --course course" in makefile


# ---------------------------------------------------------------- the instructor file

def entries() -> dict[str, str]:
    """Exercise number ("3.3") -> its section of the instructor file."""
    text = INSTRUCTOR_FILE.read_text()
    parts = re.split(r"^## Exercise (\d+\.\d+)\b.*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_derivation_has_a_worked_solution():
    found = entries()
    derivations = {(n, e + 1) for n, kinds in syllabus.KINDS.items()
                   for e, kind in enumerate(kinds) if kind == "derive"} | WORKED_TOO
    missing = sorted(f"{n}.{e}" for n, e in derivations if f"{n}.{e}" not in found)
    assert not missing, f"instructor/solutions.md has no entry for {missing}"
    for n, e in derivations:
        assert len(found[f"{n}.{e}"].split()) >= 60, f"exercise {n}.{e}: a worked solution, step by step"


def test_every_number_of_the_worked_solutions_is_computed():
    """The file's code blocks assert each number its derivations state (cnnlib, PyTorch)."""
    blocks = re.findall(r"^```python\n(.*?)^```$", INSTRUCTOR_FILE.read_text(), re.M | re.S)
    assert len(blocks) >= len(entries()) - 3, "a block per worked solution (the rubrics have none)"
    namespace = {}
    default = __import__("torch").get_default_dtype()
    try:
        for block in blocks:
            exec(compile(block, str(INSTRUCTOR_FILE), "exec"), namespace)
    finally:
        __import__("torch").set_default_dtype(default)  # the file computes in float64


def test_every_exercise_graded_by_hand_has_a_rubric_worth_its_points():
    found = entries()
    manual = [(n, e, chapter["points"][e - 1]) for n, chapter in syllabus.all_facts().items()
              for e in chapter["manual"]]
    assert len(manual) == 3, "the three open tasks: 10.4, 11.5, 12.4"
    for n, e, points in manual:
        section = found.get(f"{n}.{e}")
        assert section, f"instructor/solutions.md has no rubric for exercise {n}.{e}"
        # a rubric's rows: | criterion | points |, the points a whole number per criterion
        criteria = re.findall(r"^\| (?!Criterion|---)[^|]+\| (\d+) \|$", section, re.M)
        assert len(criteria) >= 2 and sum(map(int, criteria)) == points, \
            f"exercise {n}.{e}: the rubric gives {criteria}, the cell {points} points"


def test_the_book_and_the_student_edition_leave_the_instructor_file_out(tmp_path):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = re.findall(r"'file': '([^']+)'", str(toc))
    assert files and not any(f.startswith("instructor") for f in files)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["only_build_toc_files"] is True
    assert "instructor" in config["exclude_patterns"], "so that jupyter-book neither builds nor warns"
    # the student edition is the chapters only: nothing of the instructor file reaches it
    assert student.main([str(p) for p in sorted((ROOT / "chapters").glob("*.ipynb"))[:1]]
                        + ["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_conv_design.ipynb"]
    html = ROOT / "_build" / "html"
    if html.is_dir():  # after `make html`
        assert not (html / "instructor").exists()
        heading = "Worked solutions and rubrics"
        assert not any(heading in p.read_text(errors="replace") for p in html.rglob("*.html"))


# ---------------------------------------------------------------- the CSV, after real nbgrader

def test_exercise_numbers_come_from_the_notebook_and_the_grade_id():
    assert export_grades.exercise_number("10_transfer", "ex4_answer") == "10.4"
    assert export_grades.exercise_number("06_lenet", "ex12_check") == "6.12"
    assert export_grades.exercise_number("my_quiz", "ex1_check") == ""


def nbgrader(course_dir, *args):
    env = {**os.environ, "MPLBACKEND": "Agg", "CNNLIB_PROFILE": "fast",  # never the full profile
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


def submit(course_dir, who, assignment, nb, name):
    target = course_dir / "submitted" / who / assignment / name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


@pytest.mark.slow  # nbgrader executes chapter 6 twice (1.7 to 2.6 min on two shared cores under load)
def test_a_real_round_trip_exports_one_row_per_student_and_exercise(tmp_path):
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    root = tmp_path / "course"
    assert course.build(root, "chapters", ["ch06_lenet"]) == ["ch06_lenet"]
    assert (root / "instructor" / "solutions.md").is_file(), "the instructor file, beside source/"
    assert not (root / "release" / "ch06_lenet" / "solutions.md").exists()

    # an open task alone: chapter 12's answer cell graded by hand, in an assignment of its own
    chapter12 = nbformat.read(ROOT / "chapters" / "12_cyclegan.ipynb", 4)
    [open_task] = [c for c in chapter12.cells if c.cell_type == "markdown" and "nbgrader" in c.metadata]
    (root / "source" / "open").mkdir(parents=True)
    alone = nbformat.v4.new_notebook(cells=[open_task], metadata=chapter12.metadata)
    nbformat.write(alone, root / "source" / "open" / "12_open.ipynb")
    nbgrader(root, "generate_assignment", "open", "--force")

    release = nbformat.read(root / "release" / "ch06_lenet" / "06_lenet.ipynb", 4)
    source = nbformat.read(ROOT / "chapters" / "06_lenet.ipynb", 4)
    answers = {c.metadata.nbgrader.grade_id: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    solved = nbformat.from_dict(release)
    for cell in solved.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.metadata.nbgrader.grade_id]
    submit(root, "solved", "ch06_lenet", solved, "06_lenet.ipynb")
    submit(root, "blank", "ch06_lenet", release, "06_lenet.ipynb")
    written = nbformat.read(root / "release" / "open" / "12_open.ipynb", 4)
    written.cells[0].source = "With lambda_identity=0 I expected the backgrounds to change..."
    submit(root, "solved", "open", written, "12_open.ipynb")
    nbgrader(root, "autograde", "ch06_lenet", "--create", "--force")
    nbgrader(root, "autograde", "open", "--create", "--force")

    out = tmp_path / "grades.csv"
    assert export_grades.main(["--course", str(root), "--out", str(out)]) == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(table[0]) == export_grades.COLUMNS
    points = syllabus.all_facts()[6]["points"]
    chapter6 = [r for r in table if r["assignment"] == "ch06_lenet"]
    assert [(r["student"], r["exercise"]) for r in chapter6] == \
        [(who, f"6.{e}") for who in ("blank", "solved") for e in range(1, len(points) + 1)]
    for row, maximum in zip(chapter6, points * 2):
        assert row["grade_id"].startswith(f"ex{row['exercise'][2:]}_")
        assert float(row["max_score"]) == maximum and row["needs_manual_grade"] == "False"
        assert float(row["score"]) == (maximum if row["student"] == "solved" else 0), row
    [waiting] = [r for r in table if r["assignment"] == "open"]
    assert (waiting["exercise"], waiting["score"], waiting["needs_manual_grade"]) == ("12.4", "", "True")

    # the formgrader's manual grade: a score, and no longer waiting for one
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grade = gb.find_grade("ex4_answer", "12_open", "open", "solved")
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        gb.db.commit()
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "export_grades.py"), "--course",
                           str(root), "--assignment", "open"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [graded] = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (graded["score"], graded["max_score"], graded["needs_manual_grade"]) == ("1.5", "2", "False")
    shutil.rmtree(root)


def test_export_without_a_gradebook_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "export_grades.py"), "--course",
                           str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
