"""Tests of cnnlib.viz.attribution: Saliency against gradients worked out by hand, Occlusion
against a brute-force, pixel-by-pixel implementation of captum's rules and hand-worked values."""
import itertools

import pytest
import torch
from torch import nn

from cnnlib.viz.attribution import Occlusion, Saliency, TargetError, saliency_map

@pytest.fixture(autouse=True)
def float64():
    # Exact comparisons need double precision; restore the default for the other test files.
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


# ----------------------------------------------------------------------------- saliency

def test_saliency_of_a_linear_model_is_its_weight_row():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3 * 2 * 2, generator=g)
    model = lambda x: x.flatten(1) @ w.T  # noqa: E731
    x = torch.randn(2, 3, 2, 2, generator=g)
    attr = Saliency(model).attribute(x, target=[1, 3])
    assert torch.allclose(attr[0], w[1].reshape(3, 2, 2).abs())
    assert torch.allclose(attr[1], w[3].reshape(3, 2, 2).abs())
    signed = Saliency(model).attribute(x, target=2, abs=False)
    assert torch.allclose(signed, w[2].reshape(1, 3, 2, 2).expand(2, -1, -1, -1))


def test_saliency_of_a_relu_net_by_hand():
    # f(x) = v . relu(U x): df/dx = U^T (v * [U x > 0]).
    U = torch.tensor([[1.0, -2.0], [3.0, 1.0], [-1.0, -1.0]])
    v = torch.tensor([[2.0, -1.0, 4.0]])
    model = lambda x: torch.relu(x @ U.T) @ v.T  # noqa: E731  one output per example
    x = torch.tensor([[1.0, 1.0], [-1.0, 2.0]])
    # example 0: U x = (-1, 4, -2) -> only unit 1 on -> grad = -1 * (3, 1) = (-3, -1)
    # example 1: U x = (-5, -1, -1) -> all off -> grad = 0
    grad = Saliency(model).attribute(x, abs=False)
    assert torch.allclose(grad, torch.tensor([[-3.0, -1.0], [0.0, 0.0]]))


def test_saliency_map_is_the_max_over_channels_of_the_absolute_gradient():
    # S(x) = sum(a * x^2): dS/dx = 2 a x.
    a = torch.tensor([1.0, -3.0, 0.5]).reshape(1, 3, 1, 1)
    model = lambda x: (a * x**2).sum(dim=(1, 2, 3))[:, None]  # noqa: E731
    x = torch.tensor([[[[1.0, -2.0]], [[0.5, 0.1]], [[-4.0, 1.0]]]])
    attr = Saliency(model).attribute(x, target=0)
    assert torch.allclose(attr, (2 * a * x).abs())
    assert torch.allclose(saliency_map(attr), torch.tensor([[[4.0, 4.0]]]))


# ----------------------------------------------------------------------------- occlusion

def brute_force_occlusion(f, x, window, stride, baseline, target):
    """Each pixel: the average, over every window that covers it, of f(x) - f(occluded x)."""
    _, c, h, w = x.shape
    wc, wh, ww = window
    sc, sh, sw = stride
    starts = [list(range(0, max(size - win, 0) + step, step)) if size > win else [0]
              for size, win, step in ((c, wc, sc), (h, wh, sh), (w, ww, sw))]
    # range(0, size - win + step, step) = the ceil((size - win)/step) + 1 starts captum uses.
    out = torch.zeros_like(x)
    for n in range(len(x)):
        base = f(x[n:n + 1])[0, target[n]]
        drops = {}
        for s in itertools.product(*starts):
            occluded = x[n:n + 1].clone()
            occluded[0, s[0]:s[0] + wc, s[1]:s[1] + wh, s[2]:s[2] + ww] = baseline
            drops[s] = base - f(occluded)[0, target[n]]
        for i, j, k in itertools.product(range(c), range(h), range(w)):
            inside = [d for s, d in drops.items()
                      if s[0] <= i < s[0] + wc and s[1] <= j < s[1] + wh and s[2] <= k < s[2] + ww]
            out[n, i, j, k] = sum(inside) / len(inside)
    return out


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4)).double()


