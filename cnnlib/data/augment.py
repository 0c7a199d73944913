"""Batched data augmentation, all of it: shift and flip, zoom, rotation, shear, elastic
distortion, hue shift (shift and flip are taught in chapter 1, the rest in the chapter "Data
augmentation").

Why here, in ``cnnlib.data``: augmentation is a step of making training batches. ``DeviceLoader``
applies it on the device to whole batches, and pads the data set once for the shifts; keeping
every augmentation next to the loader keeps that contract in one package, which imports nothing
above ``cnnlib.runtime``.

**The protocol.** Every augmentation is an :class:`Augmentation`:

- called as ``augment(images, generator)``: a uint8 batch N×C×H×W in, a uint8 batch of the same
  shape out, the random draws taken from ``generator`` (so a run can be repeated);
- ``padding``: how many zero pixels on each side it needs around the images (``Augment`` with
  ``translate=4`` needs 4: a shift is a crop of the zero-padded image; most need 0);
- ``apply(batch, generator)``: the same augmentation on a batch that already has that border.

``DeviceLoader`` pads the whole data set once by ``augment.padding`` and calls ``augment.apply``
on each batch, so no batch is padded again. ``Compose`` chains augmentations: its padding is that
of its first step, so ``Compose(Augment(translate=4, flip=True), HueShift(0.1))`` is padded once
too. A plain function ``(uint8 batch, generator) -> uint8 batch`` is accepted wherever an
augmentation is (:func:`as_augmentation` wraps it).

As with the shift, each augmentation works on the whole batch at once on its device:

- the shift and flip read every output pixel from the padded batch with one ``gather``;
- geometric ops build one sampling grid per image (``F.affine_grid``, or a smooth random
  displacement field for the elastic distortion of Simard, Steinkraus & Platt, ICDAR 2003) and
  resample the whole batch with one ``F.grid_sample``;
- the hue shift goes to HSV, turns the hue and comes back, with tensor arithmetic.

The functions ``affine`` and ``adjust_hue`` take fixed per-image parameters; they follow the
conventions of torchvision's ``transforms.v2.functional`` (angles in degrees, counter-clockwise as
in ``rotate``, whereas ``v2.functional.affine`` counts them clockwise; translation in pixels;
hue as a fraction of the colour circle), which the tests compare against. Only the random
parameters are drawn on the CPU, from the generator passed in, so a run is repeatable.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Augmentation", "as_augmentation", "check_output", "Augment", "shift_and_flip", "random_translate",
           "random_flip", "affine", "affine_matrices", "adjust_hue", "elastic",
           "random_displacement", "rgb_to_hsv", "hsv_to_rgb", "RandomAffine", "zoom", "rotate",
           "ElasticDistort", "HueShift", "Compose"]


# --------------------------------------------------------------------------- the protocol


def check_batch(images: torch.Tensor, what: str = "an augmentation") -> None:
    """Augmentations take uint8 batches N×C×H×W (0-255); anything else is a clear error, not a
    black image (float images in [0, 1] would be read as almost-black uint8)."""
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(
            f"{what} expects a uint8 batch N×C×H×W with values 0-255 (as load_dataset gives), "
            f"got {images.dtype} of shape {tuple(images.shape)}; convert float images in [0, 1] "
            "with (x * 255).round().to(torch.uint8)")


def check_output(images: torch.Tensor, batch: torch.Tensor, augment) -> torch.Tensor:
    """``images``, the output of ``augment`` on ``batch``, if it is a uint8 batch of as many
    images and channels; else a clear error. A function returning floats in [0, 1] would
    otherwise be normalised as 0-255 values: near-constant images, and training goes on.
    (Only dtype and shape are looked at: nothing waits for the device.)"""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4 \
            or images.shape[:2] != batch.shape[:2]:
        got = (f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor)
               else type(images).__name__)
        raise ValueError(
            f"the augmentation {augment!r} returned {got} for a uint8 batch of shape "
            f"{tuple(batch.shape)}: it must return a uint8 batch of as many images and channels, "
            "values 0-255; convert float images in [0, 1] with (x * 255).round().to(torch.uint8)")
    return images


def check_number(where: str, name: str, value, ok, rule: str) -> float:
    """``value`` as a plain Python number (a NumPy number converted; ``15`` stays ``15`` so the
    augmentation prints as it was written), if it is a finite real number for which ``ok(value)`` holds; else a
    ValueError naming the argument (``where(name=value)``) and the ``rule`` it breaks.

    Checked when an augmentation is made, not when it runs: ``RandomAffine(degrees=nan)`` or
    ``ElasticDistort(alpha=inf)`` would otherwise turn every image black, and training would go
    on without a word."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not ok(value):
        raise ValueError(f"{where}({name}={value!r}): {name} must be a finite number {rule}")
    return value.item() if hasattr(value, "item") else value


