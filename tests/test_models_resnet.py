"""Tests for cnnlib.models.resnet, with torchvision's ResNets as the oracle."""
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models import resnet18, resnet34, resnet50, resnet101, resnet152
from cnnlib.models.resnet import BasicBlock
from model_oracles import n_params, randomize_batch_norm, outputs_of, assert_same_structure_as_torchvision, assert_same_outputs_child_by_child

BUILDERS = {"resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50,
            "resnet101": resnet101, "resnet152": resnet152}


@pytest.mark.parametrize("name,expected", [("resnet18", 11_689_512), ("resnet34", 21_797_672),
                                           ("resnet50", 25_557_032), ("resnet101", 44_549_160),
                                           ("resnet152", 60_192_808)])
def test_same_parameters_as_torchvision(name, expected):
    assert_same_structure_as_torchvision(BUILDERS[name], name, expected)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_torchvision_weights_give_torchvision_outputs_stage_by_stage(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(num_classes=7).eval()
    randomize_batch_norm(theirs)
    ours = BUILDERS[name](num_classes=7).eval()
    x = torch.randn(2, 3, 64, 64)  # adaptive pooling makes a small input valid
    got = assert_same_outputs_child_by_child(theirs, ours, x)
    assert got["output"].shape == (2, 7)


def test_imagenet_stage_sizes():
    with torch.device("meta"):  # shapes only: the meta device computes no values
        model = resnet18().eval()
        out = outputs_of(model, dict(model.named_children()), torch.randn(1, 3, 224, 224))
    assert out["maxpool"].shape == (1, 64, 56, 56)
    assert out["layer4"].shape == (1, 512, 7, 7)
    assert out["output"].shape == (1, 1000)


@pytest.mark.parametrize("name,max_params", [("resnet18", 1_000_000), ("resnet34", 2_000_000),
                                             ("resnet50", 2_000_000)])
def test_compact_versions_for_32x32_images(name, max_params):
    torch.manual_seed(0)
    model = BUILDERS[name](num_classes=10, small_input=True, width=16)
    assert n_params(model) < max_params  # vs 11.7M to 25.6M at full size
    with torch.no_grad():
        out = outputs_of(model.eval(), dict(model.named_children()), torch.randn(2, 3, 32, 32))
    assert out["layer1"].shape[-2:] == (32, 32)  # no stride in the stem
    assert out["layer4"].shape[-2:] == (4, 4)
    assert out["output"].shape == (2, 10)


def test_compact_resnet18_size_and_gradients_reach_every_weight():
    assert n_params(resnet18(num_classes=10, small_input=True, width=16)) == 701_466
    model = resnet18(num_classes=10, small_input=True, width=16, in_channels=1)
    assert n_params(model) == 701_466 - 2 * 16 * 3 * 3  # 2 fewer input maps for 16 stem filters
    torch.manual_seed(0)
    logits = model(torch.randn(4, 1, 32, 32))
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_zero_init_residual_makes_each_block_start_as_the_identity():
    model = resnet18(num_classes=10, small_input=True, width=8, zero_init_residual=True).eval()
    block = model.layer1[1]
    assert isinstance(block, BasicBlock) and block.downsample is None
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(x))
    plain = resnet18(num_classes=10, small_input=True, width=8).eval()
    with torch.no_grad():
        assert not torch.allclose(plain.layer1[1](x), torch.relu(x))
