"""Tests for cnnlib.models.densenet, with torchvision's DenseNets as the oracle."""
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models import densenet121, densenet161, densenet169, densenet201
from model_oracles import n_params, randomize_batch_norm, outputs_of, assert_same_structure_as_torchvision

BUILDERS = {"densenet121": densenet121, "densenet169": densenet169,
            "densenet201": densenet201, "densenet161": densenet161}


@pytest.mark.parametrize("name,expected", [("densenet121", 7_978_856), ("densenet169", 14_149_480),
                                           ("densenet201", 20_013_928), ("densenet161", 28_681_000)])
def test_same_parameters_as_torchvision(name, expected):
    assert_same_structure_as_torchvision(BUILDERS[name], name, expected)


def test_torchvision_weights_give_torchvision_outputs_block_by_block():
    torch.manual_seed(0)
    theirs = torchvision.models.densenet121(num_classes=7).eval()
    randomize_batch_norm(theirs)
    ours = densenet121(num_classes=7).eval()
    ours.load_state_dict(theirs.state_dict())  # strict: every name and shape must match
    x = torch.randn(2, 3, 64, 64)  # adaptive pooling makes a small input valid
    with torch.no_grad():
        expected = outputs_of(theirs, dict(theirs.features.named_children()), x)
        got = outputs_of(ours, dict(ours.features.named_children()), x)
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], msg=key)
    assert got["output"].shape == (2, 7)


def test_channels_grow_by_k_per_layer_and_halve_at_transitions():
    with torch.device("meta"):  # shapes only: the meta device computes no values
        model = densenet121().eval()
        out = outputs_of(model, dict(model.features.named_children()), torch.randn(1, 3, 224, 224))
    # Table 1 of the paper, k = 32: 64 + 6k = 256 -> 128 at 28x28, 128 + 12k = 512 -> 256,
    # 256 + 24k = 1024 -> 512 at 7x7, 512 + 16k = 1024.
    assert out["pool0"].shape == (1, 64, 56, 56)
    assert out["denseblock1"].shape == (1, 256, 56, 56)
    assert out["transition1"].shape == (1, 128, 28, 28)
    assert out["denseblock2"].shape == (1, 512, 28, 28)
    assert out["transition3"].shape == (1, 512, 7, 7)
    assert out["denseblock4"].shape == (1, 1024, 7, 7)
    assert out["output"].shape == (1, 1000)


def test_each_dense_layer_reads_every_earlier_map():
    torch.manual_seed(0)
    block = densenet121(num_classes=10, small_input=True, growth_rate=4).features.denseblock1.eval()
    x = torch.randn(1, block.denselayer1.norm1.num_features, 8, 8)
    base = block(x)
    nudged = x.clone()
    nudged[:, 0] += 1.0  # change one input map only
    delta = (block(nudged) - base).abs().flatten(2).amax(dim=2)[0]
    c, k = x.shape[1], 4
    assert delta[0] > 0 and delta[1:c].eq(0).all()  # the input maps are passed on unchanged
    for i in range(len(block)):  # and every layer's new maps depend on them
        assert delta[c + i * k: c + (i + 1) * k].amax() > 0, f"layer {i + 1}"


def test_compact_version_for_32x32_images():
    torch.manual_seed(0)
    model = densenet121(num_classes=10, small_input=True, growth_rate=12)
    assert n_params(model) == 1_000_666  # vs 7,978,856 at full size
    assert model.features.conv0.out_channels == 24  # stem of 2k channels
    with torch.no_grad():
        out = outputs_of(model.eval(), dict(model.features.named_children()), torch.randn(2, 3, 32, 32))
    assert out["denseblock1"].shape[-2:] == (32, 32)
    assert out["denseblock4"].shape[-2:] == (4, 4)
    assert out["output"].shape == (2, 10)


def test_compact_mnist_version_trains_every_weight():
    torch.manual_seed(0)
    model = densenet121(num_classes=10, small_input=True, growth_rate=4, in_channels=1)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
