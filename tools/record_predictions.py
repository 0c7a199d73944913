"""Record what each shipped network predicts for every one of its test images.

    python tools/record_predictions.py --all            # every network in weights/MANIFEST.json
    python tools/record_predictions.py resnet18         # after `make weights NET=resnet18`
    python tools/record_predictions.py --rekey --all    # after a change of what the key holds

Why: evaluating a shipped network on all its test images takes minutes on a 2-core CPU
(densenet_bc with six test-time views: ~9 min), and a chapter in the full profile checks several
of them; CI checks all 21. Instead, ``cnnlib.pretrained.test_accuracy`` evaluates a seeded
sample of 500 images live, checks that they are predicted as recorded, and reads the accuracy
on all of them from the record. The predictions are kept in ``weights/PREDICTIONS.json`` with
the SHA-256 of the weights file and the key of the measurement (weights, network, test-time
augmentation, images); a retrained network must be recorded again (tests/test_pretrained.py
says so). When only the way the key describes a network changes (not the weights), ``--rekey``
writes the new key after a live sample of 500 images confirms the recorded predictions: the
same check a chapter makes, without evaluating every image again.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from cnnlib.data import DeviceLoader  # noqa: E402
from cnnlib.pretrained import (get_network, load, predicted_classes, read_manifest,  # noqa: E402
                               read_predictions, weights_dir)
from cnnlib.pretrained.evaluation import RECORDED_FIELDS, measurement, sample_agrees  # noqa: E402
from cnnlib.pretrained.store import PREDICTIONS  # noqa: E402


def key_of(name: str, model) -> dict:
    """What the predictions depend on: the fields of ``test_accuracy``'s key that name the
    weights, the network, the augmentation and the images."""
    network = get_network(name)
    train, test = network.load_data()
    loader = DeviceLoader(test, 100, device="cpu", mean=train.mean, std=train.std)
    key = measurement(model, loader, network.settings()["tta"], "cpu")
    return json.loads(json.dumps({field: key[field] for field in RECORDED_FIELDS}))


def record(name: str) -> dict:
    entry = read_manifest(weights_dir())[name]
    model, _, meta, _ = load(name, device="cpu")
    classes = predicted_classes(name, model, device="cpu")
    if int(classes.max()) > 9:
        raise ValueError(f"{name}: predictions are stored one digit per image (10 classes at most)")
    labels = get_network(name).load_data()[1].labels
    acc = (classes == labels).float().mean().item()
    print(f"{name}: accuracy {acc:.4f} from the predictions, {meta['test_acc']:.4f} stated",
          flush=True)
    return {"sha256": entry["sha256"], "key": key_of(name, model),
            "predictions": "".join(str(int(c)) for c in classes)}


def rekey(name: str) -> dict:
    """``name``'s record with the key as this code writes it, once a live sample confirms that
    these weights still predict what was recorded."""
    entry, record = read_manifest(weights_dir())[name], read_predictions(weights_dir())[name]
    if record["sha256"] != entry["sha256"]:
        raise ValueError(f"{name}: its predictions were recorded for another file; record them "
                         f"again: python tools/record_predictions.py {name}")
    model = load(name, device="cpu")[0]
    predictions = torch.tensor([int(c) for c in record["predictions"]])
    if not sample_agrees(name, model, predictions, tta=get_network(name).settings()["tta"],
                         device="cpu"):
        raise ValueError(f"{name}: a live sample disagrees with the recorded predictions; "
                         f"record them again: python tools/record_predictions.py {name}")
    return {**record, "key": key_of(name, model)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--all", action="store_true", help="every network in the manifest")
    parser.add_argument("--rekey", action="store_true",
                        help="only write the key anew (the weights are unchanged)")
    args = parser.parse_args(argv)
    names = sorted(read_manifest(weights_dir())) if args.all else args.names
    if not names:
        parser.error("name the networks, or pass --all")
    for name in names:
        start = time.time()
        recorded = read_predictions(weights_dir())
        recorded[name] = rekey(name) if args.rekey else record(name)
        path = weights_dir() / PREDICTIONS
        path.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
        print(f"{name}: recorded in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
