"""Batches of stored feature tensors, made on the device: what ``fit`` trains a linear
classifier on when the features of a frozen network were computed once (chapter 10).

The image counterpart is ``cnnlib.data.loader.DeviceLoader``; ``cnnlib.train.as_loader`` picks one.
"""
from __future__ import annotations

import torch

from ..runtime import get_device
from ..validation import check_whole
from .loader import batch_count, batch_indices

__all__ = ["TensorLoader", "is_features"]


class TensorLoader:
    """Batches of a ``(features, labels)`` pair of tensors, made on ``device``.

    For training on stored features (float, any shape N×...): they are used as they are, with
    no normalisation or augmentation. Shuffling follows ``DeviceLoader``'s rule (a generator
    seeded by ``seed`` and the epoch), so epoch *k* is the same whenever it is replayed.
    """

    stats = None  # nothing to normalise

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int = 256, *,
                 shuffle: bool = False, device=None, seed: int = 0, drop_last: bool = False,
                 channels_last: bool = False):
        check_whole("batch_size", batch_size)  # 32.0 would fail later, in torch's words
        self.device = get_device(device)
        self.features = features.to(self.device)
        if channels_last and features.dim() == 4:
            self.features = self.features.contiguous(memory_format=torch.channels_last)
        self.labels = labels.long().to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        return batch_count(len(self.labels), self.batch_size, self.drop_last)

    def __iter__(self):
        _, indices = batch_indices(len(self.labels), self.batch_size, shuffle=self.shuffle,
                                   drop_last=self.drop_last, seed=self.seed, epoch=self.epoch,
                                   device=self.device)
        for index in indices:
            yield self.features[index], self.labels[index]
        self.epoch += 1


def is_features(data) -> bool:
    """Whether ``data`` is feature tensors (a pair or a ``TensorLoader``) rather than images."""
    return isinstance(data, (tuple, list, TensorLoader))
