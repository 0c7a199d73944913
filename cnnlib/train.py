"""``fit``: the book's one training loop, with its history and checkpoints.

Every chapter trains through ``fit``. It

- makes batches on the device (``DeviceLoader``), so the CPU is not spent cutting images; it
  also trains on stored feature tensors (a ``(features, labels)`` pair), e.g. a linear
  classifier on the features of a frozen network (chapter 10);
- picks the fastest safe settings for the device (``cnnlib.precision``): bf16 autocast where
  the hardware does bf16 natively, fp16 autocast with a gradient scaler on GPUs with fp16 tensor
  cores only (e.g. Colab's T4), fp32 elsewhere; channels_last memory for conv nets where it
  helps; cuDNN autotuning and TF32 on CUDA; and no host-device synchronisation per step;
- runs unchanged under ``torchrun`` on several GPUs or machines (``cnnlib.distributed``): each
  process trains on its slice of every batch, the history is the global one, and only rank 0
  writes checkpoints and shows progress;
- saves a checkpoint atomically after every epoch and resumes from it, so an interrupted run
  loses at most one epoch and, with fixed seeds, ends with the same weights. The checkpoint
  records the run's settings (one :class:`~cnnlib.settings.RunSettings`), and a call with
  other settings never reuses it (``cnnlib.checkpoint``);
- stops with a clear error on bad input (before training) and on a non-finite loss, naming the
  step and the learning rate.

``forever`` serves loops that count steps rather than epochs (the adversarial loops of
``cnnlib.adapt``). Taught in chapter 1 (the first experiment) and used by every chapter that trains.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import (CheckpointError, CheckpointMismatchError, data_fingerprint,
                         load_checkpoint, model_fingerprint, save_checkpoint, stable_repr,
                         state_digest)
from . import distributed, validation
from .data.augment import as_augmentation
from .data.loader import DeviceLoader
from .data.tensors import TensorLoader, is_features
from .history import History
from .initialisation import whiten_first_conv
from .precision import (autocast, autocast_dtype, make_grad_scaler, precision_name,
                        resolve_precision, speed_up_cuda, use_channels_last)
from .runtime import describe_device, get_device, rng_state, seed_everything, set_rng_state
from .settings import RunSettings, resolve_settings
from .weight_average import WeightAverage, check_ema

__all__ = ["fit", "evaluate", "forever", "History", "RunSettings", "CheckpointError",
           "CheckpointMismatchError", "model_fingerprint", "data_fingerprint", "save_checkpoint",
           "load_checkpoint", "load_weights", "TensorLoader", "as_loader", "autocast_dtype",
           "make_schedule", "make_optimizer", "WeightAverage"]

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_s", "lr")


def forever(loader):
    """Endless batches from ``loader``, pass after pass, for loops that count steps, not epochs.

    After each pass ``loader.epoch`` is one higher (a ``DeviceLoader`` advances it itself; any
    other loader with an ``epoch`` is advanced here), so every pass has a fresh shuffle and
    augmentation, and the same seed gives the same stream of batches, which resuming needs.
    """
    while True:
        before = getattr(loader, "epoch", None)
        batches = 0
        for batch in loader:
            batches += 1
            yield batch
        if batches == 0:  # looping on would hang without a word
            raise ValueError("the loader gave no batches: its data set is empty, or smaller than "
                             "one batch with drop_last=True; use more data or a smaller batch_size")
        if before is not None and loader.epoch == before:
            loader.epoch += 1


# --------------------------------------------------------------------------------------
# Optimiser and schedule (the device settings -- precision, memory layout -- are cnnlib.precision's)

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


def make_optimizer(model: nn.Module, kind, lr: float, momentum: float, weight_decay: float, *,
                   fused: bool = False):
    """SGD (Nesterov momentum) or AdamW over the trainable parameters, or ``kind(params)``.

    ``fused`` (for CUDA): one kernel updates all parameters, and the fp16 gradient scaler can
    hand it the "gradients overflowed" flag on the GPU instead of reading it on the host at
    every step (which would make the CPU wait for the GPU once per step).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (are they all frozen?)")
    if callable(kind) and not isinstance(kind, str):
        return kind(params)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0,
                               weight_decay=weight_decay, fused=fused or None)
    if kind == "adam":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
    raise ValueError(f"unknown optimizer {kind!r}; use 'sgd', 'adam' or a function params -> optimizer")


