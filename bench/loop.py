"""Benchmark: ``cnnlib.train.fit`` vs a bare hand-written PyTorch loop, same run.

Same model (three conv blocks of 32/64/128 channels with batch norm), same CIFAR-10 images, same
batches. Three loops, interleaved so machine noise hits them alike:

- bare: fp32, default memory format (what a first PyTorch loop looks like);
- bare+: the bare loop with the settings fit chooses for this device (channels_last, bf16);
- fit:  cnnlib's fit with its default choices.

Prints images/s for each; ``overhead`` is fit vs bare+ (the cost of fit's bookkeeping). Last line:
``ratio N.NN``: fit's images/s over the bare loop's.

    python bench/loop.py [--images 8192] [--rounds 2]
"""
import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import Timer, small_cifar_net  # noqa: E402

from cnnlib.data import DeviceLoader, load_dataset  # noqa: E402
from cnnlib.train import autocast_dtype, fit  # noqa: E402

BATCH = 128


def bare_loop(model, loader, channels_last, bf16):
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    seen = 0
    with Timer() as t:
        for x, y in loader:
            x = x.contiguous(memory_format=memory)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
    return seen / t.seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset("cifar10", "train").subset(args.images)
    bf16 = autocast_dtype("cpu") is torch.bfloat16
    print(f"fit's choice here: channels_last=True, bf16={bf16}; {args.images:,} images, batch {BATCH}")
    results = {"bare": [], "bare+": [], "fit": []}
    for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
        loader = DeviceLoader(data, BATCH, shuffle=True, drop_last=True, device="cpu")
        speeds = {
            "bare": bare_loop(small_cifar_net(), loader, channels_last=False, bf16=False),
            "bare+": bare_loop(small_cifar_net(), loader, channels_last=True, bf16=bf16),
            "fit": fit(small_cifar_net(), data, epochs=1, lr=0.05, batch_size=BATCH,
                       schedule="constant", progress=False, device="cpu").last["images_per_s"],
        }
        if round_:
            for key, value in speeds.items():
                results[key].append(value)
        print(f"round {round_}{' (warm-up)' if not round_ else ''}: "
              + ", ".join(f"{k} {v:,.0f} img/s" for k, v in speeds.items()), flush=True)
    best = {k: max(v) for k, v in results.items()}
    print(f"best of {args.rounds}: " + ", ".join(f"{k} {v:,.0f} img/s" for k, v in best.items()))
    print(f"overhead of fit vs a bare loop with the same settings: {100 * (1 - best['fit'] / best['bare+']):+.1f} %")
    print(f"ratio {best['fit'] / best['bare']:.2f}")


if __name__ == "__main__":
    main()
