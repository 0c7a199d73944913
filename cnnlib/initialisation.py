"""Where the first weights come from (taught in the chapter "Weight initialisation").

Two families, as in the course notes:

- **random**: ``init_weights(model, scheme)`` draws every conv/linear weight from a normal
  distribution whose standard deviation is fixed (``"normal"``), Glorot & Bengio's
  ``sqrt(2 / (fan_in + fan_out))`` (``"glorot"``, AISTATS 2010) or He et al.'s ``sqrt(2 / fan_in)``
  (``"he"``, ICCV 2015). ``activation_stats`` shows what each does to the activations of a
  deep stack (``cnnlib.models.conv_stack``).
- **obtained elsewhere**: first-layer filters from unsupervised k-means on random image patches,
  optionally PCA/ZCA-whitened (Coates, Lee & Ng, "An Analysis of Single-Layer Networks in
  Unsupervised Feature Learning", AISTATS 2011): ``random_patches``, ``zca_whitening``,
  ``kmeans_filters``; a fixed Gabor bank (``gabor_bank``, the notes' equation ``gabor``); filters
  copied from a network trained on other data (``copy_conv``); and layers that are not trained
  at all (``freeze``, also the fine-tuning tool of the transfer-learning chapter).
"""
from __future__ import annotations

import itertools
import math
import types
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

__all__ = [
    "fans",
    "init_std",
    "init_weights",
    "activation_stats",
    "random_patches",
    "zca_whitening",
    "whiten_first_conv",
    "kmeans_filters",
    "gabor",
    "gabor_bank",
    "gabor_parameters",
    "sigma_from_bandwidth",
    "first_conv",
    "set_filters",
    "copy_conv",
    "freeze",
]

SCHEMES = ("normal", "glorot", "he")


# --------------------------------------------------------------------------- random init


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a linear (out, in) or conv (out, in/groups, kh, kw) weight.

    fan_in is how many inputs each output unit sums over: in_channels * kh * kw for a conv.
    """
    if weight.dim() < 2:
        raise ValueError(f"fans need a weight with at least 2 dims, got shape {tuple(weight.shape)}")
    receptive = math.prod(weight.shape[2:])  # 1 for a linear layer
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def init_std(weight: torch.Tensor, scheme: str, std: float = 0.01) -> float:
    """The standard deviation ``scheme`` gives ``weight``.

    - ``"normal"``: ``std``, whatever the layer's size;
    - ``"glorot"``: ``sqrt(2 / (fan_in + fan_out))``, keeps the variance of the signal forward
      *and* of the gradient backward, for activations that are linear around 0 (tanh);
    - ``"he"``: ``sqrt(2 / fan_in)``, keeps the variance of the signal through ReLUs, which zero
      half of it (hence the 2).
    """
    fan_in, fan_out = fans(weight)
    if scheme == "normal":
        return float(std)
    if scheme == "glorot":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "he":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


@torch.no_grad()
def init_weights(model: nn.Module, scheme: str, *, std: float = 0.01,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Re-draw every Conv2d/Linear weight of ``model`` from N(0, init_std^2); zero the biases."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            sigma = init_std(module.weight, scheme, std)
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * sigma)
            if module.bias is not None:
                module.bias.zero_()
    return model


@torch.no_grad()
def activation_stats(model: nn.Sequential, x: torch.Tensor) -> list[dict]:
    """Mean and standard deviation of the output of every activation layer of ``model`` on ``x``.

    One dict per activation: ``layer`` (1, 2, ...), ``mean``, ``std``. A healthy init keeps the
    std roughly constant with depth; a too-small one makes it vanish, a too-large one explode.
    """
    rows = []
    for module in model:
        x = module(x)
        if isinstance(module, (nn.ReLU, nn.Tanh)):
            rows.append({"layer": len(rows) + 1, "mean": x.mean().item(), "std": x.std().item()})
    return rows


# --------------------------------------------------------------------------- k-means filters


def random_patches(images: torch.Tensor, size: int, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` windows of ``images`` (N, C, H, W), as an (n, C, size, size) tensor."""
    count, _, height, width = images.shape
    if size > min(height, width):
        raise ValueError(f"patch size {size} is larger than the images ({height}x{width})")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(0, count, (n,), generator=g)
    rows = torch.randint(0, height - size + 1, (n,), generator=g)
    cols = torch.randint(0, width - size + 1, (n,), generator=g)
    offsets = torch.arange(size)
    r = (rows[:, None] + offsets)[:, None, :, None]  # n, 1, size, 1
    c = (cols[:, None] + offsets)[:, None, None, :]  # n, 1, 1, size
    channels = torch.arange(images.shape[1])[None, :, None, None]
    return images[which[:, None, None, None], channels, r, c]


