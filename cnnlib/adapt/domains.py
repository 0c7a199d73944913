"""The digit domains of the adaptation chapters, in one format (chapters 11 and 12).

``digit_domain("usps", "train")`` gives USPS resized from 16x16 to 28x28 (bilinear), with the
channels and the normalisation the networks expect: every domain is scaled the same way,
(x / 255 - 0.5) / 0.5, so that the only differences between domains are in the images.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ..data import load_dataset

__all__ = ["digit_domain", "resize", "DOMAINS"]

DOMAINS = ("mnist", "usps", "mnist_m")
HALF = ([0.5], [0.5])


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N×C×H×W images resized to ``size``x``size`` (bilinear, rounded back to uint8)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def digit_domain(name: str, split: str, *, size: int = 28, channels: int = 1):
    """``name`` ("mnist", "usps", "mnist_m") at ``size`` px with ``channels`` (1 or 3) channels.

    Grey digits are repeated to 3 channels; MNIST-M is averaged to grey for 1 channel.
    """
    if name not in DOMAINS:
        raise ValueError(f"unknown domain {name!r}; choose one of {DOMAINS}")
    data = load_dataset(name, split)
    images = resize(data.images, size)
    if channels == 3 and images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    elif channels == 1 and images.shape[1] == 3:
        images = images.float().mean(1, keepdim=True).round().to(torch.uint8)
    stats = ([0.5] * channels, [0.5] * channels)
    return dataclasses.replace(data, images=images, stats=stats)
