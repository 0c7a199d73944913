"""Conv arithmetic and receptive fields (taught in chapter 1, "Designing conv layers"; used by
the architectures chapters). Pencil-and-paper tools; ``cnnlib.inspection.summary`` applies them
to a real model.

- ``conv_output_size`` and ``tiles``: the output size of one conv or pooling layer,
  ``floor((size + 2P - dilation*(F-1) - 1) / S) + 1`` exactly as PyTorch computes it, and
  whether the window *tiles* the padded input (nothing is dropped at the far edge).
- ``receptive_field``: how many input pixels one output unit of a stack of layers sees,
  with the standard recurrence ``r_out = r_in + (k_eff-1)*j_in``, ``j_out = j_in*s``.
- ``tiling_problem``: why one layer does not tile the input it receives, in words (what
  ``summary(..., strict=True)`` reports for the course notes' rule that "all layers tile up
  properly").
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from collections.abc import Iterator, Sequence
from typing import Any, Union

import torch
from torch import nn

from .tables import html_table, text_table

__all__ = [
    "ReceptiveField",
    "ReceptiveFieldRow",
    "conv_output_size",
    "receptive_field",
    "tiles",
    "tiling_problem",
]

IntOrTuple = Union[int, "tuple[int, ...]"]

# The layers whose window slides over the input. Adaptive pools pick their own window
# from the output size they are asked for, so "tiling" means nothing for them.
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_SPATIAL_DIMS = {
    nn.Conv1d: 1, nn.MaxPool1d: 1, nn.AvgPool1d: 1,
    nn.Conv2d: 2, nn.MaxPool2d: 2, nn.AvgPool2d: 2,
    nn.Conv3d: 3, nn.MaxPool3d: 3, nn.AvgPool3d: 3,
}
# What the spatial dimensions are called, and what one step along each is called.
_DIM_NAMES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
_UNIT_NAMES = {"length": "position", "height": "row", "width": "column", "depth": "slice"}


# --------------------------------------------------------------------------- conv arithmetic


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):  # True is an int in Python, but never a sensible size
        raise TypeError(f"{what} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int or a tuple of ints, got {value!r}") from None


def _per_dim(size, kernel, stride, padding, dilation) -> list[tuple[int, int, int, int, int]]:
    """Check the five arguments and return one ``(size, kernel, stride, padding, dilation)``
    per spatial dimension. Ints are repeated to match the tuples; tuples must agree in length."""
    args = {"size": size, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
    lengths = {len(v) for v in args.values() if isinstance(v, (tuple, list, torch.Size))}
    if len(lengths) > 1:
        given = ", ".join(f"{k}={v!r}" for k, v in args.items() if isinstance(v, (tuple, list, torch.Size)))
        raise ValueError(f"the tuples must have one entry per dimension, but their lengths differ: {given}")
    n_dims = lengths.pop() if lengths else 1
    columns = {}
    for name, value in args.items():
        values = tuple(value) if isinstance(value, (tuple, list, torch.Size)) else (value,) * n_dims
        columns[name] = [_as_int(v, name) for v in values]
    lowest = {"size": 1, "kernel": 1, "stride": 1, "padding": 0, "dilation": 1}
    for name, values in columns.items():
        for v in values:
            if v < lowest[name]:
                raise ValueError(f"{name} must be at least {lowest[name]}, got {args[name]!r}")
    return list(zip(*columns.values()))


def _span(kernel: int, dilation: int) -> int:
    """How many input pixels one window covers: a dilated kernel has gaps of dilation-1."""
    return dilation * (kernel - 1) + 1


def _output_size_1d(size, kernel, stride, padding, dilation, ceil_mode) -> int:
    span, padded = _span(kernel, dilation), size + 2 * padding
    if ceil_mode:
        out = (padded - span + stride - 1) // stride + 1  # rounds up
        # PyTorch's rule: the last window must start inside the input (or its left padding).
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = (padded - span) // stride + 1
    if out < 1:
        kernel_text = f"kernel {kernel}" + (f" with dilation {dilation}" if dilation > 1 else "")
        raise ValueError(
            f"the window does not fit: {kernel_text} spans {span} pixels, but the padded input has "
            f"only {padded} (size {size} + 2*padding {padding}), so the output would be empty. "
            "Use a smaller kernel (or dilation), more padding, or a larger input."
        )
    return out


def conv_output_size(
    size: IntOrTuple,
    kernel: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    *,
    ceil_mode: bool = False,
) -> IntOrTuple:
    """Output size of a conv or pooling layer along one dimension (or several).

    ``floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1``, the formula of
    ``nn.Conv2d`` and ``nn.MaxPool2d``. ``ceil_mode=True`` rounds up instead, as pooling
    layers with ``ceil_mode=True`` do (their last window may then hang over the edge, as
    long as it starts inside the input or its left padding). Any argument may be a tuple (one entry per dimension);
    the answer is then a tuple too. Raises ``ValueError`` if the window does not fit.

    >>> conv_output_size(227, kernel=11, stride=4)   # AlexNet's first layer
    55
    >>> conv_output_size((224, 160), kernel=3, stride=2, padding=1)
    (112, 80)
    """
    dims = _per_dim(size, kernel, stride, padding, dilation)
    sizes = tuple(_output_size_1d(*d, ceil_mode) for d in dims)
    tuple_given = any(isinstance(v, (tuple, list, torch.Size)) for v in (size, kernel, stride, padding, dilation))
    return sizes if tuple_given else sizes[0]


def tiles(
    size: IntOrTuple,
    kernel: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> bool:
    """Does the window tile the padded input exactly, with nothing dropped at the far edge?

    True when ``size + 2*padding - dilation*(kernel-1) - 1`` is divisible by ``stride``, i.e.
    when ``conv_output_size`` has nothing to round. With tuples, True only if every
    dimension tiles. Raises ``ValueError`` like ``conv_output_size`` if the window does not fit.

    >>> tiles(227, 11, stride=4), tiles(224, 11, stride=4, padding=2)
    (True, False)
    """
    dims = _per_dim(size, kernel, stride, padding, dilation)
    for d in dims:
        _output_size_1d(*d, ceil_mode=False)  # raises if the window does not fit
    return all((s + 2 * p - _span(k, dl)) % st == 0 for s, k, st, p, dl in dims)


# --------------------------------------------------------------------------- receptive fields


def _one_or_tuple(values: Sequence):
    """``(3, 3)`` -> ``3``: square layers read better as one number."""
    values = tuple(values)
    return values[0] if all(v == values[0] for v in values) else values


def _number(x: float) -> str:
    """``2.0`` -> ``'2'``, ``27.25`` -> ``'27.25'``, ``27.333..`` -> ``'27.33'``."""
    return f"{x + 0.0:.2f}".rstrip("0").rstrip(".")  # + 0.0 turns -0.0 into 0.0


@dataclass(frozen=True)
class ReceptiveFieldRow:
    """One layer of a ``ReceptiveField`` table; ``r``, ``j`` and ``start`` are after this layer.

    ``r``: receptive field (input pixels one output unit sees); ``j``: jump (input pixels
    between neighbouring output units, the product of the strides so far); ``start``: centre
    of the first output unit's receptive field, in input pixels (pixel 0's centre is 0;
    negative means it lies in the padding). Values are ints (floats for ``start``), or tuples
    with one entry per dimension when the layers are not square.
    """

    name: str
    type: str
    kernel: IntOrTuple
    stride: IntOrTuple
    padding: Any
    dilation: IntOrTuple
    r: IntOrTuple
    j: IntOrTuple
    start: Any


class ReceptiveField:
    """The receptive field of a stack of layers, layer by layer (see ``receptive_field``).

    ``.rows`` lists the layers; ``.size``, ``.jump`` and ``.start`` are the values after the
    last layer. Iterating gives the rows. Prints as a text table; renders as HTML in Jupyter.
    """

    _COLUMNS = ("layer", "type", "kernel", "stride", "padding", "dilation", "r", "j", "start")

    def __init__(self, rows: list[ReceptiveFieldRow]):
        self.rows = list(rows)

    @property
    def size(self) -> IntOrTuple:
        return self.rows[-1].r if self.rows else 1

    @property
    def jump(self) -> IntOrTuple:
        return self.rows[-1].j if self.rows else 1

    @property
    def start(self):
        return self.rows[-1].start if self.rows else 0.0

    def __iter__(self) -> Iterator[ReceptiveFieldRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def _cells(self) -> list[list[str]]:
        def fmt(v):
            if isinstance(v, float):
                return _number(v)
            if isinstance(v, tuple):
                return "(" + ", ".join(fmt(x) for x in v) + ")"
            return str(v)

        cells = [["input", "", "", "", "", "", "1", "1", "0"]]
        for row in self.rows:
            cells.append([row.name, row.type] + [fmt(getattr(row, c)) for c in self._COLUMNS[2:]])
        return cells

    def __str__(self) -> str:
        return text_table(self._COLUMNS, self._cells(), right=range(2, 9), footer=[f"Receptive field: {self.size}"])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return html_table(self._COLUMNS, self._cells(), right=range(2, 9), footer=[f"Receptive field: {self.size}"])


def _module_layer(module: nn.Module) -> tuple[int, tuple, tuple, tuple, tuple]:
    """``(n_dims, kernel, stride, padding, dilation)`` of a conv or pooling module, each a
    tuple with one entry per spatial dimension; padding may be the string ``'same'``."""
    n = next(d for cls, d in _SPATIAL_DIMS.items() if isinstance(module, cls))

    def per_dim(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n

    padding = module.padding
    if padding == "valid":
        padding = 0
    padding = padding if padding == "same" else per_dim(padding)
    dilation = getattr(module, "dilation", 1)  # average pools have none
    return n, per_dim(module.kernel_size), per_dim(module.stride), padding, per_dim(dilation)


def _layers_of(layers) -> list[tuple[str, str, tuple, tuple, Any, tuple]]:
    """``(name, type, kernel, stride, padding, dilation)`` for each layer, per-dim tuples."""
    if isinstance(layers, nn.Module):
        found = []
        for name, module in layers.named_modules():
            if isinstance(module, nn.modules.conv._ConvTransposeNd):
                raise ValueError(f"layer {name!r} ({type(module).__name__}): receptive_field does not handle "
                                 "transposed convolutions")
            if isinstance(module, _CONVS + _POOLS):
                _, kernel, stride, padding, dilation = _module_layer(module)
                found.append((name, type(module).__name__, kernel, stride, padding, dilation))
        if not found:
            raise ValueError(f"{type(layers).__name__} has no conv or pooling layers")
        return found
    found = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or not 2 <= len(layer) <= 4:
            raise ValueError(f"layer {i}: expected (kernel, stride[, padding[, dilation]]), got {layer!r}")
        kernel, stride, padding, dilation = tuple(layer) + (0, 1)[len(layer) - 2:]  # defaults P=0, d=1
        dims = _per_dim(1, kernel, stride, padding, dilation)  # size 1 is a placeholder
        _, k, s, p, d = zip(*dims)
        found.append((str(i), "", k, s, p, d))
    return found


def receptive_field(layers) -> ReceptiveField:
    """Receptive field, jump and start of each layer of a stack.

    ``layers`` is a list of ``(kernel, stride[, padding[, dilation]])`` tuples (entries may
    themselves be per-dimension tuples), or an ``nn.Module`` whose conv and pooling layers
    (``nn.Conv*d``, ``nn.MaxPool*d``, ``nn.AvgPool*d``) are taken in the order ``modules()``
    lists them. That is the forward order of a plain stack such as ``nn.Sequential``; for a
    network with branches (ResNet's shortcuts, Inception) it is not a chain and the numbers
    do not mean much. Activations, norms, adaptive pools and linear layers are skipped.

    Per layer, with ``k_eff = dilation*(kernel-1) + 1`` and starting from ``r = j = 1``,
    ``start = 0``::

        r     = r_in + (k_eff - 1) * j_in
        start = start_in + ((k_eff - 1)/2 - padding) * j_in
        j     = j_in * stride

    >>> receptive_field([(3, 1), (3, 1), (3, 1)]).size   # n stacked 3x3 convs see 2n+1
    7
    """
    found = _layers_of(layers)
    lengths = {len(v) for layer in found for v in layer[2:] if v != "same"} - {1}
    if len(lengths) > 1:
        raise ValueError(f"the layers disagree on the number of dimensions: {sorted(lengths)}")
    n_dims = lengths.pop() if lengths else 1
    r, j, start = [1] * n_dims, [1] * n_dims, [0.0] * n_dims

    def dim(values, i):  # a one-entry tuple stands for every dimension
        return values[i] if len(values) > 1 else values[0]

    rows = []
    for name, type_name, kernel, stride, padding, dilation in found:
        for i in range(n_dims):
            k, s, d = dim(kernel, i), dim(stride, i), dim(dilation, i)
            span = _span(k, d)
            # 'same' pads d*(k-1) in total; PyTorch puts the smaller half on the left.
            left = (d * (k - 1)) // 2 if padding == "same" else dim(padding, i)
            r[i] = r[i] + (span - 1) * j[i]
            start[i] = start[i] + ((span - 1) / 2 - left) * j[i]
            j[i] = j[i] * s
        rows.append(ReceptiveFieldRow(
            name=name, type=type_name, kernel=_one_or_tuple(kernel), stride=_one_or_tuple(stride),
            padding=padding if padding == "same" else _one_or_tuple(padding),
            dilation=_one_or_tuple(dilation), r=_one_or_tuple(r), j=_one_or_tuple(j), start=_one_or_tuple(start),
        ))
    return ReceptiveField(rows)


# --------------------------------------------------------------------------- tiling


def tiling_problem(name: str, module: nn.Module, x: torch.Tensor) -> str | None:
    """Why conv or pooling layer ``module`` (called ``name``) does not tile its input ``x`` (batch
    dimension included), as a sentence that says what to change; None if it does (or cannot tell)."""
    n, kernel, stride, padding, dilation = _module_layer(module)
    if padding == "same" or x.dim() < n:  # 'same' means stride 1: always tiles
        return None
    ceil_mode = getattr(module, "ceil_mode", False)
    for dim_name, size, k, s, p, d in zip(_DIM_NAMES[n], x.shape[-n:], kernel, stride, padding, dilation):
        span, padded = _span(k, d), size + 2 * p
        if span <= padded and (padded - span) % s == 0:  # tiles
            continue
        try:
            out = conv_output_size(size, k, s, p, d, ceil_mode=ceil_mode)
        except ValueError:
            return None  # the window does not fit at all: the forward pass will say so
        settings = f"kernel {k}, stride {s}, padding {p}" + (f", dilation {d}" if d > 1 else "")
        exact = (padded - span) / s + 1
        sum_text = f"({size} + 2*{p} - {span}) / {s} + 1 = {_number(exact)}"
        if d > 1:
            sum_text += f" (the dilated kernel spans {span})"
        covered = (out - 1) * s + span
        unit = _UNIT_NAMES[dim_name]

        def count(m, unit=unit):
            return f"{m} {unit}" + ("s" if m != 1 else "")

        if covered > padded:  # ceil_mode: nothing dropped, but the last window hangs over
            consequence = (f"so with ceil_mode=True the last window hangs {count(covered - padded)} "
                           "over the edge of the padded input")
        else:
            consequence = f"so {count(padded - covered)} of the padded input " + (
                "is" if padded - covered == 1 else "are") + " dropped"
        return (f"layer {name!r} ({type(module).__name__}, {settings}) does not tile its input of {dim_name} "
                f"{size}: {sum_text}, {consequence}. Change the padding, the stride or the input size.")
    return None

