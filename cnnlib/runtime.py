"""Device, seeds, the run *profile* and where files go (taught in every chapter's set-up cell).

A profile decides how big an experiment is. ``fast`` keeps a chapter within about two
minutes on a 2-core laptop (this is what CI runs); ``full`` is the real experiment and is
what the committed notebooks show. The default is ``full`` when a CUDA GPU is present and
``fast`` otherwise; the environment variable ``CNNLIB_PROFILE`` overrides it.

Chapters never hard-code sizes: they ask ``profile.pick(fast=..., full=...)``.

Files the library writes (decoded data sets, trained networks) go to one cache folder,
``cache_dir()``; ``checkpoint_path(name)`` names a chapter's network in it, per profile, and
``atomic_save`` writes every such file all-or-nothing.
"""
from __future__ import annotations

import os
import random
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROFILES = ("fast", "full")


def get_device(device: torch.device | str | None = None) -> torch.device:
    """``device`` as a ``torch.device``; when it is None, the best available one: CUDA, then
    Apple's MPS, then the CPU. Every ``device=None`` argument of cnnlib means this."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def describe_device(device: torch.device | str | None = None) -> str:
    """The device and the precision ``fit`` trains in there, in words.

    E.g. ``'cuda (Tesla T4, compute capability 7.5, fp16 autocast + gradient scaler)'`` or
    ``'cpu (2 threads, bf16 autocast)'``; the set-up banner of every chapter prints it.
    """
    # precision.py needs nothing from cnnlib, so this import cannot be circular.
    from .precision import describe_precision

    device = get_device(device)
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return (f"cuda ({torch.cuda.get_device_name(device)}, compute capability {major}.{minor}, "
                f"{describe_precision(device)})")
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads, {describe_precision(device)})"
    return f"{device.type} ({describe_precision(device)})"


def device_in_words(description: str) -> str:
    """A device as ``cnnlib.describe_device`` wrote it (``'cuda (NVIDIA H200, compute capability
    9.0, bf16 autocast)'``, ``'cpu (1 threads, bf16 autocast)'``) as a reader would say it:
    ``'one NVIDIA H200 GPU'``, ``'a CPU'``."""
    kind, _, details = description.partition(" (")
    if kind == "cuda" and details:
        return f"one {details.split(',')[0].strip()} GPU"
    return "a CPU" if kind == "cpu" else f"a {kind} device"


@dataclass(frozen=True)
class Profile:
    """How large the experiments of this run are: ``"fast"`` or ``"full"``."""

    name: str
    device: torch.device

    def pick(self, *, fast, full):
        """Return ``fast`` or ``full`` depending on this profile."""
        return full if self.name == "full" else fast

    @property
    def is_full(self) -> bool:
        return self.name == "full"

    def __str__(self) -> str:
        return f"profile {self.name!r} on {describe_device(self.device)}"


def get_profile(device: torch.device | str | None = None) -> Profile:
    """The profile of this run: ``CNNLIB_PROFILE`` if set, else ``full`` with CUDA, ``fast`` without."""
    device = get_device(device)
    name = os.environ.get("CNNLIB_PROFILE", "").strip().lower()
    if not name:
        name = "full" if device.type == "cuda" else "fast"
    if name not in PROFILES:
        raise ValueError(
            f"CNNLIB_PROFILE={name!r} is not a profile; use one of {', '.join(PROFILES)} "
            "(or unset it to choose by device)."
        )
    return Profile(name, device)


# --------------------------------------------------------------------------------------
# Switches in the environment

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """The yes/no environment variable ``name`` (unset or empty: ``default``).

    ``1/true/yes/on`` and ``0/false/no/off`` in any case; anything else is an error rather than
    a guess, so ``CNNLIB_RETRAIN=false`` can never mean "retrain".
    """
    raw = os.environ.get(name, "")
    word = raw.strip().lower()
    if not word:
        return default
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={raw!r} is not a yes/no value: use one of {', '.join(TRUE_WORDS)} "
                     f"or {', '.join(FALSE_WORDS)} (or unset it)")


# --------------------------------------------------------------------------------------
# Where files go


class CacheDirError(ValueError):
    """The cache folder (``CNNLIB_CACHE`` or the default) cannot hold the library's files."""


