"""Train the book's networks and store them in weights/ (``make weights``).

    python tools/train_weights.py --all                 # every network of cnnlib.pretrained
    python tools/train_weights.py resnet18 vgg11        # some of them
    python tools/train_weights.py --smoke resnet18 --out /tmp/w   # the whole path in seconds
    python tools/train_weights.py --all --jobs 4        # 4 processes at once (a GPU: small
                                                        # nets leave it idle between kernels)
    python tools/train_weights.py --table               # weights/README.md's table, from the files
    python tools/train_weights.py --reevaluate resnet18 # only the recipe's test-time
                                                        # augmentation changed: evaluate again

Each network is trained through ``fit`` with its recipe (``cnnlib.recipe``) on all its training
images, evaluated on all its test images, and written with its History and metadata to
``<out>/<name>.pt`` plus its SHA-256 in ``<out>/MANIFEST.json``
(:func:`cnnlib.pretrained.train_network`). The time each step took is printed. An interrupted
run resumes from its checkpoint in the cache (``weights-runs``); a changed recipe is refused
there with the checkpoint's usual message (delete the checkpoint to retrain).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from cnnlib.pretrained import NETWORKS, reevaluate_network, train_network  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"networks to train, of {sorted(NETWORKS)}")
    parser.add_argument("--all", action="store_true", help="train every network")
    parser.add_argument("--out", type=Path, default=ROOT / "weights", help="folder (default: weights/)")
    parser.add_argument("--smoke", action="store_true", help="toy size: 256 images, one epoch")
    parser.add_argument("--device", default=None, help="default: the fastest available")
    parser.add_argument("--table", action="store_true",
                        help="print the Markdown table of the networks in --out, read from their files")
    parser.add_argument("--jobs", type=int, default=1,
                        help="train in this many processes at once (default 1)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="keep the stored weights; evaluate them again with the recipe's "
                             "current test-time augmentation (the only change this allows)")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.out))
        return 0
    names = sorted(NETWORKS) if args.all else args.names
    unknown = [n for n in names if n not in NETWORKS]
    if not names or unknown:
        parser.error(f"name networks to train (unknown: {unknown}) or pass --all; the networks "
                     f"are {sorted(NETWORKS)}")
    start = time.perf_counter()
    if args.reevaluate:
        for name in names:
            reevaluate_network(name, args.out, device=args.device)
        return 0
    if args.jobs > 1:
        return run_jobs(names, args, start)
    for name in names:
        train_network(name, args.out, smoke=args.smoke, device=args.device,
                      progress=sys.stderr.isatty())
    print(f"all {len(names)} networks done in {time.perf_counter() - start:.1f} s -> {args.out}")
    return 0


def table(folder) -> str:
    """A Markdown table of the shipped networks: data, recipe, epochs, accuracy, time, size."""
    from cnnlib.pretrained import load, read_manifest

    lines = ["| network | data | recipe | epochs | training images | test accuracy | training "
             "| file |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, entry in read_manifest(folder).items():
        meta = load(name, folder=folder, device="cpu").meta
        lines.append(f"| `{name}` | {meta['dataset']} | {meta['recipe']} | {meta['epochs']} | "
                     f"{meta['train_images']:,} | {100 * meta['test_acc']:.2f} % | "
                     f"{meta['training_seconds']:.0f} s | {entry['bytes'] / 2**20:.2f} MB |")
    return "\n".join(lines)


def run_jobs(names, args, start) -> int:
    """Split ``names`` over ``args.jobs`` processes of this script (round robin, in the order
    given), each writing into the same folder (the manifest is locked while it is written)."""
    groups = [names[k::args.jobs] for k in range(args.jobs) if names[k::args.jobs]]
    common = ["--out", str(args.out)] + (["--smoke"] if args.smoke else []) + (
        ["--device", args.device] if args.device else [])
    jobs = [subprocess.Popen([sys.executable, __file__, *group, *common]) for group in groups]
    codes = [job.wait() for job in jobs]
    failed = [group for group, code in zip(groups, codes) if code != 0]
    print(f"{len(names)} networks in {len(groups)} processes done in "
          f"{time.perf_counter() - start:.1f} s -> {args.out}"
          + (f"; these processes failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
