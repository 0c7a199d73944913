"""The networks the book ships trained: what each is, how it is built and trained, on which data.

Each :class:`Network` names a builder, a recipe (``cnnlib.recipe``) and the changes this net makes
to it, and the data it learns from; :func:`register` adds one to ``NETWORKS``, which
``make weights`` trains (:mod:`.training`) and :func:`cnnlib.pretrained.load` loads
(:mod:`.store`). The definitions below are the book's, chapter by chapter.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from ..compact import COMPACT
from ..data import Augment, load_dataset
from ..data.augment import Compose, ElasticDistort, HueShift, RandomAffine, rotate, zoom
from ..initialisation import init_weights
from ..models import cifar_resnet, convnet, four_layer_net
from ..recipe import airbench_net, get_recipe
from ..transfer import relabel, with_stats

__all__ = ["SMOKE_IMAGES", "PretrainedError", "Network", "NETWORKS", "register", "get_network",
           "ARCH_EPOCHS", "FIG1_LR", "paper_inputs", "fig1_data", "fig1_net", "AUGMENTATIONS", "AUG_EPOCHS",
           "SOURCE_CLASSES", "transfer_source_data"]


SMOKE_IMAGES = 256  # training and test images of a smoke run (and of the fast profile's stand-in)


class PretrainedError(ValueError):
    """A trained network that cannot be had: not shipped, unknown, or an unusable file."""


@dataclass(frozen=True)
class Network:
    """A network the book ships trained: how to build it, and how it is trained.

    ``recipe``: a name of ``cnnlib.recipe.RECIPES``; ``changes``: fit settings that differ from
    the recipe for this net; ``data``: a function returning ``(train, test)`` data sets (default:
    all of ``dataset``'s training and test images).
    """

    name: str
    build: Callable[[], nn.Module]
    recipe: str = "airbench-cpu"
    changes: dict = field(default_factory=dict)
    dataset: str = "cifar10"
    data: Callable | None = None
    note: str = ""

    def settings(self) -> dict:
        """The ``fit`` settings it is trained with: its recipe's, with ``changes`` applied."""
        return {**get_recipe(self.recipe).fit_kwargs(), **self.changes}

    def load_data(self, smoke: bool = False):
        """Its ``(train, test)`` data sets; ``smoke=True``: 256 images of each, drawn at random
        (the smoke run's, which is also the fast profile's stand-in)."""
        if self.data is not None:
            train, test = self.data()
        else:
            train, test = load_dataset(self.dataset, "train"), load_dataset(self.dataset, "test")
        if smoke:
            train = train.subset(min(SMOKE_IMAGES, len(train)))
            test = test.subset(min(SMOKE_IMAGES, len(test)))
        return train, test


NETWORKS: dict[str, Network] = {}


def register(network: Network) -> Network:
    """Add ``network`` to the registry (the later chapters add theirs the same way)."""
    NETWORKS[network.name] = network
    return network


def get_network(name: str) -> Network:
    """The registered network ``name``; an error listing the others."""
    if name not in NETWORKS:
        raise PretrainedError(f"no network called {name!r}; the book's networks are "
                              f"{sorted(NETWORKS)}")
    return NETWORKS[name]


# Chapters 7-9: the five compact nets of cnnlib.compact, one checkpoint each for all three
# chapters. Learning rates: the chapters' (for batch 128) times 4 for the recipe's batch of 512
# (the linear scaling rule). Their first convs are 3x3 with fewer channels than the 27 patch
# dimensions: the whitening gives the strongest directions, trained. AlexNet, with no batch
# norm, keeps batch 128 at a lower rate and no whitening: at batch 512 it sat at chance.
ARCH_EPOCHS = 40
for _title, _slug in (("AlexNet", "alexnet"), ("VGG-11", "vgg11"), ("GoogLeNet", "googlenet"),
                      ("ResNet-18", "resnet18"), ("DenseNet-BC", "densenet_bc")):
    _changes = {"epochs": ARCH_EPOCHS, "lr": 4 * COMPACT[_title].lr, "whiten_frozen": False}
    if _slug == "alexnet":
        _changes.update(batch_size=128, lr=0.02, whiten=None)
    if _slug == "resnet18":
        _changes.update(epochs=2 * ARCH_EPOCHS)
    register(Network(_slug, COMPACT[_title].build, changes=_changes,
                     note=f"compact {_title}: {COMPACT[_title].note}"))

# Chapter 9: He et al.'s degradation experiment (Fig. 1 and 6): plain nets of 14 and 56
# layers and their residual twins, trained alike on all of CIFAR-10.
for _depth in (14, 56):
    for _shortcut, _kind in ((False, "plain"), (True, "residual")):
        register(Network(f"{_kind}{_depth}",
                         functools.partial(cifar_resnet, _depth, shortcut=_shortcut),
                         recipe="he2016-cifar",
                         note=f"He et al.'s CIFAR-10 {_kind} net of {_depth} layers"))

# Chapter 7: Krizhevsky et al.'s Figure 1, the same four-layer net with ReLU or tanh units,
# set up as the paper describes: inputs are pixel values minus the training set's mean (its
# only preprocessing; per channel here), weights drawn from N(0, 0.01^2) (Section 5), no
# regularisation, and each net's learning rate "chosen independently to make training as fast
# as possible". That choice was made by a pilot (tools/pilot_relu_tanh.py): the lowest
# training error after 8 epochs on 10,000 images among 0.01, 0.003, 0.001 and 0.0003.
FIG1_LR = {"relu": 0.001, "tanh": 0.01}


def paper_inputs(data):
    """``data`` fed as pixel values minus the mean (0-255 scale): no division by the std."""
    return dataclasses.replace(data, stats=(list(data.mean), [1 / 255] * len(data.mean)))


def fig1_data():
    """All of CIFAR-10, both splits minus the training set's mean pixel (per channel)."""
    train = paper_inputs(load_dataset("cifar10", "train"))
    return train, with_stats(load_dataset("cifar10", "test"), train)


def fig1_net(activation: str) -> nn.Module:
    """The four-layer net with the paper's initialisation, N(0, 0.01^2), zero biases."""
    return init_weights(four_layer_net(activation), "normal", std=0.01)


for _activation in ("relu", "tanh"):
    register(Network(f"four_layer_{_activation}", functools.partial(fig1_net, _activation),
                     recipe="krizhevsky2012-fig1", changes={"lr": FIG1_LR[_activation]},
                     data=fig1_data,
                     note=f"AlexNet's Figure 1 net with {_activation} units, the paper's "
                          "inputs, initialisation and a learning rate chosen for speed"))

# Chapter 5: one augmentation at a time, all else the fast recipe's (test-time
# augmentation off: it would hide what flipping during training adds).
AUGMENTATIONS = {
    "none": None,
    "flip": Augment(flip=True),
    "shift": Augment(translate=4),
    "zoom": zoom(0.8, 1.25),
    "rotate": rotate(15),
    "elastic": ElasticDistort(alpha=1.0, sigma=3.0),
    "hue": HueShift(0.1),
    "shift_flip": Augment(translate=4, flip=True),
    "all": Compose(Augment(translate=4, flip=True), RandomAffine(degrees=15, scale=(0.8, 1.25)),
                   ElasticDistort(alpha=1.0, sigma=3.0), HueShift(0.1)),
}
AUG_EPOCHS = 16
for _key, _augment in AUGMENTATIONS.items():
    register(Network(f"aug_{_key}", airbench_net,
                     changes={"augment": _augment, "tta": None, "epochs": AUG_EPOCHS},
                     note=f"the fast recipe's net with augmentation {_key!r}"))


# Chapter 10: the source network for transfer learning, CIFAR-10's classes 0-4.
SOURCE_CLASSES = range(5)


def transfer_source_data():
    """CIFAR-10's training and test images of classes 0-4 (airplane .. deer), relabelled 0-4."""
    return (relabel(load_dataset("cifar10", "train"), SOURCE_CLASSES),
            relabel(load_dataset("cifar10", "test"), SOURCE_CLASSES))


register(Network("transfer_source",
                 functools.partial(convnet, num_classes=5, widths=(32, 64, 128, 256)),
                 changes={"epochs": ARCH_EPOCHS, "whiten": None, "whiten_frozen": False},
                 dataset="cifar10 classes 0-4", data=transfer_source_data,
                 note="chapter 10's source: the four-block convnet on CIFAR-10's classes 0-4"))
