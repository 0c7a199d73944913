"""ResNet-18/34/50/101/152: residual blocks, y = F(x) + x.

Taught in the ResNet chapter (identity shortcuts make very deep nets trainable). Layout and
names follow ``torchvision.models.resnet`` so that its weights load into these models
directly.
"""
from __future__ import annotations

from typing import Union

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152"]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    # No bias: the batch norm right after it has its own shift.
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut (Figure 5 left of the paper); ResNet-18 and -34."""

    expansion = 1  # output channels = planes * expansion

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), and a shortcut (Figure 5 right); ResNet-50 and up.

    The stride sits on the 3x3 conv as in torchvision ("ResNet v1.5"); the paper puts it on
    the first 1x1 conv. The parameter count is the same.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(in_channels, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = type[Union[BasicBlock, Bottleneck]]


class ResNet(nn.Module):
    """A stem, four stages of residual blocks, global average pooling and one FC layer;
    see :func:`resnet18` for the arguments."""

    def __init__(self, block: Block, layers: list[int], num_classes: int = 1000,
                 in_channels: int = 3, width: int = 64, small_input: bool = False,
                 zero_init_residual: bool = False):
        super().__init__()
        self.in_channels = width
        if small_input:
            # 32x32 images: a 3x3 stride-1 stem and no max-pool, so stage 1 works at 32x32.
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            # ImageNet: a 7x7 stride-2 conv and a max-pool take 224x224 down to 56x56.
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        # Each stage after the first halves the map size and doubles the channels.
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_channels != planes * block.expansion:
            # Option B of the paper: a strided 1x1 conv projects the shortcut when the
            # shape changes; every other shortcut is the identity.
            downsample = nn.Sequential(
                conv1x1(self.in_channels, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.in_channels, planes, stride, downsample)]
        self.in_channels = planes * block.expansion
        layers += [block(self.in_channels, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # He et al.'s initialisation for ReLU nets (their own arXiv:1502.01852).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            # Start every residual branch at zero, so each block starts as the identity
            # (Goyal et al., arXiv:1706.02677); often helps short trainings.
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_DOC = """ResNet-{depth} from K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
    Image Recognition", CVPR 2016, arXiv:1512.03385 ({block} blocks, stages {layers}).

    Args:
        num_classes: number of outputs.
        in_channels: channels of the input image (1 for MNIST).
        width: channels of the stem and of stage 1 (64 in the paper); stages 2-4 have 2x,
            4x and 8x as many (times 4 at the output of bottleneck blocks). Not to be
            confused with torchvision's ``width_per_group`` (wide ResNets).
        small_input: for 32x32 images: the stem becomes a 3x3 stride-1 conv with no
            max-pool, so the four stages see 32x32, 16x16, 8x8 and 4x4 maps.
        zero_init_residual: start the last batch norm of every block at zero.

    Compact version for CIFAR-10 on a CPU: ``resnet{depth}(num_classes=10,
    small_input=True, width=16)``.
    """


def resnet18(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64,
             small_input: bool = False, zero_init_residual: bool = False) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, width, small_input,
                  zero_init_residual)


def resnet34(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64,
             small_input: bool = False, zero_init_residual: bool = False) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, width, small_input,
                  zero_init_residual)


def resnet50(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64,
             small_input: bool = False, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, width, small_input,
                  zero_init_residual)


def resnet101(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64,
              small_input: bool = False, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, width, small_input,
                  zero_init_residual)


def resnet152(num_classes: int = 1000, *, in_channels: int = 3, width: int = 64,
              small_input: bool = False, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels, width, small_input,
                  zero_init_residual)


resnet18.__doc__ = _DOC.format(depth=18, block="basic", layers="2-2-2-2")
resnet34.__doc__ = _DOC.format(depth=34, block="basic", layers="3-4-6-3")
resnet50.__doc__ = _DOC.format(depth=50, block="bottleneck", layers="3-4-6-3")
resnet101.__doc__ = _DOC.format(depth=101, block="bottleneck", layers="3-4-23-3")
resnet152.__doc__ = _DOC.format(depth=152, block="bottleneck", layers="3-8-36-3")
