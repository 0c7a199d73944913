"""Teaching figures: ideas the chapters explain in words, drawn.

One function per figure; each returns the matplotlib ``Figure`` and is sized for the book's
7.5-inch column, with no text under 9 points (it stays readable on a phone):

- :func:`stacked_windows` (chapter 1) what one output of stacked convolutions sees
- :func:`dropout_scaling` (chapter 3) dropout's training/test scaling, both conventions
- :func:`batchnorm_axes` (chapter 4) the values batch/layer/instance/group norm average over
- :func:`plain_and_residual_block` (chapter 9) a plain block beside a residual block
- :func:`transfer_methods` (chapter 10) what each transfer method freezes, trains or adds
- :func:`mcd_steps` (chapter 11) the three steps of Maximum Classifier Discrepancy

Where a figure depicts a model or a computation, it is computed by the library, so the picture
and the code cannot drift apart: window sizes by ``cnnlib.shapes.receptive_field``, the scaling
by ``cnnlib.layers.dropout``, the averaged values by the norm layers' own gradients, the block
by a forward pass of ``cnnlib.models.CifarBlock``, the transfer roles by
``cnnlib.transfer.target_model``.

Colours mean the same thing in every figure of this module (and in ``schematics``):

- a network (or stage) drawn **light blue, solid edge** is trained; **light blue, hatched**
  is trained at a scaled (lower) learning rate; **grey, dashed edge** stays fixed (frozen);
  **light green** is new: freshly initialised, then trained; **white, grey edge** is data;
- **orange** cells are what a figure is about: the input window one output sees, the values
  one mean and variance are computed over.

The hatch and the dashes say it too, so the figures read in grey scale and for colour-blind
readers; every figure explains the colours it uses in a legend or its title.
"""
from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, Polygon, Rectangle
from torch import nn
from torch.overrides import TorchFunctionMode

from ..layers import BatchNorm2d, dropout
from ..models import convnet
from ..models.cifar_resnet import CifarBlock
from ..shapes import conv_output_size, receptive_field
from ..train import make_optimizer
from ..transfer import METHODS, target_model
from ._boxes import FONT, HIGHLIGHT, arrow, box, legend, panel
from .architecture import _COLOURS

__all__ = ["stacked_windows", "dropout_scaling", "thinned_networks", "batchnorm_axes",
           "plain_and_residual_block", "transfer_methods", "mcd_steps",
           # what the figures are computed with, usable on their own
           "shared_statistics", "block_steps", "method_roles"]

WIDTH = 7.5  # inches: the book's column


def _number(x: float) -> str:
    """0.5 -> "0.5", 2.0 -> "2", 1/3 -> "0.333": short, for labels."""
    return f"{x:.3g}"


# --------------------------------------------------------------------------- chapter 1


def _window_sizes(n_layers: int, kernel: int) -> list[int]:
    """How wide a window one final output sees at each level: the input, then after each conv.

    At level ``i`` the output still has the convs ``i+1 .. n`` above it, so it sees the
    receptive field of those alone; after the last conv it is the output itself (1).
    """
    layers = [(kernel, 1)] * n_layers  # (kernel, stride): stride-1 convs
    return [receptive_field(layers[i:]).size for i in range(n_layers)] + [1]


def _grid(ax, side: int, offset: float, window: int) -> None:
    """A ``side`` x ``side`` grid of cells starting at ``offset``, its centred ``window`` x
    ``window`` cells shaded and outlined (the outline's gid is "window")."""
    start = offset + (side - window) / 2
    for row in range(side):
        for col in range(side):
            inside = start <= offset + col < start + window and start <= offset + row < start + window
            ax.add_patch(Rectangle((offset + col, offset + row), 1, 1, linewidth=0.5,
                                   facecolor=HIGHLIGHT if inside else "white", edgecolor="grey"))
    outline = Rectangle((start, start), window, window, fill=False, linewidth=2.2, edgecolor="black")
    outline.set_gid("window")
    ax.add_patch(outline)


