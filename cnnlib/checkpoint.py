"""Checkpoints that know what they are: the settings of the run are saved with its weights.

A checkpoint is reused only by a call with the same settings. Why so strict? A student who
edits a learning rate in a chapter and reruns the cell must not get the old run's result
labelled with the new settings. So :func:`load_checkpoint` compares the settings saved in the
file with those of the call and, when they differ, stops with a
:class:`CheckpointMismatchError` that lists every difference and the two ways out: delete the
file (train afresh) or pass another checkpoint path (keep both runs). A file that is not a
checkpoint of this kind at all (truncated, empty, text, an optimizer's state, a data-cache
file, one written by another version of cnnlib) is a :class:`CheckpointError` naming the file.

A checkpoint holds two dicts of plain values: ``settings``, what the run computes (compared),
and ``recorded``, where it ran (device, precision, ...: kept, not compared, so a run may be
resumed on another machine). The settings describe the model with :func:`model_fingerprint`
(every module, its settings and its code), the data with :func:`data_fingerprint` (a hash of
every image and label), and objects such as an augmentation or an optimizer factory with
:func:`stable_repr` (functions by their code and the values they use). NumPy numbers are
turned into Python numbers (:func:`plain`) before saving, so the file is always readable with
``torch.load(weights_only=True)``. Used by ``fit`` and the adversarial loops of
``cnnlib.adapt``; re-exported by ``cnnlib.train``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import io
import types
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .runtime import atomic_save
from .history import History
from .validation import describe_load_error

FORMAT = "cnnlib-checkpoint"
VERSION = 3  # 3: settings and recorded apart; models, functions and data fingerprinted whole
CONTENTS = ("settings", "recorded", "state", "history", "progress", "finished")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, or not a checkpoint of this kind."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint saved by a run with other settings than the call that found it."""


# --------------------------------------------------------------------------------------
# Plain values: what weights-only unpickling reads back

