"""AlexNet: the paper's two-GPU network and the single-stream version torchvision ships.

Taught in the AlexNet chapter (ReLU, dropout, data augmentation, going deep on GPUs).
"""
from __future__ import annotations

from torch import nn
import torch

__all__ = ["AlexNet", "alexnet"]

# Channels of the five conv layers, and the groups of each: in the paper, conv2, conv4
# and conv5 only see the half of the previous layer that lives on the same GPU (groups=2);
# conv3 and the fully connected layers talk across the two GPUs.
_CONFIGS = {
    "paper": {"channels": (96, 256, 384, 384, 256), "groups": (1, 2, 1, 2, 2)},
    "torchvision": {"channels": (64, 192, 384, 256, 256), "groups": (1, 1, 1, 1, 1)},
}


def _local_response_norm() -> nn.LocalResponseNorm:
    # Section 3.3 of the paper: b_i = a_i / (k + alpha * sum_j a_j^2)^beta over n = 5
    # neighbouring channels, with k = 2, alpha = 1e-4, beta = 0.75. PyTorch's layer divides
    # alpha by n, so the paper's alpha = 1e-4 is alpha = 5 * 1e-4 here.
    return nn.LocalResponseNorm(size=5, alpha=5e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    """AlexNet: five conv layers (``features``), then three fully connected layers
    (``classifier``); see :func:`alexnet` for the arguments."""

    def __init__(
        self,
        num_classes: int = 1000,
        variant: str = "torchvision",
        in_channels: int = 3,
        width: int | None = None,
        small_input: bool = False,
        dropout: float = 0.5,
    ):
        super().__init__()
        if variant not in _CONFIGS:
            raise ValueError(f"unknown AlexNet variant {variant!r}; use 'torchvision' or 'paper'")
        paper = variant == "paper"
        base = _CONFIGS[variant]["channels"]
        groups = _CONFIGS[variant]["groups"]
        scale = (width or base[0]) / base[0]
        # Scaled channel counts stay even, so that two groups still split them in halves.
        c1, c2, c3, c4, c5 = (max(2, 2 * round(c * scale / 2)) for c in base)
        hidden = max(2, round(4096 * scale))

        if small_input:
            # 32x32 images: a 3x3 stride-1 first layer instead of 11x11 stride 4.
            conv1 = nn.Conv2d(in_channels, c1, kernel_size=3, stride=1, padding=1)
        else:
            # The paper feeds 227x227 crops with no padding (224 in its text is a known
            # slip); torchvision pads by 2 and feeds 224x224. Both give 55x55 maps.
            conv1 = nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=0 if paper else 2)

        def lrn() -> list[nn.Module]:
            return [_local_response_norm()] if paper else []

        # Max pooling with overlapping 3x3 windows and stride 2 (Section 3.4).
        self.features = nn.Sequential(
            conv1, nn.ReLU(inplace=True), *lrn(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups[1]), nn.ReLU(inplace=True), *lrn(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1, groups=groups[2]), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups[3]), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups[4]), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        # ImageNet inputs give 6x6 maps here (32x32 ones with small_input give 3x3); the
        # adaptive pool, as in torchvision, lets other input sizes reach the classifier.
        grid = 3 if small_input else 6
        self.avgpool = nn.AdaptiveAvgPool2d((grid, grid))
        flat = c5 * grid * grid
        if paper:
            # The paper applies dropout to the outputs of the first two FC layers.
            self.classifier = nn.Sequential(
                nn.Linear(flat, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        else:
            # torchvision drops the inputs of the first two FC layers instead.
            self.classifier = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, num_classes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(
    num_classes: int = 1000,
    *,
    variant: str = "torchvision",
    in_channels: int = 3,
    width: int | None = None,
    small_input: bool = False,
    dropout: float = 0.5,
) -> AlexNet:
    """AlexNet from A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet
    Classification with Deep Convolutional Neural Networks", NeurIPS (NIPS) 2012
    (no arXiv version).

    Args:
        num_classes: number of outputs.
        variant: ``"torchvision"``: the single-stream network of torchvision (64-192-384-
            256-256 channels, no LRN, 224x224 inputs), 61,100,840 parameters, same layer
            layout as ``torchvision.models.alexnet`` so its weights load directly.
            ``"paper"``: the two-GPU network of the paper (96-256-384-384-256 channels,
            conv2/4/5 grouped with ``groups=2``, local response normalisation after conv1
            and conv2, 227x227 inputs), 60,965,224 parameters.
        in_channels: channels of the input image (1 for MNIST).
        width: channels of the first conv layer (default: 64, or 96 for the paper); the
            other conv layers and the FC layers (4096 units at full width) scale with it.
        small_input: for 32x32 images: conv1 becomes a 3x3 stride-1 convolution and the
            classifier reads a 3x3 grid instead of 6x6.
        dropout: dropout probability in the classifier (0.5 in the paper).

    Compact version for CIFAR-10 on a CPU: ``alexnet(num_classes=10, small_input=True,
    width=16)``.
    """
    return AlexNet(num_classes, variant, in_channels, width, small_input, dropout)
