"""cnnlib.data.mnist_m (and cnnlib.adapt.domains, which serves it): the blend formula by hand, crops come from the pool,
the set is reproducible, cached (keyed by its sources, rebuilt when damaged), and keeps MNIST's labels."""
import pytest
import torch

from cnnlib.data import ImageDataset, load_dataset, mnist_m, registry


def test_blend_is_the_absolute_difference_with_the_binarised_digit():
    digits = torch.tensor([[[[0, 1], [200, 0]]]], dtype=torch.uint8)          # 1x1x2x2
    patch = torch.tensor([[[[10, 20], [30, 255]],
                           [[0, 255], [128, 7]],
                           [[100, 100], [100, 100]]]], dtype=torch.uint8)       # 1x3x2x2
    # by hand: where the digit is > 0 (even 1), 255 - patch; elsewhere the patch itself
    expected = torch.tensor([[[[10, 235], [225, 255]],
                              [[0, 0], [127, 7]],
                              [[100, 155], [155, 100]]]], dtype=torch.uint8)
    assert torch.equal(mnist_m.blend(digits, patch), expected)


def test_random_crops_are_windows_of_pool_images():
    pool = [torch.arange(3 * 10 * 12).reshape(3, 10, 12).to(torch.uint8),
            torch.full((3, 5, 5), 7, dtype=torch.uint8)]
    crops = mnist_m.random_crops(pool, 20, 4, torch.Generator().manual_seed(0))
    assert crops.shape == (20, 3, 4, 4)
    for crop in crops:
        if (crop == 7).all():
            continue
        found = any(torch.equal(pool[0][:, i:i + 4, j:j + 4], crop)
                    for i in range(7) for j in range(9))
        assert found
    again = mnist_m.random_crops(pool, 20, 4, torch.Generator().manual_seed(0))
    assert torch.equal(crops, again)


def fake_mnist(n, split):
    g = torch.Generator().manual_seed(1 if split == "test" else 0)
    images = (torch.rand(n, 1, 28, 28, generator=g) > 0.8).to(torch.uint8) * 255
    return ImageDataset(images, torch.arange(n) % 10, [str(d) for d in range(10)], "mnist", split)


def fake_cifar(n, split):
    g = torch.Generator().manual_seed(2)
    return ImageDataset(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                        torch.arange(n) % 10, [str(d) for d in range(10)], "cifar10", split)


def test_load_mnist_m_builds_once_keeps_labels_and_caches(monkeypatch, tmp_path):
    calls = []

    def fake_load(name, split, download=True):
        calls.append((name, split))
        return fake_mnist(30, split) if name == "mnist" else fake_cifar(12, split)

    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(mnist_m, "load_files", fake_load)
    monkeypatch.setattr(mnist_m, "skimage_photos",
                        lambda: [torch.full((3, 40, 50), 90, dtype=torch.uint8)])
    train = mnist_m.load_mnist_m("train")
    assert train.images.shape == (30, 3, 28, 28) and train.images.dtype == torch.uint8
    assert torch.equal(train.labels, fake_mnist(30, "train").labels)
    # "both": some backgrounds are the constant photo (90 / 165 pixels), others CIFAR noise
    constant = [((im == 90) | (im == 165)).all().item() for im in train.images]
    assert 0 < sum(constant) < len(constant)
    assert not torch.equal(train.images, mnist_m.load_mnist_m("test").images[:30])
    n_calls = len(calls)
    again = mnist_m.load_mnist_m("train")
    assert len(calls) == n_calls, "the second load must come from the cache"
    assert torch.equal(again.images, train.images)
    assert list(tmp_path.glob("mnist_m_*.pt"))


def test_skimage_backgrounds_only_use_photo_pixels(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist_m, "load_files", lambda name, split, download=True: fake_mnist(10, split))
    monkeypatch.setattr(mnist_m, "skimage_photos",
                        lambda: [torch.full((3, 40, 50), 90, dtype=torch.uint8)])
    built = mnist_m.build_mnist_m("train", backgrounds="skimage")
    digits = fake_mnist(10, "train").images.expand(-1, 3, -1, -1)
    assert (built.images[digits > 0] == 255 - 90).all()
    assert (built.images[digits == 0] == 90).all()


def test_load_dataset_serves_mnist_m(monkeypatch):
    marker = object()
    monkeypatch.setitem(registry.LOADERS, "mnist_m", lambda split, download: (marker, split))
    assert load_dataset("mnist_m", "test") == (marker, "test")


@pytest.fixture
def fake_sources(monkeypatch, tmp_path):
    """MNIST-M built from fake MNIST/CIFAR/photos into a fresh cache; counts the builds."""
    builds = []

    def fake_load(name, split, download=True):
        builds.append((name, split))
        return fake_mnist(20, split) if name == "mnist" else fake_cifar(8, split)

    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path))
    monkeypatch.setattr(mnist_m, "load_files", fake_load)
    monkeypatch.setattr(mnist_m, "skimage_photos",
                        lambda: [torch.full((3, 40, 50), 90, dtype=torch.uint8)])
    return builds


def test_a_damaged_mnist_m_cache_is_built_again(fake_sources, tmp_path):
    first = mnist_m.load_mnist_m("train")
    (cached,) = tmp_path.glob("mnist_m_*.pt")
    cached.write_bytes(cached.read_bytes()[:100])  # a save cut short
    n_builds = len(fake_sources)
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = mnist_m.load_mnist_m("train")
    assert len(fake_sources) > n_builds
    assert torch.equal(again.images, first.images)


def test_mnist_m_from_other_sources_is_built_again(fake_sources, monkeypatch):
    monkeypatch.setattr(mnist_m, "source_key", lambda name: "offline-aaaa")
    mnist_m.load_mnist_m("train")
    n_builds = len(fake_sources)
    mnist_m.load_mnist_m("test")
    assert len(fake_sources) == n_builds  # same sources: from the cache
    monkeypatch.setattr(mnist_m, "source_key", lambda name: "offline-bbbb")  # CNNLIB_DATA changed
    mnist_m.load_mnist_m("train")
    assert len(fake_sources) > n_builds


def test_unknown_backgrounds_are_a_clear_error(fake_sources):
    with pytest.raises(ValueError, match="use 'skimage', 'cifar10' or 'both'"):
        mnist_m.load_mnist_m("train", backgrounds="bsds")
