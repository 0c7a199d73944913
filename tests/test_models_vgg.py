"""Tests for cnnlib.models.vgg, with torchvision's VGGs as the oracle."""
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from model_oracles import n_params, layout, randomize_batch_norm, assert_same_structure_as_torchvision

BUILDERS = {"vgg11": vgg11, "vgg11_bn": vgg11_bn, "vgg13": vgg13, "vgg13_bn": vgg13_bn,
            "vgg16": vgg16, "vgg16_bn": vgg16_bn, "vgg19": vgg19, "vgg19_bn": vgg19_bn}


@pytest.mark.parametrize("name,expected", [
    ("vgg11", 132_863_336), ("vgg11_bn", 132_868_840), ("vgg13", 133_047_848),
    ("vgg13_bn", 133_053_736), ("vgg16", 138_357_544), ("vgg16_bn", 138_365_992),
    ("vgg19", 143_667_240), ("vgg19_bn", 143_678_248)])
def test_same_parameters_as_torchvision(name, expected):
    assert_same_structure_as_torchvision(BUILDERS[name], name, expected)


@pytest.mark.parametrize("name", ["vgg11", "vgg11_bn"])
def test_torchvision_weights_give_torchvision_outputs_layer_by_layer(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(num_classes=7).eval()
    randomize_batch_norm(theirs)
    # Ours is built on the meta device and then takes torchvision's tensors (assign=True):
    # this skips allocating and initialising another 130M parameters.
    with torch.device("meta"):
        ours = BUILDERS[name](num_classes=7)
    ours.load_state_dict(theirs.state_dict(), assign=True)  # strict: names and shapes match
    ours.eval()
    x = torch.randn(2, 3, 32, 32)  # 1x1 maps, which the adaptive pool spreads to 7x7
    with torch.no_grad():
        a, b = x, x
        for ours_layer, their_layer in zip(ours.features, theirs.features):
            a, b = ours_layer(a), their_layer(b)
            torch.testing.assert_close(a, b, msg=str(ours_layer))
        assert len(ours.features) == len(theirs.features)
        torch.testing.assert_close(ours(x), theirs(x))


def test_batch_norm_option():
    with torch.device("meta"):
        plain, bn, alias = vgg11(), vgg11(batch_norm=True), vgg11_bn()
    convs = [m for m in plain.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8  # VGG-11: 8 conv + 3 FC layers
    assert sum(isinstance(m, nn.BatchNorm2d) for m in plain.features) == 0
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.features) == 8
    assert layout(bn) == layout(alias)


def test_imagenet_output_shape():
    with torch.device("meta"):  # shapes only: the meta device computes no values
        model = vgg11(num_classes=5).eval()
        assert model.features(torch.randn(1, 3, 224, 224)).shape == (1, 512, 7, 7)
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 5)


@pytest.mark.parametrize("builder", [vgg11, vgg16])
def test_compact_versions_for_32x32_images(builder):
    torch.manual_seed(0)
    model = builder(num_classes=10, small_input=True, width=8, batch_norm=True)
    assert n_params(model) < 600_000  # channels / 8 and a 1x1 grid: vs 133M to 138M
    assert model.avgpool.output_size == (1, 1)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    mnist = builder(num_classes=10, small_input=True, width=8, in_channels=1).eval()
    assert mnist(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_compact_vgg11_size_and_gradients_reach_every_weight():
    torch.manual_seed(0)
    model = vgg11(num_classes=10, small_input=True, width=8, batch_norm=True)
    assert n_params(model) == 446_314
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
