"""Tests of cnnlib.layers against torch's own layers and hand-worked values."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnlib.layers import BatchNorm1d, BatchNorm2d, Dropout, Dropout2d, dropout, dropout_mask, fold_batchnorm

# --------------------------------------------------------------------------- dropout


def _within(rate: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    """Is an observed Bernoulli rate within ``sigmas`` standard errors of ``p``?"""
    return abs(rate - p) <= sigmas * math.sqrt(p * (1 - p) / n)


def test_dropout_mask_rate_and_values():
    torch.manual_seed(0)
    n = 1_000_000
    for p in (0.1, 0.5, 0.8):
        mask = dropout_mask((1000, 1000), p)
        assert mask.shape == (1000, 1000) and mask.dtype == torch.float32
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        assert _within((mask == 0).float().mean().item(), p, n)


def test_dropout_mask_generator_reproducible():
    g = torch.Generator().manual_seed(123)
    a = dropout_mask((50, 50), 0.5, generator=g)
    b = dropout_mask((50, 50), 0.5, generator=torch.Generator().manual_seed(123))
    c = dropout_mask((50, 50), 0.5, generator=torch.Generator().manual_seed(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert dropout_mask((3,), 0.5, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_inverted_dropout_matches_nn_dropout(p):
    torch.manual_seed(0)
    x = torch.rand(1000, 1000) + 0.5  # never 0, so a 0 in the output means "dropped"
    ours, theirs = Dropout(p).train()(x), nn.Dropout(p).train()(x)
    n = x.numel()
    rate_ours, rate_theirs = (ours == 0).float().mean().item(), (theirs == 0).float().mean().item()
    assert _within(rate_ours, p, n) and _within(rate_theirs, p, n)
    # Survivors are scaled by exactly 1/(1-p), computed as torch computes it.
    both = (ours != 0) & (theirs != 0)
    assert both.sum() > 0
    assert torch.equal(ours[both], theirs[both])
    torch.testing.assert_close(ours[ours != 0], x[ours != 0] / (1 - p), rtol=1e-6, atol=0)


def test_eval_mode():
    x = torch.randn(4, 5)
    assert torch.equal(Dropout(0.3).eval()(x), nn.Dropout(0.3).eval()(x))
    assert Dropout(0.3).eval()(x) is x  # identity, no copy, like nn.Dropout
    # The paper's convention scales at test time by the keep probability.
    assert torch.equal(Dropout(0.3, inverted=False).eval()(x), x * 0.7)
    assert torch.equal(Dropout2d(0.3).eval()(x), x)


def test_paper_convention_train_only_masks():
    torch.manual_seed(0)
    x = torch.rand(200, 200) + 0.5
    out = Dropout(0.4, inverted=False).train()(x)
    kept = out != 0
    assert torch.equal(out[kept], x[kept])  # no rescaling at training time
    assert _within(1 - kept.float().mean().item(), 0.4, x.numel())


@pytest.mark.parametrize("inverted", [True, False])
@pytest.mark.parametrize("p", [0.3, 0.7])
def test_train_expectation_equals_eval_output(p, inverted):
    # The mean over many thinned networks equals the single eval-mode network (in expectation).
    torch.manual_seed(0)
    x = torch.randn(64)
    layer = Dropout(p, inverted=inverted)
    samples = 20_000
    mean = layer.train()(x.expand(samples, 64)).mean(0)
    expected = layer.eval()(x)
    scale = 1 / (1 - p) if inverted else 1.0
    stderr = x.abs() * scale * math.sqrt(p * (1 - p) / samples)
    assert ((mean - expected).abs() <= 5 * stderr + 1e-6).all()
    if not inverted:
        torch.testing.assert_close(expected, x * (1 - p))


def test_edge_probabilities():
    x = torch.randn(100, 100)
    for inverted in (True, False):
        assert torch.equal(Dropout(0.0, inverted=inverted).train()(x), x)
    assert torch.equal(Dropout(0.0, inverted=False).eval()(x), x)
    # p_drop = 1 drops everything, without any 1/0 = inf or nan.
    for layer in (Dropout(1.0), Dropout(1.0, inverted=False), Dropout2d(1.0)):
        out = layer.train()(x.view(10, 10, 10, 10))
        assert torch.equal(out, torch.zeros_like(out))
    assert torch.equal(nn.Dropout(1.0).train()(x), Dropout(1.0).train()(x))
    assert torch.equal(Dropout(1.0).eval()(x), nn.Dropout(1.0).eval()(x))
    assert torch.equal(Dropout(1.0, inverted=False).eval()(x), torch.zeros_like(x))


@pytest.mark.parametrize("inverted", [True, False])
def test_gradient_only_through_kept_units(inverted):
    torch.manual_seed(0)
    x = (torch.rand(300, 300) + 0.5).requires_grad_()
    g = torch.randn(300, 300)
    p = 0.4
    out = Dropout(p, inverted=inverted).train()(x)
    out.backward(g)
    kept = out.detach() != 0
    assert 0 < kept.float().mean() < 1
    assert torch.equal(x.grad[~kept], torch.zeros_like(x.grad[~kept]))
    scale = 1 / (1 - p) if inverted else 1.0
    torch.testing.assert_close(x.grad[kept], g[kept] * scale, rtol=1e-6, atol=0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "half"])
def test_invalid_probability_raises(bad):
    with pytest.raises(ValueError, match="p_drop"):
        Dropout(bad)
    with pytest.raises(ValueError, match="p_drop"):
        dropout_mask((2, 2), bad)
    with pytest.raises(ValueError, match="p_drop"):
        dropout(torch.ones(2), bad)
    with pytest.raises(ValueError, match="p_keep"):
        Dropout.from_keep_prob(bad)


def test_from_keep_prob_is_the_papers_convention():
    layer = Dropout.from_keep_prob(0.8)
    assert layer.p_drop == pytest.approx(0.2) and layer.p_keep == pytest.approx(0.8)
    assert layer.inverted is False
    assert Dropout.from_keep_prob(0.8, inverted=True).inverted is True
    x = torch.randn(10)
    torch.testing.assert_close(layer.eval()(x), 0.8 * x)
    assert "p_drop=0.5, inverted=True" in repr(Dropout())


def test_dropout2d_drops_whole_channels():
    torch.manual_seed(0)
    x = torch.rand(64, 32, 5, 5) + 0.5
    p = 0.3
    for layer in (Dropout2d(p), nn.Dropout2d(p)):
        out = layer.train()(x).view(64 * 32, 25)
        zero = (out == 0).all(1)
        assert ((out == 0).any(1) == zero).all()  # a channel is dropped entirely or not at all
        assert _within(zero.float().mean().item(), p, 64 * 32)
        torch.testing.assert_close(out[~zero], x.view(-1, 25)[~zero] / (1 - p), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="Dropout2d"):
        Dropout2d(p).train()(torch.ones(4, 3))


# --------------------------------------------------------------------------- batch norm

# (momentum, eps, affine, track_running_stats)
SETTINGS = [
    (0.1, 1e-5, True, True),
    (None, 1e-5, True, True),
    (0.3, 1e-3, False, True),
    (0.1, 1e-5, True, False),
    (None, 1e-2, False, False),
]
SHAPES = [(BatchNorm1d, nn.BatchNorm1d, (16, 4)), (BatchNorm1d, nn.BatchNorm1d, (8, 4, 7)),
          (BatchNorm2d, nn.BatchNorm2d, (6, 4, 5, 5))]


def _pair(ours_cls, torch_cls, settings, dtype=torch.float64):
    momentum, eps, affine, track = settings
    kw = dict(eps=eps, momentum=momentum, affine=affine, track_running_stats=track, dtype=dtype)
    ref = torch_cls(4, **kw)
    if affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 2.0)
            ref.bias.uniform_(-1.0, 1.0)
    ours = ours_cls(4, **kw)
    ours.load_state_dict(ref.state_dict())  # strict: the same keys
    return ours, ref


def _batch(shape, step, dtype=torch.float64):
    # A different offset and scale per channel, changing every step, so normalising matters.
    view = [1, -1] + [1] * (len(shape) - 2)
    offset = torch.tensor([3.0, -2.0, 0.5, 10.0], dtype=dtype).view(view) * (step + 1)
    scale = torch.tensor([1.0, 0.1, 5.0, 2.0], dtype=dtype).view(view)
    return torch.randn(shape, dtype=dtype) * scale + offset


@pytest.mark.parametrize("settings", SETTINGS, ids=str)
@pytest.mark.parametrize("ours_cls,torch_cls,shape", SHAPES, ids=["1d-NC", "1d-NCL", "2d"])
def test_batchnorm_matches_torch(ours_cls, torch_cls, shape, settings):
    torch.manual_seed(0)
    ours, ref = _pair(ours_cls, torch_cls, settings)
    tight = dict(rtol=1e-10, atol=1e-10)
    for step in range(3):
        x = _batch(shape, step)
        xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
        yo, yr = ours.train()(xo), ref.train()(xr)
        torch.testing.assert_close(yo, yr, **tight)
        g = torch.randn_like(yr)
        yo.backward(g)
        yr.backward(g)
        torch.testing.assert_close(xo.grad, xr.grad, **tight)
        if ours.affine:
            torch.testing.assert_close(ours.weight.grad, ref.weight.grad, **tight)
            torch.testing.assert_close(ours.bias.grad, ref.bias.grad, **tight)
        for name, buf in ref.named_buffers():
            torch.testing.assert_close(getattr(ours, name), buf, **tight, msg=f"{name} at step {step}")
    if ours.track_running_stats:
        assert ours.num_batches_tracked.item() == 3
        assert not torch.allclose(ours.running_mean, torch.zeros(4, dtype=torch.float64))
    # Eval mode: running statistics, or batch statistics when there are none.
    x = _batch(shape, 5)
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x), **tight)
    for name, buf in ref.named_buffers():
        torch.testing.assert_close(getattr(ours, name), buf, **tight)  # eval changes nothing


@pytest.mark.parametrize("ours_cls,torch_cls,shape", SHAPES, ids=["1d-NC", "1d-NCL", "2d"])
def test_batchnorm_float32(ours_cls, torch_cls, shape):
    torch.manual_seed(0)
    ours, ref = _pair(ours_cls, torch_cls, SETTINGS[0], dtype=torch.float32)
    for step in range(2):
        x = _batch(shape, step, torch.float32)
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-5, atol=1e-5)
    assert ours.weight.dtype == ours.running_mean.dtype == torch.float32


def test_batchnorm_gamma_only():
    # bias=False (keyword, as in recent torch) learns gamma but no beta: a torch layer whose beta stays 0.
    torch.manual_seed(0)
    ours, ref = BatchNorm2d(4, bias=False, dtype=torch.float64), nn.BatchNorm2d(4, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 2.0)
        ours.weight.copy_(ref.weight)
    assert ours.bias is None and "bias" not in ours.state_dict()
    x = _batch((6, 4, 3, 3), 0)
    yo, yr = ours(x), ref(x)
    torch.testing.assert_close(yo, yr, rtol=1e-10, atol=1e-10)
    yo.sum().backward(), yr.sum().backward()
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-10, atol=1e-10)
    conv = nn.Conv2d(3, 4, 3, dtype=torch.float64)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(fold_batchnorm(conv, ours.eval())(x), ours(conv(x)), rtol=1e-12, atol=1e-12)


def test_batchnorm_hand_worked():
    # One channel, batch [1, 3]: mean 2, biased variance 1, unbiased variance 2.
    bn = BatchNorm1d(1, eps=0.0)
    y = bn(torch.tensor([[1.0], [3.0]]))
    torch.testing.assert_close(y, torch.tensor([[-1.0], [1.0]]))
    torch.testing.assert_close(bn.running_mean, torch.tensor([0.9 * 0 + 0.1 * 2]))
    torch.testing.assert_close(bn.running_var, torch.tensor([0.9 * 1 + 0.1 * 2]))  # m/(m-1) = 2
    assert bn.num_batches_tracked.item() == 1
    # momentum=None: the plain average of the batch statistics seen so far.
    bn = BatchNorm1d(1, momentum=None)
    bn(torch.tensor([[1.0], [3.0]]))
    bn(torch.tensor([[5.0], [9.0]]))
    torch.testing.assert_close(bn.running_mean, torch.tensor([(2.0 + 7.0) / 2]))
    torch.testing.assert_close(bn.running_var, torch.tensor([(2.0 + 8.0) / 2]))


def test_batchnorm_written_from_scratch(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("BatchNorm must not call torch's batch norm")

    monkeypatch.setattr(F, "batch_norm", forbidden)
    monkeypatch.setattr(torch, "batch_norm", forbidden)
    BatchNorm2d(3)(torch.randn(4, 3, 2, 2))
    BatchNorm1d(3).eval()(torch.randn(4, 3))


@pytest.mark.parametrize("ours_cls,torch_cls,shape", SHAPES, ids=["1d-NC", "1d-NCL", "2d"])
def test_batchnorm_state_dict_round_trip(ours_cls, torch_cls, shape):
    torch.manual_seed(0)
    ours, ref = _pair(ours_cls, torch_cls, SETTINGS[0])
    for step in range(2):
        ref(_batch(shape, step))
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())
    back = torch_cls(4, dtype=torch.float64)
    back.load_state_dict(ours.state_dict())
    x = _batch(shape, 3)
    torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(back.eval()(x), ref.eval()(x), rtol=1e-10, atol=1e-10)
    settings = "4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True"
    assert repr(ours) == f"{ours_cls.__name__}({settings})"


def test_batchnorm_no_affine_no_tracking_attributes():
    bn = BatchNorm2d(3, affine=False, track_running_stats=False)
    assert bn.weight is None and bn.bias is None and bn.running_mean is None
    ref = nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(bn.state_dict()) == list(ref.state_dict())
    assert list(BatchNorm2d(3).state_dict()) == list(nn.BatchNorm2d(3).state_dict())


def test_batchnorm_bad_inputs():
    with pytest.raises(ValueError, match=r"expected 4 channels.*got 3"):
        BatchNorm2d(4)(torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"expected 4 channels.*got 3"):
        BatchNorm1d(4)(torch.randn(2, 3))
    with pytest.raises(ValueError, match="4D"):
        BatchNorm2d(4)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="2D"):
        BatchNorm1d(4)(torch.randn(2, 4, 3, 3))
    # One value per channel has no variance; torch refuses it as well.
    with pytest.raises(ValueError, match="more than 1 value"):
        nn.BatchNorm1d(4)(torch.randn(1, 4))
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(4)(torch.randn(1, 4))


# --------------------------------------------------------------------------- folding

CONVS = {
    "plain": dict(in_channels=4, out_channels=6, kernel_size=3),
    "no-bias": dict(in_channels=4, out_channels=6, kernel_size=3, bias=False),
    "stride-pad": dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1),
    "dilation": dict(in_channels=4, out_channels=6, kernel_size=3, padding=2, dilation=2),
    "rect-kernel": dict(in_channels=4, out_channels=6, kernel_size=(1, 5), padding=(0, 2), stride=(2, 1)),
    "groups": dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, bias=False),
    "depthwise": dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding=1),
    "depthwise-x2": dict(in_channels=4, out_channels=8, kernel_size=3, groups=4, bias=False),
    "same-reflect": dict(in_channels=4, out_channels=6, kernel_size=3, padding="same",
                         padding_mode="reflect"),
    "1x1": dict(in_channels=4, out_channels=6, kernel_size=1),
}


def _random_bn(cls, channels, affine, dtype):
    bn = cls(channels, affine=affine, dtype=dtype)
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        bn.running_mean.uniform_(-2.0, 2.0)
        bn.running_var.uniform_(0.1, 3.0)
        bn.num_batches_tracked.fill_(7)
        if affine:
            bn.weight.uniform_(-2.0, 2.0)
            bn.bias.uniform_(-1.0, 1.0)
    return bn.eval()


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("bn_cls", [nn.BatchNorm2d, BatchNorm2d])
@pytest.mark.parametrize("conv_kw", CONVS.values(), ids=CONVS.keys())
def test_fold_batchnorm(conv_kw, bn_cls, affine):
    torch.manual_seed(0)
    conv = nn.Conv2d(**conv_kw, dtype=torch.float64)
    bn = _random_bn(bn_cls, conv.out_channels, affine, torch.float64)
    conv_before, bn_before = copy.deepcopy(conv.state_dict()), copy.deepcopy(bn.state_dict())
    folded = fold_batchnorm(conv, bn)
    assert type(folded) is nn.Conv2d and folded is not conv
    assert folded.bias is not None and folded.weight.dtype == torch.float64
    x = torch.randn(3, 4, 11, 9, dtype=torch.float64)
    torch.testing.assert_close(folded(x), bn(conv(x)), rtol=1e-12, atol=1e-12)
    # The inputs are untouched, and the folded conv shares no memory with them.
    for before, module in ((conv_before, conv), (bn_before, bn)):
        for k, v in module.state_dict().items():
            assert torch.equal(v, before[k]), k
    assert folded.weight.data_ptr() != conv.weight.data_ptr()
    assert not bn.training


def test_fold_batchnorm_float32_and_after_training():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), BatchNorm2d(8)).train()
    for _ in range(5):  # real running statistics from a few training batches
        model(torch.randn(16, 3, 8, 8) * 3 + 1)
    model.eval()
    folded = fold_batchnorm(model[0], model[1])
    assert folded.weight.dtype == torch.float32
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)


def test_fold_batchnorm_errors():
    with pytest.raises(ValueError, match="6 output channels.*expects 4"):
        fold_batchnorm(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="running statistics"):
        fold_batchnorm(nn.Conv2d(3, 4, 3), BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(TypeError):
        fold_batchnorm(nn.Linear(3, 4), nn.BatchNorm2d(4))
