"""Format every code cell of the given notebooks with `ruff format`, at the book's line length.

    python tools/format_notebooks.py chapters/*.ipynb           # rewrite the cells in place
    python tools/format_notebooks.py --check chapters/*.ipynb   # only say which would change

Only the `source` of code cells changes: Markdown cells, cell tags and other metadata, outputs
and execution counts are left as they are, and the notebook is written back with nbformat (the
same bytes as before for a notebook that is already formatted). IPython lines (`%pip ...`,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook is not formatted")
    args = parser.parse_args(argv)
    unformatted = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        nb.metadata["name"] = path.name  # only for ruff's messages; removed before writing
        try:
            changed = format_notebook(nb)
        except FormatError as err:
            print(f"error: {path}: {err}", file=sys.stderr)
            return 2
        finally:
            del nb.metadata["name"]
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
