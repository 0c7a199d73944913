"""Which number format and memory layout make training fast on *this* device, and safe.

Three choices, one function each, so that ``fit``, ``evaluate``, the set-up banner and the
benchmarks all agree:

- :func:`autocast_dtype`: the dtype for ``torch.autocast`` (or ``None`` for plain fp32).
  bf16 where the hardware computes in bf16 natively (CUDA GPUs of compute capability 8.0 and
  later -- A100, RTX 30xx, L4, H100 -- and CPUs with AVX-512 BF16 or AMX); fp16 on the CUDA GPUs
  that have tensor cores but no native bf16 (capability 7.x: V100, T4 -- Colab's free GPU -- and
  RTX 20xx); fp32 everywhere else. ``torch.cuda.is_bf16_supported()`` is not the test: it says
  True on a T4 too, because bf16 can be *emulated* there, and emulated bf16 is slower than fp32.
- :func:`make_grad_scaler`: fp16 has a narrow range (largest value 65,504, smallest normal
  6e-5), so small gradients underflow to zero. A gradient scaler multiplies the loss by a large
  factor before ``backward`` and divides the gradients by it before the optimiser step, skipping
  steps whose gradients overflowed. bf16 has fp32's range and needs none.
- :func:`use_channels_last`: NHWC memory ("channels last") for conv nets where the convolution
  kernels are faster with it: tensor-core GPUs (with fp16/bf16) and CPUs (oneDNN).

:func:`speed_up_cuda` sets the two global CUDA switches ``fit`` wants (cuDNN autotuning for
fixed-size batches, TF32 matmuls).

Taught with ``fit`` in chapter 1; the README section on GPUs explains the rule.
"""
from __future__ import annotations

import torch
from torch import nn

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}

# Compute capability from which a CUDA GPU computes bf16 natively (Ampere), and from which it has
# tensor cores for fp16 (Volta). Below 7.0 (Pascal and older) fp16 autocast gains little or, on
# consumer Pascal cards (1/64-rate fp16), loses a lot, so those GPUs train in fp32.
NATIVE_BF16_CAPABILITY = (8, 0)
TENSOR_CORE_CAPABILITY = (7, 0)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX-512 BF16 or AMX), not emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device) -> torch.dtype | None:
    """The autocast dtype that trains fastest on ``device`` without losing accuracy, or ``None``.

    ``torch.bfloat16`` on CUDA GPUs of compute capability >= 8.0 and on CPUs with native bf16;
    ``torch.float16`` (to be used with :func:`make_grad_scaler`) on CUDA GPUs of capability 7.x;
    ``None`` (plain fp32) on older GPUs, other CPUs and other devices (e.g. Apple's MPS).
    """
    device = torch.device(device)
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        if capability >= NATIVE_BF16_CAPABILITY:
            return torch.bfloat16
        if capability >= TENSOR_CORE_CAPABILITY:
            return torch.float16
        return None
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def resolve_precision(precision: str | None, device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (``"auto"``/``None``, ``"bf16"``, ``"fp16"``, ``"fp32"``).

    ``"auto"`` asks :func:`autocast_dtype`; the others force a format (e.g. ``"fp32"`` for an
    exact comparison, ``"fp16"`` to try the gradient scaler on a CPU).
    """
    if precision is None or precision == "auto":
        return autocast_dtype(device)
    if precision not in DTYPES:
        raise ValueError(f"precision={precision!r} is not a precision; use one of "
                         f"{', '.join(map(repr, PRECISIONS))} (or None, the same as 'auto')")
    return DTYPES[precision]


def precision_name(dtype: torch.dtype | None) -> str:
    """``"bf16"``, ``"fp16"`` or ``"fp32"``: the name of an autocast dtype (``None`` is fp32)."""
    names = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32", torch.float32: "fp32"}
    if dtype not in names:
        raise ValueError(f"{dtype} is not an autocast dtype; use torch.bfloat16, torch.float16 or None")
    return names[dtype]


def describe_precision(device) -> str:
    """What :func:`autocast_dtype` chooses on ``device``, in words (for the set-up banner)."""
    name = precision_name(autocast_dtype(device))
    return {"bf16": "bf16 autocast", "fp16": "fp16 autocast + gradient scaler",
            "fp32": "fp32"}[name]


def autocast(device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``; a context that changes nothing for ``None``."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def make_grad_scaler(device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (a disabled one passes everything through).

    Use it as ``scaler.scale(loss).backward(); scaler.step(opt); scaler.update()`` whatever the
    precision, so the training loop has one shape; its ``state_dict()`` (the current scale)
    belongs in the checkpoint so that a resumed run scales exactly as the uninterrupted one.
    """
    device = torch.device(device)
    return torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)


def use_channels_last(model: nn.Module, device, dtype: torch.dtype | None) -> bool:
    """Whether to keep ``model``'s activations in channels-last (NHWC) memory on ``device``.

    Only conv nets profit. On CUDA, NHWC is what the tensor-core convolutions want, so it pays
    with fp16/bf16 autocast and costs transposes without it; on the CPU oneDNN prefers it in any
    precision (measured in ``bench/loop.py``).
    """
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    device = torch.device(device)
    if device.type == "cuda":
        return has_conv and dtype is not None
    return has_conv and device.type == "cpu"


def speed_up_cuda(device) -> None:
    """Set the global CUDA switches that make ``fit`` fast (nothing happens for other devices).

    ``cudnn.benchmark``: cuDNN times its convolution algorithms on the first batch of each shape
    and keeps the fastest; it pays because ``fit``'s training batches all have one size.
    TF32: on Ampere and later, fp32 matmuls and convolutions (whatever autocast leaves in fp32)
    use tensor cores with a 10-bit mantissa -- the precision of fp16, ample for training.
    """
    if torch.device(device).type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")  # "high" = TF32 allowed for fp32 matmuls
    torch.backends.cudnn.allow_tf32 = True  # the same for convolutions (torch's default)
