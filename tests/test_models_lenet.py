"""Tests for cnnlib.models.lenet against hand-worked values from LeCun et al. (1998)."""
import pytest
import torch
from torch import nn

from cnnlib.models import lenet5, mlp
from cnnlib.models.lenet import C3_TABLE, RBFOutput, Squash, Subsampling
from model_oracles import n_params


def test_classic_has_the_papers_60000_parameters_layer_by_layer():
    model = lenet5("classic")
    # Section II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164.
    per_layer = {name: n_params(getattr(model, name)) for name in ["c1", "s2", "c3", "s4", "c5", "f6"]}
    assert per_layer == {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}
    assert n_params(model) == 60_000
    assert n_params(lenet5("classic", num_classes=26)) == 60_000  # the RBF layer is not trained


def test_classic_output_shape_and_input_size():
    torch.manual_seed(0)
    model = lenet5("classic").eval()
    assert model(torch.randn(3, 1, 32, 32)).shape == (3, 10)
    with pytest.raises(RuntimeError):  # 28x28 is too small: C5's 5x5 kernel meets 4x4 maps
        model(torch.randn(3, 1, 28, 28))


def test_c3_connection_table_is_table_one_of_the_paper():
    assert sum(len(inputs) for inputs in C3_TABLE) == 60
    # In Table I every S2 map feeds exactly 10 of the 16 C3 maps.
    assert [sum(k in inputs for inputs in C3_TABLE) for k in range(6)] == [10] * 6
    assert [len(inputs) for inputs in C3_TABLE] == [3] * 6 + [4] * 9 + [6]


def test_c3_output_map_depends_only_on_its_listed_input_maps():
    torch.manual_seed(0)
    c3 = lenet5("classic").c3
    x = torch.randn(1, 6, 14, 14)
    base = c3(x)
    for k in range(6):
        nudged = x.clone()
        nudged[:, k] += 1.0
        changed = (c3(nudged) - base).abs().flatten(2).amax(dim=2)[0] > 0
        expected = torch.tensor([k in inputs for inputs in C3_TABLE])
        assert torch.equal(changed, expected), f"S2 map {k}"


def test_subsampling_is_a_trainable_scaled_window_sum():
    layer = Subsampling(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.0]))
    x = torch.arange(32.0).view(1, 2, 4, 4)
    window_sums = x.view(1, 2, 2, 2, 2, 2).sum(dim=(3, 5))  # 2x2 blocks, by reshaping
    expected = torch.stack([0.5 * window_sums[0, 0] + 1.0, -2.0 * window_sums[0, 1]])[None]
    torch.testing.assert_close(layer(x), expected)


def test_squashing_function_maps_plus_minus_one_to_about_itself():
    f = Squash()
    torch.testing.assert_close(f(torch.tensor([1.0, -1.0, 0.0])), torch.tensor([1.0, -1.0, 0.0]),
                               atol=2e-4, rtol=0)
    assert f(torch.tensor(100.0)).item() == pytest.approx(1.7159)


def test_rbf_prototypes_are_fixed_plus_minus_one_codes():
    model = lenet5("classic")
    prototypes = model.output.prototypes
    assert "output.prototypes" in model.state_dict()
    assert "output.prototypes" not in dict(model.named_parameters())
    assert prototypes.shape == (10, 84)
    assert set(prototypes.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(prototypes, lenet5("classic").output.prototypes)  # seeded


def test_rbf_output_is_minus_squared_distance_to_each_prototype():
    rbf = RBFOutput(84, 10)
    x = rbf.prototypes[3:4].clone()
    out = rbf(x)[0]
    assert out[3].item() == 0.0 and out.argmax().item() == 3
    # Two +/-1 codes differing in d places are at squared distance 4d.
    d = (rbf.prototypes != rbf.prototypes[3]).sum(dim=1).float()
    torch.testing.assert_close(out, -4 * d)


def test_classic_trains_every_weight_but_not_the_prototypes():
    torch.manual_seed(0)
    model = lenet5("classic")
    loss = nn.functional.cross_entropy(model(torch.randn(4, 1, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model.output.prototypes.grad is None


def test_modern_has_61706_parameters_and_takes_28x28():
    model = lenet5("modern").eval()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [n_params(m) for m in convs] == [156, 2416, 48120, 10164, 850]
    assert n_params(model) == 61_706
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert lenet5("modern", num_classes=5)(torch.randn(2, 1, 28, 28)).shape == (2, 5)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError):
        lenet5("lenet4")


def test_mlp_parameters_and_forward_against_a_hand_written_one():
    assert n_params(mlp([784, 500, 10])) == 397_510
    torch.manual_seed(0)
    net = mlp([12, 5, 3])
    x = torch.randn(2, 3, 2, 2)  # flattened to 12 features
    w1, b1, w2, b2 = (p.detach() for p in net.parameters())
    expected = torch.relu(x.flatten(1) @ w1.T + b1) @ w2.T + b2  # no ReLU on the logits
    torch.testing.assert_close(net(x), expected)
    with pytest.raises(ValueError):
        mlp([10])


def test_every_family_is_exported_by_models():
    import cnnlib.models

    for name in ["lenet5", "alexnet", "vgg16", "vgg16_bn", "googlenet", "resnet50", "densenet121"]:
        assert callable(getattr(cnnlib.models, name)) and name in cnnlib.models.__all__
    assert n_params(lenet5(variant="modern")) == 61_706
