"""cnnlib.runtime: device order, seeds, the fast/full profile, and where files go."""
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from cnnlib.runtime import (CacheDirError, Profile, atomic_save, cache_dir, checkpoint_path,
                            describe_device, device_in_words, env_flag, get_device, get_profile, seed_everything, writable_cache_dir)


def test_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device().type == "cpu"


def test_a_given_device_is_kept_whatever_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("meta")) == torch.device("meta")


def test_profile_defaults_to_the_device_and_the_environment_overrides(monkeypatch):
    monkeypatch.delenv("CNNLIB_PROFILE", raising=False)
    assert get_profile("cpu").name == "fast"
    assert get_profile("cuda").name == "full"  # a string device: nothing is allocated
    monkeypatch.setenv("CNNLIB_PROFILE", "FULL")
    assert get_profile("cpu").name == "full"
    monkeypatch.setenv("CNNLIB_PROFILE", "medium")
    with pytest.raises(ValueError, match="use one of fast, full"):
        get_profile("cpu")


def test_pick_chooses_by_profile():
    assert Profile("fast", torch.device("cpu")).pick(fast=1, full=2) == 1
    full = Profile("full", torch.device("cpu"))
    assert full.pick(fast=1, full=2) == 2 and full.is_full
    assert "profile 'full' on cpu (" in str(full)


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(3)
    first = draw()
    seed_everything(3)
    assert draw() == first


def test_device_in_words_names_the_gpu_model_and_nothing_else():
    assert device_in_words("cuda (NVIDIA H200, compute capability 9.0, bf16 autocast)") == \
        "one NVIDIA H200 GPU"
    assert device_in_words("cuda (Tesla T4, compute capability 7.5, fp16 autocast + gradient "
                           "scaler)") == "one Tesla T4 GPU"
    assert device_in_words(describe_device("cpu")) == "a CPU"
    assert device_in_words("mps (fp32)") == "a mps device"  # the rest: as torch names them


def test_describe_device_names_threads_on_cpu():
    # The precision it names is tested in tests/test_precision.py.
    assert describe_device("cpu").startswith(f"cpu ({torch.get_num_threads()} threads, ")


# ----------------------------------------------------------------------------------------
# Where files go


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("CNNLIB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "cnnlib"
    assert not (tmp_path / "xdg").exists()  # naming the folder creates nothing


def test_checkpoints_are_kept_per_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path))
    monkeypatch.setenv("CNNLIB_PROFILE", "fast")
    fast = checkpoint_path("net")
    monkeypatch.setenv("CNNLIB_PROFILE", "full")
    full = checkpoint_path("net")
    assert fast == tmp_path / "checkpoints" / "fast" / "net.pt"
    assert full == tmp_path / "checkpoints" / "full" / "net.pt" and full.parent.is_dir()


def test_a_cache_that_is_a_file_is_a_clear_error(monkeypatch, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "file"))
    with pytest.raises(CacheDirError, match="is a file, not a folder.*Set CNNLIB_CACHE"):
        writable_cache_dir()
    with pytest.raises(CacheDirError, match="CNNLIB_CACHE"):
        checkpoint_path("net")


def test_a_read_only_cache_is_a_clear_error(monkeypatch, read_only_folder):
    folder = read_only_folder
    monkeypatch.setenv("CNNLIB_CACHE", str(folder))
    with pytest.raises(CacheDirError, match=f"Cannot write to the cache folder {folder}.*Set CNNLIB_CACHE"):
        writable_cache_dir()


class Unsaveable:
    def __reduce__(self):
        raise RuntimeError("cannot be saved")


def test_atomic_save_writes_all_or_nothing(tmp_path):
    target = tmp_path / "sub" / "net.pt"
    atomic_save({"w": torch.arange(3)}, target)
    assert torch.equal(torch.load(target)["w"], torch.arange(3))
    with pytest.raises(RuntimeError, match="cannot be saved"):
        atomic_save({"f": Unsaveable()}, target)  # fails half-way: the old file stays
    assert torch.equal(torch.load(target)["w"], torch.arange(3))
    assert sorted(p.name for p in target.parent.iterdir()) == ["net.pt"]


KILLED_SAVE = """
import os, sys, torch
from cnnlib import runtime
def killed(obj, f):
    f.write(b"half a checkpoint")
    f.flush()
    os._exit(9)  # as if the kernel were killed in the middle of writing
torch.save = killed
runtime.atomic_save({"w": torch.zeros(3)}, sys.argv[1])
"""


def test_atomic_save_removes_what_a_killed_save_left_behind(tmp_path):
    target = tmp_path / "net.pt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], env=env, check=False)
    (orphan,) = tmp_path.iterdir()  # the killed save left its temporary file
    assert orphan.name.startswith("net.pt") and orphan.name.endswith(".tmp")
    # Files that must survive: a save of the same file still running (this process), and the
    # temporary file of another target.
    running = tmp_path / f"net.pt.{os.getpid()}.abcd1234.tmp"
    other = tmp_path / "net.pt.old.pt.1.abcd1234.tmp"
    for keep in (running, other):
        keep.write_bytes(b"in progress")
    atomic_save({"w": torch.ones(3)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["net.pt", running.name, other.name])
    assert torch.equal(torch.load(target)["w"], torch.ones(3))



@pytest.mark.parametrize("name", ["../x", "..", ".", "a/b", "a\\b", "/etc/passwd", "", "x\0y"])
def test_checkpoint_path_refuses_names_that_would_leave_its_folder(monkeypatch, tmp_path, name):
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="must be a plain file name"):
        checkpoint_path(name)
    assert list(tmp_path.rglob("*.pt")) == []


def test_checkpoint_path_adds_pt_only_when_the_name_lacks_it(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    assert checkpoint_path("net.pt") == checkpoint_path("net")
    assert checkpoint_path("net").name == "net.pt"


@pytest.mark.parametrize("value, expected", [("", False), ("1", True), ("true", True),
                                             ("Yes", True), (" on ", True), ("0", False),
                                             ("false", False), ("NO", False), ("off", False)])
def test_env_flag_reads_yes_and_no_words(monkeypatch, value, expected):
    monkeypatch.setenv("CNNLIB_TEST_FLAG", value)
    assert env_flag("CNNLIB_TEST_FLAG") is expected


def test_env_flag_unset_is_the_default_and_an_unknown_word_is_an_error(monkeypatch):
    monkeypatch.delenv("CNNLIB_TEST_FLAG", raising=False)
    assert env_flag("CNNLIB_TEST_FLAG") is False
    assert env_flag("CNNLIB_TEST_FLAG", default=True) is True
    monkeypatch.setenv("CNNLIB_TEST_FLAG", "maybe")
    with pytest.raises(ValueError, match=r"CNNLIB_TEST_FLAG='maybe' is not a yes/no value"):
        env_flag("CNNLIB_TEST_FLAG")
