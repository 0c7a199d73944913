"""Write the tables of the book's syllabus page (syllabus.md) from the chapters themselves.

    python tools/syllabus.py            # rewrite the tables in syllabus.md
    python tools/syllabus.py --check    # exit 1 if syllabus.md is out of date (tests do this)

The page's prose (how to use it, the assessment weights) is written by hand. Its tables are not:
the exercises, their points and the length of each chapter's text are read from the notebooks,
so a changed exercise or a re-weighted point shows up here, or fails the check. What is judged
by people is kept as data below and checked against the notebooks: each learning outcome names
the exercises that assess it (an exercise a chapter does not have is an error), and each
exercise has a kind, what it asks a student to do:

- ``count``: count parameters, channels or sizes with a formula the chapter gives;
- ``formula``: write as code a formula, an expression or an algorithm the chapter (or the
  exercise) states;
- ``implement``: write an algorithm as code that the chapter describes only in words (a
  convolution by unfolding, a hue, an occlusion map, one training step);
- ``derive``: work a result out (on paper first) that the chapter does not state;
- ``design``: choose a value or a structure under a constraint;
- ``predict``: say what an experiment will show, then check it by running it (the three open
  tasks, 10.4, 11.5 and 12.4, are of this kind, graded by hand: nbgrader's manually graded
  answers, with their rubrics in instructor/solutions.md).

The schedules are kept here too, and ``make course`` (tools/course.py) reads them: one nbgrader
assignment per chapter (the thirteen-week term, a chapter a week) or per week of the short course
(SHORT_COURSE), named as the page's tables say (:func:`assignments`).

Time for a student is an estimate, and the page says how it is made: reading at 150 words a
minute (technical prose with formulas), 15 minutes per exercise point.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from format_notebooks import is_check_cell, is_manual_answer  # tools/, beside this file

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "syllabus.md"
START, END = "<!-- tables: tools/syllabus.py -->", "<!-- end of tables -->"
WORDS_PER_MINUTE = 150
MINUTES_PER_POINT = 15

# chapter number -> the kind of each exercise, in order (see the module docstring)
KINDS = {
    1: ["formula", "count", "derive", "derive", "implement"],
    2: ["formula", "derive", "formula", "count"],
    3: ["formula", "formula", "derive", "count", "predict"],
    4: ["formula", "derive", "derive", "count", "derive"],
    5: ["implement", "implement", "derive", "count"],
    6: ["count", "count", "design"],
    7: ["count", "count", "derive"],
    8: ["count", "design", "count"],
    9: ["formula", "count", "design"],
    10: ["count", "formula", "formula", "predict"],
    11: ["formula", "formula", "derive", "implement", "predict"],
    12: ["formula", "formula", "derive", "predict"],
    13: ["derive", "implement", "implement", "implement"],
}

THINKING = ("implement", "derive", "design", "predict")  # the rest transcribe or count

# (chapter, what a student can do after it, the exercises that assess it)
OUTCOMES = [
    (1, "size a conv layer and a pooling layer: output, parameters, receptive field",
     [1, 2, 3, 4]),
    (1, "write a convolution as a matrix product of unfolded windows", [5]),
    (2, "explain why He and Glorot initialisation keep activations' scale, and predict how "
        "fast it decays otherwise", [1, 2]),
    (2, "build and freeze hand-made first-layer filters (Gabor, patches)", [3, 4]),
    (3, "implement dropout in both conventions and derive the noise it adds", [1, 2, 3]),
    (3, "reason about dropout as an ensemble of thinned networks", [4, 5]),
    (4, "implement batch norm's forward and backward pass", [1, 5]),
    (4, "explain its running statistics and fold it into the conv before it", [2, 3, 4]),
    (5, "implement shift, colour and geometric augmentations and count what they produce",
     [1, 2, 3, 4]),
    (6, "follow the sizes and parameters of LeNet-5 and compare it with an MLP", [1, 2, 3]),
    (7, "account for AlexNet's parameters and its computation: grouped convolutions, FC "
        "layers against conv layers", [1, 2, 3]),
    (8, "explain VGG's stacked 3x3 convs and GoogLeNet's 1x1 reductions in weights and memory",
     [1, 2, 3]),
    (9, "build a residual block and size ResNets and DenseNets", [1, 2, 3]),
    (10, "choose what to freeze and what to train when reusing a network", [1, 2, 3]),
    (10, "predict how the learning rate of the pretrained layers, the attachment point and the "
         "pooling change transfer, then measure it and explain the result", [4]),
    (11, "explain adversarial domain adaptation (ADDA) down to one update by hand", [1, 2, 3, 4]),
    (11, "judge an adaptation run by its discriminator's accuracy, over seeds, and say what "
         "pre-training and dropout contribute", [5]),
    (12, "write CycleGAN's losses and derive what its PatchGAN discriminator sees", [1, 2, 3]),
    (12, "predict and measure what the identity loss and the image pool do to a translation",
     [4]),
    (13, "read filters, dead units, occlusion and saliency maps of a trained network",
     [1, 2, 3, 4]),
]

# The short course: week -> chapters
SHORT_COURSE = {1: [1, 2], 2: [3, 4, 5], 3: [6, 7, 8], 4: [9], 5: [10, 11, 12], 6: [13]}
SCHEDULES = ("chapters", "short")  # an nbgrader assignment per chapter, or per short-course week


class SyllabusError(ValueError):
    pass


def chapter_facts(path: Path) -> dict:
    """A chapter's title, its prose's word count, its graded exercises' points, in order, and the
    numbers of the exercises graded by hand."""
    nb = nbformat.read(path, as_version=4)
    title, words, points, manual = None, 0, [], []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not is_manual_answer(cell):  # a student's slot, not prose
            text = re.sub(r"<[^>]+>|\$[^$]*\$|[#*`|]", " ", cell.source)
            words += len(text.split())
            if title is None and cell.source.startswith("# "):
                title = cell.source.splitlines()[0][2:].strip()
        if is_check_cell(cell) or is_manual_answer(cell):
            points.append(cell.metadata["nbgrader"].get("points", 0))
            if is_manual_answer(cell):
                manual.append(len(points))
    return {"title": title, "words": words, "points": points, "manual": manual}


def all_facts() -> dict[int, dict]:
    facts = {}
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        facts[int(path.name[:2])] = chapter_facts(path) | {"file": path.stem}
    return facts


def assignments(schedule: str, facts: dict[int, dict] | None = None) -> dict[str, list[str]]:
    """The nbgrader assignments of a schedule: name -> the chapters' notebook names, in order.

    ``chapters``: one per chapter, named after its notebook (``ch01_conv_design``); ``short``: one
    per week of the short course (``week1``, ...).
    """
    facts = facts or all_facts()
    if schedule == "chapters":
        return {f"ch{chapter['file']}": [chapter["file"]] for chapter in facts.values()}
    if schedule == "short":
        return {f"week{week}": [facts[n]["file"] for n in numbers]
                for week, numbers in SHORT_COURSE.items()}
    raise SyllabusError(f"no schedule {schedule!r}: one of {', '.join(SCHEDULES)}")


def check_data(facts: dict[int, dict]) -> None:
    """The hand-kept data agrees with the chapters: a kind per exercise, real exercises only."""
    for number, chapter in facts.items():
        if len(KINDS.get(number, [])) != len(chapter["points"]):
            raise SyllabusError(f"chapter {number} has {len(chapter['points'])} graded exercises "
                                f"but KINDS lists {len(KINDS.get(number, []))}: update KINDS")
    for number, _, exercises in OUTCOMES:
        missing = [e for e in exercises if not 1 <= e <= len(facts[number]["points"])]
        if missing:
            raise SyllabusError(f"OUTCOMES names exercise {number}.{missing[0]}, which chapter "
                                f"{number} does not have")
    weeks = sorted(n for numbers in SHORT_COURSE.values() for n in numbers)
    if weeks != sorted(facts):
        raise SyllabusError(f"SHORT_COURSE must hold every chapter once, holds {weeks}")
    assessed = {(n, e) for n, _, exercises in OUTCOMES for e in exercises}
    for number, chapter in facts.items():
        for e in range(1, len(chapter["points"]) + 1):
            if (number, e) not in assessed:
                raise SyllabusError(f"exercise {number}.{e} assesses no outcome in OUTCOMES")


def minutes(chapter: dict) -> tuple[int, int]:
    reading = round(chapter["words"] / WORDS_PER_MINUTE)
    return reading, reading + MINUTES_PER_POINT * sum(chapter["points"])


def hours(total_minutes: int) -> str:
    return f"{total_minutes / 60:.1f} h"


def tables(facts: dict[int, dict]) -> str:
    check_data(facts)
    by_chapter, by_week = list(assignments("chapters", facts)), list(assignments("short", facts))
    lines = ["## Thirteen weeks: a chapter a week", "",
             "| Week | Chapter | Reading | Exercises (points) | Time for a student | Assignment |",
             "|---|---|---|---|---|---|"]
    for (number, chapter), name in zip(facts.items(), by_chapter):
        reading, total = minutes(chapter)
        points = " + ".join(str(p) for p in chapter["points"])
        lines.append(f"| {number} | [{chapter['title']}](chapters/{chapter['file']}.ipynb) | "
                     f"{chapter['words']:,} words, ~{reading} min | {len(chapter['points'])} "
                     f"({points} = {sum(chapter['points'])}) | ~{hours(total)} | `{name}` |")
    every = sum(sum(c["points"]) for c in facts.values())
    lines += ["", "## Six weeks: the short course", "",
              "| Week | Chapters | Points | Time for a student | Assignment |", "|---|---|---|---|---|"]
    for (week, numbers), name in zip(SHORT_COURSE.items(), by_week):
        total = sum(minutes(facts[n])[1] for n in numbers)
        points = sum(sum(facts[n]["points"]) for n in numbers)
        lines.append(f"| {week} | {', '.join(str(n) for n in numbers)} | {points} | "
                     f"~{hours(total)} | `{name}` |")
    lines += ["", "## Learning outcomes and the exercises that assess them", "",
              "| Chapter | After it, a student can… | Exercises (points) |", "|---|---|---|"]
    for number, outcome, exercises in OUTCOMES:
        points, manual = facts[number]["points"], facts[number]["manual"]
        listed = ", ".join(f"{number}.{e} ({points[e - 1]}{', by hand' if e in manual else ''})"
                           for e in exercises)
        lines.append(f"| {number} | {outcome} | {listed} |")
    lines += ["", "## What the exercises ask", "",
              "| Kind | What a student does | Exercises | Points |", "|---|---|---|---|"]
    meaning = {"count": "counts with a formula the chapter gives",
               "formula": "writes a stated formula as code",
               "implement": "writes an algorithm as code",
               "derive": "works out a result the chapter does not state",
               "design": "chooses a value or a structure under a constraint",
               "predict": "predicts an experiment's outcome, then runs it"}
    for kind, words in meaning.items():
        found = [(n, e + 1, facts[n]["points"][e]) for n, kinds in KINDS.items()
                 for e, k in enumerate(kinds) if k == kind]
        lines.append(f"| {kind} | {words} | {', '.join(f'{n}.{e}' for n, e, _ in found)} | "
                     f"{sum(p for *_, p in found)} of {every} |")
    thinking = sum(facts[n]["points"][e] for n, kinds in KINDS.items()
                   for e, k in enumerate(kinds) if k in THINKING)
    lines += ["", f"Exercises that make a student think ({', '.join(THINKING)}) carry {thinking} "
                  f"of the {every} points ({thinking / every:.0%})."]
    return "\n".join(lines) + "\n"


def render(page: str, facts: dict[int, dict]) -> str:
    if START not in page or END not in page:
        raise SyllabusError(f"{PAGE.name} has lost its markers {START!r} and {END!r}")
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{tables(facts)}\n{END}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is up to date")
    args = parser.parse_args(argv)
    page = PAGE.read_text()
    new = render(page, all_facts())
    if args.check:
        if new != page:
            print(f"{PAGE.name} is out of date: python tools/syllabus.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
