import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.initialisation import (activation_stats, copy_conv, fans, first_conv, freeze, gabor_bank,
                                   gabor_parameters, init_std, init_weights, kmeans_filters,
                                   random_patches, set_filters, zca_whitening)
from cnnlib.data import DeviceLoader
from cnnlib.initialisation import whiten_first_conv
from cnnlib.models import conv_stack, convnet


def test_fans_match_torch():
    for weight in (torch.empty(64, 3, 5, 5), torch.empty(10, 128), torch.empty(32, 8, 3, 3)):
        assert fans(weight) == nn.init._calculate_fan_in_and_fan_out(weight)


def test_init_std_matches_torch_formulas():
    w = torch.empty(256, 128, 3, 3)
    fan_in, fan_out = 128 * 9, 256 * 9
    assert init_std(w, "he") == pytest.approx(math.sqrt(2 / fan_in))
    assert init_std(w, "glorot") == pytest.approx(math.sqrt(2 / (fan_in + fan_out)))
    assert init_std(w, "normal", std=0.3) == 0.3
    # torch's own initialisers draw with the same spread
    torch.manual_seed(0)
    assert nn.init.kaiming_normal_(w.clone(), nonlinearity="relu").std().item() == pytest.approx(init_std(w, "he"), rel=0.01)
    assert nn.init.xavier_normal_(w.clone()).std().item() == pytest.approx(init_std(w, "glorot"), rel=0.01)
    with pytest.raises(ValueError):
        init_std(w, "lecun")


def test_init_weights_draws_with_that_std_and_zeroes_biases():
    model = nn.Sequential(nn.Conv2d(16, 128, 3), nn.ReLU(), nn.Linear(512, 256))
    init_weights(model, "he", generator=torch.Generator().manual_seed(0))
    assert model[0].weight.std().item() == pytest.approx(math.sqrt(2 / 144), rel=0.02)
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    assert model[0].bias.abs().max() == 0 and model[2].bias.abs().max() == 0


def test_activation_stats_follow_a_manual_forward_pass():
    torch.manual_seed(0)
    stack = conv_stack(depth=3, width=8, activation="tanh")
    x = torch.randn(4, 3, 8, 8)
    stats = activation_stats(stack, x)
    assert [s["layer"] for s in stats] == [1, 2, 3]
    h = x
    for i, conv in enumerate(stack[::2]):
        h = torch.tanh(F.conv2d(h, conv.weight, padding=1))
        assert stats[i]["std"] == pytest.approx(h.std().item(), rel=1e-5)
        assert stats[i]["mean"] == pytest.approx(h.mean().item(), rel=1e-4, abs=1e-6)


def test_he_keeps_relu_activations_and_small_init_makes_them_vanish():
    x = torch.randn(8, 3, 16, 16)
    he = activation_stats(init_weights(conv_stack(10, 32), "he", generator=torch.Generator().manual_seed(0)), x)
    small = activation_stats(init_weights(conv_stack(10, 32), "normal", std=0.01,
                                          generator=torch.Generator().manual_seed(0)), x)
    assert 0.2 < he[-1]["std"] / he[1]["std"] < 5
    assert small[-1]["std"] < 1e-10


def test_random_patches_are_windows_of_the_images():
    # Every pixel value is unique, so a patch tells where it came from.
    images = torch.arange(3 * 2 * 10 * 12, dtype=torch.float32).reshape(3, 2, 10, 12)
    patches = random_patches(images, 4, 50, seed=1)
    assert patches.shape == (50, 2, 4, 4)
    for p in patches:
        n, c, r, col = np.unravel_index(int(p[0, 0, 0]), images.shape)
        assert c == 0
        assert torch.equal(p, images[n, :, r:r + 4, col:col + 4])
    assert torch.equal(patches, random_patches(images, 4, 50, seed=1))


