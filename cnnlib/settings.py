"""``RunSettings``: what a training run computes, in one frozen object.

``fit`` takes one (``fit(model, train, val, settings)``) or builds one from its keywords
(``fit(model, train, epochs=5, lr=0.1)``), keywords overriding fields of a given one. The
checkpoint compares it field by field (:meth:`RunSettings.compared` enumerates the fields),
and ``cnnlib.recipe`` names settings that train fast: adding an option to a run means adding
one field here. Where a run happens (device, precision, memory layout, number of processes)
and its input/output (checkpoint path, progress bar, callback) stay ``fit``'s own arguments:
they do not change what is computed, so a run may resume on another machine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .checkpoint import plain, stable_repr

__all__ = ["RunSettings", "resolve_settings"]


@dataclass(frozen=True)
class RunSettings:
    """The settings that define a ``fit`` run (see ``fit`` for what each does).

    ``optimizer``: ``"sgd"`` (Nesterov momentum), ``"adam"`` (AdamW) or a function
    ``params -> optimizer``; ``schedule``: ``"onecycle"`` or ``"constant"``; ``augment``: an
    augmentation of the training images; ``ema``, ``tta``, ``whiten``, ``whiten_frozen``: the
    fast recipe's options (moving average of the weights, test-time augmentation, whitened
    first layer), each off by default. NumPy numbers (``lr`` from ``np.logspace``) are stored
    as Python numbers.
    """

    epochs: int
    lr: float
    batch_size: int = 128
    optimizer: object = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    augment: object = None
    seed: int = 0
    ema: float | None = None
    tta: str | None = None
    whiten: str | None = None
    whiten_frozen: bool = False

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, plain(getattr(self, f.name)))

    def as_dict(self) -> dict:
        """The fields as ``fit`` keyword arguments."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def compared(self) -> dict:
        """The fields as a checkpoint stores and compares them: numbers, strings and lists as
        they are, objects (an augmentation, an optimizer function) by :func:`stable_repr`."""
        return {name: _comparable(value) for name, value in self.as_dict().items()}

    def is_default(self, name: str) -> bool:
        """Whether field ``name`` holds its default (that is, was most likely not set)."""
        field = next(f for f in dataclasses.fields(self) if f.name == name)
        return field.default is not dataclasses.MISSING and getattr(self, name) == field.default


def _comparable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return stable_repr(value)


def resolve_settings(settings: RunSettings | None, changes: dict) -> RunSettings:
    """``settings`` with ``changes`` (keyword arguments named like its fields) applied, or
    new settings from ``changes`` alone; a clear error for a name that is not a field."""
    if settings is not None and not isinstance(settings, RunSettings):
        raise TypeError(f"settings must be a cnnlib.settings.RunSettings, got "
                        f"{type(settings).__name__}; or pass the settings as keywords "
                        "(epochs=..., lr=..., ...)")
    kind = type(settings) if settings is not None else RunSettings
    names = [f.name for f in dataclasses.fields(kind)]
    unknown = sorted(set(changes) - set(names))
    if unknown:
        raise TypeError(f"unknown settings {unknown}: the settings of a run are {names} "
                        "(cnnlib.settings.RunSettings); where it runs and its files are fit's "
                        "own arguments (device, precision, checkpoint, progress, ...)")
    if settings is not None:
        return dataclasses.replace(settings, **changes)
    required = [f.name for f in dataclasses.fields(kind) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING and f.name not in changes]
    if required:
        raise TypeError(f"fit needs {' and '.join(f'{name}=' for name in required)} (or "
                        "settings=RunSettings(...), or a recipe: cnnlib.recipe)")
    return kind(**changes)
