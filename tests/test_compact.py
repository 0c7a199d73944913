"""cnnlib.compact: the compact networks build and map 32x32 images to CIFAR-10's classes."""
import pytest
import torch

import cnnlib.compact as compact


@pytest.mark.parametrize("name", list(compact.COMPACT))
def test_every_compact_network_maps_32x32_images_to_10_classes(name):
    model = compact.COMPACT[name].build().eval()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000  # small enough for a CPU
