"""``fit``: the book's one training loop, with its history and checkpoints.

Every chapter trains through ``fit``. It

- makes batches on the device (``DeviceLoader``), so the CPU is not spent cutting images;
- picks the fastest safe settings for the device: channels_last memory for conv nets, and bf16
  autocast where the processor does bf16 natively and the net is wide enough to profit (see
  ``choose_bf16`` and ``bench/loop.py``);
- saves a checkpoint atomically after every epoch and resumes from it, so an interrupted run
  loses at most one epoch and, with fixed seeds, ends with the same weights;
- stops with a clear error on a non-finite loss, naming the step and the learning rate.

Taught in chapter 1 (the first experiment) and used by every chapter that trains.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .runtime import atomic_save
from .data.loader import DeviceLoader
from .runtime import describe_device, get_device, seed_everything

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_s", "lr")


class History:
    """Per-epoch metrics of a ``fit`` run: ``history["val_acc"]`` is a list, ``history[-1]`` a row."""

    def __init__(self, rows=None, settings=None):
        self.rows = [dict(row) for row in (rows or [])]
        self.settings = dict(settings or {})

    def append(self, row: dict) -> None:
        self.rows.append(dict(row))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            return [row.get(key) for row in self.rows]
        return self.rows[key]

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}

    def state_dict(self) -> dict:
        return {"rows": self.rows, "settings": self.settings}

    def __repr__(self) -> str:
        head = f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'val loss':>9} {'val acc':>8} {'s':>7} {'img/s':>8}"
        lines = [head]
        for row in self.rows:
            def cell(key, width, fmt):
                value = row.get(key)
                return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"
            lines.append(f"{row['epoch']:>5} {cell('train_loss', 10, '.4f')} {cell('train_acc', 9, '.4f')} "
                         f"{cell('val_loss', 9, '.4f')} {cell('val_acc', 8, '.4f')} "
                         f"{cell('seconds', 7, '.1f')} {cell('images_per_s', 8, ',.0f')}")
        return "\n".join(lines)

    def plot(self, title: str | None = None, axes=None):
        """Loss and accuracy per epoch, training and validation; returns the figure."""
        import matplotlib.pyplot as plt

        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        else:
            fig = axes[0].figure
        epochs = self["epoch"]
        for ax, metric in zip(axes, ("loss", "acc")):
            ax.plot(epochs, self[f"train_{metric}"], "o-", label="train")
            if any(v is not None for v in self[f"val_{metric}"]):
                ax.plot(epochs, self[f"val_{metric}"], "s-", label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel({"loss": "cross-entropy loss", "acc": "accuracy"}[metric])
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig


# --------------------------------------------------------------------------------------
# Settings chosen for the device

def widest_conv(model: nn.Module) -> int:
    """The largest number of output channels of any conv layer (0 for a net without convs)."""
    return max((m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)), default=0)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX-512 BF16 or AMX), not emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_bf16(model: nn.Module, device: torch.device) -> bool:
    """Whether to train ``model`` on ``device`` under bf16 autocast.

    Only where the hardware does bf16 natively: emulated bf16 is slower than fp32. Measured on a
    2-core CPU with native bf16 (``bench/loop.py``, and the same comparison for the small nets):
    a 32/64/128-channel CIFAR net trained 2.3x faster than the fp32 default (channels_last +
    bf16), modern LeNet-5 1.2-1.4x, classic LeNet-5 1.06x, a 784-500-10 MLP 1.6x. An earlier
    note that LeNet-size nets got slower with bf16 did not hold with channels_last here, so no
    net is excluded by size. ``fit(..., bf16=False)`` turns it off.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def make_schedule(optimizer, kind: str, total_steps: int):
    """Learning-rate schedule as a function of the step, so a resumed run can re-plan it.

    ``"onecycle"``: linear warm-up from lr/10 over the first 20% of steps, then linear decay to 0
    (a simple one-cycle; warm-up keeps the first steps of a fresh net stable, decay to zero gives
    the last points of accuracy). ``"constant"``: lr throughout.
    """
    warmup = max(1, int(0.2 * total_steps))

    def onecycle(step: int) -> float:
        if step < warmup:
            return 0.1 + 0.9 * step / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    factors = {"onecycle": onecycle, "constant": lambda step: 1.0}
    if kind not in factors:
        raise ValueError(f"unknown schedule {kind!r}; use 'onecycle' or 'constant'")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factors[kind])


def make_optimizer(model: nn.Module, kind, lr: float, momentum: float, weight_decay: float):
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (are they all frozen?)")
    if callable(kind) and not isinstance(kind, str):
        return kind(params)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0,
                               weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; use 'sgd', 'adam' or a function params -> optimizer")


def as_loader(data, batch_size, *, train: bool, device, augment=None, seed=0, stats=None,
              channels_last=False) -> DeviceLoader:
    """Turn a data set into a ``DeviceLoader`` (a ``DeviceLoader`` is used as it is)."""
    if isinstance(data, DeviceLoader):
        return data
    mean, std = stats if stats is not None else (None, None)
    return DeviceLoader(data, batch_size, shuffle=train, augment=augment if train else None,
                        device=device, mean=mean, std=std, seed=seed,
                        drop_last=train and len(data) > batch_size, channels_last=channels_last)


# --------------------------------------------------------------------------------------
# Evaluation

