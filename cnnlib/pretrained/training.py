"""Training the book's networks (``make weights``) and evaluating stored ones again.

:func:`train_network` trains a registered network with its recipe on all its training images,
evaluates it on all its test images, chooses fp16 or fp32 storage (fp16 when that changes the
test accuracy by at most 0.1 point: half the size for nothing) and stores it with its History
and metadata (data set, images, recipe and settings, epochs, test accuracy, training time,
device, cnnlib version, the normalisation the net expects). :func:`reevaluate_network` measures
a stored one again when only its recipe's test-time augmentation changed.

:func:`stand_in` is the fast profile's network: ``make weights``'s smoke run of the same network
(its recipe, on a few images for one epoch), measured but not stored.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import stable_repr
from ..data import DeviceLoader
from ..runtime import describe_device, get_device, seed_everything, writable_cache_dir
from ..settings import RunSettings
from ..train import evaluate, fit
from .evaluation import test_accuracy
from .registry import Network, PretrainedError, get_network
from .store import MANIFEST, Pretrained, load_file, read_manifest, save_network

__all__ = ["FP16_TOLERANCE", "train_network", "stand_in", "reevaluate_network"]

FP16_TOLERANCE = 0.001  # fp16 storage only if the test accuracy moves by at most 0.1 point


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

    Steps, each timed and logged: train (:func:`_train`), evaluate on all test images, choose
    fp16 or fp32 storage, write the file and the manifest entry. ``smoke=True``: the smoke run
    (256 training and 256 test images, one epoch: the whole path in seconds, for tests).
    Returns the manifest entry.
    """
    network = get_network(name)
    folder = Path(folder)
    device = get_device(device)
    start = time.perf_counter()
    model, history, (train, test), settings = _train(network, smoke, device, progress)
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
    meta = {**_describe(network, (train, test), settings, history, device, smoke),
            "test_acc": test_acc, "test_acc_fp32": acc32,
            "storage": "fp16" if dtype == torch.float16 else "fp32"}
    entry = save_network(folder, name, _state_as(model, dtype), history, meta)
    log(f"{name}: saved in {time.perf_counter() - start:.1f} s: {folder / entry['file']} "
        f"({entry['bytes'] / 2**20:.2f} MB, SHA-256 {entry['sha256'][:12]}...)")
    return entry


def stand_in(name: str, *, device=None) -> Pretrained:
    """The fast profile's stand-in for the shipped ``name``: the smoke run of ``make weights``
    (the same network, recipe and code, on 256 training images for one epoch), with its test
    accuracy on its 256 test images (the images of ``test_accuracy(..., smoke=True)``).

    It takes seconds, so a chapter's code runs in CI exactly as it runs on the shipped
    network, with numbers that mean nothing. Its checkpoint in the cache makes it a one-time
    cost; any change to the network or its recipe trains it again (``fit`` compares them).
    """
    network = get_network(name)
    device = get_device(device)
    model, history, data, settings = _train(network, True, device, progress=False)
    # fit validated on those test images with the recipe's test-time augmentation: measuring
    # them again would double the stand-in's cost for a number that means nothing anyway
    test_acc = history.last["val_acc"]
    meta = {**_describe(network, data, settings, history, device, True), "test_acc": test_acc}
    return Pretrained(model.eval(), history, meta, test_acc)


def _train(network: Network, smoke: bool, device, progress: bool):
    """``network`` trained through ``fit`` with its recipe: ``(model, history, (train, test),
    settings)``. The run is checkpointed in the cache's ``weights-runs`` folder, so an
    interrupted ``make weights`` resumes and a finished run is loaded, not trained again."""
    train, test = network.load_data(smoke)
    settings = network.settings()
    if smoke:
        settings.update(epochs=1, batch_size=64)
    seed_everything(0)  # the initial weights too are part of the run
    model = network.build()
    run = writable_cache_dir() / "weights-runs" / f"{network.name}{'-smoke' if smoke else ''}.pt"
    history = fit(model, train, test, **settings, device=device, checkpoint=run,
                  progress=progress)
    return model, history, (train, test), settings


def _describe(network: Network, data, settings: dict, history, device, smoke: bool) -> dict:
    """The metadata of a trained network, but for its test accuracy and storage: data set,
    images, recipe and settings, epochs, training time, device, versions, normalisation."""
    from .. import __version__

    train, test = data
    return {"name": network.name, "dataset": network.dataset, "train_images": len(train),
            "test_images": len(test), "recipe": network.recipe,
            "settings": {k: stable_repr(v) for k, v in settings.items()},
            "epochs": settings["epochs"], "training_seconds": sum(history["seconds"]),
            "device": describe_device(device), "cnnlib_version": __version__,
            "torch_version": str(torch.__version__),
            "mean": [float(m) for m in train.mean], "std": [float(s) for s in train.std],
            "smoke": smoke, "note": network.note}


def reevaluate_network(name: str, folder, *, device=None, log=print) -> dict:
    """Evaluate the stored ``name`` again with its recipe's *current* test-time augmentation
    and store the new test accuracy; returns the manifest entry.

    For a recipe change that touches only the evaluation (``tta``): training does not depend
    on it (validation draws no random numbers), so the weights are kept, and the metadata says
    what changed (``reevaluated``: the old TTA and accuracy, the cnnlib version).
    Any other change of settings needs a retraining, and is refused here.
    """
    from .. import __version__

    network = get_network(name)
    folder = Path(folder)
    entry = read_manifest(folder).get(name)
    if entry is None:
        raise PretrainedError(f"{name} is not in {folder / MANIFEST}: train it with "
                              f"`make weights NET={name}`")
    device = get_device(device)
    path = folder / entry["file"]
    model, history, meta, _ = load_file(path, entry, network, device)
    settings = {k: stable_repr(v) for k, v in network.settings().items()}
    # a setting newer than the file: the file was trained with its default
    defaults = {f.name: stable_repr(f.default) for f in dataclasses.fields(RunSettings)}
    changed = sorted(k for k in settings if meta["settings"].get(k, defaults[k]) != settings[k])
    if set(changed) - {"tta"}:
        raise PretrainedError(f"{name}: its recipe changed in {changed}, not only in 'tta': "
                              f"retrain it with `make weights NET={name}`")
    start = time.perf_counter()
    test_acc = test_accuracy(name, model, device=device, recorded=False)
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
