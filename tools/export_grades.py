"""Write the gradebook as CSV, one row per student and graded exercise (`make export`).

    python tools/export_grades.py [--course course] [--assignment NAME ...] [--out grades.csv]

``nbgrader export`` gives one total per student and assignment; an instructor who wants to see
which exercises a class got wrong, or to weight them differently, needs each graded cell. This
reads ``gradebook.db`` with nbgrader's own API (``nbgrader.api.Gradebook``) after ``make grade``
(or ``nbgrader autograde``) and after any manual grading in the formgrader, and writes:

    student, assignment, notebook, exercise, grade_id, score, max_score, needs_manual_grade

``exercise`` is the book's number (``10.4``: the chapter from the notebook's name, the exercise
from the ``grade_id``); ``score`` is the manual score where a person gave one, else the
autograder's, and is empty for an answer still waiting to be graded by hand
(``needs_manual_grade`` is then ``True``). A submitted notebook that nbgrader has not autograded
yet has no rows. Rows are sorted by student, assignment, notebook and exercise.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

COLUMNS = ["student", "assignment", "notebook", "exercise", "grade_id", "score", "max_score",
           "needs_manual_grade"]


def exercise_number(notebook: str, grade_id: str) -> str:
    """``10.4`` for notebook ``10_transfer`` and grade_id ``ex4_answer``; empty when either is
    not named the book's way (an instructor's own notebook or cell)."""
    chapter, exercise = re.match(r"(\d+)_", notebook), re.match(r"ex(\d+)", grade_id)
    return f"{int(chapter[1])}.{int(exercise[1])}" if chapter and exercise else ""


def rows(db_url: str, assignments: list[str] | None = None) -> list[dict]:
    """One dict per student and graded cell of the gradebook at ``db_url``."""
    from nbgrader.api import Gradebook

    found = []
    with Gradebook(db_url) as gb:
        for assignment in gb.assignments:
            if assignments and assignment.name not in assignments:
                continue
            for submission in gb.assignment_submissions(assignment.name):
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        # not nbgrader's grade.score, which reads 0 for an answer still waiting
                        # for a person: an empty cell says "not graded yet"
                        score = grade.auto_score if grade.manual_score is None else grade.manual_score
                        found.append({
                            "student": submission.student.id,
                            "assignment": assignment.name,
                            "notebook": notebook.name,
                            "exercise": exercise_number(notebook.name, grade.name),
                            "grade_id": grade.name,
                            "score": "" if score is None else f"{score:g}",
                            "max_score": f"{grade.max_score:g}",
                            "needs_manual_grade": grade.needs_manual_grade,
                        })

    def order(row):
        number = row["exercise"].partition(".")[2]
        return (row["student"], row["assignment"], row["notebook"],
                int(number) if number else 0, row["grade_id"])

    return sorted(found, key=order)


def write(table: list[dict], out) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path("course"))
    parser.add_argument("--db", help="the gradebook's URL (default: sqlite in the course folder)")
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    parser.add_argument("--out", default="-", help="the CSV file (default: standard output)")
    args = parser.parse_args(argv)
    database = args.course / "gradebook.db"
    if args.db is None and not database.is_file():
        raise ValueError(f"{database} is missing: `make course` and `make grade` first")
    found = rows(args.db or f"sqlite:///{database.resolve()}", args.assignment)
    if args.out == "-":
        write(found, sys.stdout)
    else:
        with open(args.out, "w", newline="") as out:
            write(found, out)
        students = len({r["student"] for r in found})
        print(f"{len(found)} rows ({students} students) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
