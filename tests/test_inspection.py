"""Tests of cnnlib.inspection: the hook walker, parameter counts and ``summary``, against
torchvision models, torch's own layers and hand-worked values."""
import doctest

import pytest
import torch
import torch.nn as nn
import torchvision

import cnnlib.inspection
from cnnlib.inspection import (ForwardError, UnknownLayerError, count_params, count_trainable, evaluating, leaf_names,
                               record_outputs, summary, watch)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The machine is shared; these forward passes are small enough for one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_docstring_examples():
    assert doctest.testmod(cnnlib.inspection).failed == 0


# --------------------------------------------------------------------------- summary on torchvision models


def _leaf_outputs(model, x):
    """Oracle: (name, type, output shape without batch) of every leaf call, seen by the walker."""
    seen = []

    def note(name, module, output):
        seen.append((name, type(module).__name__, tuple(output.shape[1:])))

    with watch(model, after=note, layers=leaf_names(model)), torch.no_grad():
        y = model(x)
    return seen, y


TORCHVISION = [
    ("alexnet", {}, 224),
    ("vgg11", {}, 32),
    ("resnet18", {}, 64),
    ("googlenet", {"aux_logits": False, "init_weights": False}, 64),
    ("densenet121", {}, 64),
]


@pytest.mark.parametrize("name, kwargs, size", TORCHVISION, ids=[t[0] for t in TORCHVISION])
def test_summary_matches_torchvision_forward(name, kwargs, size):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    s = summary(model, (3, size, size))
    assert model.training  # restored
    model.eval()
    seen, y = _leaf_outputs(model, torch.randn(1, 3, size, size))
    assert [(r.name, r.type, r.output_shape) for r in s.rows] == seen
    assert s.output_shape == tuple(y.shape[1:]) == (1000,)
    assert s.input_size == (3, size, size)
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.trainable_params == s.total_params and s.non_trainable_params == 0
    assert sum(r.params for r in s.rows) == s.total_params  # every parameter counted once
    for r in s.rows:
        module = model.get_submodule(r.name)
        assert r.params == sum(p.numel() for p in module.parameters(recurse=False))
    assert f"Total params: {s.total_params:,}" in str(s)


def test_hand_worked_alexnet_summary():
    net = nn.Sequential(nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
                        nn.Linear(96 * 27 * 27, 10))
    s = summary(net, (3, 227, 227))
    assert s.rows[0].output_shape == (96, 55, 55) and s.rows[0].params == 34_944  # 96 * (11*11*3 + 1)
    expected = (
        "Layer  Type       Output shape  Param #\n"
        "---------------------------------------\n"
        "0      Conv2d     (96, 55, 55)   34,944\n"
        "1      ReLU       (96, 55, 55)        0\n"
        "2      MaxPool2d  (96, 27, 27)        0\n"
        "3      Flatten    (69984,)            0\n"
        "4      Linear     (10,)         699,850\n"
        "=======================================\n"
        "Input size: (3, 227, 227) (shapes leave out the batch dimension)\n"
        "Output shape: (10,)\n"
        "Total params: 734,794\n"
        "Trainable params: 734,794\n"
        "Non-trainable params: 0"
    )
    assert str(s) == repr(s) == expected
    assert str(summary(net, (3, 227, 227), batch_size=2)) == expected  # deterministic
    html = s._repr_html_()
    assert "34,944" in html and "(96, 55, 55)" in html and html.startswith("<table>")


# --------------------------------------------------------------------------- strict mode


def test_strict_names_first_layer_that_does_not_tile():
    net = nn.Sequential(nn.Conv2d(3, 8, 11, stride=4), nn.ReLU(), nn.MaxPool2d(2, 2), nn.MaxPool2d(2, 2))
    summary(net, (3, 227, 227))  # not strict: fine
    with pytest.raises(ValueError) as info:
        summary(net, (3, 227, 227), strict=True)
    assert str(info.value) == (
        "layer '2' (MaxPool2d, kernel 2, stride 2, padding 0) does not tile its input of height 55: "
        "(55 + 2*0 - 2) / 2 + 1 = 27.5, so 1 row of the padded input is dropped. "
        "Change the padding, the stride or the input size."
    )


def test_strict_torchvision_alexnet_and_resnet():
    alexnet = torchvision.models.alexnet(weights=None)
    with pytest.raises(ValueError, match=r"^layer 'features.0' \(Conv2d, kernel 11, stride 4, padding 2\).*= 55.25"):
        summary(alexnet, (3, 224, 224), strict=True)
    # The original AlexNet (no padding, 227 input) tiles all the way; the adaptive pool is not checked.
    alexnet.features[0] = nn.Conv2d(3, 64, 11, stride=4)
    assert summary(alexnet, (3, 227, 227), strict=True).rows[0].output_shape == (64, 55, 55)
    with pytest.raises(ValueError, match=r"^layer 'conv1' \(Conv2d, kernel 7, stride 2, padding 3\)"):
        summary(torchvision.models.resnet18(weights=None), (3, 224, 224), strict=True)


