"""Checkpoints that know what they are: the settings of the run are saved with its weights.

A checkpoint is reused only by a call with the same settings. Why so strict? A student who
edits a learning rate in a chapter and reruns the cell must not get the old run's result
labelled with the new settings. So :func:`load_checkpoint` compares the settings saved in the
file with those of the call and, when they differ, stops with a
:class:`CheckpointMismatchError` that lists every difference and the two ways out: delete the
file (train afresh) or pass another checkpoint path (keep both runs). A file that is not a
checkpoint of this kind at all (truncated, empty, text, an optimizer's state, a data-cache
file, a checkpoint saved before settings were recorded) is a :class:`CheckpointError` naming
the file.

The settings are plain values: numbers, strings, and small dicts such as
:func:`model_fingerprint` (which network) and :func:`data_fingerprint` (which data).
Settings named in ``NOT_COMPARED`` are recorded but not compared, so the same experiment can
be resumed on another machine. Used by ``fit`` and the adversarial loops of ``cnnlib.adapt``;
re-exported by ``cnnlib.train``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

import torch
from torch import nn

from .runtime import atomic_save
from .history import History
from .validation import describe_load_error

FORMAT = "cnnlib-checkpoint"
VERSION = 2
# Where a run happened and how fast, not what it computes: resuming elsewhere is allowed.
NOT_COMPARED = ("device", "precision", "bf16", "channels_last", "world_size",
                "resumed_from_epoch")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, or not a checkpoint of this kind."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint saved by a run with other settings than the call that found it."""


# --------------------------------------------------------------------------------------
# Fingerprints: cheap, stable descriptions of the model and the data

def _digest(*chunks: bytes) -> str:
    h = hashlib.sha1()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()[:16]


def _tensor_bytes(t: torch.Tensor) -> bytes:
    """The raw bytes of ``t`` (any dtype, any device), plus its shape and dtype."""
    t = t.detach().contiguous().cpu()
    header = f"{tuple(t.shape)}{t.dtype}".encode()
    return header + t.reshape(-1).view(torch.uint8).numpy().tobytes()


