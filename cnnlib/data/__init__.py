"""Data for the book: real data sets, and batches that live on the training device.

- ``load_dataset(name, split)``: MNIST, USPS and CIFAR-10 as uint8 tensors, from a decoded cache,
  an offline folder (``CNNLIB_DATA``) or torchvision's download (``cnnlib.data.datasets``).
- ``DeviceLoader``: shuffled, normalised, augmented batches made on the device with no per-image
  Python work (``cnnlib.data.loader``); ``Augment`` says which augmentation to apply.

Taught in chapter 1 (the experiment) and used by every chapter that trains.
"""
from .datasets import (
    DATASETS,
    DataCorruptError,
    DataUnavailableError,
    ImageDataset,
    cache_dir,
    load_dataset,
)
from .loader import Augment, DeviceLoader, random_flip, random_translate

__all__ = [
    "DATASETS",
    "Augment",
    "DataCorruptError",
    "DataUnavailableError",
    "DeviceLoader",
    "ImageDataset",
    "cache_dir",
    "load_dataset",
    "random_flip",
    "random_translate",
]
