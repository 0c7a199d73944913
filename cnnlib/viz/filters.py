"""First-layer filters drawn as images: one small tile per filter, in a grid.

Taught in chapter 13 ("What does a CNN learn?"). A first-layer filter has the same shape as an
image patch (3 colour channels × k × k), so it can be shown as one. Each filter is scaled on its
own, symmetrically about zero: mid-grey is a zero weight, so a filter's sign and its colour
balance stay visible (min-max scaling would move the zero and hide both).
"""
from __future__ import annotations

import math

import numpy as np
import torch


def scale_filters(weight: torch.Tensor) -> torch.Tensor:
    """Map each filter (``weight[i]``) to [0, 1] with 0.5 for a zero weight."""
    w = weight.detach().float().cpu()
    largest = w.abs().flatten(1).amax(dim=1).clamp_min(1e-12)
    return 0.5 + 0.5 * w / largest.reshape(-1, *[1] * (w.dim() - 1))


def colour_fraction(weight: torch.Tensor) -> torch.Tensor:
    """Per RGB filter, the share of its energy (sum of squares) that is *not* grey.

    The grey part of a filter is its mean over the colour channels, copied to all three; what
    remains responds to colour differences. 0: a pure black-and-white filter; 1: pure colour.
    """
    w = weight.detach().float()
    grey = w.mean(dim=1, keepdim=True).expand_as(w)
    return (w - grey).square().flatten(1).sum(1) / w.square().flatten(1).sum(1).clamp_min(1e-30)


def filter_grid(weight: torch.Tensor, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile conv filters ``weight`` (out × C × k × k, C = 1 or 3) into one H × W (× 3) array.

    Tiles are separated by ``pad`` white pixels; ``ncols`` defaults to a near-square grid.
    """
    if weight.dim() != 4 or weight.shape[1] not in (1, 3):
        raise ValueError(f"expected filters of shape (out, 1 or 3, k, k), got {tuple(weight.shape)}; "
                         "for deeper layers, show one input channel: weight[:, i:i+1]")
    tiles = scale_filters(weight).permute(0, 2, 3, 1).numpy()  # out × k × k × C
    n, h, w, c = tiles.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = tile
    return grid[..., 0] if c == 1 else grid


def show_filters(weight: torch.Tensor, ax=None, title: str | None = None, ncols: int | None = None):
    """Draw :func:`filter_grid` of ``weight`` on ``ax`` (a new figure if ``None``); return ``ax``."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    grid = filter_grid(weight, ncols=ncols)
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
