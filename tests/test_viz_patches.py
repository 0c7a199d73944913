"""Tests of cnnlib.viz.patches: positions found by brute force, crops checked against autograd."""
import pytest
import torch
from torch import nn

from cnnlib.data import ImageDataset
from cnnlib.viz.patches import crop, field_of, top_patches


def bright_dot_data():
    """Five 16x16 images, each with one bright dot of a different brightness at a known place."""
    images = torch.zeros(5, 1, 16, 16, dtype=torch.uint8)
    spots = [(3, 4), (10, 12), (0, 0), (15, 7), (8, 8)]
    for i, (r, c) in enumerate(spots):
        images[i, 0, r, c] = 50 * (i + 1)
    return ImageDataset(images, torch.zeros(5, dtype=torch.long), ["x"], "dots", "train"), spots


def averaging_net():
    """conv 3x3 (weights 1) -> ReLU -> avg pool 2 -> conv 3x3 (weights 1) -> ReLU, all positive."""
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Conv2d(1, 1, 3, padding=1), nn.ReLU())
    with torch.no_grad():
        for conv in (net[0], net[3]):
            conv.weight.fill_(1.0)
            conv.bias.fill_(0.0)
    return net


def test_field_of_a_layer():
    row = field_of(averaging_net(), "4")
    assert (row.r, row.j) == (8, 2)  # conv 3; pool 3 + 1 = 4, jump 2; conv 4 + 2*2 = 8


def test_top_patches_ranks_by_peak_and_crops_the_receptive_field():
    data, spots = bright_dot_data()
    net = averaging_net()
    results = top_patches(net, "4", data, units=[0], k=3, mean=(0.0,), std=(1.0,), device="cpu")[0]
    with torch.no_grad():  # brute force: each image's peak response, ranked
        peaks = net(data.images.float() / 255).flatten(1).amax(1)
    assert [r["index"] for r in results] == peaks.argsort(descending=True)[:3].tolist()
    assert [r["value"] for r in results] == pytest.approx(sorted(peaks.tolist(), reverse=True)[:3])
    row = field_of(net, "4")
    for result in results:
        image = data.images[result["index"]].float()[None].requires_grad_(True)
        out = net(image / 255)
        out[0, 0, result["row"], result["col"]].backward()
        support = image.grad[0, 0].nonzero()  # every input pixel the unit depends on
        patch = result["patch"][0]
        assert patch.shape == (row.r, row.r)
        # The dot must be inside the crop, and the crop must hold the whole gradient support.
        r, c = spots[result["index"]]
        top = r - int((patch == data.images[result["index"], 0, r, c]).nonzero()[0][0])
        left = c - int((patch == data.images[result["index"], 0, r, c]).nonzero()[0][1])
        assert (support[:, 0] >= top).all() and (support[:, 0] < top + row.r).all()
        assert (support[:, 1] >= left).all() and (support[:, 1] < left + row.r).all()


def test_crop_pads_outside_the_image_with_zeros():
    image = torch.arange(1, 10, dtype=torch.uint8).reshape(1, 3, 3)
    out = crop(image, -1, 1, 3)
    assert out[0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]


def test_several_units_in_one_pass_match_one_at_a_time():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, 3), nn.ReLU())
    data = ImageDataset(torch.randint(0, 256, (20, 1, 12, 12), dtype=torch.uint8),
                        torch.zeros(20, dtype=torch.long), ["x"], "noise", "train")
    together = top_patches(net, "4", data, units=[2, 0], k=4, batch_size=7, device="cpu")
    for unit in (0, 2):
        alone = top_patches(net, "4", data, units=unit, k=4, batch_size=20, device="cpu")[unit]
        assert [(p["index"], p["row"], p["col"]) for p in together[unit]] == \
               [(p["index"], p["row"], p["col"]) for p in alone]
        for a, b in zip(together[unit], alone):
            assert torch.equal(a["patch"], b["patch"])
