"""How much memory a network's activations take, measured rather than estimated.

Taught in the VGG chapter, which checks the lecture notes' "24M activations x 4 bytes = 96 MB per
image" for VGG-16. Two measurements, because "memory" can mean two things:

- ``activation_counts``: the number of values each layer *outputs* in one forward pass, found
  with forward hooks (``cnnlib.inspection.watch``; what hand-made tables like CS231n's add up);
- ``saved_for_backward``: the bytes autograd actually keeps for the backward pass, found with
  ``torch.autograd.graph.saved_tensors_hooks`` (what training really needs).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .inspection import evaluating, leaf_names, watch

__all__ = ["LayerActivation", "activation_counts", "saved_for_backward"]


@dataclass(frozen=True)
class LayerActivation:
    """One leaf layer's output: ``name``, ``type`` (class name), ``shape`` (no batch dimension)
    and ``numel`` (values per image)."""

    name: str
    type: str
    shape: tuple
    numel: int


def activation_counts(model: nn.Module, input_size, *, include=None) -> list[LayerActivation]:
    """Values output by each leaf layer for one input of ``input_size`` (no batch dimension).

    ``include``: a tuple of layer classes to keep (e.g. ``(nn.Conv2d, nn.MaxPool2d, nn.Linear)``);
    ``None`` keeps every leaf layer. The model runs once in eval mode under ``no_grad``; its
    training flags are restored and the hooks removed afterwards.
    """
    records: list[LayerActivation] = []

    def record(name, module, output):
        if isinstance(output, torch.Tensor) and (include is None or isinstance(module, include)):
            records.append(LayerActivation(name, type(module).__name__, tuple(output.shape[1:]), output[0].numel()))

    with evaluating(model), watch(model, after=record, layers=leaf_names(model)), torch.no_grad():
        model(torch.zeros(1, *input_size))
    return records


def saved_for_backward(model: nn.Module, input_size, *, batch_size: int = 1) -> int:
    """Bytes of the tensors autograd saves for the backward pass of one training-mode forward
    pass on ``batch_size`` inputs, counting each storage once (a tensor saved by two layers,
    or a view of the input, is stored once). Parameters are not counted; the input is.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    x = torch.zeros(batch_size, *input_size, requires_grad=True)
    training = model.training
    try:
        model.train()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x)
    finally:
        model.train(training)
    return sum(storages.values())