@pytest.mark.parametrize("zca", [True, False])
def test_whitening_gives_identity_covariance(zca):
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=g)
    x = torch.randn(20000, 6, generator=g) @ mixing + 3.0
    w, mean = zca_whitening(x, eps=1e-9, zca=zca)
    z = ((x - mean) @ w).numpy()
    assert np.allclose(np.cov(z, rowvar=False), np.eye(6), atol=1e-3)
    assert torch.allclose(mean, x.mean(0), atol=1e-4)
    if zca:  # ZCA's matrix is symmetric: the whitened data stays closest to the original
        assert torch.allclose(w, w.T, atol=1e-5)


def test_kmeans_filters_find_planted_patterns():
    # Patches are noisy copies of 3 zero-mean patterns; k-means must recover them (up to order and scale).
    g = torch.Generator().manual_seed(0)
    patterns = torch.randn(3, 1, 3, 3, generator=g)
    patterns -= patterns.mean((1, 2, 3), keepdim=True)
    which = torch.randint(0, 3, (600,), generator=g)
    patches = 5 * patterns[which] + 0.05 * torch.randn(600, 1, 3, 3, generator=g)
    filters, centroids = kmeans_filters(patches, 3, whiten=None, minibatch=False)
    assert filters.shape == (3, 1, 3, 3) and centroids.shape == (3, 9)
    unit = patterns.flatten(1) / patterns.flatten(1).norm(dim=1, keepdim=True)
    similarity = filters.flatten(1) @ unit.T  # cosines
    assert torch.allclose(similarity.max(0).values, torch.ones(3), atol=1e-3)


def test_whitened_kmeans_filters_are_the_centroids_seen_through_the_whitening():
    g = torch.Generator().manual_seed(1)
    patches = torch.randn(3000, 2, 3, 3, generator=g).cumsum(-1)  # correlated neighbours
    filters, centroids = kmeans_filters(patches, 4, whiten="zca", eps=0.1, seed=0)
    x = patches.flatten(1) - patches.flatten(1).mean(1, keepdim=True)
    w, mean = zca_whitening(x, 0.1)
    # response of a centroid to whitened patches == response of its filter to raw patches + a constant
    by_centroid = ((x - mean) @ w) @ centroids.T
    by_filter = x @ filters.flatten(1).T
    for k in range(4):
        ratio = torch.linalg.lstsq(torch.stack([by_filter[:, k], torch.ones(len(x))], 1),
                                   by_centroid[:, k:k + 1]).solution
        fitted = ratio[0] * by_filter[:, k] + ratio[1]
        assert torch.allclose(fitted, by_centroid[:, k], atol=1e-3 * by_centroid[:, k].abs().max())
    assert torch.allclose(filters.flatten(1).norm(dim=1), torch.ones(4), atol=1e-5)


