"""Per-layer histograms of activations and their gradients: how a network's signals are spread.

Taught in chapter 4 ("Batch normalisation"). :func:`layer_signals` runs one batch forward and
backward through a *copy* of the model and returns, for each watched layer, the layer's output
and the gradient of the loss with respect to that output. :func:`plot_layer_histograms` draws
them layer by layer, several models overlaid (e.g. with and without batch norm), so one can see
activations grow or shrink from layer to layer, and gradients vanish or explode.
:class:`ActivationSnapshots` follows the same layers *during training* (a ``fit`` callback that
keeps their outputs on a fixed batch at chosen epochs), and :func:`plot_activation_grid` draws
them as a grid: a row per layer, a column per moment of training, the models overlaid.
"""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
import torch
import torch.nn.functional as F
from torch import nn

from ..inspection import record_outputs, watch

__all__ = ["ActivationSnapshots", "layer_signals", "plot_activation_grid",
           "plot_layer_histograms"]


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


class ActivationSnapshots:
    """``fit(..., on_epoch_end=snapshots)``: the watched layers' outputs on a fixed batch, kept
    at chosen moments of training.

    ``probe`` is a fixed batch of (normalised) inputs. ``record(epoch)`` runs it through a deep
    copy of the model in training mode, without gradients (batch norm normalises with the
    probe's own statistics, as it does during training, and the model's running statistics do
    not move), and keeps ``snapshots[epoch] = {layer: tensor}`` (detached, CPU, float32).
    ``layers`` names the modules (default: every module of ``layer_types``, the ReLUs);
    ``inputs=True`` keeps what each of them receives instead of what it returns (for ReLUs: the
    pre-activations). Call ``record(0)`` before training for the untrained net; as a callback
    it records after each epoch listed in ``epochs`` (counted from 1, like history rows;
    default: every epoch).
    """

    def __init__(self, model: nn.Module, probe: torch.Tensor, *, layers=None,
                 layer_types=(nn.ReLU,), inputs: bool = False, epochs=None):
        self.model, self.probe, self.inputs = model, probe, inputs
        self.layers = _watched(model, layer_types) if layers is None else list(layers)
        known = dict(model.named_modules())
        missing = [name for name in self.layers if name not in known]
        if missing or not self.layers:
            raise ValueError(f"no layers to watch: {missing or 'none of ' + str(layer_types)} "
                             f"in the model; pass layers= with names from model.named_modules()")
        self.epochs = None if epochs is None else set(epochs)
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}

    @torch.no_grad()
    def record(self, epoch: int) -> dict:
        work = copy.deepcopy(self.model).train()
        device = next(work.parameters()).device
        if self.inputs:
            store = {}

            def keep_input(name, module, args, kwargs):
                store[name] = args[0].detach().clone()

            with watch(work, layers=self.layers, before=keep_input):
                work(self.probe.to(device))
        else:
            with record_outputs(work, self.layers) as store:
                work(self.probe.to(device))
        self.snapshots[epoch] = {name: store[name].float().cpu() for name in self.layers}
        return self.snapshots[epoch]

    def __call__(self, epoch: int, history_row: dict) -> None:
        if self.epochs is None or epoch + 1 in self.epochs:
            self.record(epoch + 1)  # fit counts epochs from 0; its history rows from 1

    def spreads(self) -> dict:
        """``{epoch: {layer: standard deviation}}`` of the recorded values."""
        return {epoch: {name: values.std().item() for name, values in layers.items()}
                for epoch, layers in self.snapshots.items()}


def _moment(epoch: int) -> str:
    return "before training" if epoch == 0 else f"after epoch {epoch}"


def plot_activation_grid(snapshots: dict, *, bins: int = 50, title: str = "",
                         width: float = 7.5, row_height: float = 1.7):
    """A grid of histograms: a row per layer, a column per recorded epoch, the models overlaid.

    ``snapshots`` maps a label (e.g. "plain", "batch norm") to an :class:`ActivationSnapshots`
    (or its ``.snapshots`` dict, ``{epoch: {layer: tensor}}``); all must hold the same epochs
    and the same number of layers. In each panel the models share the bins (log-count axis),
    and the title gives their standard deviations in the order of ``snapshots``. Returns the
    figure.
    """
    if not snapshots:
        raise ValueError("plot_activation_grid needs at least one model's snapshots")
    runs = {label: getattr(run, "snapshots", run) for label, run in snapshots.items()}
    labels = list(runs)
    epochs = {label: sorted(run) for label, run in runs.items()}
    if not epochs[labels[0]] or any(e != epochs[labels[0]] for e in epochs.values()):
        raise ValueError(f"the models were recorded at different epochs {epochs}: record the "
                         f"same epochs for each")
    columns = epochs[labels[0]]
    depth = {label: len(next(iter(run.values()))) for label, run in runs.items()}
    if len(set(depth.values())) != 1:
        raise ValueError(f"the models watch different numbers of layers {depth}: watch the "
                         f"same number of layers in each")
    rows = depth[labels[0]]
    fig, axes = plt.subplots(rows, len(columns), figsize=(width, row_height * rows + 0.9),
                             layout="constrained", squeeze=False)
    for col, epoch in enumerate(columns):
        for row in range(rows):
            ax = axes[row, col]
            values = [list(runs[label][epoch].values())[row].flatten().numpy()
                      for label in labels]
            low = min(v.min() for v in values)
            high = max(v.max() for v in values)
            edges = np.linspace(low, high if high > low else low + 1, bins + 1)
            for label, v, k in zip(labels, values, range(len(labels))):
                ax.hist(v, bins=edges, histtype="step", lw=1.5, color=f"C{k}", label=label)
            ax.set_yscale("log")
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            spreads = " / ".join(f"{v.std():.2g}" for v in values)
            heading = f"{_moment(epoch)}\n" if row == 0 else ""
            ax.set_title(f"{heading}std {spreads}", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"layer {row + 1}\ncount", fontsize=8)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center",
               ncol=len(labels), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
