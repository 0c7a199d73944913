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


def pytest_collection_modifyitems(config, items):
    """Run the files that hold slow tests first, then the notebooks (nbval), then the rest.

    Under pytest-xdist (``--dist loadfile``) a worker that is free takes the next file. A file of
    several minutes taken last keeps the run waiting on one core at the end; taken first, the
    other core works through the short files meanwhile. The order within a file is kept.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path not in slow_files, item.path.suffix != ".ipynb"))
