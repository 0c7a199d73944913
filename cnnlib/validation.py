"""Clear errors for bad input, raised before any work starts (used by ``fit``, ``evaluate``,
the checkpoints and the adversarial loops of ``cnnlib.adapt``).

Why a module of its own: a wrong argument caught late costs a whole epoch, and one caught by
torch itself reads as a riddle (``'>' not supported between 'str' and 'int'``, ``Target -1 is
out of bounds``, a device-side assert on a GPU, a loss that "became nan" blamed on the learning
rate). Each check here names the argument, the data set or the file, and says what to do.
Every check is a ``ValueError`` with that message.

Foundation level: imports only torch and ``cnnlib.runtime``, so every layer above may use it.
"""
from __future__ import annotations

import math
import numbers
import pickle
import re
import tempfile
from pathlib import Path

import torch
from torch import nn

from .runtime import get_device

__all__ = ["check_whole", "check_positive", "check_at_least_zero", "check_fraction",
           "check_fit_numbers", "check_adam", "check_whiten_options", "check_model_dtype", "model_device",
           "check_examples", "check_head", "check_writable",
           "describe_load_error"]


# --------------------------------------------------------------------------------------
# Numbers: type slips (lr="0.1", batch_size=32.0) named before torch trips over them

def _kind(value) -> str:
    return f"{value!r} (a {type(value).__name__})"


