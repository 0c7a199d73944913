"""The digit networks of ADDA (chapters 11 and 12): LeNet encoder, classifier, domain discriminator.

From E. Tzeng, J. Hoffman, K. Saenko and T. Darrell, "Adversarial Discriminative Domain
Adaptation", CVPR 2017, arXiv:1702.05464, Section 4.1: the encoder is the LeNet of Caffe
(conv 20@5x5 - max-pool - ReLU - conv 50@5x5 - max-pool - ReLU - fc 500), the classifier a
last ReLU and fc 10 on its 500 features, and the adversarial discriminator three fully
connected layers 500-500-2 with ReLUs. The training loop is :mod:`cnnlib.adapt.adda`.

The encoder has no dropout, as in the paper's Caffe LeNet and the authors' code. Measured on
MNIST->USPS (seed 0, 4,000 adaptation steps), a ``Dropout2d(0.5)`` after the second conv
mattered only with a short source pre-training: 0.838 with it against 0.891 without after 15
source epochs, 0.924 against 0.910 after 60 (chapter 11, Exercise 5).
"""
from __future__ import annotations

from torch import nn

__all__ = ["lenet_encoder", "lenet_classifier", "domain_discriminator", "FEATURES"]

FEATURES = 500  # the encoder's output: what the classifier and the discriminator read


def lenet_encoder(in_channels: int = 1) -> nn.Sequential:
    """The encoder M for 28x28 digits (the paper's LeNet): 500 features per image.

    ``in_channels``: 1 for grey digits (MNIST, USPS), 3 for colour ones (MNIST-M).
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 20, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),            # 20 x 12 x 12
        nn.Conv2d(20, 50, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(),  # 50 x 4 x 4
        nn.Flatten(), nn.Linear(50 * 4 * 4, FEATURES),
    )


def lenet_classifier(num_classes: int = 10) -> nn.Sequential:
    """The classifier C on top of the encoder's 500 features: ReLU, dropout, fc."""
    return nn.Sequential(nn.ReLU(), nn.Dropout(0.5), nn.Linear(FEATURES, num_classes))


def domain_discriminator(in_features: int = FEATURES, hidden: int = 500) -> nn.Sequential:
    """The domain discriminator D: two ``hidden``-unit ReLU layers, then 2 logits (target, source)."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
