"""A trained network's test accuracy, measured now, and remembered so it is measured once.

A chapter in the full profile checks that a shipped file is what the book says it is: it
evaluates the net on all its test images in fp32, with its recipe's test-time augmentation (six
views of each image for most nets: minutes per net on a CPU). The result depends only on the
weights, the network, the augmentation, the test images and their normalisation, and the code
that evaluates (cnnlib's version and source, torch's version, the kind of device); so
:func:`test_accuracy` keeps it in the cache folder (``<cache>/test-accuracy``), under a key made
of all of these, and the next run of the chapter reads it. Anything else (another weights file,
a model edited after loading, another ``tta``, other data, an edit of cnnlib's code) is another
key: measured afresh.

A shipped network needs no full evaluation at all: ``tools/record_predictions.py`` records the
class it predicts for each test image in ``weights/PREDICTIONS.json``, with the same key. When
the key matches (these very weights, this network, the same augmentation and images),
:func:`test_accuracy` evaluates a seeded sample of ``SAMPLE`` images live, checks that they are
predicted as recorded, and reads the accuracy on all the images from the record: a chapter in
the full profile checks each shipped net in seconds instead of minutes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import data_fingerprint, model_fingerprint, stable_repr, state_digest
from ..data import DeviceLoader
from ..precision import use_channels_last
from ..runtime import atomic_write, cache_dir
from ..train import evaluate, tta_logits
from ..validation import model_device
from .registry import get_network
from .store import read_predictions

__all__ = ["test_accuracy", "predicted_classes", "measurement", "recorded_accuracy", "sample_agrees",
           "source_digest", "CACHE_FOLDER", "SAMPLE", "RECORDED_FIELDS"]

CACHE_FOLDER = "test-accuracy"
SAMPLE = 500  # test images evaluated live to confirm recorded predictions: ~5 % of the cost
MIN_AGREEMENT = 0.994  # a borderline image may flip between CPUs and GPUs; a changed net flips many
# What recorded predictions depend on (the rest of a measurement's key names where and with
# which code it ran; the live sample answers for those).
RECORDED_FIELDS = ("weights", "network", "tta", "data")


def test_accuracy(name: str, model: nn.Module, *, device=None, tta="recipe", smoke: bool = False,
                  recorded: bool = True) -> float:
    """``model``'s accuracy on all of ``name``'s test images, computed now (fp32, with the
    test-time augmentation of its recipe): the check that the shipped file is what the book
    says it is. ``tta``: another test-time augmentation (``None``, ``"flip"``,
    ``"flip+translate"``), to show what the recipe's adds. ``smoke=True``: on the smoke run's
    test images (those the fast profile's stand-in is measured on).

    Measured once: the result is kept in the cache and read back the next time the same
    weights are evaluated the same way; a shipped network's recorded predictions are used
    after a live sample confirms them (``recorded=False``: evaluate every image; see the
    module's docstring)."""
    network = get_network(name)
    train, test = network.load_data(smoke)
    if tta == "recipe":
        tta = network.settings()["tta"]
    device = model_device(model, device)
    # batches of 100: smaller activations, reused memory (1.2-1.4x faster than 500 on a CPU)
    loader = DeviceLoader(test, 100, device=device, mean=train.mean, std=train.std)
    key = measurement(model, loader, tta, device)
    path = cache_dir() / CACHE_FOLDER / f"{name}-{_digest(key)}.json"
    acc = _read(path, key)
    if acc is None and recorded:
        acc = recorded_accuracy(name, model, key, tta=tta, device=device)
    if acc is None:
        if use_channels_last(model, device, torch.float32):  # NHWC: 1.3-2.8x faster on a CPU
            model.to(memory_format=torch.channels_last)
        acc = evaluate(model, loader, device=device, precision="fp32", tta=tta)["acc"]
        _write(path, key, acc)
    return acc


@torch.no_grad()
def predicted_classes(name: str, model: nn.Module, indices=None, *, device=None,
                      tta="recipe") -> torch.Tensor:
    """The class ``model`` predicts for each of ``name``'s test images (or for those at
    ``indices``), computed as :func:`test_accuracy` computes them (fp32, the recipe's test-time
    augmentation, NHWC where faster). Their agreement with the labels is the test accuracy;
    ``tools/record_predictions.py`` keeps them for the test that checks a shipped file."""
    network = get_network(name)
    train, test = network.load_data()
    if indices is not None:
        test = test.select(indices)
    if tta == "recipe":
        tta = network.settings()["tta"]
    device = model_device(model, device)
    loader = DeviceLoader(test, 100, device=device, mean=train.mean, std=train.std)
    channels_last = use_channels_last(model, device, torch.float32)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()
    classes = []
    for x, _ in loader:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        classes.append(tta_logits(model, x.float(), tta).argmax(1).cpu())
    model.train(was_training)
    return torch.cat(classes)


def recorded_accuracy(name: str, model: nn.Module, key: dict, *, tta, device=None) -> float | None:
    """The accuracy on all test images from ``name``'s recorded predictions, when they were
    recorded for exactly ``key`` (see :func:`measurement`; ``tta`` is the test-time augmentation
    it was made with) and a seeded live sample of ``SAMPLE`` images is predicted as recorded;
    else None (then the caller evaluates them all)."""
    record = read_predictions().get(name)
    wanted = {field: key[field] for field in RECORDED_FIELDS}
    if record is None or record.get("key") != json.loads(json.dumps(wanted)):
        return None
    predictions = torch.tensor([int(c) for c in record["predictions"]])
    labels = get_network(name).load_data()[1].labels
    if not sample_agrees(name, model, predictions, tta=tta, device=device):
        return None
    return (predictions == labels).double().mean().item()


def sample_agrees(name: str, model: nn.Module, predictions: torch.Tensor, *, tta,
                  device=None) -> bool:
    """Whether ``model`` predicts a seeded sample of ``SAMPLE`` of ``name``'s test images as
    ``predictions`` (one class per test image) says, up to borderline images."""
    size = len(get_network(name).load_data()[1].labels)
    if len(predictions) != size:
        return False
    sample = torch.randperm(size, generator=torch.Generator().manual_seed(0))
    sample = sample[:SAMPLE].sort().values
    live = predicted_classes(name, model, sample, device=device, tta=tta)
    return (live == predictions[sample]).double().mean().item() >= MIN_AGREEMENT


def measurement(model: nn.Module, loader, tta, device) -> dict:
    """What a test accuracy depends on, as plain values: the cache key."""
    from .. import __version__

    return {"weights": state_digest(model.state_dict()), "network": model_fingerprint(model),
            "tta": stable_repr(tta), "data": data_fingerprint(loader),
            "cnnlib": __version__, "code": source_digest(), "torch": str(torch.__version__),
            "device": torch.device(device).type}


def source_digest(root=None) -> str:
    """A hash of every ``.py`` file of cnnlib (or of the folder ``root``): an edit of the code
    that evaluates (a checkout between releases) is a new measurement, not a stale one."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]


def _read(path: Path, key: dict) -> float | None:
    """The accuracy stored in ``path`` for exactly ``key``; None when there is none. A damaged
    file counts as none (it is measured again and rewritten)."""
    try:
        stored = json.loads(path.read_text())
        if stored["key"] == json.loads(json.dumps(key)):  # compared as JSON gives it back
            return float(stored["acc"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write(path: Path, key: dict, acc: float) -> None:
    """Store ``acc`` (a temporary file renamed: never half written). A cache that cannot be
    written costs only time (the next run measures again), so that is not an error."""
    text = json.dumps({"key": key, "acc": acc}, indent=1) + "\n"
    try:
        atomic_write(path, lambda f: f.write(text.encode()))
    except OSError:
        pass