def test_strict_width_dilation_and_ceil_mode():
    with pytest.raises(ValueError, match=r"input of width 8: \(8 \+ 2\*0 - 3\) / 2 \+ 1 = 3.5, so 1 column"):
        summary(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2)), (1, 9, 8), strict=True)
    with pytest.raises(ValueError, match=r"dilation 2\).*= 3.67 \(the dilated kernel spans 5\), so 2 positions"):
        summary(nn.Sequential(nn.Conv1d(1, 1, 3, stride=3, dilation=2)), (1, 13), strict=True)
    with pytest.raises(ValueError, match="with ceil_mode=True the last window hangs 1 row over"):
        summary(nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), (1, 7, 8), strict=True)
    ok = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.MaxPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d(3))
    assert summary(ok, (1, 8, 8), strict=True).output_shape == (4, 3, 3)


# --------------------------------------------------------------------------- errors, state and odd models


def _no_hooks_left(model):
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_shape_mismatch_names_the_layer():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(100, 10))
    net.train()
    with pytest.raises(ForwardError) as info:
        summary(net, (1, 8, 8))
    err = info.value
    assert isinstance(err, RuntimeError) and isinstance(err.__cause__, RuntimeError)
    assert (err.layer, err.layer_type, err.input_shape) == ("2", "Linear", (1, 144))
    assert str(err).startswith("the forward pass failed in layer '2' (Linear) on its input of shape (1, 144)")
    assert _no_hooks_left(net) and net.training


class Reshaper(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).view(x.shape[0], 5, -1)  # 4*6*6 is not divisible by 5


def test_error_in_a_container_names_it_and_the_last_layer():
    net = nn.Sequential(nn.Conv2d(1, 4, 1), Reshaper())
    with pytest.raises(ForwardError, match=r"in layer '1' \(Reshaper\) on its input of shape \(1, 4, 6, 6\), "
                                           r"after layer '1.conv' \(Conv2d\) returned shape \(1, 4, 6, 6\)"):
        summary(net, (1, 6, 6))
    assert _no_hooks_left(net)


class Scaled(nn.Module):
    """Owns a parameter itself *and* has a child, and calls the child twice."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x)) * self.scale.view(1, -1, 1, 1)


def test_params_counted_once_and_repeated_calls_listed():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), Scaled(), nn.Linear(6, 6), nn.Linear(6, 6))
    net[3].weight = net[2].weight  # tied weights
    net[0].requires_grad_(False)
    s = summary(net, (1, 6, 6))
    assert [(r.name, r.call, r.params) for r in s.rows] == [
        ("0", 1, 40), ("1", 1, 4), ("1.conv", 1, 148), ("1.conv", 2, 0), ("2", 1, 42), ("3", 1, 6)]
    assert s.total_params == sum(p.numel() for p in net.parameters()) == 240
    assert sum(r.params for r in s.rows) == s.total_params
    assert s.trainable_params == 200 and s.non_trainable_params == 40
    assert "1.conv (call 2)" in str(s)


def test_uncalled_module_is_reported_in_footer():
    class Partly(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    s = summary(Partly(), 3)
    assert [r.name for r in s.rows] == ["used"] and s.total_params == 20
    assert str(s).endswith("Params of modules the forward pass never called: 8")


def test_state_is_restored_and_nothing_is_updated():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.ReLU())
    net.train()
    net[2].eval()
    stats = net[1].running_mean.clone()
    rng = torch.get_rng_state()
    summary(net, (3, 8, 8), batch_size=4)
    assert [m.training for m in net.modules()] == [True, True, True, False, True]
    assert torch.equal(net[1].running_mean, stats)  # ran in eval mode
    assert torch.equal(torch.get_rng_state(), rng)  # the user's random stream is untouched
    assert all(p.grad is None for p in net.parameters()) and _no_hooks_left(net)


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(2, 5)

    def forward(self, x, z):
        return self.a(x), [self.b(z), z]


def test_multiple_inputs_and_outputs():
    s = summary(TwoInTwoOut(), [(7, 3), (2,)])
    assert s.input_size == [(7, 3), (2,)]
    assert s.output_shape == ((7, 4), ((5,), (2,)))
    assert "Input size: (7, 3), (2,)" in str(s)
    s = summary(nn.LSTM(3, 5, batch_first=True), (7, 3))
    assert s.rows[0].output_shape[0] == (7, 5)  # a module returning a tuple shows every shape


def test_dtype_and_a_bare_layer():
    s = summary(nn.Conv2d(3, 96, 11, stride=4).double(), (3, 227, 227), dtype=torch.float64)
    assert [(r.name, r.output_shape, r.params) for r in s.rows] == [("", (96, 55, 55), 34_944)]
    assert str(s).splitlines()[2].startswith("(model)  Conv2d")


# --------------------------------------------------------------------------- functional parameters, RNNs


def test_vit_attention_counts_its_out_proj():
    # nn.MultiheadAttention never calls its child out_proj: it hands out_proj.weight and .bias to
    # F.multi_head_attention_forward. Their 12 x (768*768 + 768) = 7,087,104 parameters belong to
    # the attention row, not to "never called". On the meta device: shapes only, no weights.
    with torch.device("meta"):
        vit = torchvision.models.vit_b_16()
    s = summary(vit, (3, 224, 224))
    assert s.total_params == sum(p.numel() for p in vit.parameters()) == 86_567_656
    assert sum(r.params for r in s.rows) == s.total_params
    assert "never called" not in str(s)
    attention = [r for r in s.rows if r.type == "MultiheadAttention"]
    module = vit.encoder.layers[0].self_attention
    assert len(attention) == 12 and all(r.params == count_params(module) == 2_362_368 for r in attention)
    assert not any(r.name.endswith("out_proj") for r in s.rows)  # it never ran
    assert s.output_shape == (1000,)


def test_functional_use_goes_to_the_innermost_calling_row_and_unused_stays_unused():
    class Tied(nn.Module):
        """Uses its child's weight with F.linear instead of calling the child; a second child is unused."""

        def __init__(self):
            super().__init__()
            self.gate = nn.Parameter(torch.ones(4))
            self.proj, self.spare = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return nn.functional.linear(x * self.gate, self.proj.weight, self.proj.bias)

    net = nn.Sequential(nn.Linear(3, 4), Tied())
    s = summary(net, 3)
    assert [(r.name, r.params) for r in s.rows] == [("0", 16), ("1", 4 + 20)]
    assert str(s).endswith("Params of modules the forward pass never called: 10")


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_hidden_state_keeps_its_layer_dimension(bidirectional):
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=bidirectional)
    sequence, (h, c) = lstm(torch.zeros(4, 7, 3))  # batch of 4: h is (layers * directions, 4, 5)
    s = summary(lstm, (7, 3), batch_size=4)
    expected = (tuple(sequence.shape[1:]), (h.shape[:1] + h.shape[2:], c.shape[:1] + c.shape[2:]))
    assert s.rows[0].output_shape == s.output_shape == expected
    assert expected[1][0] == ((4 if bidirectional else 2), 5)
    gru = summary(nn.Sequential(nn.GRU(3, 6, num_layers=3, batch_first=True)), (7, 3), batch_size=2)
    assert gru.rows[0].output_shape == ((7, 6), (3, 6))


