"""Tests of cnnlib.viz.embedding: codes against a truncated forward pass, t-SNE (scikit-learn's)
on clusters whose answer is known, and the thumbnail board against hand-placed points."""
import numpy as np
import torch
from torch import nn

from cnnlib.viz.embedding import codes, thumbnail_map, tsne


def test_codes_equal_the_truncated_network(tiny_dataset):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(20, 4))
    features, labels = codes(net, tiny_dataset, "3", batch_size=100, device="cpu")
    mean = torch.tensor(tiny_dataset.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(tiny_dataset.std).reshape(1, 3, 1, 1)
    x = (tiny_dataset.images.float() / 255 - mean) / std
    with torch.no_grad():
        expected = net[:4](x)
    assert features.shape == (len(tiny_dataset), 20)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)
    assert torch.equal(labels, tiny_dataset.labels)


def test_tsne_keeps_separated_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 20, (3, 60))
    labels = np.repeat(np.arange(3), 20)
    x = centres[labels] + rng.normal(0, 1, (60, 60))  # 60-D: goes through the PCA step too
    points = tsne(x, seed=0, perplexity=10)
    again = tsne(x, seed=0, perplexity=10)
    assert points.shape == (60, 2)
    # Every point's nearest neighbour in the map belongs to its own cluster.
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).all()
    np.testing.assert_allclose(again, points)  # seeded: repeatable


def test_thumbnails_land_in_their_cells():
    # Four points at the corners of a 2x2 board; image i is filled with the value 10*(i+1).
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    images = torch.stack([torch.full((1, 2, 2), 10 * (i + 1), dtype=torch.uint8) for i in range(4)])
    board = thumbnail_map(points, images, grid=2)[..., 0] * 255
    # y grows upwards in the map, so point (0, 1) is at the top left.
    expected = np.array([[30, 40], [10, 20]]).repeat(2, 0).repeat(2, 1)
    np.testing.assert_allclose(board, expected, atol=1e-4)


def test_the_point_nearest_the_cell_centre_wins():
    points = np.array([[0.0, 0.0], [0.26, 0.24], [1.0, 1.0]])  # grid 2: centres at .25 and .75
    images = torch.stack([torch.full((1, 1, 1), v, dtype=torch.uint8) for v in (10, 20, 30)])
    board = thumbnail_map(points, images, grid=2)[..., 0] * 255
    assert board[1, 0] == np.float32(20)
    assert board[0, 1] == np.float32(30)
    assert board[0, 0] == 255 and board[1, 1] == 255  # empty cells are white
