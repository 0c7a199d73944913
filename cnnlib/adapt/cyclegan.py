"""CycleGAN (Zhu et al., ICCV 2017), sized for 28-32 px digit images (chapter 12).

Two generators, G: X -> Y and F: Y -> X, and two discriminators, D_Y (real y or G(x)?) and
D_X (real x or F(y)?), trained with

- least-squares GAN losses (Mao et al., 2017), which the paper uses instead of the log loss
  because they train more stably: D minimises (D(real) - 1)^2 + D(fake)^2, G minimises
  (D(G(x)) - 1)^2 ;
- the cycle-consistency loss  L_cyc = E|F(G(x)) - x|_1 + E|G(F(y)) - y|_1, weighted by lambda = 10;
- optionally the identity loss  E|G(y) - y|_1 + E|F(x) - x|_1, weighted by 0.5 lambda, which
  keeps colours when they need not change;
- a history of 50 generated images per discriminator (``ImagePool``), so D also sees older
  fakes and does not chase only the generator's latest output;
- Adam (2e-4, beta1 0.5) with the learning rate constant for the first half, then decaying
  linearly to zero (``linear_decay``).

The networks are in :mod:`cnnlib.models.cyclegan`: the generators are the paper's ResNet
design shrunk for small images, the discriminators PatchGANs whose output is a grid of scores,
each judging one overlapping patch of the image.
"""
from __future__ import annotations

import itertools
import time

import torch
from torch import nn

from ..data import DeviceLoader
from ..models.cyclegan import cyclegan_generator, init_normal, patch_discriminator
from ..runtime import get_device, seed_everything

# The networks live in ``cnnlib.models.cyclegan``; their old names here keep notebooks of older
# checkouts working against a newer library.
from ..models.cyclegan import ResidualBlock as ResidualBlock  # noqa: E402
generator = cyclegan_generator

__all__ = ["lsgan_d_loss", "lsgan_g_loss",
           "cycle_loss", "identity_loss", "ImagePool", "linear_decay", "CycleGAN", "train_cyclegan"]


# --------------------------------------------------------------------------------------
# Losses

def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss: 1/2 [mean (D(real) - 1)^2 + mean D(fake)^2]."""
    return 0.5 * ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean())


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss: mean (D(G(x)) - 1)^2 (the generator wants "real" = 1)."""
    return (fake_scores - 1).pow(2).mean()


def cycle_loss(x: torch.Tensor, x_cycled: torch.Tensor) -> torch.Tensor:
    """One direction of L_cyc: the mean absolute (L1) error between x and F(G(x))."""
    return (x_cycled - x).abs().mean()


def identity_loss(y: torch.Tensor, g_of_y: torch.Tensor) -> torch.Tensor:
    """One direction of the identity loss: mean |G(y) - y| (G should leave a real y alone)."""
    return (g_of_y - y).abs().mean()


# --------------------------------------------------------------------------------------
# Image history and learning-rate schedule