# --------------------------------------------------------------------------- the walker and its helpers


def test_watch_sees_entries_and_returns_in_order_and_removes_its_hooks():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    events = []
    with watch(net, before=lambda n, m, a, k: events.append(("in", n, tuple(a[0].shape))),
               after=lambda n, m, out: events.append(("out", n, tuple(out.shape)))):
        net(torch.zeros(5, 2))
    assert events == [("in", "", (5, 2)), ("in", "0", (5, 2)), ("out", "0", (5, 3)), ("in", "1", (5, 3)),
                      ("in", "1.0", (5, 3)), ("out", "1.0", (5, 3)), ("in", "1.1", (5, 3)),
                      ("out", "1.1", (5, 1)), ("out", "1", (5, 1)), ("out", "", (5, 1))]
    with pytest.raises(RuntimeError), watch(net, after=lambda n, m, out: None):
        net(torch.zeros(5, 7))  # wrong width: the hooks go all the same
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_record_outputs_keeps_the_latest_and_names_unknown_layers():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    x = torch.tensor([[1.0, -1.0]])
    with record_outputs(net, ["0", "1"]) as store:
        net(2 * x)
        y = net(x)
    assert torch.equal(store["1"], y) and torch.equal(store["0"], net[0](x))
    assert not store["1"].requires_grad
    in_place = nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True))
    with torch.no_grad():
        in_place[0].weight.copy_(torch.eye(2))
        in_place[0].bias.zero_()
    with record_outputs(in_place, ["0"]) as store:
        in_place(x)
    assert store["0"].tolist() == [[1.0, -1.0]]  # as the linear layer returned it, before the ReLU
    with pytest.raises(UnknownLayerError, match=r"no layer named 'conv9'; pick one of \['0', '1'\]") as info:
        with record_outputs(net, ["conv9"]):
            pass
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownLayerError, match=r"a list of names, e.g. \['0'\]"):
        with record_outputs(net, "0"):
            pass


def test_evaluating_restores_each_flag_and_count_params_counts_shared_once():
    net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(), nn.Linear(3, 3))
    net[2].weight = net[0].weight
    net[0].bias.requires_grad_(False)
    net[1].eval()
    with evaluating(net):
        assert not any(m.training for m in net.modules())
    assert [m.training for m in net.modules()] == [True, True, False, True]
    assert count_params(net) == 9 + 3 + 3 and count_trainable(net) == 12
    assert leaf_names(net) == ["0", "1", "2"]