def stacked_windows(n_layers: int = 3, kernel: int = 3):
    """What one output of ``n_layers`` stacked ``kernel`` x ``kernel`` convolutions (stride 1,
    no padding) sees: a window of ``n_layers * (kernel - 1) + 1`` input pixels on a side.

    One panel per level, from the input (left) to the last conv's output (right), all drawn at
    the same cell size, so each map is ``kernel - 1`` cells narrower than the one before. On
    each level the window that the single output on the right depends on is shaded and
    outlined: three stacked 3x3 convs see 7x7 pixels, the receptive field of one 7x7 conv, with
    fewer weights and three non-linearities (Simonyan & Zisserman 2015, Section 2.3). The window
    sizes are ``cnnlib.shapes.receptive_field``'s, the map sizes ``conv_output_size``'s.
    """
    if n_layers < 1 or kernel < 1:
        raise ValueError(f"n_layers and kernel must be at least 1, got {n_layers} and {kernel}")
    windows = _window_sizes(n_layers, kernel)
    sides = [windows[0] + 2]  # one cell of context on each side of the input's window
    for _ in range(n_layers):
        sides.append(conv_output_size(sides[-1], kernel))

    levels = n_layers + 1
    fig, axes = plt.subplots(1, levels, figsize=(WIDTH, 2.2 + 0.25 * (levels > 5)),
                             layout="constrained", squeeze=False)
    for level, (ax, side, window) in enumerate(zip(axes[0], sides, windows)):
        _grid(ax, side, (sides[0] - side) / 2, window)  # centred: the maps shrink level by level
        ax.set_xlim(-0.2, sides[0] + 0.2)
        ax.set_ylim(-0.2, sides[0] + 0.2)
        ax.set_aspect("equal")
        ax.axis("off")
        name = "input" if level == 0 else f"after conv {level}"
        ax.set_title(f"{name}\n{side}×{side}", fontsize=FONT)
        seen = "the output" if level == n_layers else f"{window}×{window} seen"
        ax.text(sides[0] / 2, -0.4, seen, ha="center", va="top", fontsize=FONT)
    rf = windows[0]
    fig.suptitle(f"One output of {n_layers} stacked {kernel}×{kernel} convs (stride 1) sees "
                 f"{rf}×{rf} input pixels: {n_layers}·({kernel}−1)+1 = {rf} (orange: what it sees)",
                 fontsize=FONT)
    return fig


# --------------------------------------------------------------------------- chapter 3


def _dropout_factors(p_keep: float) -> dict[tuple[str, str], float]:
    """What ``cnnlib.layers.dropout`` multiplies a kept unit's output by, per (convention,
    phase): read off the function itself on a vector of ones."""
    ones = torch.ones(512)
    factors = {}
    for convention, inverted in (("paper", False), ("inverted", True)):
        trained = dropout(ones, 1 - p_keep, training=True, inverted=inverted,
                          generator=torch.Generator().manual_seed(0))
        factors[convention, "training"] = trained[trained != 0].max().item()  # the survivors
        factors[convention, "test"] = dropout(ones, 1 - p_keep, training=False, inverted=inverted)[0].item()
    return factors


def _times(factor: float, what: str) -> str:
    return what if factor == 1 else f"{_number(factor)}·{what}"


def _dropout_panel(ax, title: str, *, p_keep: float, factor: float, training: bool,
                   scaled_weights: bool) -> None:
    """One unit feeding one unit of the next layer through weight w (Srivastava et al. Fig. 2).

    ``factor`` is what the library multiplies the unit's output by in this phase; the paper
    puts the test-time factor on the outgoing weights instead (p·w), the same product.
    """
    panel(ax, title)
    circle = dict(boxstyle="circle,pad=0.35", facecolor="white", edgecolor="black", linewidth=1.2)
    ax.text(0.14, 0.66, "x", ha="center", va="center", fontsize=FONT + 1, bbox=circle)
    ax.text(0.86, 0.66, " ", ha="center", va="center", fontsize=FONT + 1, bbox=circle)
    p = _number(p_keep)
    if scaled_weights:  # the paper: scale the outgoing weights at test time
        unit_out, weight = "x", f"p·w = {_times(factor, 'w')}"
    else:  # inverted dropout scales the unit's output (1/p at training, 1 at test)
        unit_out = "x" if factor == 1 else f"x/p = {_times(factor, 'x')}"
        weight = "w"
    arrow(ax, (0.24, 0.66), (0.76, 0.66), weight)
    ax.text(0.14, 0.86, f"outputs {unit_out}", ha="left", va="bottom", fontsize=FONT)
    presence = f"present with probability p = {p}" if training else "always present"
    received = _times(factor, "w·x")
    expected = _times(factor * (p_keep if training else 1), "w·x")
    gets = f"next unit gets {received} with probability {p}, else 0" if training else f"next unit gets {received}"
    ax.text(0.02, 0.42, f"unit {presence}\n{gets}\nexpected input: {expected}", ha="left",
            va="top", fontsize=FONT, linespacing=1.4)