# --------------------------------------------------------------------------------------
# Data: image data sets (DeviceLoader) and feature tensors (cnnlib.data.tensors)

def as_loader(data, batch_size, *, train: bool, device, augment=None, seed=0, stats=None,
              channels_last=False):
    """Turn data into a loader: a data set into a ``DeviceLoader``, a ``(features, labels)``
    pair into a ``TensorLoader``; a loader is used as it is."""
    if isinstance(data, (DeviceLoader, TensorLoader)):
        return data
    drop_last = train and len(data[1] if is_features(data) else data) > batch_size
    if is_features(data):
        if augment is not None:
            raise ValueError("augment applies to uint8 images; feature tensors are used as they "
                             "are: pass augment=None")
        return TensorLoader(data[0], data[1], batch_size, shuffle=train, device=device, seed=seed,
                            drop_last=drop_last, channels_last=channels_last)
    mean, std = stats if stats is not None else (None, None)
    return DeviceLoader(data, batch_size, shuffle=train, augment=augment if train else None,
                        device=device, mean=mean, std=std, seed=seed, drop_last=drop_last,
                        channels_last=channels_last)


# --------------------------------------------------------------------------------------
# Bad input, caught before any training

def check_fit_arguments(model: nn.Module, epochs, lr) -> None:
    """Clear errors for settings that cannot train."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number of at least 1, got {epochs!r}")
    if not lr > 0:  # also catches NaN
        raise ValueError(f"lr must be a positive learning rate, got {lr!r} (typical values: "
                         "0.01 to 0.1 for SGD, 1e-3 for Adam)")
    if any(p.dtype == torch.float64 for p in model.parameters()):
        raise ValueError("the model's parameters are float64 (double); fit trains in float32: "
                         "call model.float() first")


def check_data(data, role: str) -> None:
    """Clear errors for a data set ``fit`` cannot train on; ``role``: "training" or "validation"."""
    if is_features(data) and not isinstance(data, TensorLoader):
        if len(data) != 2 or not all(isinstance(t, torch.Tensor) for t in data):
            raise ValueError(f"the {role} data must be a data set, a loader, or a "
                             "(features, labels) pair of tensors")
        inputs, labels = data
        if len(inputs) != len(labels):
            raise ValueError(f"the {role} features have {len(inputs)} rows but there are "
                             f"{len(labels)} labels; they must pair up one to one")
    else:
        inputs = data.features if isinstance(data, TensorLoader) else data.images
        labels = data.labels
    if len(labels) == 0:
        raise ValueError(f"the {role} set is empty (0 examples): check the subset or split that "
                         "made it")
    if inputs.dtype == torch.uint8 and inputs.dim() == 4 and inputs.shape[1] not in (1, 3) \
            and inputs.shape[-1] in (1, 3):
        raise ValueError(f"the {role} images have shape {tuple(inputs.shape)}: that is N×H×W×C "
                         "(channels last), but torch wants N×C×H×W; pass "
                         "images.permute(0, 3, 1, 2).contiguous()")
    if is_features(data):
        if inputs.dtype == torch.uint8:
            raise ValueError(f"the {role} features are uint8: images belong in an ImageDataset "
                             "(which normalises them); features must be float")
        if inputs.dtype == torch.float64:
            raise ValueError(f"the {role} features are float64; pass features.float()")
        if not inputs.is_floating_point():
            raise ValueError(f"the {role} features must be float tensors, got {inputs.dtype}")


def check_outputs(logits: torch.Tensor, classes: int | None, top_label: int) -> None:
    """The head must have one output per class: checked on the first batch, before the loss
    (on a GPU an out-of-range label is a device-side assert, not a readable error)."""
    outputs = logits.shape[-1]
    if outputs <= top_label:
        raise ValueError(f"the model has {outputs} outputs but the labels go up to {top_label}: "
                         f"labels {outputs}..{top_label} are out of range. Give the model a "
                         f"head with one output per class: cnnlib.transfer.replace_head(model, "
                         f"{classes or top_label + 1})")
    if classes is not None and outputs > classes:
        raise ValueError(f"the model has {outputs} outputs but the data has {classes} classes: "
                         "give it a head for this data with "
                         f"cnnlib.transfer.replace_head(model, {classes})")


# --------------------------------------------------------------------------------------
# Evaluation

@torch.no_grad()
def evaluate(model: nn.Module, data, *, batch_size: int = 500, device=None, precision=None,
             sharded: bool = False, tta: str | None = None) -> dict:
    """Mean cross-entropy loss and accuracy of ``model`` on ``data`` (a data set or loader).

    ``tta="flip"`` (test-time augmentation): the logits are the mean of the logits of each image
    and of its mirror image. Why: the net was trained on flipped images too, so both views are
    equally valid, and averaging two slightly different opinions cancels part of their errors
    (airbench gains a few tenths of a point this way) at twice the evaluation cost.
    ``tta="flip+translate"`` (airbench's multi-crop TTA, for nets trained with translations):
    half the flip average above, half the flip average of two copies shifted by one pixel
    (up-left and down-right, edges reflected): six views, six times the cost of none.

    ``precision``: as for :func:`fit` (``None``: the device's choice). ``sharded=True`` (under
    torchrun): each process evaluates its slice of every batch and the sums are added up over
    the processes, so every one gets the result for the whole data set; then every process must
    call it. The sums stay on the device until the end: one host-device synchronisation in all.
    """
    check_tta(tta)
    if tta is not None and is_features(data):
        raise ValueError(f"tta={tta!r} mirrors images; feature tensors have no left and right: "
                         "pass tta=None")
    validation.check_model_dtype(model)
    validation.check_examples(data, "evaluation")  # not empty, finite, labels 0, 1, ...
    device = validation.model_device(model, device)
    loader = as_loader(data, batch_size, train=False, device=device)
    dtype = resolve_precision(precision, device)
    # Batches in NHWC when the weights are (fit leaves a conv net so where that is faster);
    # evaluate never changes the model's memory layout itself, e.g. in the middle of a fit.
    channels_last = is_channels_last(model)
    world = distributed.current_world() if sharded else distributed.World()
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = torch.zeros((), device=device, dtype=torch.long)
    for step, (x, y) in enumerate(loader):
        x, y = distributed.shard(x, y, world)
        if len(y) == 0:  # a last batch smaller than the number of processes
            continue
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, dtype):
            logits = tta_logits(model, x, tta)
        if step == 0:  # before the loss reads logits[label]
            validation.check_head(logits, loader.labels, "evaluation")
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    for total in (loss_sum, correct, seen):
        world.all_reduce_sum(total)
    model.train(was_training)
    return {"loss": loss_sum.item() / seen.item(), "acc": correct.item() / seen.item()}


def is_channels_last(model: nn.Module) -> bool:
    """Whether ``model``'s conv weights are stored channels-last (NHWC)."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)
               and m.weight.shape[-2:] != (1, 1)]  # a 1x1 kernel is contiguous either way
    return bool(weights) and weights[0].is_contiguous(memory_format=torch.channels_last) \
        and not weights[0].is_contiguous()


