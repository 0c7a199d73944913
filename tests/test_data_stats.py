"""cnnlib.data.stats: one representation of a data set's normalisation, ChannelStats(mean, std),
kept as given by ImageDataset and DeviceLoader (no mean/std -> scale/shift -> mean/std round trip)."""
import math

import pytest
import torch

from cnnlib.data import DeviceLoader, ImageDataset
from cnnlib.data.stats import ChannelStats, as_stats, channel_stats


def test_channel_stats_are_plain_floats_on_the_unit_scale(tiny_dataset):
    stats = channel_stats(tiny_dataset.images)
    assert isinstance(stats, ChannelStats) and len(stats.mean) == 3
    assert all(type(v) is float for v in stats.mean + stats.std)
    expected = tiny_dataset.images.double().mean(dim=(0, 2, 3)) / 255
    assert torch.allclose(torch.tensor(stats.mean, dtype=torch.float64), expected)
    assert tiny_dataset.stats == stats and tiny_dataset.mean == stats.mean
    mean, std = tiny_dataset.stats  # still a (mean, std) pair
    assert (mean, std) == (tiny_dataset.mean, tiny_dataset.std)


def test_a_loader_keeps_the_statistics_it_was_given_exactly(tiny_dataset):
    # DeviceLoader used to store float32 scale/shift and turn them back into mean/std, so the
    # validation loader of fit normalised with slightly other numbers than it was given.
    mean, std = (0.1234567891234, 0.2, 0.3), (0.2718281828459, 0.25, 0.5)
    loader = DeviceLoader(tiny_dataset, 32, device="cpu", mean=mean, std=std)
    assert loader.stats == ChannelStats(mean, std)
    own = DeviceLoader(tiny_dataset, 32, device="cpu")
    assert own.stats == tiny_dataset.stats
    again = DeviceLoader(tiny_dataset, 32, device="cpu", mean=own.stats.mean, std=own.stats.std)
    assert again.stats == own.stats


def test_a_loader_normalises_like_normalise(tiny_dataset):
    loader = DeviceLoader(tiny_dataset, 256, device="cpu")
    (batch, _), = list(loader)
    assert torch.allclose(batch, tiny_dataset.normalised(), atol=1e-5)
    # only the mean given: the data set's own std is kept
    half = DeviceLoader(tiny_dataset, 256, device="cpu", mean=(0.5, 0.5, 0.5))
    assert half.stats == ChannelStats((0.5, 0.5, 0.5), tiny_dataset.std)


def test_image_datasets_check_and_convert_the_statistics_they_are_given():
    images, labels = torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4)
    data = ImageDataset(images, labels, ["a"], stats=([0], [torch.tensor(0.5)]))
    assert data.stats == ChannelStats((0.0,), (0.5,)) and type(data.stats.mean[0]) is float
    with pytest.raises(ValueError, match="must be finite"):
        ImageDataset(images, labels, ["a"], stats=([math.nan], [0.5]))
    with pytest.raises(ValueError, match="mean has 2 value.*but std 1"):
        ImageDataset(images, labels, ["a"], stats=([0.1, 0.2], [0.5]))
    with pytest.raises(ValueError, match="must be numbers"):
        as_stats("bright", [0.5])
