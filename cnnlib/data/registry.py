"""Every data set the book uses, by name, and how each is loaded: ``load_dataset(name, split)``.

MNIST, USPS and CIFAR-10 are decoded from files (``cnnlib.data.datasets``); MNIST-M is built
from MNIST and photos (``cnnlib.data.mnist_m``, which uses the first). This module imports both
and neither imports it, so there is no import cycle: a new data set is one more module and one
more line in ``LOADERS``.
"""
from __future__ import annotations

from functools import partial

from .datasets import SPLITS, ImageDataset, load_files
from .mnist_m import load_mnist_m

# name -> function (split, *, download) -> ImageDataset
LOADERS = {
    "mnist": partial(load_files, "mnist"),
    "usps": partial(load_files, "usps"),
    "cifar10": partial(load_files, "cifar10"),
    "mnist_m": load_mnist_m,
}


def load_dataset(name: str, split: str = "train", *, download: bool = True) -> ImageDataset:
    """Load ``split`` ("train" or "test") of ``name`` ("mnist", "usps", "cifar10" or "mnist_m").

    Returns an :class:`~cnnlib.data.ImageDataset` of uint8 images N×C×H×W; both splits carry
    the training split's statistics for normalising. ``download=False`` never goes online.
    """
    choices = ", ".join(LOADERS)
    if not isinstance(name, str):
        raise ValueError(f"load_dataset needs the name of a data set, got {name!r}; "
                         f"choose one of {choices}")
    if name.lower() not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; choose one of {choices}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    return LOADERS[name.lower()](split, download=download)