def check_whole(name: str, value, minimum: int = 1) -> None:
    """``value`` must be an int (NumPy's integers count) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = ""
        if isinstance(value, float) and value.is_integer():
            hint = f": write {name}={int(value)}"
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got "
                         f"{_kind(value)}{hint}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")


def _check_real(name: str, value) -> None:
    """``value`` must be a real number (NumPy's count), not a string or a bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = f": write {name}={value} without quotes" if isinstance(value, str) else ""
        raise ValueError(f"{name} must be a number, got {_kind(value)}{hint}")


def check_positive(name: str, value, what: str = "number", advice: str = "") -> None:
    """``value`` must be a finite real number above 0 (a learning rate); NaN is not."""
    _check_real(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive {what}, got {value!r}{advice}")


def check_at_least_zero(name: str, value) -> None:
    """``value`` must be a finite real number of at least 0 (a weight decay, a loss weight)."""
    _check_real(name, value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of at least 0, got {value!r}")


def check_fraction(name: str, value) -> None:
    """``value`` must be a real number in [0, 1) (momentum, label smoothing, Adam's betas)."""
    _check_real(name, value)
    if not 0 <= value < 1:  # also refuses NaN
        raise ValueError(f"{name} must be at least 0 and below 1, got {value!r}")


LR_ADVICE = " (typical values: 0.01 to 0.1 for SGD, 1e-3 for Adam)"


def check_fit_numbers(*, epochs, lr, batch_size, momentum, weight_decay, label_smoothing,
                      seed) -> None:
    """The numeric settings of ``fit``, each named when it is of the wrong type or range."""
    check_whole("epochs", epochs)
    check_positive("lr", lr, "learning rate", LR_ADVICE)
    check_whole("batch_size", batch_size)
    check_fraction("momentum", momentum)
    check_at_least_zero("weight_decay", weight_decay)
    check_fraction("label_smoothing", label_smoothing)
    check_whole("seed", seed, minimum=0)


def check_adam(lr, betas) -> None:
    """Adam's settings in the adversarial loops: ``lr=0`` would train nothing for every step."""
    check_positive("lr", lr, "learning rate", " (the papers use 2e-4)")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2) such as (0.5, 0.999), got "
                         f"{_kind(betas)}")
    for beta in betas:
        check_fraction("betas", beta)


def check_whiten_options(whiten, whiten_frozen) -> None:
    """``whiten_frozen=True`` alone would be silently ignored: it freezes a whitened layer."""
    if not isinstance(whiten_frozen, bool):
        raise ValueError(f"whiten_frozen must be True or False, got {_kind(whiten_frozen)}")
    if whiten_frozen and whiten is None:
        raise ValueError("whiten_frozen=True keeps a whitened first conv fixed, but whiten=None "
                         "whitens nothing: pass whiten='pca' (or 'zca') too, or "
                         "whiten_frozen=False (the recipes' default is True)")


# --------------------------------------------------------------------------------------
# The model

def check_model_dtype(model: nn.Module, name: str = "model", has_precision: bool = True) -> None:
    """Weights must stay float32: lower precision is autocast's job (``precision=``).

    A ``model.half()`` or ``model.to(torch.bfloat16)`` fails inside torch with a dtype clash
    between the float32 batches and the weights; and trained in fp16 without a gradient scaler
    its small gradients would vanish anyway. ``name``: the argument, for the message;
    ``has_precision``: whether the caller takes ``precision=`` (the adapt loops run in float32).
    """
    low = {p.dtype for p in model.parameters() if p.dtype in (torch.float16, torch.bfloat16)}
    if low:
        kind = "/".join(sorted(str(d).removeprefix("torch.") for d in low))
        if has_precision:
            fix = (f"cnnlib keeps weights in float32 and computes in lower precision with "
                   f"autocast: call {name}.float() and pass precision='bf16' (or 'fp16') instead")
        else:
            fix = f"this loop trains in float32: call {name}.float() first"
        raise ValueError(f"the {name}'s weights are {kind}; {fix}")


def model_device(model: nn.Module, device=None) -> torch.device:
    """Where ``model`` runs: ``device`` when given, else where it lives (its first parameter's
    or buffer's device); a model with neither (``nn.Flatten()``, a bare ``nn.ReLU()``) runs
    anywhere, so the best available device."""
    if device is not None:
        return torch.device(device)
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return get_device()


# --------------------------------------------------------------------------------------
# The data: finite inputs, labels that are class numbers, a head that covers them

def _inputs_and_labels(data):
    """The inputs and labels of a data set, a loader, or a ``(features, labels)`` pair."""
    if isinstance(data, (tuple, list)):
        return data[0], data[1]
    inputs = data.features if hasattr(data, "features") else data.images
    return inputs, data.labels


def check_examples(data, role: str) -> None:
    """There must be examples, float inputs must be finite and labels must be class numbers
    0, 1, ... (``role``: the data's name in the message, e.g. "training").

    A NaN or infinite feature makes the loss NaN, which would be blamed on the learning rate;
    a label of -1 is a raw ``IndexError`` (on a GPU a device-side assert that kills the kernel).
    """
    inputs, labels = _inputs_and_labels(data)
    if len(labels) == 0:  # the mean loss and accuracy of nothing would divide by zero
        raise ValueError(f"the {role} set is empty (0 examples): check the subset or split that "
                         "made it")
    if isinstance(inputs, torch.Tensor) and inputs.is_floating_point():
        finite = torch.isfinite(inputs.reshape(len(inputs), -1)).all(1)
        if not bool(finite.all()):
            bad = (~finite).nonzero().flatten()
            raise ValueError(
                f"the {role} data holds NaN or infinite values in {len(bad)} of its {len(inputs)} "
                f"examples (the first is example {int(bad[0])}); the loss would become NaN. Fix "
                "the data (drop those examples, or torch.nan_to_num) before training on it")
    if isinstance(labels, torch.Tensor) and labels.is_floating_point():
        raise ValueError(f"the {role} labels are {labels.dtype}; labels are class numbers: pass "
                         "labels.long()")
    if isinstance(labels, torch.Tensor) and int(labels.min()) < 0:
        raise ValueError(f"the {role} labels include {int(labels.min())}; labels are class "
                         "numbers 0, 1, ..., one less than the number of classes: remove or "
                         "renumber the examples with negative labels")


def check_head(logits: torch.Tensor, labels: torch.Tensor, role: str) -> None:
    """The model needs an output for every class the labels name (checked on the first batch,
    before the loss reads ``logits[label]``)."""
    outputs, top = logits.shape[-1], int(labels.max())
    if top >= outputs:
        raise ValueError(f"the model has {outputs} outputs but the {role} labels go up to {top}: "
                         f"labels {outputs}..{top} have no output. Give the model a head with one "
                         "output per class: cnnlib.transfer.replace_head(model, "
                         f"{top + 1})")


def check_writable(path, what: str = "checkpoint") -> None:
    """``path`` must be a file name in a folder that exists (or can be made) and takes files.

    Checked before training, so that a path in a read-only folder, under a file, or naming a
    folder fails at once and not at the first save, an epoch later. The folder is created.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"the {what} path {path} is a folder; pass a file path, e.g. "
                         f"{path / 'run.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A real file, not os.access: root passes os.access even on a read-only file system.
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise ValueError(f"cannot write the {what} {path}: {err.strerror or err} (in "
                         f"{path.parent}); pass a {what} path in a folder you can write to") from err


def describe_load_error(err: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in words for a message.

    A file that holds code (a pickle refused by weights-only loading) is called untrusted:
    torch's own message suggests ``weights_only=False``, which would run that code.
    """
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        name = found.group(1) if found else None
        if name is not None and name.startswith("numpy"):
            return (f"it holds NumPy values ({name}), which safe loading refuses (an older cnnlib "
                    "saved NumPy numbers given as settings this way)")
        code = f" ({name})" if name else ""
        return (f"it holds Python objects{code} that cnnlib never writes, so it is not a cnnlib "
                "file, or it was tampered with: loading it could run code. Do not trust it")
    first = (str(err).splitlines() or [""])[0][:160]
    return f"it is not a readable torch file ({type(err).__name__}: {first})"
