"""cnnlib.transfer: heads are dropped/replaced correctly, frozen parts never change, the
param groups carry the right learning rates, features equal a hand-run forward pass."""
import pytest
import torch
from torch import nn

from cnnlib.data import DeviceLoader, ImageDataset
from cnnlib.initialisation import freeze
from cnnlib.models import convnet
from cnnlib.train import fit
from cnnlib.inspection import count_trainable
from cnnlib.transfer import (METHODS, compare_methods, digits_as_rgb, drop_head,
                             extract_features, feature_extractor_accuracy, head_on_block, last_linear,
                             layerwise_sgd, relabel, replace_head, target_model, transfer_accuracy,
                             truncate, with_stats)


def net(seed=0):
    torch.manual_seed(seed)
    return convnet(num_classes=5, widths=(4, 8, 8, 16))


def conv_bn_params(c_in, c_out):
    return 9 * c_in * c_out + 2 * c_out  # conv without bias, BN weight and bias


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


def test_relabel_equals_chapter_2s_former_only_classes():
    # The helper chapter 2 used to define for itself, kept here as the oracle of ``relabel``.
    def only_classes(data, keep):
        index = torch.isin(data.labels, torch.tensor(keep)).nonzero().flatten()
        mapping = torch.full((len(data.classes),), -1, dtype=torch.long)
        mapping[keep] = torch.arange(len(keep))
        return ImageDataset(data.images[index], mapping[data.labels[index]], [data.classes[k] for k in keep],
                            data.name, data.split, stats=data.stats)

    g = torch.Generator().manual_seed(0)
    data = ImageDataset(torch.randint(0, 256, (40, 3, 4, 4), generator=g, dtype=torch.uint8),
                        torch.randint(0, 10, (40,), generator=g), [f"c{k}" for k in range(10)],
                        "toy", "train", stats=([0.5] * 3, [0.25] * 3))
    for keep in ([0, 1, 2, 3, 4], [9, 5, 7]):
        ours, theirs = relabel(data, keep), only_classes(data, keep)
        assert torch.equal(ours.images, theirs.images) and torch.equal(ours.labels, theirs.labels)
        assert (ours.classes, ours.name, ours.split, ours.stats) == (
            theirs.classes, theirs.name, theirs.split, theirs.stats)


# --------------------------------------------------------------------------------------
# Chapter 10's experiment

