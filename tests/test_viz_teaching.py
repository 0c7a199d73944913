"""Tests of cnnlib.viz.teaching: each figure draws what the library computes, in the book's column,
with text a phone can read."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Polygon, Rectangle  # noqa: E402
from torch import nn  # noqa: E402

import cnnlib.viz.teaching as teaching  # noqa: E402
from cnnlib.models import convnet  # noqa: E402
from cnnlib.shapes import receptive_field  # noqa: E402
from cnnlib.train import make_optimizer  # noqa: E402
from cnnlib.transfer import METHODS, target_model  # noqa: E402
from cnnlib.viz import (batchnorm_axes, dropout_scaling, mcd_steps, plain_and_residual_block,  # noqa: E402
                        stacked_windows, transfer_methods)
from cnnlib.viz._boxes import STYLES  # noqa: E402

FIGURES = [stacked_windows, dropout_scaling, batchnorm_axes, plain_and_residual_block, transfer_methods,
           mcd_steps]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def all_texts(fig):
    """Every piece of text the figure shows: titles, labels, legends."""
    found = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        found += [ax.title] + list(ax.texts)
        if ax.get_legend():
            found += list(ax.get_legend().get_texts())
    for legend in fig.legends:
        found += list(legend.get_texts())
    return [t for t in found if t.get_visible() and t.get_text().strip()]


def boxes(ax):
    """[(text in the box, the box's kind, y of its centre)] for every box of a panel."""
    texts = [t for t in ax.texts if t.get_text()]
    found = []
    for patch in (p for p in ax.patches if isinstance(p, FancyBboxPatch)):
        bb = patch.get_bbox()
        inside = [t.get_text() for t in texts
                  if bb.x0 <= t.get_position()[0] <= bb.x1 and bb.y0 <= t.get_position()[1] <= bb.y1]
        assert len(inside) == 1, f"one label per box, got {inside}"
        found.append((inside[0], patch.get_gid(), (bb.y0 + bb.y1) / 2))
    return found


# --------------------------------------------------------------------------- every figure


@pytest.mark.parametrize("draw", FIGURES, ids=lambda f: f.__name__)
def test_every_figure_fits_the_column_with_text_of_at_least_9_points(draw):
    fig = draw()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.get_figwidth() <= 7.5
    texts = all_texts(fig)
    assert texts and min(t.get_fontsize() for t in texts) >= 9
    # Nothing is cut off at the figure's edge (a title too long for the column would be).
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for t in texts:
        extent = t.get_window_extent(renderer)
        assert extent.x0 >= -1 and extent.x1 <= fig.bbox.x1 + 1, t.get_text()
        assert extent.y0 >= -1 and extent.y1 <= fig.bbox.y1 + 1, t.get_text()
    plt.close(fig)


@pytest.mark.parametrize("draw", [transfer_methods, mcd_steps], ids=lambda f: f.__name__)
def test_boxes_follow_the_one_legend_convention(draw):
    fig = draw()
    kinds = set()
    for ax in fig.axes:
        for patch in ax.patches:
            kind = patch.get_gid()
            if kind in STYLES:
                kinds.add(kind)
                assert matplotlib.colors.same_color(patch.get_facecolor(), STYLES[kind]["facecolor"])
                assert (patch.get_linestyle() == "--") == (kind == "fixed"), kind
                assert bool(patch.get_hatch()) == (kind == "scaled"), kind
    assert {"fixed"} < kinds  # fixed and at least one kind that learns
    assert len(fig.legends) == 1
    plt.close(fig)


# --------------------------------------------------------------------------- chapter 1


def windows(fig):
    return [[p.get_width() for p in ax.patches if p.get_gid() == "window"] for ax in fig.axes]


@pytest.mark.parametrize("n, k", [(1, 3), (2, 3), (3, 3), (2, 5), (4, 2)])
def test_stacked_windows_outlines_the_receptive_field_at_every_level(n, k):
    fig = stacked_windows(n, k)
    assert len(fig.axes) == n + 1  # the input and the output of each conv
    drawn = windows(fig)
    assert all(len(w) == 1 for w in drawn)
    widths = [w[0] for w in drawn]
    assert widths[0] == n * (k - 1) + 1  # the input window, by the formula
    # Level i sees what the convs above it see, as receptive_field computes it; the output sees itself.
    layers = [(k, 1)] * n
    assert widths == [receptive_field(layers[i:]).size for i in range(n)] + [1]
    plt.close(fig)


def test_stacked_windows_of_three_3x3_convs_cover_7x7_and_say_so():
    fig = stacked_windows()
    assert [w[0] for w in windows(fig)] == [7, 5, 3, 1]
    assert "7×7" in fig._suptitle.get_text()
    # Each map is drawn k - 1 = 2 cells narrower than the one below it: 9, 7, 5, 3 cells a side.
    cells = [sum(1 for p in ax.patches if isinstance(p, Rectangle) and p.get_gid() != "window")
             for ax in fig.axes]
    assert cells == [81, 49, 25, 9]
    plt.close(fig)


def test_stacked_windows_draws_what_receptive_field_says(monkeypatch):
    """Sizes come from the library: a receptive_field that said otherwise would change the figure."""
    def wider(layers):
        field = receptive_field(layers)
        return type("Field", (), {"size": field.size + 2})()

    monkeypatch.setattr(teaching, "receptive_field", wider)
    assert windows(stacked_windows(3, 3))[0] == [9]


# --------------------------------------------------------------------------- chapter 3


def panel_text(ax):
    return " | ".join(t.get_text() for t in ax.texts)


def test_dropout_scaling_shows_both_conventions_with_equal_expectations():
    fig = dropout_scaling(0.5)
    (paper_train, paper_test), (inv_train, inv_test) = [fig.axes[:2], fig.axes[2:]]
    assert [ax.get_title() for ax in fig.axes] == [
        "paper (Srivastava et al. 2014): training", "paper (Srivastava et al. 2014): test",
        "inverted (PyTorch): training", "inverted (PyTorch): test"]
    assert "present with probability p = 0.5" in panel_text(paper_train)
    assert "always present" in panel_text(paper_test)
    assert "p·w = 0.5·w" in panel_text(paper_test)  # the paper scales the weights at test time
    assert "x/p = 2·x" in panel_text(inv_train)  # PyTorch scales the survivors at training time
    assert "x/p" not in panel_text(inv_test)
    # The lesson: within a row, the expected input at training equals the input at test.
    assert "expected input: 0.5·w·x" in panel_text(paper_train)
    assert "expected input: 0.5·w·x" in panel_text(paper_test)
    assert "expected input: w·x" in panel_text(inv_train)
    assert "expected input: w·x" in panel_text(inv_test)
    plt.close(fig)


def test_thinned_networks_cross_out_exactly_the_dropped_units():
    from cnnlib.layers import dropout_mask

    g = torch.Generator().manual_seed(7)
    masks = [[dropout_mask(4, 0.2, generator=g), dropout_mask(3, 0.5, generator=g), torch.ones(2)]
             for _ in range(2)]
    fig = teaching.thinned_networks([4, 3, 2], masks)
    assert [ax.get_title() for ax in fig.axes] == [
        "standard network", "thinned network 1", "thinned network 2"]
    for ax, drawn in zip(fig.axes, [[torch.ones(4), torch.ones(3), torch.ones(2)], *masks]):
        crosses = [line for line in ax.lines if line.get_marker() == "x"]
        assert len(crosses) == sum(int((m == 0).sum()) for m in drawn)
    plt.close(fig)
    with pytest.raises(ValueError, match="entries per layer"):
        teaching.thinned_networks([4, 3, 2], [[torch.ones(4), torch.ones(2), torch.ones(2)]])


def test_dropout_scaling_labels_the_p_it_is_given_and_matches_nn_dropout():
    fig = dropout_scaling(0.8)
    # nn.Dropout(p_drop=0.2) multiplies a kept value by 1 / 0.8 = 1.25 in training mode.
    kept = nn.Dropout(0.2).train()(torch.ones(1000)).max().item()
    assert kept == pytest.approx(1.25)
    assert "x/p = 1.25·x" in panel_text(fig.axes[2])
    assert "p·w = 0.8·w" in panel_text(fig.axes[1])
    assert "p = 0.8" in fig._suptitle.get_text()
    plt.close(fig)
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="p_keep"):
            dropout_scaling(bad)


# --------------------------------------------------------------------------- chapter 4


def shaded(ax, face):
    return sum(1 for p in ax.patches if isinstance(p, Polygon) and p.get_gid() == f"{face}:shaded")


def test_batchnorm_axes_has_the_four_normalisations_of_wu_and_he():
    fig = batchnorm_axes()
    assert [ax.get_title() for ax in fig.axes] == ["Batch Norm", "Layer Norm", "Instance Norm", "Group Norm"]
    n, c, hw, per_group = 3, 6, 4, 3  # the drawn tensor: 3 images, 6 channels, 2 x 2 pixels, 2 groups
    # Visible cells shaded on the front (image 0: C by H*W), top (C by N) and side (N by H*W) faces.
    expected = {
        "Batch Norm": (hw, n, 0),                 # channel 0 of every image: a slab through N
        "Layer Norm": (c * hw, c, hw),            # all of image 0
        "Instance Norm": (hw, 1, 0),              # channel 0 of image 0
        "Group Norm": (per_group * hw, per_group, 0),  # the first group of channels of image 0
    }
    for ax in fig.axes:
        assert (shaded(ax, "front"), shaded(ax, "top"), shaded(ax, "side")) == expected[ax.get_title()]
    captions = [panel_text(ax) for ax in fig.axes]
    assert "over N, H, W" in captions[0] and "(12 values)" in captions[0]
    assert "over C, H, W" in captions[1] and "(24 values)" in captions[1]
    assert "over H, W" in captions[2] and "(4 values)" in captions[2]
    assert "over C (3 of 6), H, W" in captions[3]
    plt.close(fig)


def test_shared_statistics_are_measured_from_the_layer():
    shape = (2, 4, 3, 3)
    bn = teaching.shared_statistics(nn.BatchNorm2d(4), shape)
    assert bn[:, 0].all() and not bn[:, 1:].any()  # channel 0 across the batch, nothing else
    gn = teaching.shared_statistics(nn.GroupNorm(2, 4), shape)
    assert gn[0, :2].all() and not gn[0, 2:].any() and not gn[1].any()
    # The book's own batch norm shares its statistics exactly as torch's does.
    from cnnlib.layers import BatchNorm2d
    assert torch.equal(teaching.shared_statistics(BatchNorm2d(4), shape), bn)


# --------------------------------------------------------------------------- chapter 9


def block_column(ax):
    """The block's nodes top to bottom: box labels and "+"."""
    nodes = [(p.get_y() + p.get_height() / 2, p.get_gid()) for p in ax.patches if isinstance(p, Rectangle)]
    nodes += [(t.get_position()[1], "+") for t in ax.texts if t.get_gid() == "add"]
    return [name for _, name in sorted(nodes, reverse=True)]


def test_plain_and_residual_block_differ_by_the_shortcut_and_the_relu_after_the_addition():
    fig = plain_and_residual_block()
    plain, residual = fig.axes
    assert (plain.get_title(), residual.get_title()) == ("plain block", "residual block")
    conv = "3×3 conv, 64"
    assert block_column(plain) == [conv, "BN", "ReLU", conv, "BN", "ReLU"]
    assert block_column(residual) == [conv, "BN", "ReLU", conv, "BN", "+", "ReLU"]  # ReLU after +
    assert not [t for t in plain.texts if t.get_gid() == "add" or t.get_text() == "+"]
    words = panel_text(residual)
    for label in ("x", "F(x)", "F(x)+x", "identity"):
        assert label in words, label
    assert "F(x)+x" not in panel_text(plain) and "identity" not in panel_text(plain)
    # Same layout: every box of the plain block sits at the height of its twin on the right.
    heights = {ax: [p.get_y() for p in ax.patches if isinstance(p, Rectangle)] for ax in fig.axes}
    assert heights[plain] == pytest.approx(heights[residual][:5] + heights[residual][-1:])
    plt.close(fig)


def test_the_block_is_read_from_a_forward_pass():
    fig = plain_and_residual_block(channels=16)
    assert block_column(fig.axes[1])[0] == "3×3 conv, 16"
    plt.close(fig)

    class ReluBeforeAdd(nn.Module):  # what the paper does NOT do: the steps must show it
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(8, 8, 5, padding=2), nn.BatchNorm2d(8)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x))) + x

    steps, identity = teaching.block_steps(ReluBeforeAdd(), 8)
    assert steps == ["5×5 conv, 8", "BN", "ReLU", "+"] and identity