def dropout_scaling(p_keep: float = 0.5):
    """Dropout at training and at test time, in the paper's convention and PyTorch's.

    Srivastava et al. (2014), "Dropout: A simple way to prevent neural networks from
    overfitting", Figure 2: at training time a unit is present with probability ``p_keep`` and
    its outgoing weights are w; at test time it is always present and its weights are p·w. The
    inverted convention of ``nn.Dropout`` scales a kept unit's output by 1/p at training time
    and leaves the test-time network unchanged. Both give the next layer the same expected
    input at training and at test time, which is the point of the scaling.

    The factors are read off ``cnnlib.layers.dropout`` (both conventions); ``p_keep`` is the
    probability that a unit is KEPT, the paper's p. Returns a 2 x 2 figure: rows = convention,
    columns = training, test.
    """
    if not 0 < p_keep <= 1:
        raise ValueError(f"p_keep (the probability a unit is kept) must be in (0, 1], got {p_keep}")
    factors = _dropout_factors(p_keep)
    fig, axes = plt.subplots(2, 2, figsize=(WIDTH, 4.0), layout="constrained")
    names = {"paper": "paper (Srivastava et al. 2014)", "inverted": "inverted (PyTorch)"}
    for row, convention in enumerate(("paper", "inverted")):
        for col, phase in enumerate(("training", "test")):
            _dropout_panel(axes[row, col], f"{names[convention]}: {phase}", p_keep=p_keep,
                           factor=factors[convention, phase], training=phase == "training",
                           scaled_weights=convention == "paper" and phase == "test")
    fig.suptitle(f"Dropout with p = {_number(p_keep)}, the probability that a unit is kept:\n"
                 "in each row, the expected input at training equals the input at test", fontsize=FONT)
    return fig


def _draw_units(ax, sizes, masks, title: str) -> None:
    """Units as circles, layer by layer, left to right; a unit whose mask entry is 0 is
    crossed out and its connections greyed."""
    pos = [[(i, (n - 1) / 2 - j) for j in range(n)] for i, n in enumerate(sizes)]
    for i in range(len(sizes) - 1):
        for j, a in enumerate(pos[i]):
            for k, b in enumerate(pos[i + 1]):
                alive = masks[i][j] > 0 and masks[i + 1][k] > 0
                ax.plot([a[0], b[0]], [a[1], b[1]], color="0.3" if alive else "0.9",
                        lw=0.8 if alive else 0.5, zorder=1)
    for i, layer in enumerate(pos):
        for j, (x, y) in enumerate(layer):
            kept = masks[i][j] > 0
            ax.scatter(x, y, s=90, c="white" if kept else "0.85", edgecolors="k", zorder=2)
            if not kept:
                ax.plot(x, y, "x", color="tab:red", ms=8, mew=2, zorder=3)
    ax.set_title(title, fontsize=FONT)
    ax.axis("off")


def thinned_networks(sizes, masks):
    """The standard network of ``sizes`` units per layer beside the thinned networks that
    ``masks`` make (Srivastava et al. 2014, Figure 1): one list per thinned network, one 0/1
    tensor per layer (e.g. from ``cnnlib.layers.dropout_mask``); dropped units are crossed
    out with their connections."""
    for drawn in masks:
        if [len(m) for m in drawn] != list(sizes):
            raise ValueError(f"each network's masks must have {list(sizes)} entries per layer, "
                             f"got {[len(m) for m in drawn]}")
    fig, axes = plt.subplots(1, len(masks) + 1, figsize=(WIDTH, 2.4), layout="constrained")
    _draw_units(axes[0], sizes, [torch.ones(n) for n in sizes], "standard network")
    for n, (ax, drawn) in enumerate(zip(axes[1:], masks), start=1):
        _draw_units(ax, sizes, drawn, f"thinned network {n}")
    return fig


# --------------------------------------------------------------------------- chapter 4

# A small feature-map tensor N x C x H x W, and the norm layers of Wu & He's Figure 2.
N, C, H, W, GROUPS = 3, 6, 2, 2, 2


def _norm_layers() -> dict[str, nn.Module]:
    """The paper's four normalisations, named as in its figure; batch norm is the book's own."""
    return {
        "Batch Norm": BatchNorm2d(C),
        "Layer Norm": nn.LayerNorm([C, H, W]),
        "Instance Norm": nn.InstanceNorm2d(C),
        "Group Norm": nn.GroupNorm(GROUPS, C),
    }


