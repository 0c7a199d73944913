"""Format every code cell of the given notebooks with `ruff format`, at the book's line length,
and apply the book's page rules to the cells' metadata.

    python tools/format_notebooks.py chapters/*.ipynb           # rewrite the cells in place
    python tools/format_notebooks.py --check chapters/*.ipynb   # only say which would change

Only code cells change: their `source`, and two page rules in their metadata (below). Markdown
cells, outputs and execution counts are left as they are, and the notebook is written back with
nbformat (the same bytes as before for a notebook that is already formatted).

The page rules, re-applied on every run so that an edited or merged chapter keeps them:

- a check cell (nbgrader's locked test cell: ``grade: true``, ``solution: false``) gets the tag
  ``remove-input``. Its code holds the oracle and the ``### BEGIN HIDDEN TESTS`` block, with the
  expected values: the HTML book shows only its output (the ✔ lines, which name no value); the
  cell stays in the notebook and runs there. Solution cells keep ``hide-cell``: a collapsed
  worked answer the reader opens when they choose to (the book's only way to see it), where a
  check cell's code teaches nothing and gives the answer away.
- a code cell that outputs a figure gets the alt text written for it in tools/figure_alt.json
  (keyed by notebook file name and cell id) as myst-nb's ``mystnb: {image: {alt: ...}}``. myst-nb
  reads one alt text per cell (output metadata passes only width and height), so a cell with
  several figures gives each of them the same sentence. An id in the file that the notebook does
  not have, or that outputs no figure, is an error naming both: the text would be lost. IPython lines (`%pip ...`,
`!ls`, `%%time` cells) are kept as they are: ruff parses notebooks' IPython escapes itself, so
the cells are handed to it as one small notebook (one `ruff format` call per notebook).

LINE_LENGTH = 79, measured rather than chosen: in Chromium at a 1280 px window, the theme's
code cell is 684 px wide, 652 px inside its padding. The theme's 14 px monospace (DejaVu Sans
Mono here, Menlo on a Mac: 0.602 em, 8.43 px a character) fits only 77 characters, so the book's
_static/code-column.css sets code inputs and text outputs to 0.84rem (13.44 px, 8.09 px a
character): 80.6 characters fit, so 79 (PEP 8's limit) do with a character to spare.
tests/test_book_html.py measures the column again on the built pages and fails if LINE_LENGTH no
longer fits. ruff does not split long strings or comments: tests/test_chapters.py checks that no
code line is longer than LINE_LENGTH after formatting.

Exit status: 0 when nothing had to change (or everything was rewritten), 1 with --check when a
notebook would change, 2 when ruff could not parse a cell (the message names the notebook).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import nbformat

LINE_LENGTH = 79
CHECK_CELL_TAG = "remove-input"  # Jupyter Book: the cell's output shows, its code does not
ALT_TEXTS = Path(__file__).resolve().with_name("figure_alt.json")
FIGURE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")


class FormatError(ValueError):
    """ruff could not format a notebook (most often: a cell that is not valid Python)."""


def ruff_format_cells(sources: list[str], name: str = "notebook.ipynb") -> list[str]:
    """The code cells' sources, formatted by ruff as the cells of one notebook.

    `--isolated` ignores the project's own ruff settings (the library's code may use another
    line length); the book's code column is what counts here.
    """
    if not sources:
        return []
    scratch = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{k}",
                   "metadata": {}, "outputs": [], "source": source}
                  for k, source in enumerate(sources)],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--line-length", str(LINE_LENGTH),
         "--stdin-filename", name, "-"],
        input=json.dumps(scratch), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FormatError(f"ruff could not format {name}: {result.stderr.strip()} "
                          "(fix that cell's Python, then run the formatter again)")
    return ["".join(cell["source"]) for cell in json.loads(result.stdout)["cells"]]


def format_notebook(nb) -> list[int]:
    """Format the code cells of ``nb`` (an nbformat notebook) in place; return the indices of the
    cells whose source changed."""
    code = [k for k, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    formatted = ruff_format_cells([nb.cells[k].source for k in code],
                                  name=nb.metadata.get("name", "notebook.ipynb"))
    changed = []
    for k, source in zip(code, formatted, strict=True):
        if source != nb.cells[k].source:
            nb.cells[k].source = source
            changed.append(k)
    return changed


def is_check_cell(cell) -> bool:
    """nbgrader's locked autograder test cell: graded, read-only, not an answer."""
    grader = cell.metadata.get("nbgrader", {})
    return (cell.cell_type == "code" and bool(grader.get("grade")) and bool(grader.get("locked"))
            and not grader.get("solution"))


