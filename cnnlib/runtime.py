"""Device, seeds and the run *profile* (taught in every chapter's set-up cell).

A profile decides how big an experiment is. ``fast`` keeps a chapter within about two
minutes on a 2-core laptop (this is what CI runs); ``full`` is the real experiment and is
what the committed notebooks show. The default is ``full`` when a CUDA GPU is present and
``fast`` otherwise; the environment variable ``CNNLIB_PROFILE`` overrides it.

Chapters never hard-code sizes: they ask ``profile.pick(fast=..., full=...)``.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PROFILES = ("fast", "full")


def get_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
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

    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return (f"cuda ({torch.cuda.get_device_name(device)}, compute capability {major}.{minor}, "
                f"{describe_precision(device)})")
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads, {describe_precision(device)})"
    return f"{device.type} ({describe_precision(device)})"


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
    device = torch.device(device) if device is not None else get_device()
    name = os.environ.get("CNNLIB_PROFILE", "").strip().lower()
    if not name:
        name = "full" if device.type == "cuda" else "fast"
    if name not in PROFILES:
        raise ValueError(
            f"CNNLIB_PROFILE={name!r} is not a profile; use one of {', '.join(PROFILES)} "
            "(or unset it to choose by device)."
        )
    return Profile(name, device)
