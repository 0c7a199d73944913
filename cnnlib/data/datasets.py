"""MNIST, USPS and CIFAR-10 as uint8 tensors, decoded from files: ``load_files(name, split)``.

(Chapters call ``load_dataset``, in ``cnnlib.data.registry``, which also knows MNIST-M.)

Where the images come from, in order:

1. the decoded cache (``cnnlib.data.cache``), a file per data set and source;
2. the offline folder named by ``$CNNLIB_DATA`` (the layout of the book's ``shared/data`` folder,
   each file verified against its line in the folder's ``SHA256SUMS``, which must list it);
3. a download (``cnnlib.download``: resumed, time-limited, MD5-checked) of the data set's
   archives: the book's own copy (a release asset of the repository) first, then the origin;
   torchvision decodes them;
4. otherwise a ``DataUnavailableError`` that says what is missing, every address tried and why,
   and the two ways to provide it.

Decoding happens once; the result is cached, written atomically so an interrupted or failed
decode never leaves a broken cache behind. The cache folder is checked for writing *before*
decoding, so a read-only one fails at once with advice.

A damaged offline file (a wrong checksum, a truncated archive, MNIST's images file where its
labels are expected, a "JPEG" of 200 MB) is a ``DataCorruptError`` that names the file and says
how to replace it; nothing is read whole before its size is checked (``MAX_MEMBER_BYTES``,
``MAX_IDX_BYTES``).
"""
from __future__ import annotations

import gzip
import hashlib
import tarfile
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch

from ..download import DownloadError, download_file, release_url
from ..runtime import cache_dir, writable_cache_dir
from .cache import cache_path, content_key, offline_dir, read_cache, write_cache


class OfflineSplitWarning(UserWarning):
    """Offline MNIST: 'train' and 'test' are a fixed split of the official test images.

    A note about where the data came from, not a mistake of the caller; ``cnnlib.book.setup``
    shows it in a notebook as one line, without the warning's file and line."""
from .stats import ChannelStats, as_stats, channel_stats, normalise

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

# Nothing is read whole before its size is checked. A CIFAR-10 JPEG is about 1 KB (32×32 pixels,
# 3 KB raw); MNIST's largest IDX file, the 60,000 training images, is 47 MB uncompressed.
MAX_MEMBER_BYTES = 64 * 1024
MAX_IDX_BYTES = 64 * 1024 * 1024

# What to do about a damaged offline file: the end of every DataCorruptError about one.
REPLACE = ("delete it and copy a fresh one from the book's shared/data folder (or download it "
           "again), and check that CNNLIB_DATA names that folder")


class DataUnavailableError(FileNotFoundError):
    """The data set is neither cached, nor in the offline folder, nor downloadable."""


class DataCorruptError(ValueError):
    """A data file exists but cannot be trusted: damaged (wrong checksum, truncated,
    undecodable) or not listed in its folder's ``SHA256SUMS``."""


def corrupt(path, problem: str) -> DataCorruptError:
    """The error for a damaged offline file: which file, what is wrong, and what to do."""
    return DataCorruptError(f"{path}: {problem}. To fix it, {REPLACE}.")


