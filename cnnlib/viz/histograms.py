"""Per-layer histograms of activations and their gradients: how a network's signals are spread.

Taught in chapter 4 ("Batch normalisation"). :func:`layer_signals` runs one batch forward and
backward through a *copy* of the model and returns, for each watched layer, the layer's output
and the gradient of the loss with respect to that output. :func:`plot_layer_histograms` draws
them layer by layer, several models overlaid (e.g. with and without batch norm), so one can see
activations grow or shrink from layer to layer, and gradients vanish or explode.
"""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import torch
import torch.nn.functional as F
from torch import nn

from ..inspection import watch

__all__ = ["layer_signals", "plot_layer_histograms"]


def _watched(model: nn.Module, layer_types) -> list[str]:
    return [name for name, module in model.named_modules()
            if isinstance(module, layer_types) and name]


def layer_signals(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, layers=None,
                  layer_types=(nn.ReLU,), loss_fn=F.cross_entropy, training: bool = True) -> dict:
    """``{layer name: {"activation": output, "gradient": d loss / d output}}`` for one batch.

    ``layers`` names the modules to watch (default: every module of ``layer_types``, ReLUs).
    The batch runs through a deep copy of ``model``, in training mode unless ``training`` is
    false, so the caller's model is left exactly as it was: no ``.grad`` is written and no
    batch-norm running statistics move. Both tensors come back detached, on the CPU, in float32.
    """
    names = _watched(model, layer_types) if layers is None else list(layers)
    known = dict(model.named_modules())
    missing = [name for name in names if name not in known]
    if missing or not names:
        raise ValueError(f"no layers to watch: {missing or 'none of ' + str(layer_types)} "
                         f"in the model; pass layers= with names from model.named_modules()")
    work = copy.deepcopy(model).train(training)
    store = {}

    def keep(name, module, output):  # not detached: the gradient is taken with respect to it
        store[name] = output

    with watch(work, after=keep, layers=names):
        loss = loss_fn(work(x), y)
    outputs = [store[name] for name in names]
    gradients = torch.autograd.grad(loss, outputs)
    return {name: {"activation": out.detach().float().cpu(), "gradient": grad.float().cpu()}
            for name, out, grad in zip(names, outputs, gradients)}


def plot_layer_histograms(signals: dict, *, bins: int = 60, title: str = "",
                          width: float = 7.5):
    """Histograms per layer: top row activations, bottom row gradients (log-count axes).

    ``signals`` maps a label (e.g. "plain", "batch norm") to the result of :func:`layer_signals`;
    the models must watch the same number of layers, which become the columns. Each panel's
    title gives the layer's position and the models' standard deviations. Returns the figure.
    """
    if not signals:
        raise ValueError("plot_layer_histograms needs at least one model's layer_signals")
    labels = list(signals)
    depth = {label: len(signals[label]) for label in labels}
    if len(set(depth.values())) != 1:
        raise ValueError(f"the models watch different numbers of layers {depth}: pass the same "
                         f"number of layers to layer_signals for each")
    columns = depth[labels[0]]
    fig, axes = plt.subplots(2, columns, figsize=(width, 4.6), layout="constrained",
                             squeeze=False)
    for row, kind in enumerate(("activation", "gradient")):
        for col in range(columns):
            ax = axes[row, col]
            spreads = []
            for label in labels:
                values = list(signals[label].values())[col][kind].flatten()
                ax.hist(values.numpy(), bins=bins, histtype="step", lw=1.5, label=label)
                spreads.append(f"{values.std().item():.1e}")
            ax.set_yscale("log")
            ax.tick_params(labelsize=8)
            # Gradients are tiny (1e-5): three ticks with one shared power of ten, or
            # their long tick labels run into each other.
            ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
            ax.set_title(f"{kind} {col + 1}\nstd " + " / ".join(spreads), fontsize=9)
    axes[0, 0].set_ylabel("count", fontsize=9)
    axes[1, 0].set_ylabel("count", fontsize=9)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center",
               ncol=len(labels), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
