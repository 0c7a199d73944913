"""Transfer learning: reuse a network trained on one task for another (chapter 10).

The two strategies of the course notes, as small functions that work on any network whose
children run in order and end with a linear layer (the book's ``cnnlib.models.convnet``,
torchvision's ResNets, ...):

- **fixed feature extractor**: :func:`drop_head` removes the last fully connected layer,
  :func:`extract_features` runs the frozen network over the new data set *once*, and
  ``cnnlib.train.fit`` trains a softmax classifier (an ``nn.Linear``) on the stored
  ``(features, labels)`` pair;
- **fine-tuning**: :func:`replace_head` puts a fresh layer with the new number of classes on
  top, ``cnnlib.initialisation.freeze`` keeps the lower blocks fixed (fine-tune "top") or
  nothing (fine-tune "all"), and :func:`layerwise_sgd` gives the pretrained layers a lower
  learning rate than the new head (param groups), so training does not wash out what was
  learned;
- for a small target set that looks nothing like the source: :func:`head_on_block` attaches a
  new layer to an *earlier* block, whose features are more generic.

:func:`compare_methods` runs the chapter's experiment: every method (:data:`METHODS`) on
small/large and similar/different targets, over several seeds.

:func:`imagenet_resnet18` loads torchvision's ImageNet weights when they can be had, and says
plainly why not when the machine is offline.
"""
from __future__ import annotations

import copy
import dataclasses
import textwrap
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .data import DeviceLoader
from .initialisation import freeze
from .models.convnet import conv_bn_relu, convnet
from .runtime import get_device
from .train import evaluate, fit

__all__ = ["last_linear", "replace_head", "drop_head", "truncate", "layerwise_sgd",
           "extract_features", "head_on_block", "with_stats", "digits_as_rgb", "relabel",
           "imagenet_resnet18", "METHODS", "feature_extractor_accuracy", "target_model",
           "transfer_accuracy", "compare_methods"]


# --------------------------------------------------------------------------------------
# Heads

def last_linear(model: nn.Module) -> str:
    """The name of the last ``nn.Linear`` layer: the classifier to drop or replace."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("the model has no nn.Linear layer to use as its head")
    return names[-1]


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def replace_head(model: nn.Module, num_classes: int, *, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose last linear layer is a fresh one with ``num_classes`` outputs."""
    model = copy.deepcopy(model)
    name = last_linear(model)
    old = model.get_submodule(name)
    torch.manual_seed(seed)
    _set_module(model, name, nn.Linear(old.in_features, num_classes))
    return model