def zca_whitening(patches: torch.Tensor, eps: float = 0.1, *, zca: bool = True):
    """The whitening of flattened ``patches`` (n, d): returns ``(W, mean)``.

    ``(x - mean) @ W`` has (nearly) identity covariance. With ``zca=True`` W = U diag(1/sqrt(l+eps)) U^T
    (ZCA: whitened patches still look like image patches); with ``zca=False`` it is
    U diag(1/sqrt(l+eps)) (PCA whitening: coordinates along the principal axes). ``eps``
    keeps the tiny eigenvalues (noise) from being blown up.
    """
    x = patches.reshape(len(patches), -1).double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / (len(x) - 1)
    eigenvalues, u = torch.linalg.eigh(cov)
    w = u * (1.0 / torch.sqrt(eigenvalues.clamp_min(0) + eps))  # scales column k of U
    if zca:
        w = w @ u.T
    return w.float(), mean.float()


def kmeans_filters(patches: torch.Tensor, k: int, *, whiten: str | None = "zca", eps: float = 0.1,
                   seed: int = 0, minibatch: bool = True):
    """First-layer filters from k-means on image patches (Coates, Lee & Ng, AISTATS 2011).

    ``patches``: (n, C, s, s) float patches of *normalised* images (what the network sees).
    Steps: remove each patch's mean brightness; whiten (``"zca"``, ``"pca"`` or ``None``);
    cluster with scikit-learn's (MiniBatch)KMeans into ``k`` centroids. A centroid ``c`` of
    whitened patches responds to a raw patch x with ``c . ((x - m) @ W)``, which is the linear
    filter ``W @ c`` applied to ``x`` minus a constant: so the returned filters are ``W @ c``
    (with their own mean removed, as the patches had theirs), scaled to unit norm.
    Returns ``(filters (k, C, s, s), centroids (k, d))``.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    shape = patches.shape[1:]
    x = patches.reshape(len(patches), -1).float()
    x = x - x.mean(1, keepdim=True)  # brightness does not define an edge
    if whiten is None:
        w = torch.eye(x.shape[1])
        z = x
    elif whiten in ("zca", "pca"):
        w, mean = zca_whitening(x, eps, zca=whiten == "zca")
        z = (x - mean) @ w
    else:
        raise ValueError(f"unknown whitening {whiten!r}; use 'zca', 'pca' or None")
    algorithm = (MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=2048) if minibatch
                 else KMeans(k, random_state=seed, n_init=3))
    algorithm.fit(z.numpy())
    centroids = torch.from_numpy(algorithm.cluster_centers_).float()
    filters = centroids @ w.T  # each row: W @ c
    filters = filters - filters.mean(1, keepdim=True)
    filters = filters / filters.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return filters.reshape(k, *shape), centroids


# --------------------------------------------------------------------------- Gabor bank


def gabor(size, wavelength: float, theta: float = 0.0, phase: float = 0.0, sigma: float = 2.0,
          gamma: float = 1.0) -> np.ndarray:
    """The course notes' Gabor function on a centred ``size`` x ``size`` grid (``size`` may be
    ``(rows, cols)``)::

        g(x, y) = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / wavelength + phase)
        x' = x cos(theta) + y sin(theta),   y' = -x sin(theta) + y cos(theta)

    with x running to the right and y *down* (image rows), as in skimage's ``gabor_kernel``.
    """
    rows, cols = (size, size) if isinstance(size, int) else size
    y, x = np.meshgrid(np.arange(rows) - (rows - 1) / 2, np.arange(cols) - (cols - 1) / 2, indexing="ij")
    x_rot = x * math.cos(theta) + y * math.sin(theta)
    y_rot = -x * math.sin(theta) + y * math.cos(theta)
    envelope = np.exp(-(x_rot**2 + gamma**2 * y_rot**2) / (2 * sigma**2))
    return envelope * np.cos(2 * math.pi * x_rot / wavelength + phase)


def sigma_from_bandwidth(frequency: float, bandwidth: float = 1.0) -> float:
    """skimage's default envelope width: sigma for a half-response bandwidth in octaves."""
    return math.sqrt(math.log(2) / 2) / math.pi * (2**bandwidth + 1) / (2**bandwidth - 1) / frequency


