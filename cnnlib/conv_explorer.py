"""Drawing where a conv or pooling window lands: a figure and an ipywidgets explorer.

Taught in chapter 1 ("Designing conv layers"). ``draw_windows(W, F, S, P)`` draws one row of a
padded input and every position of the window; cells no window reaches (the input does not tile)
are marked in red. ``conv_explorer()`` puts sliders on the four numbers. Widgets do not run on a
static HTML page, so the chapter also shows ``draw_windows`` figures, and
``explorer_gif(states)`` plays a list of slider settings as an animated GIF (an image the HTML
page shows).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.patches import Rectangle

from .shapes import conv_output_size, tiles


def draw_windows(W: int, F: int, S: int = 1, P: int = 0, ax=None):
    """Draw an input of width ``W`` padded by ``P`` and the windows of size ``F``, stride ``S``."""
    out = conv_output_size(W, F, S, P)
    padded = W + 2 * P
    if ax is None:
        _, ax = plt.subplots(figsize=(min(14, 0.35 * padded + 2), 0.9 + 0.28 * out))
    used_until = (out - 1) * S + F  # first padded cell that no window covers
    for x in range(padded):
        is_pad = x < P or x >= P + W
        color = "#dddddd" if is_pad else ("#f4a3a3" if x >= used_until else "#9ecae1")
        ax.add_patch(Rectangle((x, 0), 1, 1, facecolor=color, edgecolor="black", linewidth=0.6))
    for i in range(out):
        y = -1.0 - 0.28 * i
        ax.plot([i * S + 0.1, i * S + F - 0.1], [y, y], color="#de7c00", linewidth=3)
        ax.text(i * S + F - 0.05, y, f" {i}", va="center", fontsize=7)
    ax.set_xlim(-0.5, padded + 1.5)
    ax.set_ylim(-1.3 - 0.28 * out, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    verdict = "tiles exactly" if tiles(W, F, S, P) else f"does not tile: {padded - used_until} cell(s) never used (red)"
    ax.set_title(f"W={W}, F={F}, S={S}, P={P}:  ({W} - {F} + 2·{P}) / {S} + 1 → {out} outputs; {verdict}",
                 fontsize=9)
    return ax


def conv_explorer(W: int = 11, F: int = 3, S: int = 2, P: int = 1):
    """An interactive version of :func:`draw_windows` with a slider per number."""
    import ipywidgets as widgets

    def show(W, F, S, P):
        if F > W + 2 * P:
            print(f"The window (F={F}) is wider than the padded input ({W + 2 * P}): no output.")
            return
        draw_windows(W, F, S, P)
        plt.show()

    return widgets.interactive(
        show,
        W=widgets.IntSlider(value=W, min=1, max=32, description="W (input)"),
        F=widgets.IntSlider(value=F, min=1, max=11, description="F (filter)"),
        S=widgets.IntSlider(value=S, min=1, max=5, description="S (stride)"),
        P=widgets.IntSlider(value=P, min=0, max=5, description="P (padding)"),
    )


def explorer_gif(states, path, *, seconds_per_state: float = 1.5, figsize=(7.5, 2.6)):
    """Save the explorer's figure for each ``(W, F, S, P)`` in ``states`` as an animated GIF.

    One frame per state, drawn by :func:`draw_windows` (matplotlib's ``PillowWriter``), so a
    page that cannot run the widget still shows what the sliders do. Returns ``path``; show it
    with ``IPython.display.Image(filename=path)``.
    """
    states = [tuple(int(v) for v in state) for state in states]
    if not states:
        raise ValueError("explorer_gif needs at least one (W, F, S, P) state")
    for W, F, S, P in states:
        if F > W + 2 * P:
            raise ValueError(f"state (W={W}, F={F}, S={S}, P={P}): the window is wider than the "
                             f"padded input ({W + 2 * P}); use a smaller F or more padding")
    fig, ax = plt.subplots(figsize=figsize)

    def frame(i):
        ax.clear()
        draw_windows(*states[i], ax=ax)
        # fixed limits: every frame as wide as the widest state, so the picture does not jump
        ax.set_xlim(-0.5, widest + 1.5)
        ax.set_ylim(-1.3 - 0.28 * deepest, 1.6)

    widest = max(W + 2 * P for W, _, _, P in states)
    deepest = max(conv_output_size(*state) for state in states)
    animation = FuncAnimation(fig, frame, frames=len(states))
    animation.save(path, writer=PillowWriter(fps=1 / seconds_per_state))
    plt.close(fig)
    return path