def drop_head(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` without its last linear layer: it outputs the features."""
    model = copy.deepcopy(model)
    _set_module(model, last_linear(model), nn.Identity())
    return freeze(model)


def truncate(model: nn.Module, last: str) -> nn.Sequential:
    """The children of ``model`` up to and including ``last`` (e.g. ``"layer2"``), as a copy."""
    names = [name for name, _ in model.named_children()]
    if last not in names:
        raise ValueError(f"{last!r} is not a child of the model; children: {names}")
    children = list(model.named_children())[:names.index(last) + 1]
    return nn.Sequential(OrderedDict((name, copy.deepcopy(m)) for name, m in children))


# --------------------------------------------------------------------------------------
# Learning rates

def layerwise_sgd(model: nn.Module, *, new=("fc",), pretrained_scale: float = 0.1, lr: float,
                  momentum: float = 0.9, weight_decay: float = 5e-4):
    """An ``optimizer=`` for ``fit``: SGD where the new layers (children named in ``new``)
    learn at ``lr`` and the trainable pretrained ones at ``pretrained_scale * lr``.

    Two param groups; ``fit``'s learning-rate schedule scales both by the same factor, so the
    ratio holds throughout. Frozen parameters are left out.
    """
    def make(params):
        trainable = {id(p) for p in params}
        head, body = [], []
        for name, child in model.named_children():
            for p in child.parameters():
                if id(p) in trainable:
                    (head if name in new else body).append(p)
        groups = [{"params": head, "lr": lr}]
        if body:
            groups.append({"params": body, "lr": lr * pretrained_scale})
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0,
                               weight_decay=weight_decay)
    return make


# --------------------------------------------------------------------------------------
# Fixed feature extractor

@torch.no_grad()
def extract_features(body: nn.Module, data, *, batch_size: int = 500, device=None):
    """Run ``body`` (e.g. ``drop_head(model)``) over ``data`` once: (features N×D on the CPU, labels).

    The pair is what ``fit`` takes to train a classifier on the features (chapter 10). Images
    are normalised with ``data``'s statistics (see :func:`with_stats`).
    """
    device = get_device(device)
    body = body.to(device).eval()
    features, labels = [], []
    for x, y in DeviceLoader(data, batch_size, device=device):
        features.append(torch.flatten(body(x), 1).float().cpu())
        labels.append(y.cpu())
    return torch.cat(features), torch.cat(labels)


# --------------------------------------------------------------------------------------
# A new layer on an earlier block

def head_on_block(model: nn.Module, block: str, num_classes: int, *, width: int = 64,
                  input_size=(3, 32, 32), seed: int = 0) -> nn.Sequential:
    """Keep ``model`` up to ``block`` (frozen) and add a new trainable conv layer and classifier.

    For a small target set unlike the source: the early blocks hold generic features (edges,
    colour blobs), the late ones are specific to the source classes. The new part ``new`` is
    conv 3x3 (``width`` channels)-BN-ReLU and 2x2 max pooling, flattened into ``fc``. Flattening
    keeps *where* each feature was; global average pooling here would throw the layout away,
    which costs dearly on digits, whose class depends on where the strokes are.
    """
    body = freeze(truncate(model, block))
    with torch.no_grad():
        _, channels, height, width_px = body(torch.zeros(1, *input_size)).shape
    torch.manual_seed(seed)
    new = nn.Sequential(*conv_bn_relu(channels, width), nn.MaxPool2d(2), nn.Flatten())
    fc = nn.Linear(width * (height // 2) * (width_px // 2), num_classes)
    return nn.Sequential(OrderedDict(body=body, new=new, fc=fc))


# --------------------------------------------------------------------------------------
# Data helpers for the chapter's targets

def with_stats(data, like):
    """``data`` normalised like ``like``: a pretrained net expects its source's input statistics."""
    return dataclasses.replace(data, stats=(list(like.mean), list(like.std)))


def digits_as_rgb(data, size: int = 32):
    """Grey digit images resized to ``size`` x ``size`` (bilinear) and repeated to 3 channels."""
    x = F.interpolate(data.images.float(), size=(size, size), mode="bilinear", align_corners=False)
    images = x.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
    return dataclasses.replace(data, images=images, stats=None, name=f"{data.name}-rgb{size}")


def relabel(data, classes):
    """Keep only the examples of ``classes`` (indices) and number them 0, 1, ... in that order."""
    classes = list(classes)
    keep = torch.isin(data.labels, torch.tensor(classes)).nonzero().flatten()
    subset = data.select(keep)
    mapping = torch.full((len(data.classes),), -1, dtype=torch.long)
    mapping[classes] = torch.arange(len(classes))
    return dataclasses.replace(subset, labels=mapping[subset.labels],
                               classes=[data.classes[c] for c in classes])


# --------------------------------------------------------------------------------------
# Chapter 10's experiment: every way of reusing the source, on every kind of target

METHODS = ("from scratch", "feature extractor", "fine-tune top", "fine-tune all", "new layer on layer2")


def feature_extractor_accuracy(body: nn.Module, train, test, *, seed: int = 0, epochs: int = 100) -> float:
    """Run the frozen ``body`` over each set once, train a softmax classifier on the stored
    features (``fit`` takes a ``(features, labels)`` pair), return its test accuracy.

    The classifier is one ``nn.Linear``, trained with Adam (lr 0.01, weight decay 1e-3): cheap,
    because the features were computed once. Batches of 128, because ``fit`` drops the last
    partial batch: with 256, a 400-image training set would lose a third of every epoch.
    """
    train_features = extract_features(body, train)
    torch.manual_seed(seed)
    classifier = nn.Linear(train_features[0].shape[1], len(train.classes))
    fit(classifier, train_features, epochs=epochs, lr=0.01, optimizer="adam", weight_decay=1e-3,
        batch_size=128, schedule="constant", seed=seed, progress=False)
    return evaluate(classifier, extract_features(body, test))["acc"]


def target_model(method: str, source: nn.Module, num_classes: int, *, seed: int = 0, lr: float = 0.05):
    """The network that ``method`` trains on the target, and the ``optimizer=`` to give ``fit``.

    - ``"from scratch"``: a fresh ``convnet`` with the source's block widths (the same
      architecture, random weights), plain SGD;
    - ``"fine-tune all"``: the source with a new head, SGD with the pretrained layers at a tenth
      of ``lr`` (:func:`layerwise_sgd`); ``"fine-tune top"``: the same with all but ``layer4``
      and ``fc`` frozen;
    - ``"new layer on layer2"``: :func:`head_on_block` on ``layer2``, plain SGD;
    - ``"feature extractor"``: the frozen body (:func:`drop_head`) with a new linear classifier
      ``fc`` on its features, Adam. :func:`transfer_accuracy` trains this same network faster:
      the body is frozen (and stays in evaluation mode), so it runs the body over the data once
      and fits only the classifier (:func:`feature_extractor_accuracy`).

    Every method's network comes from here, so what is frozen, new or trained at a lower
    learning rate can be read off it (``cnnlib.viz.transfer_methods`` draws it).
    """
    if method == "feature extractor":
        body = drop_head(source)
        features = source.get_submodule(last_linear(source)).in_features
        torch.manual_seed(seed)
        return nn.Sequential(OrderedDict(body=body, fc=nn.Linear(features, num_classes))), "adam"
    if method == "from scratch":
        widths = tuple(getattr(source, f"layer{i}")[0].out_channels for i in range(1, 5))
        torch.manual_seed(seed)
        return convnet(num_classes=num_classes, widths=widths), "sgd"
    if method == "new layer on layer2":
        return head_on_block(source, "layer2", num_classes=num_classes, width=64, seed=seed), "sgd"
    if method in ("fine-tune top", "fine-tune all"):
        model = replace_head(source, num_classes, seed=seed)
        if method == "fine-tune top":
            freeze(model, trainable=("layer4", "fc"))
        return model, layerwise_sgd(model, lr=lr, pretrained_scale=0.1)
    raise ValueError(f"unknown method {method!r}; use one of {METHODS}")


def transfer_accuracy(method: str, source: nn.Module, train, test, *, epochs: int, seed: int = 0) -> float:
    """Train on the target's ``train`` the way ``method`` says (one of :data:`METHODS`); return
    the accuracy on ``test``.

    SGD at lr 0.05 for ``epochs`` epochs, batches of 32 below 1,000 images (else 128), weight
    decay 5e-4; the feature extractor's classifier trains for 100 epochs on the stored features.
    """
    if method == "feature extractor":
        return feature_extractor_accuracy(drop_head(source), train, test, seed=seed)
    model, optimizer = target_model(method, source, len(train.classes), seed=seed)
    fit(model, train, epochs=epochs, lr=0.05, optimizer=optimizer, weight_decay=5e-4,
        batch_size=32 if len(train) < 1000 else 128, seed=seed, progress=False)
    return evaluate(model, test)["acc"]


def compare_methods(source: nn.Module, targets: dict, *, sizes: dict, epochs: dict, seeds,
                    n_test: int | None = None, methods=METHODS, log=print) -> dict:
    """Chapter 10's table: the test accuracy of every method on every kind and size of target.

    ``targets``: ``{kind: (train_all, test_all)}``, e.g. ``"similar"`` and ``"different"``;
    ``sizes``: ``{size: number of training images}``; ``epochs``: ``{size: epochs}``. Seed ``s``
    trains on its own sample, ``train_all.subset(n, seed=100 + s)``, from its own
    initialisation; every run is tested on the same ``n_test`` images of ``test_all`` (all of
    them for ``None``). Returns ``{(size, kind, method): accuracies}``, a tensor with one
    accuracy per seed; ``log`` gets one line of means per (size, kind) (``None``: quiet).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; use some of {METHODS}")
    if set(sizes) != set(epochs):
        raise ValueError(f"sizes and epochs must name the same sizes, got {sorted(sizes)} and "
                         f"{sorted(epochs)}: give every size its number of epochs")
    results = {}
    for kind, (train_all, test_all) in targets.items():
        test = test_all if n_test is None else test_all.subset(n_test, seed=0)
        for size, n in sizes.items():
            for method in methods:
                results[size, kind, method] = torch.tensor(
                    [transfer_accuracy(method, source, train_all.subset(n, seed=100 + seed), test,
                                       epochs=epochs[size], seed=seed) for seed in seeds])
            if log is not None:
                log(f"{size} & {kind}: " + ", ".join(f"{m} {results[size, kind, m].mean():.3f}" for m in methods))
    return results


# --------------------------------------------------------------------------------------
# ImageNet weights, when they can be had

def imagenet_resnet18(timeout: float = 5.0):
    """torchvision's ResNet-18 with ImageNet weights, or ``(None, reason)`` when unavailable.

    Returns ``(model, message)``. The weights come from torch's hub cache if they were
    downloaded before, else from the internet; offline, the reason is returned instead of an
    exception, so a chapter can say so and carry on with its own source network.
    """
    import contextlib
    import io
    import socket

    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # fail fast on a machine without network
    # torch.hub prints "Downloading: <url> to <path>" before it tries; offline, that line would
    # sit on the page above the reason it failed, so it is caught here and dropped.
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = torchvision.models.resnet18(weights=weights, progress=False)
    except Exception:  # URLError, timeouts, DNS failures: all mean "not available"
        # One plain sentence for the page: an exception's name would read as an error there.
        return None, textwrap.fill(  # in lines that fit the book's column
            "ResNet-18's ImageNet weights are downloaded on first use; this copy was run "
            "without a network connection, so this comparison is left out.", 79)
    finally:
        socket.setdefaulttimeout(old)
    return model, f"loaded torchvision's {weights} ({weights.meta['num_params']:,} parameters)"
