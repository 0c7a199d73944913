"""The decoded-data cache: one ``.pt`` file per data set *and source*.

A cache file is named after the data set and a key of where its images came from
(``cifar10-offline-1a2b3c4d5e6f.pt``, ``mnist-download.pt``), so pointing ``CNNLIB_DATA`` at
another folder, or replacing a file in it, builds a new cache instead of answering with the
old images. A cache file that cannot be read is rebuilt (with a warning), never trusted.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from ..runtime import atomic_save, cache_dir

# Bump when the cached format changes, so old caches are rebuilt rather than misread.
CACHE_FORMAT = 3


def offline_dir() -> Path | None:
    """The offline data folder named by ``$CNNLIB_DATA``, if any."""
    value = os.environ.get("CNNLIB_DATA")
    return Path(value).expanduser() if value else None


def folder_key(root: Path, files: list[str]) -> str:
    """A short key of the files ``files`` of folder ``root``: its absolute path and each file's
    size and modification time (cheap: nothing is read), so another folder or a replaced file
    gives another key."""
    digest = hashlib.sha256(str(root.resolve()).encode())
    for relative in files:
        info = (root / relative).stat()
        digest.update(f"\0{relative}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return "offline-" + digest.hexdigest()[:12]


def cache_path(stem: str, key: str) -> Path:
    """The cache file of data set ``stem`` made from the source ``key``."""
    return cache_dir() / f"{stem}-{key}.pt"


def read_cache(path: Path) -> dict | None:
    """The cached dictionary at ``path``; ``None`` when there is none, or when it is damaged or
    of an older format (a warning says so), so that the caller builds it again."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, weights_only=True)
    except Exception as err:  # truncated, not a torch file, ...: rebuilt, not trusted
        warnings.warn(f"ignoring unreadable cache {path} ({type(err).__name__}: {err}); "
                      "building it again", stacklevel=3)
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None
    return data


def write_cache(data: dict, path: Path) -> None:
    """Store ``data`` (tensors, lists, strings) at ``path``, atomically, tagged with the format."""
    atomic_save({**data, "format": CACHE_FORMAT}, path)
