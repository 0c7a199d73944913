"""Tests for cnnlib.models.vgg, with torchvision's VGGs as the oracle."""
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

BUILDERS = {"vgg11": vgg11, "vgg11_bn": vgg11_bn, "vgg13": vgg13, "vgg13_bn": vgg13_bn,
            "vgg16": vgg16, "vgg16_bn": vgg16_bn, "vgg19": vgg19, "vgg19_bn": vgg19_bn}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layout(model: nn.Module) -> list:
    return [(name, tuple(t.shape)) for name, t in model.state_dict().items()]


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> None:
    """Give every BN layer non-trivial statistics, so that eval-mode outputs depend on them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t, (lo, hi) in [(m.running_mean, (-0.5, 0.5)), (m.running_var, (0.5, 2.0)),
                                    (m.weight, (0.5, 1.5)), (m.bias, (-0.5, 0.5))]:
                    t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)


@pytest.mark.parametrize("name,expected", [
    ("vgg11", 132_863_336), ("vgg11_bn", 132_868_840), ("vgg13", 133_047_848),
    ("vgg13_bn", 133_053_736), ("vgg16", 138_357_544), ("vgg16_bn", 138_365_992),
    ("vgg19", 143_667_240), ("vgg19_bn", 143_678_248)])
def test_same_parameters_as_torchvision(name, expected):
    # The meta device builds the structure without allocating or initialising weights.
    with torch.device("meta"):
        ours = BUILDERS[name]()
        theirs = getattr(torchvision.models, name)()
    assert layout(ours) == layout(theirs)  # same names, shapes and order
    assert n_params(ours) == n_params(theirs) == expected


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