# --------------------------------------------------------------------------- chapter 10


def rows(fig):
    """{method: {stage: kind}} as drawn."""
    (ax,) = fig.axes
    labels = sorted(((t.get_position()[1], t.get_text()) for t in ax.texts if t.get_gid() == "method"),
                    reverse=True)
    drawn = {}
    for y, method in labels:
        drawn[method] = {text.split("\n")[0]: kind for text, kind, y_box in boxes(ax)
                         if abs(y_box - y) < 1e-6}
    return drawn


def source(seed=0):
    torch.manual_seed(seed)
    return convnet(num_classes=5, widths=(4, 8, 8, 16))


def test_transfer_methods_has_one_row_per_method_in_order():
    fig = transfer_methods()
    assert list(rows(fig)) == list(METHODS)
    plt.close(fig)


def test_transfer_methods_draws_the_roles_the_methods_give_each_stage():
    drawn = rows(transfer_methods())
    layers = ("layer1", "layer2", "layer3", "layer4")
    assert drawn["from scratch"] == {**dict.fromkeys(layers, "new"), "fc": "new"}
    assert drawn["feature extractor"] == {**dict.fromkeys(layers, "fixed"), "fc": "new"}
    assert drawn["fine-tune top"] == {"layer1": "fixed", "layer2": "fixed", "layer3": "fixed",
                                      "layer4": "scaled", "fc": "new"}
    assert drawn["fine-tune all"] == {**dict.fromkeys(layers, "scaled"), "fc": "new"}
    assert drawn["new layer on layer2"] == {"layer1": "fixed", "layer2": "fixed", "new": "new", "fc": "new"}


