"""A 2-D map of what the network thinks: t-SNE of its penultimate-layer codes.

Taught in chapter 13 ("What does a CNN learn?"). The layer before the classifier turns each image
into a vector (its "CNN code"). Images the network considers alike get nearby codes. t-SNE
(van der Maaten & Hinton, 2008; scikit-learn's implementation) places points in 2-D so that
neighbours in code space stay neighbours, which we can then colour by class or draw as
thumbnails (Karpathy's CNN-codes maps).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .activations import layer_outputs


@torch.no_grad()
def codes(model: nn.Module, data, layer: str, *, mean=None, std=None, batch_size: int = 500,
          device=None):
    """The output of ``layer`` for every image of ``data``, flattened: (N × D tensor, labels)."""
    features, labels = [], []
    for output, y in layer_outputs(model, data, layer, mean=mean, std=std,
                                   batch_size=batch_size, device=device):
        features.append(output.float().flatten(1).cpu())
        labels.append(y.cpu())
    return torch.cat(features), torch.cat(labels)


def tsne(features, seed: int = 0, perplexity: float = 30.0, pca_dims: int = 50,
         threads: int | None = 1) -> np.ndarray:
    """2-D t-SNE of ``features`` (N × D) with scikit-learn; PCA to ``pca_dims`` first if D is larger.

    The PCA step is the usual one: it removes noise directions and makes t-SNE faster.
    ``threads`` limits scikit-learn's OpenMP threads while it runs (``None``: its default). One
    is the default because with PyTorch loaded in the same process, two OpenMP runtimes compete
    for the cores: on a 2-core machine t-SNE of 120 points took 9 s with the default threads and
    0.7 s with one.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float32)
    with threadpool_limits(limits=threads, user_api="openmp"):
        if x.shape[1] > pca_dims:
            x = PCA(pca_dims, random_state=seed).fit_transform(x)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                    random_state=seed).fit_transform(x)


def plot_embedding(points: np.ndarray, labels, classes, ax=None):
    """Scatter the 2-D ``points`` coloured by class, with a legend."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    labels = np.asarray(labels)
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(classes):
        chosen = labels == c
        ax.scatter(points[chosen, 0], points[chosen, 1], s=5, color=cmap(c % 10), label=name)
    ax.legend(markerscale=3, fontsize=7, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def thumbnail_map(points: np.ndarray, images: torch.Tensor, grid: int = 20) -> np.ndarray:
    """Snap the 2-D ``points`` to a ``grid`` × ``grid`` board and draw one image per cell.

    Each cell shows the image whose point lies closest to the cell's centre among the points
    that fall in it; empty cells stay white. ``images`` are uint8 N × C × h × w. Returns an
    H × W × C float array in [0, 1].
    """
    points = np.asarray(points, dtype=np.float64)
    lo, hi = points.min(0), points.max(0)
    unit = (points - lo) / np.maximum(hi - lo, 1e-12) * (grid - 1e-9)  # in [0, grid)
    cells = np.floor(unit).astype(int)
    distance = np.linalg.norm(unit - (cells + 0.5), axis=1)
    n, c, h, w = images.shape
    board = np.ones((grid * h, grid * w, c), dtype=np.float32)
    best = {}
    for i in np.argsort(distance, kind="stable"):
        key = (cells[i, 1], cells[i, 0])  # (row, col); row 0 is the top: flip y so "up" stays up
        key = (grid - 1 - key[0], key[1])
        if key not in best:
            best[key] = i
            r, col = key
            board[r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i].permute(1, 2, 0).numpy() / 255
    return board
