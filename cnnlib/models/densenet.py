"""DenseNet-121/169/201/161: every layer reads the concatenation of all earlier ones.

Taught in the DenseNet chapter (feature reuse, growth rate, bottleneck and compression).
Layout and names follow ``torchvision.models.densenet`` so that its weights load into these
models directly.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["DenseLayer", "DenseBlock", "Transition", "DenseNet", "densenet121",
           "densenet161", "densenet169", "densenet201"]


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (the bottleneck, to ``bn_size * growth_rate`` channels), then
    BN-ReLU-Conv3x3 to ``growth_rate`` new channels: the "-B" in DenseNet-BC."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, dim=1)  # the dense connection: all earlier maps
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        return nn.functional.dropout(x, p=self.drop_rate, training=self.training)


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; layer i reads the block's input and the outputs of
    layers 1..i-1, so the channels grow by ``growth_rate`` per layer."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int = 4,
                 drop_rate: float = 0.0):
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """Between blocks: BN-ReLU-Conv1x1 to fewer channels (compression 0.5, the "C" in
    DenseNet-BC), then a 2x2 average pool that halves the map size."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """A stem, dense blocks separated by transitions, a final BN-ReLU, global average
    pooling and one FC layer; see :func:`densenet121` for the arguments."""

    def __init__(self, growth_rate: int = 32, block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_classes: int = 1000, in_channels: int = 3, width: int | None = None,
                 small_input: bool = False, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        width = width or 2 * growth_rate  # the paper's stem has 2k channels
        if small_input:
            # 32x32 images: a 3x3 stride-1 stem and no max-pool, so the first block sees 32x32.
            stem = [("conv0", nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=False)),
                    ("norm0", nn.BatchNorm2d(width)),
                    ("relu0", nn.ReLU(inplace=True))]
        else:
            stem = [("conv0", nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3,
                                        bias=False)),
                    ("norm0", nn.BatchNorm2d(width)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = nn.Sequential(OrderedDict(stem))

        channels = width
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels = block.out_channels
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(channels, channels // 2))
                channels = channels // 2
        # The layers are pre-activation (BN-ReLU-conv), so the last block's output still
        # needs a BN and a ReLU before pooling.
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's choices: He initialisation for convs, zero bias for the FC layer.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.features(x))
        return self.classifier(torch.flatten(self.avgpool(x), 1))


_DOC = """DenseNet-{depth} (DenseNet-BC, growth rate {k}, blocks {blocks}) from G. Huang, Z. Liu,
    L. van der Maaten and K. Q. Weinberger, "Densely Connected Convolutional Networks",
    CVPR 2017, arXiv:1608.06993.

    Args:
        num_classes: number of outputs.
        growth_rate: k, the channels each dense layer adds ({k} in the paper).
        in_channels: channels of the input image (1 for MNIST).
        width: channels of the stem (default ``2 * growth_rate``, as in the paper).
        small_input: for 32x32 images: the stem becomes a 3x3 stride-1 conv with no
            max-pool, so the four blocks see 32x32, 16x16, 8x8 and 4x4 maps.
        bn_size: the bottleneck 1x1 conv outputs ``bn_size * growth_rate`` channels (4).
        drop_rate: dropout after each dense layer (0; the paper used 0.2 without data
            augmentation).

    Compact version for CIFAR-10 on a CPU: ``densenet{depth}(num_classes=10,
    small_input=True, growth_rate=12)``.
    """


def densenet121(num_classes: int = 1000, *, growth_rate: int = 32, in_channels: int = 3,
                width: int | None = None, small_input: bool = False, bn_size: int = 4,
                drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(growth_rate, (6, 12, 24, 16), num_classes, in_channels, width, small_input,
                    bn_size, drop_rate)


def densenet169(num_classes: int = 1000, *, growth_rate: int = 32, in_channels: int = 3,
                width: int | None = None, small_input: bool = False, bn_size: int = 4,
                drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(growth_rate, (6, 12, 32, 32), num_classes, in_channels, width, small_input,
                    bn_size, drop_rate)


def densenet201(num_classes: int = 1000, *, growth_rate: int = 32, in_channels: int = 3,
                width: int | None = None, small_input: bool = False, bn_size: int = 4,
                drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(growth_rate, (6, 12, 48, 32), num_classes, in_channels, width, small_input,
                    bn_size, drop_rate)


def densenet161(num_classes: int = 1000, *, growth_rate: int = 48, in_channels: int = 3,
                width: int | None = None, small_input: bool = False, bn_size: int = 4,
                drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(growth_rate, (6, 12, 36, 24), num_classes, in_channels, width, small_input,
                    bn_size, drop_rate)


densenet121.__doc__ = _DOC.format(depth=121, k=32, blocks="6-12-24-16")
densenet169.__doc__ = _DOC.format(depth=169, k=32, blocks="6-12-32-32")
densenet201.__doc__ = _DOC.format(depth=201, k=32, blocks="6-12-48-32")
densenet161.__doc__ = _DOC.format(depth=161, k=48, blocks="6-12-36-24")