@torch.no_grad()
def evaluate(model: nn.Module, data, *, batch_size: int = 500, device=None, bf16=None) -> dict:
    """Mean cross-entropy loss and accuracy of ``model`` on ``data`` (a data set or loader)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loader = as_loader(data, batch_size, train=False, device=device)
    bf16 = choose_bf16(model, device) if bf16 is None else bf16
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for x, y in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    model.train(was_training)
    return {"loss": loss_sum.item() / seen, "acc": correct.item() / seen}


# --------------------------------------------------------------------------------------
# Training

def fit(model: nn.Module, train, val=None, *, epochs: int, lr: float, batch_size: int = 128,
        optimizer="sgd", momentum: float = 0.9, weight_decay: float = 5e-4,
        schedule: str = "onecycle", label_smoothing: float = 0.0, augment=None, seed: int = 0,
        device=None, checkpoint=None, channels_last: bool | None = None,
        bf16: bool | None = None, progress: bool = True, on_epoch_end=None) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs; return its :class:`History`.

    ``train`` and ``val`` are what ``load_dataset`` returns (or ``DeviceLoader`` objects).
    ``augment`` is a :class:`~cnnlib.data.Augment` applied to training batches.
    ``checkpoint``: a path; the run is saved there after every epoch and, if the file exists,
    resumed from it (a finished run is simply loaded: this is how chapters "load or train").
    ``channels_last``/``bf16``: ``None`` chooses what is fastest for the device (see
    :func:`choose_bf16`). ``on_epoch_end(epoch, row)`` is called after each epoch.
    """
    device = torch.device(device) if device is not None else get_device()
    if channels_last is None:
        channels_last = widest_conv(model) > 0 and device.type in ("cpu", "cuda")
    bf16 = choose_bf16(model, device) if bf16 is None else bf16
    seed_everything(seed)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    train_loader = as_loader(train, batch_size, train=True, device=device, augment=augment,
                             seed=seed, channels_last=channels_last)
    val_loader = None if val is None else as_loader(
        val, max(batch_size, 500), train=False, device=device, stats=train_loader.stats,
        channels_last=channels_last)
    steps_per_epoch = len(train_loader)
    opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    scheduler = make_schedule(opt, schedule, epochs * steps_per_epoch)
    settings = {"device": describe_device(device), "channels_last": channels_last, "bf16": bf16,
                "epochs": epochs, "lr": lr, "batch_size": batch_size, "optimizer": str(optimizer),
                "schedule": schedule, "seed": seed, "train_size": len(train_loader.labels)}
    history = History(settings=settings)

    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        start, history = _resume(Path(checkpoint), model, opt, scheduler, device, settings)
    if start >= epochs:
        return history

    bar = _progress_bar(progress, epochs * steps_per_epoch, start * steps_per_epoch)
    for epoch in range(start, epochs):
        row = _train_one_epoch(model, train_loader, opt, scheduler, epoch, device, bf16,
                               label_smoothing, bar)
        if val_loader is not None:
            result = evaluate(model, val_loader, device=device, bf16=bf16)
            row.update(val_loss=result["loss"], val_acc=result["acc"])
        history.append(row)
        if checkpoint is not None:
            _save(Path(checkpoint), model, opt, scheduler, epoch + 1, history, device)
        if bar is not None:
            bar.set_postfix({k: round(v, 4) for k, v in row.items()
                             if k in ("train_loss", "train_acc", "val_acc") and v is not None})
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    if bar is not None:
        bar.close()
    return history


def _train_one_epoch(model, loader, opt, scheduler, epoch, device, bf16, label_smoothing, bar):
    model.train()
    loader.epoch = epoch  # epoch k always sees the same shuffle and augmentation
    losses, lrs = [], []
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lrs.append(scheduler.get_last_lr()[0])
        scheduler.step()
        losses.append(loss.detach())
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        # Checking every step would force a GPU sync per step; every 20 steps costs nothing
        # and still names the exact step where the loss first stopped being finite.
        if (step + 1) % 20 == 0 or step + 1 == len(loader):
            _check_finite(losses, lrs, epoch, len(loader))
        if bar is not None:
            bar.update(1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"epoch": epoch + 1, "train_loss": torch.stack(losses).mean().item(),
            "train_acc": correct.item() / seen, "val_loss": None, "val_acc": None,
            "seconds": seconds, "images_per_s": seen / seconds, "lr": lrs[-1]}


def _check_finite(losses, lrs, epoch, steps_per_epoch):
    finite = torch.isfinite(torch.stack(losses[-20:]))
    if bool(finite.all()):
        return
    step = len(losses) - len(finite) + int((~finite).nonzero()[0])
    raise FloatingPointError(
        f"the training loss became {losses[step].item()} at epoch {epoch + 1}, step {step + 1} of "
        f"{steps_per_epoch} (learning rate {lrs[step]:.3g}). The learning rate is probably too "
        "high for this net: lower it (e.g. by 10x), or add batch normalisation.")


def _progress_bar(enabled, total, initial):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", leave=True, mininterval=0.5)


# --------------------------------------------------------------------------------------
# Checkpoints

def _save(path, model, opt, scheduler, epochs_done, history, device):
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": scheduler.state_dict(), "epoch": epochs_done,
             "history": history.state_dict(), "rng_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    atomic_save(state, path)


def _resume(path, model, opt, scheduler, device, settings):
    state = torch.load(path, map_location=device, weights_only=True)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise ValueError(f"the checkpoint {path} was saved from a different model; delete it or "
                         f"pass another checkpoint path ({str(err).splitlines()[0]})") from err
    opt.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_cpu"].cpu())
    if "rng_cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"].cpu(), device)
    saved = state["history"]
    history = History(saved["rows"], {**saved["settings"], **settings, "resumed_from_epoch": state["epoch"]})
    return state["epoch"], history


def load_weights(model: nn.Module, path) -> nn.Module:
    """Load the model weights of a ``fit`` checkpoint into ``model`` (safely, weights only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model
