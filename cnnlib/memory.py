"""How much memory a network's activations take, measured rather than estimated.

Taught in the VGG chapter, which checks the lecture notes' "24M activations x 4 bytes = 96 MB per
image" for VGG-16. Two measurements, because "memory" can mean two things:

- ``activation_counts``: the number of values each layer *outputs* in one forward pass, found
  with forward hooks (what hand-made tables like CS231n's add up);
- ``saved_for_backward``: the bytes autograd actually keeps for the backward pass, found with
  ``torch.autograd.graph.saved_tensors_hooks`` (what training really needs).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

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

    def make_hook(name):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor) and (include is None or isinstance(module, include)):
                records.append(LayerActivation(name, type(module).__name__, tuple(output.shape[1:]),
                                               output[0].numel()))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(make_hook(n)) for n, m in leaves]
    training = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_size))
    finally:
        for handle in handles:
            handle.remove()
        for m, flag in training.items():
            m.training = flag
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
