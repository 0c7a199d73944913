"""What the chapters and tools call: :func:`load` a trained network, whichever way it can be
had, and the chapters' helpers around it (:func:`for_profile`, :func:`origin`).

``load`` reads the file of the store (:mod:`.store`), downloading it first for a
pip-installed cnnlib. ``CNNLIB_RETRAIN=1`` trains the network instead (into the cache), and so
does a CUDA GPU when no file can be had: there the recipe takes minutes, not an hour.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable


from ..runtime import device_in_words, env_flag, get_device, writable_cache_dir
from .evaluation import test_accuracy
from .registry import Network, PretrainedError, get_network
from .store import (MANIFEST, Pretrained, _try_fetch, load_file, read_manifest, repository_root,
                    weights_dir)
from .training import train_network

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


def for_profile(name: str, profile, train_small: Callable[[], tuple]) -> Pretrained:
    """A chapter's network: in the ``full`` profile the shipped ``name`` (its test accuracy
    measured again here); in ``fast`` (CI) ``train_small()``'s ``(model, history)``, a toy run
    that shows the code works without the shipped files."""
    if not profile.is_full:
        model, history = train_small()
        return Pretrained(model, history, None)
    shipped = load(name)
    return shipped._replace(test_acc=test_accuracy(name, shipped.model))


def wrap(text: str, width: int = 79, indent: str = "") -> str:
    """``text`` in lines of at most ``width`` characters (the book's column), never breaking
    inside a `code span`."""
    parts = text.split("`")
    kept = "`".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    return textwrap.fill(kept, width, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False).replace("\0", " ")


def origin(meta: dict, width: int = 79, indent: str = "") -> str:
    """One sentence for a chapter's reader, in lines that fit its column: how a shipped network
    was trained and what it scores. (How to retrain it is the README's business, not the page's.)"""
    minutes = meta["training_seconds"] / 60
    return wrap(f"{meta['name']}: trained for the book with the {meta['recipe']!r} recipe, "
                f"{meta['epochs']} epochs on {meta['train_images']:,} images ({minutes:.1f} "
                f"minutes on {device_in_words(meta['device'])}); test accuracy "
                f"{100 * meta['test_acc']:.2f} % on {meta['test_images']:,} images.", width, indent)
