"""Tests for cnnlib.models.alexnet: torchvision's AlexNet as the oracle for the single-stream
version, the paper's formulas and layer sizes for the two-GPU one."""
import pytest
import torch
import torchvision
from torch import nn

from cnnlib.models import alexnet
from model_oracles import n_params, layout


def test_torchvision_variant_has_torchvisions_parameters():
    with torch.device("meta"):  # structure only: no allocation, no initialisation
        ours, theirs = alexnet(), torchvision.models.alexnet()
    assert layout(ours) == layout(theirs)
    assert n_params(ours) == n_params(theirs) == 61_100_840


def test_paper_variant_has_the_papers_parameters_layer_by_layer():
    with torch.device("meta"):
        model = alexnet(variant="paper")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    # Section 3.5 / Figure 2: conv2, conv4 and conv5 only see the 48, 192 and 192 maps on
    # their own GPU; conv3 sees all 256.
    expected = [
        96 * 3 * 11 * 11 + 96,
        256 * 48 * 5 * 5 + 256,
        384 * 256 * 3 * 3 + 384,
        384 * 192 * 3 * 3 + 384,
        256 * 192 * 3 * 3 + 256,
        256 * 6 * 6 * 4096 + 4096,
        4096 * 4096 + 4096,
        4096 * 1000 + 1000,
    ]
    assert [n_params(m) for m in layers] == expected
    assert n_params(model) == 60_965_224
    assert [m.groups for m in layers if isinstance(m, nn.Conv2d)] == [1, 2, 1, 2, 2]


def test_torchvision_weights_give_torchvision_outputs_layer_by_layer():
    torch.manual_seed(0)
    theirs = torchvision.models.alexnet(num_classes=7).eval()
    # Ours is built on the meta device and then takes torchvision's tensors (assign=True),
    # which skips allocating and initialising another 61M parameters.
    with torch.device("meta"):
        ours = alexnet(num_classes=7)
    ours.load_state_dict(theirs.state_dict(), assign=True)  # strict: names and shapes match
    ours.eval()
    x = torch.randn(2, 3, 100, 100)  # small but valid: 2x2 maps before the adaptive pool
    with torch.no_grad():
        a, b = x, x
        assert len(ours.features) == len(theirs.features)
        for ours_layer, their_layer in zip(ours.features, theirs.features):
            a, b = ours_layer(a), their_layer(b)
            torch.testing.assert_close(a, b, msg=str(ours_layer))
        out = ours(x)
        torch.testing.assert_close(out, theirs(x))
    assert out.shape == (2, 7)


def test_paper_variant_takes_227x227_and_reaches_6x6_maps():
    torch.manual_seed(0)
    model = alexnet(variant="paper").eval()
    with torch.no_grad():
        features = model.features(torch.randn(1, 3, 227, 227))
        assert features.shape == (1, 256, 6, 6)  # so the 6x6 adaptive pool changes nothing
        torch.testing.assert_close(model.avgpool(features), features)
        assert model.classifier(features.flatten(1)).shape == (1, 1000)


def test_local_response_norm_follows_the_papers_formula():
    torch.manual_seed(0)
    model = alexnet(variant="paper")
    lrns = [m for m in model.features if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrns) == 2  # after the ReLUs of conv1 and conv2
    a = torch.rand(2, 12, 3, 3) * 20
    # Section 3.3: b_i = a_i / (k + alpha * sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j^2)^beta
    k, alpha, beta, n, N = 2.0, 1e-4, 0.75, 5, a.shape[1]
    b = torch.empty_like(a)
    for i in range(N):
        window = a[:, max(0, i - n // 2): min(N - 1, i + n // 2) + 1]
        b[:, i] = a[:, i] / (k + alpha * (window ** 2).sum(dim=1)) ** beta
    for lrn in lrns:
        torch.testing.assert_close(lrn(a), b)


def test_paper_variant_keeps_the_two_gpu_halves_apart_in_conv2():
    torch.manual_seed(0)
    model = alexnet(variant="paper")
    conv2 = [m for m in model.features if isinstance(m, nn.Conv2d)][1]
    x = torch.randn(1, 96, 13, 13)
    nudged = x.clone()
    nudged[:, 48:] += 1.0  # change only what "GPU 2" holds
    with torch.no_grad():
        delta = (conv2(nudged) - conv2(x)).abs().flatten(2).amax(dim=2)[0]
    assert delta[:128].eq(0).all() and (delta[128:] > 0).all()


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError):
        alexnet(variant="zfnet")


@pytest.mark.parametrize("variant,width", [("torchvision", 16), ("paper", 24)])
def test_compact_versions_for_32x32_images(variant, width):
    torch.manual_seed(0)
    model = alexnet(num_classes=10, variant=variant, small_input=True, width=width)
    assert n_params(model) < 2_000_000  # vs 61M
    model.eval()
    with torch.no_grad():
        assert model.features(torch.randn(2, 3, 32, 32)).shape[-2:] == (3, 3)
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    mnist = alexnet(num_classes=10, variant=variant, small_input=True, width=width, in_channels=1)
    assert mnist.eval()(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_compact_alexnet_size_and_gradients_reach_every_weight():
    torch.manual_seed(0)
    model = alexnet(num_classes=10, small_input=True, width=16)
    assert n_params(model) == 1_804_250
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
