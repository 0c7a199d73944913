"""Transfer learning: reuse a network trained on one task for another (chapter 10).

The two strategies of the course notes, as small functions that work on any network whose
children run in order and end with a linear layer (the book's :func:`convnet`, torchvision's
ResNets, ...):

- **fixed feature extractor**: :func:`drop_head` removes the last fully connected layer,
  :func:`extract_features` runs the frozen network over the new data set *once*, and
  ``cnnlib.train.fit`` trains a softmax classifier (an ``nn.Linear``) on the stored
  ``(features, labels)`` pair;
- **fine-tuning**: :func:`replace_head` puts a fresh layer with the new number of classes on
  top, :func:`freeze` keeps the lower blocks fixed (fine-tune "top") or nothing (fine-tune
  "all"), and :func:`layerwise_sgd` gives the pretrained layers a lower learning rate than the
  new head (param groups), so training does not wash out what was learned;
- for a small target set that looks nothing like the source: :func:`head_on_block` attaches a
  new layer to an *earlier* block, whose features are more generic.

:func:`imagenet_resnet18` loads torchvision's ImageNet weights when they can be had, and says
plainly why not when the machine is offline.
"""
from __future__ import annotations

import copy
import dataclasses
import types
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .data import DeviceLoader
from .runtime import get_device

__all__ = ["convnet", "last_linear", "replace_head", "drop_head", "truncate", "freeze",
           "count_trainable", "layerwise_sgd", "extract_features", "head_on_block",
           "with_stats", "digits_as_rgb", "relabel", "imagenet_resnet18"]


# --------------------------------------------------------------------------------------
# The book's source network

def _conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def convnet(num_classes: int = 10, in_channels: int = 3, widths=(16, 32, 64, 128)) -> nn.Sequential:
    """A four-block CNN for 32x32 images, small enough to pre-train on a laptop CPU.

    ``layer1``..``layer3`` are conv-BN-ReLU + 2x2 max pooling (32 -> 16 -> 8 -> 4 pixels),
    ``layer4`` is conv-BN-ReLU, then global average pooling and the classifier ``fc``. The
    names follow torchvision's ResNet, so every function of this module treats both alike.
    """
    layers, c_in = OrderedDict(), in_channels
    for i, width in enumerate(widths, start=1):
        block = _conv_bn_relu(c_in, width) + ([nn.MaxPool2d(2)] if i < len(widths) else [])
        layers[f"layer{i}"] = nn.Sequential(*block)
        c_in = width
    layers["avgpool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(c_in, num_classes)
    return nn.Sequential(layers)


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
    return freeze(model, trainable=())


def truncate(model: nn.Module, last: str) -> nn.Sequential:
    """The children of ``model`` up to and including ``last`` (e.g. ``"layer2"``), as a copy."""
    names = [name for name, _ in model.named_children()]
    if last not in names:
        raise ValueError(f"{last!r} is not a child of the model; children: {names}")
    children = list(model.named_children())[:names.index(last) + 1]
    return nn.Sequential(OrderedDict((name, copy.deepcopy(m)) for name, m in children))


# --------------------------------------------------------------------------------------
# Freezing and learning rates

def _train_stays_eval(self, mode: bool = True):
    # A frozen block must not change at all, and BatchNorm changes its running statistics
    # in training mode even without gradients; so frozen blocks ignore model.train().
    return nn.Module.train(self, False)


def freeze(model: nn.Module, trainable=("fc",)) -> nn.Module:
    """Freeze every parameter of ``model`` except those of the children named in ``trainable``.

    Frozen children also stay in evaluation mode (BatchNorm statistics fixed) when ``fit`` calls
    ``model.train()``. ``trainable=()`` freezes everything. Returns ``model`` (changed in place).
    """
    names = [name for name, _ in model.named_children()]
    unknown = [t for t in trainable if t not in names]
    if unknown:
        raise ValueError(f"{unknown} are not children of the model; children: {names}")
    for name, child in model.named_children():
        keep = name in trainable
        for p in child.parameters():
            p.requires_grad_(keep)
        if not keep:
            child.train = types.MethodType(_train_stays_eval, child)
            child.eval()
    return model


def count_trainable(model: nn.Module) -> int:
    """Number of parameters that training will change (``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
    device = torch.device(device) if device is not None else get_device()
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
    body = freeze(truncate(model, block), trainable=())
    with torch.no_grad():
        _, channels, height, width_px = body(torch.zeros(1, *input_size)).shape
    torch.manual_seed(seed)
    new = nn.Sequential(*_conv_bn_relu(channels, width), nn.MaxPool2d(2), nn.Flatten())
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
# ImageNet weights, when they can be had

def imagenet_resnet18(timeout: float = 5.0):
    """torchvision's ResNet-18 with ImageNet weights, or ``(None, reason)`` when unavailable.

    Returns ``(model, message)``. The weights come from torch's hub cache if they were
    downloaded before, else from the internet; offline, the reason is returned instead of an
    exception, so a chapter can say so and carry on with its own source network.
    """
    import socket

    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # fail fast on a machine without network
    try:
        model = torchvision.models.resnet18(weights=weights)
    except Exception as err:  # URLError, timeouts, DNS failures: all mean "not available"
        return None, (f"ImageNet weights for ResNet-18 are not available here "
                      f"({type(err).__name__}: {str(err).splitlines()[0][:120]}); this machine "
                      "is probably offline")
    finally:
        socket.setdefaulttimeout(old)
    return model, f"loaded torchvision's {weights} ({weights.meta['num_params']:,} parameters)"
