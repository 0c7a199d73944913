"""Activations seen through forward hooks: feature maps, sparsity during training, dead ReLUs.

Taught in chapter 13 ("What does a CNN learn?"). A forward hook is a function PyTorch calls with
a module's output every time the module runs; with one on each ReLU we can look at what every
layer computes without changing the model's code (``cnnlib.inspection.record_outputs``).

- :func:`activations` returns the outputs of chosen layers for one batch;
- :func:`sparsity` is the fraction of exact zeros in each (after a ReLU: units that are off);
- :func:`channel_max` / :func:`dead_channels` find channels that never fire on any input
  ("dying ReLUs", the classic sign of a learning rate that was too high);
- :class:`SparsityTracker` is an ``on_epoch_end`` callback for ``cnnlib.train.fit``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import model_fingerprint, state_digest
from ..data.loader import DeviceLoader
from ..inspection import evaluating, record_outputs
from ..runtime import atomic_write
from ..validation import model_device


def relu_layers(model: nn.Module) -> list[str]:
    """Names of the model's ``nn.ReLU`` modules, in order: the default layers to watch."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.ReLU)]


@torch.no_grad()
def layer_outputs(model: nn.Module, data, layer: str, *, mean=None, std=None,
                  batch_size: int = 500, device=None):
    """Yield ``(output of layer, labels)`` for each batch of ``data``, with the model in eval mode.

    ``mean``/``std`` normalise as in training (default: the data set's own). The model's
    training flag is restored afterwards, also when the caller stops early.
    """
    device = model_device(model, device)
    with evaluating(model), record_outputs(model, [layer]) as store:
        for x, y in DeviceLoader(data, batch_size, device=device, mean=mean, std=std):
            model(x)
            yield store[layer], y


@torch.no_grad()
def activations(model: nn.Module, x: torch.Tensor, layers=None) -> dict:
    """Outputs of ``layers`` (default: every ReLU) for the batch ``x``, in eval mode."""
    layers = relu_layers(model) if layers is None else list(layers)
    with evaluating(model), record_outputs(model, layers) as store:
        model(x)
    return {name: store[name].float() for name in layers}


def sparsity(acts: dict) -> dict:
    """Fraction of activations that are exactly zero, per layer."""
    return {name: (a == 0).float().mean().item() for name, a in acts.items()}


@torch.no_grad()
def channel_max(model: nn.Module, batches, layers=None) -> dict:
    """The largest value each channel of each layer takes over all ``batches`` and positions."""
    result = {}
    for x in batches:
        x = x[0] if isinstance(x, (tuple, list)) else x
        for name, a in activations(model, x, layers).items():
            top = a.transpose(0, 1).flatten(1).amax(dim=1)  # one value per channel
            result[name] = top if name not in result else torch.maximum(result[name], top)
    return result


def dead_channels(model: nn.Module, batches, layers=None) -> dict:
    """Per layer, a boolean mask of channels that are zero for every input and position."""
    return {name: top <= 0 for name, top in channel_max(model, batches, layers).items()}


class SparsityTracker:
    """``fit(..., on_epoch_end=tracker)``: fraction of zero activations per layer after each epoch.

    ``probe`` is a fixed batch of (normalised) inputs; ``tracker.rows`` holds one dict per epoch
    (``{"epoch": e, layer: fraction, ...}``). Call ``tracker.record(0)`` before training for the
    untrained network.

    ``log``: a JSON file that keeps the rows beside a checkpoint. ``fit`` calls the tracker only
    for the epochs it trains, so a second run that loads the finished network would otherwise
    have no curve. The rows are read back only when they were written for the same network
    structure, probe and layers; a tracker with a log records epoch 0 itself when it starts
    without rows, and a recorded epoch replaces the rows from that epoch on (a run that resumes
    or restarts never leaves rows of another run behind).
    """

    def __init__(self, model: nn.Module, probe: torch.Tensor, layers=None, log=None):
        self.model, self.probe = model, probe
        self.layers = relu_layers(model) if layers is None else list(layers)
        self.log = None if log is None else Path(log)
        self.rows: list[dict] = self._read_log() if self.log is not None else []
        if self.log is not None and not self.rows:
            self.record(0)

    def record(self, epoch: int) -> dict:
        device = model_device(self.model)
        row = {"epoch": epoch, **sparsity(activations(self.model, self.probe.to(device), self.layers))}
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [row]
        if self.log is not None:
            text = json.dumps({"key": self._key(), "rows": self.rows})
            atomic_write(self.log, lambda f: f.write(text.encode()))
        return row

    def __call__(self, epoch: int, history_row: dict) -> None:
        self.record(epoch + 1)  # fit counts epochs from 0; its history rows from 1

    def _key(self) -> dict:
        """What the rows depend on besides the weights (those the checkpoint answers for)."""
        return {"network": model_fingerprint(self.model), "layers": self.layers,
                "probe": state_digest(self.probe.detach())}

    def _read_log(self) -> list[dict]:
        try:
            saved = json.loads(self.log.read_text())
        except (OSError, ValueError):  # no log yet, or a damaged one: record afresh
            return []
        if not isinstance(saved, dict) or saved.get("key") != json.loads(json.dumps(self._key())):
            return []
        return list(saved.get("rows", []))

    def plot(self, ax=None):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.2))
        epochs = [row["epoch"] for row in self.rows]
        for name in self.layers:
            ax.plot(epochs, [row[name] for row in self.rows], "o-", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction of zero activations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return ax


def show_feature_maps(maps: torch.Tensor, ncols: int = 8, max_maps: int = 32, title: str | None = None,
                      fig=None):
    """Draw the first ``max_maps`` channels of one feature map (C × H × W), each scaled to its max.

    Black is zero: after a ReLU most of each map is black (sparse) and what is lit is local.
    """
    import matplotlib.pyplot as plt

    maps = maps.detach().float().cpu()[:max_maps]
    nrows = -(-len(maps) // ncols)
    h, w = maps.shape[1:]
    if fig is None:
        fig = plt.figure(figsize=(ncols * 0.9, nrows * 0.9 * h / w + (0.35 if title else 0.05)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, m in zip(axes.flat, maps):
        ax.imshow(m, cmap="gray", vmin=0, vmax=max(float(m.max()), 1e-6), interpolation="nearest")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99, wspace=0.05, hspace=0.05)
    if title:
        fig.subplots_adjust(top=1 - 0.35 / fig.get_figheight())
        fig.suptitle(title, y=1 - 0.05 / fig.get_figheight(), va="top")
    return fig
