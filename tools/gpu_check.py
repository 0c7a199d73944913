"""The GPU route, rehearsed in one command: ``make gpu-check`` (at most 10 minutes on one GPU).

What a student on Colab's T4, or anyone with a GPU, relies on, checked on whatever CUDA GPU is
there, in this order (quick checks first, so a short budget still gets them):

1. ``fp16_resume``: the T4 route forced (``precision="fp16"``: fp16 autocast with the gradient
   scaler) on a small CIFAR-10 net. Trained straight through, then again interrupted after one
   epoch and resumed from its checkpoint: both must end with identical weights. A second
   straight run shows whether this GPU repeats a run bit for bit at all (if it does not, an
   unequal resume is reported as the GPU's non-determinism, not as a resume fault).
2. ``torchrun``: ``examples/ddp_cifar10.py --smoke`` under torchrun, one process per GPU.
3. ``bench``: ``bench/cifar10_gpu.py``: the time to 94 % of the book's 9-layer ResNet through
   ``fit``, and airbench94 beside it on the same JPEG images.
4. ``chapters``: chapters 4, 9 and 11 executed with the full profile into a temporary folder
   (``tools/execute.py --out``: the committed notebooks are never touched), each timed, with an
   empty cache of their own (nothing trained earlier is loaded instead of trained).

    python tools/gpu_check.py [gpu-check.json] [--budget 540]

The figures go into the JSON file after every step, so a run cut short keeps what it measured.
Each step gets what is left of the budget; a step past it is stopped (with its child processes)
and recorded as timed out. Exit status 1 when a step failed. Without a CUDA GPU there is nothing
to check: it says so, writes nothing and exits 0.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
CHAPTERS = ("04_batchnorm", "09_resnet_densenet", "11_domain_adaptation")
NO_GPU = "no CUDA GPU here: nothing to check (make gpu-check needs one)"


# --------------------------------------------------------------------------------------
# Small helpers

class Budget:
    """Seconds left of the whole check's time limit."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