def _skimage_filter(size, wavelength, theta, phase, sigma=None, gamma=1.0, bandwidth=1.0):
    """Oracle: the real part of skimage's gabor_kernel, centre size x size, zero-mean, unit-norm."""
    from skimage.filters import gabor_kernel

    if sigma is None:  # skimage's own envelope for the bandwidth
        kernel = gabor_kernel(1 / wavelength, theta=theta, bandwidth=bandwidth, offset=phase, n_stds=20)
    else:
        kernel = gabor_kernel(1 / wavelength, theta=theta, sigma_x=sigma, sigma_y=sigma / gamma, offset=phase,
                              n_stds=20)
    (rows, cols), half = kernel.shape, size // 2
    assert min(rows, cols) >= size  # n_stds=20: nothing is cut off
    g = kernel.real[rows // 2 - half:rows // 2 + half + 1, cols // 2 - half:cols // 2 + half + 1]
    g = g - g.mean()
    return g / np.linalg.norm(g)


def test_gabor_bank_matches_skimage_in_the_parameters_order():
    settings = dict(wavelengths=(3.0, 7.0), orientations=3, phases=(0.0, 1.2), sigmas=(1.5, 3.0),
                    gammas=(0.5, 1.0))
    bank, params = gabor_bank(9, **settings), gabor_parameters(**settings)
    assert bank.shape == (2 * 3 * 2 * 2 * 2, 1, 9, 9) and len(params) == len(bank)
    assert params[0] == dict(wavelength=3.0, theta=0.0, phase=0.0, sigma=1.5, gamma=0.5)
    assert params[-1] == dict(wavelength=7.0, theta=2 * math.pi / 3, phase=1.2, sigma=3.0, gamma=1.0)
    for filt, p in zip(bank[:, 0].numpy(), params):
        assert np.allclose(filt, _skimage_filter(9, **p), atol=1e-6)
    assert torch.allclose(bank.flatten(1).norm(dim=1), torch.ones(len(bank)), atol=1e-5)


def test_gabor_bank_default_envelope_is_skimages_bandwidth():
    # Chapter 2's bank: 8 orientations, wavelengths 4 and 2.5 (skimage frequencies 0.25 and 0.4), 2 phases.
    bank = gabor_bank(5, wavelengths=(4.0, 2.5), orientations=8, phases=(0.0, math.pi / 2), in_channels=3)
    params = gabor_parameters(wavelengths=(4.0, 2.5), orientations=8, phases=(0.0, math.pi / 2))
    assert bank.shape == (32, 3, 5, 5)
    for filt, p in zip(bank.numpy(), params):
        assert p["gamma"] == 1.0
        # the same grey filter on each channel, scaled so that the whole filter has unit norm
        assert np.allclose(filt * math.sqrt(3), _skimage_filter(5, p["wavelength"], p["theta"], p["phase"]),
                           atol=1e-6)
    assert np.allclose(gabor_bank(5, wavelengths=(2.5,), orientations=1, phases=(0.0,), bandwidth=2.0)[0, 0],
                       _skimage_filter(5, 2.5, 0.0, 0.0, bandwidth=2.0), atol=1e-6)


def test_one_gabor_bank():
    # There used to be a second one in cnnlib.viz (wavelengths, a (bank, params) tuple).
    import cnnlib.viz
    import cnnlib.viz.gabor

    assert not hasattr(cnnlib.viz, "gabor_bank") and not hasattr(cnnlib.viz.gabor, "gabor_bank")
    with pytest.raises(ValueError, match="wavelengths is empty"):
        gabor_bank(5, wavelengths=())


def test_copy_set_and_freeze():
    torch.manual_seed(0)
    source = nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU())
    target = nn.Sequential(nn.Identity(), nn.Conv2d(3, 8, 5), nn.ReLU(), nn.Conv2d(8, 4, 3))
    conv = first_conv(target)
    assert conv is target[1]
    copy_conv(first_conv(source), conv)
    x = torch.randn(2, 3, 9, 9)
    assert torch.equal(conv(x), source[0](x))
    with pytest.raises(ValueError):
        copy_conv(source[0], target[3])
    bank = gabor_bank(5, orientations=2, wavelengths=(1 / 0.3,), phases=(0.0,), in_channels=3)  # 2 filters for 8
    before = conv.weight[2:].clone()
    set_filters(conv, bank)
    assert torch.allclose(conv.weight[:2], bank * math.sqrt(2))
    assert torch.equal(conv.weight[2:], before) and conv.bias.abs().max() == 0
    freeze(conv)
    assert not any(p.requires_grad for p in conv.parameters())
    assert all(p.requires_grad for p in target[3].parameters())
    with pytest.raises(ValueError):
        first_conv(nn.Sequential(nn.Linear(2, 2)))


# --------------------------------------------------------------------------- freeze
# One ``freeze`` serves chapter 2 (a single layer) and chapter 10 (all but the top blocks).


def small_convnet():
    torch.manual_seed(0)
    return convnet(num_classes=5, widths=(4, 8, 8, 16))


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_freeze_a_single_layer_freezes_its_own_parameters():
    # A layer without children: the parameters are the layer's own.
    conv = nn.Conv2d(3, 4, 3)
    assert freeze(conv) is conv
    assert not any(p.requires_grad for p in conv.parameters())
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2))
    freeze(net[0])
    assert trainable(net) == 4 * 2 + 2


