"""Benchmark: CIFAR-10 test accuracy against wall time on this CPU, the recipe vs fit's defaults.

Both sides train the same net, ``cnnlib.recipe.airbench_net`` at airbench94's widths
(64-256-256; the recipe's own default is half that), on all 50,000 training images for the same
number of epochs, and are tested on all 10,000 test images:

- **recipe**: ``RECIPES["airbench-cpu"]``: a frozen PCA-whitened first layer, batch 512,
  Nesterov SGD at lr 0.4 with warm-up and linear decay, label smoothing 0.2, flips and 2-pixel
  translations, a moving average of the weights (ema 0.99), test-time augmentation over six
  flipped and shifted views;
- **defaults**: ``fit``'s defaults (batch 128, the same SGD and schedule, no augmentation, no
  label smoothing, no average, no whitening, no TTA) at the book's BN learning rate 0.1.

The time of a side is its wall time from building the net to its test accuracy (whitening,
training, evaluation). Last line: ``accuracy A % in S s (defaults: B % in T s)``.

The budget, measured (the goal: >= 90 % in <= 15 minutes on the 2-core AMD EPYC with AVX-512
BF16, a quiet machine, bf16 autocast). At half airbench's widths (32-128-128, 33 M
multiply-adds per image) the recipe trains ~2,500 images/s but levels off below the goal:
86.42 % after 8 epochs (203 s), 88.73 % after 16 (309 s), 89.23 % after 30 (608 s), all with
two-view TTA. The offline CIFAR-10 is stored as JPEG, which seems to cost accuracy: airbench94
itself, given these images on an H200, reached 90.58 %, not its published 94 %. At airbench94's widths
(3.6x the multiply-adds) the recipe trains ~870 images/s, 57 s an epoch: 12 epochs gave
89.83 % in 706 s with six-view TTA, and the default, 14 epochs, 90.15 % in 792 s (fit's
defaults on the same net and epochs: 85.84 % in 720 s, at 100 % training accuracy). Time is
linear in ``--epochs``; the evaluation with six views takes ~20 s.

    python bench/cifar10_cpu.py                    # the real benchmark (~30 minutes: both sides)
    python bench/cifar10_cpu.py --skip-defaults    # the recipe alone
    python bench/cifar10_cpu.py --epochs 16 --widths 32 128 128  # try another budget
    python bench/cifar10_cpu.py --smoke            # toy size, seconds (tests)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from cnnlib.data import DeviceLoader, load_dataset  # noqa: E402
from cnnlib.recipe import RECIPES, airbench_net  # noqa: E402
from cnnlib.runtime import describe_device  # noqa: E402
from cnnlib.train import evaluate, fit  # noqa: E402

DEFAULTS_LR = 0.1  # the book's learning rate for BN nets at batch 128 (cnnlib.compact)
# The budget for >= 90 % in <= 15 minutes on the 2-core CPU (measured: see the docstring)
WIDTHS = (64, 256, 256)  # airbench94's
EPOCHS = 14


def run_side(name: str, build, train, test, fit_kwargs: dict, tta, device) -> dict:
    """Train a fresh net with ``fit_kwargs``, test it; accuracy and wall time, per-epoch rows."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build()
    elapsed = []
    history = fit(model, train, **fit_kwargs, device=device,
                  on_epoch_end=lambda epoch, row: elapsed.append(time.perf_counter() - start))
    loader = DeviceLoader(test, 500, device=device, mean=train.mean, std=train.std)
    acc = evaluate(model, loader, device=device, tta=tta)["acc"]
    seconds = time.perf_counter() - start
    for row, t in zip(history.rows, elapsed):
        print(f"  {name}: epoch {row['epoch']}: train acc {100 * row['train_acc']:.1f} %, "
              f"{row['images_per_s']:.0f} images/s, {t:.1f} s elapsed")
    print(f"  {name}: test accuracy {100 * acc:.2f} % after {seconds:.1f} s")
    return {"acc": acc, "seconds": seconds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy size, seconds")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"default: {EPOCHS}")
    parser.add_argument("--widths", type=int, nargs=3, default=WIDTHS,
                        help=f"default: {' '.join(map(str, WIDTHS))}")
    parser.add_argument("--skip-defaults", action="store_true", help="time the recipe alone")
    args = parser.parse_args(argv)

    device = torch.device("cpu")
    recipe = RECIPES["airbench-cpu"]
    train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    widths, epochs = tuple(args.widths), args.epochs
    if args.smoke:
        train, test = train.subset(256), test.subset(256)
        widths, epochs = (8, 16, 16), 1
    recipe = recipe.replace(epochs=epochs)
    print(f"CIFAR-10 on {describe_device(device)}: "
          f"{len(train):,} training and {len(test):,} test images, airbench_net{widths}, "
          f"{epochs} epochs")

    def build():
        return airbench_net(widths)

    ours = run_side("recipe", build, train, test, recipe.fit_kwargs(), recipe.settings.tta, device)
    if args.skip_defaults:
        print(f"accuracy {100 * ours['acc']:.2f} % in {ours['seconds']:.1f} s (defaults: not run)")
        return
    base = run_side("defaults", build, train, test, {"epochs": epochs, "lr": DEFAULTS_LR}, None,
                    device)
    print(f"accuracy {100 * ours['acc']:.2f} % in {ours['seconds']:.1f} s "
          f"(defaults: {100 * base['acc']:.2f} % in {base['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