TTA = (None, "flip", "flip+translate")


def check_tta(tta) -> None:
    if tta not in TTA:
        raise ValueError(f"unknown test-time augmentation tta={tta!r}; use None, 'flip' or "
                         "'flip+translate'")


def tta_logits(model: nn.Module, x: torch.Tensor, tta: str | None) -> torch.Tensor:
    """The fp32 logits of ``model`` for the images ``x`` with test-time augmentation ``tta``."""
    def with_mirror(images):
        return (model(images).float() + model(images.flip(3)).float()) / 2

    check_tta(tta)
    if tta is None:
        return model(x).float()
    if tta == "flip":
        return with_mirror(x)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[-2:]
    shifted = (with_mirror(padded[..., :h, :w]) + with_mirror(padded[..., 2:, 2:])) / 2
    return (with_mirror(x) + shifted) / 2


# --------------------------------------------------------------------------------------
# The recipe options (the moving average: cnnlib.weight_average; the whitened first layer:
# cnnlib.initialisation.whiten_first_conv)

WHITEN = (None, "zca", "pca")


def _normalised_sample(loader, n: int = 5_000) -> torch.Tensor:
    """Up to ``n`` training images, normalised as the net sees them (no augmentation)."""
    images = loader.images
    pad = loader.augment.padding if loader.augment is not None else 0
    if pad:  # the loader stores images padded once for its random shifts: cut the padding off
        images = images[:, :, pad:-pad, pad:-pad]
    index = torch.linspace(0, len(images) - 1, min(n, len(images))).long()
    return loader.normalise(images[index.to(images.device)]).float()