def test_freeze_keeps_all_but_the_named_children_fixed():
    model = freeze(small_convnet(), trainable=("layer4", "fc"))
    assert trainable(model) == (9 * 8 * 16 + 2 * 16) + 16 * 5 + 5
    assert trainable(freeze(small_convnet(), trainable="fc")) == 16 * 5 + 5  # a name, not letters
    assert trainable(freeze(small_convnet())) == 0


def test_frozen_batchnorm_keeps_its_statistics_in_training_mode():
    model = freeze(small_convnet(), trainable=("layer4", "fc"))
    before = model.layer1[1].running_mean.clone()
    model.train()  # what fit does
    assert not model.layer1.training and not model.layer1[1].training and model.layer4.training
    model(torch.randn(8, 3, 32, 32) * 5 + 3)
    assert torch.equal(model.layer1[1].running_mean, before)
    assert not torch.equal(model.layer4[1].running_mean, torch.zeros(16))
    whole = freeze(small_convnet())
    whole.train()
    assert not any(m.training for m in whole.modules())


def test_freeze_survives_a_copy():
    import copy

    model = copy.deepcopy(freeze(small_convnet(), trainable=("fc",)))
    model.train()
    assert not model.layer2.training and model.fc.training and trainable(model) == 16 * 5 + 5


def test_freeze_rejects_a_name_that_is_not_a_child():
    with pytest.raises(ValueError, match=r"\['head'\] are not children.*'fc'"):
        freeze(small_convnet(), trainable=("head",))


# ----------------------------------------------------------------------------------------
# A whitened first layer (fit's ``whiten=`` option)

def _patch_covariance(conv, images):
    """Covariance of the conv's outputs over every patch position (an independent oracle)."""
    with torch.no_grad():
        out = conv(images).permute(1, 0, 2, 3).reshape(conv.out_channels, -1)
    return torch.cov(out.double())


@pytest.mark.parametrize("kind", ["zca", "pca"])
def test_whiten_first_conv_decorrelates_the_patches(tiny_dataset, kind):
    x = next(iter(DeviceLoader(tiny_dataset, 256, device="cpu")))[0]
    conv = nn.Conv2d(3, 12, 2)  # 3*2*2 = 12 patch dimensions: one filter each
    whiten_first_conv(nn.Sequential(conv), x, kind=kind, eps=1e-6, patches=20_000)
    cov = _patch_covariance(conv, x)
    assert torch.allclose(cov, torch.eye(12, dtype=cov.dtype), atol=0.08)
    with torch.no_grad():  # the bias removes the patch mean
        assert conv(x).mean((0, 2, 3)).abs().max() < 0.05
    if kind == "zca":  # ZCA's matrix is symmetric: filter i's weight on pixel j is filter j's on i
        w = conv.weight.reshape(12, 12)
        assert torch.allclose(w, w.T, atol=1e-4)


def test_whiten_first_conv_uses_plus_and_minus_filters_or_the_strongest_ones(tiny_dataset):
    x = next(iter(DeviceLoader(tiny_dataset, 256, device="cpu")))[0]
    wide = nn.Conv2d(3, 24, 2)
    whiten_first_conv(wide, x, kind="pca")
    assert torch.equal(wide.weight[12:], -wide.weight[:12])
    narrow = nn.Conv2d(3, 4, 2)
    whiten_first_conv(narrow, x, kind="pca", eps=1e-6, patches=20_000)
    variances = _patch_covariance(narrow, x).diagonal()
    assert torch.allclose(variances, torch.ones(4, dtype=variances.dtype), atol=0.08)
    with pytest.raises(ValueError, match="unknown whitening 'svd'"):
        whiten_first_conv(narrow, x, kind="svd")
