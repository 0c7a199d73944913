"""LeNet-5, as in the 1998 paper and as it is usually written today, and a plain MLP.

Taught in the LeNet-5 chapter (the first convolutional network). The classic network is written
layer by layer as the paper describes it, so that a student can check every one of its
60,000 trainable parameters against Section II.B of the paper; the modern one is the
version found in most tutorials (61,706 parameters). ``mlp`` is the fully connected
baseline the chapter compares them with.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["LeNet5Classic", "LeNet5Modern", "lenet5", "mlp", "C3_TABLE"]

# Table I of the paper: which of S2's 6 feature maps each of C3's 16 maps reads.
# Maps 0-5 read 3 neighbouring maps, 6-11 read 4 neighbouring maps, 12-14 read 4
# non-neighbouring maps and 15 reads all 6: 60 connections in all. The paper breaks the
# symmetry this way so that different C3 maps are forced to learn different features.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class Squash(nn.Module):
    """The paper's squashing function f(a) = A tanh(S a), with A = 1.7159 and S = 2/3.

    These constants make f(1) = 1 and f(-1) = -1, the target values of F6 (Appendix A).
    """

    A = 1.7159
    S = 2.0 / 3.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.A * torch.tanh(self.S * x)


class Subsampling(nn.Module):
    """S2 and S4: each output unit adds up a 2x2 window of its input map, multiplies the
    sum by a trainable coefficient and adds a trainable bias (one pair per map).

    The squashing function is applied after this layer, as in the paper.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window_sum = 4 * nn.functional.avg_pool2d(x, kernel_size=2, stride=2)
        return self.weight.view(1, -1, 1, 1) * window_sum + self.bias.view(1, -1, 1, 1)


class PartialConv(nn.Module):
    """C3: a 5x5 convolution where output map j only sees the input maps ``table[j]``.

    Written as one small convolution per output map: 16 convolutions with 3, 4 or 6
    input maps, so the parameter count is exactly 60 x 25 weights + 16 biases = 1,516.
    """

    def __init__(self, table: Sequence[Sequence[int]], kernel_size: int = 5):
        super().__init__()
        self.table = [list(inputs) for inputs in table]
        self.convs = nn.ModuleList(nn.Conv2d(len(inputs), 1, kernel_size) for inputs in self.table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x[:, inputs]) for conv, inputs in zip(self.convs, self.table)], dim=1)


class RBFOutput(nn.Module):
    """The output layer: one Euclidean radial basis function unit per class.

    Unit i outputs y_i = sum_j (x_j - w_ij)^2, the squared distance between F6's 84 outputs
    and the prototype of class i. The prototypes are fixed, not trained, so they are a
    buffer. The paper draws them by hand as 7x12 bitmaps of the ASCII characters (entries
    +1 / -1); we approximate them by random +1 / -1 codes drawn with a fixed seed, which
    keeps what matters: the codes are far apart and in the range of the squashing function.

    ``forward`` returns the *negative* distances, so that the usual conventions hold: the
    predicted class is the argmax, and cross-entropy on these "logits" pulls F6 towards the
    right prototype and away from the others, as the paper's discriminative (MAP) criterion does.
    """

    def __init__(self, in_features: int, num_classes: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (num_classes, in_features), generator=generator) * 2.0 - 1.0
        self.register_buffer("prototypes", codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distances = ((x.unsqueeze(1) - self.prototypes.unsqueeze(0)) ** 2).sum(dim=2)
        return -distances


class LeNet5Classic(nn.Module):
    """LeNet-5 as in LeCun et al. (1998), for 1x32x32 inputs (MNIST padded by 2 pixels).

    C1 conv 6@28x28 -> S2 subsampling 6@14x14 -> C3 partial conv 16@10x10 -> S4 16@5x5
    -> C5 conv 120@1x1 -> F6 84 units -> RBF output, with the squashing function after
    every layer from C1 to F6. Trainable parameters: 156 + 12 + 1,516 + 32 + 48,120 +
    10,164 = 60,000.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels, 6, kernel_size=5)
        self.s2 = Subsampling(6)
        self.c3 = PartialConv(C3_TABLE)
        self.s4 = Subsampling(16)
        # C5 is a convolution in the paper; on a 32x32 input its 5x5 kernel covers all
        # of S4's 5x5 maps, so it is a fully connected layer in disguise.
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        self.squash = Squash()
        self.output = RBFOutput(84, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # Appendix A of the paper: weights uniform in [-2.4/F, 2.4/F], where F is
        # the fan-in of the unit, so that the weighted sums fall where the squashing
        # function is steep. Biases start at zero.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                nn.init.uniform_(module.weight, -2.4 / fan_in, 2.4 / fan_in)
                nn.init.zeros_(module.bias)
            elif isinstance(module, Subsampling):
                nn.init.uniform_(module.weight, -2.4 / 4, 2.4 / 4)  # 4 inputs per unit
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squash(self.c1(x))
        x = self.squash(self.s2(x))
        x = self.squash(self.c3(x))
        x = self.squash(self.s4(x))
        x = self.squash(self.c5(x))
        x = self.squash(self.f6(torch.flatten(x, 1)))
        return self.output(x)


class LeNet5Modern(nn.Module):
    """The LeNet-5 of today's tutorials, for 1x28x28 inputs (plain MNIST).

    Changes from the paper: conv1 pads by 2 (instead of padding the images), C3 sees all
    6 maps, max pooling replaces trainable subsampling, ReLU replaces the scaled tanh and
    a plain linear layer with softmax cross-entropy replaces the RBF units.
    Parameters: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def lenet5(variant: str = "classic", num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """LeNet-5 from Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based
    learning applied to document recognition", Proceedings of the IEEE 86(11), 1998.

    Args:
        variant: ``"classic"``: the paper's network (:class:`LeNet5Classic`), 60,000
            trainable parameters, expects **32x32** inputs (pad MNIST by 2 pixels);
            the RBF prototypes are fixed random +/-1 codes (seed 0), not the paper's
            hand-drawn bitmaps. ``"modern"``: ReLU, max pooling, full C3 and a
            120-84-10 linear classifier (:class:`LeNet5Modern`), 61,706 parameters,
            expects **28x28** inputs (conv1 pads by 2).
        num_classes: number of outputs (10 digits).
        in_channels: channels of the input image (1 for MNIST).
    """
    if variant == "classic":
        return LeNet5Classic(num_classes, in_channels)
    if variant == "modern":
        return LeNet5Modern(num_classes, in_channels)
    raise ValueError(f"unknown LeNet-5 variant {variant!r}; use 'classic' or 'modern'")


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """A multilayer perceptron: flatten, then Linear layers of the given sizes with ReLU
    between them (none after the last, which outputs logits).

    ``mlp([784, 500, 10])`` is a one-hidden-layer network for MNIST with 397,510
    parameters; LeCun et al. (1998) report such fully connected baselines in Section III.
    """
    if len(sizes) < 2:
        raise ValueError("mlp needs at least an input and an output size")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)
