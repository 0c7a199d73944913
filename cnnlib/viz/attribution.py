"""Which pixels does a prediction depend on? Saliency (gradients) and occlusion.

Taught in chapter 13 ("What does a CNN learn?"). Both classes are shaped like captum's
(``captum.attr.Saliency`` and ``captum.attr.Occlusion``) and follow its semantics, so code
written against these runs unchanged with captum:

- ``Saliency(model).attribute(inputs, target=c)`` is |∂ output_c / ∂ inputs| (same shape as the
  inputs). Simonyan et al. (2014) take the *unnormalised* class score (the logit, not the softmax
  probability, which also depends on the other classes) and then the maximum over colour
  channels: :func:`saliency_map`.
- ``Occlusion(model).attribute(inputs, sliding_window_shapes, strides, baselines, target)``
  slides a window over the input, replaces what it covers by the baseline (default 0), and
  records the *drop* in the target output, output(x) - output(occluded x). Each input element
  gets the average drop over all windows that covered it. As in captum, the number of window
  positions per dimension is ceil((size - window) / stride) + 1, so the last window may hang
  over the edge (it is cut off there) and every element is covered.
"""
from __future__ import annotations

import itertools
import math

import torch


def _select(output: torch.Tensor, target) -> torch.Tensor:
    """One value per example: ``output[i, target_i]`` (or the output itself if it is 1-D)."""
    if target is None:
        if output.dim() > 1 and output.shape[1] != 1:
            raise ValueError("the model has several outputs: say which one with target=")
        return output.reshape(len(output))
    if isinstance(target, int):
        return output[:, target]
    target = torch.as_tensor(target, device=output.device).reshape(-1)
    if len(target) == 1:
        return output[:, int(target)]
    return output.gather(1, target[:, None])[:, 0]


def _repeat(target, copies: int):
    """The target for ``copies`` stacked copies of the batch."""
    if target is None or isinstance(target, int) or torch.as_tensor(target).numel() == 1:
        return target
    return torch.as_tensor(target).reshape(-1).repeat(copies)


class Saliency:
    """Gradient of the target output with respect to the input (Simonyan et al., 2014)."""

    def __init__(self, forward_func):
        self.forward_func = forward_func

    def attribute(self, inputs: torch.Tensor, target=None, abs: bool = True) -> torch.Tensor:
        x = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            selected = _select(self.forward_func(x), target)
            # Examples are independent, so the gradient of the sum is each example's own gradient.
            (grad,) = torch.autograd.grad(selected.sum(), x)
        return grad.abs() if abs else grad


def saliency_map(attributions: torch.Tensor) -> torch.Tensor:
    """Simonyan et al.'s map: the maximum over channels (dim 1) of |gradient|."""
    return attributions.abs().amax(dim=1)


def _per_dim(value, n_dims: int, what: str) -> tuple:
    if isinstance(value, int):
        return (value,) * n_dims
    value = tuple(value)
    if len(value) != n_dims:
        raise ValueError(f"{what} needs {n_dims} numbers (one per input dimension, channels "
                         f"included), got {value}")
    return value


class Occlusion:
    """Attribution by occlusion (Zeiler & Fergus, 2014) with captum's semantics."""

    def __init__(self, forward_func):
        self.forward_func = forward_func

    @torch.no_grad()
    def attribute(self, inputs: torch.Tensor, sliding_window_shapes, strides=None, baselines=None,
                  target=None, perturbations_per_eval: int = 1) -> torch.Tensor:
        shape = inputs.shape[1:]  # one example, e.g. C × H × W
        window = _per_dim(sliding_window_shapes, len(shape), "sliding_window_shapes")
        stride = _per_dim(1 if strides is None else strides, len(shape), "strides")
        for size, w, s in zip(shape, window, stride):
            if w > size:
                raise ValueError(f"window {window} is larger than the input {tuple(shape)}")
            if w < size and s > w:
                raise ValueError(f"stride {stride} larger than the window {window} would skip inputs")
        counts = [math.ceil((size - w) / s) + 1 for size, w, s in zip(shape, window, stride)]
        baseline = torch.zeros(()) if baselines is None else torch.as_tensor(baselines)
        baseline = baseline.to(inputs.device, inputs.dtype)

        reference = _select(self.forward_func(inputs), target)  # N
        total = torch.zeros_like(inputs)
        covered = torch.zeros(shape, device=inputs.device, dtype=inputs.dtype)
        masks = []
        for position in itertools.product(*(range(c) for c in counts)):
            mask = torch.zeros(shape, device=inputs.device, dtype=torch.bool)
            mask[tuple(slice(p * s, p * s + w) for p, s, w in zip(position, stride, window))] = True
            masks.append(mask)
        for start in range(0, len(masks), perturbations_per_eval):
            chunk = torch.stack(masks[start:start + perturbations_per_eval])  # P × shape
            # P occluded copies of each example, evaluated as one batch of P·N.
            occluded = torch.where(chunk[:, None], baseline, inputs[None])
            outputs = self.forward_func(occluded.flatten(0, 1))
            drop = reference.repeat(len(chunk)) - _select(outputs, _repeat(target, len(chunk)))
            drop = drop.reshape(len(chunk), len(inputs), *[1] * len(shape))
            total += (drop * chunk[:, None]).sum(0)
            covered += chunk.sum(0)
        return total / covered
