"""Batches made on the training device: ``DeviceLoader`` and batched augmentation.

Why not ``torch.utils.data.DataLoader``? With PIL transforms it decodes, crops and flips one
image at a time in Python worker processes; on a 2-vCPU laptop or in Colab that, not the network,
is the bottleneck. Here the whole data set sits on the device as uint8 (CIFAR-10's 50,000
images are 150 MB), and each batch is indexed, augmented and normalised with a handful of tensor
operations on the whole batch. ``bench/loader.py`` measures the difference.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..runtime import get_device


def shift_and_flip(padded: torch.Tensor, padding: int, flip: bool,
                   generator: torch.Generator) -> torch.Tensor:
    """Random crops of already zero-padded images, each mirrored with probability 1/2 if ``flip``.

    ``padded`` is N×C×(H+2p)×(W+2p). Each output pixel (i, j) of image n is read from padded
    pixel (i + dy[n], j' + dx[n]), where j' is j or W-1-j for a flipped image. That is one
    ``gather`` for the whole batch: no loop over images, and no second pass for the flip.
    """
    n, c, hp, wp = padded.shape
    h, w = hp - 2 * padding, wp - 2 * padding
    device = padded.device
    # Drawn on the CPU (the same numbers on every device); non_blocking: a plain copy to a GPU
    # would make the CPU wait for all queued GPU work at every batch.
    shifts = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(device, non_blocking=True)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        mirrored = (torch.rand(n, generator=generator) < 0.5).to(device, non_blocking=True)
        cols = torch.where(mirrored[:, None], w - 1 - cols, cols)
    rows = torch.arange(h, device=device) + shifts[0, :, None]  # n × h
    cols = cols + shifts[1, :, None]  # n × w
    index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, hp * wp).gather(2, index).reshape(n, c, h, w)


def random_translate(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``padding`` pixels in x and y, filling with zeros.

    The same as torchvision's ``RandomCrop(size, padding=padding)`` applied to every image of
    the batch, done for the whole batch at once.
    """
    if padding == 0:
        return images
    return shift_and_flip(torch.nn.functional.pad(images, (padding,) * 4), padding, False, generator)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right (``RandomHorizontalFlip(p=0.5)``)."""
    return shift_and_flip(images, 0, True, generator)


@dataclass(frozen=True)
class Augment:
    """Which batched augmentations to apply to training batches.

    ``translate``: maximum shift in pixels (random crop of the zero-padded image);
    ``flip``: random horizontal flips. Digits should not be flipped; natural images may.
    """

    translate: int = 0
    flip: bool = False

    def pad(self, images: torch.Tensor) -> torch.Tensor:
        """Zero-pad for the translation (``DeviceLoader`` does this once for the whole data set)."""
        return torch.nn.functional.pad(images, (self.translate,) * 4) if self.translate else images

    def apply_padded(self, padded: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a batch that :meth:`pad` has already padded."""
        if not (self.translate or self.flip):
            return padded
        return shift_and_flip(padded, self.translate, self.flip, generator)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply_padded(self.pad(images), generator)


class DeviceLoader:
    """Iterate over a data set in normalised float batches made on ``device``.

    ``data`` is an :class:`~cnnlib.data.ImageDataset` (or anything with uint8 ``.images`` and
    ``.labels``). Images are normalised with ``mean``/``std`` (per channel, [0, 1] scale; by
    default the data set's own), shuffled with a generator seeded by ``seed`` and the epoch
    number, so epoch *k* of a run is the same whenever it is replayed (needed to resume).
    """

    def __init__(self, data, batch_size: int = 256, *, shuffle: bool = False, augment=None,
                 device=None, mean=None, std=None, seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else get_device()
        if data.images.dtype != torch.uint8:
            raise ValueError("DeviceLoader expects uint8 images (as load_dataset returns them)")
        self.labels = data.labels.to(self.device)
        # Padding for the random shifts is done once here, not once per batch.
        self.images = data.images.to(self.device)
        if isinstance(augment, Augment):
            self.images = augment.pad(self.images)
        channels = self.images.shape[1]
        mean = data.mean if mean is None else mean
        std = data.std if std is None else std
        # Normalising uint8 directly: (x/255 - mean)/std == x * scale + shift, one fused op.
        mean = torch.tensor(mean, dtype=torch.float32, device=self.device).reshape(1, channels, 1, 1)
        std = torch.tensor(std, dtype=torch.float32, device=self.device).reshape(1, channels, 1, 1)
        self.scale = 1 / (255 * std)
        self.shift = -mean / std
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.seed = seed
        self.drop_last = drop_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.epoch = 0  # advanced by each full pass; ``fit`` sets it when resuming

    @property
    def stats(self) -> tuple:
        """(mean, std) used for normalising, to normalise validation data the same way."""
        std = 1 / (255 * self.scale)
        return ((-self.shift * std).flatten().tolist(), std.flatten().tolist())

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.shift, images.float(), self.scale)
        return x.contiguous(memory_format=self.memory_format)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for batch in range(len(self)):
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            images = self.images[index]
            if isinstance(self.augment, Augment):
                images = self.augment.apply_padded(images, generator)
            elif self.augment is not None:  # any function (uint8 batch, generator) -> uint8 batch
                images = self.augment(images, generator)
            yield self.normalise(images), self.labels[index]
        self.epoch += 1
