"""Per-channel statistics and normalisation: ``(x / 255 - mean) / std``, written once.

A network sees each image channel shifted and scaled to mean 0 and standard deviation 1, with
the *training* split's statistics (``load_dataset`` gives both splits those). ``normalise`` does
it for any batch, ``ImageDataset.normalised()`` for a whole data set, and ``DeviceLoader`` for
every batch it makes; all three check the statistics with :func:`check_stats`.

A channel that never changes (a standard deviation of 0) would divide by zero and fill every
batch with NaN, and ``fit`` would then stop blaming the learning rate. So a standard deviation
below one grey level, ``MIN_STD``, counts as one grey level: such a channel is centred, a
difference of one grey level becomes 1, and nothing is infinite.
"""
from __future__ import annotations

import torch

MIN_STD = 1 / 255  # one grey level on the [0, 1] scale


def channel_stats(images: torch.Tensor) -> tuple:
    """Per-channel (mean, std) of uint8 images on the [0, 1] scale, in chunks to spare memory."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in images.split(4096):
        chunk = chunk.double()
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    return (mean / 255).tolist(), (std / 255).tolist()


def check_stats(mean, std, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean`` and ``std`` (one value per channel, [0, 1] scale) as float32 tensors of length
    ``channels``, the std raised to at least ``MIN_STD``; a clear error when they do not fit."""
    mean = torch.as_tensor(mean, dtype=torch.float32).flatten()
    std = torch.as_tensor(std, dtype=torch.float32).flatten()
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"mean has {len(mean)} value(s) and std {len(std)}, but the images have {channels} "
            f"channel(s): give one mean and one std per channel, on the [0, 1] scale (for example "
            f"data.mean and data.std of the training set).")
    if not (torch.isfinite(mean).all() and torch.isfinite(std).all()) or (std < 0).any():
        raise ValueError(f"mean {mean.tolist()} and std {std.tolist()} must be finite, and std "
                         "not negative; compute them from the training images (data.mean, data.std)")
    return mean, std.clamp_min(MIN_STD)


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """``(images / 255 - mean) / std`` per channel, as float32.

    ``images``: N×C×H×W (or C×H×W), uint8 or float on the same 0-255 scale; ``mean``/``std``:
    one value per channel on the [0, 1] scale, as ``ImageDataset.mean``/``.std`` give them.
    """
    if images.dim() not in (3, 4):
        raise ValueError(f"expected images C×H×W or N×C×H×W, got shape {tuple(images.shape)}")
    if not (images.dtype == torch.uint8 or images.is_floating_point()):
        raise ValueError(f"expected uint8 images (or floats on the 0-255 scale), got {images.dtype}")
    channels = images.shape[-3]
    mean, std = check_stats(mean, std, channels)
    mean, std = mean.to(images.device).view(channels, 1, 1), std.to(images.device).view(channels, 1, 1)
    return (images.float() / 255 - mean) / std