# --------------------------------------------------------------------------------------
# Training

def fit(model: nn.Module, train, val=None, settings: RunSettings | None = None, *, device=None,
        precision: str | None = None, channels_last: bool | None = None,
        sync_batchnorm: bool = False, checkpoint=None, progress: bool = False,
        on_epoch_end=None, **changes) -> History:
    """Train ``model`` on ``train`` (validating on ``val``); return its :class:`History`.

    What the run computes is one :class:`~cnnlib.settings.RunSettings`: pass one as
    ``settings``, or its fields as keywords (``fit(model, train, epochs=5, lr=0.1)``), which
    also override the fields of a given one. ``train`` and ``val``: what ``load_dataset``
    returns (uint8 images, normalised here), a ``DeviceLoader`` (it fixes its own batch size
    and augmentation: giving other ones is an error), or a ``(features, labels)`` pair of
    float tensors used as they are.

    Where it runs: ``device``; ``precision`` ``"auto"``/``None`` (the device's choice:
    :func:`autocast_dtype`), ``"bf16"``, ``"fp16"`` or ``"fp32"``; ``channels_last``
    (``None``: by device and precision); under ``torchrun`` each process trains on its slice
    of every batch and ``sync_batchnorm=True`` (CUDA) shares batch norm's statistics
    (``cnnlib.distributed``). Input/output: ``progress`` shows a bar; ``on_epoch_end(epoch,
    row)`` is called after each epoch.

    ``checkpoint``: a path. The run is saved there after every epoch with its settings, the
    model's fingerprint (every layer and its settings) and the data's (every image). If the
    file exists with the same settings, a finished run is loaded without training and an
    interrupted one resumes to the weights an uninterrupted run would have; with any other
    setting (more ``epochs`` included) it is a :class:`CheckpointMismatchError` listing each
    difference; an unusable file is a :class:`CheckpointError` naming it. Where it runs is
    recorded, not compared. Bad input is a ValueError that says what to do.
    """
    settings = resolve_settings(settings, changes)
    world = distributed.join(device)
    device = distributed.local_device(get_device(device), world)
    settings = _settings_of_loader(train, settings, changes)
    # cnnlib.validation: wrong types and values named before torch trips over them
    validation.check_fit_numbers(
        epochs=settings.epochs, lr=settings.lr, batch_size=settings.batch_size,
        momentum=settings.momentum, weight_decay=settings.weight_decay,
        label_smoothing=settings.label_smoothing, seed=settings.seed)
    validation.check_whiten_options(settings.whiten, settings.whiten_frozen)
    validation.check_model_dtype(model)
    check_fit_arguments(model, settings.epochs, settings.lr)
    check_data(train, "training")
    if val is not None:
        check_data(val, "validation")
        if is_features(val) != is_features(train):
            raise ValueError("train and val must be of the same kind: both images or both "
                             "(features, labels) tensors")
    validation.check_examples(train, "training")  # finite inputs, labels 0, 1, ...
    if val is not None:
        validation.check_examples(val, "validation")
    check_ema(settings.ema)
    check_tta(settings.tta)
    if settings.whiten not in WHITEN:
        raise ValueError(f"unknown whitening {settings.whiten!r}; use 'zca', 'pca' or None")
    if settings.whiten is not None and is_features(train):
        raise ValueError("whiten= sets a first conv from image patches; feature tensors have "
                         "none: pass whiten=None")
    dtype = resolve_precision(precision, device)
    if channels_last is None:
        channels_last = use_channels_last(model, device, dtype)
    speed_up_cuda(device)
    # The same seed in every process: the same initialisation, shuffle and augmentation (and
    # dropout masks that repeat from one process's slice to the next, so that the one RNG state
    # saved in the checkpoint is right for any number of processes).
    seed_everything(settings.seed)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)

    train_loader = as_loader(train, settings.batch_size, train=True, device=device,
                             augment=settings.augment, seed=settings.seed,
                             channels_last=channels_last)
    val_loader = None if val is None else as_loader(
        val, max(settings.batch_size, 500), train=False, device=device, stats=train_loader.stats,
        channels_last=channels_last)
    if settings.whiten is not None:  # before the fingerprint: a frozen layer is another model
        whiten_first_conv(model, _normalised_sample(train_loader), kind=settings.whiten,
                          frozen=settings.whiten_frozen, seed=settings.seed)
    compared = {"model": model_fingerprint(model), "train": data_fingerprint(train),
                "val": data_fingerprint(val), **settings.compared()}
    recorded = {"device": describe_device(device), "precision": precision_name(dtype),
                "channels_last": channels_last, "sync_batchnorm": sync_batchnorm,
                "world_size": world.size, "train_size": compared["train"]["size"]}
    # Wrapped after whitening: DistributedDataParallel fixes the set of trainable parameters.
    net = distributed.wrap_model(model, device, world, sync_batchnorm=sync_batchnorm)
    classes = len(train.classes) if hasattr(train, "classes") else None
    top_label = int(train_loader.labels.max())
    steps_per_epoch = len(train_loader)
    if world.size > 1:
        check_batch_splits(min(settings.batch_size, len(train_loader.labels)), world.size)
    opt = make_optimizer(model, settings.optimizer, settings.lr, settings.momentum,
                         settings.weight_decay, fused=device.type == "cuda")
    scheduler = make_schedule(opt, settings.schedule, settings.epochs * steps_per_epoch)
    scaler = make_grad_scaler(device, dtype)
    average = None if settings.ema is None else WeightAverage(model, settings.ema)
    history = History(settings={**compared, **recorded})

    start = 0
    saved = None if checkpoint is None else load_checkpoint(checkpoint, compared, device=device)
    # Every process reads the checkpoint; with several machines they must all find the same one.
    world.check_same(0 if saved is None else saved["progress"], "the epochs done in the checkpoint",
                     device)
    if saved is not None:
        # DistributedDataParallel made the ranks' weights equal; each now restores its own
        # reading of the checkpoint, so they must have read the same state.
        world.check_same_state(state_digest(saved["state"]), device)
        history = _restore(saved, checkpoint, model, opt, scheduler, scaler, device,
                           history.settings, average)
        if saved["finished"]:
            return history
        start = saved["progress"]
    if checkpoint is not None and world.is_main:  # fail now, not at the first save an epoch later
        validation.check_writable(checkpoint)

    bar = _progress_bar(progress and world.is_main, settings.epochs * steps_per_epoch,
                        start * steps_per_epoch)
    for epoch in range(start, settings.epochs):
        row = _train_one_epoch(net, train_loader, opt, scheduler, scaler, epoch, device, dtype,
                               settings.label_smoothing, bar, (classes, top_label), world, average)
        # Batch norm's running statistics are each process's own; rank 0's are the ones saved.
        distributed.broadcast_buffers(model, world)
        finished = epoch + 1 == settings.epochs
        if finished and average is not None:  # the run's result is the averaged weights
            model.load_state_dict(average.state)
        if val_loader is not None:
            with _evaluated_weights(model, average, finished):
                result = evaluate(model, val_loader, device=device, precision=precision_name(dtype),
                                  sharded=True, tta=settings.tta)
            row.update(val_loss=result["loss"], val_acc=result["acc"])
        history.append(row)
        if checkpoint is not None and world.is_main:
            save_checkpoint(checkpoint, settings=compared, recorded=recorded,
                            state=_run_state(model, opt, scheduler, scaler, device, average),
                            history=history, progress=epoch + 1, finished=finished)
        if bar is not None:
            bar.set_postfix({k: round(v, 4) for k, v in row.items()
                             if k in ("train_loss", "train_acc", "val_acc") and v is not None})
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    if bar is not None:
        bar.close()
    return history


