"""Small helpers for the chapters' notebooks: the set-up banner, ``glue`` and ``spread``.

(``checkpoint_path`` lives in ``cnnlib.runtime``; ``cnnlib.book.checkpoint_path`` is its old
name, kept for the chapters of older checkouts.)

``glue`` puts a computed value into the prose of the HTML book (``{glue:text}`key```), so the
text never states a number that no cell computed. It emits the same display bundle as
``myst_nb.glue`` but needs no myst_nb, so it also works in Colab.
"""
from __future__ import annotations

import os
import platform
import textwrap
import warnings

import torch

from .data.cache import offline_dir
from .data.datasets import OfflineSplitWarning
from .runtime import cache_dir, checkpoint_path, get_profile

__all__ = ["glue", "setup", "checkpoint_path"]

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the book; show it too when ``display`` is true."""
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + kind: data for kind, data in bundle.items()}, raw=True, metadata=metadata)


def spread(values, digits: int = 3) -> str:
    """Several runs' results (e.g. one accuracy per seed) as ``'0.912 ± 0.004'``: their mean and
    standard deviation (with n - 1, an estimate from a sample); just the mean for a single run."""
    values = torch.as_tensor(values)
    if values.numel() == 0:
        raise ValueError("spread() got no values: give the results of at least one run")
    values = values if values.is_floating_point() else values.double()
    mean = f"{values.mean():.{digits}f}"
    return mean if values.numel() == 1 else f"{mean} ± {values.std():.{digits}f}"


def setup(chapter: str = ""):
    """Print what this run uses (profile, device, data source) and return the profile."""
    profile = get_profile()
    data = offline_dir()
    source = f"offline folder {data}" if data else "download (torchvision) when not cached"
    print(f"{chapter + ': ' if chapter else ''}{profile}")
    print(f"torch {torch.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; data: {source}; cache: {cache_dir()}")
    show_data_notes_as_lines()
    return profile


def show_data_notes_as_lines() -> None:
    """Show :class:`~cnnlib.data.datasets.OfflineSplitWarning` as one printed ``Note: ...`` paragraph
    (lines of at most 79 characters), once per message; every other warning as before.

    Python's warning line starts with the file and line of the call, which in a notebook is a
    temporary path (``/tmp/ipykernel_.../123.py:4: UserWarning: ...``): junk on a book page.
    """
    shown = warnings.showwarning
    if getattr(shown, "_cnnlib_notes", False):
        return  # already installed (setup was called twice)
    printed: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, OfflineSplitWarning):
            return shown(message, category, filename, lineno, file, line)
        if str(message) not in printed:
            printed.add(str(message))
            print(textwrap.fill(f"Note: {message}", 79))  # as wide as the book's column

    show._cnnlib_notes = True
    warnings.showwarning = show