def set_field(instance, name: str, value) -> None:
    """Store a checked value on a frozen dataclass (a plain float, not a NumPy one, so the
    augmentation's repr and the run's saved settings show plain numbers)."""
    object.__setattr__(instance, name, value)


def pad(images: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad each image by ``padding`` pixels on every side."""
    return F.pad(images, (padding,) * 4) if padding else images


class Augmentation:
    """Base class of every augmentation (the protocol is in the module docstring).

    A subclass sets ``padding`` (default 0) and implements ``apply(batch, generator)``.
    """

    padding = 0

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment ``batch``, which already has ``padding`` zero pixels on each side."""
        raise NotImplementedError

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        check_batch(images, type(self).__name__)
        return check_output(self.apply(pad(images, self.padding), generator), images, self)


class FunctionAugmentation(Augmentation):
    """A plain function ``(uint8 batch, generator) -> uint8 batch`` as an augmentation."""

    def __init__(self, function):
        self.function = function

    def apply(self, batch, generator):
        return self.function(batch, generator)

    def __repr__(self) -> str:
        return f"FunctionAugmentation({self.function!r})"


def as_augmentation(augment) -> Augmentation | None:
    """``augment`` as an :class:`Augmentation` (a function is wrapped; ``None`` stays ``None``)."""
    if augment is None or isinstance(augment, Augmentation):
        return augment
    if callable(augment):
        return FunctionAugmentation(augment)
    raise ValueError(f"augment must be an augmentation such as Augment(translate=2, flip=True), or a "
                     f"function (uint8 batch, generator) -> uint8 batch; got {augment!r}")


# --------------------------------------------------------------------------- shift and flip


def shift_and_flip(padded: torch.Tensor, padding: int, flip: bool,
                   generator: torch.Generator) -> torch.Tensor:
    """Random crops of already zero-padded images, each mirrored with probability 1/2 if ``flip``.

    ``padded`` is N×C×(H+2p)×(W+2p). Each output pixel (i, j) of image n is read from padded
    pixel (i + dy[n], j' + dx[n]), where j' is j or W-1-j for a flipped image. That is one
    ``gather`` for the whole batch: no loop over images, and no second pass for the flip.
    """
    n, c, hp, wp = padded.shape
    h, w = hp - 2 * padding, wp - 2 * padding
    device = padded.device
    # Drawn on the CPU (the same numbers on every device); non_blocking: a plain copy to a GPU
    # would make the CPU wait for all queued GPU work at every batch.
    shifts = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(device, non_blocking=True)
    cols = torch.arange(w, device=device).expand(n, w)
    if flip:
        mirrored = (torch.rand(n, generator=generator) < 0.5).to(device, non_blocking=True)
        cols = torch.where(mirrored[:, None], w - 1 - cols, cols)
    rows = torch.arange(h, device=device) + shifts[0, :, None]  # n × h
    cols = cols + shifts[1, :, None]  # n × w
    index = (rows[:, :, None] * wp + cols[:, None, :]).reshape(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, hp * wp).gather(2, index).reshape(n, c, h, w)


@dataclass(frozen=True)
class Augment(Augmentation):
    """Random shifts and horizontal flips, the augmentation of most of the book's experiments.

    ``translate``: maximum shift in pixels (a random crop of the image zero-padded by
    ``translate``, like torchvision's ``RandomCrop(size, padding=translate)``);
    ``flip``: random horizontal flips. Digits should not be flipped; natural images may.
    """

    translate: int = 0
    flip: bool = False

    def __post_init__(self):
        if isinstance(self.translate, bool) or not isinstance(self.translate, numbers.Integral) \
                or self.translate < 0:
            raise ValueError(f"Augment(translate={self.translate!r}): translate is the largest shift in "
                             "pixels, a whole number >= 0 (0: no shift)")
        if not isinstance(self.flip, bool):
            raise ValueError(f"Augment(flip={self.flip!r}): flip is True or False")
        set_field(self, "translate", int(self.translate))

    @property
    def padding(self) -> int:
        return self.translate

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not (self.translate or self.flip):
            return batch
        return shift_and_flip(batch, self.translate, self.flip, generator)


def random_translate(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``padding`` pixels in x and y, filling with zeros.

    The same as torchvision's ``RandomCrop(size, padding=padding)`` applied to every image of
    the batch, done for the whole batch at once.
    """
    return Augment(translate=padding)(images, generator)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the batch left-right (``RandomHorizontalFlip(p=0.5)``)."""
    return Augment(flip=True)(images, generator)


def _per_image(value, n: int, device, name: str = "value") -> torch.Tensor:
    """A scalar or n values (sequence or tensor) as a float tensor of length n on ``device``;
    a NaN or infinite ``name`` is an error (it would sample nothing but black)."""
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.dim() == 0:
        t = t.expand(n).clone()
    if t.shape != (n,):
        raise ValueError(f"{name}: expected a number or {n} values (one per image), got shape "
                         f"{tuple(t.shape)}")
    if t.device.type == "cpu" and not torch.isfinite(t).all():  # drawn on the CPU: no device sync
        raise ValueError(f"{name} must be finite, got {t.tolist()}")
    return t.to(device)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.round_().clamp_(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------- geometry


def affine_matrices(n: int, height: int, width: int, *, angle=0.0, translate=(0.0, 0.0), scale=1.0,
                    shear=(0.0, 0.0), device=None) -> torch.Tensor:
    """The n×2×3 matrices ``F.affine_grid`` needs: for each OUTPUT pixel, where to read the input.

    The forward map (as torchvision defines it) scales, shears and rotates about the image
    centre, then translates by ``translate`` pixels. Sampling needs its inverse, written out as
    in torchvision's ``_get_inverse_affine_matrix``, then changed from pixel offsets to the
    [-1, 1] coordinates of ``affine_grid``. Each argument is a scalar or one value per image.
    """
    # Our angles turn counter-clockwise, like v2.functional.rotate; the matrix below (that of
    # v2.functional.affine) turns clockwise, hence the minus.
    angle = -torch.deg2rad(_per_image(angle, n, device, "angle"))
    scale = _per_image(scale, n, device, "scale")
    tx, ty = (_per_image(t, n, device, "translate") for t in _pair(translate))
    sx, sy = (torch.deg2rad(_per_image(s, n, device, "shear")) for s in _pair(shear))
    # Rotation times shear (determinant 1), then its inverse, divided by the scale.
    a = torch.cos(angle - sy) / torch.cos(sy)
    b = -torch.cos(angle - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(angle)
    c = torch.sin(angle - sy) / torch.cos(sy)
    d = -torch.sin(angle - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(angle)
    m00, m01, m10, m11 = d / scale, -b / scale, -c / scale, a / scale
    # Input offset = M (output offset - translation), in pixels from the centre.
    m02 = -(m00 * tx + m01 * ty)
    m12 = -(m10 * tx + m11 * ty)
    # Pixels -> [-1, 1]: x_norm = x / (W/2), y_norm = y / (H/2).
    theta = torch.stack([
        torch.stack([m00, m01 * height / width, m02 * 2 / width], 1),
        torch.stack([m10 * width / height, m11, m12 * 2 / height], 1),
    ], 1)
    return theta


def _pair(value):
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value
    if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[1] == 2:
        return value[:, 0], value[:, 1]
    return value, 0.0


def _resample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Read ``images`` (uint8) at ``grid`` (bilinear, zeros outside), back to uint8."""
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _to_uint8(out)


def affine(images: torch.Tensor, *, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0)) -> torch.Tensor:
    """Affine-transform each image of a uint8 batch (bilinear, fill 0).

    Equal, up to rounding at the borders, to ``v2.functional.affine(x, -angle, ...)``.
    ``angle`` in degrees (counter-clockwise, as ``v2.functional.rotate``), ``translate`` in pixels (x, y), ``scale`` > 1
    zooms in, ``shear`` in degrees (x, y). Each is a scalar or one value per image.
    """
    check_batch(images, "affine")
    n, c, h, w = images.shape
    theta = affine_matrices(n, h, w, angle=angle, translate=translate, scale=scale, shear=shear,
                            device=images.device)
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
    return _resample(images, grid)


def _uniform(low, high, n, generator):
    return low + (high - low) * torch.rand(n, generator=generator)


@dataclass(frozen=True)
class RandomAffine(Augmentation):
    """Random rotation (up to ±``degrees``), zoom (factor in ``scale``), shear (up to ±``shear``
    degrees along x) and shift (up to ±``translate`` of the size), all in one resampling."""

    degrees: float = 0.0
    scale: tuple = (1.0, 1.0)
    shear: float = 0.0
    translate: float = 0.0

    def __post_init__(self):
        where = "RandomAffine"
        if not (isinstance(self.scale, (tuple, list)) and len(self.scale) == 2):
            raise ValueError(f"RandomAffine(scale={self.scale!r}): scale is a zoom range (low, high) "
                             "with 0 < low <= high, e.g. (0.8, 1.25); for one fixed zoom give "
                             "(1.2, 1.2)")
        low, high = (check_number(where, "scale", v, lambda v: v > 0, "> 0 in each end of (low, high)")
                     for v in self.scale)
        if not low <= high:
            raise ValueError(f"RandomAffine(scale={self.scale!r}): a zoom range (low, high) with "
                             "0 < low <= high, e.g. (0.8, 1.25)")
        set_field(self, "scale", (low, high))
        set_field(self, "degrees", check_number(
            where, "degrees", self.degrees, lambda v: 0 <= v <= 180,
            "in [0, 180]: the largest rotation either way (180 already reaches every angle)"))
        set_field(self, "shear", check_number(where, "shear", self.shear, lambda v: 0 <= v < 90,
                                              "in [0, 90) degrees"))
        set_field(self, "translate", check_number(
            where, "translate", self.translate, lambda v: 0 <= v <= 1,
            "in [0, 1]: the largest shift as a fraction of the image size"))

    def apply(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = images.shape
        angle = _uniform(-self.degrees, self.degrees, n, generator)
        scale = _uniform(self.scale[0], self.scale[1], n, generator)
        shear = _uniform(-self.shear, self.shear, n, generator)
        tx = _uniform(-self.translate, self.translate, n, generator) * w
        ty = _uniform(-self.translate, self.translate, n, generator) * h
        return affine(images, angle=angle, translate=(tx, ty), scale=scale, shear=(shear, 0.0))


def zoom(low: float = 0.8, high: float = 1.25) -> RandomAffine:
    """Zoom out (factor < 1: the image shrinks, black borders) or in (> 1: a central crop grows)."""
    return RandomAffine(scale=(low, high))


def rotate(degrees: float = 15.0) -> RandomAffine:
    """Rotate by a random angle in [-degrees, degrees] about the centre."""
    return RandomAffine(degrees=degrees)


def blur_radius(sigma: float) -> int:
    """The radius of the Gaussian kernel of ``sigma`` pixels: 3 sigma, at least 1 pixel."""
    return max(1, int(3 * sigma))


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel of ``x`` (N, C, H, W) with a Gaussian of ``sigma`` pixels (separable)."""
    radius = blur_radius(sigma)
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def elastic(images: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Move each output pixel's reading point by ``displacement`` (N, 2, H, W: dx, dy in pixels)."""
    check_batch(images, "elastic")
    n, c, h, w = images.shape
    identity = torch.eye(2, 3, device=images.device).expand(n, 2, 3)
    grid = F.affine_grid(identity, (n, c, h, w), align_corners=False)
    scale = torch.tensor([2 / w, 2 / h], device=images.device)  # pixels -> [-1, 1] units
    grid = grid + displacement.permute(0, 2, 3, 1) * scale
    return _resample(images, grid)


def random_displacement(n: int, height: int, width: int, *, alpha: float, sigma: float,
                        generator: torch.Generator, device=None) -> torch.Tensor:
    """A smooth random displacement field (n, 2, H, W) in pixels, for :func:`elastic`.

    Uniform noise in [-1, 1] per pixel, blurred with a Gaussian of ``sigma`` pixels (neighbours
    move together: the image bends instead of shattering), rescaled so its std is ``alpha``.
    """
    check_number("random_displacement", "alpha", alpha, lambda v: v >= 0, ">= 0 pixels")
    if not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma={sigma!r}: the smoothing of the displacement field must be a "
                         "finite number > 0 pixels (3 is the usual value; small values shatter "
                         "the image)")
    radius = blur_radius(sigma)
    if radius >= min(height, width):
        raise ValueError(
            f"elastic distortion with sigma={sigma} smooths with a kernel of radius {radius} pixels, "
            f"which needs images larger than {radius}x{radius}; these are {height}x{width}: use a "
            f"smaller sigma (below {min(height, width) / 3:.2g}) or larger images")
    if alpha > max(height, width):
        raise ValueError(
            f"elastic distortion with alpha={alpha} moves pixels by about {alpha} pixels, more "
            f"than the size of these {height}x{width} images: almost every pixel would be read from "
            "outside them (black). Use an alpha of a few pixels (1-2 for 28x28 digits)")
    field = torch.rand(n, 2, height, width, generator=generator).to(device) * 2 - 1
    field = _gaussian_blur(field, sigma)
    return field * (alpha / field.std(dim=(2, 3), keepdim=True).clamp_min(1e-8))


@dataclass(frozen=True)
class ElasticDistort(Augmentation):
    """Elastic distortion (Simard et al., ICDAR 2003): a random displacement field, smoothed
    with a Gaussian of ``sigma`` pixels and scaled so that its typical size is ``alpha`` pixels."""

    alpha: float = 1.5
    sigma: float = 3.0

    def __post_init__(self):
        set_field(self, "alpha", check_number(
            "ElasticDistort", "alpha", self.alpha, lambda v: v >= 0,
            ">= 0: the typical size of the displacement in pixels (1-2 for 28x28 digits)"))
        set_field(self, "sigma", check_number(
            "ElasticDistort", "sigma", self.sigma, lambda v: v > 0,
            "> 0: the smoothing of the displacement in pixels; Simard et al. use about 3-4"))

    def apply(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = images.shape
        field = random_displacement(n, h, w, alpha=self.alpha, sigma=self.sigma, generator=generator,
                                    device=images.device)
        return elastic(images, field)


# --------------------------------------------------------------------------- colour


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of the circle)."""
    r, g, b = rgb.unbind(1)
    value, _ = rgb.max(1)
    delta = value - rgb.min(1).values
    saturation = torch.where(value > 0, delta / value.clamp_min(1e-12), torch.zeros_like(value))
    safe = delta.clamp_min(1e-12)
    hue = torch.where(value == r, ((g - b) / safe) % 6,
                      torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(delta > 0, hue / 6, torch.zeros_like(hue))
    return torch.stack([hue, saturation, value], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_hsv`: channel n in (5, 3, 1) is v - v s clamp(min(k, 4 - k), 0, 1),
    with k = (n + 6 h) mod 6 (the closed form of the piecewise-linear HSV hexagon)."""
    hue, saturation, value = hsv.unbind(1)
    out = []
    for n in (5, 3, 1):
        k = (n + 6 * hue) % 6
        out.append(value - value * saturation * torch.minimum(k, 4 - k).clamp(0, 1))
    return torch.stack(out, 1)


def adjust_hue(images: torch.Tensor, shift) -> torch.Tensor:
    """Turn the hue of each RGB image by ``shift`` (a fraction of the colour circle, in [-0.5, 0.5];
    a scalar or one per image). Greys have no hue and stay as they are."""
    check_batch(images, "adjust_hue")
    if images.shape[1] != 3:
        raise ValueError(f"a hue shift needs RGB images, got {images.shape[1]} channel(s)")
    shift = _per_image(shift, len(images), images.device, "shift").view(-1, 1, 1)
    hsv = rgb_to_hsv(images.float() / 255)
    hsv = torch.stack([(hsv[:, 0] + shift) % 1, hsv[:, 1], hsv[:, 2]], 1)
    return _to_uint8(hsv_to_rgb(hsv) * 255)


@dataclass(frozen=True)
class HueShift(Augmentation):
    """Shade each image with a random hue shift in [-max_shift, max_shift] (fraction of the circle)."""

    max_shift: float = 0.1

    def __post_init__(self):
        set_field(self, "max_shift", check_number(
            "HueShift", "max_shift", self.max_shift, lambda v: 0 <= v <= 0.5,
            "in [0, 0.5]: a fraction of the colour circle (0.5 already reaches every hue)"))

    def apply(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return adjust_hue(images, _uniform(-self.max_shift, self.max_shift, len(images), generator))


# --------------------------------------------------------------------------- chaining


class Compose(Augmentation):
    """Apply augmentations one after the other: ``Compose(Augment(translate=4, flip=True), HueShift(0.1))``.

    Its ``padding`` is that of its first step, which alone gets the pre-padded batch: put the
    shift first and a ``DeviceLoader`` pads the data set once. A later step that needs padding
    pads its own input.
    """

    def __init__(self, *augments):
        self.augments = tuple(as_augmentation(a) for a in augments)

    @property
    def padding(self) -> int:
        return self.augments[0].padding if self.augments else 0

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if not self.augments:
            return batch
        first, *rest = self.augments
        images = first.apply(batch, generator)
        for augment in rest:
            images = augment(images, generator)
        return images

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.augments))})"