def _settings_of_loader(train, settings: RunSettings, changes: dict) -> RunSettings:
    """``settings`` with the batch size and augmentation a given loader really uses.

    A ``DeviceLoader`` (or ``TensorLoader``) makes its own batches: a ``batch_size`` or
    ``augment`` given to ``fit`` as well would be ignored, and recorded as if used. So one
    that differs from the loader's is an error, and the checkpoint records the loader's.
    """
    if not isinstance(train, (DeviceLoader, TensorLoader)):
        return settings
    used = {"batch_size": train.batch_size, "augment": getattr(train, "augment", None)}
    for name, value in used.items():
        wanted = getattr(settings, name)
        given = name in changes or not settings.is_default(name)
        same = stable_repr(as_augmentation(wanted) if name == "augment" else wanted) == \
            stable_repr(value)
        if given and not same:
            raise ValueError(
                f"{name}={wanted!r} cannot apply: the training data is a "
                f"{type(train).__name__}, which makes its batches with {name}={value!r}. Pass "
                f"the data set instead of the loader, or give the loader the {name} you want "
                f"and leave {name} out of fit")
    return dataclasses.replace(settings, **used)


def _evaluated_weights(model, average, finished):
    """The weights validation sees: the moving average's (swapped in for the evaluation) while
    training goes on; at the end the model already holds them."""
    if average is None or finished:
        return contextlib.nullcontext(model)
    return average.swapped_in(model)


