"""Where the trained networks are kept: ``weights/<name>.pt`` files and their manifest.

- ``<name>.pt``: the weights, the training :class:`~cnnlib.history.History` and the metadata,
  written by :func:`save_network` and read back by :func:`load_file`, the one writer and the
  one reader of the format (``FORMAT``, ``VERSION``);
- ``PREDICTIONS.json``: the class each shipped network predicts for each of its test images,
  written by ``tools/record_predictions.py`` and read by :func:`read_predictions` (what
  :func:`~cnnlib.pretrained.test_accuracy` uses instead of evaluating every image);
- ``MANIFEST.json``: each file's SHA-256. :func:`load_file` checks it before unpickling
  (``torch.load(weights_only=True)``, which cannot run code anyway), so a damaged or edited
  file is refused with a message naming it and saying how to restore or retrain it. Writers
  hold a lock on it (``make weights --jobs N``: several writers, one manifest).

A checkout of the repository has the files in ``weights/``; a pip-installed cnnlib (e.g. on
Colab) downloads them from the repository's address (``REPOSITORY_URL``, the same address as
``repository: url:`` in ``_config.yml``; a test checks they agree) into the cache.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from .. import REPOSITORY_URL
from ..download import DownloadError, download_file, release_url
from ..history import History
from ..runtime import atomic_write, cache_dir
from ..validation import describe_load_error
from .registry import NETWORKS, Network, PretrainedError

__all__ = ["REPOSITORY_URL", "BRANCH", "MANIFEST", "MAX_TOTAL_BYTES", "WeightsMismatchError",
           "Pretrained", "repository_root", "weights_dir", "raw_url", "read_manifest",
           "write_manifest", "manifest_lock", "read_predictions", "sha256", "available", "load_file", "save_network",
           "fetch"]

# The repository's address is written once, in cnnlib/__init__.py (REPOSITORY_URL; _config.yml's
# ``repository: url:`` must agree; tests/test_pretrained.py reads it and compares).
BRANCH = "main"
FORMAT = "cnnlib-pretrained"
VERSION = 1
MANIFEST = "MANIFEST.json"
PREDICTIONS = "PREDICTIONS.json"
MAX_TOTAL_BYTES = 30 * 2**20  # the repository carries the files: keep them small


class WeightsMismatchError(PretrainedError):
    """A weights file whose SHA-256 is not the one in the manifest (damaged or changed)."""


class Pretrained(NamedTuple):
    """A trained network of the book: ``net = load("resnet18")``, then ``net.model``, ...

    ``meta``: the file's metadata (``meta["test_acc"]`` is the accuracy measured when it was
    stored); ``test_acc``: the accuracy measured again in this session (by
    :func:`~cnnlib.pretrained.for_profile`), else None. In the fast profile ``for_profile``
    returns a stand-in of the same kind (``meta["smoke"]`` is true).
    """

    model: nn.Module
    history: History
    meta: dict | None
    test_acc: float | None = None


# --------------------------------------------------------------------------------------
# Where the files are

def repository_root() -> Path | None:
    """The checkout this cnnlib was imported from, or None (a pip-installed cnnlib)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "_config.yml").exists() and (root / "weights").is_dir() else None


def weights_dir() -> Path:
    """``weights/`` of the checkout; for a pip-installed cnnlib, a folder in the cache."""
    root = repository_root()
    return root / "weights" if root is not None else cache_dir() / "weights"


def raw_url(file: str) -> str:
    return f"{REPOSITORY_URL}/raw/{BRANCH}/weights/{file}"


# --------------------------------------------------------------------------------------
# The manifest

MAX_MANIFEST_BYTES = 1 << 20  # the real one is a few kB: a larger "manifest" is not one


