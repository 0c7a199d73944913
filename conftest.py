"""Makes ``pytest --nbval chapters/`` work exactly as typed, from any directory.

nbval opens ``--nbval-sanitize-with`` relative to the current directory and, by default, starts
whatever kernel a notebook names. Here both are pinned: the sanitize file by absolute path, and
the kernel to the Python running pytest (the project's virtual environment).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def pytest_configure(config):
    option = config.option
    if getattr(option, "nbval", False):
        if not getattr(option, "nbval_sanitize_with", None):
            option.nbval_sanitize_with = str(ROOT / "nbval_sanitize.cfg")
        if not getattr(option, "nbval_kernel_name", None):
            option.nbval_current_env = True