def check_batch_splits(batch: int, processes: int) -> None:
    """Every process needs at least one image of every training batch."""
    if batch < processes:
        raise ValueError(f"a training batch of {batch} images cannot be split over {processes} "
                         f"processes; use a batch_size (and a training set) of at least "
                         f"{processes} images, or fewer processes")


def _train_one_epoch(net, loader, opt, scheduler, scaler, epoch, device, dtype, label_smoothing,
                     bar, classes_and_top_label, world, average=None):
    """One pass over ``loader``; ``net`` is the model, or its DistributedDataParallel wrapper;
    ``average``: the moving average of the weights (a :class:`WeightAverage`) or None."""
    net.train()
    loader.epoch = epoch  # epoch k always sees the same shuffle and augmentation
    losses, lrs = [], []  # losses: the global batch's mean loss at each step
    shares = []  # this process's part of the losses not yet added up over the processes
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader):
        batch = len(y)  # the global batch; this process trains on its slice
        x, y = distributed.shard(x, y, world)
        with autocast(device, dtype):
            logits = net(x)
        if step == 0:
            check_outputs(logits, *classes_and_top_label)
        loss_sum = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing,
                                   reduction="sum")
        opt.zero_grad(set_to_none=True)
        # DistributedDataParallel averages the processes' gradients. Scaling each slice's summed
        # loss by processes/batch makes that average the gradient of the global batch's mean
        # loss, whatever the slice sizes (alone: the plain mean).
        scaler.scale(loss_sum * (world.size / batch)).backward()
        scaler.step(opt)  # skips the step if fp16 gradients overflowed
        scaler.update()
        if average is not None:
            average.update(getattr(net, "module", net))
        lrs.append(scheduler.get_last_lr()[0])
        _step_schedule(scheduler, quiet=step == 0 and scaler.is_enabled())
        shares.append(loss_sum.detach() / batch)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += batch
        # Checking every step would force a GPU sync per step; every 20 steps costs nothing
        # and still names the exact step where the loss first stopped being finite. Adding the
        # shares up first means every process sees the same losses and stops at the same step.
        if (step + 1) % 20 == 0 or step + 1 == len(loader):
            losses.extend(world.all_reduce_sum(torch.stack(shares)).unbind())
            shares = []
            _check_finite(losses, lrs, epoch, len(loader))
        if bar is not None:
            bar.update(1)
    world.all_reduce_sum(correct)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"epoch": epoch + 1, "train_loss": torch.stack(losses).mean().item(),
            "train_acc": correct.item() / seen, "val_loss": None, "val_acc": None,
            "seconds": seconds, "images_per_s": seen / seconds, "lr": lrs[-1]}


