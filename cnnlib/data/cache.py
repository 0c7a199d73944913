"""The decoded-data cache: one ``.pt`` file per data set *and source*.

A cache file is named after the data set and a key of where its images came from
(``cifar10-offline-1a2b3c4d5e6f7a8b.pt``, ``mnist-download.pt``). For the offline folder the key
is made of the files' SHA-256 as its ``SHA256SUMS`` lists them (``cnnlib.data.datasets``), so
the key follows the files' *content*: another folder with the same files shares the cache, and
a replaced file (with its new checksum) builds a new cache, even one of the same size and
modification time. A cache file that cannot be read, or lacks part of a data set, is rebuilt
(with a warning naming it), never trusted.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from ..runtime import atomic_save, cache_dir
from .stats import as_stats

# Bump when the cached format changes, so old caches are rebuilt rather than misread.
# 4: keyed by content (SHA256SUMS), and checked for every key of a data set when read.
CACHE_FORMAT = 4

# What a cached data set holds: both splits, where they came from, and the training split's
# normalisation (``ChannelStats`` as two lists: the cache stores plain values only).
SPLIT_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
DATA_KEYS = (*SPLIT_KEYS, "source", "mean", "std")


def offline_dir() -> Path | None:
    """The offline data folder named by ``$CNNLIB_DATA``, if any."""
    value = os.environ.get("CNNLIB_DATA")
    return Path(value).expanduser() if value else None


def content_key(checksums: dict[str, str]) -> str:
    """A short key of files by their content: ``checksums`` maps each file's path (relative to
    the offline folder) to its SHA-256."""
    digest = hashlib.sha256()
    for relative, sha256 in sorted(checksums.items()):
        digest.update(f"{relative}\0{sha256}\0".encode())
    return "offline-" + digest.hexdigest()[:16]


def cache_path(stem: str, key: str) -> Path:
    """The cache file of data set ``stem`` made from the source ``key``."""
    return cache_dir() / f"{stem}-{key}.pt"


def dataset_problem(data) -> str | None:
    """What is wrong with a cached data set (a missing key, images that are not uint8
    N×C×H×W, labels that do not match them, statistics that do not fit), or ``None``."""
    if not isinstance(data, dict):
        return f"it holds a {type(data).__name__}, not a dictionary"
    missing = [key for key in DATA_KEYS if key not in data]
    if missing:
        return f"it lacks {', '.join(missing)}"
    for split in ("train", "test"):
        images, labels = data[f"{split}_images"], data[f"{split}_labels"]
        if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.dim() == 4):
            return f"its {split}_images are not a uint8 tensor N×C×H×W"
        if not (isinstance(labels, torch.Tensor) and labels.shape == (len(images),)):
            return f"its {split}_labels do not match its {len(images)} {split} images"
    channels = data["train_images"].shape[1]
    try:
        stats = as_stats(data["mean"], data["std"])
    except ValueError as err:
        return f"its statistics are unusable ({err})"
    if len(stats.mean) != channels:
        return f"its mean and std are not {channels} value(s), one per channel"
    return None


def read_cache(path: Path) -> dict | None:
    """The cached data set at ``path``; ``None`` when there is none, or when it is damaged,
    incomplete or of an older format (a warning names the file), so that the caller builds it
    again."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, weights_only=True)
    except Exception as err:  # truncated, not a torch file, ...: rebuilt, not trusted
        warnings.warn(f"ignoring unreadable cache {path} ({type(err).__name__}: {err}); "
                      "building it again", stacklevel=3)
        return None
    if isinstance(data, dict) and data.get("format") != CACHE_FORMAT:
        return None  # an older version of the library wrote it: rebuilt without fuss
    problem = dataset_problem(data)
    if problem is not None:
        warnings.warn(f"ignoring the damaged cache {path}: {problem}; building it again (if this "
                      "repeats, delete the file)", stacklevel=3)
        return None
    return data


def write_cache(data: dict, path: Path) -> None:
    """Store ``data`` (tensors, lists, strings) at ``path``, atomically, tagged with the format."""
    atomic_save({**data, "format": CACHE_FORMAT}, path)