def is_manual_answer(cell) -> bool:
    """nbgrader's manually graded answer: an answer cell with points, scored by a person."""
    grader = cell.metadata.get("nbgrader", {})
    return bool(grader.get("grade")) and bool(grader.get("solution"))


def hide_check_cells(nb) -> list[int]:
    """Tag every check cell ``remove-input``; return the indices of the cells that were tagged."""
    changed = []
    for k, cell in enumerate(nb.cells):
        if is_check_cell(cell) and CHECK_CELL_TAG not in cell.metadata.get("tags", []):
            cell.metadata.setdefault("tags", []).append(CHECK_CELL_TAG)
            changed.append(k)
    return changed


def shows_a_figure(cell) -> bool:
    """A code cell with an image among its stored outputs (myst-nb renders it as an <img>)."""
    return cell.cell_type == "code" and any(
        kind in output.get("data", {}) for output in cell.get("outputs", []) for kind in FIGURE_TYPES)


def load_alt_texts(path: Path) -> dict[str, dict[str, str]]:
    """{notebook file name: {cell id: alt text}} from ``path`` (tools/figure_alt.json)."""
    try:
        texts = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}): fix it, then run the formatter again") from err
    if not isinstance(texts, dict) or not all(
            isinstance(cells, dict) and all(isinstance(t, str) and t.strip() for t in cells.values())
            for cells in texts.values()):
        raise ValueError(f"{path} must map each notebook's file name to {{cell id: alt text}}, "
                         "every alt text a non-empty string")
    return texts


def apply_alt_texts(nb, texts: dict[str, str], name: str = "notebook.ipynb") -> list[int]:
    """Write each figure cell's alt text (``texts``: {cell id: text}) into its myst-nb metadata;
    return the indices of the cells that changed. An id that is not a figure cell of ``nb`` is
    a FormatError naming it."""
    cells = {cell.get("id"): (k, cell) for k, cell in enumerate(nb.cells)}
    changed = []
    for cell_id, text in texts.items():
        if cell_id not in cells or not shows_a_figure(cells[cell_id][1]):
            what = "has no cell" if cell_id not in cells else "has no figure in cell"
            raise FormatError(f"{name} {what} {cell_id!r}, which {ALT_TEXTS.name} gives an alt "
                              "text: move the text to the figure's new cell id (or delete it)")
        k, cell = cells[cell_id]
        image = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
        if image.get("alt") != text:
            image["alt"] = text
            changed.append(k)
    return changed


def figures_without_alt(nb) -> list[str]:
    """The ids of the cells that show a figure and have no alt text."""
    return [cell.get("id") for cell in nb.cells if shows_a_figure(cell)
            and not cell.metadata.get("mystnb", {}).get("image", {}).get("alt")]


def normalise(nb, name: str, alt_texts: dict[str, dict[str, str]]) -> list[int]:
    """Format ``nb``'s code and apply the page rules; return the indices of the changed cells."""
    changed = format_notebook(nb)
    changed += hide_check_cells(nb)
    changed += apply_alt_texts(nb, alt_texts.get(name, {}), name)
    return sorted(set(changed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook is not formatted")
    args = parser.parse_args(argv)
    alt_texts = load_alt_texts(ALT_TEXTS)
    unformatted = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        nb.metadata["name"] = path.name  # only for ruff's messages; removed before writing
        try:
            changed = normalise(nb, path.name, alt_texts)
        except FormatError as err:
            print(f"error: {path}: {err}", file=sys.stderr)
            return 2
        finally:
            del nb.metadata["name"]
        missing = figures_without_alt(nb)
        if missing:
            print(f"note: {path}: {len(missing)} figure cell(s) without alt text "
                  f"({', '.join(missing)}): write one for each in {ALT_TEXTS.name}")
        if not changed:
            continue
        unformatted.append(path)
        if args.check:
            print(f"{path}: {len(changed)} code cell(s) would be reformatted "
                  f"(cells {', '.join(str(k + 1) for k in changed)})")
        else:
            nbformat.write(nb, path)
            print(f"{path}: reformatted {len(changed)} code cell(s)")
    if args.check and unformatted:
        print(f"{len(unformatted)} notebook(s) not formatted: "
              f"run python tools/format_notebooks.py {' '.join(map(str, unformatted))}")
        return 1
    return 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
