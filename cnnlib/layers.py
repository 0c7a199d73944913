"""Layers the book writes from scratch (taught in the chapters "Dropout" and "Batch normalisation").

- ``Dropout``, ``Dropout2d``, ``dropout``, ``dropout_mask``: dropout as in
  Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
  JMLR 15 (2014), in both the paper's convention and PyTorch's "inverted" one.
- ``BatchNorm1d``, ``BatchNorm2d``: Algorithm 1 (and the running averages of Algorithm 2) of
  Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
  Internal Covariate Shift", ICML 2015, arXiv:1502.03167. Drop-in replacements for
  ``nn.BatchNorm1d``/``nn.BatchNorm2d``: same arguments, same state_dict.
- ``fold_batchnorm``: Algorithm 2 step 11 as code, a conv followed by an eval-mode batch norm
  becomes one conv.

Two conventions for dropout, and this module names its probabilities so they cannot be mixed up:

- ``p_drop``: the probability that a unit is DROPPED (PyTorch's ``p``).
- ``p_keep = 1 - p_drop``: the probability that a unit is KEPT (the paper's and the course
  notes' ``p``).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

__all__ = [
    "dropout_mask",
    "dropout",
    "Dropout",
    "Dropout2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "fold_batchnorm",
]


# --------------------------------------------------------------------------- dropout


def _check_probability(p: float, name: str) -> float:
    """``p`` as a float in [0, 1], or a ValueError that says which argument was wrong."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def dropout_mask(
    shape,
    p_drop: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """A random 0/1 mask of ``shape``: each entry is 0 with probability ``p_drop``, independently.

    The mask picks one "thinned network" of the paper: the units whose entry is 1 survive.
    Pass a seeded ``generator`` (on ``device``) to draw the same masks again.
    """
    p_drop = _check_probability(p_drop, "p_drop")
    if generator is not None and device is None:
        device = generator.device
    u = torch.rand(shape, generator=generator, device=device)
    # u is uniform in [0, 1), so P(u >= p_drop) = 1 - p_drop; p_drop = 0 keeps all, 1 drops all.
    return (u >= p_drop).to(dtype)


def _mask_shape(x: Tensor, per_channel: bool) -> tuple[int, ...]:
    if not per_channel:
        return tuple(x.shape)
    if x.dim() < 3:
        raise ValueError(f"Dropout2d expects an (N, C, H, W) or (N, C, L) input, got shape {tuple(x.shape)}")
    # One mask entry per (example, channel), broadcast over the spatial positions.
    return tuple(x.shape[:2]) + (1,) * (x.dim() - 2)