def shared_statistics(layer: nn.Module, shape=(N, C, H, W)) -> torch.Tensor:
    """Which values of an input of ``shape`` share one mean and variance in ``layer``.

    Measured, not assumed: one output value, normalised as (x - mean) / std, changes with
    exactly the inputs its mean and variance are computed over, so those are the inputs where
    its gradient is not zero. Returns a bool tensor of ``shape`` for the output at (0, 0, 0, 0).
    """
    layer = copy.deepcopy(layer).double().train()  # training mode: batch statistics
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    layer(x)[0, 0, 0, 0].backward()
    return x.grad != 0


def _spans(mask: torch.Tensor) -> str:
    """The axes a (N, C, H*W) mask spans, in words: "N, H, W", "a group of 3 C, H, W"."""
    parts = []
    for axis, name in enumerate(("N", "C", "H, W")):
        covered = int(mask.any(dim=tuple(d for d in range(3) if d != axis)).sum())
        if covered == mask.shape[axis] and covered > 1:
            parts.append(name)
        elif covered > 1:  # part of the axis: a group of channels
            parts.append(f"{name} ({covered} of {mask.shape[axis]})")
    return ", ".join(parts)


DEPTH = (0.45, 0.35)  # where one step along N goes on the page (the cube's receding axis)


def _cell(x0, y0, n, along):
    """The four corners of a cube cell's visible face: ``along`` "front" (C by H*W at n=0),
    "top" (C by N) or "side" (N by H*W), its corner at (x0, y0) before depth ``n``."""
    dx, dy = DEPTH
    x, y = x0 + n * dx, y0 + n * dy
    if along == "front":
        return [(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)]
    if along == "top":
        return [(x, y), (x + 1, y), (x + 1 + dx, y + dy), (x + dx, y + dy)]
    return [(x, y), (x + dx, y + dy), (x + dx, y + 1 + dy), (x, y + 1)]  # side


