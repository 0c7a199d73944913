"""cnnlib.viz.conv_figures: the numbers drawn are the layer's own (F.conv2d, F.max_pool2d)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402
from torch import nn  # noqa: E402

from cnnlib.viz.conv_figures import (cross_correlation_figure, padding_stride_figure,  # noqa: E402
                                     pointwise_figure, pooling_figure)


def texts(ax):
    return [t.get_text() for t in ax.texts]


def outlines(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()]


def test_cross_correlation_draws_channels_kernels_and_the_conv2d_output():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-2, 3, (2, 4, 4), generator=g).float()
    conv = nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.randint(-1, 2, (3, 2, 3, 3), generator=g).float())
        conv.bias.copy_(torch.tensor([1.0, -2.0, 0.0]))
    fig = cross_correlation_figure(x, conv.weight.detach(), conv.bias.detach(), at=(1, 2),
                                   out_channel=1, padding=1)
    expected = conv(x[None])[0].detach()  # the oracle: a real PyTorch layer
    assert torch.equal(fig.output, expected)
    axes = fig.axes
    assert len(axes) == 2 * 3  # two input channels + the output, on two rows
    assert [ax.get_title() for ax in axes[:2]] == ["input channel 0", "input channel 1"]
    # the output panel shows every value of feature map 1, and the sum ends in the chosen one
    out_panel = next(ax for ax in axes if ax.get_title() == "feature map 1")
    assert texts(out_panel) == [f"{v:.0f}" for v in expected[1].flatten().tolist()]
    assert texts(axes[-1])[0].endswith(f"= {expected[1, 1, 2].item():.0f}")
    # the input panels are padded (6x6 cells) with the 3x3 window at row 1, column 2
    box = outlines(axes[0])[0]
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (2, 1, 3, 3)
    assert len(texts(axes[0])) == 36
    plt.close(fig)


def test_cross_correlation_refuses_mismatched_channels_and_positions_outside_the_map():
    with pytest.raises(ValueError, match="input channels"):
        cross_correlation_figure(torch.zeros(3, 4, 4), torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match="outside the 2x2 output"):
        cross_correlation_figure(torch.zeros(1, 4, 4), torch.zeros(1, 1, 3, 3), at=(2, 0))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        cross_correlation_figure(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3))


def test_padding_stride_figure_has_the_formula_and_one_window_per_filled_output():
    fig = padding_stride_figure(5, 3, S=2, P=1, windows=3)
    left, right = fig.axes
    assert "(5 − 3 + 2·1) / 2 + 1 = 3" in fig._suptitle.get_text()
    assert right.get_title() == "output 3×3"
    assert [round(b.get_x()) for b in outlines(left)] == [0, 2, 4]  # x = i * S
    assert len([p for p in left.patches if p.get_fill()]) == 7 * 7  # the padded input's cells
    plt.close(fig)
    with pytest.raises(ValueError, match="window does not fit"):
        padding_stride_figure(2, 5)


def test_pointwise_figure_is_a_weighted_sum_of_channels():
    x = torch.arange(12.0).view(3, 2, 2)
    w = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]).view(2, 3, 1, 1)
    fig = pointwise_figure(x, w)
    assert torch.allclose(fig.output, nn.functional.conv2d(x[None], w)[0])
    assert torch.allclose(fig.output[0], x[0] - x[2])  # by hand
    titles = [ax.get_title() for ax in fig.axes]
    assert titles.count("input channel 0") == 1 and "output channel 1" in titles
    with pytest.raises(ValueError, match=r"\(K, 3, 1, 1\)"):
        pointwise_figure(x, torch.zeros(2, 3, 3, 3))
    plt.close(fig)


def test_pooling_figure_circles_each_windows_maximum():
    x = torch.tensor([[1.0, 5, 2, 0], [3, 4, 8, 1], [0, 0, 1, 1], [9, 2, 1, 7]])
    fig = pooling_figure(x, 2, 2)
    assert torch.equal(fig.output, torch.tensor([[5.0, 8], [9, 7]]))
    left, right = fig.axes
    centres = sorted((c.center[1] - 0.5, c.center[0] - 0.5) for c in left.patches
                     if isinstance(c, Circle))
    assert centres == [(0, 1), (1, 2), (3, 0), (3, 3)]  # (row, column) of 5, 8, 9 and 7
    assert texts(right) == ["5", "8", "9", "7"]
    plt.close(fig)
    avg = pooling_figure(x, 2, 2, kind="avg")
    assert torch.allclose(avg.output, nn.AvgPool2d(2)(x[None, None])[0, 0])
    plt.close(avg)
    with pytest.raises(ValueError, match="'max' or 'avg'"):
        pooling_figure(x, kind="min")
