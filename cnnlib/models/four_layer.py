"""The small four-layer net of AlexNet's Figure 1: ReLU against tanh (chapter 7).

A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NeurIPS 2012, Figure 1: a four-layer convolutional network on CIFAR-10
reached 25 % training error six times faster with ReLUs than with tanh units. The paper gives
only "four-layer", so the sizes here are the book's: two 5x5 conv layers with 2x2 max pooling,
then two fully connected layers, no batch norm (it would hide the difference being measured).
"""
from __future__ import annotations

from torch import nn

__all__ = ["ACTIVATIONS", "four_layer_net"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def four_layer_net(activation: str = "relu", *, num_classes: int = 10) -> nn.Sequential:
    """Krizhevsky et al.'s Figure 1 net (NeurIPS 2012): conv-act-pool twice, then FC-act-FC.

    ``activation``: ``"relu"`` or ``"tanh"``, used after every layer but the last.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
    act = ACTIVATIONS[activation]
    return nn.Sequential(
        nn.Conv2d(3, 16, 5, padding=2), act(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), act(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 64), act(),
        nn.Linear(64, num_classes),
    )
