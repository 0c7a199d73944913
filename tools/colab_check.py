"""``make colab-check``'s install step: cnnlib installed from this clone as a chapter's set-up cell
installs it in Colab, after checking that the install replaces nothing Colab has preinstalled.

    .venv-colab/bin/python tools/colab_check.py

Run it with the Python of the Colab-like virtual environment (torch, torchvision and numpy at the
versions in ``tools/colab-versions.txt``). It

1. reads the ``%pip install`` line of the set-up cell (the first code cell of chapter 1) and keeps
   its pip options, swapping the address for this clone (``git+file://`` at the checked-out
   commit: what is committed is what installs, as from the repository);
2. asks pip what that would install (``--dry-run --report``) and stops if the list holds a
   package that is already installed: replacing Colab's torch, torchvision or numpy would mean
   gigabytes of downloads and a restarted runtime for every student;
3. installs it with the same options, then checks, from outside the clone, that ``cnnlib``
   imports from the environment and that torch, torchvision and numpy still have the versions
   in ``tools/colab-versions.txt``.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP_NOTEBOOK = ROOT / "chapters" / "01_conv_design.ipynb"
VERSIONS = ROOT / "tools" / "colab-versions.txt"


class ColabCheckError(Exception):
    """The install would not behave in Colab as the book promises."""


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (``Scikit_Image`` is ``scikit-image``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(path: Path = VERSIONS) -> dict[str, str]:
    """``{name: version}`` from a constraints file of ``name==version`` lines."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep:
            raise ColabCheckError(f"{path}: '{line}' is not name==version")
        pins[canonical(name.strip())] = version.strip()
    return pins


def setup_cell_pip_args(notebook: Path = SETUP_NOTEBOOK) -> list[str]:
    """What the set-up cell passes to ``%pip install`` (options and the requirement), split as a
    shell would split it."""
    cells = json.loads(notebook.read_text())["cells"]
    first = next(c for c in cells if c["cell_type"] == "code")
    for line in "".join(first["source"]).splitlines():
        words = line.strip().split(None, 2)
        if words[:2] in (["%pip", "install"], ["!pip", "install"]) and len(words) == 3:
            return shlex.split(words[2])
    raise ColabCheckError(f"{notebook}: the first code cell has no '%pip install' line")


def local_args(args: list[str], address: str) -> list[str]:
    """The set-up cell's pip arguments with the ``cnnlib @ ...`` requirement pointing at ``address``."""
    swapped = [f"cnnlib @ {address}" if canonical(a).startswith("cnnlib") else a for a in args]
    if swapped == args:
        raise ColabCheckError(f"the set-up cell's pip arguments {args} hold no 'cnnlib @ ...' requirement")
    return swapped


def would_replace(report: dict, installed: dict[str, str]) -> list[str]:
    """The already installed packages that a pip ``--report`` would install again, as
    ``'name installed -> new'``."""
    replaced = []
    for item in report.get("install", []):
        name, version = canonical(item["metadata"]["name"]), item["metadata"]["version"]
        if name in installed:
            replaced.append(f"{name} {installed[name]} -> {version}")
    return replaced


def installed_versions() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def pip(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], check=True, **kwargs)


def main() -> int:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    args = local_args(setup_cell_pip_args(), f"git+file://{ROOT}@{head}")
    if "cnnlib" in installed_versions():  # Colab has none: install it afresh, as there
        pip("uninstall", "-q", "-y", "cnnlib")
    installed = installed_versions()
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        pip("install", "--dry-run", "--report", str(report_path), *args, stdout=subprocess.DEVNULL)
        report = json.loads(report_path.read_text())
    replaced = would_replace(report, installed)
    if replaced:
        raise ColabCheckError("installing cnnlib as the set-up cell does would replace preinstalled "
                              f"packages: {', '.join(replaced)}. Loosen the ranges in pyproject.toml "
                              "so Colab's versions (tools/colab-versions.txt) satisfy them")
    print(f"pip install {shlex.join(args)}: installs "
          f"{', '.join(i['metadata']['name'] for i in report['install'])}; replaces nothing")
    pip("install", *args)
    with tempfile.TemporaryDirectory() as outside:  # not the clone's cnnlib folder
        probe = ("import json, cnnlib, numpy, torch, torchvision; print(cnnlib.__file__); "
                 "print(json.dumps({'torch': torch.__version__, 'torchvision': torchvision.__version__, "
                 "'numpy': numpy.__version__}))")
        lines = subprocess.run([sys.executable, "-c", probe], cwd=outside, check=True,
                               capture_output=True, text=True).stdout.splitlines()
    if Path(lines[0]).resolve().is_relative_to(ROOT):
        raise ColabCheckError(f"cnnlib imported from the clone ({lines[0]}), not from the install")
    now = {name: version.split("+")[0] for name, version in json.loads(lines[1]).items()}
    if now != pinned_versions():
        raise ColabCheckError(f"after the install: {now}; {VERSIONS.name} says {pinned_versions()}")
    print(f"cnnlib imports from {Path(lines[0]).parent}; {now}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ColabCheckError, subprocess.CalledProcessError) as err:
        sys.exit(f"colab-check: {err}")
