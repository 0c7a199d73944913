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

As in captum, ``target`` is an int (the same output for every example) or one entry per example
(anything else raises ``TargetError``), ``additional_forward_args`` are passed to the model after
the inputs, and ``Occlusion`` also takes a model that returns one number for the whole batch.
"""
from __future__ import annotations

import itertools
import math

import torch


class TargetError(ValueError):
    """``target`` does not fit the model's output (too few or too many entries, or none given
    for a model with several outputs)."""


def _select(output: torch.Tensor, target, n_examples: int) -> torch.Tensor:
    """One value per example: ``output[i, target_i]`` (or the output itself if it has one per example).

    ``target`` is None, an int (the same output for every example; a one-element tensor counts as
    an int) or one entry per example, as in captum. Anything else is an error: a list shorter than
    the batch would otherwise select outputs for its first examples only and give the rest zeros.
    """
    if output.dim() == 0 or output.shape[0] != n_examples:
        raise ValueError(f"the model returned shape {tuple(output.shape)} for a batch of {n_examples}: "
                         "it must return one output per example (first dimension = batch size)")
    if target is None:
        if output[0].numel() != 1:
            raise TargetError(f"the model has several outputs per example (shape {tuple(output.shape[1:])}): "
                              "say which one with target= (an int, or one per example)")
        return output.reshape(n_examples)
    if isinstance(target, int) or (isinstance(target, torch.Tensor) and target.numel() == 1):
        return output[:, int(target)]
    target = torch.as_tensor(target, device=output.device).reshape(-1)
    if len(target) != n_examples:
        raise TargetError(f"target has {len(target)} entries for a batch of {n_examples} examples: give one "
                          "per example, or a single int for all of them")
    return output.gather(1, target[:, None])[:, 0]


def _repeat(target, copies: int):
    """The target for ``copies`` stacked copies of the batch."""
    if target is None or isinstance(target, int) or torch.as_tensor(target).numel() == 1:
        return target
    return torch.as_tensor(target).reshape(-1).repeat(copies)


def _extra_args(additional_forward_args) -> tuple:
    """captum's ``additional_forward_args``: passed after the inputs; a tuple means several."""
    if additional_forward_args is None:
        return ()
    return additional_forward_args if isinstance(additional_forward_args, tuple) else (additional_forward_args,)


def _repeat_args(args: tuple, copies: int) -> tuple:
    """The extra arguments for ``copies`` stacked copies of the batch: tensors with a first dimension
    are stacked the same way (as captum does); everything else is passed as it is."""
    return tuple(torch.cat([a] * copies) if isinstance(a, torch.Tensor) and a.dim() > 0 else a for a in args)


class Saliency:
    """Gradient of the target output with respect to the input (Simonyan et al., 2014)."""

    def __init__(self, forward_func):
        self.forward_func = forward_func

    def attribute(self, inputs: torch.Tensor, target=None, abs: bool = True,
                  additional_forward_args=None) -> torch.Tensor:
        """|d output_target / d inputs| (``abs=False``: with its sign), one map per example.

        ``additional_forward_args`` are passed to the model after the inputs, as in captum.
        """
        x = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            selected = _select(self.forward_func(x, *_extra_args(additional_forward_args)), target, len(x))
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
                  target=None, additional_forward_args=None, perturbations_per_eval: int = 1) -> torch.Tensor:
        """Average drop of the target output over the windows covering each input element.

        ``additional_forward_args`` are passed to the model after the inputs. A model may also
        return a single number for the whole batch (e.g. a summed score): then every window is
        occluded in all examples at once, ``target`` must be None, ``perturbations_per_eval`` 1,
        and the answer has a batch dimension of 1, as in captum.
        """
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
        extra = _extra_args(additional_forward_args)
        masks = []
        for position in itertools.product(*(range(c) for c in counts)):
            mask = torch.zeros(shape, device=inputs.device, dtype=torch.bool)
            mask[tuple(slice(p * s, p * s + w) for p, s, w in zip(position, stride, window))] = True
            masks.append(mask)

        output = torch.as_tensor(self.forward_func(inputs, *extra))
        if output.dim() == 0 or (output.numel() == 1 and len(inputs) > 1):
            return self._aggregated(inputs, masks, baseline, extra, output.reshape(()), target,
                                    perturbations_per_eval)
        reference = _select(output, target, len(inputs))  # N
        total = torch.zeros_like(inputs)
        covered = torch.zeros(shape, device=inputs.device, dtype=inputs.dtype)
        for start in range(0, len(masks), perturbations_per_eval):
            chunk = torch.stack(masks[start:start + perturbations_per_eval])  # P × shape
            # P occluded copies of each example, evaluated as one batch of P·N.
            occluded = torch.where(chunk[:, None], baseline, inputs[None])
            outputs = self.forward_func(occluded.flatten(0, 1), *_repeat_args(extra, len(chunk)))
            drop = reference.repeat(len(chunk)) - _select(outputs, _repeat(target, len(chunk)),
                                                          len(chunk) * len(inputs))
            drop = drop.reshape(len(chunk), len(inputs), *[1] * len(shape))
            total += (drop * chunk[:, None]).sum(0)
            covered += chunk.sum(0)
        return total / covered

    def _aggregated(self, inputs, masks, baseline, extra, reference, target, perturbations_per_eval):
        """Occlusion of a model that returns one number for the whole batch: each window is
        occluded in every example at once; the answer is one map, shaped (1, C, H, W)."""
        if target is not None:
            raise TargetError("the model returns a single number for the whole batch, so there is no "
                              "output to pick: leave target=None")
        if perturbations_per_eval != 1:
            raise ValueError("the model returns a single number for the whole batch, so occluded copies "
                             "cannot share a batch: use perturbations_per_eval=1")
        total = torch.zeros_like(inputs[:1])
        covered = torch.zeros_like(inputs[0])
        for mask in masks:
            drop = reference - torch.as_tensor(self.forward_func(torch.where(mask, baseline, inputs), *extra))
            total += drop.reshape(()) * mask
            covered += mask
        return total / covered
