"""The compact versions of the classic CNNs that the book trains on CIFAR-10.

Taught in the architecture chapters: the AlexNet, VGG/GoogLeNet and ResNet/DenseNet chapters
each show their own compact networks, and the ResNet/DenseNet chapter gathers all of them in one
closing table. Every network is built by the ``cnnlib.models`` builders (the same code as the
ImageNet networks) with fewer channels and a 32x32 stem. ``cnnlib.pretrained``'s registry
trains each with the same recipe and epochs (AlexNet, with no batch norm, at a smaller batch;
ResNet-18 for twice the epochs), so the table compares architectures, not training effort.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from .initialisation import init_weights
from .models import alexnet, googlenet, resnet18, vgg11
from .models.densenet import DenseNet

__all__ = ["CompactModel", "COMPACT"]


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
