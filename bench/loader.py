"""Benchmark: cnnlib's DeviceLoader vs torchvision's DataLoader + PIL transforms, same run.

Both produce CIFAR-10 training batches of 256 with the same augmentation (random crop of the
4-pixel zero-padded image, random horizontal flip) and normalisation. The DataLoader is timed at
its best num_workers. Last line: ``speedup N.Nx``.

    python bench/loader.py            (needs CIFAR-10: CNNLIB_DATA or a download)
"""
import sys
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).parent))
from common import Timer  # noqa: E402

from cnnlib.data import Augment, DeviceLoader, load_dataset  # noqa: E402

BATCH = 256


class PILDataset(Dataset):
    """CIFAR-10 the way torchvision.datasets.CIFAR10 serves it: a PIL image per example."""

    def __init__(self, data, transform):
        self.images = data.images.permute(0, 2, 3, 1).numpy()
        self.labels = data.labels.numpy()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def images_per_second(loader, passes):
    seen = 0
    with Timer() as t:
        for _ in range(passes):
            for _x, y in loader:
                seen += len(y)
    return seen / t.seconds


def main():
    data = load_dataset("cifar10", "train")
    mean, std = data.mean, data.std
    pil = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                              transforms.ToTensor(), transforms.Normalize(mean, std)])
    baseline = {}
    for workers in (0, 1, 2):
        loader = DataLoader(PILDataset(data, pil), BATCH, shuffle=True, num_workers=workers,
                            persistent_workers=workers > 0)
        images_per_second(loader, 1) if workers else None  # start the workers once
        baseline[workers] = images_per_second(loader, 1)
        print(f"DataLoader + PIL, num_workers={workers}: {baseline[workers]:,.0f} img/s", flush=True)
    best = max(baseline, key=baseline.get)

    device = DeviceLoader(data, BATCH, shuffle=True, augment=Augment(translate=4, flip=True), device="cpu")
    images_per_second(device, 1)  # warm-up
    ours = images_per_second(device, 5)
    print(f"cnnlib DeviceLoader (cpu): {ours:,.0f} img/s")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"best DataLoader: num_workers={best}")
    print(f"speedup {ours / baseline[best]:.1f}x")


if __name__ == "__main__":
    main()
