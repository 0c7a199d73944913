"""An exponential moving average of a model's weights: one of the fast recipe's options
(``fit(..., ema=0.99)``; see ``cnnlib.recipe``).
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["WeightAverage", "check_ema"]


class WeightAverage:
    """An exponential moving average (EMA) of a model's weights, updated after every step.

    Why: late in training SGD jitters around a good point; the average of the last few hundred
    steps sits nearer its middle and usually tests a little better than the last step (airbench
    uses the same idea as "lookahead"). ``decay`` is the weight kept per step: 0.99 averages
    over about the last 100 steps. Early on the average would be dominated by the random
    initial weights, so the decay used at update t is min(decay, (1 + t) / (10 + t)).
    Every floating-point entry of the state_dict is averaged (batch norm's running statistics
    too, so they match the averaged weights); integer counters are copied.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.state[key].lerp_(value.detach(), 1 - decay)
            else:
                self.state[key].copy_(value)

    def state_dict(self) -> dict:
        return {"updates": self.updates, "state": self.state}

    def load_state_dict(self, saved: dict) -> None:
        self.updates = int(saved["updates"])
        for key, value in saved["state"].items():
            self.state[key].copy_(value)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module):
        """Inside the block ``model`` holds the averaged weights; afterwards its own again."""
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.state)
        try:
            yield model
        finally:
            model.load_state_dict(own)


def check_ema(ema) -> None:
    if ema is not None and (isinstance(ema, bool) or not 0 < ema < 1):
        raise ValueError(f"ema is the moving average's decay per step, between 0 and 1 (e.g. "
                         f"0.99), or None for no average; got {ema!r}")
