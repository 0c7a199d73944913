"""cnnlib.transfer: heads are dropped/replaced correctly, frozen parts never change, the
param groups carry the right learning rates, features equal a hand-run forward pass."""
import pytest
import torch
from torch import nn

from cnnlib.data import DeviceLoader, ImageDataset
from cnnlib.train import fit
from cnnlib.transfer import (convnet, count_trainable, digits_as_rgb, drop_head, extract_features,
                             freeze, head_on_block, last_linear, layerwise_sgd, relabel,
                             replace_head, truncate, with_stats)


def net(seed=0):
    torch.manual_seed(seed)
    return convnet(num_classes=5, widths=(4, 8, 8, 16))


def conv_bn_params(c_in, c_out):
    return 9 * c_in * c_out + 2 * c_out  # conv without bias, BN weight and bias


def test_convnet_shapes_and_parameter_count():
    model = net()
    assert [n for n, _ in model.named_children()] == [
        "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    expected = (conv_bn_params(3, 4) + conv_bn_params(4, 8) + conv_bn_params(8, 8)
                + conv_bn_params(8, 16) + 16 * 5 + 5)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_replace_head_keeps_the_body_and_leaves_the_original_alone():
    model = net()
    new = replace_head(model, 3)
    assert new.fc.out_features == 3 and model.fc.out_features == 5
    for name, p in model.named_parameters():
        if not name.startswith("fc."):
            assert torch.equal(p, new.get_submodule(name.rpartition(".")[0]).get_parameter(
                name.rpartition(".")[2]))


def test_last_linear_finds_nested_heads():
    vgg_like = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))
    assert last_linear(vgg_like) == "1.2"
    assert replace_head(vgg_like, 7)(torch.zeros(1, 4)).shape == (1, 7)


def test_drop_head_outputs_the_penultimate_features_and_is_frozen():
    model = net().eval()
    body = drop_head(model)
    x = torch.randn(3, 3, 32, 32)
    by_hand = x
    for name in ("layer1", "layer2", "layer3", "layer4", "avgpool", "flatten"):
        by_hand = getattr(model, name)(by_hand)
    assert torch.allclose(body(x), by_hand)
    assert count_trainable(body) == 0


def test_truncate_equals_running_the_first_blocks():
    model = net().eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(truncate(model, "layer2").eval()(x), model.layer2(model.layer1(x)))
    with pytest.raises(ValueError, match="children"):
        truncate(model, "layer9")


def test_freeze_counts_and_keeps_frozen_batchnorm_statistics():
    model = freeze(net(), trainable=("layer4", "fc"))
    assert count_trainable(model) == conv_bn_params(8, 16) + 16 * 5 + 5
    before = model.layer1[1].running_mean.clone()
    model.train()
    assert not model.layer1.training and model.layer4.training
    model(torch.randn(8, 3, 32, 32) * 5 + 3)
    assert torch.equal(model.layer1[1].running_mean, before)
    assert not torch.equal(model.layer4[1].running_mean, torch.zeros(16))


def test_frozen_layers_do_not_change_under_fit(tiny_dataset):
    model = freeze(replace_head(net(), 4), trainable=("fc",))  # tiny_dataset has 4 classes
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    fc_before = model.fc.weight.clone()
    fit(model, tiny_dataset.select(range(64)), epochs=1, lr=0.05, batch_size=32, progress=False,
        device="cpu", weight_decay=0.0)
    for key, value in model.state_dict().items():
        if key in frozen:
            assert torch.equal(value, frozen[key]), key
    assert not torch.equal(model.fc.weight, fc_before)


def test_layerwise_sgd_gives_pretrained_layers_a_lower_learning_rate():
    model = freeze(net(), trainable=("layer4", "fc"))
    opt = layerwise_sgd(model, lr=0.1, pretrained_scale=0.1)(
        [p for p in model.parameters() if p.requires_grad])
    head, body = opt.param_groups
    assert head["lr"] == 0.1 and body["lr"] == pytest.approx(0.01)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.fc.parameters()}
    assert {id(p) for p in body["params"]} == {id(p) for p in model.layer4.parameters()}


def test_extract_features_normalises_like_the_data_and_runs_once(tiny_dataset):
    data = ImageDataset(torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8),
                        torch.arange(10) % 5, list("abcde"))
    body = drop_head(net())
    features, labels = extract_features(body, data, batch_size=4, device="cpu")
    x, _ = next(iter(DeviceLoader(data, 10, device="cpu")))
    assert torch.allclose(features, body(x), atol=1e-5)
    assert torch.equal(labels, data.labels) and features.shape == (10, 16)


def test_fit_on_a_features_pair_trains_a_linear_classifier_on_separable_features():
    # The fixed-feature-extractor recipe of chapter 10 (features once, then fit on the pair);
    # separable features must be classified perfectly.
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 4
    labels = torch.arange(300) % 3
    features = centres[labels] + torch.randn(300, 8, generator=g) * 0.3
    torch.manual_seed(0)
    classifier = nn.Linear(8, 3)
    fit(classifier, (features, labels), epochs=30, lr=0.01, optimizer="adam", weight_decay=1e-3,
        batch_size=64, schedule="constant", progress=False, device="cpu")
    assert (classifier(features).argmax(1) == labels).float().mean() == 1.0


def test_head_on_block_freezes_the_body_and_trains_the_new_layers():
    model = head_on_block(net(), "layer2", num_classes=4, width=6)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)
    # layer2 gives 8 maps of 8x8; the new layer pools them to 4x4 and flattens: 6 * 16 features
    assert count_trainable(model) == conv_bn_params(8, 6) + 6 * 16 * 4 + 4
    assert count_trainable(model.body) == 0


def test_digit_helpers():
    data = ImageDataset(torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8),
                        torch.tensor([0, 5, 7, 5, 9, 0]), [str(d) for d in range(10)], "usps")
    rgb = digits_as_rgb(data)
    assert rgb.images.shape == (6, 3, 32, 32) and rgb.images.dtype == torch.uint8
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])
    picked = relabel(data, [5, 9])
    assert picked.labels.tolist() == [0, 0, 1] and picked.classes == ["5", "9"]
    like = with_stats(rgb, ImageDataset(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1), ["x"]))
    assert like.mean == (0.0, 0.0, 0.0)