def read_manifest(folder) -> dict:
    """``{name: {"file", "sha256", "bytes", "storage", "test_acc"}}``; empty when there is none.

    Checked as it is read, since everything else trusts it: a plain file of at most 1 MiB (a
    link to ``/dev/zero`` would be read forever), and each entry a plain file name, a SHA-256,
    a size and an accuracy. A tampered manifest is one clear error naming it."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    restore = f"restore it with `git checkout -- {path}` (or `make weights` to rebuild it)"
    if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
        raise PretrainedError(f"{path} is not a weights manifest (not a plain file of at most "
                              f"{MAX_MANIFEST_BYTES} bytes); {restore}")
    try:
        networks = dict(json.loads(path.read_text())["networks"])
    except (ValueError, KeyError, TypeError) as err:
        raise PretrainedError(f"{path} is not a weights manifest ({err}); {restore}") from err
    for name, entry in networks.items():
        problem = _entry_problem(entry)
        if problem:
            raise PretrainedError(f"{path}: the entry for {name!r} {problem}; {restore}")
    return networks


def read_predictions(folder=None) -> dict:
    """``{name: {"sha256", "key", "predictions"}}`` from ``PREDICTIONS.json`` in ``folder``
    (default: :func:`weights_dir`; a pip-installed cnnlib downloads it first); empty when there
    is none or it cannot be read (then test accuracies are measured on every image)."""
    folder = Path(folder) if folder is not None else weights_dir()
    path = folder / PREDICTIONS
    if not path.exists() and repository_root() is None:
        _try_fetch(PREDICTIONS, folder)
    try:
        if path.stat().st_size <= 4 * MAX_MANIFEST_BYTES:  # ~10 kB per network
            return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    return {}


def _entry_problem(entry) -> str | None:
    if not isinstance(entry, dict):
        return "is not a table"
    file, digest, size = entry.get("file"), entry.get("sha256"), entry.get("bytes")
    if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
        return f"names no plain file ({file!r})"
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        return f"holds no SHA-256 ({digest!r:.80})"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"holds no size in bytes ({size!r:.80})"
    if not isinstance(entry.get("test_acc"), (int, float)) or isinstance(entry.get("test_acc"), bool):
        return f"holds no test accuracy ({entry.get('test_acc')!r:.80})"
    return None


def write_manifest(folder, networks: dict) -> None:
    """Write the manifest atomically (a temporary file renamed: never half written)."""
    path = Path(folder) / MANIFEST
    text = json.dumps({"format": "cnnlib-weights-manifest", "version": 1,
                       "networks": dict(sorted(networks.items()))}, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


@contextlib.contextmanager
def manifest_lock(folder):
    """Hold an exclusive lock on ``folder``'s manifest (a no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer at a time is the user's affair
        yield
        return
    with open(Path(folder) / f".{MANIFEST}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Available(list):
    """The names of the shipped networks; printed, an empty list says how to make them."""

    def __repr__(self) -> str:
        if self:
            return super().__repr__()
        return ("[]  # no trained networks are shipped yet. Make them with `make weights` (all "
                f"of {sorted(NETWORKS)}) or one with `make weights NET=resnet18`; "
                "CNNLIB_RETRAIN=1 (or a CUDA GPU) makes load(name) train it itself")


def available(folder=None) -> Available:
    """The networks whose trained weights are shipped (listed in the manifest)."""
    folder = Path(folder) if folder is not None else weights_dir()
    if repository_root() is None and not (folder / MANIFEST).exists():  # pip-installed
        _try_fetch(MANIFEST, folder)
    return Available(sorted(read_manifest(folder)))


# --------------------------------------------------------------------------------------
# One file: written, read

def save_network(folder, name: str, state: dict, history: History, meta: dict) -> dict:
    """Write ``folder/<name>.pt`` and its manifest entry; refuse to pass ``MAX_TOTAL_BYTES``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, "network": name, "state": state,
                "history": history.state_dict(), "meta": meta}, buffer)
    data = buffer.getvalue()
    with manifest_lock(folder):  # make weights --jobs N: several writers, one manifest
        manifest = read_manifest(folder)
        others = sum(e["bytes"] for n, e in manifest.items() if n != name)
        if others + len(data) > MAX_TOTAL_BYTES:
            raise PretrainedError(f"{name} ({len(data) / 2**20:.1f} MB) would bring {folder} to "
                                  f"{(others + len(data)) / 2**20:.1f} MB, over the "
                                  f"{MAX_TOTAL_BYTES / 2**20:.0f} MB the repository allows: "
                                  "make the network smaller")
        file = f"{name}.pt"
        atomic_write(folder / file, lambda f: f.write(data))
        entry = {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                 "storage": meta.get("storage"), "test_acc": meta.get("test_acc")}
        manifest[name] = entry
        write_manifest(folder, manifest)
    return entry


def load_file(path, entry: dict, network: Network, device) -> Pretrained:
    """Check ``path`` against its manifest ``entry``, then read it (weights only)."""
    path = Path(path)
    how = (f"restore it (`git checkout -- weights/{path.name}`, or delete it to download it "
           f"again) or retrain it (`make weights NET={network.name}`)")
    if not path.exists():
        raise PretrainedError(f"{path} is listed in the manifest but missing: {how}")
    if not path.is_file() or path.stat().st_size != entry["bytes"]:  # never hash /dev/zero
        raise WeightsMismatchError(
            f"{path} is not the file its manifest lists (a plain file of {entry['bytes']} "
            f"bytes), so it is not loaded. {how[0].upper()}{how[1:]}")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise WeightsMismatchError(
            f"{path} does not match its SHA-256 in {path.parent / MANIFEST} (expected "
            f"{entry['sha256'][:16]}..., found {digest[:16]}...): the file is damaged or was "
            f"changed, so it is not loaded. {how[0].upper()}{how[1:]}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unreadable, or holds code: never suggest weights_only=False
        raise PretrainedError(f"{path} cannot be used: {describe_load_error(err)}. "
                              f"{how[0].upper()}{how[1:]}") from err
    if not (isinstance(saved, dict) and saved.get("format") == FORMAT and saved.get("version") == VERSION):
        raise PretrainedError(f"{path} is not a cnnlib trained-network file of version {VERSION}: {how}")
    model = network.build()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in saved["state"].items()})
    model.to(device).eval()
    return Pretrained(model, History.from_state(saved["history"]), saved["meta"])


# --------------------------------------------------------------------------------------
# Downloading (a pip-installed cnnlib)

def _try_fetch(file: str, folder: Path, base: str | None = None) -> bool:
    """Download ``file`` into ``folder``: from ``base`` when given, else from this version's
    release, then from the repository's main branch. A file the manifest in ``folder`` lists is
    SHA-256 checked before it is kept (a wrong one is deleted).

    False when the manifest cannot be had (offline, not published). A listed weights file that
    cannot be had raises :class:`PretrainedError` naming each address tried; when every address
    answered 404 (not published) it says how to train the network instead."""
    urls = [f"{base}/{file}"] if base is not None else [release_url(file), raw_url(file)]
    listed = {} if file == MANIFEST else {entry["file"]: (name, entry)
                                          for name, entry in read_manifest(folder).items()}
    if file not in listed:
        try:
            download_file(urls, Path(folder) / file, progress=False, advice="")
            return True
        except DownloadError:
            return False
    name, entry = listed[file]
    train = (f"train it with `make weights NET={name}` (in a checkout of {REPOSITORY_URL}), or set "
             "CNNLIB_RETRAIN=1 to have load() train it into the cache (minutes on a GPU)")
    try:
        download_file(urls, Path(folder) / file, sha256=entry["sha256"],
                      advice=f"Check the connection and try again, or {train}.")
    except DownloadError as err:
        if err.not_found:
            raise PretrainedError(f"the trained {name} ({file}) is listed in the manifest but not "
                                  f"published at {' or '.join(urls)}: {train}.") from err
        raise PretrainedError(str(err)) from err
    return True


def fetch(name: str, folder, *, base: str | None = None) -> bool:
    """Download the manifest and ``name``'s file from the repository (or ``base``) into ``folder``;
    False when the manifest cannot be had or does not list ``name``."""
    if not _try_fetch(MANIFEST, Path(folder), base):
        return False
    entry = read_manifest(folder).get(name)
    return entry is not None and _try_fetch(entry["file"], Path(folder), base)
