"""The book's trained networks: ``available()`` lists them, ``load(name)`` returns one.

Chapters that show a trained network (the five compact CIFAR-10 nets, later degradation and
transfer nets) load it here instead of training it in the notebook. Each network is trained
once, by ``make weights`` (``tools/train_weights.py`` -> :func:`train_network`), on all its
training images with a named recipe (``cnnlib.recipe``), evaluated on all its test images, and
stored in the repository's ``weights/`` folder with its SHA-256 in ``weights/MANIFEST.json``.

One module per job, each building on the ones before:

- :mod:`.registry`: the networks (``NETWORKS``): how each is built and trained, on which data;
- :mod:`.store`: the files: ``weights/``, the manifest, writing and verified reading, download;
- :mod:`.evaluation`: a network's test accuracy measured now (or confirmed against the
  predictions recorded for a shipped file), and remembered in the cache;
- :mod:`.training`: ``make weights``: train, evaluate, store; evaluate a stored one again;
  the fast profile's stand-in (the same training on a few images);
- :mod:`.chapters`: :func:`load` (from the store, a download or a training, whichever applies)
  and the chapters' helpers :func:`for_profile` and :func:`origin`.
"""
from .chapters import for_profile, load, origin, retraining_requested, wrap
from .evaluation import predicted_classes, recorded_accuracy, test_accuracy
from .registry import (AUGMENTATIONS, FIG1_LR, NETWORKS, Network, PretrainedError, fig1_data,
                       fig1_net, get_network, paper_inputs, register, transfer_source_data)
from .store import (BRANCH, MANIFEST, MAX_TOTAL_BYTES, REPOSITORY_URL, Pretrained,
                    WeightsMismatchError, available, fetch, raw_url, read_manifest, read_predictions,
                    sha256,
                    weights_dir)
from .training import reevaluate_network, stand_in, train_network

__all__ = ["Network", "NETWORKS", "register", "get_network", "available", "load", "Pretrained",
           "PretrainedError", "WeightsMismatchError", "for_profile", "origin", "wrap",
           "test_accuracy", "predicted_classes", "recorded_accuracy", "read_predictions",
           "train_network", "stand_in", "reevaluate_network", "read_manifest", "fetch",
           "weights_dir", "sha256", "raw_url", "retraining_requested", "REPOSITORY_URL", "BRANCH",
           "MANIFEST", "MAX_TOTAL_BYTES", "AUGMENTATIONS", "FIG1_LR", "fig1_data", "fig1_net",
           "paper_inputs", "transfer_source_data"]
