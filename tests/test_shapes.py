"""Tests of cnnlib.shapes (conv arithmetic, receptive fields) against torch's own layers,
autograd and hand-worked values; ``summary`` is tested in test_inspection.py."""
import doctest
import itertools
import random

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import cnnlib.shapes
from cnnlib.shapes import conv_output_size, receptive_field, tiles


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The machine is shared; these forward passes are small enough for one thread.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_docstring_examples():
    assert doctest.testmod(cnnlib.shapes).failed == 0


# --------------------------------------------------------------------------- conv arithmetic

GRID = list(itertools.product(range(1, 11), range(1, 5), range(1, 4), range(3), range(1, 3)))  # size k s p d


def test_conv_output_size_matches_conv2d():
    for size, k, s, p, d in GRID:
        x, w = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1)
        try:
            expected = F.conv2d(x, w, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
        except RuntimeError:  # torch refuses: the window does not fit
            with pytest.raises(ValueError, match="does not fit"):
                conv_output_size(size, k, s, p, d)
            continue
        assert conv_output_size(size, k, s, p, d) == expected, (size, k, s, p, d)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_conv_output_size_matches_maxpool2d(ceil_mode):
    for size, k, s, p, d in GRID:
        if p > k // 2:  # torch only allows padding up to half the kernel
            continue
        pool = nn.MaxPool2d((k, 1), (s, 1), (p, 0), (d, 1), ceil_mode=ceil_mode)
        try:
            expected = pool(torch.zeros(1, 1, size, 1)).shape[2]
        except RuntimeError:
            with pytest.raises(ValueError):
                conv_output_size(size, k, s, p, d, ceil_mode=ceil_mode)
            continue
        assert conv_output_size(size, k, s, p, d, ceil_mode=ceil_mode) == expected, (size, k, s, p, d)


def test_tiles_means_the_last_padded_pixel_is_used():
    # Oracle: the window tiles exactly when the last pixel of the padded input gets a gradient.
    checked = 0
    for size, k, s, p, d in GRID:
        padded = torch.ones(1, 1, size + 2 * p, dtype=torch.float64, requires_grad=True)
        if size + 2 * p < d * (k - 1) + 1:
            continue
        F.conv1d(padded, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d).sum().backward()
        assert tiles(size, k, s, p, d) == bool(padded.grad[0, 0, -1] != 0), (size, k, s, p, d)
        checked += 1
    assert checked > 300


def test_tuples_per_dimension():
    conv = nn.Conv2d(1, 1, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    expected = tuple(conv(torch.zeros(1, 1, 224, 160)).shape[2:])
    assert conv_output_size((224, 160), (3, 5), (2, 1), (1, 2), (1, 2)) == expected == (112, 156)
    assert conv_output_size((224, 160), 3, stride=2, padding=1) == (112, 80)
    assert conv_output_size(torch.Size([7, 8]), 2, 2) == (3, 4)
    assert tiles((7, 9), 3, 2) is True
    assert tiles((7, 8), 3, 2) is False  # all dimensions must tile


def test_hand_worked_alexnet_conv1():
    # Krizhevsky et al.: 227x227 input, 96 filters of 11x11x3, stride 4 -> 55x55x96.
    assert conv_output_size(227, kernel=11, stride=4) == 55
    assert tiles(227, 11, 4)
    # torchvision's AlexNet feeds 224 with padding 2: also 55, but one column is dropped.
    assert conv_output_size(224, 11, stride=4, padding=2) == 55
    assert not tiles(224, 11, stride=4, padding=2)
    assert conv_output_size(55, 3, 2) == 27 and conv_output_size(13, 3, 1, 1) == 13


def test_bad_arguments_say_what_to_change():
    with pytest.raises(ValueError, match="kernel 7 spans 7 pixels.*only 5.*smaller kernel"):
        conv_output_size(5, 7)
    with pytest.raises(ValueError, match="dilation 3 spans 7"):
        conv_output_size(5, 3, dilation=3)
    with pytest.raises(ValueError, match="does not fit"):
        tiles(2, 3)
    assert conv_output_size(5, 7, padding=1) == 1
    with pytest.raises(ValueError, match="stride must be at least 1"):
        conv_output_size(10, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be at least 0"):
        conv_output_size(10, 3, padding=-1)
    with pytest.raises(ValueError, match="lengths differ"):
        conv_output_size((10, 10), (3, 3, 3))
    with pytest.raises(TypeError):
        conv_output_size(10.5, 3)
    with pytest.raises(TypeError):
        conv_output_size(10, True)


# --------------------------------------------------------------------------- receptive fields


@pytest.mark.parametrize("n", range(1, 7))
def test_stacked_3x3_convs_see_2n_plus_1(n):
    rf = receptive_field([(3, 1, 1)] * n)
    assert rf.size == 2 * n + 1 and rf.jump == 1 and rf.start == 0
    assert [row.r for row in rf.rows] == [2 * i + 1 for i in range(1, n + 1)]
    module = nn.Sequential(*[m for _ in range(n) for m in (nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())])
    assert receptive_field(module).size == 2 * n + 1


def test_hand_worked_alexnet_receptive_field():
    # conv1 11/4 -> 11; pool 3/2 -> 19; conv2 5 -> 51; pool -> 67; three 3x3 -> 99, 131, 163; pool -> 195.
    rf = receptive_field(torchvision.models.alexnet(weights=None).features)
    assert [row.r for row in rf] == [11, 19, 51, 67, 99, 131, 163, 195]
    assert [row.j for row in rf] == [4, 8, 8, 16, 16, 16, 16, 32]
    assert [row.name for row in rf][:2] == ["0", "2"] and rf[1].type == "MaxPool2d"
    assert rf.size == 195 and len(rf) == 8


def test_dilation_grows_exponentially():
    # 3x3 convs with dilation 1, 2, 4 (Yu & Koltun's context module): 3, 7, 15.
    assert [row.r for row in receptive_field([(3, 1, 1, 1), (3, 1, 2, 2), (3, 1, 4, 4)])] == [3, 7, 15]


def test_non_square_layers_give_tuples():
    rf = receptive_field(nn.Sequential(nn.Conv2d(1, 1, (1, 7)), nn.Conv2d(1, 1, (7, 1)), nn.MaxPool2d(2)))
    assert rf.size == 8 and rf[0].r == (1, 7) and rf[0].kernel == (1, 7)
    assert rf.jump == 2


def test_receptive_field_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="kernel, stride"):
        receptive_field([(3,)])
    with pytest.raises(ValueError, match="no conv or pooling"):
        receptive_field(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(ValueError, match="transposed"):
        receptive_field(nn.Sequential(nn.ConvTranspose2d(1, 1, 3)))


def _random_stack(rng: random.Random):
    """Random conv / average-pool layers as (kernel, stride, padding, dilation) and as modules."""
    layers, modules = [], []
    n_strided = 0
    for _ in range(rng.randint(1, 5)):
        stride = rng.choice([1, 2]) if n_strided < 3 else 1
        n_strided += stride == 2
        if rng.random() < 0.7:
            k, d = rng.randint(1, 4), rng.randint(1, 2)
            p = rng.randint(0, k)
            conv = nn.Conv2d(1, 1, k, stride, p, dilation=d, bias=False).double()
            nn.init.ones_(conv.weight)  # positive weights: no gradient can cancel out
            layers.append((k, stride, p, d))
            modules.append(conv)
        else:  # average, not max, pooling: every input in the window gets a gradient
            k = rng.randint(2, 3)
            p = rng.randint(0, k // 2)
            layers.append((k, stride, p))
            modules.append(nn.AvgPool2d(k, stride, p))
        if rng.random() < 0.5:
            modules.append(nn.ReLU())  # skipped by receptive_field; inputs stay positive
    return layers, nn.Sequential(*modules)


@pytest.mark.parametrize("seed", range(12))
def test_receptive_field_matches_autograd(seed):
    layers, net = _random_stack(random.Random(seed))
    rf = receptive_field(layers)
    assert receptive_field(net).rows[-1].r == rf.size  # the module walk agrees with the tuples
    n = 2 * rf.size + 8 * rf.jump + 16
    x = torch.ones(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = net(x)
    u = y.shape[-1] // 2
    y[0, 0, u, u].backward()
    used = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    lo, hi = used.min().item(), used.max().item()
    assert 0 < lo and hi < n - 1, "the receptive field touched the border; the test needs a larger input"
    assert hi - lo + 1 == rf.size, layers
    assert (lo + hi) / 2 == rf.start + u * rf.jump, layers  # centre of output unit u


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_with_an_even_kernel():
    # padding='same' with kernel 4 pads 1 on the left and 2 on the right: unit u is centred at u + 0.5.
    conv = nn.Conv1d(1, 1, 4, padding="same", bias=False).double()
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 12, dtype=torch.float64, requires_grad=True)
    conv(x)[0, 0, 5].backward()
    used = x.grad[0, 0].nonzero().flatten().tolist()
    rf = receptive_field(nn.Sequential(conv))
    assert rf.size == len(used) == 4 and rf.start == 0.5 == (used[0] + used[-1]) / 2 - 5
    assert rf[0].padding == "same"


def test_receptive_field_table_prints():
    text = str(receptive_field([(3, 1), (2, 2)]))
    assert text == (
        "layer  type  kernel  stride  padding  dilation  r  j  start\n"
        "-----------------------------------------------------------\n"
        "input                                           1  1      0\n"
        "0                 3       1        0         1  3  1      1\n"
        "1                 2       2        0         1  4  2    1.5\n"
        "===========================================================\n"
        "Receptive field: 4"
    )
    assert "<table>" in receptive_field([(3, 1)])._repr_html_()

