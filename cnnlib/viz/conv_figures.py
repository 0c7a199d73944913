"""The convolution itself, drawn: cross-correlation, padding and stride, 1x1 convs and pooling.

Taught in chapter 1 ("Designing conv layers"). Every figure computes its numbers with PyTorch
(``F.conv2d``, ``F.max_pool2d``) and writes them into the cells, so what the reader sees is what
the layer computes:

- :func:`cross_correlation_figure`: the input channels with one window, the kernel's slices, and
  the output feature map with the value that window produced;
- :func:`padding_stride_figure`: a padded 2-D input, the first few windows at stride ``S``, and
  the output positions they fill;
- :func:`pointwise_figure`: a 1x1 convolution as a weighted sum of the channels at each pixel;
- :func:`pooling_figure`: max (or average) pooling windows and the value each one keeps.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from ..shapes import conv_output_size

__all__ = ["cross_correlation_figure", "padding_stride_figure", "pointwise_figure",
           "pooling_figure"]

WINDOW_COLOURS = ["#de7c00", "#2b8cbe", "#31a354", "#8856a7"]
PAD_COLOUR = "#dddddd"


def _check_map(x: torch.Tensor, dims: int, name: str) -> torch.Tensor:
    """``x`` as a float tensor with ``dims`` dimensions, or a ValueError that says what to pass."""
    x = torch.as_tensor(x)
    if x.dim() != dims:
        shape = {2: "(H, W)", 3: "(C, H, W)", 4: "(C_out, C_in, F, F)"}[dims]
        raise ValueError(f"{name} must have shape {shape}; got {tuple(x.shape)}. "
                         f"Drop the batch dimension (x[0]) or add one with x[None].")
    return x.float()


def draw_grid(ax, values, *, title: str = "", pad: int = 0, fmt: str = "{:.0f}",
              cmap: str = "Blues", fontsize: float = 9):
    """Draw a 2-D tensor as a grid of cells with its numbers; the outer ``pad`` rings grey.

    Rows run down and columns right, as in an image. The cell at row ``r``, column ``c`` spans
    ``[c, c+1] x [r, r+1]`` in data coordinates, so windows can be drawn with :func:`outline`.
    """
    values = torch.as_tensor(values).float()
    rows, cols = values.shape
    inner = values[pad:rows - pad, pad:cols - pad] if pad else values
    low, high = inner.min().item(), inner.max().item()
    colours = plt.get_cmap(cmap)
    for r in range(rows):
        for c in range(cols):
            is_pad = r < pad or c < pad or r >= rows - pad or c >= cols - pad
            level = 0.5 if high == low else (values[r, c].item() - low) / (high - low)
            face = PAD_COLOUR if is_pad else colours(0.1 + 0.5 * level)
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="0.4", linewidth=0.5))
            ax.text(c + 0.5, r + 0.5, fmt.format(values[r, c].item()), ha="center",
                    va="center", fontsize=fontsize, color="0.45" if is_pad else "black")
    ax.set_xlim(-0.1, cols + 0.1)
    ax.set_ylim(rows + 0.1, -0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    return ax


def outline(ax, row: int, col: int, height: int, width: int, colour: str, lw: float = 2.5):
    """Draw the border of a window of ``height`` x ``width`` cells whose top-left cell is
    (``row``, ``col``) of a grid drawn by :func:`draw_grid`; returns the rectangle."""
    box = Rectangle((col, row), width, height, fill=False, edgecolor=colour, linewidth=lw)
    ax.add_patch(box)
    return box


def cross_correlation_figure(x, weight, bias=None, *, at=(0, 0), out_channel: int = 0,
                             stride: int = 1, padding: int = 0):
    """Draw one output value of a multi-channel conv layer being computed.

    ``x`` is one input (C, H, W) and ``weight`` the layer's (C_out, C, F, F) filters. Top row:
    each input channel, padded, with the window that produces output position ``at`` (row,
    column) of channel ``out_channel``; bottom row: the kernel's slice for each input channel,
    and the output feature map (computed by ``F.conv2d``) with that value outlined. Returns the
    figure; ``fig.output`` holds the full output map.
    """
    x, weight = _check_map(x, 3, "x"), _check_map(weight, 4, "weight")
    channels, size = x.shape[0], weight.shape[-1]
    if weight.shape[1] != channels:
        raise ValueError(f"weight has {weight.shape[1]} input channels but x has {channels}: "
                         f"weight must be (C_out, {channels}, F, F)")
    bias_t = None if bias is None else torch.as_tensor(bias, dtype=torch.float32).reshape(-1)
    out = F.conv2d(x[None], weight, bias_t, stride=stride, padding=padding)[0]
    r, c = at
    if not (0 <= r < out.shape[1] and 0 <= c < out.shape[2]):
        raise ValueError(f"at={at} is outside the {out.shape[1]}x{out.shape[2]} output map: "
                         f"choose a row below {out.shape[1]} and a column below {out.shape[2]}")
    padded = F.pad(x, (padding,) * 4)
    fig, axes = plt.subplots(2, channels + 1, figsize=(min(7.5, 1.9 * (channels + 1)), 4.0),
                             layout="constrained")
    for ch in range(channels):
        draw_grid(axes[0, ch], padded[ch], title=f"input channel {ch}", pad=padding)
        outline(axes[0, ch], r * stride, c * stride, size, size, WINDOW_COLOURS[0])
        draw_grid(axes[1, ch], weight[out_channel, ch], title=f"kernel slice {ch}",
                  cmap="Oranges")
    draw_grid(axes[0, -1], out[out_channel], title=f"feature map {out_channel}", fmt="{:.0f}",
              cmap="Greens")
    outline(axes[0, -1], r, c, 1, 1, WINDOW_COLOURS[0])
    window = padded[:, r * stride:r * stride + size, c * stride:c * stride + size]
    terms = " + ".join(f"Σ(ch {ch})" for ch in range(channels))
    b = 0.0 if bias_t is None else bias_t[out_channel].item()
    sums = [f"{(window[ch] * weight[out_channel, ch]).sum().item():.0f}"
            for ch in range(channels)]
    axes[1, -1].axis("off")
    axes[1, -1].text(0.0, 0.5, f"{terms}\n+ bias\n= {' + '.join(sums)}\n   + {b:.0f}\n"
                     f"= {out[out_channel, r, c].item():.0f}", fontsize=9, va="center",
                     family="monospace", transform=axes[1, -1].transAxes)
    fig.suptitle(f"output[{out_channel}, {r}, {c}]: window × kernel, summed over "
                 f"all {channels} channels", fontsize=10)
    fig.output = out
    return fig


def padding_stride_figure(W: int, F_: int, S: int = 1, P: int = 0, *, windows: int = 3):
    """A W x W input padded by ``P`` (grey), the first ``windows`` windows of size ``F_`` at
    stride ``S`` along the first row, and the output grid with the cells they fill.

    The title states the output-size formula with these numbers. Returns the figure.
    """
    out = conv_output_size(W, F_, S, P)  # raises a ValueError when the window does not fit
    padded = torch.zeros(W + 2 * P, W + 2 * P)
    padded[P:P + W, P:P + W] = 1
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.5, 3.4), layout="constrained",
                                      gridspec_kw={"width_ratios": [W + 2 * P, max(out, 3)]})
    draw_grid(left, padded, title=f"input {W}×{W}, padding P={P}", pad=P, fmt="")
    draw_grid(right, torch.zeros(out, out), title=f"output {out}×{out}", fmt="",
              cmap="Greys")
    for i in range(min(windows, out)):
        colour = WINDOW_COLOURS[i % len(WINDOW_COLOURS)]
        inset = 0.08 * i  # nested outlines stay visible where windows overlap
        left.add_patch(Rectangle((i * S + inset, inset), F_ - 2 * inset, F_ - 2 * inset,
                                 fill=False, edgecolor=colour, linewidth=2.5))
        right.add_patch(Rectangle((i, 0), 1, 1, facecolor=colour, alpha=0.8))
    fig.suptitle(f"F={F_}, S={S}, P={P}: ({W} − {F_} + 2·{P}) / {S} + 1 = {out}", fontsize=10)
    return fig


def pointwise_figure(x, weight, *, at=(0, 0)):
    """A 1x1 convolution: each output pixel is a weighted sum of the input channels at that
    pixel, with weights ``weight[k, c, 0, 0]``. ``x`` is (C, H, W), ``weight`` (K, C, 1, 1).

    Left: the input channels, with pixel ``at`` outlined; middle: the K x C weight matrix; right:
    the output channels (``F.conv2d``). Returns the figure; ``fig.output`` is the output.
    """
    x, weight = _check_map(x, 3, "x"), _check_map(weight, 4, "weight")
    if weight.shape[2:] != (1, 1) or weight.shape[1] != x.shape[0]:
        raise ValueError(f"a 1x1 conv on {x.shape[0]} channels needs weight of shape "
                         f"(K, {x.shape[0]}, 1, 1); got {tuple(weight.shape)}")
    out = F.conv2d(x[None], weight)[0]
    c_in, k = x.shape[0], weight.shape[0]
    fig = plt.figure(figsize=(7.2, 0.3 + 1.5 * max(c_in, k)), layout="constrained")
    grid = fig.add_gridspec(max(c_in, k), 3, width_ratios=[1, 1.1, 1])
    r, c = at
    for ch in range(c_in):
        ax = fig.add_subplot(grid[ch, 0])
        draw_grid(ax, x[ch], title=f"input channel {ch}", fontsize=8)
        outline(ax, r, c, 1, 1, WINDOW_COLOURS[0])
    matrix = fig.add_subplot(grid[:, 1])
    draw_grid(matrix, weight[:, :, 0, 0], title="weights w[k, c]", fmt="{:g}", cmap="Oranges")
    matrix.set_title(f"weights w[k, c]\n({k} outputs × {c_in} inputs)", fontsize=10)
    for ch in range(k):
        ax = fig.add_subplot(grid[ch, 2])
        draw_grid(ax, out[ch], title=f"output channel {ch}", fmt="{:g}", cmap="Greens",
                  fontsize=8)
        outline(ax, r, c, 1, 1, WINDOW_COLOURS[0])
    fig.suptitle("1×1 conv: out[k] = Σ_c w[k, c] · in[c], at every pixel", fontsize=10)
    fig.output = out
    return fig


def pooling_figure(x, F_: int = 2, S: int = 2, *, kind: str = "max"):
    """Pooling windows of size ``F_`` at stride ``S`` on a 2-D map ``x``, and the value each
    window keeps (``F.max_pool2d`` or ``F.avg_pool2d``); the kept maxima are circled. Returns
    the figure; ``fig.output`` is the pooled map.
    """
    x = _check_map(x, 2, "x")
    if kind not in ("max", "avg"):
        raise ValueError(f"kind must be 'max' or 'avg'; got {kind!r}")
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = pool(x[None, None], F_, S)[0, 0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.0, 3.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [x.shape[1], out.shape[1]]})
    draw_grid(left, x, title=f"input {x.shape[0]}×{x.shape[1]}")
    draw_grid(right, out, title=f"{kind} pool F={F_}, S={S}", fmt="{:g}", cmap="Greens")
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            colour = WINDOW_COLOURS[(i * out.shape[1] + j) % len(WINDOW_COLOURS)]
            inset = 0.06 * ((i + j) % 2)
            left.add_patch(Rectangle((j * S + inset, i * S + inset), F_ - 2 * inset,
                                     F_ - 2 * inset, fill=False, edgecolor=colour, lw=2.5))
            outline(right, i, j, 1, 1, colour)
            if kind == "max":  # circle the input cell whose value the window keeps
                window = x[i * S:i * S + F_, j * S:j * S + F_]
                dr, dc = divmod(int(window.argmax()), F_)
                left.add_patch(plt.Circle((j * S + dc + 0.5, i * S + dr + 0.5), 0.38,
                                          fill=False, edgecolor=colour, lw=1.5))
    fig.output = out
    return fig
