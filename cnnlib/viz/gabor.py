"""Gabor filters: the equation, skimage's arguments, a bank, and how Gabor-like filters are.

Taught in chapter 13 ("What does a CNN learn?"). The Gabor function is a cosine wave under a
Gaussian envelope:

    g(x, y) = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / lambda + psi)
    x' =  x cos(theta) + y sin(theta),   y' = -x sin(theta) + y cos(theta)

with wavelength lambda, orientation theta, phase psi, envelope width sigma and aspect ratio gamma.
Here x runs to the right and y *down* (image rows), as in skimage, so a positive theta turns the
stripes clockwise on screen.

``skimage.filters.gabor_kernel(frequency, theta, bandwidth, sigma_x, sigma_y, n_stds, offset)``
computes the complex version ``exp(-(x'^2/sigma_x^2 + y'^2/sigma_y^2)/2) / (2 pi sigma_x sigma_y)
* exp(i (2 pi frequency x' + offset))``; its real part is ``g`` divided by ``2 pi sigma_x sigma_y``
with lambda = 1/frequency, theta = theta, psi = offset, sigma = sigma_x, gamma = sigma_x/sigma_y
(:func:`symbols_from_skimage`, :func:`skimage_args`).

The equation itself (``gabor``) and the bank to compare learned filters with (``gabor_bank``,
``gabor_parameters``) are in ``cnnlib.initialisation``, where chapter 2 uses them as first-layer
filters.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# The equation lives with the Gabor *bank* of first-layer filters (chapter 2); drawn and scored here.
from ..initialisation import gabor, sigma_from_bandwidth


def symbols_from_skimage(frequency: float, theta: float = 0.0, bandwidth: float = 1.0,
                         sigma_x: float | None = None, sigma_y: float | None = None,
                         offset: float = 0.0) -> dict:
    """The equation's (wavelength, theta, phase, sigma, gamma) for ``gabor_kernel``'s arguments."""
    sigma_x = sigma_from_bandwidth(frequency, bandwidth) if sigma_x is None else sigma_x
    sigma_y = sigma_from_bandwidth(frequency, bandwidth) if sigma_y is None else sigma_y
    return {"wavelength": 1 / frequency, "theta": theta, "phase": offset, "sigma": sigma_x,
            "gamma": sigma_x / sigma_y}


def skimage_args(wavelength: float, theta: float = 0.0, phase: float = 0.0, sigma: float = 2.0,
                 gamma: float = 1.0) -> dict:
    """``gabor_kernel`` keyword arguments that draw the equation with these symbols."""
    return {"frequency": 1 / wavelength, "theta": theta, "sigma_x": sigma, "sigma_y": sigma / gamma,
            "offset": phase}


# ----------------------------------------------------------------------------- likeness score

def gabor_likeness(filters: torch.Tensor, bank: torch.Tensor):
    """How close each filter is to a (coloured) Gabor of the bank: best cosine similarity.

    ``filters`` is out × C × k × k, ``bank`` n × k × k (or n × 1 × k × k, as ``gabor_bank`` makes
    it). Means are removed first (per filter and
    channel, and per bank element), so a flat colour offset does not count. A filter is compared
    with ``c ⊗ g`` for every bank element ``g`` and the best colour vector ``c`` (any sign), which
    gives cosine ``||W g|| / (||W|| ||g||)`` where ``(W g)_ch = <W_ch, g>``. Returns
    ``(scores, best_index)``, one per filter; a score is in [0, 1].
    """
    given = tuple(bank.shape)
    if bank.dim() == 4 and bank.shape[1] == 1:
        bank = bank[:, 0]
    if bank.dim() != 3 or tuple(bank.shape[1:]) != tuple(filters.shape[2:]):
        raise ValueError(f"the bank must be n × k × k with the filters' k × k = {tuple(filters.shape[2:])}, got "
                         f"{given}; build it with gabor_bank(size=k) (in_channels=1)")
    w = filters.detach().float().cpu().flatten(2)  # out × C × k²
    w = w - w.mean(dim=2, keepdim=True)
    g = bank.float().flatten(1)
    g = g - g.mean(dim=1, keepdim=True)
    g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    projections = w @ g.T  # out × C × n: each channel's component along each unit-norm Gabor
    cosines = projections.norm(dim=1) / w.flatten(1).norm(dim=1, keepdim=True).clamp_min(1e-12)
    scores, index = cosines.max(dim=1)
    return scores, index


def shuffle_pixels(filters: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The same filters with their k×k positions permuted (the same way in every channel).

    A control for :func:`gabor_likeness`: the same weight values, no spatial structure.
    """
    g = torch.Generator().manual_seed(seed)
    flat = filters.detach().flatten(2)
    order = torch.stack([torch.randperm(flat.shape[2], generator=g) for _ in range(len(flat))])
    shuffled = flat.gather(2, order[:, None, :].expand_as(flat))
    return shuffled.reshape(filters.shape)


