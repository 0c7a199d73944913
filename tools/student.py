"""Write the student edition of the chapters: every solution replaced by nbgrader's stub.

    python tools/student.py chapters/*.ipynb --out student/chapters      (what `make student` runs)

In each notebook, every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers) becomes, at the indentation of the ``BEGIN`` line,

    # YOUR CODE HERE
    raise NotImplementedError()

(in a Markdown cell: ``YOUR ANSWER HERE``), exactly as nbgrader's ``ClearSolutions`` writes it, so
instructors who use nbgrader can feed it the chapters directly instead. Stubbed cells lose their
outputs and get the tag ``raises-exception``, which nbval, nbclient/nbconvert and myst-nb all read
as "this cell is expected to raise". The check cell that follows a stubbed cell loses its stored
verdict (it said ✔; run by a student it says "not done yet"). Everything else is kept: prose,
figures, the other cells and their outputs.

Needs only nbformat (no nbgrader). Tested by tests/test_student.py.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)
STUB_TAG = "raises-exception"  # nbval also reads it (as it reads nbval-raises-exception)


def solution_regions(source: str) -> list[tuple[int, int]]:
    """(begin, end) line numbers of each marked region, markers included. Unbalanced markers raise."""
    regions, begin = [], None
    for number, line in enumerate(source.splitlines()):
        if BEGIN in line:  # as nbgrader does: a line that contains a marker is a marker
            if begin is not None:
                raise ValueError(f"line {number + 1}: {BEGIN} inside another solution")
            begin = number
        elif END in line:
            if begin is None:
                raise ValueError(f"line {number + 1}: {END} without {BEGIN}")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise ValueError(f"line {begin + 1}: {BEGIN} is never closed by {END}")
    return regions


def stub_source(source: str, stub=CODE_STUB) -> tuple[str, list[str]]:
    """The source with each solution region replaced by ``stub``, and the removed solutions' texts."""
    regions = solution_regions(source)
    if not regions:
        return source, []
    lines = source.splitlines()
    out, removed, start = [], [], 0
    for begin, end in regions:
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        out += lines[start:begin] + [indent + line for line in stub]
        removed.append("\n".join(lines[begin + 1:end]))
        start = end + 1
    out += lines[start:]
    return "\n".join(out) + ("\n" if source.endswith("\n") else ""), removed


def student_edition(nb):
    """A copy of notebook ``nb`` with its solutions stubbed (see the module docstring)."""
    nb = copy.deepcopy(nb)
    stubbed_before = False
    for cell in nb.cells:
        if cell.cell_type not in ("code", "markdown"):
            continue
        stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
        cell.source, removed = stub_source(cell.source, stub)
        if cell.cell_type != "code":
            continue
        if removed:
            cell.outputs, cell.execution_count = [], None
            tags = cell.metadata.setdefault("tags", [])
            if STUB_TAG not in tags:
                tags.append(STUB_TAG)
        elif stubbed_before:  # the check cell: its stored verdict was made with the solution
            cell.outputs, cell.execution_count = [], None
        stubbed_before = bool(removed)
    return nb


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("student/chapters"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        try:
            student = student_edition(nb)
        except ValueError as err:
            parser.error(f"{path}: {err}")
        nbformat.validate(student)
        target = args.out / path.name
        nbformat.write(student, target)
        stubs = sum(c.source.count(CODE_STUB[1]) for c in student.cells if c.cell_type == "code")
        total += target.stat().st_size
        print(f"{path} -> {target}: {stubs} stubs, {target.stat().st_size:,} bytes")
    print(f"student edition: {len(args.notebooks)} notebooks, {total:,} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
