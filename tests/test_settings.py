"""cnnlib.settings: one object defines a run; fit takes it, keywords override it, the
checkpoint compares every field of it (a field added is compared with no other edit)."""
import dataclasses
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from cnnlib.data import Augment
from cnnlib.settings import RunSettings, resolve_settings
from cnnlib.train import CheckpointMismatchError, fit

WHERE = dict(device="cpu")


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 4))


def test_keywords_build_or_override_the_settings():
    base = RunSettings(epochs=2, lr=0.1)
    assert resolve_settings(None, {"epochs": 2, "lr": 0.1}) == base
    assert resolve_settings(base, {"lr": 0.5}) == dataclasses.replace(base, lr=0.5)
    with pytest.raises(TypeError, match=r"unknown settings \['device_count'\]"):
        resolve_settings(base, {"device_count": 2})
    with pytest.raises(TypeError, match=r"fit needs lr="):
        resolve_settings(None, {"epochs": 2})
    with pytest.raises(TypeError, match="settings must be a cnnlib.settings.RunSettings"):
        resolve_settings({"epochs": 2}, {})


def test_the_old_bf16_keyword_is_refused_pointing_at_precision(tiny_dataset):
    # fit(bf16=True) was a shim for precision="bf16", kept only for old notebooks
    with pytest.raises(TypeError, match=r"unknown settings \['bf16'\].*\(device, precision, "):
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05, bf16=True, **WHERE)


def test_numpy_numbers_become_python_numbers():
    s = RunSettings(epochs=np.int64(2), lr=np.logspace(-2, -1, 3)[0], batch_size=np.int64(32),
                    momentum=np.float32(0.5))
    assert type(s.epochs) is int and type(s.lr) is float and type(s.batch_size) is int
    assert type(s.momentum) is float and s.lr == pytest.approx(0.01)


def test_compared_describes_objects_stably_and_keeps_plain_values():
    s = RunSettings(epochs=1, lr=0.1, augment=Augment(flip=True), tta="flip")
    compared = s.compared()
    assert list(compared) == [f.name for f in dataclasses.fields(RunSettings)]
    assert compared["lr"] == 0.1 and compared["tta"] == "flip"
    assert compared["augment"] == "Augment(translate=0, flip=True)"


def test_fit_takes_a_settings_object_and_keywords_override_it(tiny_dataset, tmp_path):
    settings = RunSettings(epochs=1, lr=0.05, batch_size=64)
    path = tmp_path / "run.pt"
    first = fit(small_net(), tiny_dataset, settings=settings, checkpoint=path, **WHERE)
    # the same run written as keywords finds the same checkpoint
    again = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, batch_size=64, checkpoint=path, **WHERE)
    assert again.rows == first.rows
    with pytest.raises(CheckpointMismatchError, match=r"lr: saved 0.05, now 0.1"):
        fit(small_net(), tiny_dataset, None, settings, lr=0.1, checkpoint=path, **WHERE)


def test_a_field_added_to_the_settings_is_compared_without_other_edits(tiny_dataset, tmp_path):
    @dataclasses.dataclass(frozen=True)
    class WithWarmup(RunSettings):
        warmup: float = 0.2

    path = tmp_path / "run.pt"
    fit(small_net(), tiny_dataset, settings=WithWarmup(epochs=1, lr=0.05), checkpoint=path, **WHERE)
    assert torch.load(path, weights_only=True)["settings"]["warmup"] == 0.2
    with pytest.raises(CheckpointMismatchError, match=r"\n  warmup: saved 0.2, now 0.1"):
        fit(small_net(), tiny_dataset, settings=WithWarmup(epochs=1, lr=0.05), warmup=0.1,
            checkpoint=path, **WHERE)


def test_every_field_is_saved_in_the_checkpoint_and_where_it_ran_apart(tiny_dataset, tmp_path):
    path = tmp_path / "run.pt"
    history = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **WHERE)
    saved = torch.load(path, weights_only=True)
    names = {f.name for f in dataclasses.fields(RunSettings)}
    assert names <= saved["settings"].keys()
    assert set(saved["settings"]) - names == {"model", "train", "val"}
    assert set(saved["recorded"]) == {"device", "precision", "channels_last", "sync_batchnorm",
                                      "world_size", "train_size"}
    assert history.settings["device"].startswith("cpu")  # the history shows both


def test_fit_shows_no_progress_bar_unless_asked(tiny_dataset, capsys):
    assert inspect.signature(fit).parameters["progress"].default is False
    fit(small_net(), tiny_dataset, epochs=1, lr=0.05, **WHERE)
    assert "step" not in capsys.readouterr().err
