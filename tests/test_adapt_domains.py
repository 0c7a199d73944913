"""cnnlib.adapt.domains: MNIST, USPS and MNIST-M in one format."""
import torch

from cnnlib.adapt import domains
from cnnlib.adapt.domains import digit_domain, resize
from cnnlib.data import ImageDataset


def test_digit_domain_resizes_and_normalises_the_same_way(monkeypatch):
    usps = ImageDataset(torch.full((4, 1, 16, 16), 200, dtype=torch.uint8), torch.arange(4),
                        [str(d) for d in range(10)], "usps", "train")
    monkeypatch.setattr(domains, "load_dataset", lambda name, split: usps)
    grey = digit_domain("usps", "train")
    assert grey.images.shape == (4, 1, 28, 28) and (grey.images == 200).all()
    assert grey.mean == (0.5,) and grey.std == (0.5,)
    rgb = digit_domain("usps", "train", channels=3)
    assert rgb.images.shape == (4, 3, 28, 28) and rgb.mean == (0.5, 0.5, 0.5)
    assert resize(usps.images, 16) is usps.images
