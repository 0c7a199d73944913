"""MNIST, USPS and CIFAR-10 as uint8 tensors, decoded from files: ``load_files(name, split)``.

(Chapters call ``load_dataset``, in ``cnnlib.data.registry``, which also knows MNIST-M.)

Where the images come from, in order:

1. the decoded cache (``cnnlib.data.cache``), a file per data set and source;
2. the offline folder named by ``$CNNLIB_DATA`` (the layout of the book's ``shared/data`` folder,
   checksums verified against its ``SHA256SUMS``);
3. a download (``cnnlib.download``: resumed, time-limited, MD5-checked) of the data set's
   archives: the book's own copy (a release asset of the repository) first, then the origin;
   torchvision decodes them;
4. otherwise a ``DataUnavailableError`` that says what is missing, every address tried and why,
   and the two ways to provide it.

Decoding happens once; the result is cached, written atomically so an interrupted or failed
decode never leaves a broken cache behind. The cache folder is checked for writing *before*
decoding, so a read-only one fails at once with advice.
"""
from __future__ import annotations

import gzip
import hashlib
import tarfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch

from ..download import DownloadError, download_file, release_url
from ..runtime import cache_dir, writable_cache_dir
from .cache import cache_path, folder_key, offline_dir, read_cache, write_cache


class OfflineSplitWarning(UserWarning):
    """Offline MNIST: 'train' and 'test' are a fixed split of the official test images.

    A note about where the data came from, not a mistake of the caller; ``cnnlib.book.setup``
    shows it in a notebook as one line, without the warning's file and line."""
from .stats import channel_stats, normalise

DIGITS = [str(d) for d in range(10)]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

# name -> (classes, files expected in the offline folder). MNIST-M is built from MNIST and photos
# by cnnlib.data.mnist_m rather than read from files; cnnlib.data.registry lists them all.
DATASETS = {
    "mnist": (DIGITS, ["mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"]),
    "usps": (DIGITS, ["usps/usps.h5"]),
    "cifar10": (CIFAR10_CLASSES, ["cifar10/cifar10_jpg.tar.gz"]),
}
SPLITS = ("train", "test")

# Offline, MNIST has only its 10,000 test images. We split them, always the same way.
MNIST_OFFLINE_TRAIN = 8000
MNIST_OFFLINE_SEED = 0


class DataUnavailableError(FileNotFoundError):
    """The data set is neither cached, nor in the offline folder, nor downloadable."""


class DataCorruptError(ValueError):
    """A data file exists but is damaged (wrong checksum, truncated, undecodable)."""