def gabor_parameters(*, wavelengths=(4.0, 2.5), orientations: int = 8, phases=(0.0, math.pi / 2),
                     sigmas=None, gammas=(1.0,), bandwidth: float = 1.0) -> list[dict]:
    """The symbols ``(wavelength, theta, phase, sigma, gamma)`` of every filter of ``gabor_bank``
    with the same settings, in the bank's order: every combination of the given wavelengths,
    ``orientations`` angles evenly spaced in [0, pi), phases, sigmas and gammas.

    ``sigmas=None`` uses skimage's default for each wavelength: the envelope of a filter whose
    half-response bandwidth is ``bandwidth`` octaves (``sigma_from_bandwidth``).
    """
    for name, values in (("wavelengths", wavelengths), ("phases", phases), ("gammas", gammas)):
        if len(values) == 0:
            raise ValueError(f"{name} is empty: give at least one value")
    if orientations < 1:
        raise ValueError(f"orientations must be at least 1, got {orientations}")
    thetas = [math.pi * i / orientations for i in range(orientations)]
    params = []
    for wavelength, theta, phase in itertools.product(wavelengths, thetas, phases):
        envelopes = sigmas if sigmas is not None else [sigma_from_bandwidth(1 / wavelength, bandwidth)]
        for sigma, gamma in itertools.product(envelopes, gammas):
            params.append(dict(wavelength=wavelength, theta=theta, phase=phase, sigma=sigma, gamma=gamma))
    return params


def gabor_bank(size: int = 5, *, wavelengths=(4.0, 2.5), orientations: int = 8, phases=(0.0, math.pi / 2),
               sigmas=None, gammas=(1.0,), bandwidth: float = 1.0, in_channels: int = 1) -> torch.Tensor:
    """A fixed bank of Gabor filters, shaped like a conv weight: ``(n, in_channels, size, size)``.

    Filter ``i`` is ``gabor(size, **gabor_parameters(...)[i])`` with the same settings (the
    course notes' equation; the real part of skimage's ``gabor_kernel(1/wavelength, theta,
    sigma_x=sigma, sigma_y=sigma/gamma, offset=phase)`` up to a constant factor), made zero-mean
    and unit-norm. With ``in_channels > 1`` it is the same grey filter on every input channel,
    scaled so the whole filter still has unit norm.

    Phases only up to pi are needed for a likeness score: phase + pi is the same filter with the
    sign flipped.
    """
    params = gabor_parameters(wavelengths=wavelengths, orientations=orientations, phases=phases,
                              sigmas=sigmas, gammas=gammas, bandwidth=bandwidth)
    bank = torch.tensor(np.stack([gabor(size, **p) for p in params]), dtype=torch.float32)
    bank = bank - bank.mean((1, 2), keepdim=True)  # a flat offset is not a pattern
    bank = bank / bank.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None]
    return bank[:, None].expand(-1, in_channels, -1, -1) / math.sqrt(in_channels)


# --------------------------------------------------------------------------- copy and freeze


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first ``nn.Conv2d`` of ``model`` (in ``modules()`` order)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError("the model has no nn.Conv2d")


@torch.no_grad()
def set_filters(conv: nn.Conv2d, filters: torch.Tensor, *, scale: str | float = "he") -> nn.Conv2d:
    """Put ``filters`` (up to ``conv.out_channels`` of them) into ``conv``; zero its bias.

    Filters from k-means or a Gabor bank have unit norm; ``scale="he"`` rescales them to the
    norm a He-initialised filter has on average (``sqrt(2)``), so the next layers see
    activations of the usual size. A number scales them by that. When there are fewer filters
    than channels, the remaining channels keep their (random) weights.
    """
    if filters.shape[1:] != conv.weight.shape[1:]:
        raise ValueError(f"filters of shape {tuple(filters.shape[1:])} do not fit a conv with weights "
                         f"{tuple(conv.weight.shape[1:])}")
    n = min(len(filters), conv.out_channels)
    factor = math.sqrt(2.0) if scale == "he" else float(scale)
    conv.weight[:n] = filters[:n].to(conv.weight) * factor
    if conv.bias is not None:
        conv.bias.zero_()
    return conv


@torch.no_grad()
def copy_conv(source: nn.Conv2d, target: nn.Conv2d) -> nn.Conv2d:
    """Copy the weights (and bias) of ``source`` into ``target``, which must have the same shape."""
    if source.weight.shape != target.weight.shape:
        raise ValueError(f"cannot copy conv weights of shape {tuple(source.weight.shape)} into "
                         f"{tuple(target.weight.shape)}")
    target.weight.copy_(source.weight)
    if target.bias is not None:
        if source.bias is not None:
            target.bias.copy_(source.bias)
        else:
            target.bias.zero_()
    return target