def cache_dir() -> Path:
    """The cache folder: ``$CNNLIB_CACHE``, ``$XDG_CACHE_HOME/cnnlib`` or ``~/.cache/cnnlib``.

    Only the name; nothing is created or checked (reading an existing cache needs no more).
    Before writing, call :func:`writable_cache_dir`.
    """
    if os.environ.get("CNNLIB_CACHE"):
        return Path(os.environ["CNNLIB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cnnlib"


def writable_cache_dir() -> Path:
    """:func:`cache_dir`, created if missing, after checking that files can be written there.

    Called *before* long work (decoding a data set, training) so that a read-only folder fails
    at once with advice, not with a raw ``PermissionError`` after minutes of decoding.
    """
    folder = cache_dir()
    advice = ("Set CNNLIB_CACHE to a folder you can write to (it is created if missing), e.g. "
              "export CNNLIB_CACHE=/tmp/cnnlib-cache, or in a notebook "
              "os.environ['CNNLIB_CACHE'] = '/tmp/cnnlib-cache'.")
    if folder.exists() and not folder.is_dir():
        raise CacheDirError(f"The cache folder {folder} is a file, not a folder. {advice}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A real file, not os.access: root passes os.access even on a read-only file system.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise CacheDirError(f"Cannot write to the cache folder {folder} ({err}). {advice}") from err
    return folder


def checkpoint_path(name: str) -> Path:
    """Where a chapter keeps a network it trains (load-or-train): one file per name and profile.

    ``name`` is a plain file name (no folders, no ``..``): the file stays inside the cache's
    checkpoint folder, where the next run will find it.
    """
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name \
            or "\\" in name or "\0" in name:
        raise ValueError(f"checkpoint_path({name!r}): the name must be a plain file name such "
                         "as 'ch01-convnet', without folders, '/', '\\' or '..'; to save "
                         "elsewhere pass fit(checkpoint=...) a path of your own")
    folder = writable_cache_dir() / "checkpoints" / get_profile().name
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (name if name.endswith(".pt") else f"{name}.pt")  # "x.pt" is not "x.pt.pt"


def atomic_write(path, write) -> None:
    """Write a file all or nothing: ``write(f)`` fills a temporary file next to ``path`` (opened
    for binary writing), which is then renamed to ``path``. The one way cnnlib writes a file
    that must never be seen half written (checkpoints, weights, their manifest, cached results).

    A write that is killed (a notebook interrupted, the machine out of memory) cannot clean up
    after itself, so each write first removes the temporary files that killed writes of the same
    ``path`` left behind. Each temporary file carries its writer's process id, so a write that is
    still running in another process keeps its file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_save(obj, path) -> None:
    """``torch.save`` all or nothing (:func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def rng_state(device: torch.device) -> dict:
    """The global random number generators (dropout and augmentation draw from them), to save
    with a run so that a resumed run draws what an uninterrupted one would have."""
    state = {"rng_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Put back what :func:`rng_state` saved."""
    torch.set_rng_state(state["rng_cpu"].cpu())
    if "rng_cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"].cpu(), device)


# How long a temporary file must lie untouched before it counts as an orphan where its writer's
# process id cannot be checked (Windows, where os.kill would end the process).
ORPHAN_AGE_S = 3600


def remove_orphans(path: Path) -> list[Path]:
    """Delete the temporary files of killed saves of ``path``; return what was deleted.

    Temporary files are ``<name>.<pid>.<random>.tmp``; one whose writer process is gone is an
    orphan.
    """
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)\.[a-z0-9_]+\.tmp")
    removed = []
    for candidate in path.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match is None or not candidate.is_file():
            continue
        if not _writer_may_be_running(int(match.group(1)), candidate):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _writer_may_be_running(pid: int, tmp: Path) -> bool:
    if os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists, under another user
        return True
    # Elsewhere (on Windows os.kill would end the process): by age.
    return time.time() - tmp.stat().st_mtime < ORPHAN_AGE_S
