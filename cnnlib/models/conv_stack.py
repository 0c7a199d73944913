"""A plain deep stack of 3x3 convolutions, to watch what an initialisation does (chapter 2).

No normalisation, no shortcut, no bias: each layer multiplies the spread of the signal by a
factor set by its weights alone, so the spread after ``depth`` layers shows whether an
initialisation keeps it constant. This is the experiment of K. He, X. Zhang, S. Ren and J. Sun,
"Delving Deep into Rectifiers", ICCV 2015 (Section 2.2 and Figure 3, ReLU), and of X. Glorot
and Y. Bengio, "Understanding the difficulty of training deep feedforward neural networks",
AISTATS 2010 (Section 4, tanh).
"""
from __future__ import annotations

from torch import nn

__all__ = ["conv_stack"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def conv_stack(depth: int = 10, width: int = 64, *, in_channels: int = 3,
               activation: str = "relu") -> nn.Sequential:
    """``depth`` blocks of 3x3 conv (size kept, no bias) + activation: the deep stack to probe.

    Conv ``k`` is ``stack[2 * k]`` and its activation ``stack[2 * k + 1]``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; use one of {', '.join(map(repr, ACTIVATIONS))}")
    layers, channels = [], in_channels
    for _ in range(depth):
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), ACTIVATIONS[activation]()]
        channels = width
    return nn.Sequential(*layers)
