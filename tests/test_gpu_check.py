"""tools/gpu_check.py: says so and exits 0 without a GPU; its helpers and its resume check on the CPU."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402


@pytest.mark.slow
def test_without_a_gpu_it_says_so_writes_nothing_and_exits_0(tmp_path):
    out = tmp_path / "figures.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a machine with one
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), str(out)],
                            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == gpu_check.NO_GPU
    assert not out.exists()


def test_run_command_reports_status_and_the_last_lines():
    ok = gpu_check.run_command([sys.executable, "-c", "print('a'); print('b')"], timeout=60)
    assert ok["ok"] and ok["returncode"] == 0 and ok["tail"] == ["a", "b"] and not ok["timed_out"]
    failed = gpu_check.run_command([sys.executable, "-c", "import sys; print('why'); sys.exit(3)"],
                                   timeout=60)
    assert not failed["ok"] and failed["returncode"] == 3 and failed["tail"] == ["why"]


def test_run_command_stops_the_whole_process_group_past_its_time(tmp_path):
    marker = tmp_path / "child-still-ran"
    # A parent that starts a child (as torchrun starts workers) and both outlive the limit.
    child = f"import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()"
    parent = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    result = gpu_check.run_command([sys.executable, "-c", parent], timeout=1)
    assert result["timed_out"] and not result["ok"] and result["seconds"] < 30
    import time
    time.sleep(4)
    assert not marker.exists()  # the child was stopped with its parent


def test_budget_counts_down_and_never_below_zero():
    assert 59 < gpu_check.Budget(60).left() <= 60
    assert gpu_check.Budget(-5).left() == 0


def test_differing_tensors_names_parameters_and_buffers():
    a, b = gpu_check.resume_net(4), gpu_check.resume_net(4)
    assert gpu_check.differing_tensors(a, b) == []
    with torch.no_grad():
        b[-1].bias[0] += 1
    b[1].running_mean[0] = 1.0
    assert gpu_check.differing_tensors(a, b) == ["1.running_mean", "9.bias"]


def test_write_json_replaces_the_file_whole(tmp_path):
    path = tmp_path / "f.json"
    gpu_check.write_json(path, {"a": 1})
    gpu_check.write_json(path, {"b": [2]})
    assert json.loads(path.read_text()) == {"b": [2]}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_fp16_resume_check_finds_an_exact_resume_on_the_cpu(tiny_dataset, tmp_path):
    """The check itself, run where it can be (fp16 autocast and the scaler also run on a CPU)."""
    train, val = tiny_dataset.split_off(64)
    result = gpu_check.fp16_resume_check(train, val, device="cpu", folder=tmp_path, epochs=2)
    assert result["precision"] == "fp16"
    assert result["resumed_from_epoch"] == 1
    assert result["saved_scaler_scale"] is not None  # the scaler ran and its scale was saved
    assert result["repeat_equal"] and result["resume_equal"] and result["ok"]
    assert result["differing_tensors"] == []


def test_fp16_resume_check_catches_a_resume_that_loses_state(tiny_dataset, tmp_path, monkeypatch):
    """Were the RNG state not restored, dropout would differ after the resume: the check says so."""
    train, val = tiny_dataset.split_off(64)
    monkeypatch.setattr(torch, "set_rng_state", lambda state: None)
    result = gpu_check.fp16_resume_check(train, val, device="cpu", folder=tmp_path, epochs=2)
    assert result["repeat_equal"] and not result["resume_equal"] and not result["ok"]
    assert result["differing_tensors"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_facts_name_the_gpu():
    facts = gpu_check.gpu_facts()
    assert facts["gpus"] and facts["device"].startswith("cuda")