@dataclass
class ImageDataset:
    """Images (uint8, N×C×H×W), labels (int64, N) and class names of one split."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list
    name: str = ""
    split: str = ""
    source: str = field(default="", repr=False)
    # The normalisation of these images (a ChannelStats, or any (mean, std) pair: checked and
    # converted). load_dataset gives both splits the *training* split's; left out, it is
    # computed from the images themselves.
    stats: ChannelStats | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 tensor N×C×H×W, got {self.images.dtype} "
                             f"of shape {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.long()
        self.stats = channel_stats(self.images) if self.stats is None else as_stats(*self.stats)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    @property
    def image_shape(self) -> tuple:
        return tuple(self.images.shape[1:])

    @property
    def mean(self) -> tuple:
        """Per-channel mean used for normalisation ([0, 1] scale): ``stats.mean``."""
        return self.stats.mean

    @property
    def std(self) -> tuple:
        """Per-channel standard deviation used for normalisation ([0, 1] scale): ``stats.std``."""
        return self.stats.std

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
            f"This MNIST is its 10,000 official test images, split into {MNIST_OFFLINE_TRAIN:,} "
            f"for training and {10000 - MNIST_OFFLINE_TRAIN:,} for testing (a fixed split, seed "
            f"{MNIST_OFFLINE_SEED}); where MNIST can be downloaded, its full 60,000/10,000 is "
            "used instead.",
            OfflineSplitWarning, stacklevel=3)
    return ImageDataset(data[f"{split}_images"], data[f"{split}_labels"], list(DATASETS[name][0]),
                        name, split, data["source"], (data["mean"], data["std"]))


def source_key(name: str) -> str:
    """Which source ``name`` is read from now: the offline folder, keyed by its files' content
    (their SHA-256 as ``SHA256SUMS`` lists them), when it holds the data set's files; else
    ``"download"``. The cache is keyed by it."""
    root = offline_dir()
    files = DATASETS[name][1]
    if root is not None and all((root / f).is_file() for f in files):
        return content_key(listed_checksums(root, files))
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
    data["mean"], data["std"] = map(list, channel_stats(data["train_images"]))
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
    files = DATASETS[name][1]
    for relative, sha256 in listed_checksums(root, files).items():
        _verify_checksum(root / relative, sha256)
    decode = {"mnist": _decode_mnist_offline, "usps": _decode_usps, "cifar10": _decode_cifar10}[name]
    return decode(root)


def listed_checksums(root: Path, files: list[str]) -> dict[str, str]:
    """Each of ``files`` (relative to ``root``) with its SHA-256 as ``root/SHA256SUMS`` lists it.

    A file the list lacks (or a folder without the list) is refused, not read unverified: a
    file that cannot be checked could be truncated or the wrong one, and the book's numbers
    would silently change. The error says how to add the missing line.

    The listed checksums also key the cache (``cnnlib.data.cache``): a file replaced together
    with its line is decoded again, whatever its size and time. A file changed *without* its
    line is refused at the next decode; until then the cache serves the content its line
    describes, verified when it was decoded, never other bytes.
    """
    sums = root / "SHA256SUMS"
    expected = {}
    if sums.is_file():
        for line in sums.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                expected[parts[1].lstrip("*")] = parts[0].lower()
    unlisted = [relative for relative in files if relative not in expected]
    if unlisted:
        where = sums if sums.is_file() else f"{sums}, which does not exist"
        raise DataCorruptError(
            f"{', '.join(str(root / f) for f in unlisted)}: not listed in {where}, so it cannot be "
            f"verified and is not used. If you trust the file, add its line: "
            f"cd {root} && sha256sum {' '.join(unlisted)} >> SHA256SUMS "
            f"(or point CNNLIB_DATA at the book's shared/data folder).")
    return {relative: expected[relative] for relative in files}


def _verify_checksum(path: Path, sha256: str) -> None:
    """Compare a file's SHA-256 with ``sha256``, its line in ``SHA256SUMS``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise corrupt(path, "its SHA-256 does not match its line in SHA256SUMS (corrupt, "
                            "truncated or replaced)")


def _read_idx(path: Path, what: str, shape: tuple) -> torch.Tensor:
    """Read a gzipped IDX file (the MNIST format: a magic number, sizes, then uint8 data) that
    holds ``what`` ("images" or "labels"), of ``shape`` after the count (``(28, 28)``, ``()``).

    The magic number's last byte is the number of dimensions: 3 for images, 1 for labels, so
    an images file where the labels file belongs (or the reverse) is caught here, by name.
    """
    try:
        with gzip.open(path) as f:
            raw = f.read(MAX_IDX_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise corrupt(path, f"not a readable gzip file ({err})") from err
    if len(raw) > MAX_IDX_BYTES:
        raise corrupt(path, f"it unpacks to more than {MAX_IDX_BYTES >> 20} MB, more than any "
                            "MNIST file")
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] == 0:
        raise corrupt(path, "not an IDX file of unsigned bytes (wrong magic number)")
    ndim = raw[3]
    if ndim != 1 + len(shape):
        kind = {3: "images", 1: "labels"}.get(ndim, f"{ndim}-dimensional data")
        raise corrupt(path, f"it holds {kind} (magic number 0x0000080{ndim:x}) where MNIST's "
                            f"{what} (0x0000080{1 + len(shape):x}) belong: are the images and "
                            "labels files swapped?")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if tuple(dims[1:]) != shape:
        raise corrupt(path, f"its {what} are {'x'.join(map(str, dims[1:]))}, not "
                            f"{'x'.join(map(str, shape))}")
    body = raw[4 + 4 * ndim:]
    expected = 1
    for d in dims:
        expected *= d
    if len(body) != expected:
        raise corrupt(path, f"truncated: {len(body):,} of {expected:,} bytes")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def _decode_mnist_offline(root: Path) -> dict:
    images_file, labels_file = (root / f for f in DATASETS["mnist"][1])
    images = _read_idx(images_file, "images", (28, 28)).unsqueeze(1)
    labels = _read_idx(labels_file, "labels", ()).long()
    if len(images) != len(labels):
        raise corrupt(labels_file, f"it has {len(labels):,} labels but {images_file.name} has "
                                   f"{len(images):,} images: the two files must come from the "
                                   "same MNIST split")
    check_labels(labels, labels_file)
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
                pixels = torch.from_numpy(f[split]["data"][:]).float()
                labels = torch.from_numpy(f[split]["target"][:]).long()
                if pixels.dim() != 2 or pixels.shape[1] != 256 or labels.shape != (len(pixels),):
                    raise corrupt(path, f"its {split} data are {tuple(pixels.shape)} with "
                                        f"{tuple(labels.shape)} targets, not N×256 16x16 images "
                                        "with N targets")
                check_labels(labels, path)
                # Stored as floats in [0, 1]; the book keeps every data set as uint8.
                pixels = pixels.reshape(-1, 1, 16, 16)
                data[f"{split}_images"] = (pixels * 255).round().clamp(0, 255).to(torch.uint8)
                data[f"{split}_labels"] = labels
    except (OSError, KeyError, TypeError, ValueError) as err:
        if isinstance(err, DataCorruptError):
            raise
        raise corrupt(path, f"not a readable USPS HDF5 file ({err})") from err
    return data


