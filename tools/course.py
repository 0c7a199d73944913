"""Make the nbgrader course folder: one assignment per chapter, or per week (`make course`).

    python tools/course.py [--course course] [--schedule chapters|short] [--assignment NAME ...]

The assignments are the syllabus page's (tools/syllabus.py keeps the schedules, so the page and
the course folder cannot disagree): ``chapters`` releases each chapter as an assignment of its
own, named after its notebook (``ch01_conv_design``, ...: the thirteen-week term); ``short``
releases each week of the six-week short course (``week1`` holds chapters 1 and 2, ...).

For each assignment the chapters are copied into ``source/<name>/`` and released with
``nbgrader generate_assignment <name> --force`` (solutions stubbed, hidden tests removed, the
assignment and its graded cells entered in ``gradebook.db``). The course also gets
``nbgrader_config.py`` (a copy of tools/nbgrader_config.py; an existing one is kept, with a
warning if it predates ``ClearHiddenTests``) and ``instructor/solutions.md`` (worked solutions and
rubrics: outside ``source/``, so never released).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import syllabus  # tools/, beside this file
from grade import nbgrader

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tools" / "nbgrader_config.py"
INSTRUCTOR_FILE = ROOT / "instructor" / "solutions.md"


def build(course: Path, schedule: str, only: list[str] | None = None) -> list[str]:
    """Copy and release the assignments of ``schedule`` (all, or those named in ``only``) in
    ``course``; return their names."""
    plan = syllabus.assignments(schedule)
    unknown = sorted(set(only or []) - set(plan))
    if unknown:
        raise ValueError(f"schedule {schedule!r} has no assignment {unknown[0]!r}: "
                         f"one of {', '.join(plan)}")
    plan = {name: notebooks for name, notebooks in plan.items() if not only or name in only}
    for name, notebooks in plan.items():
        folder = course / "source" / name
        folder.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            shutil.copyfile(ROOT / "chapters" / f"{notebook}.ipynb", folder / f"{notebook}.ipynb")
    config = course / "nbgrader_config.py"
    if not config.exists():
        shutil.copyfile(CONFIG, config)
    elif "ClearHiddenTests" not in config.read_text():
        print(f"warning: {config} is older than {CONFIG.relative_to(ROOT)}: its feedback pages "
              "show the hidden tests; copy the new one over it", file=sys.stderr)
    (course / "instructor").mkdir(exist_ok=True)
    shutil.copyfile(INSTRUCTOR_FILE, course / "instructor" / INSTRUCTOR_FILE.name)
    # nbgrader runs `alembic` (its database migrations) from PATH: this Python's bin folder first
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                  os.environ.get("PATH", "")])}
    for name in plan:
        done = nbgrader(course, ["generate_assignment", name, "--force"], env)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {name} failed:\n{done.stdout}")
        print(f"released {name}: {', '.join(plan[name])} -> {course / 'release' / name}", flush=True)
    return list(plan)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path("course"))
    parser.add_argument("--schedule", choices=syllabus.SCHEDULES, default="chapters",
                        help="an assignment per chapter (default) or per week of the short course")
    parser.add_argument("--assignment", action="append",
                        help="release only this assignment (repeatable; default: all)")
    args = parser.parse_args(argv)
    names = build(args.course.resolve(), args.schedule, args.assignment)
    print(f"assignments released: {len(names)}, in {args.course / 'release'}; the instructor "
          f"file: {args.course / 'instructor' / INSTRUCTOR_FILE.name}")
    return 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
