"""MNIST-M: MNIST digits blended with patches of colour photos (chapter 11).

Ganin & Lempitsky (2015) built MNIST-M as the *target* domain of their digit experiments: each
MNIST digit is binarised and blended with a random 28x28 crop of a photo from BSDS500 by taking
the absolute difference per colour channel,

    out[c, i, j] = | patch[c, i, j] - 255 * (digit[i, j] > 0) |,

so the background keeps the photo and the strokes show it with inverted colours. BSDS500 is not
available offline, so the photos here are scikit-image's natural colour photos and CIFAR-10
images (``backgrounds=``). A fixed seed makes the set reproducible; it is built once and cached
(``$CNNLIB_CACHE``), with the same labels, in the same order, as the MNIST split it comes from.
The cache is keyed by the sources of the MNIST and CIFAR-10 images it is made from, and a
damaged cache is built again.
"""
from __future__ import annotations

import torch

from ..runtime import writable_cache_dir
from .cache import cache_path, read_cache, write_cache
from .datasets import ImageDataset, load_files, source_key

__all__ = ["blend", "random_crops", "skimage_photos", "load_mnist_m", "build_mnist_m"]

# Natural colour photos shipped with scikit-image (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")
VERSION = 1  # bump when the recipe changes, so an old cache is rebuilt
BACKGROUNDS = ("skimage", "cifar10", "both")


def blend(digits: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """|patch - binarised digit| per channel: uint8 N×1×H×W digits, N×3×H×W patches -> N×3×H×W."""
    strokes = (digits > 0).to(torch.int16) * 255
    return (patches.to(torch.int16) - strokes).abs().to(torch.uint8)


def random_crops(pool: list[torch.Tensor], n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random ``size``x``size`` crops (uint8 n×3×size×size), each from a random image of ``pool``."""
    which = torch.randint(len(pool), (n,), generator=generator).tolist()
    crops = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for k, i in enumerate(which):
        image = pool[i]
        top = int(torch.randint(image.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(image.shape[2] - size + 1, (1,), generator=generator))
        crops[k] = image[:, top:top + size, left:left + size]
    return crops


def skimage_photos() -> list[torch.Tensor]:
    """scikit-image's natural colour photos as uint8 3×H×W tensors."""
    import skimage.data

    photos = []
    for name in SKIMAGE_PHOTOS:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image  # the stereo pair: left image
        photos.append(torch.from_numpy(image[..., :3].copy()).permute(2, 0, 1).contiguous())
    return photos


def build_mnist_m(split: str, *, seed: int = 0, backgrounds: str = "both",
                  download: bool = True) -> ImageDataset:
    """Build one split of MNIST-M from ``load_files("mnist", split)`` (not cached; see below).

    ``backgrounds``: ``"skimage"`` (crops of 5 large photos, closest to BSDS500's photos),
    ``"cifar10"`` (crops of CIFAR-10 images of the same split, many different scenes) or
    ``"both"`` (each digit picks one of the two sources with a fair coin).
    """
    mnist = load_files("mnist", split, download=download)
    check_backgrounds(backgrounds)
    generator = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    n, size = len(mnist), mnist.images.shape[-1]
    pools = {}
    if backgrounds in ("skimage", "both"):
        pools["skimage"] = skimage_photos()
    if backgrounds in ("cifar10", "both"):
        pools["cifar10"] = list(load_files("cifar10", split, download=download).images)
    if len(pools) == 1:
        patches = random_crops(next(iter(pools.values())), n, size, generator)
    else:
        use_cifar = torch.rand(n, generator=generator) < 0.5
        patches = torch.empty(n, 3, size, size, dtype=torch.uint8)
        for flag, pool in ((False, pools["skimage"]), (True, pools["cifar10"])):
            index = (use_cifar == flag).nonzero().flatten()
            patches[index] = random_crops(pool, len(index), size, generator)
    return ImageDataset(blend(mnist.images, patches), mnist.labels.clone(), list(mnist.classes),
                        "mnist_m", split, f"built from {mnist.source} mnist/{split}, {backgrounds}")


def check_backgrounds(backgrounds: str) -> None:
    if backgrounds not in BACKGROUNDS:
        raise ValueError(f"unknown backgrounds {backgrounds!r}; use 'skimage', 'cifar10' or 'both'")


def mnist_m_cache_path(seed: int, backgrounds: str):
    """The cache file: the recipe (version, backgrounds, seed) and the sources of its inputs."""
    sources = [source_key("mnist")]
    if backgrounds != "skimage":
        sources.append(source_key("cifar10"))
    return cache_path(f"mnist_m_v{VERSION}_{backgrounds}_seed{seed}", "_".join(sources))


def load_mnist_m(split: str = "train", *, seed: int = 0, backgrounds: str = "both",
                 download: bool = True) -> ImageDataset:
    """MNIST-M ``split`` ("train"/"test"): 3×28×28 uint8, MNIST's labels; built once, then cached.

    Both splits are normalised with the training split's statistics, as ``load_dataset`` does.
    """
    check_backgrounds(backgrounds)
    path = mnist_m_cache_path(seed, backgrounds)
    data = read_cache(path)
    if data is None:
        writable_cache_dir()  # before building: a read-only cache fails now, with advice
        built = {s: build_mnist_m(s, seed=seed, backgrounds=backgrounds, download=download)
                 for s in ("train", "test")}
        data = {f"{s}_{k}": getattr(d, k) for s, d in built.items() for k in ("images", "labels")}
        data["source"] = built["train"].source
        data["mean"], data["std"] = map(list, built["train"].stats)
        write_cache(data, path)
    return ImageDataset(data[f"{split}_images"], data[f"{split}_labels"], [str(d) for d in range(10)],
                        "mnist_m", split, data["source"].replace("/train", f"/{split}"),
                        (data["mean"], data["std"]))