def stage_of(name):
    """layer1 for "layer1.0.weight" and for "body.layer1.0.weight" (the body of head_on_block)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "body" else parts[0]


@pytest.mark.parametrize("method", ["fine-tune top", "new layer on layer2", "feature extractor"])
def test_frozen_boxes_are_the_stages_target_model_freezes(method):
    net = source(3)
    drawn = rows(transfer_methods(net))[method]
    model, optimizer = target_model(method, net, 5)
    learns = {}
    for name, p in model.named_parameters():
        learns.setdefault(stage_of(name), set()).add(p.requires_grad)
    assert set(drawn) == set(learns)
    for stage, flags in learns.items():
        assert len(flags) == 1
        assert (drawn[stage] == "fixed") == (flags == {False}), stage


def test_the_scaled_learning_rate_written_is_the_optimisers():
    net = source()
    model, optimizer = target_model("fine-tune top", net, 5, lr=0.05)
    head, body = make_optimizer(model, optimizer, 0.05, 0.9, 0.0).param_groups
    ratio = body["lr"] / head["lr"]
    (ax,) = transfer_methods(net).axes
    assert f"layer4\nlr ×{ratio:.3g}" in [text for text, _, _ in boxes(ax)]
    assert f"{ratio:.3g}" == "0.1"


def test_transfer_methods_leaves_the_source_and_the_random_state_alone():
    net = source()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    plt.close(transfer_methods(net))
    assert torch.equal(torch.rand(3), expected)  # target_model's seeding did not leak out
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# --------------------------------------------------------------------------- chapter 11


def test_mcd_steps_train_and_fix_the_networks_of_each_step():
    fig = mcd_steps()
    assert [ax.get_title()[:2] for ax in fig.axes] == ["A:", "B:", "C:"]
    kinds = [{text: kind for text, kind, _ in boxes(ax)} for ax in fig.axes]
    G, F1, F2 = "generator $G$", "$F_1$", "$F_2$"
    source, target = "source $x_s$, $y_s$", "target $x_t$"
    assert kinds[0] == {source: "data", G: "trained", F1: "trained", F2: "trained"}
    assert kinds[1] == {source: "data", target: "data", G: "fixed", F1: "trained", F2: "trained"}
    assert kinds[2] == {target: "data", G: "trained", F1: "fixed", F2: "fixed"}
    assert "maximise" in fig.axes[1].get_title() and "minimise" in fig.axes[2].get_title()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["trained", "fixed (frozen)", "data"]
    plt.close(fig)
