"""Execute chapter notebooks top to bottom in a fresh kernel and store their outputs in place.

    CNNLIB_PROFILE=full python tools/execute.py chapters/01_conv_design.ipynb [--out DIR]

This is how the committed outputs are made (execution counts 1..n, the profile printed by each
chapter's set-up cell). With --out, the executed copies are written to DIR instead. The values and
citations written into the prose are then renewed from the new outputs (tools/inline_values.py),
so the Markdown never states an older run's number.
"""
import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient

import inline_values


def store(nb, target: Path, bibliography) -> str | None:
    """Write the executed notebook to ``target`` with its prose's values renewed from its outputs.
    The outputs are written even where the prose cannot be renewed (a value no cell glues any
    more): they cost a run to make. Returns what went wrong then, else None."""
    renewed = copy.deepcopy(nb)
    try:
        inline_values.inline_notebook(renewed, bibliography)
        nb, problem = renewed, None
    except inline_values.InlineError as exc:
        problem = f"{target}: {exc} (outputs stored, prose not renewed)"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return problem


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--out", help="write executed notebooks here instead of in place")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    # Every notebook is read before the first runs: a mistyped last name stops the run at once,
    # not after an hour of executing the others.
    notebooks = [(Path(name), nbformat.read(name, as_version=4)) for name in args.notebooks]
    bibliography = inline_values.load_bibliography()
    problems = []
    for path, nb in notebooks:
        start = time.time()
        # IPC sockets in a private folder, not TCP ports: kernels started at the same moment by
        # several runs can otherwise race for the same port and wait forever for a lost reply.
        with tempfile.TemporaryDirectory() as sockets:
            manager = KernelManager(kernel_name="python3", transport="ipc",
                                    connection_file=str(Path(sockets) / "kernel.json"))
            client = NotebookClient(nb, km=manager, timeout=args.timeout,
                                    resources={"metadata": {"path": str(path.parent)}})
            client.execute()
        target = Path(args.out) / path.name if args.out else path
        problems.append(store(nb, target, bibliography))
        print(f"{path}: executed in {time.time() - start:.0f} s -> {target}", flush=True)
    for problem in filter(None, problems):
        print(f"error: {problem}", file=sys.stderr)
    return 1 if any(problems) else 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
