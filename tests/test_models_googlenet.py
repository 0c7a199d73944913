"""Tests for cnnlib.models.googlenet, with torchvision's GoogLeNet as the oracle."""
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models import googlenet
from cnnlib.models.googlenet import GoogLeNetOutputs, Inception
from model_oracles import n_params, layout, randomize_batch_norm, outputs_of, assert_same_outputs_child_by_child


def torchvision_googlenet(**kwargs) -> nn.Module:
    return torchvision.models.googlenet(init_weights=True, **kwargs)


@pytest.mark.parametrize("aux_logits,expected", [(False, 6_624_904), (True, 13_004_888)])
def test_same_parameters_as_torchvision(aux_logits, expected):
    # The meta device builds the structure without allocating or initialising weights.
    with torch.device("meta"):
        ours = googlenet(aux_logits=aux_logits)
        theirs = torchvision.models.googlenet(aux_logits=aux_logits, init_weights=False)
    assert layout(ours) == layout(theirs)  # same names, shapes and order
    assert n_params(ours) == n_params(theirs) == expected


def test_torchvision_weights_give_torchvision_outputs_module_by_module():
    torch.manual_seed(0)
    theirs = torchvision_googlenet(aux_logits=False, num_classes=7).eval()
    randomize_batch_norm(theirs)
    ours = googlenet(num_classes=7).eval()
    x = torch.randn(2, 3, 64, 64)  # adaptive pooling makes a small input valid
    got = assert_same_outputs_child_by_child(theirs, ours, x)
    assert got["output"].shape == (2, 7)


def test_auxiliary_heads_match_torchvision_in_training_mode():
    torch.manual_seed(0)
    # No dropout, so that training-mode outputs are deterministic; BN uses batch statistics.
    theirs = torchvision_googlenet(aux_logits=True, num_classes=5, dropout=0.0, dropout_aux=0.0)
    ours = googlenet(num_classes=5, aux_logits=True, dropout=0.0, dropout_aux=0.0)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    got, expected = ours(x), theirs(x)
    assert isinstance(got, GoogLeNetOutputs)
    for a, b in zip(got, expected):  # logits, aux_logits2, aux_logits1
        assert a.shape == (2, 5)
        torch.testing.assert_close(a, b)
    # At test time the auxiliary heads are unused: plain logits come out.
    with torch.no_grad():
        assert isinstance(ours.eval()(x), torch.Tensor)


def test_imagenet_stage_sizes():
    with torch.device("meta"):  # shapes only: the meta device computes no values
        model = googlenet().eval()
        out = outputs_of(model, dict(model.named_children()), torch.randn(1, 3, 224, 224))
    # Table 1 of the paper: 28x28x256 after 3a, 14x14x512 after 4a, 7x7x1024 after 5b.
    assert out["inception3a"].shape == (1, 256, 28, 28)
    assert out["inception4a"].shape == (1, 512, 14, 14)
    assert out["inception5b"].shape == (1, 1024, 7, 7)
    assert out["output"].shape == (1, 1000)


def test_inception_module_concatenates_its_four_branches():
    torch.manual_seed(0)
    block = Inception(8, 2, 3, 4, 1, 5, 6).eval()
    x = torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        out = block(x)
        branches = [block.branch1(x), block.branch2(x), block.branch3(x), block.branch4(x)]
    assert out.shape == (1, 2 + 4 + 5 + 6, 5, 5)
    torch.testing.assert_close(out, torch.cat(branches, dim=1))


def test_five_by_five_restores_the_papers_kernels():
    with torch.device("meta"):
        model = googlenet(five_by_five=True)
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    # 25 - 9 = 16 more weights per (#5x5 reduce x #5x5) pair of Table 1's nine modules.
    pairs = [(16, 32), (32, 96), (16, 48), (24, 64), (24, 64), (32, 64), (32, 128), (32, 128), (48, 128)]
    assert n_params(model) == 6_624_904 + 16 * sum(a * b for a, b in pairs)


def test_compact_version_for_32x32_images():
    torch.manual_seed(0)
    model = googlenet(num_classes=10, small_input=True, width=16)
    assert n_params(model) == 355_138  # vs 6,624,904 at full size
    with torch.no_grad():
        out = outputs_of(model.eval(), dict(model.named_children()), torch.randn(2, 3, 32, 32))
    assert out["inception3a"].shape == (2, 64, 16, 16)  # 256 channels / 4
    assert out["inception5b"].shape == (2, 256, 4, 4)
    assert out["output"].shape == (2, 10)


def test_compact_version_with_aux_heads_trains_every_weight():
    torch.manual_seed(0)
    model = googlenet(num_classes=10, small_input=True, width=16, aux_logits=True, in_channels=1)
    logits, aux2, aux1 = model(torch.randn(4, 1, 32, 32))
    y = torch.tensor([0, 1, 2, 3])
    loss = nn.functional.cross_entropy(logits, y) + 0.3 * (
        nn.functional.cross_entropy(aux1, y) + nn.functional.cross_entropy(aux2, y))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
