"""cnnlib.models.cifar_resnet against the paper's numbers and hand-worked behaviour."""
import pytest
import torch
from torch import nn

from cnnlib.models.cifar_resnet import CifarBlock, cifar_resnet


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)])
def test_parameter_counts_match_table_6_of_the_paper(depth, millions):
    assert round(count(cifar_resnet(depth)) / 1e6, 2 if depth < 110 else 1) == millions


def test_plain_and_residual_nets_have_the_same_parameters():
    plain, residual = cifar_resnet(32, shortcut=False), cifar_resnet(32)
    assert [p.shape for p in plain.parameters()] == [p.shape for p in residual.parameters()]
    convs = [m for m in residual.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 32  # 6n + 1 convs and the FC layer


def test_output_shape_and_stage_sizes():
    model = cifar_resnet(14, width=8)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    x = torch.relu(model.bn1(model.conv1(torch.randn(1, 3, 32, 32))))
    shapes = []
    for block in model.blocks:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(8, 32, 32), (8, 32, 32), (16, 16, 16), (16, 16, 16), (32, 8, 8), (32, 8, 8)]


def test_a_block_with_a_zero_residual_branch_is_the_identity_on_positive_inputs():
    block = CifarBlock(4, 4).eval()
    nn.init.zeros_(block.bn2.weight)  # F(x) = 0
    x = torch.rand(1, 4, 5, 5)
    assert torch.equal(block(x), x)
    block.shortcut = False  # the plain block then outputs relu(0) = 0
    assert torch.equal(block(x), torch.zeros_like(x))


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    block = CifarBlock(2, 4, stride=2)
    x = torch.arange(2 * 4 * 4.0).view(1, 2, 4, 4)
    out = block.identity(x)
    assert out.shape == (1, 4, 2, 2)
    assert torch.equal(out[:, :2], x[:, :, ::2, ::2])
    assert torch.equal(out[:, 2:], torch.zeros(1, 2, 2, 2))


def test_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_resnet(18)


def test_cifar_resnet_is_exported_by_models():
    import cnnlib.models

    assert cnnlib.models.cifar_resnet is cifar_resnet
