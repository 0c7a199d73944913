"""VGG-11/13/16/19: stacks of 3x3 convolutions, with or without batch norm.

Taught in the VGG chapter (depth from small filters; batch norm as the retrofit that makes
deep plain nets train). Layout and names follow ``torchvision.models.vgg`` so that its
weights load into these models directly.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["VGG", "make_layers", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn",
           "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

# Table 1 of the paper: conv output channels, "M" for a 2x2 max-pool. Each configuration
# adds 3x3 layers to the one above; two 3x3 layers see what one 5x5 layer sees, with
# fewer parameters and one more nonlinearity.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-11
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],  # VGG-13
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],  # VGG-16
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],  # VGG-19
}


def make_layers(config: list[int | str], batch_norm: bool = False, in_channels: int = 3,
                width: int = 64) -> nn.Sequential:
    """The convolutional part: 3x3 convs (padding 1 keeps the size) and 2x2 max-pools.

    ``width`` is the channels of the first stage (64 in the paper); every conv layer's
    channels scale by ``width / 64``.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        out = max(1, int(item) * width // 64)
        layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` (from :func:`make_layers`), an adaptive average pool
    and a three-layer ``classifier``."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, width: int = 64,
                 small_input: bool = False, dropout: float = 0.5):
        super().__init__()
        self.features = features
        # ImageNet's 224x224 inputs reach here as 7x7 maps; 32x32 ones as 1x1. The adaptive
        # pool (from torchvision) lets other sizes reach the classifier too.
        grid = 1 if small_input else 7
        self.avgpool = nn.AdaptiveAvgPool2d((grid, grid))
        channels = 512 * width // 64
        hidden = 4096 * width // 64
        self.classifier = nn.Sequential(
            nn.Linear(channels * grid * grid, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's choices: He initialisation for the ReLU convs (the paper instead
        # started the deeper nets from a trained VGG-11's first four conv layers and FC
        # layers), small normal weights for the FC layers.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _vgg(config: str, batch_norm: bool, num_classes: int, in_channels: int, width: int,
         small_input: bool, dropout: float) -> VGG:
    features = make_layers(CONFIGS[config], batch_norm, in_channels, width)
    return VGG(features, num_classes, width, small_input, dropout)


_DOC = """VGG-{depth} (configuration {config} of Table 1) from K. Simonyan and A. Zisserman, "Very
    Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015,
    arXiv:1409.1556.

    Args:
        num_classes: number of outputs.
        batch_norm: add BatchNorm2d after every conv (torchvision's ``vgg{depth}_bn``;
            batch norm came after the paper).
        in_channels: channels of the input image (1 for MNIST).
        width: channels of the first stage (64 in the paper); all conv channels and the
            FC layers (4096 at full width) scale by ``width / 64``.
        small_input: for 32x32 images: the five max-pools leave 1x1 maps, so the
            classifier reads a 1x1 grid instead of 7x7 (no other change; VGG has no stem).
        dropout: dropout probability in the classifier (0.5 in the paper).

    Compact version for CIFAR-10 on a CPU: ``vgg{depth}(num_classes=10, small_input=True,
    width=8, batch_norm=True)`` (channels / 8).
    """


def vgg11(num_classes: int = 1000, *, batch_norm: bool = False, in_channels: int = 3,
          width: int = 64, small_input: bool = False, dropout: float = 0.5) -> VGG:
    return _vgg("A", batch_norm, num_classes, in_channels, width, small_input, dropout)


def vgg13(num_classes: int = 1000, *, batch_norm: bool = False, in_channels: int = 3,
          width: int = 64, small_input: bool = False, dropout: float = 0.5) -> VGG:
    return _vgg("B", batch_norm, num_classes, in_channels, width, small_input, dropout)


def vgg16(num_classes: int = 1000, *, batch_norm: bool = False, in_channels: int = 3,
          width: int = 64, small_input: bool = False, dropout: float = 0.5) -> VGG:
    return _vgg("D", batch_norm, num_classes, in_channels, width, small_input, dropout)


def vgg19(num_classes: int = 1000, *, batch_norm: bool = False, in_channels: int = 3,
          width: int = 64, small_input: bool = False, dropout: float = 0.5) -> VGG:
    return _vgg("E", batch_norm, num_classes, in_channels, width, small_input, dropout)


vgg11.__doc__ = _DOC.format(depth=11, config="A")
vgg13.__doc__ = _DOC.format(depth=13, config="B")
vgg16.__doc__ = _DOC.format(depth=16, config="D")
vgg19.__doc__ = _DOC.format(depth=19, config="E")


# torchvision's names for the batch-norm versions.
def vgg11_bn(num_classes: int = 1000, **kwargs) -> VGG:
    """:func:`vgg11` with ``batch_norm=True``."""
    return vgg11(num_classes, batch_norm=True, **kwargs)


def vgg13_bn(num_classes: int = 1000, **kwargs) -> VGG:
    """:func:`vgg13` with ``batch_norm=True``."""
    return vgg13(num_classes, batch_norm=True, **kwargs)


def vgg16_bn(num_classes: int = 1000, **kwargs) -> VGG:
    """:func:`vgg16` with ``batch_norm=True``."""
    return vgg16(num_classes, batch_norm=True, **kwargs)


def vgg19_bn(num_classes: int = 1000, **kwargs) -> VGG:
    """:func:`vgg19` with ``batch_norm=True``."""
    return vgg19(num_classes, batch_norm=True, **kwargs)
