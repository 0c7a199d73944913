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


def random_translate(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``padding`` pixels in x and y, filling with zeros.

    The same as torchvision's ``RandomCrop(size, padding=padding)`` applied to every image,
    done for the whole batch at once: pad once, then gather the rows and the columns each image
    keeps (two ``gather`` calls instead of a Python loop).
    """
    if padding == 0:
        return images
    n, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    shifts = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(images.device)
    rows = (torch.arange(h, device=images.device) + shifts[0, :, None])  # n × h
    cols = (torch.arange(w, device=images.device) + shifts[1, :, None])  # n × w
    padded = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return padded.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right (``RandomHorizontalFlip(p=0.5)``)."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    flip = flip.to(images.device)[:, None, None, None]
    return torch.where(flip, images.flip(3), images)


@dataclass(frozen=True)
class Augment:
    """Which batched augmentations to apply to training batches.

    ``translate``: maximum shift in pixels (random crop of the zero-padded image);
    ``flip``: random horizontal flips. Digits should not be flipped; natural images may.
    """

    translate: int = 0
    flip: bool = False

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.translate:
            images = random_translate(images, self.translate, generator)
        if self.flip:
            images = random_flip(images, generator)
        return images


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
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        if self.images.dtype != torch.uint8:
            raise ValueError("DeviceLoader expects uint8 images (as load_dataset returns them)")
        channels = self.images.shape[1]
        mean = data.mean if mean is None else mean
        std = data.std if std is None else std
        # Normalising uint8 directly: (x/255 - mean)/std == (x - 255*mean) / (255*std).
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).reshape(1, channels, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device).reshape(1, channels, 1, 1) * 255
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
        return ((self.mean / 255).flatten().tolist(), (self.std / 255).flatten().tolist())

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std
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
            if self.augment is not None:
                images = self.augment(images, generator)
            yield self.normalise(images), self.labels[index]
        self.epoch += 1