def _cube(ax, mask: torch.Tensor) -> None:
    """The N x C x (H*W) tensor drawn as a cube (C across, H*W up, N into the page), each
    visible cell orange when it belongs to ``mask``. Polygons carry gid "front", "top", "side"
    and, when shaded, the suffix ":shaded"."""
    n_, c_, s_ = mask.shape
    faces = [("front", c, s, 0, mask[0, c, s]) for c in range(c_) for s in range(s_)]
    faces += [("top", c, s_, n, mask[n, c, s_ - 1]) for c in range(c_) for n in range(n_)]
    faces += [("side", c_, s, n, mask[n, c_ - 1, s]) for s in range(s_) for n in range(n_)]
    for along, x0, y0, n, shaded in faces:
        patch = Polygon(_cell(x0, y0, n, along), closed=True, linewidth=0.6, edgecolor="black",
                        facecolor=HIGHLIGHT if shaded else "white")
        patch.set_gid(f"{along}:shaded" if shaded else along)
        ax.add_patch(patch)
    dx, dy = DEPTH
    ax.text(-0.3, s_ / 2, "H, W", rotation=90, ha="right", va="center", fontsize=FONT)
    ax.text(c_ / 2, -0.25, "C", ha="center", va="top", fontsize=FONT)
    ax.text(c_ + n_ * dx / 2 + 0.25, n_ * dy / 2 - 0.1, "N", ha="left", va="top", fontsize=FONT)
    ax.set_xlim(-1.3, c_ + n_ * dx + 0.9)
    ax.set_ylim(-2.6, s_ + n_ * dy + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")


def batchnorm_axes():
    """The values one normalisation statistic is computed over, for four normalisations.

    As in Wu & He (2018), "Group Normalization", Figure 2: the feature maps of a batch drawn as
    an N x C x (H, W) cube, and in orange the values that share one mean and variance with the
    value at the bottom-left corner of the front face (image 0, channel 0). Batch norm averages over N, H, W for one channel (so it depends
    on the batch); layer norm over C, H, W for one image; instance norm over H, W for one image
    and channel; group norm over a group of channels and H, W for one image.

    The orange cells are measured from the layers themselves (``cnnlib.layers.BatchNorm2d`` and
    torch's LayerNorm, InstanceNorm2d and GroupNorm), see :func:`shared_statistics`.
    """
    fig, axes = plt.subplots(1, 4, figsize=(WIDTH, 2.4), layout="constrained")
    for ax, (name, layer) in zip(axes, _norm_layers().items()):
        mask = shared_statistics(layer).reshape(N, C, H * W)
        _cube(ax, mask)
        ax.set_title(name, fontsize=FONT + 1)
        ax.text(C / 2 + 0.4, -1.1, f"over {_spans(mask)}\n({int(mask.sum())} values)", ha="center",
                va="top", fontsize=FONT)
    fig.suptitle(f"Orange: the values one mean and variance are computed over (N = {N} images, "
                 f"C = {C} channels, {GROUPS} groups)", fontsize=FONT)
    return fig


# --------------------------------------------------------------------------- chapter 9


class _Steps(TorchFunctionMode):
    """Records, in order, the operations a forward pass applies to the data: convolutions
    (with their kernel and channels), batch norms, ReLUs and additions."""

    def __init__(self, block_input: torch.Tensor):
        super().__init__()
        self.block_input = block_input
        self.steps: list[str] = []
        self.identity = False  # did an addition take the block's input itself?

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name == "conv2d":
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            out_channels, _, k, _ = weight.shape  # out x in x k x k
            self.steps.append(f"{k}×{k} conv, {out_channels}")
        elif name == "batch_norm":
            self.steps.append("BN")
        elif name == "relu":
            self.steps.append("ReLU")
        elif name in ("add", "add_", "__add__", "__radd__", "__iadd__"):  # out + x, out += x
            self.steps.append("+")
            self.identity |= any(a is self.block_input for a in args)
        return func(*args, **(kwargs or {}))


def block_steps(block: nn.Module, channels: int) -> tuple[list[str], bool]:
    """The operations of one forward pass of ``block`` in order, e.g. ``["3×3 conv, 64", "BN",
    "ReLU", ...]``, and whether an addition took the block's input unchanged (an identity
    shortcut)."""
    x = torch.randn(1, channels, 8, 8)
    recorder = _Steps(x)
    with torch.no_grad(), recorder:
        block.eval()(x)
    return recorder.steps, recorder.identity


def _aligned_rows(steps: list[str], template: list[str]) -> list[int]:
    """The row of each step: the next row of ``template`` with the same label, so that two
    blocks that differ by one node line up and show the difference as a gap."""
    rows, row = [], 0
    for step in steps:
        while template[row] != step:
            row += 1
        rows.append(row)
        row += 1
    return rows


STEP_COLOURS = {"conv": _COLOURS["Conv"], "BN": _COLOURS["Norm"], "ReLU": "white"}


def _block_panel(ax, title, steps, rows, n_rows, *, shortcut: bool, bracket: int) -> list[float]:
    """Draw one block top to bottom, step ``i`` in row ``rows[i]`` of ``n_rows``, the first
    ``bracket`` rows bracketed as what the layers learn. Returns the height of every row."""
    panel(ax, title)
    top, bottom = 0.86, 0.12
    y_of = [top - (top - bottom) * (r + 0.5) / n_rows for r in range(n_rows)]
    cx, width, height = 0.45, 0.5, 0.6 * (top - bottom) / n_rows
    ax.text(cx, 0.96, "x", ha="center", va="center", fontsize=FONT + 1, style="italic")
    previous = (cx, 0.93)
    for step, row in zip(steps, rows):
        y = y_of[row]
        if step == "+":
            node = ax.text(cx, y, "+", ha="center", va="center", fontsize=FONT + 2, gid="add",
                           bbox=dict(boxstyle="circle,pad=0.2", facecolor="white", edgecolor="black"))
            node.set_zorder(3)
            arrow(ax, previous, (cx, y + 0.03))
            previous = (cx, y - 0.03)
            continue
        kind = "conv" if "conv" in step else step
        patch = Rectangle((cx - width / 2, y - height / 2), width, height, transform=ax.transAxes,
                          facecolor=STEP_COLOURS[kind], edgecolor="black", linewidth=1.0)
        patch.set_gid(step)
        ax.add_patch(patch)
        ax.text(cx, y, step, ha="center", va="center", fontsize=FONT)
        arrow(ax, previous, (cx, y + height / 2))
        previous = (cx, y - height / 2)
    arrow(ax, previous, (cx, 0.04))

    # The layers the block learns, bracketed on the left: the paper's F(x) (or H(x), plain).
    y0, y1 = y_of[bracket - 1] - height / 2, y_of[0] + height / 2
    ax.plot([0.14, 0.12, 0.12, 0.14], [y1, y1, y0, y0], color="black", linewidth=1.0,
            transform=ax.transAxes)
    ax.text(0.10, (y0 + y1) / 2, "F(x)" if shortcut else "H(x)", ha="right", va="center",
            fontsize=FONT + 1, style="italic")
    return y_of


def plain_and_residual_block(channels: int = 64):
    """A plain block beside a residual block, as in He et al. (2016), "Deep Residual Learning
    for Image Recognition", Figure 2.

    Left, two stacked conv-BN-ReLU layers must fit the wanted mapping H(x) directly. Right, the
    same layers fit the residual F(x) = H(x) - x: the identity shortcut carries x around them,
    the block adds F(x) + x, and the ReLU comes AFTER the addition (so the block's output is
    ReLU(F(x) + x): a block with F(x) = 0 passes its input, a ReLU's non-negative output, on
    unchanged). Both columns share one layout, so
    the only difference, the shortcut and its "+", stands out as a gap on the left.

    What is drawn is read from a forward pass of the book's CIFAR block (``CifarBlock`` of
    ``cnnlib.models.cifar_resnet``, without and with its shortcut, ``channels`` channels): the
    order of conv, BN, ReLU and + and the kernel sizes come from the code.
    """
    plain_block = CifarBlock(channels, channels, shortcut=False)
    residual_block = CifarBlock(channels, channels, shortcut=True)
    plain, _ = block_steps(plain_block, channels)
    residual, identity = block_steps(residual_block, channels)
    template = residual if len(residual) >= len(plain) else plain
    # F(x) is everything before the addition; the plain block's H(x) is drawn over the same rows.
    bracket = template.index("+") if "+" in template else len(template)

    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 5.2), layout="constrained")
    _block_panel(left, "plain block", plain, _aligned_rows(plain, template), len(template),
                 shortcut=False, bracket=bracket)
    y_of = _block_panel(right, "residual block", residual, _aligned_rows(residual, template),
                        len(template), shortcut=True, bracket=bracket)
    add_row = _aligned_rows(residual, template)[residual.index("+")]
    y_add = y_of[add_row]
    # The shortcut: from x, down the right-hand side, into the "+".
    right.plot([0.47, 0.86, 0.86], [0.955, 0.955, y_add], color="black", linewidth=1.2,
               transform=right.transAxes)
    right.add_patch(FancyArrowPatch((0.86, y_add), (0.49, y_add), arrowstyle="-|>", mutation_scale=12,
                                    linewidth=1.2, color="black", transform=right.transAxes))
    right.text(0.88, (0.955 + y_add) / 2, "x\nidentity" if identity else "x\nshortcut", ha="left",
               va="center", fontsize=FONT + 1, style="italic")
    relu_y = y_of[add_row + 1] if add_row + 1 < len(y_of) else 0.04
    right.text(0.49, (y_add + relu_y) / 2, "F(x)+x", ha="left", va="center", fontsize=FONT + 1,
               style="italic")
    handles = [Rectangle((0, 0), 1, 1, facecolor=STEP_COLOURS[k], edgecolor="black") for k in STEP_COLOURS]
    fig.legend(handles, ["conv (weights)", "batch norm", "ReLU"], loc="outside lower center", ncol=3,
               fontsize=FONT, frameon=False)
    return fig


