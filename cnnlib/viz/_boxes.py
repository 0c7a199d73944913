"""The box-and-arrow drawing shared by the schematic figures (``schematics``, ``teaching``).

One legend convention for every network drawn as a box, so a colour means the same thing in
every chapter:

- **trained**: light blue fill, solid edge: its weights change in this step, at the full
  learning rate;
- **trained at a scaled learning rate**: the same blue, hatched ``///``: it changes, but more
  slowly (fine-tuning gives pretrained layers a fraction of the head's learning rate);
- **fixed**: grey fill, dashed edge: its weights do not change (a frozen layer, a network held
  fixed in this step);
- **new**: light green fill, solid edge: freshly initialised, then trained;
- **data**: no fill, grey edge: images and labels, not a network.

The hatch and the dashes carry the meaning as well as the colour, so the figures read the same
in grey scale and for colour-blind readers. Every box is drawn in axes coordinates (each panel
is 1 x 1) and its patch records its kind as its ``gid``, so a test can ask what a box depicts.
"""
from __future__ import annotations

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

FONT = 9              # points: the smallest size the book allows on a figure
BOX_H = 0.17          # default box height in axes coordinates; widths are per call

TRAINED = "#cfe2f3"   # fill of a network whose weights change
FIXED = "#eeeeee"     # fill of a network that stays fixed (with a dashed edge)
NEW = "#d9ead3"       # fill of a freshly initialised network (trained from its random start)
HIGHLIGHT = "#f9cb9c"  # cells a figure is about (averaged over, seen by a unit); not a network

STYLES = {
    "trained": dict(facecolor=TRAINED, edgecolor="black", linestyle="-", hatch=None),
    "scaled": dict(facecolor=TRAINED, edgecolor="black", linestyle="-", hatch="///"),
    "fixed": dict(facecolor=FIXED, edgecolor="black", linestyle="--", hatch=None),
    "new": dict(facecolor=NEW, edgecolor="black", linestyle="-", hatch=None),
    "data": dict(facecolor="white", edgecolor="grey", linestyle="-", hatch=None),
}
LABELS = {
    "trained": "trained",
    "scaled": "trained at a scaled learning rate",
    "fixed": "fixed (frozen)",
    "new": "new (random start), trained",
    "data": "data",
}


def box(ax, xy, text, *, kind, width, height=BOX_H):
    """A box centred on ``xy``, ``width`` x ``height`` (axes coordinates), styled by ``kind``
    (one of :data:`STYLES`), with ``text`` in its middle. Returns the patch."""
    x, y = xy
    patch = FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                           boxstyle="round,pad=0.01,rounding_size=0.03", linewidth=1.2,
                           transform=ax.transAxes, **STYLES[kind])
    patch.set_gid(kind)  # lets a test (or a reader of the figure) ask what the box depicts
    ax.add_patch(patch)
    # On a hatched box the text gets a patch of plain fill behind it, so the lines do not cross it.
    behind = dict(facecolor=STYLES[kind]["facecolor"], edgecolor="none", pad=1.5)
    ax.text(x, y, text, ha="center", va="center", fontsize=FONT, transform=ax.transAxes,
            bbox=behind if STYLES[kind]["hatch"] else None)
    return patch


def arrow(ax, start, end, label=None, *, rad=0.0):
    """An arrow from ``start`` to ``end`` (axes coordinates), optionally labelled at its middle."""
    patch = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1.2,
                            connectionstyle=f"arc3,rad={rad}", transform=ax.transAxes,
                            color="black")
    ax.add_patch(patch)
    if label:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx, my + 0.05 + abs(rad) * 0.25, label, ha="center", va="bottom", fontsize=FONT,
                transform=ax.transAxes, style="italic")
    return patch


def panel(ax, title):
    """An empty 1 x 1 panel without axes, titled."""
    ax.set_title(title, fontsize=FONT + 1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")


def legend(fig, kinds, **kwargs):
    """A legend below the figure explaining the box styles ``kinds``, in the order given."""
    handles = [Patch(linewidth=1.2, label=LABELS[kind], **STYLES[kind]) for kind in kinds]
    options = dict(loc="outside lower center", ncol=len(handles), fontsize=FONT, frameon=False)
    return fig.legend(handles=handles, **{**options, **kwargs})
