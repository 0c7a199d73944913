"""Architecture diagrams drawn from the model itself, in the spirit of the papers' figures.

Taught in the architecture chapters (6-9). ``diagram(model, input_size)`` runs one forward
pass (like ``cnnlib.inspection.summary``, whose rows it draws) and follows the data from
layer to layer, so branches, shortcuts and concatenations come from what the model really
does, not from a hand-kept list:

- one box per layer that ``summary`` lists, labelled with the layer's name, type and its real
  output shape (batch dimension left out);
- an arrow from each layer to every layer that reads its output;
- a round node where several paths meet: ``+`` for a sum (a residual shortcut), ``C`` for a
  concatenation (Inception, DenseNet);
- a convolution with ``groups=2`` drawn as a stack of two cards, each with its half of the
  channels; or, with ``streams=2``, the whole network as two columns side by side (AlexNet's
  two GPUs), each box holding its stream's half, with arrows across only where a layer reads
  both halves (AlexNet's conv3 and its fully connected layers).

``labels="paper"`` names the weight layers as the papers count them (conv1 ... conv5, fc6 ...
fc8 for AlexNet: every conv and fully connected layer numbered in the order the data meets
them) instead of by their module names (``features.0``); a dict names boxes by hand.
``hide`` leaves layers out of the picture (ReLU, batch norm: the papers do not draw them
either); the data flows through them. ``collapse`` draws whole modules (e.g. every
``Inception``) as one box each. ``draw_architecture`` returns the matplotlib figure.

How the data is followed: every tensor a layer returns is remembered with the node that made
it; a torch function called *between* layers (``torch.cat``, ``+``, ``flatten``) passes on
the nodes of its inputs, and a sum or concatenation of tensors from different nodes becomes a
join node.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..inspection import evaluating, summary, watch

__all__ = ["Diagram", "Node", "diagram", "draw_architecture", "split_streams"]

INPUT, LAYER, ADD, CONCAT = "input", "layer", "add", "concat"

# torch functions that merge several tensors into one: a join node when they come from
# different nodes.
_SUMS = {torch.add, torch.Tensor.add, torch.Tensor.__add__, torch.Tensor.__radd__,
         torch.Tensor.add_, torch.Tensor.__iadd__}
_CONCATS = {torch.cat, torch.concat}


@dataclass
class Node:
    """One box (or join) of a diagram.

    ``kind`` is ``"input"``, ``"layer"``, ``"add"`` or ``"concat"``; ``name`` the module's
    dotted name (``""`` for joins and the input); ``type`` its class name; ``shape`` the
    output shape without the batch dimension; ``groups`` the conv's groups (1 otherwise);
    ``sources`` the indices of the nodes whose outputs it reads; ``weights`` whether it has
    weights of its own (a conv or linear layer, a collapsed module). ``title`` is the name
    drawn (``name`` unless the diagram was asked for the papers' names). ``level`` (row) and
    ``lane`` (column) are its place in the picture.
    """

    kind: str
    name: str
    type: str
    shape: Any
    groups: int = 1
    sources: list[int] = field(default_factory=list)
    weights: bool = False
    title: str | None = None
    level: int = 0
    lane: int = 0

    @property
    def label(self) -> str:
        """What the box says: name and type on the first line, the output shape below."""
        if self.kind == INPUT:
            return f"input\n{_shape_text(self.shape)}"
        if self.kind in (ADD, CONCAT):
            return "+" if self.kind == ADD else "C"
        title = _short(self.name if self.title is None else self.title)
        head = f"{title}\n{self.type}" if title else self.type
        shape = self.shape
        if self.groups > 1 and isinstance(shape, tuple) and shape:
            shape = (shape[0] // self.groups, *shape[1:])
            return f"{head}\n{self.groups} × {_shape_text(shape)}"
        return f"{head}\n{_shape_text(shape)}"


def _short(name: str, limit: int = 18) -> str:
    """A long dotted name keeps its end, the part that tells the layers of a block apart."""
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


@dataclass
class Diagram:
    """What ``diagram`` returns: ``nodes`` (input first, then layers and joins in the order
    the forward pass met them) and ``edges`` (``(source, target)`` index pairs)."""

    nodes: list[Node]
    edges: list[tuple[int, int]]

    @property
    def layers(self) -> list[Node]:
        """The layer boxes (no input, no joins), in the order they ran."""
        return [n for n in self.nodes if n.kind == LAYER]

    def branches(self, index: int = 0) -> int:
        """How many paths leave node ``index`` (default: the input): 4 for an Inception
        module, 2 for a residual block (the layers and the shortcut)."""
        return sum(1 for s, _ in self.edges if s == index)

    def draw(self, ax=None, *, title: str | None = None, rows: int | None = None):
        """Draw it; see :func:`draw_architecture`."""
        return _draw(self, ax, title, rows)


def _shape_text(shape) -> str:
    if isinstance(shape, tuple) and all(isinstance(v, int) for v in shape):
        return "(" + ", ".join(str(v) for v in shape) + ")"
    return str(shape)


def _shape(output):
    if isinstance(output, torch.Tensor):
        return tuple(output.shape[1:])
    if isinstance(output, (tuple, list)):
        return tuple(_shape(o) for o in output)
    return None


def _tensors(value) -> list[torch.Tensor]:
    """The tensors in an argument (a list of tensors too: DenseNet's layers take one)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


class _Flow(TorchFunctionMode):
    """Passes the producing nodes of the inputs on to the outputs of torch functions that
    run between boxes; a sum or concatenation of different producers makes a join node."""

    def __init__(self, tracer: _Tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        if self.tracer.depth == 0:  # inside a box, the box's own hook decides
            self.tracer.passed_through(func, list(args) + list(kwargs.values()), output)
        return output


class _Tracer:
    """Builds the nodes and edges during one forward pass."""

    def __init__(self, boxes: set[str], hidden: set[str], modules: dict[str, nn.Module]):
        self.boxes, self.hidden, self.modules = boxes, hidden, modules
        self.nodes: list[Node] = []
        self.producers: dict[int, frozenset[int]] = {}  # id(tensor) -> nodes that made it
        self.keep: list[torch.Tensor] = []  # tensors stay alive, so their ids stay unique
        self.depth = 0
        self.open: list[tuple[str, frozenset[int]]] = []

    def mark(self, tensor: torch.Tensor, producers: frozenset[int]) -> None:
        self.keep.append(tensor)
        self.producers[id(tensor)] = producers

    def sources_of(self, values) -> frozenset[int]:
        found: set[int] = set()
        for t in _tensors(values):
            found |= self.producers.get(id(t), frozenset())
        return frozenset(found)

    def passed_through(self, func, args, output) -> None:
        sources = self.sources_of(args)
        if not sources:
            return
        kind = ADD if func in _SUMS else CONCAT if func in _CONCATS else None
        if kind and len(sources) > 1:
            self.nodes.append(Node(kind, "", kind, _shape(output), sources=sorted(sources)))
            sources = frozenset({len(self.nodes) - 1})
        for t in _tensors(output):
            self.mark(t, sources)

    def entered(self, name, module, args, kwargs) -> None:
        if name in self.boxes or name in self.hidden:
            self.open.append((name, self.sources_of(list(args) + list(kwargs.values()))))
            self.depth += 1

    def left(self, name, module, output) -> None:
        if name not in self.boxes and name not in self.hidden:
            return
        self.depth -= 1
        _, sources = self.open.pop()
        if name in self.hidden:  # drawn as nothing: the data flows through
            produced = sources
        else:
            groups = getattr(module, "groups", 1) if isinstance(module, nn.modules.conv._ConvNd) else 1
            weights = next(module.parameters(), None) is not None
            self.nodes.append(Node(LAYER, name, type(module).__name__, _shape(output), groups,
                                   sorted(sources), weights))
            produced = frozenset({len(self.nodes) - 1})
        for t in _tensors(output):
            self.mark(t, produced)


def _matches(name: str, module: nn.Module, patterns: set[str]) -> bool:
    return name in patterns or type(module).__name__ in patterns


def diagram(model: nn.Module, input_size, *, hide: Iterable[str] = (),
            collapse: Iterable[str] = (), labels: str | dict = "modules",
            streams: int = 1) -> Diagram:
    """The architecture of ``model`` as nodes and edges, from one forward pass.

    ``input_size`` leaves out the batch dimension, e.g. ``(3, 224, 224)``. Without ``hide``
    and ``collapse`` there is one layer box per row of ``summary(model, input_size)``, with
    that row's output shape. ``hide`` names layer types (``"ReLU"``) or layer names to leave
    out; ``collapse`` names module types (``"Inception"``) or names to draw as one box.
    ``labels``: ``"modules"`` (the module names), ``"paper"`` (conv1, ..., fc6, ...: the
    weight layers numbered in order, other boxes by their type only) or a dict from module
    name to the name to draw. ``streams=2``: the network as two columns side by side (see
    :func:`split_streams`).
    """
    if labels not in ("modules", "paper") and not isinstance(labels, dict):
        raise ValueError(f"labels must be 'modules', 'paper' or a dict of names, not {labels!r}")
    hide, collapse = set(hide), set(collapse)
    modules = dict(model.named_modules())
    unknown = (hide | collapse) - set(modules) - {type(m).__name__ for m in modules.values()}
    if unknown:
        types = sorted({type(m).__name__ for m in modules.values()})
        raise ValueError(f"the model has no layer or layer type named {sorted(unknown)}; "
                         f"use names from model.named_modules() or types from {types}")
    collapsed = [n for n, m in modules.items() if n and _matches(n, m, collapse)]
    collapsed = [n for n in collapsed if not any(n.startswith(c + ".") for c in collapsed)]

    def inside(name):
        return any(name.startswith(c + ".") for c in collapsed)

    rows = summary(model, input_size).rows
    boxes = {r.name for r in rows if r.name and not inside(r.name)} | set(collapsed)
    hidden = {b for b in boxes if _matches(b, modules[b], hide)}
    boxes -= hidden

    tracer = _Tracer(boxes, hidden, modules)
    x = torch.randn(1, *input_size, generator=torch.Generator().manual_seed(0))
    first = next(iter(list(model.parameters()) + list(model.buffers())), None)
    x = x.to(first.device) if first is not None else x
    tracer.nodes.append(Node(INPUT, "", "input", tuple(input_size)))
    tracer.mark(x, frozenset({0}))
    with evaluating(model), torch.no_grad(), \
            watch(model, before=tracer.entered, after=tracer.left, layers=boxes | hidden):
        with _Flow(tracer):
            model(x)

    nodes = tracer.nodes
    for i, node in enumerate(nodes[1:], start=1):
        if not node.sources:  # data we could not follow (made inside a box): the previous node
            node.sources = [i - 1]
    _name_boxes(nodes, labels)
    edges = [(s, i) for i, node in enumerate(nodes) for s in node.sources]
    _place(nodes)
    d = Diagram(nodes, edges)
    return d if streams == 1 else split_streams(d, streams)


def _name_boxes(nodes: list[Node], labels) -> None:
    if isinstance(labels, dict):
        for node in nodes:
            node.title = labels.get(node.name, node.title)
    elif labels == "paper":
        # The papers count the layers that have weights: AlexNet's "eight learned layers"
        # are conv1-conv5 and fc6-fc8, VGG-16's sixteen are 13 convs and 3 fc layers.
        count = 0
        for node in nodes:
            if node.kind == LAYER:
                if node.weights and node.type.startswith("Conv"):
                    count += 1
                    node.title = f"conv{count}"
                elif node.weights and node.type == "Linear":
                    count += 1
                    node.title = f"fc{count}"
                else:
                    node.title = ""


def split_streams(d: Diagram, streams: int = 2) -> Diagram:
    """``d`` as ``streams`` columns side by side, each box holding its stream's share of the
    channels (AlexNet was split over two GPUs this way). A layer reads only its own stream's
    half, except a layer with weights that is not grouped (AlexNet's conv3 and fc layers):
    it reads every stream, which is where the GPUs talked to each other. For a plain chain of
    layers (no branches)."""
    if streams < 1 or any(n.lane or n.kind in (ADD, CONCAT) for n in d.nodes):
        raise ValueError("streams: a whole number >= 1, for a network without branches")
    nodes = [d.nodes[0]]  # the input feeds every stream
    copies = {0: [0] * streams}
    for i, node in enumerate(d.nodes[1:], start=1):
        reads_all = node.weights and node.groups == 1
        copies[i] = []
        for k in range(streams):
            sources = sorted({c for s in node.sources
                              for c in (copies[s] if reads_all else [copies[s][k]])})
            shape = node.shape
            if isinstance(shape, tuple) and shape and isinstance(shape[0], int):
                shape = (shape[0] // streams, *shape[1:])
            nodes.append(Node(node.kind, node.name, node.type, shape, 1, sources, node.weights,
                              node.title, node.level, k))
            copies[i].append(len(nodes) - 1)
    edges = [(s, i) for i, node in enumerate(nodes) for s in node.sources]
    return Diagram(nodes, edges)


def _place(nodes: list[Node]) -> None:
    """Rows and columns: a node sits one row below its lowest source. It continues the column
    of its first source, unless that source already feeds a node there (a branch: the next
    column to the right). A join goes back to the leftmost column of its sources."""
    users: dict[int, int] = {}
    for node in _shortcuts_last(nodes):
        node.level = 1 + max(nodes[s].level for s in node.sources)
        if node.kind in (ADD, CONCAT):
            node.lane = min(nodes[s].lane for s in node.sources)
            continue
        # With several sources (a DenseNet layer reads all earlier ones), the latest is
        # the one it continues; the others are shortcuts.
        first = max(node.sources)
        node.lane = nodes[first].lane + users.get(first, 0)
        users[first] = users.get(first, 0) + 1


def _shortcuts_last(nodes: list[Node]) -> list[Node]:
    """The nodes after the input, a projection shortcut (one layer straight into a sum, as
    ResNet's ``downsample``) moved after its sibling branch so that it gets the right column,
    as in the paper's figure. The nodes keep their indices; only the placing order changes."""
    order = list(range(1, len(nodes)))
    readers: dict[int, list[int]] = {}
    for i in order:
        for s in nodes[i].sources:
            readers.setdefault(s, []).append(i)

    def is_shortcut(i: int) -> bool:
        after = readers.get(i, [])
        return len(after) == 1 and nodes[after[0]].kind == ADD and len(nodes[i].sources) == 1

    for i in list(order):
        if nodes[i].kind == LAYER and is_shortcut(i):
            siblings = [j for j in readers.get(nodes[i].sources[0], []) if j > i]
            if siblings:
                order.remove(i)
                order.insert(order.index(siblings[-1]) + 1, i)
    return [nodes[i] for i in order]


# --------------------------------------------------------------------------- drawing

_COLOURS = {"Conv": "#9ecae1", "Pool": "#fc9272", "Linear": "#a1d99b", "Norm": "#fee391",
            "input": "#d9d9d9"}
BOX_W, BOX_H, LANE_W, ROW_H = 1.55, 0.56, 1.72, 0.74  # inches
JOIN_R = 0.13
RAIL_GAP = 0.09  # between the vertical lines of shortcuts


def _is_skip(d: Diagram, s: int, t: int, rows: int | None = None) -> bool:
    """An edge that jumps over boxes in its own column: drawn around them, on the right."""
    a, b = d.nodes[s], d.nodes[t]
    same_column = rows is None or a.level // rows == b.level // rows
    if a.lane != b.lane or b.level - a.level < 2 or not same_column:
        return False
    # only when a box really stands in the way (Inception's 1x1 branch goes straight down)
    return any(n.lane == a.lane and a.level < n.level < b.level for n in d.nodes)


def _rails(d: Diagram) -> dict[int, int]:
    """Each node that starts a shortcut gets its own vertical line (0 nearest the boxes)."""
    starts = sorted({s for s, t in d.edges if _is_skip(d, s, t)})
    return {s: k for k, s in enumerate(starts)}


def _half(node: Node) -> tuple[float, float]:
    """Half width and half height of what is drawn for ``node``."""
    if node.kind in (ADD, CONCAT):
        return JOIN_R, JOIN_R
    return BOX_W / 2, BOX_H / 2


def _edge_path(d: Diagram, s: int, t: int, centre, rows: int, rail_of):
    """The line of an arrow: straight down in a column; around the boxes for a shortcut;
    across then down for a branch; down then across into a join in another column."""
    from matplotlib.path import Path

    a, b = d.nodes[s], d.nodes[t]
    (xa, ya), (xb, yb) = centre(a), centre(b)
    (wa, ha), (wb, hb) = _half(a), _half(b)
    if _is_skip(d, s, t, rows):
        x = xa - wa + BOX_W + 0.12 + RAIL_GAP * rail_of.get(s, 0)
        points = [(xa + wa, ya), (x, ya), (x, yb), (xb + wb, yb)]
    elif a.level // rows != b.level // rows:  # on to the next column of a wrapped picture
        # up the left edge of the new column (never between its streams), then across
        below, above, gap = ya - ha - 0.1, yb + hb + 0.1, xb - wb - 0.1 - b.lane * LANE_W
        points = [(xa, ya - ha), (xa, below), (gap, below), (gap, above), (xb, above),
                  (xb, yb + hb)]
    elif a.lane == b.lane:
        points = [(xa, ya - ha), (xb, yb + hb)]
    elif b.kind in (ADD, CONCAT):  # down to the join's row, then across into it
        points = [(xa, ya - ha), (xa, yb), (xb + (wb if xa > xb else -wb), yb)]
    else:  # a branch: across under the source, then down to the box
        y = ya - ha - 0.08
        points = [(xa, ya - ha), (xa, y), (xb, y), (xb, yb + hb)]
    return Path(points, [Path.MOVETO] + [Path.LINETO] * (len(points) - 1))


def _colour(node: Node) -> str:
    for key, colour in _COLOURS.items():
        if key in node.type:
            return colour
    return "#e5e5e5"


def _draw(d: Diagram, ax, title, rows):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    levels = max(n.level for n in d.nodes) + 1
    lanes = max(n.lane for n in d.nodes) + 1
    rows = rows or levels
    columns = -(-levels // rows)
    rails = max(_rails(d).values(), default=-1) + 1
    block_w = lanes * LANE_W + RAIL_GAP * rails + 0.2  # one wrapped column

    def centre(node: Node) -> tuple[float, float]:
        col, row = divmod(node.level, rows)
        return col * block_w + node.lane * LANE_W + LANE_W / 2, -row * ROW_H

    width, height = columns * block_w, rows * ROW_H + (0.35 if title else 0.05)
    scale = min(1.0, 7.5 / width)  # the book's column is 7.5 inches wide
    if ax is None:
        fig, ax = plt.subplots(figsize=(width * scale, height * scale), layout="constrained")
    else:
        fig = ax.figure
    font = max(6.0, 9 * scale)

    for node in d.nodes:
        x, y = centre(node)
        if node.kind in (ADD, CONCAT):
            ax.add_patch(Circle((x, y), JOIN_R, fc="white", ec="black", lw=1, zorder=3))
            ax.text(x, y, node.label, ha="center", va="center", fontsize=font, zorder=4)
            continue
        # A grouped conv (AlexNet's two GPUs) is drawn as a stack of ``groups`` cards,
        # one per stream, each holding its share of the channels.
        for p in reversed(range(node.groups)):
            ax.add_patch(FancyBboxPatch((x - BOX_W / 2 + 0.07 * p, y - BOX_H / 2 + 0.07 * p),
                                        BOX_W, BOX_H,
                                        boxstyle="round,pad=0,rounding_size=0.05",
                                        fc=_colour(node), ec="black", lw=0.8, zorder=2))
        ax.text(x, y, node.label, ha="center", va="center", fontsize=font, zorder=4,
                linespacing=1.1)

    rail_of = _rails(d)
    for s, t in d.edges:
        ax.add_patch(FancyArrowPatch(path=_edge_path(d, s, t, centre, rows, rail_of),
                                     arrowstyle="-|>", mutation_scale=8, lw=0.8,
                                     color="#444444", shrinkA=0, shrinkB=0))

    ax.set_xlim(0, width)
    ax.set_ylim(-(rows - 1) * ROW_H - BOX_H, BOX_H)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=max(9.0, 10 * scale))
    return fig


def draw_architecture(model: nn.Module, input_size, *, hide: Iterable[str] = (),
                      collapse: Iterable[str] = (), labels: str | dict = "modules",
                      streams: int = 1, title: str | None = None, rows: int | None = None,
                      ax=None):
    """Draw ``model``'s architecture (see :func:`diagram`) and return the figure.

    ``rows`` wraps a long network into side-by-side columns of at most that many rows. The
    figure is at most 7.5 inches wide (the book's column).
    """
    d = diagram(model, input_size, hide=hide, collapse=collapse, labels=labels, streams=streams)
    return d.draw(ax, title=title, rows=rows)
