"""Benchmark: time to 94 % CIFAR-10 test accuracy on one GPU, cnnlib's ``fit`` vs airbench94.

The book's fastest CIFAR-10 recipe: a 9-layer residual net (64-128-256-512 channels, the
DAWNBench design of Page, "How to train your ResNet") trained by ``fit`` with its device
defaults (bf16 or fp16 autocast, channels_last, cuDNN autotuning), batch 512, SGD with Nesterov
momentum 0.9, weight decay 5e-4, the one-cycle schedule peaking at lr 0.4, 24 epochs, random
crops (pad 4), flips and 8x8 cutout. ``time_to_94`` is the training time (fit's per-epoch
seconds, evaluation excluded) up to the first epoch whose test accuracy is at least 94 %.

Beside it, in the same process on the same GPU and the same CIFAR-10 images (cnnlib's offline
copy, handed to airbench instead of its download): airbench94 (Keller Jordan's
``airbench==0.1.8``, ``train94``), the fastest published recipe, timed as airbench times itself
(whitening set-up + training + its test-time-augmented evaluation). Published: 2.59 s on an
A100 (mean of n=200 runs). airbench runs only on CUDA; without it, or without a GPU, the bench
says so and runs cnnlib's side alone.

Last line: ``time_to_94 S s (airbench94 A s)`` (``n/a`` where a side did not reach 94 % or did
not run).

    python bench/cifar10_gpu.py                # the real benchmark (a CUDA GPU)
    python bench/cifar10_gpu.py --smoke        # toy size, on any device, in seconds (CI)
    python bench/cifar10_gpu.py --json F.json  # also write the figures to F.json (make gpu-check)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from cnnlib.data import Augment, load_dataset
from cnnlib.runtime import describe_device, get_device
from cnnlib.train import fit

AIRBENCH_PUBLISHED = "2.59 s on an A100 (n=200)"
TARGET = 0.94


# --------------------------------------------------------------------------------------
# The book's recipe

def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class Residual(nn.Module):
    """x + f(x): the two-conv residual block of the 9-layer net."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x):
        return x + self.body(x)


