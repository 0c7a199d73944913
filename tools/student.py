"""Write the student edition of the chapters: solutions stubbed and hidden tests removed, as nbgrader does.

    python tools/student.py chapters/*.ipynb --out student/chapters      (what `make student` runs)

In each notebook, every region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers) becomes, at the indentation of the ``BEGIN`` line,

    # YOUR CODE HERE
    raise NotImplementedError()

(in a Markdown cell: ``YOUR ANSWER HERE``), exactly as nbgrader's ``ClearSolutions`` writes it; and
every region between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed, markers
included, exactly as nbgrader's ``ClearHiddenTests`` does. So `make student` and
``nbgrader generate_assignment`` give the same cells (tests/test_nbgrader.py compares them);
nbgrader also clears every output, where this edition keeps the book's figures.

Stubbed cells and check cells (nbgrader's autograder test cells, ``"grade": true``, and any code
cell right after a stubbed one) lose their stored outputs: a check said ✔, run by a student it says
"not done yet". Both get the tag ``raises-exception`` (the chapters carry it already), which nbval,
nbclient/nbconvert and myst-nb read as "this cell may raise": the released chapter runs top to
bottom, and only the stubbed cells and their checks fail. Everything else is kept: prose, figures,
the other cells and their outputs, and the cells' nbgrader metadata (nbgrader's autograder needs it).

Needs only nbformat (no nbgrader). Tested by tests/test_student.py and tests/test_nbgrader.py.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = ("YOUR ANSWER HERE",)
STUB_TAG = "raises-exception"  # nbval also reads it (as it reads nbval-raises-exception)


def solution_regions(source: str, begin_marker=BEGIN, end_marker=END) -> list[tuple[int, int]]:
    """(begin, end) line numbers of each marked region, markers included. Unbalanced markers raise."""
    regions, begin = [], None
    for number, line in enumerate(source.splitlines()):
        if begin_marker in line:  # as nbgrader does: a line that contains a marker is a marker
            if begin is not None:
                raise ValueError(f"line {number + 1}: {begin_marker} inside another region")
            begin = number
        elif end_marker in line:
            if begin is None:
                raise ValueError(f"line {number + 1}: {end_marker} without {begin_marker}")
            regions.append((begin, number))
            begin = None
    if begin is not None:
        raise ValueError(f"line {begin + 1}: {begin_marker} is never closed by {end_marker}")
    return regions


def strip_hidden_tests(source: str) -> tuple[str, list[str]]:
    """The source without its hidden-test regions (markers included), and the removed texts.

    As nbgrader's ``ClearHiddenTests``: the lines are split on "\\n" and joined again, so a region
    at the end of a cell leaves no trailing newline behind.
    """
    regions = solution_regions(source, BEGIN_HIDDEN, END_HIDDEN)
    if not regions:
        return source, []
    lines = source.split("\n")
    hidden = {n for begin, end in regions for n in range(begin, end + 1)}
    removed = ["\n".join(lines[begin + 1:end]) for begin, end in regions]
    return "\n".join(line for n, line in enumerate(lines) if n not in hidden), removed


def is_test_cell(cell) -> bool:
    """nbgrader's autograder test cell: a code cell whose nbgrader metadata says ``grade: true``."""
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("grade"))


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
    """A copy of notebook ``nb`` with its solutions stubbed and hidden tests removed (see the module docstring)."""
    nb = copy.deepcopy(nb)
    stubbed_before = False
    for cell in nb.cells:
        if cell.cell_type not in ("code", "markdown"):
            continue
        stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
        cell.source, removed = stub_source(cell.source, stub)
        cell.source, hidden = strip_hidden_tests(cell.source)
        if cell.cell_type != "code":
            continue
        # a check cell's stored verdict was made with the solution (and may show a hidden test)
        if removed or hidden or stubbed_before or is_test_cell(cell):
            cell.outputs, cell.execution_count = [], None
            tags = cell.metadata.setdefault("tags", [])
            if STUB_TAG not in tags:
                tags.append(STUB_TAG)
        stubbed_before = bool(removed)
    return nb


def read_notebook(path: Path):
    """The notebook at ``path``; a file that is not one is a ValueError naming it."""
    try:
        return nbformat.read(path, as_version=4)
    except (ValueError, nbformat.ValidationError, AttributeError, KeyError, TypeError) as err:
        # NotJSONError is a ValueError; JSON that is not a notebook fails in several ways
        first = (str(err).splitlines() or [""])[0][:160]
        raise ValueError(f"{path} is not a Jupyter notebook ({type(err).__name__}: {first})") from err


def check_not_the_sources(notebooks, out: Path) -> None:
    """Writing a student edition over its source would replace the solutions with stubs."""
    for path in notebooks:
        target = out / path.name
        if target.resolve() == path.resolve() or (target.exists() and target.samefile(path)):
            raise ValueError(f"--out {out} would overwrite {path} itself (its solutions would be "
                             "replaced by stubs): pass another folder, e.g. --out student/chapters")


def main(argv=None) -> int:
    """Write the student editions; a bad notebook or --out is a ValueError naming it
    (:func:`cli.run` prints it as one line, exit status 2)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("student/chapters"))
    args = parser.parse_args(argv)
    check_not_the_sources(args.notebooks, args.out)
    editions = []  # all made before any is written: a bad notebook leaves nothing half done
    for path in args.notebooks:
        nb = read_notebook(path)
        try:
            editions.append(student_edition(nb))
        except ValueError as err:  # unbalanced markers: say in which notebook
            raise ValueError(f"{path}: {err}") from err
    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    for path, student in zip(args.notebooks, editions):
        nbformat.validate(student)
        target = args.out / path.name
        nbformat.write(student, target)
        stubs = sum(c.source.count(CODE_STUB[1]) for c in student.cells if c.cell_type == "code")
        total += target.stat().st_size
        print(f"{path} -> {target}: {stubs} stubs, {target.stat().st_size:,} bytes")
    print(f"student edition: {len(args.notebooks)} notebooks, {total:,} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