def check_labels(labels: torch.Tensor, path: Path) -> None:
    """Digit labels are 0-9; anything else means the wrong file."""
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) <= 9):
        raise corrupt(path, f"its labels run from {int(labels.min())} to {int(labels.max())}, "
                            "not 0-9: it is not a file of digit labels")


def _member_parts(member: tarfile.TarInfo, path: Path) -> tuple[str, ...] | None:
    """``(split, class, file name)`` of a JPEG entry of the CIFAR-10 archive ``path``; ``None``
    for an entry to skip (a folder, a file that is not a JPEG). Entries that could escape a
    folder (absolute, '..', links, devices), sit elsewhere than ``split/class/NNNN.jpg`` or are
    too large to be a 32×32 JPEG are refused, before anything of them is read."""
    parts = PurePosixPath(member.name).parts
    if PurePosixPath(member.name).is_absolute() or ".." in parts or not (member.isfile() or member.isdir()):
        raise corrupt(path, f"unsafe entry {member.name!r} in the archive (absolute, '..', a link "
                            "or a device); refusing to read it")
    if not member.isfile() or not parts[-1].endswith(".jpg"):
        return None
    if len(parts) != 3 or parts[0] not in SPLITS or parts[1] not in CIFAR10_CLASSES:
        raise corrupt(path, f"unexpected entry {member.name!r}: the archive should hold "
                            "train/<class>/NNNN.jpg and test/<class>/NNNN.jpg, with CIFAR-10's "
                            "class names")
    if member.size > MAX_MEMBER_BYTES:
        raise corrupt(path, f"entry {member.name!r} is {member.size:,} bytes, far more than a "
                            f"32×32 JPEG (limit {MAX_MEMBER_BYTES:,}); refusing to read it")
    return parts


def _decode_jpegs(items: list, split: str, path: Path) -> torch.Tensor:
    """The JPEGs ``items`` (class index, file name, bytes) decoded as one uint8 N×3×32×32 batch;
    a JPEG that does not decode, or is not 32×32, is named in the error."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not items:
        raise corrupt(path, f"the archive holds no {split}/<class>/*.jpg images")
    encoded = [torch.frombuffer(bytearray(payload), dtype=torch.uint8) for _, _, payload in items]
    try:
        images = decode_jpeg(encoded, mode=ImageReadMode.RGB)
    except RuntimeError as batch_error:  # which one? decode them one at a time to name it
        for (label, name, _), jpeg in zip(items, encoded):
            try:
                decode_jpeg(jpeg, mode=ImageReadMode.RGB)
            except RuntimeError as err:
                member = f"{split}/{CIFAR10_CLASSES[label]}/{name}"
                raise corrupt(path, f"entry {member!r} is not a decodable JPEG ({err})") from err
        raise corrupt(path, f"its {split} JPEGs do not decode ({batch_error})") from batch_error
    for (label, name, _), image in zip(items, images):
        if image.shape != (3, 32, 32):
            member = f"{split}/{CIFAR10_CLASSES[label]}/{name}"
            raise corrupt(path, f"entry {member!r} is {image.shape[2]}x{image.shape[1]}, not 32x32")
    return torch.stack(images)


def _decode_cifar10(root: Path) -> dict:
    """Decode the JPEGs straight from the tar.gz, in memory: nothing is unpacked to disk."""
    path = root / DATASETS["cifar10"][1][0]
    found = {split: [] for split in SPLITS}  # (class index, file name, bytes)
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                parts = _member_parts(member, path)
                if parts is not None:
                    payload = archive.extractfile(member).read()
                    found[parts[0]].append((CIFAR10_CLASSES.index(parts[1]), parts[2], payload))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise corrupt(path, f"not a readable tar.gz archive, or a truncated one "
                            f"({type(err).__name__}: {err})") from err
    data = {"source": "offline-jpeg-q75"}
    for split, items in found.items():
        items.sort(key=lambda item: (item[0], item[1]))
        data[f"{split}_images"] = _decode_jpegs(items, split, path)
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
