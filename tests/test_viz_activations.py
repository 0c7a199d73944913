"""Tests of cnnlib.viz.activations against hand-built networks with known activations."""
import pytest
import torch
from torch import nn

from cnnlib.viz.activations import (SparsityTracker, activations, channel_max, dead_channels,
                                    relu_layers, sparsity)


def two_channel_net():
    """conv (1 -> 2 channels, 1x1): channel 0 copies the input, channel 1 negates it and subtracts 1."""
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Conv2d(2, 1, 1), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
        net[0].bias.copy_(torch.tensor([0.0, -1.0]))
        net[2].weight.fill_(1.0)
        net[2].bias.fill_(0.0)
    return net


def test_hooks_see_each_relu_output():
    net = two_channel_net()
    x = torch.tensor([[[[-2.0, 3.0]]], [[[0.5, -0.5]]]])
    acts = activations(net, x)
    assert list(acts) == relu_layers(net) == ["1", "3"]
    assert torch.equal(acts["1"][:, 0], x[:, 0].clamp_min(0))
    assert torch.equal(acts["1"][:, 1], (-x[:, 0] - 1).clamp_min(0))
    assert torch.equal(acts["3"], net(x))
    assert not net[0]._forward_hooks  # the hooks are removed again


def test_sparsity_counts_zeros():
    x = torch.tensor([[[[-2.0, 3.0]]], [[[0.5, -0.5]]]])
    s = sparsity(activations(two_channel_net(), x))
    # channel 0: [0, 3, .5, 0]; channel 1: [1, 0, 0, 0]  -> 5 zeros of 8
    assert s["1"] == pytest.approx(5 / 8)


def test_dead_channel_never_fires_on_positive_inputs():
    net = two_channel_net()
    batches = [torch.rand(4, 1, 3, 3) for _ in range(3)]  # all in [0, 1): channel 1 is always off
    dead = dead_channels(net, batches, ["1"])
    assert dead["1"].tolist() == [False, True]
    top = channel_max(net, batches, ["1"])["1"]
    assert top[0] == pytest.approx(max(float(b.max()) for b in batches))
    # One negative input revives channel 1.
    dead = dead_channels(net, batches + [torch.full((1, 1, 3, 3), -3.0)], ["1"])
    assert dead["1"].tolist() == [False, False]


def test_unknown_layer_is_named():
    with pytest.raises(KeyError, match="conv9"):
        activations(two_channel_net(), torch.zeros(1, 1, 2, 2), ["conv9"])


def test_tracker_records_through_fit(tiny_dataset):
    from cnnlib.train import fit

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 4))
    probe = torch.randn(8, 3, 16, 16)
    tracker = SparsityTracker(net, probe)
    tracker.record(0)
    fit(net, tiny_dataset, epochs=2, lr=0.05, progress=False, device="cpu", on_epoch_end=tracker)
    assert [row["epoch"] for row in tracker.rows] == [0, 1, 2]
    expected = sparsity(activations(net, probe))["1"]
    assert tracker.rows[-1]["1"] == pytest.approx(expected)
    assert net.training  # the tracker puts the model back in training mode


def test_tracker_with_a_log_gives_a_loaded_run_its_curve_and_never_another_runs(tiny_dataset,
                                                                                tmp_path):
    from cnnlib.train import fit

    def net(width=4):
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(width, 4))

    probe, log, checkpoint = torch.randn(8, 3, 16, 16), tmp_path / "run.json", tmp_path / "run.pt"
    first = net()
    tracker = SparsityTracker(first, probe, log=log)  # records epoch 0 itself
    fit(first, tiny_dataset, epochs=2, lr=0.05, progress=False, device="cpu",
        checkpoint=checkpoint, on_epoch_end=tracker)
    assert [row["epoch"] for row in tracker.rows] == [0, 1, 2]
    # a second run loads the finished network: fit trains nothing, the log gives the curve
    again = net()
    loaded = SparsityTracker(again, probe, log=log)
    fit(again, tiny_dataset, epochs=2, lr=0.05, progress=False, device="cpu",
        checkpoint=checkpoint, on_epoch_end=loaded)
    assert loaded.rows == tracker.rows
    # another network, probe or set of layers never reads those rows
    assert [r["epoch"] for r in SparsityTracker(net(width=5), probe, log=log).rows] == [0]
    assert [r["epoch"] for r in SparsityTracker(net(), probe + 1, log=log).rows] == [0]
    # a run that restarts from epoch 1 replaces the rows from there on
    restarted = SparsityTracker(net(), probe, log=log)
    restarted(0, {})
    assert [r["epoch"] for r in restarted.rows] == [0, 1]
    log.write_text("{not json")
    assert [r["epoch"] for r in SparsityTracker(net(), probe, log=log).rows] == [0]


def test_layer_outputs_are_the_layer_in_eval_mode_and_restore_training():
    from cnnlib.data import ImageDataset
    from cnnlib.viz.activations import layer_outputs

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    data = ImageDataset(torch.randint(0, 256, (10, 1, 6, 6), dtype=torch.uint8), torch.arange(10),
                        [str(i) for i in range(10)])
    model.train()
    batches = layer_outputs(model, data, "1", batch_size=4, device="cpu")
    output, labels = next(batches)
    assert not model.training  # batch norm uses its running statistics, as at test time
    x = (data.images[:4].float() / 255 - data.mean[0]) / data.std[0]
    torch.testing.assert_close(output, model[1](model[0](x)))
    assert labels.tolist() == [0, 1, 2, 3]
    batches.close()  # the caller stops early
    assert model.training


def test_a_model_without_parameters_runs_where_the_data_is():
    from cnnlib.data import ImageDataset
    from cnnlib.viz.activations import layer_outputs

    model = torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.ReLU())  # was: StopIteration
    data = ImageDataset(torch.randint(0, 256, (4, 1, 6, 6), dtype=torch.uint8), torch.arange(4),
                        [str(i) for i in range(4)])
    output, _ = next(layer_outputs(model, data, "0", batch_size=4))
    assert output.shape == (4, 1, 3, 3)
    tracker = SparsityTracker(model, torch.randn(2, 1, 6, 6), layers=["1"])
    assert set(tracker.record(0)) == {"epoch", "1"}