@dataclass
class ImageDataset:
    """Images (uint8, N×C×H×W), labels (int64, N) and class names of one split."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list
    name: str = ""
    split: str = ""
    source: str = field(default="", repr=False)
    # (mean, std) per channel on the [0, 1] scale used to normalise these images. load_dataset
    # gives both splits the *training* split's statistics; None means "compute from the images".
    stats: tuple | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 tensor N×C×H×W, got {self.images.dtype} "
                             f"of shape {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    @property
    def image_shape(self) -> tuple:
        return tuple(self.images.shape[1:])

    @property
    def mean(self) -> tuple:
        """Per-channel mean used for normalisation ([0, 1] scale)."""
        if self.stats is None:
            self.stats = channel_stats(self.images)
        return tuple(self.stats[0])

    @property
    def std(self) -> tuple:
        """Per-channel standard deviation used for normalisation ([0, 1] scale)."""
        if self.stats is None:
            self.stats = channel_stats(self.images)
        return tuple(self.stats[1])

    def normalised(self) -> torch.Tensor:
        """All images as float32, normalised per channel with this data set's ``mean`` and
        ``std`` (the training split's): ``(images / 255 - mean) / std``, what a network sees."""
        return normalise(self.images, self.mean, self.std)

    def select(self, indices, split: str | None = None) -> ImageDataset:
        """A new data set holding the examples at ``indices`` (a tensor or list of ints)."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.images[indices], self.labels[indices], list(self.classes),
                            self.name, split or self.split, self.source, self.stats)

    def subset(self, n: int, seed: int = 0) -> ImageDataset:
        """``n`` examples drawn at random without replacement (fixed ``seed``)."""
        if not 0 < n <= len(self):
            raise ValueError(f"cannot take {n} examples from a data set of {len(self)}")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return self.select(order[:n].sort().values)

    def split_off(self, n: int, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
        """Split into (the rest, ``n`` held-out examples), e.g. a validation set."""
        if not 0 < n < len(self):
            raise ValueError(f"cannot hold out {n} of {len(self)} examples")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return (self.select(order[n:].sort().values),
                self.select(order[:n].sort().values, split=f"{self.split}-heldout"))

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (f"ImageDataset({self.name!r}, {self.split!r}: {len(self):,} images "
                f"{c}×{h}×{w}, {len(self.classes)} classes)")


# --------------------------------------------------------------------------------------
# Loading: from the cache, else decoded (and cached)

def load_files(name: str, split: str = "train", *, download: bool = True) -> ImageDataset:
    """Load ``split`` ("train" or "test") of ``name`` ("mnist", "usps" or "cifar10").

    Returns an :class:`ImageDataset` with uint8 images N×C×H×W. See the module docstring for
    where the images come from. Offline, MNIST has only its test split, so ``train`` and ``test``
    are then a fixed, non-overlapping split of those 10,000 images (8,000 / 2,000) and a warning
    says so.
    """
    data = _load_cached_or_decode(name, download)
    if data["source"].startswith("offline-mnist-test"):
        warnings.warn(
            "Offline MNIST has only the 10,000 official test images: 'train' and 'test' are a fixed "
            f"split of them ({MNIST_OFFLINE_TRAIN:,} / {10000 - MNIST_OFFLINE_TRAIN:,}, seed "
            f"{MNIST_OFFLINE_SEED}). Online, the full 60,000/10,000 MNIST is downloaded instead.",
            OfflineSplitWarning, stacklevel=3)
    return ImageDataset(data[f"{split}_images"], data[f"{split}_labels"], list(data["classes"]),
                        name, split, data["source"], (data["mean"], data["std"]))


def source_key(name: str) -> str:
    """Which source ``name`` is read from now: the offline folder (a key of its files) when it
    holds the data set's files, else ``"download"``. The cache is keyed by it."""
    root = offline_dir()
    files = DATASETS[name][1]
    if root is not None and all((root / f).is_file() for f in files):
        return folder_key(root, files)
    return "download"


def _load_cached_or_decode(name: str, download: bool) -> dict:
    key = source_key(name)
    cache_file = cache_path(name, key)
    data = read_cache(cache_file)
    if data is not None:
        return data
    writable_cache_dir()  # before decoding: a read-only cache fails now, not after minutes
    data = _decode_offline(name) if key != "download" else None
    if data is None and download:
        data = _download(name)
    if data is None:
        raise DataUnavailableError(_missing_message(name, download))
    data["classes"] = list(DATASETS[name][0])
    data["mean"], data["std"] = channel_stats(data["train_images"])
    write_cache(data, cache_file)
    return data


def _missing_message(name: str, download: bool, failure: DownloadError | None = None) -> str:
    files = ", ".join(DATASETS[name][1])
    where = offline_dir()
    offline = (f"CNNLIB_DATA={where} does not contain {files}" if where
               else "CNNLIB_DATA is not set")
    online = ("downloading was turned off" if not download
              else f"the download failed: {failure}" if failure is not None
              else "the download failed (offline?)")
    return (f"The {name!r} data set is not available: it is not cached in {cache_dir()}, "
            f"{offline}, and {online}.\n"
            f"Provide it in one of two ways:\n"
            f"  1. connect to the internet and call load_dataset({name!r}, ...) again "
            f"(it is downloaded, resuming where it stopped), or\n"
            f"  2. put the files {files} in a folder (the book's shared/data layout) and set "
            f"CNNLIB_DATA to that folder, e.g. export CNNLIB_DATA=/path/to/shared/data "
            f"(README, 'Where the data comes from')")


# --------------------------------------------------------------------------------------
# The offline folder

def _decode_offline(name: str) -> dict:
    root = offline_dir()
    for relative in DATASETS[name][1]:
        _verify_checksum(root, relative)
    decode = {"mnist": _decode_mnist_offline, "usps": _decode_usps, "cifar10": _decode_cifar10}[name]
    return decode(root)


def _verify_checksum(root: Path, relative: str) -> None:
    """Compare a file with its line in ``SHA256SUMS`` (when the folder has one)."""
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        return
    expected = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            expected[parts[1].lstrip("*")] = parts[0].lower()
    if relative not in expected:
        return
    digest = hashlib.sha256()
    with open(root / relative, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected[relative]:
        raise DataCorruptError(
            f"{root / relative} is corrupt or truncated: its SHA-256 does not match SHA256SUMS. "
            "Replace the file with a fresh copy.")


def _read_idx(path: Path) -> torch.Tensor:
    """Read a gzipped IDX file (the MNIST format): a magic number, sizes, then uint8 data."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataCorruptError(f"{path} is not a readable gzip file ({err}); replace it") from err
    ndim = raw[3] if len(raw) >= 4 else 0
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or ndim == 0:
        raise DataCorruptError(f"{path} is not an IDX file of unsigned bytes; replace it")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = raw[4 + 4 * ndim:]
    expected = 1
    for d in dims:
        expected *= d
    if len(body) != expected:
        raise DataCorruptError(f"{path} is truncated: {len(body):,} of {expected:,} bytes; replace it")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def _decode_mnist_offline(root: Path) -> dict:
    images = _read_idx(root / DATASETS["mnist"][1][0]).unsqueeze(1)
    labels = _read_idx(root / DATASETS["mnist"][1][1]).long()
    if len(images) != len(labels):
        raise DataCorruptError(f"{root / 'mnist'}: {len(images)} images but {len(labels)} labels")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(MNIST_OFFLINE_SEED))
    train, test = order[:MNIST_OFFLINE_TRAIN].sort().values, order[MNIST_OFFLINE_TRAIN:].sort().values
    return {"train_images": images[train], "train_labels": labels[train],
            "test_images": images[test], "test_labels": labels[test],
            "source": "offline-mnist-test-split"}


def _decode_usps(root: Path) -> dict:
    import h5py  # only needed for this one file format

    path = root / DATASETS["usps"][1][0]
    data = {"source": "offline"}
    try:
        with h5py.File(path, "r") as f:
            for split in SPLITS:
                pixels = torch.from_numpy(f[split]["data"][:]).reshape(-1, 1, 16, 16)
                # Stored as floats in [0, 1]; the book keeps every data set as uint8.
                data[f"{split}_images"] = (pixels * 255).round().clamp(0, 255).to(torch.uint8)
                data[f"{split}_labels"] = torch.from_numpy(f[split]["target"][:]).long()
    except (OSError, KeyError) as err:
        raise DataCorruptError(f"{path} is not a readable USPS HDF5 file ({err}); replace it") from err
    return data


def _safe_member_name(member: tarfile.TarInfo) -> PurePosixPath:
    """Reject archive entries that could escape a folder (absolute, '..', links, devices)."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
        raise DataCorruptError(f"unsafe entry {member.name!r} in the archive; refusing to read it")
    return path


def _decode_cifar10(root: Path) -> dict:
    """Decode the JPEGs straight from the tar.gz, in memory: nothing is unpacked to disk."""
    from torchvision.io import decode_jpeg

    path = root / DATASETS["cifar10"][1][0]
    found = {split: [] for split in SPLITS}  # (class index, file name, bytes)
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                parts = _safe_member_name(member).parts
                if not member.isfile() or not parts[-1].endswith(".jpg"):
                    continue
                if len(parts) != 3 or parts[0] not in SPLITS or parts[1] not in CIFAR10_CLASSES:
                    raise DataCorruptError(f"{path}: unexpected entry {member.name!r}")
                payload = archive.extractfile(member).read()
                found[parts[0]].append((CIFAR10_CLASSES.index(parts[1]), parts[2], payload))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DataCorruptError(f"{path} is not a readable tar.gz archive ({err}); replace it") from err
    data = {"source": "offline-jpeg-q75"}
    for split, items in found.items():
        items.sort(key=lambda item: (item[0], item[1]))
        encoded = [torch.frombuffer(bytearray(payload), dtype=torch.uint8) for _, _, payload in items]
        try:
            images = decode_jpeg(encoded)
        except RuntimeError as err:
            raise DataCorruptError(f"{path}: a JPEG in the {split} split does not decode ({err})") from err
        data[f"{split}_images"] = torch.stack(images)
        data[f"{split}_labels"] = torch.tensor([label for label, _, _ in items], dtype=torch.long)
    return data


# --------------------------------------------------------------------------------------
# Online: the book's copy of each archive (a release asset), else the data set's origin

@dataclass(frozen=True)
class Archive:
    """One file of a data set as its origin publishes it: the name (also the name of the book's
    copy in its release), torchvision's MD5 of it, the origin's addresses, the folder under the
    downloads folder where torchvision's reader looks for it, and whether it is unpacked there."""

    file: str
    md5: str
    origins: tuple
    folder: str = ""
    unpack: bool = False


MNIST_ORIGINS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
USPS_ORIGIN = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
ARCHIVES = {
    "mnist": [Archive(file, md5, tuple(origin + file for origin in MNIST_ORIGINS), "MNIST/raw", unpack=True)
              for file, md5 in (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                                ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                                ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                                ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))],
    "usps": [Archive("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197", (USPS_ORIGIN + "usps.bz2",)),
             Archive("usps.t.bz2", "8ea070ee2aca1ac39742fdd1ef5ed118", (USPS_ORIGIN + "usps.t.bz2",))],
    "cifar10": [Archive("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), unpack=True)],
}


def archive_urls(archive: Archive) -> list:
    """Where ``archive`` is fetched from, in order: the book's release, then the origin (which
    can be slow: CIFAR-10's served 70-85 kB/s in 2026)."""
    return [release_url(archive.file), *archive.origins]


def _download(name: str) -> dict:
    """Download ``name``'s archives into the cache (each checked by its MD5) and decode them
    with torchvision. Raises :class:`DataUnavailableError` naming every address tried."""
    import numpy as np
    from torchvision import datasets
    from torchvision.datasets.utils import extract_archive

    raw = writable_cache_dir() / "downloads"
    try:
        for archive in ARCHIVES[name]:
            path = download_file(archive_urls(archive), raw / archive.folder / archive.file,
                                 md5=archive.md5, advice="")
            if archive.unpack:
                extract_archive(str(path), str(path.parent))
    except DownloadError as err:
        raise DataUnavailableError(_missing_message(name, True, failure=err)) from err
    maker = {"mnist": datasets.MNIST, "usps": datasets.USPS, "cifar10": datasets.CIFAR10}[name]
    data = {"source": "torchvision-download"}
    for split in SPLITS:
        try:
            ds = maker(str(raw), train=(split == "train"), download=False)
        except (RuntimeError, OSError, ValueError) as err:
            raise DataCorruptError(f"the downloaded {name!r} files in {raw} do not decode ({err}); "
                                   "delete that folder and load the data set again") from err
        images = torch.as_tensor(np.asarray(ds.data))
        if images.dim() == 3:  # grey: N×H×W
            images = images.unsqueeze(1)
        else:  # CIFAR: N×H×W×C
            images = images.permute(0, 3, 1, 2)
        data[f"{split}_images"] = images.to(torch.uint8).contiguous()
        data[f"{split}_labels"] = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
    return data