# --------------------------------------------------------------------------- chapter 10

LR = 1.0  # the learning rate the roles are read at: a parameter group's lr / LR is its scale


def _marked_copy(source: nn.Module):
    """A copy of ``source`` whose parameter ``i`` is filled with the marker value 1000.5 + i, and
    ``{marker: name of the source's stage (top-level child) holding it}``.

    A parameter of a method's network that still holds a marker was copied from the source; any
    other is new (random initialisation never fills a tensor with one value like 1000.5).
    """
    marked, stage_of = copy.deepcopy(source), {}
    with torch.no_grad():
        for i, (name, p) in enumerate(marked.named_parameters()):
            p.fill_(1000.5 + i)
            stage_of[1000.5 + i] = name.split(".")[0]
    return marked, stage_of


def _source_stage(p: torch.Tensor, stage_of: dict) -> str | None:
    value = p.detach().flatten()[0].item()
    return stage_of.get(value) if bool((p == value).all()) else None


def _learning_rates(model: nn.Module, optimizer) -> dict[int, float]:
    """{id(parameter): learning rate} of the optimiser ``fit`` would build; frozen ones absent."""
    if not any(p.requires_grad for p in model.parameters()):
        return {}
    built = make_optimizer(model, optimizer, LR, momentum=0.9, weight_decay=0.0)
    return {id(p): group["lr"] for group in built.param_groups for p in group["params"]}