class ImagePool:
    """A history of up to ``size`` generated images (Shrivastava et al. 2017, used by CycleGAN).

    ``query(batch)``: while the pool is filling, each image is stored and returned; afterwards,
    with probability 1/2 an image is swapped with a random stored one (the stored one is
    returned), otherwise it is returned as it is. ``size=0`` turns the pool off.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                k = int(torch.randint(self.size, (1,), generator=self.generator))
                out.append(self.images[k])
                self.images[k] = image
            else:
                out.append(image)
        return torch.stack(out)


def linear_decay(total_steps: int, decay_start: int | None = None):
    """LambdaLR factor: 1 until ``decay_start`` (default: half way), then linearly down to 0."""
    decay_start = total_steps // 2 if decay_start is None else decay_start

    def factor(step: int) -> float:
        if step < decay_start:
            return 1.0
        return max(0.0, 1.0 - (step - decay_start) / max(1, total_steps - decay_start))
    return factor


# --------------------------------------------------------------------------------------
# The model and its training step

class CycleGAN(nn.Module):
    """G: X -> Y, F: Y -> X, D_X, D_Y and their two Adam optimisers (generators, discriminators)."""

    def __init__(self, x_channels: int = 3, y_channels: int = 3, *, width: int = 16, n_blocks: int = 3,
                 lambda_cycle: float = 10.0, lambda_identity: float = 0.5, pool_size: int = 50,
                 lr: float = 2e-4, betas=(0.5, 0.999), total_steps: int = 1000, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.G = cyclegan_generator(x_channels, y_channels, width, n_blocks)
        self.F = cyclegan_generator(y_channels, x_channels, width, n_blocks)
        self.D_X = patch_discriminator(x_channels, width)
        self.D_Y = patch_discriminator(y_channels, width)
        for net in (self.G, self.F, self.D_X, self.D_Y):
            net.apply(init_normal)
        if lambda_identity and x_channels != y_channels:
            raise ValueError("the identity loss needs X and Y with the same number of channels")
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity
        self.pool_x, self.pool_y = ImagePool(pool_size, seed), ImagePool(pool_size, seed + 1)
        self.opt_g = torch.optim.Adam(itertools.chain(self.G.parameters(), self.F.parameters()), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(itertools.chain(self.D_X.parameters(), self.D_Y.parameters()), lr=lr, betas=betas)
        self.schedules = [torch.optim.lr_scheduler.LambdaLR(opt, linear_decay(total_steps))
                          for opt in (self.opt_g, self.opt_d)]

    def generator_losses(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        """All terms of the full objective for G and F on one batch (as tensors)."""
        fake_y, fake_x = self.G(x), self.F(y)
        losses = {
            "gan_G": lsgan_g_loss(self.D_Y(fake_y)),               # L_GAN(G, D_Y, X, Y)
            "gan_F": lsgan_g_loss(self.D_X(fake_x)),               # L_GAN(F, D_X, Y, X)
            "cycle_x": cycle_loss(x, self.F(fake_y)),              # x -> G(x) -> F(G(x))
            "cycle_y": cycle_loss(y, self.G(fake_x)),              # y -> F(y) -> G(F(y))
        }
        if self.lambda_identity:
            losses["identity"] = identity_loss(y, self.G(y)) + identity_loss(x, self.F(x))
        total = losses["gan_G"] + losses["gan_F"] + self.lambda_cycle * (losses["cycle_x"] + losses["cycle_y"])
        if self.lambda_identity:
            total = total + self.lambda_identity * self.lambda_cycle * losses["identity"]
        losses["total"] = total
        return losses, fake_x, fake_y

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        """One update of G and F (discriminators fixed), then one of D_X and D_Y."""
        for d in (self.D_X, self.D_Y):
            d.requires_grad_(False)
        losses, fake_x, fake_y = self.generator_losses(x, y)
        self.opt_g.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.opt_g.step()
        for d in (self.D_X, self.D_Y):
            d.requires_grad_(True)

        fake_x, fake_y = self.pool_x.query(fake_x), self.pool_y.query(fake_y)
        losses["D_X"] = lsgan_d_loss(self.D_X(x), self.D_X(fake_x.detach()))
        losses["D_Y"] = lsgan_d_loss(self.D_Y(y), self.D_Y(fake_y.detach()))
        self.opt_d.zero_grad(set_to_none=True)
        (losses["D_X"] + losses["D_Y"]).backward()
        self.opt_d.step()
        for schedule in self.schedules:
            schedule.step()
        return {k: v.item() for k, v in losses.items()}


def train_cyclegan(x_data, y_data, *, steps: int, batch_size: int = 16, seed: int = 0, device=None,
                   log_every: int = 50, **kwargs):
    """Train a :class:`CycleGAN` between two unpaired data sets; return ``(model, rows)``.

    Images are scaled to [-1, 1] with each data set's ``stats`` (use mean = std = 0.5), so
    they match the generators' tanh outputs. ``rows``: mean losses every ``log_every`` steps.
    """
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    model = CycleGAN(x_data.images.shape[1], y_data.images.shape[1], total_steps=steps, seed=seed,
                     **kwargs).to(device)
    model.train()

    def forever(data, offset):
        loader = DeviceLoader(data, batch_size, shuffle=True, drop_last=True, device=device, seed=seed + offset)
        while True:
            for images, _ in loader:
                yield images

    xs, ys = forever(x_data, 0), forever(y_data, 1)
    rows, sums, start = [], {}, time.perf_counter()
    for step in range(1, steps + 1):
        losses = model.train_step(next(xs), next(ys))
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        if step % log_every == 0 or step == steps:
            n = log_every if step % log_every == 0 else step % log_every
            rows.append({"step": step, **{k: v / n for k, v in sums.items()},
                         "seconds": time.perf_counter() - start})
            sums = {}
    return model.eval(), rows
