"""The CIFAR-10 networks of He et al. (2016), Section 4.2: plain or residual, 6n + 2 layers.

Taught in the ResNet chapter (the degradation experiment). A 3x3 conv stem, three stages of
``n`` blocks of two 3x3 convs on 32x32, 16x16 and 8x8 maps (``width``, 2x and 4x channels),
global average pooling and one FC layer. With ``shortcut=True`` each block adds its input to
its output (option A of the paper: where the shape changes, the shortcut subsamples and pads
the new channels with zeros, so it has no parameters); with ``shortcut=False`` the same
layers are stacked plainly. Plain and residual networks of one depth therefore have exactly
the same parameters: the only difference is the ``+ x``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["CifarBlock", "CifarResNet", "cifar_resnet"]


class CifarBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, then (if ``shortcut``) + x, then ReLU: H(x) = F(x) + x."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, shortcut: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def identity(self, x: torch.Tensor) -> torch.Tensor:
        # Option A: subsample by the stride and pad the new channels with zeros (no parameters).
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))  # F(x)
        if self.shortcut:
            out = out + self.identity(x)  # H(x) = F(x) + x
        return torch.relu(out)


class CifarResNet(nn.Module):
    """Stem, three stages of ``n`` blocks, global average pooling, FC; see :func:`cifar_resnet`."""

    def __init__(self, n: int, shortcut: bool = True, width: int = 16, num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        blocks, channels = [], width
        for stage, out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1  # halve the size at each new stage
                blocks.append(CifarBlock(channels, out, stride, shortcut))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def cifar_resnet(depth: int = 20, *, shortcut: bool = True, width: int = 16, num_classes: int = 10,
                 in_channels: int = 3) -> CifarResNet:
    """The CIFAR-10 ResNet (or, with ``shortcut=False``, the plain net) of depth ``6n + 2`` from
    K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image Recognition",
    CVPR 2016, arXiv:1512.03385, Section 4.2 (depths 20, 32, 44, 56, 110 in the paper).

    Args:
        depth: number of weighted layers, 6n + 2 (the stem, 6n convs, the FC layer).
        shortcut: residual (True) or plain (False); the parameters are the same.
        width: channels of the first stage (16 in the paper); the others have 2x and 4x.
        num_classes: number of outputs.
        in_channels: channels of the input image.

    ``cifar_resnet(20)`` has 269,722 parameters (the paper's Table 6 says 0.27M).
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth}")
    return CifarResNet((depth - 2) // 6, shortcut, width, num_classes, in_channels)