def _role(stage: str, entries: list[tuple[bool, float | None]]) -> tuple[str, float]:
    """(kind, learning-rate scale) of a stage from its parameters' (is new, lr or None)."""
    trainable = {lr is not None for _, lr in entries}
    if len(trainable) > 1:
        raise ValueError(f"stage {stage!r} is partly frozen; the figure draws one role per stage")
    if trainable == {False}:
        return "fixed", 0.0
    scales = {lr / LR for _, lr in entries}
    if len(scales) > 1:
        raise ValueError(f"stage {stage!r} has several learning rates {sorted(scales)}")
    scale = scales.pop()
    if any(new for new, _ in entries):
        return "new", scale
    return ("trained" if scale == 1 else "scaled"), scale


def method_roles(method: str, source: nn.Module, num_classes: int = 5) -> dict[str, tuple[str, float]]:
    """{stage: (kind, learning-rate scale)} of the network ``method`` trains, in forward order.

    Read from ``cnnlib.transfer.target_model`` on a marked copy of ``source``: a stage is
    "fixed" when its parameters do not require a gradient, "new" when they were not copied from
    the source, "scaled" when the optimiser ``fit`` builds gives them a lower learning rate, and
    "trained" otherwise. A stage is a top-level child of the source (``layer1``..., ``fc``) or,
    for what a method adds, of the method's network (``new``, ``fc``).
    """
    marked, stage_of = _marked_copy(source)
    with torch.random.fork_rng(devices=[]):  # target_model seeds torch; leave the caller's RNG be
        model, optimizer = target_model(method, marked, num_classes, lr=LR)
    lrs = _learning_rates(model, optimizer)
    entries: dict[str, list] = {}
    for name, p in model.named_parameters():
        stage = _source_stage(p, stage_of)
        new = stage is None
        entries.setdefault(name.split(".")[0] if new else stage, []).append((new, lrs.get(id(p))))
    return {stage: _role(stage, found) for stage, found in entries.items()}


def _columns(rows: list[list[str]]) -> list[str]:
    """One column per stage name, in forward order across all rows: a stage a row adds goes
    just before the next stage of that row that is already a column (``new`` before ``fc``)."""
    columns: list[str] = []
    for stages in rows:
        for i, stage in enumerate(stages):
            if stage in columns:
                continue
            later = [s for s in stages[i + 1:] if s in columns]
            columns.insert(columns.index(later[0]) if later else len(columns), stage)
    return columns


def _role_text(kind: str, scale: float) -> str:
    return {"fixed": "frozen", "new": "random start", "trained": "trained"}.get(kind, f"lr ×{_number(scale)}")


def transfer_methods(model: nn.Module | None = None):
    """What each transfer method of chapter 10 does with each stage of the source network.

    One row per method of ``cnnlib.transfer.METHODS``, one box per stage that holds weights
    (``layer1``..``layer4``, the head ``fc``, and what a method adds): grey and dashed when
    frozen, blue when trained, hatched blue when trained at a scaled learning rate (fine-tuning
    gives the pretrained layers a tenth of the head's), green when new. A gap means the method
    does not use that stage (a new layer on layer2 drops layer3 and layer4).

    The roles are read from the networks ``cnnlib.transfer.target_model`` builds, see
    :func:`method_roles`. ``model``: the source network, any that ``target_model`` accepts
    (default: a small ``convnet``, the chapter's architecture; the roles do not depend on the
    weights, and ``model`` is left unchanged).
    """
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = convnet(num_classes=5, widths=(4, 8, 8, 16))
    roles = {method: method_roles(method, model) for method in METHODS}
    columns = _columns([list(r) for r in roles.values()])

    # Sizes in inches; the panel is laid out in fractions of its width and height.
    label_w, box_w, box_h, gap, row_h = 1.6, 0.76, 0.44, 0.2, 0.58  # box_w + the rounded edge
    width = label_w + len(columns) * (box_w + gap)
    height = len(METHODS) * row_h
    fig, ax = plt.subplots(figsize=(min(WIDTH, width + 0.1), height + 1.3), layout="constrained")
    panel(ax, "What each transfer method does with each stage of the source network")
    for i, (method, stages) in enumerate(roles.items()):
        y = 1 - (i + 0.5) * row_h / height  # row i, from the top
        ax.text((label_w - 0.1) / width, y, method, ha="right", va="center", fontsize=FONT,
                gid="method")
        for stage, (kind, lr_scale) in stages.items():
            x = (label_w + columns.index(stage) * (box_w + gap) + box_w / 2) / width
            box(ax, (x, y), f"{stage}\n{_role_text(kind, lr_scale)}", kind=kind, width=box_w / width,
                height=box_h / height)
    kinds = [k for k in ("new", "trained", "scaled", "fixed")
             if any(kind == k for stages in roles.values() for kind, _ in stages.values())]
    legend(fig, kinds, ncol=2)
    return fig