def _train_stays_eval(self, mode: bool = True):
    # ``model.train()`` calls ``train`` on every submodule; a frozen one answers by staying in
    # evaluation mode, so its BatchNorm keeps its running statistics and its dropout is off.
    return nn.Module.train(self, False)


def _freeze_whole(module: nn.Module) -> None:
    module.requires_grad_(False)
    module.train = types.MethodType(_train_stays_eval, module)
    module.eval()


def freeze(model: nn.Module, *, trainable: Iterable[str] = ()) -> nn.Module:
    """Stop training ``model``, except its children named in ``trainable``; return ``model``.

    A frozen part does not change at all during training:

    - its parameters get ``requires_grad=False``, and ``cnnlib.train.fit`` gives the optimiser
      only the parameters that still require a gradient;
    - it stays in evaluation mode when ``fit`` calls ``model.train()``: a BatchNorm layer in
      training mode would keep updating its running statistics without any gradient.

    ``freeze(conv)`` freezes one layer (chapter 2); ``freeze(net, trainable=("layer4", "fc"))``
    fine-tunes only the top of a network (chapter 10). The children named in ``trainable`` are
    left as they are. ``model`` is changed in place.
    """
    trainable = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    children = [name for name, _ in model.named_children()]
    unknown = [name for name in trainable if name not in children]
    if unknown:
        raise ValueError(f"trainable={unknown} are not children of the model; its children are "
                         f"{children}: name the blocks to keep training")
    if not trainable:
        _freeze_whole(model)
        return model
    for parameter in model.parameters(recurse=False):  # the model's own, outside any child
        parameter.requires_grad_(False)
    for name, child in model.named_children():
        if name not in trainable:
            _freeze_whole(child)
    return model


@torch.no_grad()
def whiten_first_conv(model: nn.Module, images: torch.Tensor, *, kind: str = "pca",
                      eps: float = 5e-4, frozen: bool = False, patches: int = 10_000,
                      seed: int = 0) -> nn.Conv2d:
    """Make the first conv of ``model`` a whitening of the training images' patches.

    ``images``: normalised training images (N, C, H, W), as the net sees them. The patches of
    the conv's kernel size get covariance Σ = U diag(λ) Uᵀ; the filters are the rows of the
    whitening matrix of :func:`cnnlib.initialisation.zca_whitening` (``"pca"``: u_k/√(λ_k+ε),
    strongest directions first; ``"zca"``: the rows of U diag(1/√(λ+ε)) Uᵀ), so the layer's
    outputs are decorrelated with unit variance from the first step. Why: the first layer's
    job is largely to undo the strong correlations between neighbouring pixels; doing it by
    linear algebra spares the net steps (airbench's first layer is exactly this, frozen).
    With at least twice as many channels as patch dimensions each filter also comes as its
    negative (after a ReLU both signs survive); with fewer channels, the first ones are used;
    channels beyond them keep their random weights. The bias (if any) subtracts the patch mean.
    ``frozen=True`` keeps the filters fixed (``requires_grad=False``; the bias still trains).
    """
    if kind not in ("zca", "pca"):
        raise ValueError(f"unknown whitening {kind!r}; use 'zca', 'pca' or None")
    conv = first_conv(model)
    if conv.groups != 1 or conv.in_channels != images.shape[1]:
        raise ValueError(f"the first conv takes {conv.in_channels} channels (groups={conv.groups}) "
                         f"but the images have {images.shape[1]}: whitening needs a plain conv "
                         "on the images")
    size = conv.kernel_size[0]
    if conv.kernel_size[1] != size:
        raise ValueError(f"whitening needs a square first-conv kernel, got {conv.kernel_size}")
    x = random_patches(images.float().cpu(), size, patches, seed=seed).reshape(patches, -1)
    w, mean = zca_whitening(x, eps, zca=kind == "zca")
    filters = w.T.flip(0) if kind == "pca" else w.T  # eigh sorts ascending: strongest first
    if conv.out_channels >= 2 * len(filters):
        filters = torch.cat([filters, -filters])
    n = min(len(filters), conv.out_channels)
    conv.weight[:n] = filters[:n].reshape(n, *conv.weight.shape[1:]).to(conv.weight)
    if conv.bias is not None:
        conv.bias[:n] = -(filters[:n] @ mean).to(conv.bias)
    conv.weight.requires_grad_(not frozen)
    return conv
