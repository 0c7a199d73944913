"""Small helpers for the chapters' notebooks: the set-up banner, ``glue`` and ``spread``.

``glue`` records a computed value under a key, so that the prose never states a number that no
cell computed: tools/inline_values.py writes the recorded value into the chapter's Markdown
wherever it says ``{glue:text}`key``` (and renews it after each run), and tests/test_prose.py
checks the two agree. It emits the same display bundle as ``myst_nb.glue`` (a hidden output)
but needs no myst_nb, so it also works in Colab.
"""
from __future__ import annotations

import textwrap
import warnings

import torch

from .data.datasets import OfflineSplitWarning
from .runtime import describe_device, device_in_words, get_profile

__all__ = ["glue", "setup"]

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
    # in float64: Python floats made float32 would round 0.1135 to "0.113", not "0.114"
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.numel() == 0:
        raise ValueError("spread() got no values: give the results of at least one run")
    mean = f"{values.mean():.{digits}f}"
    return mean if values.numel() == 1 else f"{mean} ± {values.std():.{digits}f}"


BANNER_WIDTH = 79  # the book's code column (tools/format_notebooks.py measured it)
PROFILE_MEANING = {"fast": "small experiments that run in minutes",
                   "full": "the experiments at the book's scale"}


def setup(chapter: str = ""):
    """Print one sentence for the reader (which profile this run uses and on what) and return
    the profile. It is printed on the book's pages, so it names no path, setting or version:
    ``cnnlib.describe_device()`` gives the device and precision in detail."""
    profile = get_profile()
    device = device_in_words(describe_device(profile.device))
    line = (f"{chapter + ': ' if chapter else ''}the {profile.name} profile "
            f"({PROFILE_MEANING[profile.name]}), on {device}")
    print(textwrap.fill(line, BANNER_WIDTH, subsequent_indent="  ", break_on_hyphens=False))
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
