"""Batches made on the training device: ``DeviceLoader``.

Why not ``torch.utils.data.DataLoader``? With PIL transforms it decodes, crops and flips one
image at a time in Python worker processes; on a 2-vCPU laptop or in Colab that, not the network,
is the bottleneck. Here the whole data set sits on the device as uint8 (CIFAR-10's 50,000
images are 150 MB), and each batch is indexed, augmented (``cnnlib.data.augment``) and
normalised (``cnnlib.data.stats``) with a handful of tensor operations on the whole batch.
``bench/loader.py`` measures the difference.
"""
from __future__ import annotations

import torch

from ..runtime import get_device
from ..validation import check_whole
from .augment import as_augmentation, check_output, pad
from .stats import as_stats, normaliser


def batch_count(n: int, batch_size: int, drop_last: bool) -> int:
    """How many batches ``n`` items make (the last, smaller one dropped if ``drop_last``)."""
    return n // batch_size if drop_last else -(-n // batch_size)


def batch_indices(n: int, batch_size: int, *, shuffle: bool, drop_last: bool, seed: int,
                  epoch: int, device):
    """The generator of pass ``epoch`` and the item indices of each of its batches.

    The generator is seeded by ``seed`` and ``epoch`` alone, so pass *k* has the same shuffle
    (and, for ``DeviceLoader``, the same augmentation) whenever it is replayed: that is what
    lets an interrupted run resume exactly. Shared by ``DeviceLoader`` and ``TensorLoader``.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if shuffle:
        order = torch.randperm(n, generator=generator).to(device)
    else:
        order = torch.arange(n, device=device)
    indices = [order[b * batch_size:(b + 1) * batch_size]
               for b in range(batch_count(n, batch_size, drop_last))]
    return generator, indices


class DeviceLoader:
    """Iterate over a data set in normalised float batches made on ``device``.

    ``data`` is an :class:`~cnnlib.data.ImageDataset` (or anything with uint8 ``.images``,
    ``.labels`` and ``.stats``). Images are normalised with ``mean``/``std`` (per channel, [0, 1]
    scale; by default the data set's own), kept as they are given in ``stats``. Batches are
    shuffled with a generator seeded by ``seed`` and the epoch number, so epoch *k* of a run is
    the same whenever it is replayed (needed to resume).

    ``augment``: an augmentation of ``cnnlib.data.augment`` (or a function (uint8 batch,
    generator) -> uint8 batch). The data set is zero-padded once by ``augment.padding`` here,
    and each batch goes through ``augment.apply``: no batch is padded again.
    """

    def __init__(self, data, batch_size: int = 256, *, shuffle: bool = False, augment=None,
                 device=None, mean=None, std=None, seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False):
        check_whole("batch_size", batch_size)  # 32.0 would fail later, in torch's words
        self.device = get_device(device)
        if data.images.dtype != torch.uint8:
            raise ValueError("DeviceLoader expects uint8 images (as load_dataset returns them)")
        # The data set's normalisation, or the one given (e.g. the training set's, for a test set).
        stats = data.stats
        if mean is not None or std is not None:
            stats = as_stats(stats.mean if mean is None else mean, stats.std if std is None else std)
        self.stats = stats
        # Checked (one value per channel); a zero std counts as one grey level: never NaN.
        self._scale, self._shift = normaliser(stats, data.images.shape[1], self.device)
        self.augment = as_augmentation(augment)
        self.labels = data.labels.to(self.device)
        # Padding for the random shifts is done once here, not once per batch.
        padding = self.augment.padding if self.augment is not None else 0
        self.images = pad(data.images.to(self.device), padding)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.epoch = 0  # advanced by each full pass; ``fit`` sets it when resuming

    def __len__(self) -> int:
        return batch_count(len(self.labels), self.batch_size, self.drop_last)

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """A uint8 batch as the network sees it: ``(x / 255 - mean) / std`` with ``stats``."""
        x = torch.addcmul(self._shift, images.float(), self._scale)
        return x.contiguous(memory_format=self.memory_format)

    def __iter__(self):
        generator, indices = batch_indices(len(self.labels), self.batch_size, shuffle=self.shuffle,
                                           drop_last=self.drop_last, seed=self.seed,
                                           epoch=self.epoch, device=self.device)
        for index in indices:
            images = self.images[index]
            if self.augment is not None:
                images = check_output(self.augment.apply(images, generator), images, self.augment)
            yield self.normalise(images), self.labels[index]
        self.epoch += 1