@pytest.mark.parametrize("window, stride", [
    ((2, 3, 3), (2, 1, 1)),   # overlapping windows
    ((1, 2, 2), (1, 2, 2)),   # tiles exactly, one channel at a time
    ((2, 3, 2), (2, 2, 2)),   # width: (7 - 2)/2 is not whole, so the last window hangs over the edge
])
def test_occlusion_matches_brute_force(window, stride):
    model = small_cnn()
    x = torch.randn(2, 2, 7, 7, generator=torch.Generator().manual_seed(3))
    model(x)  # materialise the lazy layer
    target = [0, 3]
    ours = Occlusion(model).attribute(x, sliding_window_shapes=window, strides=stride, target=target,
                                      perturbations_per_eval=4)
    expected = brute_force_occlusion(model, x, window, stride, 0.0, target)
    assert torch.allclose(ours, expected, atol=1e-10)
    with_baseline = Occlusion(model).attribute(x, window, stride, baselines=0.7, target=target)
    assert torch.allclose(with_baseline, brute_force_occlusion(model, x, window, stride, 0.7, target),
                          atol=1e-10)


def test_occlusion_of_a_linear_model_by_hand():
    # f(x) = sum(w * x) on a 1 x 1 x 5 input, window 2, stride 2: windows start at 0, 2, 4
    # (ceil((5 - 2)/2) + 1 = 3; the last one is cut to 1 element). No overlap, so each element
    # gets the drop of its own window: the sum of w * x over that window.
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    model = lambda x: (x.flatten(1) * w).sum(1, keepdim=True)  # noqa: E731
    x = torch.tensor([1.0, 1.0, 2.0, -1.0, 2.0]).reshape(1, 1, 1, 5)
    attr = Occlusion(model).attribute(x, (1, 1, 2), strides=(1, 1, 2), target=0)
    assert attr.flatten().tolist() == [3.0, 3.0, 2.0, 2.0, 10.0]
    # Stride 1, window 2: element k is covered by windows k-1 and k (where they exist).
    attr = Occlusion(model).attribute(x, (1, 1, 2), strides=1, target=0)
    drops = [3.0, 8.0, 2.0, 6.0]  # windows (0,1), (1,2), (2,3), (3,4)
    assert attr.flatten().tolist() == pytest.approx(
        [drops[0], (drops[0] + drops[1]) / 2, (drops[1] + drops[2]) / 2, (drops[2] + drops[3]) / 2, drops[3]])


def test_a_window_as_large_as_the_input_gives_one_number_everywhere():
    model = small_cnn()
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    model(x)
    attr = Occlusion(model).attribute(x, (2, 5, 5), target=1)
    expected = model(x)[0, 1] - model(torch.zeros_like(x))[0, 1]
    assert torch.allclose(attr, expected.expand_as(attr))


def test_occlusion_refuses_a_stride_that_skips_inputs():
    with pytest.raises(ValueError, match="skip"):
        Occlusion(lambda x: x.flatten(1)).attribute(torch.zeros(1, 1, 6, 6), (1, 2, 2), strides=(1, 3, 3), target=0)


# ----------------------------------------------------------------------------- targets, extra arguments

def test_a_target_shorter_than_the_batch_is_refused():
    # Before: Saliency gathered 2 of the 3 examples and gave the third a map of zeros.
    w = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    model = lambda x: x @ w.T  # noqa: E731
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    for target in ([1, 2], torch.tensor([1, 2]), [0, 1, 2, 3]):
        with pytest.raises(TargetError, match=r"entries for a batch of 3 examples: give one per example"):
            Saliency(model).attribute(x, target=target)
        with pytest.raises(TargetError, match="for a batch of 3"):
            Occlusion(model).attribute(x, (2,), target=target)
    with pytest.raises(TargetError, match="several outputs per example"):
        Saliency(model).attribute(x)
    one = Saliency(model).attribute(x, target=torch.tensor([2]))  # one element: the same for all
    assert torch.allclose(one, w[2].abs().expand(3, -1))


