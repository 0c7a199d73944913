"""cnnlib.data.loader: batched augmentation and the device-side batch iterator."""
import pytest
import torch
from torchvision.transforms import v2

from cnnlib.data import Augment, DeviceLoader, ImageDataset, random_flip, random_translate
from cnnlib.data.augment import Compose, HueShift, rotate


def images(n=64, c=3, h=8, w=8, seed=0):
    return torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


def test_translate_is_a_crop_of_the_zero_padded_image():
    x = images()
    out = random_translate(x, 2, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8])]
        assert found, f"image {i} is not a crop of its padded original"
        offsets.append(found[0])
    assert len(set(offsets)) > 10  # the shifts really vary


def test_translate_matches_torchvision_random_crop_for_the_same_offset():
    x = images(1)
    crop = v2.functional.crop(v2.functional.pad(x, [3]), 1, 5, 8, 8)  # top=1, left=5
    padded = torch.nn.functional.pad(x, (3,) * 4)
    assert torch.equal(crop, padded[:, :, 1:9, 5:13])


def test_flip_mirrors_about_half_the_batch():
    x = images(400)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, v2.functional.horizontal_flip(i)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250


def test_batches_are_normalised_like_torchvision(tiny_dataset):
    loader = DeviceLoader(tiny_dataset, 32, device="cpu")
    x, y = next(iter(loader))
    expected = v2.functional.normalize(tiny_dataset.images[:32].float() / 255,
                                       list(tiny_dataset.mean), list(tiny_dataset.std))
    assert torch.allclose(x, expected, atol=1e-5)
    assert torch.equal(y, tiny_dataset.labels[:32])


def test_each_epoch_visits_every_example_once_in_a_seeded_order(tiny_dataset):
    loader = DeviceLoader(tiny_dataset, 50, shuffle=True, seed=3, device="cpu")
    assert len(loader) == 6
    epoch0 = torch.cat([y for _, y in loader])
    epoch1 = torch.cat([y for _, y in loader])
    assert sorted(epoch0.tolist()) == sorted(tiny_dataset.labels.tolist())
    assert not torch.equal(epoch0, epoch1)
    replay = DeviceLoader(tiny_dataset, 50, shuffle=True, seed=3, device="cpu")
    replay.epoch = 1
    assert torch.equal(torch.cat([y for _, y in replay]), epoch1)


def test_drop_last_and_channels_last(tiny_dataset):
    loader = DeviceLoader(tiny_dataset, 100, drop_last=True, channels_last=True, device="cpu",
                          augment=Augment(translate=2, flip=True), shuffle=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 2
    assert batches[0][0].is_contiguous(memory_format=torch.channels_last)


def test_bad_arguments_are_clear(tiny_dataset):
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(tiny_dataset, 0)
    with pytest.raises(ValueError, match=r"batch_size must be a whole number .*: write batch_size=32"):
        DeviceLoader(tiny_dataset, 32.0)  # was accepted, then a raw TypeError at the first batch
    with pytest.raises(ValueError, match="mean has 1 value.*3 channel.*one mean and one std per channel"):
        DeviceLoader(tiny_dataset, 32, mean=[0.5], std=[0.2], device="cpu")
    with pytest.raises(ValueError, match="mean has 3 value.*std 2"):
        DeviceLoader(tiny_dataset, 32, mean=[0.5] * 3, std=[0.2, 0.2], device="cpu")


def test_a_constant_channel_is_centred_not_nan(tiny_dataset):
    images = tiny_dataset.images.clone()
    images[:, 1] = 100  # e.g. a colour channel that is empty in this data set
    data = ImageDataset(images, tiny_dataset.labels, tiny_dataset.classes)
    assert data.std[1] == 0
    x, _ = next(iter(DeviceLoader(data, 64, device="cpu")))
    assert torch.isfinite(x).all()
    assert x[:, 1].abs().max() < 1e-4  # centred: the one value it takes is its mean
    assert torch.allclose(x, data.normalised()[:64], atol=1e-5)


def test_a_composed_augmentation_is_padded_once_like_augment(tiny_dataset, monkeypatch):
    composed = Compose(Augment(translate=2, flip=True), HueShift(0.1), rotate(10))
    loader = DeviceLoader(tiny_dataset, 64, shuffle=True, augment=composed, device="cpu", seed=1)
    pads = []
    real_pad = torch.nn.functional.pad
    monkeypatch.setattr(torch.nn.functional, "pad", lambda *a, **k: pads.append(1) or real_pad(*a, **k))
    batches = [x for x, _ in loader]
    assert not pads, "a batch was padded again"
    # The same batches as augmenting each plain batch by hand, with the loader's generator.
    monkeypatch.setattr(torch.nn.functional, "pad", real_pad)
    generator = torch.Generator().manual_seed(1 * 1_000_003 + 0)
    order = torch.randperm(len(tiny_dataset), generator=generator)
    for i, x in enumerate(batches):
        plain = tiny_dataset.images[order[i * 64:(i + 1) * 64]]
        assert torch.equal(x, loader.normalise(composed(plain, generator)))


def test_a_plain_function_is_an_augmentation_too(tiny_dataset):
    invert = lambda images, generator: 255 - images  # noqa: E731
    x, _ = next(iter(DeviceLoader(tiny_dataset, 8, augment=invert, device="cpu")))
    assert torch.allclose(x, DeviceLoader(tiny_dataset, 8, device="cpu").normalise(255 - tiny_dataset.images[:8]))
    with pytest.raises(ValueError, match="augment must be an augmentation"):
        DeviceLoader(tiny_dataset, 8, augment="flip", device="cpu")


@pytest.mark.parametrize("function", [
    lambda x, g: x.float() / 255,  # floats in [0, 1]: normalised as 0-255, near-constant images
    lambda x, g: x[:, :1],  # a channel lost
    lambda x, g: None,  # forgot to return
])
def test_an_augmentation_that_returns_no_uint8_batch_is_a_clear_error(function):
    data = ImageDataset(images(8), torch.zeros(8), ["a"])
    with pytest.raises(ValueError, match="returned .* it must return a uint8 batch"):
        next(iter(DeviceLoader(data, 4, device="cpu", augment=function)))
    with pytest.raises(ValueError, match="it must return a uint8 batch"):
        Compose(Augment(translate=1), function)(images(4), torch.Generator())
