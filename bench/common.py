"""Shared bits of the benchmarks: the small CIFAR-10 net and a timer."""
import time

import torch
from torch import nn


def small_cifar_net(seed: int = 0) -> nn.Module:
    """Three conv blocks of 32/64/128 channels with batch norm: the net bench/loop.py times."""
    torch.manual_seed(seed)

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True), nn.MaxPool2d(2))

    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128),
                         nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(128, 10))


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
