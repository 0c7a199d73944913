"""bench/cifar10_cpu.py: runs at toy size in seconds and ends with the comparison line."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_run_prints_recipe_and_defaults_accuracy_and_time():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "cifar10_cpu.py"), "--smoke"],
                            capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"accuracy (\d+\.\d\d) % in (\d+\.\d) s \(defaults: (\d+\.\d\d) % in (\d+\.\d) s\)",
                         last)
    assert match, last
    assert all(0 <= float(match[i]) <= 100 for i in (1, 3))
    assert "recipe: epoch 1" in result.stdout and "defaults: epoch 1" in result.stdout
    assert time.perf_counter() - start < 60  # the brief: < 20 s on a quiet machine