def plain(value):
    """``value`` with every NumPy number turned into a Python number (arrays into lists), in
    nested dicts, lists and tuples too; anything else as it is.

    Why: ``lr`` from ``np.logspace`` is a ``np.float64``, and a checkpoint that holds one
    cannot be read with ``torch.load(weights_only=True)`` (the safe way to read a file).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        converted = [plain(v) for v in value]
        return converted if isinstance(value, list) else tuple(converted)
    return value


def _without_tensors(obj):
    """``obj`` with each tensor replaced by an empty one: its skeleton, cheap to pickle."""
    if isinstance(obj, torch.Tensor):
        return torch.empty(0)
    if isinstance(obj, dict):
        return {k: _without_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_without_tensors(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_without_tensors(v) for v in obj)
    return obj


def check_readable(contents: dict, path) -> None:
    """Raise a TypeError, before anything is written, if ``torch.load(weights_only=True)``
    could not read ``contents`` back (e.g. a setting that is an arbitrary object)."""
    buffer = io.BytesIO()
    try:
        torch.save(_without_tensors(contents), buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception as err:  # PicklingError, UnpicklingError, AttributeError, ...
        first = (str(err).splitlines() or [""])[0][:200]
        raise TypeError(f"the checkpoint {path} would hold a value that torch.load(weights_only="
                        f"True) cannot read back ({first}); settings and history must be plain "
                        "Python values (numbers, strings, lists, dicts) or tensors") from err


# --------------------------------------------------------------------------------------
# Fingerprints: stable descriptions of the model, the data and settings objects

def _digest(*chunks) -> str:
    """A short hash of ``chunks`` (bytes, or anything with the buffer protocol)."""
    h = hashlib.sha1()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:16]


def _tensor_chunks(t: torch.Tensor):
    """Shape and dtype, then the raw bytes of ``t`` (any dtype, any device), for hashing."""
    t = t.detach().contiguous().cpu()
    return f"{tuple(t.shape)}{t.dtype}".encode(), t.reshape(-1).view(torch.uint8).numpy()


def state_digest(state) -> str:
    """A hash of every value in a nested state (dicts, lists, tensors, numbers): which weights
    (and optimizer state, ...) exactly, not only which shapes."""
    h = hashlib.sha1()

    def add(obj):
        if isinstance(obj, torch.Tensor):
            for chunk in _tensor_chunks(obj):
                h.update(chunk)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                h.update(f"{key!r}:".encode())
                add(value)
        elif isinstance(obj, (list, tuple)):
            h.update(b"[")
            for value in obj:
                add(value)
            h.update(b"]")
        else:
            h.update(repr(obj).encode())

    add(state)
    return h.hexdigest()[:16]


def _is_torch(cls: type) -> bool:
    return cls.__module__.split(".")[0] in ("torch", "builtins")


def _same_value(value, default) -> bool:
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # an array-like default, say: not a plain setting
        return False


def _torch_settings(module: nn.Module) -> dict:
    """A torch layer's settings: the arguments of its constructor that it keeps as attributes
    (kernel size, stride, ``eps``, ``momentum``, ``p``, ...), those left at their default left
    out. Not its ``repr`` or all its attributes: both change between torch releases (2.14's
    ``BatchNorm2d`` shows ``bias=True``, 2.11's does not), and a checkpoint or a recorded
    prediction written under one torch must be recognised under another."""
    try:
        arguments = inspect.signature(type(module).__init__).parameters.values()
    except (TypeError, ValueError):  # a constructor written in C: no settings to read
        return {}
    settings = {}
    for argument in arguments:
        name = argument.name
        if (argument.kind in (argument.VAR_POSITIONAL, argument.VAR_KEYWORD)
                or name in ("self", "device", "dtype") or not hasattr(module, name)
                or name in module._parameters or name in module._buffers or name in module._modules):
            continue  # weights (``bias``) and submodules are described on their own
        value = getattr(module, name)
        if argument.default is not argument.empty and _same_value(value, argument.default):
            continue
        settings[name] = stable_repr(value)
    return settings


@functools.lru_cache(maxsize=4096)  # a deep net repeats its blocks: read each method once
def _source_digest(function) -> str:
    """A hash of a function's source, without blank lines, comment lines and indentation: the
    same in every Python release (bytecode is not: 3.11's and 3.13's differ), and an edit of
    the code, not of a comment, is another function. Bytecode when there is no source (code
    made by ``exec``)."""
    try:
        lines = inspect.getsource(function).splitlines()
    except (OSError, TypeError):
        return _code_digest(function.__code__)
    kept = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return _digest("\n".join(kept).encode())


def _module_description(name: str, module: nn.Module) -> str:
    """One module in words: its class, its settings (for torch's layers their constructor's
    arguments, for other classes their public attributes), its own parameters (shape, dtype,
    trainable) and buffers (shape, dtype), and, for classes written outside torch, the source
    of their methods (an edited ``forward`` is another net)."""
    cls = type(module)
    if _is_torch(cls):
        settings = _torch_settings(module)
    else:
        settings = {k: stable_repr(v) for k, v in sorted(vars(module).items())
                    if not k.startswith("_") and k != "training"}
    params = [f"{n}{tuple(p.shape)}{p.dtype}{'' if p.requires_grad else ' frozen'}"
              for n, p in module._parameters.items() if p is not None]
    buffers = [f"{n}{tuple(b.shape)}{b.dtype}" for n, b in module._buffers.items() if b is not None]
    code = [f"{c.__qualname__}.{n}={_source_digest(f)}"
            for c in cls.__mro__ if not _is_torch(c)
            for n, f in sorted(vars(c).items()) if inspect.isfunction(f)]
    return f"{name}:{cls.__module__}.{cls.__qualname__}{settings}{params}{buffers}{code};"


def model_fingerprint(model: nn.Module) -> dict:
    """Which network: its class, a hash of every module's description (class, settings such
    as a dropout rate or a pooling kind, parameter and buffer shapes, what is trainable, the
    code of classes written outside torch), and how many parameters are trainable.

    Not the weights' values: they depend on the random state when the model was built, so
    comparing them would refuse a rerun of the same cell.
    """
    layers = "".join(_module_description(name, module) for name, module in model.named_modules())
    return {"class": type(model).__name__, "layers": _digest(layers.encode()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def data_fingerprint(data) -> dict | None:
    """Which data: ``{"size": n, "hash": ...}``; ``None`` for no data.

    ``data`` is an ``ImageDataset``, a ``DeviceLoader``/``TensorLoader`` or a ``(features,
    labels)`` pair. The hash covers every input and label, the normalisation statistics and,
    for a loader, its order (seed, shuffle, drop_last): an edit of any one image is another
    data set. Hashing 50,000 CIFAR images takes a fraction of a second.
    """
    if data is None:
        return None
    if isinstance(data, (tuple, list)):
        inputs, labels, extra = data[0], data[1], b""
    else:
        inputs = data.features if hasattr(data, "features") else data.images
        labels = data.labels
        # its normalisation (mean, std), when it has one; a loader also its order
        extra = repr(tuple(data.stats)).encode() if hasattr(data, "stats") else b""
        if hasattr(data, "shuffle"):
            extra += repr((data.seed, data.shuffle, data.drop_last)).encode()
    return {"size": len(labels),
            "hash": _digest(*_tensor_chunks(labels), *_tensor_chunks(inputs), extra)}


def _code_digest(code: types.CodeType) -> str:
    """A hash of what a function's code computes: its bytecode, the names it uses and its
    constants (nested functions' code included). Not its file or line: a notebook cell run
    again, or moved, is the same code."""
    consts = []
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            consts.append(_code_digest(const))
        elif isinstance(const, frozenset):  # `x in {"a", "b"}`: its order varies by session
            consts.append(repr(sorted(map(repr, const))))
        else:
            consts.append(repr(const))
    return _digest(code.co_code, repr((code.co_names, code.co_varnames, consts)).encode())


def _globals_used(function, code: types.CodeType) -> list[str]:
    """The module-level numbers and strings ``function`` reads (``lr=LR`` in a notebook):
    they change what it computes as much as its code does."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= set(const.co_names)
    found = getattr(function, "__globals__", {})
    return [f"{name}={found[name]!r}" for name in sorted(names)
            if isinstance(found.get(name), (bool, int, float, str, np.generic))]


def stable_repr(obj, _depth: int = 0) -> str:
    """A description of ``obj`` that is the same in every Python session (no memory addresses).

    For settings that are objects: an augmentation, an optimizer factory such as
    ``layerwise_sgd(...)``, a ``lambda``. A function is described by its name, its code (so an
    edited ``lambda`` body is another setting, while every notebook lambda has the same name),
    the module-level numbers it reads and the values it closes over or binds as defaults, so
    ``layerwise_sgd(model, lr=0.01)`` and ``layerwise_sgd(model, lr=0.1)`` differ. Other
    objects whose ``repr`` shows an address are described by their class and attributes.
    """
    if _depth > 8:  # a cycle of objects: stop describing
        return "..."

    def describe(x):
        return stable_repr(x, _depth + 1)

    if obj is None or isinstance(obj, (bool, int, float, str, np.generic)):
        return repr(plain(obj))
    if isinstance(obj, (tuple, list)):
        return "[" + ", ".join(describe(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{describe(k)}: {describe(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, nn.Module):
        return type(obj).__name__
    if isinstance(obj, torch.Tensor):
        return f"tensor{tuple(obj.shape)}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = ", ".join(f"{f.name}={describe(getattr(obj, f.name))}"
                           for f in dataclasses.fields(obj))
        return f"{type(obj).__name__}({fields})"
    if isinstance(obj, functools.partial):
        return f"partial({describe(obj.func)}, {describe(obj.args)}, {describe(obj.keywords)})"
    code = getattr(obj, "__code__", None)
    if callable(obj) and isinstance(code, types.CodeType):
        cells = getattr(obj, "__closure__", None) or ()
        used = [f"code={_code_digest(code)}", *_globals_used(obj, code)]
        for name, cell in zip(code.co_freevars, cells):
            try:
                used.append(f"{name}={describe(cell.cell_contents)}")
            except ValueError:  # a cell not yet filled (a function referring to itself)
                used.append(f"{name}=(empty)")
        if getattr(obj, "__defaults__", None):  # lambda x, lr=lr: ... binds its values as defaults
            used.append(f"defaults={describe(obj.__defaults__)}")
        if getattr(obj, "__kwdefaults__", None):
            used.append(f"kwdefaults={describe(obj.__kwdefaults__)}")
        return f"{obj.__module__}.{obj.__qualname__}({', '.join(used)})"
    text = repr(obj)
    if " at 0x" not in text:
        return text
    attributes = ", ".join(f"{k}={describe(v)}" for k, v in sorted(vars(obj).items())
                           if not k.startswith("_")) if hasattr(obj, "__dict__") else ""
    return f"{type(obj).__qualname__}({attributes})"


# --------------------------------------------------------------------------------------
# Comparing settings

def _flatten(settings: dict, prefix: str = "") -> dict:
    """``{"model": {"class": "Net"}}`` -> ``{"model.class": "Net"}``; tuples become lists."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def setting_differences(saved: dict, now: dict) -> list[tuple[str, object, object]]:
    """``(name, saved value, value now)`` for every setting that differs."""
    saved, now = _flatten(saved), _flatten(now)
    missing = "(not set)"
    return [(key, saved.get(key, missing), now.get(key, missing))
            for key in sorted(saved.keys() | now.keys()) if saved.get(key, missing) != now.get(key, missing)]


def _mismatch_message(path: Path, differences) -> str:
    lines = "\n".join(f"  {key}: saved {saved!r}, now {now!r}" for key, saved, now in differences)
    return (f"the checkpoint {path} was saved by a run with other settings:\n{lines}\n"
            "Its weights belong to those settings, so they are not reused. Either delete "
            f"{path} to train afresh with the new settings, or pass another checkpoint path "
            "to keep both runs.")


# --------------------------------------------------------------------------------------
# Saving and loading

def save_checkpoint(path, *, settings: dict, recorded: dict | None = None, state: dict,
                    history: History, progress: int, finished: bool) -> None:
    """Save a run atomically (all or nothing, even if interrupted mid-write).

    ``settings``: what the run computes (compared on loading); ``recorded``: where it ran
    (kept, not compared); ``state``: the state_dicts (model, optimizer, ...) and RNG states
    needed to resume; ``progress``: epochs (or steps) done; ``finished``: whether the run
    reached its end. NumPy numbers anywhere are saved as Python numbers (:func:`plain`), and
    anything else that weights-only loading could not read is refused before writing.
    """
    contents = plain({"format": FORMAT, "version": VERSION, "settings": settings,
                      "recorded": recorded or {}, "state": state,
                      "history": history.state_dict(), "progress": int(progress),
                      "finished": bool(finished)})
    check_readable(contents, path)
    atomic_save(contents, Path(path))


def _unusable(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"the checkpoint {path} cannot be used: {why}. Delete it to train "
                           "afresh, or pass another checkpoint path.")


def _describe_foreign(saved) -> str:
    """A guess at what a file that is not one of our checkpoints holds, for the message."""
    if not isinstance(saved, dict):
        return f"it holds a {type(saved).__name__}, not a checkpoint"
    keys = set(saved)
    if {"state", "param_groups"} <= keys:
        return "it holds an optimizer's state, not a training checkpoint"
    if any("images" in str(key) or "labels" in str(key) for key in keys):
        return "it holds a data set (a data-cache file), not a training checkpoint"
    if saved and all(isinstance(v, torch.Tensor) for v in saved.values()):
        return "it holds a bare state_dict (weights only), not a training checkpoint"
    return "it is not a cnnlib training checkpoint"


def read_checkpoint(path) -> dict:
    """The raw contents of a checkpoint file (weights-only unpickling: safe), checked for form.

    Raises :class:`CheckpointError`, naming the file, for anything that is not a readable
    checkpoint of this version.
    """
    path = Path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # EOFError, RuntimeError (bad zip), UnpicklingError, ...: all unreadable
        raise _unusable(path, describe_load_error(err)) from err
    if not (isinstance(saved, dict) and saved.get("format") == FORMAT):
        raise _unusable(path, _describe_foreign(saved))
    if saved.get("version") != VERSION:
        raise _unusable(path, f"it was written by another version of cnnlib (checkpoint format "
                              f"{saved.get('version')}; this one reads format {VERSION})")
    missing = [key for key in CONTENTS if key not in saved]
    if missing:
        raise _unusable(path, f"it lacks {', '.join(missing)}")
    return saved


def load_checkpoint(path, settings: dict | None, *, device) -> dict | None:
    """The saved run at ``path`` if its settings are ``settings``; ``None`` if there is no file.

    Returns ``{"state", "history", "progress", "finished", "settings", "recorded"}`` with
    tensors on ``device``. Raises :class:`CheckpointError` for an unusable file and
    :class:`CheckpointMismatchError` when a setting differs. ``settings=None`` skips the
    comparison (for reading the weights of a known run).
    """
    path = Path(path)
    if not path.exists():
        return None
    saved = read_checkpoint(path)
    if settings is not None:
        differences = setting_differences(saved["settings"], plain(settings))
        if differences:
            raise CheckpointMismatchError(_mismatch_message(path, differences))
    # RNG states stay on the CPU (torch.set_rng_state wants them there); the rest goes to device.
    state = {key: value if key.startswith("rng") else _to_device(value, torch.device(device))
             for key, value in saved["state"].items()}
    return {"state": state, "history": History.from_state(saved["history"]),
            "progress": saved["progress"], "finished": saved["finished"],
            "settings": saved["settings"], "recorded": saved["recorded"]}


def _to_device(obj, device: torch.device):
    """Every tensor of a nested state (dicts and lists of tensors) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj
