"""The pilot behind chapter 7's learning rates (cnnlib.pretrained.FIG1_LR).

Krizhevsky et al. chose each network's learning rate "independently to make training as fast
as possible". This trains the four-layer net with ReLU and with tanh units at each of a few
learning rates, 8 epochs on 10,000 CIFAR-10 training images with the paper's inputs and
initialisation (cnnlib.pretrained.fig1_data/fig1_net), and prints the training error per epoch;
the rate with the lowest final error is each net's.

    python tools/pilot_relu_tanh.py                 # about 2 minutes on one CPU thread
    python tools/pilot_relu_tanh.py --images 500 --epochs 1 --rates 0.01   # seconds
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from cnnlib.pretrained import fig1_data, fig1_net  # noqa: E402
from cnnlib.recipe import RECIPES  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.01, 0.003, 0.001, 0.0003])
    args = parser.parse_args(argv)
    train = fig1_data()[0].subset(args.images, seed=0)
    recipe = RECIPES["krizhevsky2012-fig1"]
    best = {}
    for activation in ("relu", "tanh"):
        for lr in args.rates:
            torch.manual_seed(0)
            history = recipe.fit(fig1_net(activation), train, epochs=args.epochs, lr=lr,
                                 progress=False)
            errors = [1 - a for a in history["train_acc"]]
            print(f"{activation:4} lr {lr:<7g} training error per epoch: "
                  + " ".join(f"{e:.3f}" for e in errors), flush=True)
            if activation not in best or errors[-1] < best[activation][1]:
                best[activation] = (lr, errors[-1])
    for activation, (lr, error) in best.items():
        print(f"fastest for {activation}: lr {lr:g} (training error {error:.3f})")
    return best


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