class Scale(nn.Module):
    """Multiply the logits by a constant (0.125: keeps the initial softmax soft)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def resnet9(width: int = 64, num_classes: int = 10) -> nn.Module:
    """The 9-layer residual net: widths ``width`` x (1, 2, 4, 8); 6.6 M parameters at 64."""
    w = [width, 2 * width, 4 * width, 8 * width]
    return nn.Sequential(
        conv_bn(3, w[0]),
        conv_bn(w[0], w[1]), nn.MaxPool2d(2), Residual(w[1]),
        conv_bn(w[1], w[2]), nn.MaxPool2d(2),
        conv_bn(w[2], w[3]), nn.MaxPool2d(2), Residual(w[3]),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(w[3], num_classes, bias=False),
        Scale(0.125))


class CropFlipCutout:
    """Random crop (zero padding ``translate``) and flip, then one ``size`` x ``size`` square per
    image set to ``fill`` (the data set's mean colour, i.e. 0 after normalising): cutout."""

    def __init__(self, translate: int, size: int, fill):
        self.crop_flip = Augment(translate=translate, flip=True)
        self.size = size
        self.fill = torch.tensor(fill, dtype=torch.uint8).reshape(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        images = self.crop_flip(images, generator)
        n, _, h, w = images.shape
        top = torch.randint(0, h - self.size + 1, (n, 1, 1, 1), generator=generator).to(images.device)
        left = torch.randint(0, w - self.size + 1, (n, 1, 1, 1), generator=generator).to(images.device)
        rows = torch.arange(h, device=images.device).reshape(1, 1, h, 1)
        cols = torch.arange(w, device=images.device).reshape(1, 1, 1, w)
        inside = (rows >= top) & (rows < top + self.size) & (cols >= left) & (cols < left + self.size)
        return torch.where(inside, self.fill.to(images.device), images)


def time_cnnlib(train, test, *, epochs: int, batch_size: int, width: int, device) -> dict:
    """Train the recipe (after a short warm-up for cuDNN's autotuning); time to 94 % and more."""
    fill = [round(255 * m) for m in train.mean]
    augment = CropFlipCutout(translate=4, size=8, fill=fill)
    kwargs = dict(lr=0.4, batch_size=batch_size, momentum=0.9, weight_decay=5e-4,
                  augment=augment, device=device, progress=False)
    # Warm-up: two batches, so the timed run does not pay for choosing convolution algorithms.
    fit(resnet9(width), train.subset(min(len(train), 2 * batch_size)), epochs=1, seed=1, **kwargs)
    torch.manual_seed(0)
    model = resnet9(width)
    history = fit(model, train, test, epochs=epochs, seed=0, **kwargs)
    elapsed, reached = 0.0, None
    for row in history.rows:
        elapsed += row["seconds"]
        if reached is None and row["val_acc"] >= TARGET:
            reached = elapsed
    return {"time_to_94": reached, "seconds": elapsed, "final_acc": history.last["val_acc"],
            "best_acc": max(history["val_acc"]), "epochs": epochs,
            "settings": {k: history.settings[k] for k in ("device", "precision", "channels_last")}}


# --------------------------------------------------------------------------------------
# airbench94 on the same data

def airbench_unavailable(device) -> str | None:
    """Why airbench94 cannot run here, or ``None`` when it can."""
    if torch.device(device).type != "cuda":
        return "airbench needs CUDA"
    try:
        import airbench  # noqa: F401
    except ImportError:
        return "airbench not installed (pip install airbench==0.1.8)"
    return None


def write_airbench_data(train, test, folder: Path) -> Path:
    """cnnlib's CIFAR-10 in airbench's file format (``cifar10/train.pt``, ``test.pt``: NHWC uint8),
    so airbench loads these images instead of downloading its own."""
    root = folder / "cifar10"
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (("train.pt", train), ("test.pt", test)):
        torch.save({"images": data.images.permute(0, 2, 3, 1).contiguous(), "labels": data.labels,
                    "classes": list(data.classes)}, root / name)
    return root


def parse_airbench_log(log: str) -> dict:
    """airbench's own result from its printed table: the final (``eval``) row holds the
    test-time-augmented accuracy and ``total_time_seconds`` (set-up + training + that evaluation,
    timed with CUDA events; the per-epoch evaluations it prints are not counted)."""
    rows = [line.split("|")[1:-1] for line in log.splitlines() if line.startswith("|")]
    final = [cells for cells in rows if cells and cells[1].strip() == "eval"]
    if not final:
        raise ValueError(f"no final 'eval' row in airbench's output:\n{log[-2000:]}")
    *_, tta_acc, seconds = (cell.strip() for cell in final[-1])
    return {"seconds": float(seconds), "acc": float(tta_acc)}


def time_airbench(train, test) -> dict:
    """Run airbench94 once to warm up and once timed, as its own benchmark does; return its own
    timing and accuracy, and the wall-clock time of the whole call (which also includes
    loading its test file and its per-epoch evaluations)."""
    import airbench
    from airbench import lib_airbench94

    with tempfile.TemporaryDirectory() as tmp:
        root = write_airbench_data(train, test, Path(tmp))
        cwd = os.getcwd()
        os.chdir(tmp)  # airbench's train() opens its test set at the relative path 'cifar10'
        try:
            loader = airbench.CifarLoader(str(root), train=True,
                                          batch_size=lib_airbench94.hyp["opt"]["batch_size"],
                                          aug=lib_airbench94.hyp["aug"], altflip=True)
            with contextlib.redirect_stdout(io.StringIO()):
                airbench.train94(loader, run=-1, verbose=True)  # warm-up: returns after one step
            torch.cuda.synchronize()
            log = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(log):
                airbench.train94(loader, verbose=True)
            torch.cuda.synchronize()
            wall = time.perf_counter() - start
        finally:
            os.chdir(cwd)
    return {**parse_airbench_log(log.getvalue()), "wall": wall}


# --------------------------------------------------------------------------------------

def fmt(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="toy size (1,024 images, width 8, 1 epoch): checks that it runs")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--no-airbench", action="store_true", help="time cnnlib's recipe only")
    parser.add_argument("--json", help="also write the figures to this file (tools/gpu_check.py reads it)")
    args = parser.parse_args(argv)

    device = get_device()
    train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    if args.smoke:
        train, test = train.subset(1024, seed=0), test.subset(512, seed=0)
        epochs, batch_size, width = 1, 128, 8
    else:
        epochs, batch_size, width = args.epochs, 512, 64
    print(f"device: {describe_device(device)}; torch {torch.__version__}; "
          f"{len(train):,} training / {len(test):,} test images")

    ours = time_cnnlib(train, test, epochs=epochs, batch_size=batch_size, width=width, device=device)
    print(f"cnnlib fit, 9-layer ResNet (width {width}), {epochs} epochs: test accuracy "
          f"{ours['final_acc']:.4f} (best {ours['best_acc']:.4f}), {ours['seconds']:.2f} s of "
          f"training; settings {ours['settings']}")

    theirs, theirs_seconds = None, None
    why_not = "not asked for (--no-airbench)" if args.no_airbench else airbench_unavailable(device)
    if args.smoke and why_not is None:
        why_not = "not run at --smoke size (airbench trains full CIFAR-10 only)"
    if why_not is None:
        theirs = time_airbench(train, test)
        theirs_seconds = theirs["seconds"] if theirs["acc"] >= TARGET else None
        print(f"airbench94 on the same GPU and data: test accuracy {theirs['acc']:.4f} (with its "
              f"test-time augmentation), {theirs['seconds']:.2f} s by its own timer "
              f"({theirs['wall']:.2f} s wall); published: {AIRBENCH_PUBLISHED}")
    else:
        print(f"airbench94 not run: {why_not}; published: {AIRBENCH_PUBLISHED}")
    print(f"time_to_94 {fmt(ours['time_to_94'])} s (airbench94 {fmt(theirs_seconds)} s)")
    if args.json:
        figures = {"device": describe_device(device), "torch": torch.__version__,
                   "train_images": len(train), "test_images": len(test), "cnnlib": ours,
                   "airbench94": theirs if why_not is None else {"not_run": why_not},
                   "airbench94_time_to_94": theirs_seconds}
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
