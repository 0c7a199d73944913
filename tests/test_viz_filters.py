"""Tests of cnnlib.viz.filters against hand-worked values."""
import numpy as np
import pytest
import torch

from cnnlib.viz.filters import colour_fraction, filter_grid, scale_filters


def test_scaling_keeps_zero_at_mid_grey_and_the_largest_weight_at_an_end():
    w = torch.tensor([[[[0.0, 2.0], [-1.0, 0.5]]], [[[0.0, -4.0], [1.0, 0.0]]]])
    s = scale_filters(w)
    assert torch.allclose(s[0, 0], torch.tensor([[0.5, 1.0], [0.25, 0.625]]))
    assert torch.allclose(s[1, 0], torch.tensor([[0.5, 0.0], [0.625, 0.5]]))


def test_grid_places_each_colour_filter_in_its_tile():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 3, 4, 4, generator=g)
    grid = filter_grid(w, ncols=3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    scaled = scale_filters(w).permute(0, 2, 3, 1).numpy()
    for i in range(5):
        r, c = divmod(i, 3)
        np.testing.assert_allclose(grid[1 + 5 * r:5 + 5 * r, 1 + 5 * c:5 + 5 * c], scaled[i])
    assert (grid[11 - 5:, 1 + 10:] == 1).all()  # the sixth tile is empty (white)


def test_grid_of_grey_filters_is_2d_and_other_channel_counts_are_refused():
    assert filter_grid(torch.randn(4, 1, 3, 3)).shape == (9, 9)
    with pytest.raises(ValueError, match="weight\\[:, i:i\\+1\\]"):
        filter_grid(torch.randn(4, 8, 3, 3))


def test_colour_fraction_by_hand():
    spatial = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    grey = spatial.expand(3, 5, 5)                                  # R = G = B
    opponent = torch.stack([spatial, -spatial, torch.zeros(5, 5)])  # red minus green, no grey
    # (1, 2, 3) ⊗ s: grey part 2s in each channel, the rest (-1, 0, 1) ⊗ s: 2 / 14 of the energy.
    mixed = torch.tensor([1.0, 2.0, 3.0])[:, None, None] * spatial
    fractions = colour_fraction(torch.stack([grey, opponent, mixed]))
    assert fractions.tolist() == pytest.approx([0.0, 1.0, 2 / 14], abs=1e-6)
