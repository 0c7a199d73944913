"""cnnlib.compact: the compact networks build, fit 32x32 images, and load-or-train."""
import pytest
import torch

import cnnlib.compact as compact
from cnnlib.data import ImageDataset
from cnnlib.runtime import Profile


@pytest.mark.parametrize("name", list(compact.COMPACT))
def test_every_compact_network_maps_32x32_images_to_10_classes(name):
    model = compact.COMPACT[name].build().eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000  # small enough for a CPU


def test_the_full_budget_is_larger_than_the_fast_one():
    fast = compact.budget(Profile("fast", torch.device("cpu")))
    full = compact.budget(Profile("full", torch.device("cpu")))
    assert set(fast) == {"n_train", "epochs", "n_test"}
    assert all(full[k] >= fast[k] for k in fast) and full["n_train"] * full["epochs"] > fast["n_train"] * fast["epochs"]


def test_train_compact_trains_once_then_loads_the_checkpoint(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    data = ImageDataset(torch.randint(0, 256, (64, 3, 32, 32), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (64,), generator=g), [str(i) for i in range(10)], "toy", "train")
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(compact, "cifar10_split", lambda profile: (data, data))
    profile = Profile("fast", torch.device("cpu"))
    _, first = compact.train_compact("VGG-11", profile)
    assert len(first) == compact.budget(profile)["epochs"]
    assert list((tmp_path / "checkpoints" / "fast").glob("compact_vgg11.pt"))
    model, second = compact.train_compact("VGG-11", profile)
    assert second.rows == first.rows  # loaded, not retrained
    assert second.settings.get("resumed_from_epoch") == len(first)
