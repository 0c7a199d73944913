"""The book's trained networks: ``available()`` lists them, ``load(name)`` returns one.

Chapters that show a trained network (the five compact CIFAR-10 nets, later degradation and
transfer nets) load it here instead of training it in the notebook. Each network is trained
once, by ``make weights`` (``tools/train_weights.py`` -> :func:`train_network`), on all its
training images with a named recipe (``cnnlib.recipe``), evaluated on all its test images, and
stored in the repository's ``weights/`` folder:

- ``weights/<name>.pt``: the weights (fp16 when that changes the test accuracy by at most 0.1
  point, else fp32: half the size for nothing), the training :class:`~cnnlib.history.History`
  and the metadata (data set, images, recipe and settings, epochs, test accuracy, training
  time, device, cnnlib version, the normalisation the net expects);
- ``weights/MANIFEST.json``: each file's SHA-256. :func:`load` checks it before unpickling
  (``torch.load(weights_only=True)``, which cannot run code anyway), so a damaged or edited
  file is refused with a message naming it and saying how to restore or retrain it.

Where the files come from: a checkout of the repository has them; a pip-installed cnnlib
(e.g. on Colab) downloads them from the repository's address (``REPOSITORY_URL``, the same
address as ``repository: url:`` in ``_config.yml``; a test checks they agree) into the cache.
``CNNLIB_RETRAIN=1`` trains the network instead (into the cache), and so does a CUDA GPU when
no file can be had: there the recipe takes minutes, not an hour.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import torch
from torch import nn

from . import REPOSITORY_URL
from .checkpoint import stable_repr
from .settings import RunSettings
from .compact import COMPACT
from .data import Augment, DeviceLoader, load_dataset
from .data.augment import Compose, ElasticDistort, HueShift, RandomAffine, rotate, zoom
from .download import DownloadError, download_file, release_url
from .history import History
from .initialisation import init_weights
from .models import cifar_resnet, convnet, four_layer_net
from .recipe import airbench_net, get_recipe
from .runtime import (cache_dir, describe_device, env_flag, get_device, seed_everything,
                      writable_cache_dir)
from .train import evaluate, fit
from .transfer import relabel, with_stats
from .validation import describe_load_error

__all__ = ["Network", "NETWORKS", "register", "available", "load", "Pretrained", "PretrainedError",
           "BookNetwork", "for_profile", "origin", "test_accuracy",
           "WeightsMismatchError", "train_network", "reevaluate_network", "read_manifest",
           "REPOSITORY_URL"]

# The repository's address is written once, in cnnlib/__init__.py (_config.yml's
# ``repository: url:`` must agree; tests/test_pretrained.py reads it and compares).
BRANCH = "main"
FORMAT = "cnnlib-pretrained"
VERSION = 1
MANIFEST = "MANIFEST.json"
MAX_TOTAL_BYTES = 30 * 2**20  # the repository carries the files: keep them small
FP16_TOLERANCE = 0.001  # fp16 storage only if the test accuracy moves by at most 0.1 point


class PretrainedError(ValueError):
    """A trained network that cannot be had: not shipped, unknown, or an unusable file."""


class WeightsMismatchError(PretrainedError):
    """A weights file whose SHA-256 is not the one in the manifest (damaged or changed)."""


# --------------------------------------------------------------------------------------
# The registry

@dataclass(frozen=True)
class Network:
    """A network the book ships trained: how to build it, and how it is trained.

    ``recipe``: a name of ``cnnlib.recipe.RECIPES``; ``changes``: fit settings that differ from
    the recipe for this net; ``data``: a function returning ``(train, test)`` data sets (default:
    all of ``dataset``'s training and test images).
    """

    name: str
    build: Callable[[], nn.Module]
    recipe: str = "airbench-cpu"
    changes: dict = field(default_factory=dict)
    dataset: str = "cifar10"
    data: Callable | None = None
    note: str = ""

    def settings(self) -> dict:
        """The ``fit`` settings it is trained with: its recipe's, with ``changes`` applied."""
        return {**get_recipe(self.recipe).fit_kwargs(), **self.changes}

    def load_data(self):
        if self.data is not None:
            return self.data()
        return load_dataset(self.dataset, "train"), load_dataset(self.dataset, "test")


NETWORKS: dict[str, Network] = {}


def register(network: Network) -> Network:
    """Add ``network`` to the registry (the later chapters add theirs the same way)."""
    NETWORKS[network.name] = network
    return network


def get_network(name: str) -> Network:
    if name not in NETWORKS:
        raise PretrainedError(f"no network called {name!r}; the book's networks are "
                              f"{sorted(NETWORKS)}")
    return NETWORKS[name]


# Chapters 7-9: the five compact nets of cnnlib.compact, one checkpoint each for all three
# chapters. Learning rates: the chapters' (for batch 128) times 4 for the recipe's batch of 512
# (the linear scaling rule). Their first convs are 3x3 with fewer channels than the 27 patch
# dimensions: the whitening gives the strongest directions, trained. AlexNet, with no batch
# norm, keeps batch 128 at a lower rate and no whitening: at batch 512 it sat at chance.
ARCH_EPOCHS = 40
for _title, _slug in (("AlexNet", "alexnet"), ("VGG-11", "vgg11"), ("GoogLeNet", "googlenet"),
                      ("ResNet-18", "resnet18"), ("DenseNet-BC", "densenet_bc")):
    _changes = {"epochs": ARCH_EPOCHS, "lr": 4 * COMPACT[_title].lr, "whiten_frozen": False}
    if _slug == "alexnet":
        _changes.update(batch_size=128, lr=0.02, whiten=None)
    if _slug == "resnet18":
        _changes.update(epochs=2 * ARCH_EPOCHS)
    register(Network(_slug, COMPACT[_title].build, changes=_changes,
                     note=f"compact {_title}: {COMPACT[_title].note}"))

# Chapter 9: He et al.'s degradation experiment (Fig. 1 and 6): plain nets of 14 and 56
# layers and their residual twins, trained alike on all of CIFAR-10.
for _depth in (14, 56):
    for _shortcut, _kind in ((False, "plain"), (True, "residual")):
        register(Network(f"{_kind}{_depth}",
                         functools.partial(cifar_resnet, _depth, shortcut=_shortcut),
                         recipe="he2016-cifar",
                         note=f"He et al.'s CIFAR-10 {_kind} net of {_depth} layers"))

# Chapter 7: Krizhevsky et al.'s Figure 1, the same four-layer net with ReLU or tanh units,
# set up as the paper describes: inputs are pixel values minus the training set's mean (its
# only preprocessing; per channel here), weights drawn from N(0, 0.01^2) (Section 5), no
# regularisation, and each net's learning rate "chosen independently to make training as fast
# as possible". That choice was made by a pilot (tools/pilot_relu_tanh.py): the lowest
# training error after 8 epochs on 10,000 images among 0.01, 0.003, 0.001 and 0.0003.
FIG1_LR = {"relu": 0.001, "tanh": 0.01}


def paper_inputs(data):
    """``data`` fed as pixel values minus the mean (0-255 scale): no division by the std."""
    return dataclasses.replace(data, stats=(list(data.mean), [1 / 255] * len(data.mean)))


def fig1_data():
    """All of CIFAR-10, both splits minus the training set's mean pixel (per channel)."""
    train = paper_inputs(load_dataset("cifar10", "train"))
    return train, with_stats(load_dataset("cifar10", "test"), train)


def fig1_net(activation: str) -> nn.Module:
    """The four-layer net with the paper's initialisation, N(0, 0.01^2), zero biases."""
    return init_weights(four_layer_net(activation), "normal", std=0.01)


for _activation in ("relu", "tanh"):
    register(Network(f"four_layer_{_activation}", functools.partial(fig1_net, _activation),
                     recipe="krizhevsky2012-fig1", changes={"lr": FIG1_LR[_activation]},
                     data=fig1_data,
                     note=f"AlexNet's Figure 1 net with {_activation} units, the paper's "
                          "inputs, initialisation and a learning rate chosen for speed"))

# Chapter 5: one augmentation at a time, all else the fast recipe's (test-time
# augmentation off: it would hide what flipping during training adds).
AUGMENTATIONS = {
    "none": None,
    "flip": Augment(flip=True),
    "shift": Augment(translate=4),
    "zoom": zoom(0.8, 1.25),
    "rotate": rotate(15),
    "elastic": ElasticDistort(alpha=1.0, sigma=3.0),
    "hue": HueShift(0.1),
    "shift_flip": Augment(translate=4, flip=True),
    "all": Compose(Augment(translate=4, flip=True), RandomAffine(degrees=15, scale=(0.8, 1.25)),
                   ElasticDistort(alpha=1.0, sigma=3.0), HueShift(0.1)),
}
AUG_EPOCHS = 16
for _key, _augment in AUGMENTATIONS.items():
    register(Network(f"aug_{_key}", airbench_net,
                     changes={"augment": _augment, "tta": None, "epochs": AUG_EPOCHS},
                     note=f"the fast recipe's net with augmentation {_key!r}"))


# Chapter 10: the source network for transfer learning, CIFAR-10's classes 0-4.
SOURCE_CLASSES = range(5)


def transfer_source_data():
    """CIFAR-10's training and test images of classes 0-4 (airplane .. deer), relabelled 0-4."""
    return (relabel(load_dataset("cifar10", "train"), SOURCE_CLASSES),
            relabel(load_dataset("cifar10", "test"), SOURCE_CLASSES))


register(Network("transfer_source",
                 functools.partial(convnet, num_classes=5, widths=(32, 64, 128, 256)),
                 changes={"epochs": ARCH_EPOCHS, "whiten": None, "whiten_frozen": False},
                 dataset="cifar10 classes 0-4", data=transfer_source_data,
                 note="chapter 10's source: the four-block convnet on CIFAR-10's classes 0-4"))


# --------------------------------------------------------------------------------------
# Where the files are

def repository_root() -> Path | None:
    """The checkout this cnnlib was imported from, or None (a pip-installed cnnlib)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "_config.yml").exists() and (root / "weights").is_dir() else None


def weights_dir() -> Path:
    """``weights/`` of the checkout; for a pip-installed cnnlib, a folder in the cache."""
    root = repository_root()
    return root / "weights" if root is not None else cache_dir() / "weights"


def raw_url(file: str) -> str:
    return f"{REPOSITORY_URL}/raw/{BRANCH}/weights/{file}"


def read_manifest(folder) -> dict:
    """``{name: {"file", "sha256", "bytes", "dtype", "test_acc"}}``; empty when there is none."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
        return dict(manifest["networks"])
    except (ValueError, KeyError, TypeError) as err:
        raise PretrainedError(f"{path} is not a weights manifest ({err}); restore it with "
                              f"`git checkout -- {path}`") from err


def write_manifest(folder, networks: dict) -> None:
    """Write the manifest atomically (a temporary file renamed: never half written)."""
    path = Path(folder) / MANIFEST
    text = json.dumps({"format": "cnnlib-weights-manifest", "version": 1,
                       "networks": dict(sorted(networks.items()))}, indent=2) + "\n"
    tmp = path.with_name(f"{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Available(list):
    """The names of the shipped networks; printed, an empty list says how to make them."""

    def __repr__(self) -> str:
        if self:
            return super().__repr__()
        return ("[]  # no trained networks are shipped yet. Make them with `make weights` (all "
                f"of {sorted(NETWORKS)}) or one with `make weights NET=resnet18`; "
                "CNNLIB_RETRAIN=1 (or a CUDA GPU) makes load(name) train it itself")


def available(folder=None) -> Available:
    """The networks whose trained weights are shipped (listed in the manifest)."""
    folder = Path(folder) if folder is not None else weights_dir()
    if repository_root() is None and not (folder / MANIFEST).exists():  # pip-installed
        _try_fetch(MANIFEST, folder)
    return Available(sorted(read_manifest(folder)))


# --------------------------------------------------------------------------------------
# Loading

class Pretrained(NamedTuple):
    """What :func:`load` returns: ``model, history, meta = load("resnet18")``."""

    model: nn.Module
    history: History
    meta: dict


def retraining_requested() -> bool:
    return env_flag("CNNLIB_RETRAIN")


def load(name: str, *, folder=None, device=None, progress: bool = False) -> Pretrained:
    """The trained network ``name`` (in eval mode), its History and its metadata.

    From ``folder`` (default: the repository's ``weights/``, or the cache for a pip-installed
    cnnlib, which downloads the file first). With ``CNNLIB_RETRAIN=1``, or on a CUDA GPU when no
    file can be had, the network is trained with its recipe into the cache instead.
    """
    network = get_network(name)
    device = torch.device(device) if device is not None else get_device()
    if retraining_requested():
        return _train_and_load(network, device, progress)
    folder = Path(folder) if folder is not None else weights_dir()
    if name not in read_manifest(folder) and repository_root() is None:
        _try_fetch(MANIFEST, folder)
    entry = read_manifest(folder).get(name)
    if entry is None:
        if device.type == "cuda":
            return _train_and_load(network, device, progress)
        raise PretrainedError(
            f"the trained {name} is not shipped yet ({folder / MANIFEST} does not list it). "
            f"Train it with `make weights NET={name}` (in a checkout), or set CNNLIB_RETRAIN=1 "
            "to have load() train it into the cache (slow on a CPU; minutes on a GPU)")
    path = folder / entry["file"]
    if not path.exists() and repository_root() is None:
        _try_fetch(entry["file"], folder)
    return load_file(path, entry, network, device)


def load_file(path, entry: dict, network: Network, device) -> Pretrained:
    """Check ``path`` against its manifest ``entry``, then read it (weights only)."""
    path = Path(path)
    how = (f"restore it (`git checkout -- weights/{path.name}`, or delete it to download it "
           f"again) or retrain it (`make weights NET={network.name}`)")
    if not path.exists():
        raise PretrainedError(f"{path} is listed in the manifest but missing: {how}")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise WeightsMismatchError(
            f"{path} does not match its SHA-256 in {path.parent / MANIFEST} (expected "
            f"{entry['sha256'][:16]}..., found {digest[:16]}...): the file is damaged or was "
            f"changed, so it is not loaded. {how[0].upper()}{how[1:]}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unreadable, or holds code: never suggest weights_only=False
        raise PretrainedError(f"{path} cannot be used: {describe_load_error(err)}. "
                              f"{how[0].upper()}{how[1:]}") from err
    if not (isinstance(saved, dict) and saved.get("format") == FORMAT and saved.get("version") == VERSION):
        raise PretrainedError(f"{path} is not a cnnlib trained-network file of version {VERSION}: {how}")
    model = network.build()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in saved["state"].items()})
    model.to(device).eval()
    return Pretrained(model, History.from_state(saved["history"]), saved["meta"])


def test_accuracy(name: str, model: nn.Module, *, device=None, tta="recipe") -> float:
    """``model``'s accuracy on all of ``name``'s test images, computed now (fp32, with the
    test-time augmentation of its recipe): the check that the shipped file is what the book
    says it is. ``tta``: another test-time augmentation (``None``, ``"flip"``,
    ``"flip+translate"``), to show what the recipe's adds."""
    network = get_network(name)
    train, test = network.load_data()
    if tta == "recipe":
        tta = network.settings()["tta"]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loader = DeviceLoader(test, 500, device=device, mean=train.mean, std=train.std)
    return evaluate(model, loader, device=device, precision="fp32", tta=tta)["acc"]


def wrap(text: str, width: int = 79, indent: str = "") -> str:
    """``text`` in lines of at most ``width`` characters (the book's column), never breaking
    inside a `code span`."""
    parts = text.split("`")
    kept = "`".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    return textwrap.fill(kept, width, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False).replace("\0", " ")


def origin(meta: dict, width: int = 79, indent: str = "") -> str:
    """One sentence for a chapter, in lines that fit its column: where a shipped network came
    from and how to retrain it."""
    minutes = meta["training_seconds"] / 60
    return wrap(f"{meta['name']}: trained by `make weights` with the {meta['recipe']!r} recipe, "
            f"{meta['epochs']} epochs on {meta['train_images']:,} images, in {minutes:.1f} "
            f"minutes on {meta['device']}; test accuracy {100 * meta['test_acc']:.2f} % on "
            f"{meta['test_images']:,} images. Retrain it with `make weights NET={meta['name']}` "
            "or CNNLIB_RETRAIN=1.", width, indent)


class BookNetwork(NamedTuple):
    """What :func:`for_profile` returns: the network, its History, and in the ``full`` profile
    the shipped file's metadata and the test accuracy measured now (else None)."""

    model: nn.Module
    history: History
    meta: dict | None
    test_acc: float | None


def for_profile(name: str, profile, train_small: Callable[[], tuple]) -> BookNetwork:
    """A chapter's network: in the ``full`` profile the shipped ``name`` (its test accuracy
    measured again here); in ``fast`` (CI) ``train_small()``'s ``(model, history)``, a toy run
    that shows the code works without the shipped files."""
    if not profile.is_full:
        model, history = train_small()
        return BookNetwork(model, history, None, None)
    model, history, meta = load(name)
    return BookNetwork(model, history, meta, test_accuracy(name, model))


def _try_fetch(file: str, folder: Path, base: str | None = None) -> bool:
    """Download ``file`` into ``folder``: from ``base`` when given, else from this version's
    release, then from the repository's main branch. A file the manifest in ``folder`` lists is
    SHA-256 checked before it is kept (a wrong one is deleted).

    False when the manifest cannot be had (offline, not published). A listed weights file that
    cannot be had raises :class:`PretrainedError` naming each address tried; when every address
    answered 404 (not published) it says how to train the network instead."""
    urls = [f"{base}/{file}"] if base is not None else [release_url(file), raw_url(file)]
    listed = {} if file == MANIFEST else {entry["file"]: (name, entry)
                                          for name, entry in read_manifest(folder).items()}
    if file not in listed:
        try:
            download_file(urls, Path(folder) / file, progress=False, advice="")
            return True
        except DownloadError:
            return False
    name, entry = listed[file]
    train = (f"train it with `make weights NET={name}` (in a checkout of {REPOSITORY_URL}), or set "
             "CNNLIB_RETRAIN=1 to have load() train it into the cache (minutes on a GPU)")
    try:
        download_file(urls, Path(folder) / file, sha256=entry["sha256"],
                      advice=f"Check the connection and try again, or {train}.")
    except DownloadError as err:
        if err.not_found:
            raise PretrainedError(f"the trained {name} ({file}) is listed in the manifest but not "
                                  f"published at {' or '.join(urls)}: {train}.") from err
        raise PretrainedError(str(err)) from err
    return True


def fetch(name: str, folder, *, base: str | None = None) -> bool:
    """Download the manifest and ``name``'s file from the repository (or ``base``) into ``folder``;
    False when the manifest cannot be had or does not list ``name``."""
    if not _try_fetch(MANIFEST, Path(folder), base):
        return False
    entry = read_manifest(folder).get(name)
    return entry is not None and _try_fetch(entry["file"], Path(folder), base)


def _train_and_load(network: Network, device, progress: bool) -> Pretrained:
    folder = writable_cache_dir() / "weights-trained"
    entry = train_network(network.name, folder, device=device, progress=progress)
    return load_file(folder / entry["file"], entry, network, device)


# --------------------------------------------------------------------------------------
# Training (make weights)

def _state_as(model: nn.Module, dtype: torch.dtype) -> dict:
    """The model's state_dict with floating-point tensors in ``dtype`` (contiguous, on the CPU)."""
    return {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in model.state_dict().items()}


def _accuracy(network: Network, state: dict, test_loader, tta, device) -> float:
    """Test accuracy of ``state`` loaded into a fresh net, in fp32 (what ``load`` gives)."""
    model = network.build()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return evaluate(model.to(device), test_loader, device=device, precision="fp32", tta=tta)["acc"]


def train_network(name: str, folder, *, smoke: bool = False, device=None, progress: bool = True,
                  log=print) -> dict:
    """Train ``name`` with its recipe, evaluate it, store it in ``folder`` with its manifest entry.

    Steps, each timed and logged: train through ``fit`` (with a checkpoint in the cache's
    ``weights-runs`` folder, so an interrupted ``make weights`` resumes), evaluate on all test images,
    choose fp16 or fp32 storage, write the file and the manifest entry. ``smoke=True``: 256
    training and 256 test images, one epoch (the whole path in seconds, for tests).
    Returns the manifest entry.
    """
    from . import __version__

    network = get_network(name)
    folder = Path(folder)
    device = torch.device(device) if device is not None else get_device()
    train, test = network.load_data()
    settings = network.settings()
    if smoke:
        train, test = train.subset(min(256, len(train))), test.subset(min(256, len(test)))
        settings.update(epochs=1, batch_size=64)

    start = time.perf_counter()
    seed_everything(0)  # the initial weights too are part of the run
    model = network.build()
    run = writable_cache_dir() / "weights-runs" / f"{name}{'-smoke' if smoke else ''}.pt"
    history = fit(model, train, test, **settings, device=device, checkpoint=run,
                  progress=progress)
    train_wall = time.perf_counter() - start
    train_s = sum(history["seconds"])  # the training itself, also across a resume
    log(f"{name}: trained in {train_wall:.1f} s ({settings['epochs']} epochs on {len(train):,} "
        f"images; {train_s:.1f} s of training steps)")

    start = time.perf_counter()
    test_loader = DeviceLoader(test, 500, device=device, mean=train.mean, std=train.std)
    acc32 = _accuracy(network, _state_as(model, torch.float32), test_loader, settings["tta"], device)
    acc16 = _accuracy(network, _state_as(model, torch.float16), test_loader, settings["tta"], device)
    dtype = torch.float16 if abs(acc16 - acc32) <= FP16_TOLERANCE else torch.float32
    test_acc = acc16 if dtype == torch.float16 else acc32
    eval_s = time.perf_counter() - start
    log(f"{name}: evaluated in {eval_s:.1f} s: test accuracy {100 * test_acc:.2f} % "
        f"({len(test):,} images; fp32 {100 * acc32:.2f} %, fp16 {100 * acc16:.2f} %: stored as "
        f"{'fp16' if dtype == torch.float16 else 'fp32'})")

    start = time.perf_counter()
    meta = {"name": name, "dataset": network.dataset, "train_images": len(train),
            "test_images": len(test), "recipe": network.recipe,
            "settings": {k: stable_repr(v) for k, v in settings.items()},
            "epochs": settings["epochs"], "test_acc": test_acc, "test_acc_fp32": acc32,
            "training_seconds": train_s, "device": describe_device(device),
            "cnnlib_version": __version__, "torch_version": str(torch.__version__),
            "storage": "fp16" if dtype == torch.float16 else "fp32",
            "mean": [float(m) for m in train.mean], "std": [float(s) for s in train.std],
            "smoke": smoke, "note": network.note}
    entry = save_network(folder, name, _state_as(model, dtype), history, meta)
    log(f"{name}: saved in {time.perf_counter() - start:.1f} s: {folder / entry['file']} "
        f"({entry['bytes'] / 2**20:.2f} MB, SHA-256 {entry['sha256'][:12]}...)")
    return entry


def reevaluate_network(name: str, folder, *, device=None, log=print) -> dict:
    """Evaluate the stored ``name`` again with its recipe's *current* test-time augmentation
    and store the new test accuracy; returns the manifest entry.

    For a recipe change that touches only the evaluation (``tta``): training does not depend
    on it (validation draws no random numbers), so the weights are kept, and the metadata says
    what changed (``reevaluated``: the old TTA and accuracy, the cnnlib version).
    Any other change of settings needs a retraining, and is refused here.
    """
    from . import __version__

    network = get_network(name)
    folder = Path(folder)
    entry = read_manifest(folder).get(name)
    if entry is None:
        raise PretrainedError(f"{name} is not in {folder / MANIFEST}: train it with "
                              f"`make weights NET={name}`")
    device = torch.device(device) if device is not None else get_device()
    path = folder / entry["file"]
    model, history, meta = load_file(path, entry, network, device)
    settings = {k: stable_repr(v) for k, v in network.settings().items()}
    # a setting newer than the file: the file was trained with its default
    defaults = {f.name: stable_repr(f.default) for f in dataclasses.fields(RunSettings)}
    changed = sorted(k for k in settings if meta["settings"].get(k, defaults[k]) != settings[k])
    if set(changed) - {"tta"}:
        raise PretrainedError(f"{name}: its recipe changed in {changed}, not only in 'tta': "
                              f"retrain it with `make weights NET={name}`")
    start = time.perf_counter()
    test_acc = test_accuracy(name, model, device=device)
    old = {"tta": meta["settings"]["tta"], "test_acc": meta["test_acc"]}
    meta = {**meta, "settings": settings, "test_acc": test_acc,
            "reevaluated": {**old, "cnnlib_version": __version__}}
    meta.pop("test_acc_fp32", None)  # the fp32 weights it measured are not stored
    # the loaded fp32 weights back in their stored dtype (fp16 -> fp32 -> fp16 is exact)
    stored = torch.float16 if meta["storage"] == "fp16" else torch.float32
    entry = save_network(folder, name, _state_as(model, stored), history, meta)
    log(f"{name}: test accuracy {100 * old['test_acc']:.2f} % with tta={old['tta']} -> "
        f"{100 * test_acc:.2f} % with tta={settings['tta']} ({time.perf_counter() - start:.1f} s)")
    return entry


@contextlib.contextmanager
def manifest_lock(folder):
    """Hold an exclusive lock on ``folder``'s manifest (a no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer at a time is the user's affair
        yield
        return
    with open(Path(folder) / f".{MANIFEST}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save_network(folder, name: str, state: dict, history: History, meta: dict) -> dict:
    """Write ``folder/<name>.pt`` and its manifest entry; refuse to pass ``MAX_TOTAL_BYTES``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, "network": name, "state": state,
                "history": history.state_dict(), "meta": meta}, buffer)
    data = buffer.getvalue()
    with manifest_lock(folder):  # make weights --jobs N: several writers, one manifest
        manifest = read_manifest(folder)
        others = sum(e["bytes"] for n, e in manifest.items() if n != name)
        if others + len(data) > MAX_TOTAL_BYTES:
            raise PretrainedError(f"{name} ({len(data) / 2**20:.1f} MB) would bring {folder} to "
                                  f"{(others + len(data)) / 2**20:.1f} MB, over the "
                                  f"{MAX_TOTAL_BYTES / 2**20:.0f} MB the repository allows: "
                                  "make the network smaller")
        file = f"{name}.pt"
        tmp = folder / f"{file}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, folder / file)
        entry = {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                 "storage": meta.get("storage"), "test_acc": meta.get("test_acc")}
        manifest[name] = entry
        write_manifest(folder, manifest)
    return entry
