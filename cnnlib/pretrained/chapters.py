"""What the chapters and tools call: :func:`load` a trained network, whichever way it can be
had, and the chapters' helpers around it (:func:`for_profile`, :func:`origin`).

A chapter asks :func:`for_profile` for its network and gets the same kind of object in every
profile: the shipped network in ``full``, a stand-in trained in seconds in ``fast``.

``load`` reads the file of the store (:mod:`.store`), downloading it first for a
pip-installed cnnlib. ``CNNLIB_RETRAIN=1`` trains the network instead (into the cache), and so
does a CUDA GPU when no file can be had: there the recipe takes minutes, not an hour.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from ..runtime import device_in_words, env_flag, get_device, writable_cache_dir
from .evaluation import test_accuracy
from .registry import Network, PretrainedError, get_network
from .store import (MANIFEST, Pretrained, _try_fetch, load_file, read_manifest, repository_root,
                    weights_dir)
from .training import stand_in, train_network

__all__ = ["load", "retraining_requested", "for_profile", "origin", "wrap"]


def retraining_requested() -> bool:
    return env_flag("CNNLIB_RETRAIN")


def load(name: str, *, folder=None, device=None, progress: bool = False) -> Pretrained:
    """The trained network ``name`` (in eval mode), its History and its metadata.

    From ``folder`` (default: the repository's ``weights/``, or the cache for a pip-installed
    cnnlib, which downloads the file first). With ``CNNLIB_RETRAIN=1``, or on a CUDA GPU when no
    file can be had, the network is trained with its recipe into the cache instead.
    """
    network = get_network(name)
    device = get_device(device)
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


def _train_and_load(network: Network, device, progress: bool) -> Pretrained:
    folder = writable_cache_dir() / "weights-trained"
    entry = train_network(network.name, folder, device=device, progress=progress)
    return load_file(folder / entry["file"], entry, network, device)


def for_profile(name: str, profile) -> Pretrained:
    """A chapter's network ``name`` with its test accuracy (``.test_acc``).

    The one place where the profile decides: in ``full``, the shipped network, its accuracy on
    all its test images measured again now; in ``fast`` (CI), its stand-in
    (:func:`~cnnlib.pretrained.stand_in`: the same network and recipe trained in seconds on 256
    images, its accuracy on 256 test images). So a chapter runs the same code in both, and only
    the numbers differ; ``.meta`` says which it is (:func:`origin` words it).
    """
    if not profile.is_full:
        return stand_in(name, device=profile.device)
    shipped = load(name, device=profile.device)
    return shipped._replace(test_acc=test_accuracy(name, shipped.model))


def wrap(text: str, width: int = 79, indent: str = "") -> str:
    """``text`` in lines of at most ``width`` characters (the book's column), never breaking
    inside a `code span`."""
    parts = text.split("`")
    kept = "`".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    return textwrap.fill(kept, width, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False).replace("\0", " ")


def origin(meta: dict, width: int = 79, indent: str = "") -> str:
    """One sentence for a chapter's reader, in lines that fit its column: how a network was
    trained and what it scores, the shipped one or the fast profile's stand-in. (How to retrain
    it is the README's business, not the page's.)"""
    minutes = meta["training_seconds"] / 60
    epochs = f"{meta['epochs']} epoch{'s' if meta['epochs'] != 1 else ''}"
    how = ("a stand-in for the book's network (fast profile), trained with" if meta.get("smoke")
           else "trained for the book with")
    return wrap(f"{meta['name']}: {how} the {meta['recipe']!r} recipe, {epochs} on "
                f"{meta['train_images']:,} images ({minutes:.1f} minutes on "
                f"{device_in_words(meta['device'])}); test accuracy "
                f"{100 * meta['test_acc']:.2f} % on {meta['test_images']:,} images.", width, indent)
