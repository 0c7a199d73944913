"""cnnlib.viz.histograms: each layer's output and its gradient, checked against autograd."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnnlib.viz.histograms import layer_signals, plot_layer_histograms  # noqa: E402


def net(bn):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), *([nn.BatchNorm2d(4)] if bn else []), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.ReLU(), nn.Linear(8, 3))


def test_signals_are_the_layer_outputs_and_their_autograd_gradients():
    model = net(bn=True)
    x, y = torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1])
    signals = layer_signals(model, x, y)
    assert list(signals) == ["2", "5"]  # the two ReLUs
    # the oracle: the same forward pass written out, and torch.autograd.grad on it
    reference = net(bn=True).train()
    h1 = reference[2](reference[1](reference[0](x)))
    h2 = reference[5](reference[4](reference[3](h1)))
    loss = F.cross_entropy(reference[6](h2), y)
    g1, g2 = torch.autograd.grad(loss, [h1, h2])
    assert torch.allclose(signals["2"]["activation"], h1, atol=1e-6)
    assert torch.allclose(signals["5"]["activation"], h2, atol=1e-6)
    assert torch.allclose(signals["2"]["gradient"], g1, atol=1e-7)
    assert torch.allclose(signals["5"]["gradient"], g2, atol=1e-7)


def test_the_callers_model_is_left_untouched():
    model = net(bn=True).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layer_signals(model, torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0]))
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_unknown_layers_are_named_in_the_error():
    with pytest.raises(ValueError, match="conv9"):
        layer_signals(net(False), torch.randn(2, 3, 8, 8), torch.tensor([0, 1]), layers=["conv9"])


def test_histogram_figure_has_a_column_per_layer_and_a_curve_per_model():
    x, y = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    signals = {"plain": layer_signals(net(False), x, y), "batch norm": layer_signals(net(True), x, y)}
    fig = plot_layer_histograms(signals, title="at initialisation")
    axes = fig.axes
    assert len(axes) == 4
    assert [ax.get_title().split("\n")[0] for ax in axes] == [
        "activation 1", "activation 2", "gradient 1", "gradient 2"]
    assert all(len(ax.patches) == 2 for ax in axes)  # one step histogram per model
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["plain", "batch norm"]
    assert fig.get_size_inches()[0] <= 7.5
    plt.close(fig)
    with pytest.raises(ValueError, match="different numbers of layers"):
        first = next(iter(signals["plain"].items()))
        plot_layer_histograms({"a": signals["plain"], "b": dict([first])})


def test_snapshots_keep_the_layer_outputs_in_training_mode_at_the_chosen_epochs():
    from cnnlib.viz.histograms import ActivationSnapshots

    model = net(bn=True).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(5, 3, 8, 8) * 3 + 2
    snaps = ActivationSnapshots(model, x, epochs=[2])
    assert snaps.layers == ["2", "5"]
    snaps.record(0)
    for epoch in range(3):  # fit calls back with epochs counted from 0
        snaps(epoch, {})
    assert sorted(snaps.snapshots) == [0, 2]
    # the oracle: the forward pass written out, batch norm with the batch's statistics
    reference = net(bn=True).train()
    with torch.no_grad():
        pre = reference[1](reference[0](x))
        h1 = reference[2](pre)
        h2 = reference[5](reference[4](reference[3](h1)))
    assert torch.allclose(snaps.snapshots[0]["2"], h1, atol=1e-6)
    assert torch.allclose(snaps.snapshots[2]["5"], h2, atol=1e-6)
    spreads = snaps.spreads()
    assert spreads[0]["2"] == pytest.approx(h1.std().item(), rel=1e-5)
    # the caller's model: still in eval mode, running statistics unmoved
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # inputs=True keeps what the ReLUs receive: batch-normalised, mean 0 and std 1
    inputs = ActivationSnapshots(model, x, inputs=True).record(0)
    assert torch.allclose(inputs["2"], pre, atol=1e-6)
    per_channel = inputs["2"].transpose(0, 1).flatten(1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(4), atol=1e-5)
    with pytest.raises(ValueError, match="conv9"):
        ActivationSnapshots(model, x, layers=["conv9"])


def test_activation_grid_has_a_row_per_layer_and_a_column_per_epoch():
    from cnnlib.viz.histograms import ActivationSnapshots, plot_activation_grid

    x = torch.randn(6, 3, 8, 8)
    runs = {}
    for label, bn in (("plain", False), ("batch norm", True)):
        runs[label] = ActivationSnapshots(net(bn), x)
        for epoch in (0, 1, 5):
            runs[label].record(epoch)
    fig = plot_activation_grid(runs, title="during training")
    axes = fig.axes
    assert len(axes) == 6  # 2 layers x 3 epochs
    assert all(len(ax.patches) == 2 for ax in axes)  # one histogram per model
    assert [ax.get_title().split("\n")[0] for ax in axes[:3]] == [
        "before training", "after epoch 1", "after epoch 5"]
    assert axes[0].get_ylabel().startswith("layer 1")
    assert axes[3].get_ylabel().startswith("layer 2")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["plain", "batch norm"]
    assert fig.get_size_inches()[0] <= 7.5
    plt.close(fig)
    del runs["plain"].snapshots[5]
    with pytest.raises(ValueError, match="different epochs"):
        plot_activation_grid(runs)
