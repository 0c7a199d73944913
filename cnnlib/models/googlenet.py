"""GoogLeNet (Inception v1): parallel 1x1, 3x3, 5x5 and pooling branches, concatenated.

Taught in the GoogLeNet chapter (1x1 convolutions as cheap bottlenecks, auxiliary
classifiers). Layout and names follow ``torchvision.models.googlenet``, including its two
departures from the paper: batch norm after every convolution (BN came a year later) and
a 3x3 kernel in the "5x5" branch (a known slip kept so its ported weights load;
pytorch/vision issue #906). ``five_by_five=True`` restores the paper's 5x5 kernel.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs", "googlenet"]


class GoogLeNetOutputs(NamedTuple):
    """What the network returns in training mode when it has auxiliary classifiers.
    The paper adds the auxiliary losses to the main one with weight 0.3."""

    logits: torch.Tensor
    aux_logits2: torch.Tensor
    aux_logits1: torch.Tensor


class BasicConv2d(nn.Module):
    """Conv (no bias: batch norm's shift replaces it), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)  # torchvision's eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """The Inception module (Figure 2b of the paper): four branches on the same input,
    concatenated along the channels. The 1x1 "reduce" convs before the 3x3 and 5x5 convs,
    and the 1x1 "pool proj" after the max-pool, keep the channel count, and so the cost,
    in check."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int,
                 ch5x5red: int, ch5x5: int, pool_proj: int, five_by_five: bool = False):
        super().__init__()
        k = 5 if five_by_five else 3
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=k, padding=k // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)


class InceptionAux(nn.Module):
    """An auxiliary classifier (Section 5 of the paper): average pool to 4x4, 1x1 conv,
    two FC layers. It feeds extra gradient into the middle of the network in training
    and is unused at test time."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 64, dropout: float = 0.7):
        super().__init__()
        conv_channels = max(1, 128 * width // 64)
        hidden = max(1, 1024 * width // 64)
        self.conv = BasicConv2d(in_channels, conv_channels, kernel_size=1)
        self.fc1 = nn.Linear(conv_channels * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The paper pools 5x5 with stride 3, which turns 14x14 maps into 4x4; adaptive
        # pooling gives 4x4 from any size.
        x = self.conv(nn.functional.adaptive_avg_pool2d(x, (4, 4)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """GoogLeNet (Table 1 of the paper); see :func:`googlenet` for the arguments."""

    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, in_channels: int = 3,
                 width: int = 64, small_input: bool = False, dropout: float = 0.2,
                 dropout_aux: float = 0.7, five_by_five: bool = False):
        super().__init__()

        def c(n: int) -> int:  # channel count scaled to the requested width
            return max(1, n * width // 64)

        channels = c(192)

        def inception(*outs: int) -> Inception:
            # Table 1's columns: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
            nonlocal channels
            block = Inception(channels, *(c(n) for n in outs), five_by_five=five_by_five)
            channels = block.out_channels
            return block

        # The stem: a strided 7x7 conv and two max-pools shrink 224x224 to 28x28 cheaply.
        # For 32x32 images (small_input) a 3x3 stride-1 conv and no first max-pool leave
        # 16x16 maps for the first Inception module instead.
        if small_input:
            self.conv1 = BasicConv2d(in_channels, c(64), kernel_size=3, padding=1)
            self.maxpool1 = nn.Identity()
        else:
            self.conv1 = BasicConv2d(in_channels, c(64), kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(c(64), c(64), kernel_size=1)
        self.conv3 = BasicConv2d(c(64), c(192), kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = inception(64, 96, 128, 16, 32, 32)
        self.inception3b = inception(128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = inception(192, 96, 208, 16, 48, 64)
        aux1_channels = channels
        self.inception4b = inception(160, 112, 224, 24, 64, 64)
        self.inception4c = inception(128, 128, 256, 24, 64, 64)
        self.inception4d = inception(112, 144, 288, 32, 64, 64)
        aux2_channels = channels
        self.inception4e = inception(256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = inception(256, 160, 320, 32, 128, 128)
        self.inception5b = inception(384, 192, 384, 48, 128, 128)

        self.aux_logits = aux_logits
        if aux_logits:
            self.aux1 = InceptionAux(aux1_channels, num_classes, width, dropout_aux)
            self.aux2 = InceptionAux(aux2_channels, num_classes, width, dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation: small truncated-normal weights everywhere.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))

        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1: torch.Tensor | None = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2: torch.Tensor | None = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))

        x = torch.flatten(self.avgpool(x), 1)
        logits = self.fc(self.dropout(x))
        if aux1 is not None and aux2 is not None:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


def googlenet(
    num_classes: int = 1000,
    *,
    aux_logits: bool = False,
    in_channels: int = 3,
    width: int = 64,
    small_input: bool = False,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
    five_by_five: bool = False,
) -> GoogLeNet:
    """GoogLeNet from C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov,
    D. Erhan, V. Vanhoucke and A. Rabinovich, "Going Deeper with Convolutions",
    CVPR 2015, arXiv:1409.4842.

    Defaults give torchvision's ``googlenet(aux_logits=False)``: 6,624,904 parameters;
    ``aux_logits=True`` adds the two auxiliary classifiers (13,004,888 parameters).

    Args:
        num_classes: number of outputs.
        aux_logits: add the auxiliary classifiers after inception4a and inception4d. In
            training mode the model then returns ``GoogLeNetOutputs(logits, aux_logits2,
            aux_logits1)``; in eval mode it returns the logits alone.
        in_channels: channels of the input image (1 for MNIST).
        width: channels of the first conv (64 in the paper); every other channel count,
            the Inception branches and the auxiliary heads scale by ``width / 64``.
        small_input: for 32x32 images: conv1 becomes a 3x3 stride-1 conv and the first
            max-pool is dropped, so the Inception modules see 16x16, 8x8 and 4x4 maps.
        dropout: dropout before the last FC layer (torchvision 0.2; the paper used 0.4).
        dropout_aux: dropout in the auxiliary classifiers (0.7 in the paper).
        five_by_five: use the paper's 5x5 kernel in the third branch instead of
            torchvision's 3x3 (changes the parameter count).

    Compact version for CIFAR-10 on a CPU: ``googlenet(num_classes=10, small_input=True,
    width=16)``.
    """
    return GoogLeNet(num_classes, aux_logits, in_channels, width, small_input, dropout,
                     dropout_aux, five_by_five)
