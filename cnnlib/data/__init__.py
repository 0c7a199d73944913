"""Data for the book: real data sets, and batches that live on the training device.

- ``load_dataset(name, split)``: MNIST, USPS, CIFAR-10 and MNIST-M as uint8 tensors
  (``cnnlib.data.registry``), decoded once from an offline folder (``CNNLIB_DATA``) or
  torchvision's download (``cnnlib.data.datasets``) and cached (``cnnlib.data.cache``);
  MNIST-M is built from MNIST and photos (``cnnlib.data.mnist_m``).
- ``normalise(images, mean, std)`` and ``ImageDataset.normalised()``: what a network sees,
  ``(x / 255 - mean) / std`` per channel. A data set's normalisation is its ``stats``, a
  ``ChannelStats(mean, std)`` (``cnnlib.data.stats``).
- ``DeviceLoader``: shuffled, normalised, augmented batches made on the device with no per-image
  Python work (``cnnlib.data.loader``).
- Batched augmentation, all of it in ``cnnlib.data.augment``: ``Augment`` (shift and flip),
  zoom, rotation, elastic distortion, hue shift, ``Compose``.

Taught in chapter 1 (the experiment) and used by every chapter that trains.
"""
from .augment import Augment, Augmentation, Compose, random_flip, random_translate
from .datasets import (DATASETS, DataCorruptError, DataUnavailableError, ImageDataset,
                       OfflineSplitWarning)
from .loader import DeviceLoader
from .registry import load_dataset
from .stats import ChannelStats, normalise
from .tensors import TensorLoader

__all__ = [
    "OfflineSplitWarning",
    "DATASETS",
    "Augment",
    "Augmentation",
    "ChannelStats",
    "Compose",
    "DataCorruptError",
    "DataUnavailableError",
    "DeviceLoader",
    "ImageDataset",
    "load_dataset",
    "normalise",
    "TensorLoader",
    "random_flip",
    "random_translate",
]