def _step_schedule(scheduler, quiet: bool) -> None:
    """Advance the learning-rate schedule by one step.

    With fp16 the scaler usually skips the very first optimiser step (its initial scale is
    meant to overflow once), and torch then warns that the schedule stepped first. The schedule
    counts steps on purpose, skipped or not, so that the step number alone sets the learning
    rate (and a resumed run re-plans it): ``quiet`` silences that one warning.
    """
    if not quiet:
        scheduler.step()
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
        scheduler.step()


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
# What fit's checkpoints hold (the file format and the settings check: cnnlib.checkpoint)

def _run_state(model, opt, scheduler, scaler, device, average=None) -> dict:
    """Everything needed to continue bit for bit: weights, optimizer, schedule, the gradient
    scaler's current scale (fp16) and RNG states. ``model`` is the bare model, not a
    DistributedDataParallel wrapper, so any number of processes can resume it."""
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             **rng_state(device)}
    if average is not None:  # without it a resumed run would restart its average: other weights
        state["ema"] = average.state_dict()
    return state


def _restore(saved, path, model, opt, scheduler, scaler, device, settings, average=None) -> History:
    """Put a saved run's state back; return its history (settings: this call's, plus where it
    resumed)."""
    state = saved["state"]
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # A run saved in fp32/bf16 has no scale to restore (an empty state); precision is not
        # compared, so it may resume in fp16 with a fresh scaler.
        if state.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        if average is not None and not saved["finished"]:  # finished: the model is the average
            average.load_state_dict(state["ema"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise CheckpointError(f"the checkpoint {path} does not fit this model or optimizer "
                              f"({str(err).splitlines()[0]}); delete it to train afresh, or pass "
                              "another checkpoint path") from err
    set_rng_state(state, device)
    history = saved["history"]
    return History(history.rows, {**history.settings, **settings,
                                  "resumed_from_epoch": saved["progress"]})


def load_weights(model: nn.Module, path) -> nn.Module:
    """Load the model weights of a ``fit`` checkpoint into ``model`` (safely, weights only)."""
    saved = load_checkpoint(path, None, device="cpu")
    if saved is None:
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        model.load_state_dict(saved["state"]["model"])
    except RuntimeError as err:
        raise CheckpointError(f"the checkpoint {path} holds the weights of another model "
                              f"({str(err).splitlines()[0]}); pass the checkpoint of this model") from err
    return model
