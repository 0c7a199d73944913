"""A data set's normalisation, ``ChannelStats(mean, std)``, and ``normalise``: written once.

A network sees each image channel shifted and scaled to mean 0 and standard deviation 1,
``(x / 255 - mean) / std``, with the *training* split's statistics (``load_dataset`` gives both
splits those). One thing, one name: these statistics are always a :class:`ChannelStats` called
``stats`` (``ImageDataset.stats``, ``DeviceLoader.stats``), whose ``mean`` and ``std`` hold one
plain float per channel on the [0, 1] scale, as computed; nothing converts them to another form
and back. ``normalise`` applies them to any batch and ``ImageDataset.normalised()`` to a whole
data set; ``DeviceLoader`` applies them to every batch it makes in the fused form of
:func:`normaliser` (equal up to float rounding).

A channel that never changes (a standard deviation of 0) would divide by zero and fill every
batch with NaN, and ``fit`` would then stop blaming the learning rate. So a standard deviation
below one grey level, ``MIN_STD``, counts as one grey level when normalising: such a channel is
centred, a difference of one grey level becomes 1, and nothing is infinite.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

MIN_STD = 1 / 255  # one grey level on the [0, 1] scale


class ChannelStats(NamedTuple):
    """Per-channel ``mean`` and ``std`` of a data set's images ([0, 1] scale), what normalising
    uses. A tuple, so ``mean, std = data.stats`` works; make one with :func:`as_stats`."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


def as_stats(mean, std) -> ChannelStats:
    """``mean`` and ``std`` (sequences or tensors, one value per channel, [0, 1] scale) as a
    checked :class:`ChannelStats` of plain floats; a clear error when they are not numbers,
    differ in length, or are not finite (or the std negative)."""
    try:
        mean = tuple(float(m) for m in torch.as_tensor(mean, dtype=torch.float64).flatten())
        std = tuple(float(s) for s in torch.as_tensor(std, dtype=torch.float64).flatten())
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"mean {mean!r} and std {std!r} must be numbers, one per channel on the "
                         "[0, 1] scale (for example data.mean and data.std of the training set)"
                         ) from err
    if len(mean) != len(std):
        raise ValueError(f"mean has {len(mean)} value(s) but std {len(std)}: give one of each "
                         "per channel")
    if not all(map(math.isfinite, mean + std)) or min(std, default=0) < 0:
        raise ValueError(f"mean {list(mean)} and std {list(std)} must be finite, and std "
                         "not negative; compute them from the training images (data.mean, data.std)")
    return ChannelStats(mean, std)


def channel_stats(images: torch.Tensor) -> ChannelStats:
    """Per-channel mean and std of uint8 images on the [0, 1] scale, in chunks to spare memory."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in images.split(4096):
        chunk = chunk.double()
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(images.numel() / images.shape[1], 1)
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return as_stats(mean / 255, std / 255)


def stats_tensors(stats: ChannelStats, channels: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``stats`` as float32 tensors ``(mean, std)`` of shape C×1×1, the std raised to at least
    ``MIN_STD``; a clear error when they do not have one value per channel."""
    if len(stats.mean) != channels:
        raise ValueError(
            f"mean has {len(stats.mean)} value(s) and std {len(stats.std)}, but the images have "
            f"{channels} channel(s): give one mean and one std per channel, on the [0, 1] scale "
            f"(for example data.mean and data.std of the training set).")
    mean = torch.tensor(stats.mean, dtype=torch.float32, device=device).view(channels, 1, 1)
    std = torch.tensor(stats.std, dtype=torch.float32, device=device).clamp_min(MIN_STD)
    return mean, std.view(channels, 1, 1)


def normaliser(stats: ChannelStats, channels: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The float32 ``(scale, shift)`` of shape C×1×1 with ``x * scale + shift`` equal to
    ``(x / 255 - mean) / std`` for 0-255 images ``x``, up to float rounding: one fused
    ``addcmul`` per batch in ``DeviceLoader``. Derived from ``stats``, never turned back."""
    mean, std = stats_tensors(stats, channels, device)
    return 1 / (255 * std), -mean / std


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """``(images / 255 - mean) / std`` per channel, as float32.

    ``images``: N×C×H×W (or C×H×W), uint8 or float on the same 0-255 scale; ``mean``/``std``:
    one value per channel on the [0, 1] scale, as ``ImageDataset.mean``/``.std`` give them.
    """
    if images.dim() not in (3, 4):
        raise ValueError(f"expected images C×H×W or N×C×H×W, got shape {tuple(images.shape)}")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"expected uint8 images (or floats on the 0-255 scale), got {images.dtype}")
    mean, std = stats_tensors(as_stats(mean, std), images.shape[-3], images.device)
    return (images.float() / 255 - mean) / std
