"""Tests of cnnlib.viz.gabor against skimage.filters.gabor_kernel and brute-force searches."""
import math

import numpy as np
import pytest
import torch
from skimage.filters import gabor_kernel

from cnnlib.initialisation import gabor_bank
from cnnlib.viz.gabor import (gabor, gabor_likeness, shuffle_pixels, skimage_args, symbols_from_skimage,
                              texture_energy)

# The bank chapter 13 scores the learned 7x7 filters against.
LIKENESS_BANK = dict(wavelengths=(2.5, 3.5, 5, 7, 10, 14), orientations=12,
                     phases=(0, math.pi / 4, math.pi / 2, 3 * math.pi / 4), sigmas=(1.0, 1.5, 2.0, 3.0),
                     gammas=(0.5, 1.0))

CASES = [  # (frequency, theta, sigma_x, sigma_y, offset)
    (0.1, 0.0, 3.0, 3.0, 0.0),
    (0.2, math.pi / 6, 2.0, 4.0, 0.0),
    (0.15, 2.0, 4.0, 1.5, math.pi / 3),
    (0.3, -0.7, 1.5, 3.0, -1.0),
]


@pytest.mark.parametrize("frequency, theta, sigma_x, sigma_y, offset", CASES)
def test_equation_matches_skimage_real_part(frequency, theta, sigma_x, sigma_y, offset):
    kernel = gabor_kernel(frequency, theta=theta, sigma_x=sigma_x, sigma_y=sigma_y, offset=offset)
    symbols = symbols_from_skimage(frequency, theta, sigma_x=sigma_x, sigma_y=sigma_y, offset=offset)
    ours = gabor(kernel.shape, **symbols) / (2 * math.pi * sigma_x * sigma_y)
    np.testing.assert_allclose(ours, kernel.real, atol=1e-12)


@pytest.mark.parametrize("frequency, theta, sigma_x, sigma_y, offset", CASES)
def test_skimage_args_is_the_inverse_mapping(frequency, theta, sigma_x, sigma_y, offset):
    symbols = symbols_from_skimage(frequency, theta, sigma_x=sigma_x, sigma_y=sigma_y, offset=offset)
    args = skimage_args(**symbols)
    assert args == pytest.approx(dict(frequency=frequency, theta=theta, sigma_x=sigma_x,
                                      sigma_y=sigma_y, offset=offset))
    np.testing.assert_allclose(gabor_kernel(**args), gabor_kernel(frequency, theta, sigma_x=sigma_x,
                                                                  sigma_y=sigma_y, offset=offset))


def test_default_sigma_follows_skimage_bandwidth():
    for bandwidth in (0.5, 1.0, 2.0):
        symbols = symbols_from_skimage(0.2, 0.3, bandwidth=bandwidth)
        kernel = gabor_kernel(0.2, theta=0.3, bandwidth=bandwidth)
        sigma = symbols["sigma"]
        assert symbols["gamma"] == 1
        np.testing.assert_allclose(gabor(kernel.shape, **symbols) / (2 * math.pi * sigma**2),
                                   kernel.real, atol=1e-12)


def test_hand_values():
    # theta = 0, psi = 0: g(x, 0) = exp(-x²/2σ²) cos(2πx/λ); on a 5x5 grid x runs -2..2.
    g = gabor(5, wavelength=4, sigma=2)
    assert g[2, 2] == pytest.approx(1.0)
    assert g[2, 3] == pytest.approx(0.0, abs=1e-12)  # a quarter wavelength away
    assert g[2, 4] == pytest.approx(-math.exp(-0.5))
    # theta = pi/2 turns the stripes: the wave now runs down the rows.
    assert np.allclose(gabor(5, 4, math.pi / 2, sigma=2), g.T)


def brute_force_likeness(filters, bank):
    """Best cosine over bank elements and colour vectors, the colour found by least squares."""
    scores = []
    for f in filters.double().numpy():
        f = f.reshape(len(f), -1)
        f = f - f.mean(1, keepdims=True)
        best = 0.0
        for g in bank.double().numpy():
            g = g.reshape(-1) - g.mean()
            colour = f @ g / (g @ g)  # least squares: the best c for f ≈ c ⊗ g
            fitted = np.outer(colour, g)
            cosine = (f * fitted).sum() / (np.linalg.norm(f) * np.linalg.norm(fitted) + 1e-30)
            best = max(best, cosine)
        scores.append(best)
    return np.array(scores)


def test_likeness_matches_a_brute_force_search():
    bank = gabor_bank(5, wavelengths=(3, 6), orientations=4, phases=(0, math.pi / 2), sigmas=(1.5,))[:, 0]
    filters = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    scores, _ = gabor_likeness(filters, bank)
    np.testing.assert_allclose(scores.numpy(), brute_force_likeness(filters, bank), rtol=1e-5)


def test_a_coloured_offset_bank_gabor_scores_one_and_noise_scores_less():
    bank = gabor_bank(7, **LIKENESS_BANK)  # n × 1 × 7 × 7: gabor_likeness takes it as it is
    colour = torch.tensor([0.5, -1.0, 2.0])
    offset = torch.tensor([3.0, -1.0, 0.2])
    k = 123
    filt = colour[:, None, None] * bank[k, 0] + offset[:, None, None]  # sign, colour and DC change
    scores, index = gabor_likeness(filt[None], bank)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert index[0] == k
    noise = torch.randn(50, 3, 7, 7, generator=torch.Generator().manual_seed(0))
    assert gabor_likeness(noise, bank)[0].max() < 0.9


def test_shuffling_keeps_values_and_destroys_the_gabor():
    bank = gabor_bank(7, **LIKENESS_BANK)[:, 0]
    filt = torch.stack([bank[40], bank[40], -bank[40]])[None]
    shuffled = shuffle_pixels(filt, seed=0)
    assert torch.equal(filt.flatten(2).sort(2).values, shuffled.flatten(2).sort(2).values)
    assert gabor_likeness(shuffled, bank)[0][0] < 0.9 < gabor_likeness(filt, bank)[0][0]


def test_texture_energy_prefers_stripes_of_its_own_orientation():
    y, x = np.mgrid[0:64, 0:64]
    vertical_stripes = np.cos(2 * np.pi * x / 6)  # the wave runs along x
    along = texture_energy(vertical_stripes, wavelength=6, theta=0)
    across = texture_energy(vertical_stripes, wavelength=6, theta=math.pi / 2)
    assert along[20:44, 20:44].mean() > 10 * across[20:44, 20:44].mean()
    # Energy (even² + odd²) does not care where the stripes fall: nearly flat inside.
    inner = along[20:44, 20:44]
    assert inner.std() < 0.02 * inner.mean()


def test_likeness_refuses_a_bank_of_another_size():
    with pytest.raises(ValueError, match=r"k × k = \(7, 7\), got \(8, 1, 5, 5\); build it with gabor_bank\(size=k\)"):
        gabor_likeness(torch.zeros(2, 3, 7, 7), gabor_bank(5, orientations=2))
