"""Block diagrams of the adaptation methods: ADDA's three stages and CycleGAN's four networks.

Taught in chapters 11 (ADDA) and 12 (CycleGAN). Each function draws boxes (networks and data)
joined by arrows on a matplotlib figure and returns the figure. Pass the networks themselves and
every box also says how many parameters its network has, counted from the model, so the picture
and the code cannot drift apart.

Conventions, as in the ADDA paper's Figure 3: a network whose weights change in a stage is a
filled box with a solid edge; a network that stays fixed has a dashed edge. Data are plain,
unfilled boxes with rounded corners.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

# The boxes, arrows and colours are shared with ``teaching`` (one legend convention for the book).
from ._boxes import FIXED, FONT, TRAINED  # noqa: F401  (TRAINED, FIXED: still importable from here)
from ._boxes import arrow as _arrow
from ._boxes import box as _box
from ._boxes import panel as _panel

__all__ = ["adda_stages", "cyclegan_diagram", "parameter_label"]


def parameter_label(name: str, model=None) -> str:
    """``name``, and below it the parameter count of ``model`` when one is given."""
    if model is None:
        return name
    count = sum(p.numel() for p in model.parameters())
    return f"{name}\n{count:,} params"


def adda_stages(encoder=None, classifier=None, discriminator=None, *, figsize=(7.5, 3.2)):
    """ADDA's three stages, one panel each, as in Figure 3 of Tzeng et al. (2017).

    1. pre-training: source images -> source encoder M_s -> classifier C, both trained;
    2. adversarial adaptation: M_s (fixed) and the target encoder M_t (trained) feed the
       discriminator D (trained), which predicts the domain label;
    3. testing: target images -> M_t -> C, both fixed.

    ``encoder``, ``classifier``, ``discriminator``: optional networks whose parameter counts are
    written in their boxes (M_s and M_t share the encoder's architecture). Returns the figure.
    """
    enc = parameter_label("encoder", encoder)
    # The middle stage holds two encoders side by side, so its panel is wider.
    fig, axes = plt.subplots(1, 3, figsize=figsize, layout="constrained",
                             gridspec_kw=dict(width_ratios=[1, 1.5, 1]))
    stage1, stage2, stage3 = axes
    wide, half = 0.8, 0.46  # box widths: one box per row, two boxes per row

    _panel(stage1, "1. pre-training")
    _box(stage1, (0.5, 0.85), "source images\n$x_s$, labels $y_s$", kind="data", width=wide)
    _box(stage1, (0.5, 0.52), enc.replace("encoder", "source encoder $M_s$"), kind="trained",
         width=wide)
    _box(stage1, (0.5, 0.19), parameter_label("classifier $C$", classifier), kind="trained",
         width=wide)
    _arrow(stage1, (0.5, 0.76), (0.5, 0.61))
    _arrow(stage1, (0.5, 0.43), (0.5, 0.28))

    _panel(stage2, "2. adversarial adaptation")
    _box(stage2, (0.25, 0.85), "source\nimages $x_s$", kind="data", width=half)
    _box(stage2, (0.75, 0.85), "target\nimages $x_t$", kind="data", width=half)
    _box(stage2, (0.25, 0.52), enc.replace("encoder", "source enc. $M_s$"), kind="fixed",
         width=half)
    _box(stage2, (0.75, 0.52), enc.replace("encoder", "target enc. $M_t$"), kind="trained",
         width=half)
    _box(stage2, (0.5, 0.19), parameter_label("discriminator $D$", discriminator),
         kind="trained", width=half)
    _arrow(stage2, (0.25, 0.76), (0.25, 0.61))
    _arrow(stage2, (0.75, 0.76), (0.75, 0.61))
    _arrow(stage2, (0.25, 0.43), (0.4, 0.28))
    _arrow(stage2, (0.75, 0.43), (0.6, 0.28))
    stage2.text(0.5, 0.0, "domain label: source or target?", ha="center", va="bottom",
                fontsize=FONT, transform=stage2.transAxes)

    _panel(stage3, "3. testing")
    _box(stage3, (0.5, 0.85), "target images $x_t$", kind="data", width=wide)
    _box(stage3, (0.5, 0.52), enc.replace("encoder", "target enc. $M_t$"), kind="fixed",
         width=wide)
    _box(stage3, (0.5, 0.19), parameter_label("classifier $C$", classifier), kind="fixed",
         width=wide)
    _arrow(stage3, (0.5, 0.76), (0.5, 0.61))
    _arrow(stage3, (0.5, 0.43), (0.5, 0.28))

    fig.suptitle("ADDA: filled boxes are trained in that stage, dashed ones stay fixed",
                 fontsize=FONT + 1)
    return fig


def cyclegan_diagram(G=None, F=None, D_X=None, D_Y=None, *, figsize=(7.0, 3.4)):
    """CycleGAN's two generators, two discriminators and the forward and backward cycles.

    The domains X and Y sit left and right; G: X -> Y runs along the top, F: Y -> X along the
    bottom; D_X judges images of X (real x, or F(y)), D_Y images of Y (real y, or G(x)). The
    centre names the cycle-consistency losses, x -> G -> F ~ x and y -> F -> G ~ y.

    ``G``, ``F``, ``D_X``, ``D_Y``: optional networks whose parameter counts are written in
    their boxes. Returns the figure.
    """
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    _panel(ax, "CycleGAN: two generators, two discriminators, two cycles")

    w = 0.24  # box width
    _box(ax, (0.15, 0.5), "domain $X$\nimages $x$", kind="data", width=w)
    _box(ax, (0.85, 0.5), "domain $Y$\nimages $y$", kind="data", width=w)
    _box(ax, (0.5, 0.82), parameter_label("$G: X \\to Y$", G), kind="trained", width=w)
    _box(ax, (0.5, 0.18), parameter_label("$F: Y \\to X$", F), kind="trained", width=w)
    _box(ax, (0.15, 0.12), parameter_label("$D_X$: real $x$\nor $F(y)$?", D_X), kind="trained",
         width=w)
    _box(ax, (0.85, 0.88), parameter_label("$D_Y$: real $y$\nor $G(x)$?", D_Y), kind="trained",
         width=w)

    _arrow(ax, (0.22, 0.59), (0.38, 0.76), "$x$")
    _arrow(ax, (0.62, 0.76), (0.78, 0.59), "$G(x)$")
    _arrow(ax, (0.78, 0.41), (0.62, 0.24), "$y$")
    _arrow(ax, (0.38, 0.24), (0.22, 0.41), "$F(y)$")
    _arrow(ax, (0.85, 0.59), (0.85, 0.79))   # D_Y judges images of Y
    _arrow(ax, (0.15, 0.41), (0.15, 0.21))   # D_X judges images of X

    ax.text(0.5, 0.5, "cycle losses\n$F(G(x)) \\approx x$\n$G(F(y)) \\approx y$", ha="center",
            va="center", fontsize=FONT, color="dimgrey", transform=ax.transAxes)
    return fig
