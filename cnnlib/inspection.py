"""Looking inside a model with forward hooks: the one hook walker, ``summary`` and parameter counts.

Taught in chapter 1 ("Designing conv layers") and used by the architecture chapters, the
activation-memory measurements (``cnnlib.memory``) and ``cnnlib.viz``. A *forward hook* is a
function PyTorch calls every time a module runs; with one on every module we can follow a real
forward pass layer by layer without changing the model's code.

- ``watch``: the hook walker. Within a ``with`` block it calls your functions as each module is
  entered and as it returns, and always removes its hooks afterwards. Everything below uses it.
- ``record_outputs``: the latest output of each named layer, kept in a dict.
- ``evaluating``: eval mode for a block, each module's own training flag restored afterwards.
- ``count_params``, ``count_trainable``: the number of parameters, of all or of those that
  training changes.
- ``summary``: a per-layer table (output shape, parameters) of any ``nn.Module``, measured with a
  real forward pass, not guessed from the layer list. ``strict=True`` also checks the course
  notes' rule that "all layers tile up properly" (``cnnlib.shapes.tiling_problem``).

Shapes in a ``Summary`` leave out the batch dimension, e.g. ``(96, 55, 55)``.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .shapes import tiling_problem
from .tables import html_table, text_table

__all__ = [
    "ForwardError",
    "Summary",
    "SummaryRow",
    "UnknownLayerError",
    "count_params",
    "count_trainable",
    "evaluating",
    "leaf_names",
    "record_outputs",
    "summary",
    "watch",
]


# --------------------------------------------------------------------------- the hook walker


class UnknownLayerError(KeyError, ValueError):
    """A layer name that the model does not have (a ``KeyError`` too, as dict look-ups raise)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


def leaf_names(model: nn.Module) -> list[str]:
    """Names of the modules that have no children (the layers that do the computing), in order."""
    return [name for name, module in model.named_modules() if next(module.children(), None) is None]


def _modules_named(model: nn.Module, names: Iterable[str] | None) -> dict[str, nn.Module]:
    """``{name: module}`` for ``names`` (every module, the model itself as ``''``, if None)."""
    modules = dict(model.named_modules())
    if names is None:
        return modules
    if isinstance(names, str):  # list("conv1") would be five one-letter names
        raise UnknownLayerError(f"layers must be a list of names, e.g. [{names!r}], not the string {names!r}")
    names = list(names)
    missing = [name for name in names if name not in modules]
    if missing:
        raise UnknownLayerError(f"the model has no layer named {missing[0]!r}; pick one of {list(modules)[1:]}")
    return {name: modules[name] for name in names}


@contextmanager
def watch(model: nn.Module, *, before: Callable | None = None, after: Callable | None = None,
          layers: Iterable[str] | None = None):
    """Within the block, follow every forward pass of ``model`` layer by layer.

    ``before(name, module, args, kwargs)`` is called as each module is entered and
    ``after(name, module, output)`` as it returns; ``layers`` names the modules to watch
    (default: all of them, the model itself as ``''``). A module that is called twice is seen
    twice. The hooks are removed when the block ends, also after an error.
    """
    handles = []
    try:
        for name, module in _modules_named(model, layers).items():
            if before is not None:
                handles.append(module.register_forward_pre_hook(
                    lambda m, args, kwargs, name=name: before(name, m, args, kwargs), with_kwargs=True))
            if after is not None:
                handles.append(module.register_forward_hook(
                    lambda m, args, output, name=name: after(name, m, output)))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def record_outputs(model: nn.Module, layers: Iterable[str]):
    """Within the block, ``store[name]`` holds the latest output of each named layer.

    Each output is detached and *copied*: a later in-place layer (``nn.ReLU(inplace=True)``, as in
    torchvision's models) would otherwise overwrite what was recorded.
    """
    store: dict[str, Any] = {}

    def keep(name, module, output):
        store[name] = output.detach().clone() if isinstance(output, torch.Tensor) else output

    with watch(model, after=keep, layers=layers):
        yield store


