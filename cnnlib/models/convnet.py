"""The book's small source network for transfer learning (chapter 10): four conv-BN-ReLU blocks.

Not a network from a paper: the VGG recipe (stacks of 3x3 convolutions and 2x2 max pooling;
Simonyan & Zisserman, ICLR 2015) with batch normalisation after every convolution (Ioffe &
Szegedy, ICML 2015), sized to pre-train on a laptop CPU. Its children are named like those of
torchvision's ResNet (``layer1``..``layer4``, ``avgpool``, ``fc``), so the functions of
:mod:`cnnlib.transfer` treat both alike.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

__all__ = ["conv_bn_relu", "convnet"]


def conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    """3x3 conv (size kept) - BN - ReLU, as a list to splice into an ``nn.Sequential``.

    The conv has no bias: the batch norm right after it has its own shift.
    """
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def convnet(num_classes: int = 10, in_channels: int = 3, widths=(16, 32, 64, 128)) -> nn.Sequential:
    """A four-block CNN for 32x32 images, small enough to pre-train on a laptop CPU.

    ``layer1``..``layer3`` are conv-BN-ReLU + 2x2 max pooling (32 -> 16 -> 8 -> 4 pixels),
    ``layer4`` is conv-BN-ReLU, then global average pooling and the classifier ``fc``.
    ``widths`` are the channels of the four blocks.
    """
    layers, channels = OrderedDict(), in_channels
    for i, width in enumerate(widths, start=1):
        last = i == len(widths)
        layers[f"layer{i}"] = nn.Sequential(*conv_bn_relu(channels, width),
                                            *([] if last else [nn.MaxPool2d(2)]))
        channels = width
    layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(channels, num_classes)
    return nn.Sequential(layers)