def dropout(
    x: Tensor,
    p_drop: float = 0.5,
    *,
    training: bool = True,
    inverted: bool = True,
    per_channel: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Dropout of ``x`` as a function; see :class:`Dropout` for the two conventions.

    ``per_channel=True`` drops whole channels (dim 1) at once, as :class:`Dropout2d` does.
    """
    p_drop = _check_probability(p_drop, "p_drop")
    p_keep = 1.0 - p_drop
    if not training:
        # Inverted dropout already scaled at training time; the paper scales the weights now.
        return x if inverted else x * p_keep
    if p_drop == 0.0:
        return x
    shape = _mask_shape(x, per_channel)
    mask = dropout_mask(shape, p_drop, generator=generator, device=x.device, dtype=x.dtype)
    if inverted:
        # Scale survivors by 1/p_keep so that E[output] = x; p_drop = 1 keeps nothing (and no 1/0).
        mask = mask.div_(p_keep) if p_keep > 0 else mask
    # Multiplying by the mask also masks the gradient: dropped units get none.
    return x * mask


class Dropout(nn.Module):
    """Dropout (Srivastava et al., JMLR 2014) written out, in both conventions.

    Args:
        p_drop: probability that a unit is DROPPED (PyTorch's ``p``), in [0, 1].
        inverted: which convention.

            - ``True`` (PyTorch's "inverted dropout", same behaviour as ``nn.Dropout(p_drop)``):
              training zeroes each unit with probability ``p_drop`` and multiplies the survivors
              by ``1 / (1 - p_drop)``; evaluation is the identity.
            - ``False`` (the paper's convention, the course notes' one): training only zeroes
              units; evaluation multiplies the outputs by ``p_keep = 1 - p_drop``, which is the
              same as multiplying the outgoing weights by ``p_keep`` as the paper does.

    Both conventions give the same expected output in training as in evaluation.
    The course notes speak of ``p`` = probability a unit is KEPT: build those layers with
    :meth:`Dropout.from_keep_prob`.
    """

    def __init__(self, p_drop: float = 0.5, inverted: bool = True):
        super().__init__()
        self.p_drop = _check_probability(p_drop, "p_drop")
        self.inverted = bool(inverted)

    @classmethod
    def from_keep_prob(cls, p_keep: float, *, inverted: bool = False) -> Dropout:
        """The layer of the paper and the course notes: ``p_keep`` = probability a unit is KEPT.

        ``inverted`` defaults to ``False`` here, the paper's convention (scale at test time).
        """
        p_keep = _check_probability(p_keep, "p_keep")
        return cls(1.0 - p_keep, inverted=inverted)

    @property
    def p_keep(self) -> float:
        """Probability that a unit is kept: ``1 - p_drop``."""
        return 1.0 - self.p_drop

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p_drop, training=self.training, inverted=self.inverted)

    def extra_repr(self) -> str:
        return f"p_drop={self.p_drop}, inverted={self.inverted}"


class Dropout2d(Dropout):
    """Channel dropout: drops whole feature maps (dim 1) of an (N, C, H, W) input at once.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely removes information; dropping the whole map does (Tompson et al., CVPR 2015).
    Same arguments and conventions as :class:`Dropout`; ``inverted=True`` behaves like
    ``nn.Dropout2d(p_drop)``.
    """

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p_drop, training=self.training, inverted=self.inverted, per_channel=True)


# --------------------------------------------------------------------------- batch norm


class _BatchNorm(nn.Module):
    """Batch normalisation over dim 1 (the channels); subclasses only check the input's shape.

    Same arguments, attributes and state_dict keys as PyTorch's ``nn.BatchNorm*d``, so a
    state_dict can be loaded into either. ``momentum=None`` makes the running statistics a
    cumulative average; ``track_running_stats=False`` keeps none, and then eval mode uses the
    batch statistics too. The keyword ``bias=False`` (affine only) learns gamma but no beta.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:  # gamma and beta of the paper (bias=False keeps gamma only, as in torch)
            self.weight = nn.Parameter(torch.empty(num_features, **factory))
            if bias:
                self.bias = nn.Parameter(torch.empty(num_features, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:  # start as the identity: gamma = 1, beta = 0
            nn.init.ones_(self.weight)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

    def _check_input_dim(self, x: Tensor) -> None:
        raise NotImplementedError

    def _check_channels(self, x: Tensor) -> None:
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expected {self.num_features} channels "
                f"(dim 1 of the input), got {x.shape[1]} (input shape {tuple(x.shape)})"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        self._check_channels(x)

        # How much of this batch goes into the running averages: momentum, or 1/t for
        # momentum=None, which makes them the plain (cumulative) average over all t batches.
        factor = 0.0
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum

        # Without running statistics there is nothing else to use, even in eval mode.
        use_batch_stats = self.training or self.running_mean is None
        dims = [0] + list(range(2, x.dim()))  # every dim but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)  # per-channel vector -> broadcastable to x

        if use_batch_stats:
            m = x.numel() // x.shape[1]  # values per channel in this mini-batch
            if m <= 1:
                raise ValueError(
                    f"Expected more than 1 value per channel when training, got input shape {tuple(x.shape)}"
                )
            # Algorithm 1: mini-batch mean and (biased) variance.
            mean = x.mean(dim=dims)
            var = ((x - mean.view(shape)) ** 2).mean(dim=dims)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    # Algorithm 2 step 10: the running variance uses the UNBIASED m/(m-1) estimate.
                    self.running_mean.mul_(1 - factor).add_(factor * mean)
                    self.running_var.mul_(1 - factor).add_(factor * var * (m / (m - 1)))
        else:
            mean, var = self.running_mean, self.running_var

        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)  # normalise
        if self.weight is not None:
            x_hat = x_hat * self.weight.view(shape)  # scale
        if self.bias is not None:
            x_hat = x_hat + self.bias.view(shape)  # and shift
        return x_hat

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of an (N, C) or (N, C, L) input; statistics per channel over N (and L).

    Ioffe & Szegedy, ICML 2015, Algorithm 1. Same arguments as ``nn.BatchNorm1d``.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() not in (2, 3):
            raise ValueError(
                f"BatchNorm1d expected a 2D (N, C) or 3D (N, C, L) input, got shape {tuple(x.shape)}"
            )


class BatchNorm2d(_BatchNorm):
    """Batch norm of an (N, C, H, W) input; statistics per channel over N, H and W.

    Ioffe & Szegedy, ICML 2015, Algorithm 1, with the convolutional rule of section 3.2:
    every position of a feature map shares the channel's gamma and beta. Same arguments as
    ``nn.BatchNorm2d``.
    """

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"BatchNorm2d expected a 4D (N, C, H, W) input, got shape {tuple(x.shape)}")


# --------------------------------------------------------------------------- folding


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d | BatchNorm2d) -> nn.Conv2d:
    """A new ``nn.Conv2d`` equal to ``bn(conv(x))`` with ``bn`` in eval mode.

    Ioffe & Szegedy, ICML 2015, Algorithm 2 step 11.

    In eval mode batch norm is a fixed per-channel affine map,
    ``y = gamma * (z - mu) / sqrt(var + eps) + beta``, so it can be merged into the conv:
    with ``s = gamma / sqrt(var + eps)`` the folded conv has weight ``W * s`` (per output
    channel) and bias ``(b - mu) * s + beta``. Works for any stride, padding, dilation and
    groups (depthwise included), with or without a conv bias, and for ``nn.BatchNorm2d`` or
    :class:`BatchNorm2d`, affine or not. Neither input is modified.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"fold_batchnorm expects an nn.Conv2d, got {type(conv).__name__}")
    if not isinstance(bn, (nn.BatchNorm2d, BatchNorm2d)):
        raise TypeError(
            f"fold_batchnorm expects an nn.BatchNorm2d or cnnlib BatchNorm2d, got {type(bn).__name__}"
        )
    if bn.num_features != conv.out_channels:
        raise ValueError(
            f"cannot fold: the conv has {conv.out_channels} output channels but the batch norm "
            f"expects {bn.num_features}"
        )
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a batch norm without running statistics (track_running_stats=False)")

    dtype = conv.weight.dtype
    with torch.no_grad():
        # Compute in float64 and round once, so the folded conv is as exact as the dtype allows.
        mu = bn.running_mean.double()
        s = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
        beta = torch.zeros_like(mu)
        if bn.weight is not None:
            s = s * bn.weight.double()
        if bn.bias is not None:
            beta = bn.bias.double()
        b = conv.bias.double() if conv.bias is not None else torch.zeros_like(mu)
        weight = conv.weight.double() * s.view(-1, 1, 1, 1)
        bias = (b - mu) * s + beta

        folded = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=True,  # the folded conv always needs a bias: beta - mu * s
            padding_mode=conv.padding_mode,
            device=conv.weight.device,
            dtype=dtype,
        )
        folded.weight.copy_(weight.to(dtype))
        folded.bias.copy_(bias.to(dtype))
    return folded