# ----------------------------------------------------------------------------- texture energy

def texture_energy(image: np.ndarray, wavelength: float, theta: float, sigma: float | None = None,
                   gamma: float = 1.0) -> np.ndarray:
    """Local energy of a grey ``image`` at one wavelength and orientation.

    The image is filtered with the even (psi = 0) and odd (psi = -pi/2) Gabor and the two
    responses are combined as sqrt(even² + odd²), so the answer does not depend on where the
    stripes fall (their phase). ``sigma`` defaults to half the wavelength.
    """
    sigma = wavelength / 2 if sigma is None else sigma
    half = math.ceil(3 * sigma * max(1.0, 1 / gamma))
    size = 2 * half + 1
    even = gabor(size, wavelength, theta, 0.0, sigma, gamma)
    odd = gabor(size, wavelength, theta, -math.pi / 2, sigma, gamma)
    kernels = torch.tensor(np.stack([even - even.mean(), odd]), dtype=torch.float32)[:, None]
    x = torch.tensor(np.asarray(image, dtype=np.float32))[None, None]
    x = F.pad(x, (half,) * 4, mode="reflect")
    response = F.conv2d(x, kernels)[0]
    return response.square().sum(0).sqrt().numpy()


# ----------------------------------------------------------------------------- figures

FAMILY = {  # what the static figure varies, one row per symbol
    "wavelength": [3, 4, 6, 9, 14],
    "theta": [0, math.pi / 8, math.pi / 4, 3 * math.pi / 8, math.pi / 2],
    "phase": [0, math.pi / 4, math.pi / 2, 3 * math.pi / 4, math.pi],
    "sigma": [1.5, 2.5, 4, 6, 9],
    "gamma": [0.25, 0.5, 0.75, 1.0, 1.5],
}
SYMBOL = {"wavelength": "λ", "theta": "θ", "phase": "ψ", "sigma": "σ", "gamma": "γ"}


def _label(name: str, value: float) -> str:
    if name in ("theta", "phase"):
        return f"{SYMBOL[name]}={value / math.pi:.3g}π"
    return f"{SYMBOL[name]}={value:g}"


def show_gabor_family(size: int = 41, base: dict | None = None, axes=None):
    """A 5 × 5 grid: each row changes one symbol of ``base``, the others stay fixed."""
    import matplotlib.pyplot as plt

    base = dict(wavelength=8, theta=0.0, phase=0.0, sigma=5, gamma=0.75, **(base or {}))
    if axes is None:
        _, axes = plt.subplots(5, 5, figsize=(7.5, 8))
    for row, (name, values) in zip(axes, FAMILY.items()):
        for ax, value in zip(row, values):
            ax.imshow(gabor(size, **{**base, name: value}), cmap="gray", vmin=-1, vmax=1)
            ax.set_title(_label(name, value), fontsize=9)
            ax.axis("off")
    return axes


def gabor_explorer(size: int = 41):
    """Sliders for λ, θ, ψ, σ, γ; shows the filter and the matching ``gabor_kernel`` call."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    def show(wavelength, theta_deg, phase_deg, sigma, gamma):
        params = dict(wavelength=wavelength, theta=math.radians(theta_deg),
                      phase=math.radians(phase_deg), sigma=sigma, gamma=gamma)
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
        kernel = gabor(size, **params)
        axes[0].imshow(kernel, cmap="gray", vmin=-1, vmax=1)
        axes[0].set_title("g(x, y)")
        axes[0].axis("off")
        axes[1].plot(kernel[size // 2], "o-", markersize=3)
        axes[1].set_title("middle row")
        axes[1].grid(alpha=0.3)
        fig.tight_layout()
        plt.show()
        args = skimage_args(**params)
        print("skimage.filters.gabor_kernel(" + ", ".join(f"{k}={v:.3g}" for k, v in args.items()) + ")")

    return widgets.interactive(
        show,
        wavelength=widgets.FloatSlider(value=8, min=2, max=30, step=0.5, description="λ wavelength"),
        theta_deg=widgets.IntSlider(value=0, min=0, max=180, step=5, description="θ (degrees)"),
        phase_deg=widgets.IntSlider(value=0, min=-180, max=180, step=15, description="ψ (degrees)"),
        sigma=widgets.FloatSlider(value=5, min=1, max=15, step=0.5, description="σ envelope"),
        gamma=widgets.FloatSlider(value=0.75, min=0.1, max=2, step=0.05, description="γ aspect"),
    )