@contextmanager
def evaluating(model: nn.Module):
    """Eval mode within the block (no dropout; batch norm uses, and does not update, its running
    statistics). Afterwards each module gets back its own training flag, even a mix of both."""
    training = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, flag in training.items():
            module.training = flag


def count_params(model: nn.Module) -> int:
    """Number of parameters of ``model`` (a parameter shared by two layers counts once).

    >>> count_params(nn.Conv2d(3, 96, 11))   # 96 * (11*11*3) weights + 96 biases
    34944
    """
    return sum(p.numel() for p in model.parameters())


def count_trainable(model: nn.Module) -> int:
    """Number of parameters that training will change (``requires_grad``; shared ones once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- summary


class ForwardError(RuntimeError):
    """The forward pass inside ``summary`` failed; the message names the layer.

    ``.layer`` is the dotted module name (``''`` for the model itself), ``.layer_type`` its
    class name and ``.input_shape`` the shape(s) it received, batch dimension included. The
    original error is chained as ``__cause__``.
    """

    def __init__(self, message: str, layer: str, layer_type: str, input_shape):
        super().__init__(message)
        self.layer, self.layer_type, self.input_shape = layer, layer_type, input_shape


@dataclass(frozen=True)
class SummaryRow:
    """One call of a layer: ``name`` (dotted module path, ``''`` for the model itself),
    ``type`` (class name), ``output_shape`` (without the batch dimension; a tuple of shapes
    for a layer returning several tensors, ``None`` for one returning no tensor), ``params``
    (parameters that no earlier row counted, of the module itself or of a child module it uses
    without calling it) and ``call`` (1, or 2, 3, ... when the same module is called again)."""

    name: str
    type: str
    output_shape: Any
    params: int
    call: int = 1


@dataclass(frozen=True, repr=False)
class Summary:
    """What ``summary`` returns: ``.rows`` (one ``SummaryRow`` per layer call, in the order
    the layers were entered), ``.total_params``, ``.trainable_params``, ``.input_size`` and
    ``.output_shape`` (the model's output, without the batch dimension).

    ``print(s)`` gives a fixed-width table; Jupyter shows an HTML table.
    """

    rows: tuple
    input_size: Any
    output_shape: Any
    total_params: int
    trainable_params: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    _COLUMNS = ("Layer", "Type", "Output shape", "Param #")

    def _cells(self) -> list[list[str]]:
        cells = []
        for row in self.rows:
            name = row.name or "(model)"
            if row.call > 1:
                name += f" (call {row.call})"
            cells.append([name, row.type, _shape_text(row.output_shape), f"{row.params:,}"])
        return cells

    def _footer(self) -> list[str]:
        lines = [
            f"Input size: {_shape_text(self.input_size)} (shapes leave out the batch dimension)",
            f"Output shape: {_shape_text(self.output_shape)}",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
        ]
        unused = self.total_params - sum(row.params for row in self.rows)
        if unused:
            lines.append(f"Params of modules the forward pass never called: {unused:,}")
        return lines

    def __str__(self) -> str:
        return text_table(self._COLUMNS, self._cells(), right=[3], footer=self._footer())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return html_table(self._COLUMNS, self._cells(), right=[3], footer=self._footer())


def _shape_of(output, batch_dim: int | None = 0):
    """Shape without the batch dimension (``batch_dim=None``: with it); nested for several tensors."""
    if isinstance(output, torch.Tensor):
        shape = tuple(output.shape)
        return shape if batch_dim is None or output.dim() <= batch_dim else shape[:batch_dim] + shape[batch_dim + 1:]
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o, batch_dim) for o in output)
    if isinstance(output, dict):
        return {k: _shape_of(v, batch_dim) for k, v in output.items()}
    return None


def _output_shape(module: nn.Module, output):
    """What a row shows: the output's shape without the batch dimension.

    Recurrent layers (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) return ``(sequence, hidden)``, and
    their hidden state (``h``, or ``(h, c)`` for an LSTM) is ``(layers * directions, batch,
    hidden)``: its batch dimension is the *second*, so the layer dimension stays.
    """
    if isinstance(module, nn.RNNBase) and isinstance(output, tuple) and len(output) == 2:
        sequence, hidden = output
        return (_shape_of(sequence), _shape_of(hidden, batch_dim=1))
    return _shape_of(output)


def _shape_text(shape) -> str:
    if shape is None:
        return "-"
    if isinstance(shape, list):  # several input sizes
        return ", ".join(_shape_text(s) for s in shape)
    return repr(shape)


def _input_shapes(args, kwargs):
    """Full shapes (batch included) of the tensors a module received, for error messages."""
    shapes = [tuple(a.shape) for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
    return shapes[0] if len(shapes) == 1 else tuple(shapes)


def _label(name: str, module: nn.Module) -> str:
    return f"layer {name!r} ({type(module).__name__})" if name else f"the model ({type(module).__name__})"


class _NotTiling(Exception):
    """Raised inside the forward pass by strict mode; turned into a ValueError outside it."""


class _ParameterUse(TorchFunctionMode):
    """Sees every torch function the forward pass calls and reports the parameters passed to it.

    That is how ``summary`` finds parameters used *functionally*: ``nn.MultiheadAttention`` never
    calls its child ``out_proj``, it passes ``out_proj.weight`` to
    ``F.multi_head_attention_forward`` itself, so no hook on ``out_proj`` ever fires.
    """

    def __init__(self, on_use: Callable[[torch.Tensor], None]):
        super().__init__()
        self.on_use = on_use

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for value in (*args, *kwargs.values()):
            for item in value if isinstance(value, (tuple, list)) else (value,):
                if isinstance(item, nn.Parameter):
                    self.on_use(item)
        return func(*args, **kwargs)


def _normalise_input_size(input_size):
    """``(3, 32, 32)`` -> ``[(3, 32, 32)]``, a list of sizes stays a list; and whether it was one."""
    if isinstance(input_size, int):
        input_size = (input_size,)
    several = len(input_size) > 0 and all(isinstance(s, (tuple, list, torch.Size)) for s in input_size)
    sizes = [tuple(s) for s in input_size] if several else [tuple(input_size)]
    for size in sizes:
        for v in size:
            if isinstance(v, bool) or not hasattr(v, "__index__") or operator.index(v) < 1:
                raise ValueError(f"input_size entries must be positive ints, got {input_size!r}; "
                                 "leave out the batch dimension, e.g. (3, 32, 32)")
    return [tuple(int(v) for v in s) for s in sizes], several


def _random_inputs(sizes, batch_size, dtype, device) -> list[torch.Tensor]:
    # Our own generator: a summary should not change the user's random stream.
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn((batch_size, *s), generator=generator, dtype=dtype) if dtype.is_floating_point
         else torch.zeros((batch_size, *s), dtype=dtype)).to(device)
        for s in sizes
    ]


def summary(
    model: nn.Module,
    input_size,
    *,
    strict: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    batch_size: int = 1,
) -> Summary:
    """Per-layer output shapes and parameter counts of ``model``, from a real forward pass.

    ``input_size`` leaves out the batch dimension, e.g. ``(3, 224, 224)``; give a list of
    sizes for a model that takes several inputs (recurrent layers: ``batch_first=True``). A
    batch of ``batch_size`` random inputs of ``dtype`` is made on ``device`` (default: where
    the model's parameters are, the "meta" device included; the model is not moved) and passed
    through the model in eval mode under ``torch.no_grad()``. Each module's own training flag is
    restored afterwards, and the hooks are always removed.

    There is one row per call of a leaf module (or of a module that owns parameters itself),
    so a module called twice appears twice. Each parameter is counted once, in the first row
    that uses it: the row of the module that owns it, or of the module that passes it to a
    function without calling its owner (``nn.MultiheadAttention`` and its ``out_proj``). So the
    rows add up to ``total_params`` unless some parameters are never used; the footer says how
    many.

    If the forward pass fails, a ``ForwardError`` names the layer that failed, its type and
    the input shape it received, chained from the original error. With ``strict=True`` a
    ``ValueError`` names the first conv or pooling layer whose window does not tile its input
    (``cnnlib.shapes.tiling_problem``); a pooling layer with ``ceil_mode=True`` that has to round
    up counts as not tiling too, since its last window hangs over the edge.
    """
    sizes, several = _normalise_input_size(input_size)
    if device is None:
        first = next(iter(list(model.parameters()) + list(model.buffers())), None)
        device = first.device if first is not None else torch.device("cpu")
    inputs = _random_inputs(sizes, batch_size, dtype, device)

    rows: list[dict] = []
    active: list[tuple[str, nn.Module, Any, dict | None]] = []  # modules entered, not yet left
    last_left: list = [None]  # the most recent row-module to finish, for errors between layers
    calls: dict[int, int] = {}
    counted: set[int] = set()  # ids of parameters already counted in a row

    def owns_a_row(module):
        has_children = next(module.children(), None) is not None
        return not has_children or next(module.parameters(recurse=False), None) is not None

    def count(row, params):
        """Add the parameters no earlier row counted to ``row``."""
        new = [p for p in params if id(p) not in counted]
        counted.update(id(p) for p in new)
        row["params"] += sum(p.numel() for p in new)

    def entered(name, module, args, kwargs):
        row = None
        if strict and isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d,
                                          nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
            if args and isinstance(args[0], torch.Tensor):
                problem = tiling_problem(name, module, args[0])
                if problem:
                    raise _NotTiling(problem)
        if owns_a_row(module):
            calls[id(module)] = calls.get(id(module), 0) + 1
            row = {"name": name, "type": type(module).__name__, "output_shape": None, "params": 0,
                   "call": calls[id(module)]}
            count(row, module.parameters(recurse=False))
            rows.append(row)
        active.append((name, module, _input_shapes(args, kwargs), row))

    def left(name, module, output):
        # Pop down to this module's entry (a child that failed inside a try/except stays behind).
        while active and active[-1][1] is not module:
            active.pop()
        if active:
            entry = active.pop()
            if entry[3] is not None:
                entry[3]["output_shape"] = _output_shape(module, output)
                last_left[0] = (name, module, _shape_of(output, batch_dim=None))

    def used(parameter):
        """A parameter passed to a torch function: it belongs to the innermost open row."""
        if id(parameter) in counted:
            return
        open_rows = [entry[3] for entry in active if entry[3] is not None]
        if open_rows:
            count(open_rows[-1], [parameter])

    with evaluating(model), watch(model, before=entered, after=left), torch.no_grad():
        try:
            with _ParameterUse(used):
                output = model(*inputs)
        except _NotTiling as problem:
            raise ValueError(str(problem)) from None
        except Exception as err:
            if not active:
                raise
            name, module, shape, row = active[-1]
            message = f"the forward pass failed in {_label(name, module)} on its input of shape {shape}"
            has_children = next(module.children(), None) is not None
            if has_children and last_left[0] is not None:  # failed in a container's own code
                done_name, done_module, done_shape = last_left[0]
                message += f", after {_label(done_name, done_module)} returned shape {done_shape}"
            message += f" (batch dimension included): {type(err).__name__}: {err}"
            raise ForwardError(message, name, type(module).__name__, shape) from err

    return Summary(
        rows=tuple(SummaryRow(**row) for row in rows),
        input_size=sizes if several else sizes[0],
        output_shape=_output_shape(model, output),
        total_params=count_params(model),
        trainable_params=count_trainable(model),
    )
