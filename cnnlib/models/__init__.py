"""The classic CNNs, written by hand, one family per file (the architecture chapters).

Every builder is named as in ``torchvision.models`` and, with its defaults, builds the
paper's ImageNet network with exactly torchvision's parameters (same names and shapes, so
torchvision's weights load). The same builders make compact versions for 32x32 images
that train on a laptop CPU, with the same keyword arguments in every family:

- ``num_classes``: number of outputs;
- ``in_channels``: 3 for colour images, 1 for MNIST;
- ``small_input=True``: a 3x3 stride-1 stem without the first max-pool (32x32 inputs);
- ``width``: channels of the stem / first stage (64 in most papers); the rest scale with it.
  DenseNet is sized by ``growth_rate`` instead (its stem width defaults to twice it).

For example ``resnet18(num_classes=10, small_input=True, width=16)`` or
``densenet121(num_classes=10, small_input=True, growth_rate=12)``.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from .alexnet import AlexNet, alexnet
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .googlenet import GoogLeNet, googlenet
from .lenet import LeNet5Classic, LeNet5Modern, lenet5, mlp
from .resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

# Every image classifier builder by name (``mlp`` takes layer sizes instead, so it is not
# listed). All accept ``num_classes=`` as a keyword argument.
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "lenet5": lenet5,
    "alexnet": alexnet,
    "vgg11": vgg11, "vgg11_bn": vgg11_bn,
    "vgg13": vgg13, "vgg13_bn": vgg13_bn,
    "vgg16": vgg16, "vgg16_bn": vgg16_bn,
    "vgg19": vgg19, "vgg19_bn": vgg19_bn,
    "googlenet": googlenet,
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
    "resnet101": resnet101, "resnet152": resnet152,
    "densenet121": densenet121, "densenet169": densenet169,
    "densenet201": densenet201, "densenet161": densenet161,
}


def build(name: str, **kwargs) -> nn.Module:
    """Build a model by name, e.g. ``build("resnet18", num_classes=10, small_input=True)``."""
    if name not in BUILDERS:
        raise KeyError(f"unknown model {name!r}; choose from {sorted(BUILDERS)}")
    return BUILDERS[name](**kwargs)


__all__ = [
    "BUILDERS", "build", "mlp",
    "AlexNet", "DenseNet", "GoogLeNet", "LeNet5Classic", "LeNet5Modern", "ResNet", "VGG",
    *sorted(BUILDERS),
]
