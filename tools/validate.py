"""Validate notebooks as ``nbgrader validate`` does, with an exit status that says whether they pass.

    python tools/validate.py chapter.ipynb [...] [--timeout 1800]      (what `make validate NB=...` runs)

``nbgrader validate`` prints "VALIDATION FAILED ON n CELL(S)!" and still exits 0, so a script or
CI job cannot tell a failing notebook from a passing one. This runs nbgrader's own validator
(``nbgrader.validator.Validator``: the notebook executed top to bottom, every check cell must pass,
no locked cell changed) and exits 1 when any notebook fails, 0 when all pass, 2 for a usage error.
For each failing check cell it prints the error's last line (the check's message). A check cell
of parts that earned some of its points but not all (cnnlib.exercises.Parts: nbgrader's partial
credit) fails too: the validator counts a score below the cell's points as a failure.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def validate(path: Path, timeout: float) -> list[str]:
    """The problems nbgrader's validator finds in ``path`` (none: it passes)."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    config = Config()
    config.Execute.timeout = timeout  # training cells take longer than nbgrader's 30 s
    results = Validator(config=config).validate(str(path))
    problems = [f"the type of a cell changed ({c['old_type']} -> {c['new_type']})"
                for c in results.get("type_changed", [])]
    problems += [f"a locked cell changed: {c['source'].splitlines()[0][:60]!r}"
                 for c in results.get("changed", [])]
    for cell in results.get("failed", []):
        text = re.sub(r"\x1b\[[0-9;]*m", "", cell["raw_error"])  # the traceback's colours
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if lines and lines[-1].startswith("Partial credit"):  # nbgrader's words for a score below the points
            problems.append("a check earned part of its points: its ✘ lines say which parts are not right yet")
        else:
            problems.append(f"a cell failed: {lines[-1] if lines else 'no output'}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per cell (default 1800)")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
    failing = 0
    for path in args.notebooks:
        problems = validate(path, args.timeout)
        if problems:
            failing += 1
            print(f"✘ {path}: {len(problems)} problem(s)")
            for problem in problems:
                print(f"    - {problem}")
        else:
            print(f"✔ {path}: passes all the tests")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
