"""The image patches that excite a unit most (Zeiler & Fergus, 2014).

Taught in chapter 13 ("What does a CNN learn?"). A unit of a deep layer sees only part of the
input, its *receptive field* (``cnnlib.shapes.receptive_field``). For one channel of one layer,
:func:`top_patches` runs a data set through the model, finds in each image the position where the
channel responds most, keeps the ``k`` best images, and crops from each the receptive field of the
winning position: what this unit "looks for".
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..shapes import receptive_field
from .activations import layer_outputs


def field_of(model: nn.Module, layer: str):
    """The receptive-field row (r, j, start) of the last conv/pool layer up to ``layer``."""
    order = [name for name, _ in model.named_modules()]
    if layer not in order:
        raise KeyError(f"no layer named {layer!r}")
    upto = set(order[:order.index(layer) + 1])
    rows = [row for row in receptive_field(model) if row.name in upto]
    if not rows:
        raise ValueError(f"no conv or pooling layer before {layer!r}")
    return rows[-1]


def crop(image: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    """``image[:, top:top+size, left:left+size]`` where parts outside the image are zero."""
    c, h, w = image.shape
    out = torch.zeros(c, size, size, dtype=image.dtype)
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + size, h), min(left + size, w)
    if t1 > t0 and l1 > l0:
        out[:, t0 - top:t1 - top, l0 - left:l1 - left] = image[:, t0:t1, l0:l1]
    return out


def _scalar(v):
    return v if isinstance(v, (int, float)) else v[0]


@torch.no_grad()
def top_patches(model: nn.Module, layer: str, data, units, k: int = 9, *, mean=None, std=None,
                batch_size: int = 500, device=None) -> dict:
    """For each channel in ``units`` of ``layer``, the ``k`` images of ``data`` where it peaks highest.

    One pass over ``data`` serves all units. Returns ``{unit: [dict, ...]}``, best first; each
    dict has ``index`` (image), ``row``/``col`` (position in the layer's map), ``value`` and
    ``patch`` (uint8, C × r × r: the receptive field cropped from the image; parts beyond the
    border are black). ``mean``/``std`` normalise as in training (default: the data set's own).
    """
    units = [units] if isinstance(units, int) else list(units)
    field = field_of(model, layer)
    r, j, start = (_scalar(v) for v in (field.r, field.j, field.start))
    values, places = [], []
    for output, _ in layer_outputs(model, data, layer, mean=mean, std=std,
                                   batch_size=batch_size, device=device):
        maps = output[:, units].float()  # N × units × H × W
        best, where = maps.flatten(2).max(dim=2)  # each image's peak, per unit
        values.append(best.cpu())
        places.append(torch.stack([where // maps.shape[3], where % maps.shape[3]], 2).cpu())
    values, places = torch.cat(values), torch.cat(places)  # N × units, N × units × 2
    results = {}
    for u, unit in enumerate(units):
        found = []
        for i in values[:, u].topk(min(k, len(values))).indices.tolist():
            row, col = places[i, u].tolist()
            # The unit at (row, col) is centred on input pixel start + j*index (per axis).
            top_px = math.floor(start + j * row - (r - 1) / 2 + 0.5)
            left_px = math.floor(start + j * col - (r - 1) / 2 + 0.5)
            found.append({"index": i, "row": row, "col": col, "value": values[i, u].item(),
                          "patch": crop(data.images[i], top_px, left_px, r)})
        results[unit] = found
    return results


def show_top_patches(rows_of_patches, row_labels=None, axes=None, title: str | None = None):
    """Draw lists of :func:`top_patches` results (e.g. its dict's values), one list per row."""
    import matplotlib.pyplot as plt

    rows_of_patches = list(rows_of_patches)
    nrows, ncols = len(rows_of_patches), max(len(p) for p in rows_of_patches)
    if axes is None:
        _, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.75, nrows * 0.8 + 0.3), squeeze=False)
    for r, patches in enumerate(rows_of_patches):
        for c in range(ncols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(patches):
                ax.imshow(patches[c]["patch"].permute(1, 2, 0).numpy(), interpolation="nearest")
        if row_labels:
            axes[r][0].text(-0.1, 0.5, row_labels[r], transform=axes[r][0].transAxes,
                            ha="right", va="center", fontsize=8)
    if title:
        axes[0][0].figure.suptitle(title)
    return axes