def model_fingerprint(model: nn.Module) -> dict:
    """Which network: its class, a hash of every parameter's and buffer's name and shape, and
    how many parameters are trainable (fine-tuning the top or all of a net is another run)."""
    shapes = "".join(f"{name}:{tuple(t.shape)};" for name, t in model.state_dict().items())
    return {"class": type(model).__name__, "shapes": _digest(shapes.encode()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def _sample(t: torch.Tensor, k: int = 256) -> torch.Tensor:
    """``k`` rows spread evenly over ``t`` (all of them when there are fewer)."""
    if len(t) <= k:
        return t
    return t[torch.linspace(0, len(t) - 1, k, device=t.device).long()]


def data_fingerprint(data) -> dict | None:
    """Which data: ``{"size": n, "hash": ...}``; ``None`` for no data.

    ``data`` is an ``ImageDataset``, a ``DeviceLoader`` or a ``(features, labels)`` pair. The
    hash covers all labels, 256 inputs spread over the set and the normalisation statistics:
    cheap on 50,000 images, yet another subset, another split or other statistics change it.
    """
    if data is None:
        return None
    if isinstance(data, (tuple, list)):
        inputs, labels, extra = data[0], data[1], b""
    else:
        inputs, labels = data.images, data.labels
        extra = repr(tuple(data.stats)).encode()  # its normalisation (mean, std)
    return {"size": len(labels),
            "hash": _digest(_tensor_bytes(labels), _tensor_bytes(_sample(inputs)), extra)}


def stable_repr(obj) -> str:
    """A description of ``obj`` that is the same in every Python session (no memory addresses).

    For settings that are objects: an augmentation, an optimizer factory such as
    ``layerwise_sgd(...)``. A function is described by its name and the values it closes over,
    so ``layerwise_sgd(model, lr=0.01)`` and ``layerwise_sgd(model, lr=0.1)`` differ.
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        return "[" + ", ".join(stable_repr(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, nn.Module):
        return type(obj).__name__
    if isinstance(obj, torch.Tensor):
        return f"tensor{tuple(obj.shape)}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = ", ".join(f"{f.name}={stable_repr(getattr(obj, f.name))}"
                           for f in dataclasses.fields(obj))
        return f"{type(obj).__name__}({fields})"
    if isinstance(obj, functools.partial):
        return f"partial({stable_repr(obj.func)}, {stable_repr(obj.args)}, {stable_repr(obj.keywords)})"
    if callable(obj) and hasattr(obj, "__qualname__"):
        code = getattr(obj, "__code__", None)
        cells = getattr(obj, "__closure__", None) or ()
        names = code.co_freevars if code is not None else ()
        closed = [f"{n}={stable_repr(c.cell_contents)}" for n, c in zip(names, cells)]
        defaults = getattr(obj, "__defaults__", None)
        if defaults:  # lambda x, lr=lr: ... binds its values as defaults
            closed.append(f"defaults={stable_repr(defaults)}")
        return f"{obj.__module__}.{obj.__qualname__}({', '.join(closed)})"
    text = repr(obj)
    return type(obj).__qualname__ if " at 0x" in text else text


# --------------------------------------------------------------------------------------
# Comparing settings

def _flatten(settings: dict, prefix: str = "") -> dict:
    """``{"model": {"class": "Net"}}`` -> ``{"model.class": "Net"}``; tuples become lists."""
    flat = {}
    for key, value in settings.items():
        if prefix == "" and key in NOT_COMPARED:
            continue
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def setting_differences(saved: dict, now: dict) -> list[tuple[str, object, object]]:
    """``(name, saved value, value now)`` for every compared setting that differs."""
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

def save_checkpoint(path, *, settings: dict, state: dict, history: History, progress: int,
                    finished: bool) -> None:
    """Save a run atomically (all or nothing, even if interrupted mid-write).

    ``state``: the state_dicts (model, optimizer, ...) and RNG states needed to resume;
    ``progress``: epochs (or steps) done; ``finished``: whether the run reached its end.
    """
    atomic_save({"format": FORMAT, "version": VERSION, "settings": settings, "state": state,
                 "history": history.state_dict(), "progress": int(progress),
                 "finished": bool(finished)}, Path(path))


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
    if {"model", "optimizer", "epoch"} <= keys:
        return ("it was saved by an older cnnlib that did not record the run's settings, so "
                "whether it matches this call cannot be checked")
    if saved and all(isinstance(v, torch.Tensor) for v in saved.values()):
        return "it holds a bare state_dict (weights only), not a training checkpoint"
    return "it is not a cnnlib training checkpoint"


def read_checkpoint(path) -> dict:
    """The raw contents of a checkpoint file (weights-only unpickling: safe), checked for form.

    Raises :class:`CheckpointError` for anything that is not a readable checkpoint.
    """
    path = Path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # EOFError, RuntimeError (bad zip), UnpicklingError, ...: all unreadable
        raise _unusable(path, describe_load_error(err)) from err
    if not (isinstance(saved, dict) and saved.get("format") == FORMAT):
        raise _unusable(path, _describe_foreign(saved))
    if saved.get("version") != VERSION:
        raise _unusable(path, f"it has format version {saved.get('version')}, this cnnlib reads {VERSION}")
    return saved


def load_checkpoint(path, settings: dict | None, *, device) -> dict | None:
    """The saved run at ``path`` if its settings are ``settings``; ``None`` if there is no file.

    Returns ``{"state", "history", "progress", "finished"}`` with tensors on ``device``.
    Raises :class:`CheckpointError` for an unusable file and :class:`CheckpointMismatchError`
    when a compared setting differs. ``settings=None`` skips the comparison (for reading the
    weights of a known run).
    """
    path = Path(path)
    if not path.exists():
        return None
    saved = read_checkpoint(path)
    if settings is not None:
        differences = setting_differences(saved["settings"], settings)
        if differences:
            raise CheckpointMismatchError(_mismatch_message(path, differences))
    # RNG states stay on the CPU (torch.set_rng_state wants them there); the rest goes to device.
    state = {key: value if key.startswith("rng") else _to_device(value, torch.device(device))
             for key, value in saved["state"].items()}
    return {"state": state, "history": History.from_state(saved["history"]),
            "progress": saved["progress"], "finished": saved["finished"], "settings": saved["settings"]}


def _to_device(obj, device: torch.device):
    """Every tensor of a nested state (dicts and lists of tensors) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_device(v, device) for v in obj]
    return obj