# --------------------------------------------------------------------------- chapter 11

# MCD's steps (Saito et al. 2018, Figure 3 and Section 3.2): which data each step uses, which
# networks it trains (the rest stay fixed) and what it minimises. cnnlib has no MCD code to read
# this from, so it is written here, once, from the paper.
MCD_STEPS = {
    "A": dict(title="A: train $G$, $F_1$, $F_2$\non the source", data=("source",), trained=("G", "F1", "F2"),
              loss="min over $G$, $F_1$, $F_2$:\nsource classification loss"),
    "B": dict(title="B: fix $G$; train $F_1$, $F_2$\nto maximise discrepancy", data=("source", "target"), trained=("F1", "F2"),
              loss="min over $F_1$, $F_2$:\nsource loss − discrepancy\non the target"),
    "C": dict(title="C: fix $F_1$, $F_2$; train $G$\nto minimise discrepancy", data=("target",), trained=("G",),
              loss="min over $G$:\ndiscrepancy on the target\n(repeated n times)"),
}
_DATA_LABELS = {"source": "source $x_s$, $y_s$", "target": "target $x_t$"}
_NETWORK_LABELS = {"G": "generator $G$", "F1": "$F_1$", "F2": "$F_2$"}


def _mcd_panel(ax, step: dict) -> None:
    panel(ax, step["title"])
    data = step["data"]
    xs = [0.5] if len(data) == 1 else [0.26, 0.74]
    for x, name in zip(xs, data):
        box(ax, (x, 0.88), _DATA_LABELS[name], kind="data", width=0.46 if len(data) > 1 else 0.7,
            height=0.12)
        arrow(ax, (x, 0.82), (0.5 if len(data) == 1 else 0.5 + (x - 0.5) * 0.4, 0.68))

    def kind(net):
        return "trained" if net in step["trained"] else "fixed"

    box(ax, (0.5, 0.62), _NETWORK_LABELS["G"], kind=kind("G"), width=0.6, height=0.12)
    for x, net in ((0.26, "F1"), (0.74, "F2")):
        box(ax, (x, 0.38), _NETWORK_LABELS[net], kind=kind(net), width=0.36, height=0.12)
        arrow(ax, (0.5 + (x - 0.5) * 0.4, 0.56), (x, 0.44))
    ax.text(0.5, 0.27, step["loss"], ha="center", va="top", fontsize=FONT, linespacing=1.3)


def mcd_steps():
    """The three steps of Maximum Classifier Discrepancy (Saito et al. 2018, "Maximum
    Classifier Discrepancy for Unsupervised Domain Adaptation", Figure 3 and Section 3.2),
    repeated for every mini-batch:

    A. train the generator G and both classifiers F1, F2 to classify the labelled source;
    B. fix G; train F1 and F2 to classify the source while disagreeing as much as possible on
       the target (maximise the discrepancy |p1 - p2|: it finds target samples outside the
       source's support);
    C. fix F1 and F2; train G to minimise that discrepancy (n times per mini-batch, n a
       hyper-parameter of the paper), so that G maps target samples inside the source's
       support.

    Drawn with the schematics' convention: a trained network is a filled box with a solid edge,
    a fixed one has a dashed edge, data are unfilled. Returns the figure.
    """
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.6), layout="constrained")
    for ax, step in zip(axes, MCD_STEPS.values()):
        _mcd_panel(ax, step)
    legend(fig, ["trained", "fixed", "data"])
    fig.suptitle("MCD: a feature generator $G$ and two classifiers $F_1$, $F_2$; discrepancy = "
                 "$|p_1 - p_2|$,\nthe difference of their predicted class probabilities; "
                 "A, B, C repeat for every mini-batch", fontsize=FONT)
    return fig