def run_command(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``cmd`` from the repository root; its exit status, seconds and last output lines.

    It runs in a session of its own so that, past ``timeout``, its children (torchrun's workers,
    a notebook's kernel) are stopped with it, not left holding the GPU.
    """
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        timed_out = True
    return {"ok": process.returncode == 0 and not timed_out, "returncode": process.returncode,
            "timed_out": timed_out, "seconds": round(time.perf_counter() - start, 2),
            "tail": output.splitlines()[-15:]}


def child_env(**extra: str) -> dict:
    """This process's environment, with the repository importable (a clone need not be installed)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def differing_tensors(a: nn.Module, b: nn.Module) -> list[str]:
    """Names of the parameters and buffers whose values are not bit for bit equal."""
    sa, sb = a.state_dict(), b.state_dict()
    return [k for k in sa if not torch.equal(sa[k].cpu(), sb[k].cpu())]


def write_json(path: Path, data: dict) -> None:
    """Write all or nothing: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def gpu_facts() -> dict:
    """Which GPUs, which torch and CUDA, and when: the heading of the figures."""
    from cnnlib.runtime import describe_device

    gpus = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "gpus": [{"name": g.name, "compute_capability": f"{g.major}.{g.minor}",
                      "memory_gib": round(g.total_memory / 2**30, 1)} for g in gpus],
            "device": describe_device("cuda"), "torch": torch.__version__,
            "cuda": torch.version.cuda, "python": sys.version.split()[0]}


# --------------------------------------------------------------------------------------
# 1. The T4 route: fp16 with the gradient scaler, and an exact resume

class GlobalMean(nn.Module):
    """Average over the image: a global pool whose backward is deterministic on CUDA
    (``AdaptiveAvgPool2d``'s is not, and deterministic mode would refuse it)."""

    def forward(self, x):
        return x.mean((2, 3))


def resume_net(num_classes: int, seed: int = 0) -> nn.Module:
    """A small conv net with batch norm (buffers) and dropout (the RNG must be restored too)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        GlobalMean(), nn.Dropout(0.2), nn.Linear(64, num_classes))


def fp16_resume_check(train, val, *, device, folder: Path, epochs: int = 3) -> dict:
    """Train ``resume_net`` in fp16 three ways (straight, straight again, interrupted after
    epoch 1 and resumed); say which end with identical weights.

    On CUDA deterministic algorithms are asked for (warnings only: an operation without a
    deterministic kernel is named in ``nondeterministic_ops`` rather than stopping the check).
    """
    from cnnlib.data import Augment
    from cnnlib.train import fit

    classes = len(train.classes)
    kwargs = dict(epochs=epochs, lr=0.1, batch_size=128, seed=0, device=device, precision="fp16",
                  augment=Augment(translate=2, flip=True), progress=False)
    cuda = torch.device(device).type == "cuda"
    if cuda:  # before the first cuBLAS call of this process; a no-op if already set
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if cuda:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            straight, again = resume_net(classes), resume_net(classes)
            history = fit(straight, train, val, **kwargs)
            fit(again, train, val, **kwargs)
            checkpoint = folder / "fp16-resume.pt"

            def interrupt(epoch, row):
                if row["epoch"] == 1:
                    raise KeyboardInterrupt  # what stopping a notebook cell raises

            try:
                fit(resume_net(classes), train, val, checkpoint=checkpoint, on_epoch_end=interrupt,
                    **kwargs)
            except KeyboardInterrupt:
                pass
            else:
                raise RuntimeError("the interrupted run was not interrupted")
            saved_scale = saved_scaler_scale(checkpoint)
            resumed = resume_net(classes, seed=1)  # other weights: all must come from the file
            resumed_history = fit(resumed, train, val, checkpoint=checkpoint, **kwargs)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
    differ = differing_tensors(straight, resumed)
    return {"ok": not differ, "precision": history.settings.get("precision"),
            "saved_scaler_scale": saved_scale, "resumed_from_epoch":
            resumed_history.settings.get("resumed_from_epoch"), "epochs": epochs,
            "train_images": len(train), "val_acc": history.last["val_acc"],
            "resume_equal": not differ, "differing_tensors": differ,
            "repeat_equal": not differing_tensors(straight, again),
            "nondeterministic_ops": sorted({str(w.message).splitlines()[0] for w in caught
                                            if "deterministic" in str(w.message)}),
            "seconds": round(time.perf_counter() - start, 2)}


def saved_scaler_scale(path: Path):
    """The gradient scaler's scale in an interrupted run's checkpoint (``None`` if none was saved):
    evidence that the fp16 route used the scaler and that a resume can restore it."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    scale = saved.get("state", {}).get("scaler", {}).get("scale")
    return None if scale is None else float(scale)


def step_fp16_resume(folder: Path) -> dict:
    from cnnlib.data import load_dataset

    train = load_dataset("cifar10", "train").subset(8192, seed=0)
    val = load_dataset("cifar10", "test").subset(2048, seed=0)
    result = fp16_resume_check(train, val, device="cuda", folder=folder)
    torch.cuda.empty_cache()  # leave the GPU to the steps that follow
    return result


# --------------------------------------------------------------------------------------
# 2.-4. torchrun, the benchmark, the chapters (each in processes of its own)

def step_torchrun(folder: Path, timeout: float) -> dict:
    processes = torch.cuda.device_count()
    result = run_command([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          f"--nproc_per_node={processes}", "examples/ddp_cifar10.py", "--smoke",
                          "--checkpoint", str(folder / "ddp-smoke.pt")], timeout, child_env())
    return {"processes": processes, **result}


def step_bench(folder: Path, timeout: float) -> dict:
    figures = folder / "bench.json"
    result = run_command([sys.executable, "bench/cifar10_gpu.py", "--json", str(figures)],
                         timeout, child_env())
    if figures.exists():
        result["figures"] = json.loads(figures.read_text())
    return result


def step_chapter(name: str, folder: Path, timeout: float) -> dict:
    """One chapter, full profile, in a fresh kernel, with a cache of the check's own (shared by
    the three chapters): no network trained earlier on this machine is loaded instead of
    trained, so the time is what a fresh session takes."""
    notebook = ROOT / "chapters" / f"{name}.ipynb"
    return run_command([sys.executable, "tools/execute.py", str(notebook), "--out", str(folder)],
                       timeout, child_env(CNNLIB_PROFILE="full", CNNLIB_CACHE=str(folder / "cache")))


# --------------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="gpu-check.json", help="the figures (JSON)")
    parser.add_argument("--budget", type=float, default=540,
                        help="seconds for the whole check (default 540: within 10 minutes)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        print(NO_GPU)
        return 0

    out, budget = Path(args.out).resolve(), Budget(args.budget)
    report = {**gpu_facts(), "budget_s": args.budget, "steps": {}}
    print(f"gpu-check on {report['device']} x {len(report['gpus'])}, torch {report['torch']}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        folder = Path(tmp)
        steps = [("fp16_resume", lambda left: step_fp16_resume(folder)),
                 ("torchrun", lambda left: step_torchrun(folder, left)),
                 ("bench", lambda left: step_bench(folder, left))]
        steps += [(f"chapter_{name}", lambda left, name=name: step_chapter(name, folder, left))
                  for name in CHAPTERS]
        for name, step in steps:
            left = budget.left()
            if left < 10:
                result = {"ok": False, "skipped": "the time budget was spent"}
            else:
                try:
                    result = step(left)
                except Exception as err:  # record it and go on: the other figures still count
                    result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
            report["steps"][name] = result
            write_json(out, report)
            print(f"{name}: {'ok' if result['ok'] else 'FAILED'} "
                  f"({result.get('seconds', '-')} s)", flush=True)
    failed = [name for name, result in report["steps"].items() if not result["ok"]]
    print(f"figures written to {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
