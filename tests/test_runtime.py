"""cnnlib.runtime: device order, seeds, and the fast/full profile."""
import random

import numpy as np
import pytest
import torch

from cnnlib.runtime import Profile, describe_device, get_device, get_profile, seed_everything


def test_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device().type == "cpu"


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


def test_describe_device_names_threads_on_cpu():
    # The precision it names is tested in tests/test_precision.py.
    assert describe_device("cpu").startswith(f"cpu ({torch.get_num_threads()} threads, ")
