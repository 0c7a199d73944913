"""What the adversarial loops of ADDA and CycleGAN share with each other and with ``fit``.

Adversarial training does not fit ``fit`` (two players, two optimisers, no labels on the target
side), so :func:`cnnlib.adapt.adda.adapt` and :func:`cnnlib.adapt.cyclegan.train_cyclegan` keep
their own loops. They count *steps*, not epochs, and they behave like ``fit`` in everything
else:

- batches come from ``cnnlib.train.forever``: endless, with a fresh deterministic shuffle on
  every pass; :func:`batches` starts the stream at any step, which resuming needs;
- every ``log_every`` steps a row of mean losses goes into a ``History``
  (:class:`RunningMeans`), and a non-finite loss stops the run with the step where it happened;
- with ``checkpoint=`` the run is saved at every row with the settings that define it
  (``cnnlib.checkpoint``), and the same policy holds: a finished run is loaded without
  training, an interrupted one resumes exactly where it stopped (weights, optimisers, image
  pools, random number generators, position in the data), and other settings are a
  ``CheckpointMismatchError``, never a stale result.
"""
from __future__ import annotations

import math

from torch import nn

from ..checkpoint import state_digest
from ..data import DeviceLoader
from ..train import forever

__all__ = ["batches", "weights_fingerprint", "RunningMeans",
           "check_loop_arguments"]


def batches(data, batch_size: int, *, device, seed: int, start: int = 0):
    """Endless shuffled batches ``(images, labels)`` of ``data``, from batch number ``start`` on.

    Batch ``k`` is the same whether the stream starts at 0 or at ``start <= k``: pass ``p``
    always has the shuffle of epoch ``p`` (``DeviceLoader``'s seed and epoch), so a resumed run
    skips to the pass it was in and then to its place within the pass.
    """
    loader = DeviceLoader(data, batch_size, shuffle=True, drop_last=True, device=device, seed=seed)
    if len(loader) == 0:
        raise ValueError(f"{getattr(data, 'name', '') or 'the data set'} has {len(data)} images, fewer "
                         f"than one batch of {batch_size}: use a smaller batch_size or more data")
    loader.epoch, within = divmod(start, len(loader))
    stream = forever(loader)
    for _ in range(within):
        next(stream)
    return stream


def weights_fingerprint(model: nn.Module) -> str:
    """A hash of every parameter and buffer *value* of ``model``.

    ``cnnlib.checkpoint.model_fingerprint`` says which network (its shapes); this says which
    weights. ADDA starts from a trained source encoder, and a checkpoint adapted from one
    encoder is not the answer for another (say, one pre-trained for more epochs).
    """
    return state_digest(model.state_dict())


class RunningMeans:
    """The means of the values logged since the last row of the history.

    ``add({"d_loss": 0.7, ...})`` once per step; ``row(step)`` returns ``{"step": step, "d_loss":
    mean, ...}`` and starts a new window. A mean that is not finite stops the run: an
    adversarial game that blew up does not recover, and the step says where to look.
    """

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def row(self, step: int, lr: float | None = None) -> dict:
        means = {key: total / self.count for key, total in self.sums.items()}
        broken = [key for key, value in means.items() if not math.isfinite(value)]
        if broken:
            at_lr = f" (learning rate {lr:.3g})" if lr is not None else ""
            raise FloatingPointError(
                f"{', '.join(broken)} became {means[broken[0]]} by step {step}{at_lr}: the "
                "adversarial game diverged. Lower the learning rate (e.g. by 10x) and start afresh.")
        self.sums, self.count = {}, 0
        return {"step": step, **means}


def check_loop_arguments(steps, log_every, batch_size) -> None:
    """Clear errors for loop settings that cannot run."""
    for name, value in (("steps", steps), ("log_every", log_every), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