def test_additional_forward_args_reach_the_model_by_hand():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    model = lambda x, scale, shift=0.0: (x.flatten(1) * w).sum(1, keepdim=True) * scale + shift  # noqa: E731
    x = torch.tensor([[1.0, 1.0, 2.0, -1.0, 2.0], [0.0, 1.0, 0.0, 1.0, 0.0]]).reshape(2, 1, 1, 5)
    scale = torch.tensor([[2.0], [3.0]])  # one per example: repeated with the occluded copies
    attr = Occlusion(model).attribute(x, (1, 1, 2), strides=(1, 1, 2), target=0,
                                      additional_forward_args=(scale, 1.0), perturbations_per_eval=3)
    # windows (0,1), (2,3), (4): example 0 drops 2*(3, 2, 10), example 1 drops 3*(2, 4, 0)
    assert attr.flatten(1).tolist() == [[6.0, 6.0, 4.0, 4.0, 20.0], [6.0, 6.0, 12.0, 12.0, 0.0]]
    grad = Saliency(model).attribute(x, target=0, additional_forward_args=scale)
    assert torch.allclose(grad.flatten(1), scale * w)


def test_occlusion_of_one_number_for_the_whole_batch_by_hand():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    total = lambda x: (x.flatten(1) * w).sum()  # noqa: E731  aggregated over the batch
    x = torch.tensor([[1.0, 1.0, 2.0, -1.0, 2.0], [0.0, 1.0, 0.0, 1.0, 0.0]]).reshape(2, 1, 1, 5)
    attr = Occlusion(total).attribute(x, (1, 1, 2), strides=(1, 1, 2))
    # each window is occluded in both examples: drops 3 + 2, 2 + 4, 10 + 0
    assert attr.shape == (1, 1, 1, 5) and attr.flatten().tolist() == [5.0, 5.0, 6.0, 6.0, 10.0]
    with pytest.raises(TargetError, match="leave target=None"):
        Occlusion(total).attribute(x, (1, 1, 2), target=0)
    with pytest.raises(ValueError, match="perturbations_per_eval=1"):
        Occlusion(total).attribute(x, (1, 1, 2), perturbations_per_eval=2)


# ----------------------------------------------------------------------------- against captum

def test_saliency_and_occlusion_match_captum():
    captum_attr = pytest.importorskip("captum.attr")
    model = small_cnn().eval()
    x = torch.randn(3, 2, 7, 7, generator=torch.Generator().manual_seed(5))
    model(x)
    gate = torch.tensor([[1.0], [0.5], [2.0]])
    gated = lambda x, gate: model(x) * gate  # noqa: E731
    target = [3, 0, 1]
    assert torch.allclose(Saliency(gated).attribute(x, target=target, additional_forward_args=gate),
                          captum_attr.Saliency(gated).attribute(x, target=target, additional_forward_args=gate))
    settings = dict(sliding_window_shapes=(2, 3, 3), strides=(1, 2, 2), baselines=0.3, target=target,
                    additional_forward_args=(gate,), perturbations_per_eval=5)
    assert torch.allclose(Occlusion(gated).attribute(x, **settings),
                          captum_attr.Occlusion(gated).attribute(x, **settings), atol=1e-10)
    summed = lambda x: model(x).softmax(1)[:, 2].sum()  # noqa: E731  one number for the batch
    settings = dict(sliding_window_shapes=(1, 3, 2), strides=(1, 2, 2))
    assert torch.allclose(Occlusion(summed).attribute(x, **settings),
                          captum_attr.Occlusion(summed).attribute(x, **settings), atol=1e-10)
    with pytest.raises(AssertionError):  # captum refuses a short target too
        captum_attr.Saliency(gated).attribute(x, target=target[:2], additional_forward_args=gate)