def quadrants(n, size=32, seed=0):
    """A learnable 4-class set of ``size`` px images: the class is which quadrant is bright."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 60, (n, 3, size, size), generator=g, dtype=torch.uint8)
    half = size // 2
    for i, label in enumerate(labels.tolist()):
        r, c = divmod(label, 2)
        images[i, :, r * half:(r + 1) * half, c * half:(c + 1) * half] += 150
    return ImageDataset(images, labels, ["tl", "tr", "bl", "br"], "quadrants", "train")


def test_target_model_builds_what_each_method_trains():
    source = net()
    scratch, optimizer = target_model("from scratch", source, 3, seed=4)
    torch.manual_seed(4)
    fresh = convnet(num_classes=3, widths=(4, 8, 8, 16))  # the source's architecture
    assert optimizer == "sgd" and all(torch.equal(a, b) for a, b in
                                      zip(scratch.parameters(), fresh.parameters()))
    top, optimizer = target_model("fine-tune top", source, 3)
    assert count_trainable(top) == conv_bn_params(8, 16) + 16 * 3 + 3
    head, body = optimizer([p for p in top.parameters() if p.requires_grad]).param_groups
    assert head["lr"] == 0.05 and body["lr"] == pytest.approx(0.005)
    everything, _ = target_model("fine-tune all", source, 3)
    assert count_trainable(everything) == sum(p.numel() for p in everything.parameters())
    assert torch.equal(everything.layer1[0].weight, source.layer1[0].weight)  # starts from the source
    early, optimizer = target_model("new layer on layer2", source, 3)
    assert optimizer == "sgd" and count_trainable(early.body) == 0
    with pytest.raises(ValueError, match="unknown method 'fine-tune'"):
        target_model("fine-tune", source, 3)


def test_target_model_of_the_feature_extractor_is_the_frozen_body_and_a_new_classifier():
    source = net().eval()
    model, optimizer = target_model("feature extractor", source, 3, seed=2)
    assert optimizer == "adam"  # as feature_extractor_accuracy trains its classifier
    assert count_trainable(model.body) == 0
    assert count_trainable(model) == 16 * 3 + 3  # only the new classifier learns
    x = torch.randn(4, 3, 32, 32)
    # The same output as the classifier on the features that extract_features stores.
    assert torch.allclose(model.eval()(x), model.fc(drop_head(source)(x)))
    torch.manual_seed(2)
    assert torch.equal(model.fc.weight, nn.Linear(16, 3).weight)  # seeded like the others


def test_feature_extractor_accuracy_separates_separable_features():
    data = quadrants(64, size=16)
    body = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())  # the brightness of each quadrant
    assert feature_extractor_accuracy(body, data, quadrants(32, size=16, seed=1)) == 1.0


def test_transfer_accuracy_runs_every_method():
    train, test = quadrants(40), quadrants(20, seed=1)
    for method in METHODS:
        accuracy = transfer_accuracy(method, net(), train, test, epochs=1)
        assert 0.0 <= accuracy <= 1.0


def test_compare_methods_trains_each_seed_on_its_own_sample(monkeypatch):
    import cnnlib.transfer as transfer

    calls = []

    def fake_accuracy(method, source, train, test, *, epochs, seed):
        calls.append((method, len(train), len(test), epochs, seed))
        assert torch.equal(train.images, train_all.subset(len(train), seed=100 + seed).images)
        return 0.1 * seed + (0.5 if method == "fine-tune all" else 0.0)

    train_all, test_all = quadrants(40), quadrants(30, seed=1)
    monkeypatch.setattr(transfer, "transfer_accuracy", fake_accuracy)
    lines = []
    results = compare_methods(net(), {"similar": (train_all, test_all)}, sizes={"small": 8, "large": 20},
                              epochs={"small": 3, "large": 1}, seeds=[0, 2], n_test=10, log=lines.append)
    assert set(results) == {(size, "similar", m) for size in ("small", "large") for m in METHODS}
    assert torch.allclose(results["large", "similar", "fine-tune all"], torch.tensor([0.5, 0.7]))
    assert ("from scratch", 8, 10, 3, 2) in calls and ("feature extractor", 20, 10, 1, 0) in calls
    assert len(calls) == 2 * len(METHODS) * 2 and lines[0].startswith("small & similar: from scratch 0.100")
    with pytest.raises(ValueError, match="unknown methods"):
        compare_methods(net(), {}, sizes={}, epochs={}, seeds=[0], methods=["magic"])
    with pytest.raises(ValueError, match="give every size its number of epochs"):
        compare_methods(net(), {}, sizes={"small": 8}, epochs={}, seeds=[0])


def test_offline_imagenet_weights_give_one_sentence_and_print_nothing(monkeypatch, capsys):
    # Offline, torch.hub prints "Downloading: ..." and then raises URLError; the chapter page
    # must show one sentence instead of that line and the raw error.
    import urllib.error

    import torchvision

    from cnnlib.transfer import imagenet_resnet18

    def offline_resnet18(**kwargs):
        print('Downloading: "https://download.pytorch.org/models/resnet18.pth" to /root/.cache/x.pth')
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.models, "resnet18", offline_resnet18)
    model, message = imagenet_resnet18()
    captured = capsys.readouterr()
    assert model is None
    assert captured.out == "" and captured.err == ""
    assert message.count(".") == 1 and message.endswith("is left out.")
    assert all(len(line) <= 79 for line in message.splitlines()), "fits the book's column"
    assert "Errno" not in message and "Downloading" not in message and "Error" not in message
