"""Named training recipes: a net builder and the ``fit`` settings that train it fast.

A :class:`Recipe` is nothing but data: a :class:`~cnnlib.settings.RunSettings` for
:func:`cnnlib.train.fit` and a function that builds its network, so a chapter can write
``RECIPES["airbench-cpu"].fit(model, train, test)`` and every setting still goes through
``fit``'s checkpoint comparison.

Two more recipes reproduce papers' training set-ups for their experiments: ``"he2016-cifar"``
(the ResNet paper's CIFAR-10 runs, chapter 9's degradation nets) and ``"krizhevsky2012-fig1"``
(AlexNet's ReLU-against-tanh figure, chapter 7).

The fast recipe, ``"airbench-cpu"``, follows airbench (Keller Jordan, 2024: 94 % on
CIFAR-10 in 2.59 s on an A100), cut down for a 2-core CPU:

- a batch-normalised conv net of three blocks (conv, max-pool, BN, GELU, conv, BN, GELU), at
  half airbench's widths (32-128-128 instead of 64-256-256: a quarter of the work per image);
- a first layer that whitens 2x2 patches of the training images, frozen (``whiten="pca"``);
- label smoothing 0.2, random flips and 2-pixel translations;
- Nesterov SGD (momentum 0.9) with a warm-up and a linear decay to zero (``"onecycle"``);
- an exponential moving average of the weights (``ema``) for evaluation;
- airbench's test-time augmentation: the mean of six views, the image and 1-pixel shifted
  copies, each also mirrored (``tta="flip+translate"``).

``bench/cifar10_cpu.py`` sets the recipe against ``fit``'s defaults on the same net; its
docstring gives the measured budget for 90 % on a 2-core CPU (airbench94's widths, 14 epochs).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from torch import nn

from .data import Augment
from .models.cifar_resnet import cifar_resnet
from .models.four_layer import four_layer_net
from .settings import RunSettings, resolve_settings
from .train import History, fit

__all__ = ["Recipe", "RECIPES", "airbench_net", "get_recipe"]


# --------------------------------------------------------------------------------------
# The airbench-like net

def conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    """3x3 conv (no bias: batch norm's shift replaces it), batch norm, GELU."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


def block(c_in: int, c_out: int) -> nn.Sequential:
    """conv, 2x2 max-pool, BN, GELU, then a second conv-BN-GELU: airbench's block. Pooling
    right after the first conv makes that conv's BN and the second conv 4x cheaper."""
    first, bn, act = conv_bn(c_in, c_out)
    return nn.Sequential(first, nn.MaxPool2d(2), bn, act, *conv_bn(c_out, c_out))


class Scale(nn.Module):
    """Multiply by a constant: airbench divides its logits by 9 (a temperature), which keeps
    the first steps' softmax from saturating."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def airbench_net(widths=(32, 128, 128), *, num_classes: int = 10, whiten_width: int = 24) -> nn.Sequential:
    """An airbench-like BN conv net for 32x32 images (airbench94: ``widths=(64, 256, 256)``).

    The first layer is a 2x2 conv with ``whiten_width`` outputs and no padding, sized for
    ``fit(whiten="pca")``: 3x2x2 = 12 patch dimensions, each whitening filter and its negative.
    """
    layers = [nn.Conv2d(3, whiten_width, 2), nn.GELU()]
    c_in = whiten_width
    for width in widths:
        layers.append(block(c_in, width))
        c_in = width
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes, bias=False),
               Scale(1 / 9)]
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------
# Recipes

@dataclass(frozen=True)
class Recipe:
    """A net builder and the :class:`~cnnlib.settings.RunSettings` that train it.

    ``fit(model, train, val, **changes)`` trains with the settings, keywords overriding any
    field; ``fit_kwargs()`` gives the settings as a dict of ``fit`` keyword arguments.
    """

    name: str
    build: Callable[[], nn.Module]
    settings: RunSettings

    def fit_kwargs(self) -> dict:
        """The recipe's settings as ``fit`` keyword arguments."""
        return self.settings.as_dict()

    def replace(self, **changes) -> Recipe:
        """A copy with ``name``, ``build`` or settings changed (a recipe never changes in place)."""
        own = {k: changes.pop(k) for k in ("name", "build") if k in changes}
        return dataclasses.replace(self, **own, settings=resolve_settings(self.settings, changes))

    def fit(self, model: nn.Module, train, val=None, **changes) -> History:
        """``fit(model, train, val, self.settings, **changes)``."""
        return fit(model, train, val, self.settings, **changes)


# The fast recipe: the fit options of airbench (see the module docstring).
AIRBENCH_CPU = RunSettings(epochs=8, lr=0.4, batch_size=512, momentum=0.9, weight_decay=5e-4,
                           schedule="onecycle", label_smoothing=0.2,
                           augment=Augment(translate=2, flip=True), ema=0.99,
                           tta="flip+translate", whiten="pca", whiten_frozen=True)

RECIPES: dict[str, Recipe] = {
    # A quick default (8 epochs at 32-128-128); bench/cifar10_cpu.py's docstring measures the
    # budget for >= 90 % on a 2-core CPU (airbench94's widths, 14 epochs, ~14 minutes).
    "airbench-cpu": Recipe("airbench-cpu", airbench_net, AIRBENCH_CPU),
    # He et al. (CVPR 2016), Section 4.2: SGD with momentum 0.9, weight decay 1e-4, flips and
    # 4-pixel translations, nothing else. Batch 256 at lr 0.2 (the paper: 128 at 0.1, the
    # linear scaling rule) and a warm-up (the paper warms up its 110-layer net) to save steps.
    "he2016-cifar": Recipe("he2016-cifar", lambda: cifar_resnet(20), RunSettings(
        epochs=30, lr=0.2, batch_size=256, momentum=0.9, weight_decay=1e-4, schedule="onecycle",
        augment=Augment(translate=4, flip=True))),
    # Krizhevsky et al. (NeurIPS 2012), Figure 1: plain SGD at one constant rate, no
    # augmentation, no weight decay: nothing that would help one activation more than the other.
    "krizhevsky2012-fig1": Recipe("krizhevsky2012-fig1", four_layer_net, RunSettings(
        epochs=60, lr=0.01, batch_size=64, momentum=0.9, weight_decay=0.0, schedule="constant")),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; a clear error listing the others."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; the recipes are {sorted(RECIPES)}")
    return RECIPES[name]
