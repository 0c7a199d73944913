"""The compact versions of the classic CNNs that the book trains on CIFAR-10, and their budget.

Taught in the architecture chapters: the AlexNet, VGG/GoogLeNet and ResNet/DenseNet chapters
each train their own compact networks here, and the ResNet/DenseNet chapter gathers all of them
in one closing table. Every network is built by the ``cnnlib.models`` builders (the same code
as the ImageNet networks) with fewer channels and a 32x32 stem, and every one is trained with
the *same* budget, so the table compares architectures, not training effort.

``train_compact(name, profile)`` loads the network from its checkpoint when a chapter already
trained it in this profile (``fit`` returns at once), and trains it otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .data import Augment, load_dataset
from .initialisation import init_weights
from .models import alexnet, googlenet, resnet18, vgg11
from .models.densenet import DenseNet
from .runtime import checkpoint_path
from .train import History, fit

__all__ = ["CompactModel", "COMPACT", "budget", "cifar10_split", "train_compact"]


@dataclass(frozen=True)
class CompactModel:
    """A compact network: how to build it, its learning rate, and how it was cut down."""

    build: Callable[[], nn.Module]
    lr: float
    note: str


COMPACT: dict[str, CompactModel] = {
    # One learning rate for the nets with batch norm (0.1); AlexNet has none and needs a lower
    # one, and He initialisation (chapter 2): with PyTorch's default init its eight layers
    # shrink the signal so much that it sat at chance for hundreds of steps.
    "AlexNet": CompactModel(lambda: init_weights(alexnet(num_classes=10, small_input=True,
                                                         width=16), "he"), 0.05,
                            "width 16 (1/4 of torchvision's 64), 3x3 stem, He initialisation"),
    "VGG-11": CompactModel(lambda: vgg11(num_classes=10, small_input=True, width=16,
                                         batch_norm=True),
                           0.1, "configuration A, width 16 (1/4), batch norm"),
    "GoogLeNet": CompactModel(lambda: googlenet(num_classes=10, small_input=True, width=16), 0.1,
                              "width 16 (1/4), 3x3 stem, no auxiliary heads"),
    "ResNet-18": CompactModel(lambda: resnet18(num_classes=10, small_input=True, width=16), 0.1,
                              "width 16 (1/4), 3x3 stem"),
    # DenseNet-121's 58 dense layers are too slow on a CPU at 32x32: 3 blocks of 6 layers.
    "DenseNet-BC": CompactModel(
        lambda: DenseNet(growth_rate=12, block_config=(6, 6, 6), num_classes=10, small_input=True),
        0.1, "growth rate 12, blocks 6-6-6 (DenseNet-121: 32, 6-12-24-16)"),
}


def budget(profile) -> dict:
    """Training images, epochs and test images for every compact network, by profile."""
    return {"n_train": profile.pick(fast=500, full=6_000),
            "epochs": profile.pick(fast=1, full=4),
            "n_test": profile.pick(fast=500, full=2_000)}


def cifar10_split(profile):
    """The (train, test) subsets of CIFAR-10 that every compact network uses in ``profile``."""
    size = budget(profile)
    train = load_dataset("cifar10", "train").subset(size["n_train"], seed=0)
    test = load_dataset("cifar10", "test").subset(size["n_test"], seed=0)
    return train, test


def train_compact(name: str, profile, *, progress: bool = False) -> tuple[nn.Module, History]:
    """Train the compact network ``name`` (a key of ``COMPACT``) on CIFAR-10 with the book's
    budget for ``profile``, or load it from its checkpoint; return (model, history)."""
    spec = COMPACT[name]
    train, test = cifar10_split(profile)
    model = spec.build()
    slug = "compact_" + name.lower().replace("-", "").replace(" ", "")
    history = fit(model, train, test, epochs=budget(profile)["epochs"], lr=spec.lr, batch_size=128,
                  augment=Augment(translate=2, flip=True), seed=0,
                  checkpoint=checkpoint_path(slug), progress=progress)
    return model, history
