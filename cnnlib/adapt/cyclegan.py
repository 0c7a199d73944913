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

from .. import validation
from ..checkpoint import data_fingerprint, load_checkpoint, model_fingerprint, plain, save_checkpoint
from ..history import History
from ..models.cyclegan import cyclegan_generator, init_normal, patch_discriminator
from ..runtime import describe_device, get_device, seed_everything
from ..runtime import rng_state, set_rng_state
from .loop import RunningMeans, batches, check_loop_arguments

__all__ = ["lsgan_d_loss", "lsgan_g_loss", "cycle_loss", "identity_loss", "ImagePool", "linear_decay",
           "CycleGAN", "Optimisers", "train_step", "train_cyclegan"]


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

    def state_dict(self) -> dict:
        """The stored images (one tensor) and the generator's state, to save with a run."""
        images = torch.stack(self.images) if self.images else torch.empty(0)
        return {"images": images, "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"].unbind(0)) if len(state["images"]) else []
        self.generator.set_state(state["rng"].cpu())  # a generator's state lives on the CPU


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
    """G: X -> Y, F: Y -> X, D_X and D_Y, and the weights of the terms of the full objective.

    Only the networks: the optimisers (:class:`Optimisers`) and the image pools are training
    state, kept by the loop (:func:`train_cyclegan`), so the model's ``state_dict`` holds only
    weights.
    """

    def __init__(self, x_channels: int = 3, y_channels: int = 3, *, width: int = 16, n_blocks: int = 3,
                 lambda_cycle: float = 10.0, lambda_identity: float = 0.5, seed: int = 0):
        super().__init__()
        if lambda_identity and x_channels != y_channels:
            raise ValueError(f"the identity loss needs X and Y with the same number of channels (here "
                             f"{x_channels} and {y_channels}): pass lambda_identity=0, or give both "
                             "domains the same channels")
        torch.manual_seed(seed)
        self.G = cyclegan_generator(x_channels, y_channels, width, n_blocks)
        self.F = cyclegan_generator(y_channels, x_channels, width, n_blocks)
        self.D_X = patch_discriminator(x_channels, width)
        self.D_Y = patch_discriminator(y_channels, width)
        for net in (self.G, self.F, self.D_X, self.D_Y):
            net.apply(init_normal)
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity

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


class Optimisers:
    """The paper's two Adam optimisers, each with the :func:`linear_decay` schedule.

    ``generators`` updates G and F together (one objective), ``discriminators`` D_X and D_Y.
    """

    def __init__(self, model: CycleGAN, *, lr: float = 2e-4, betas=(0.5, 0.999), total_steps: int):
        self.generators = torch.optim.Adam(itertools.chain(model.G.parameters(), model.F.parameters()),
                                           lr=lr, betas=betas)
        self.discriminators = torch.optim.Adam(itertools.chain(model.D_X.parameters(), model.D_Y.parameters()),
                                               lr=lr, betas=betas)
        self.schedules = [torch.optim.lr_scheduler.LambdaLR(opt, linear_decay(total_steps))
                          for opt in (self.generators, self.discriminators)]

    @property
    def lr(self) -> float:
        """The learning rate of the current step (both optimisers have the same)."""
        return self.schedules[0].get_last_lr()[0]

    def state_dict(self) -> dict:
        return {"generators": self.generators.state_dict(), "discriminators": self.discriminators.state_dict(),
                "schedules": [schedule.state_dict() for schedule in self.schedules]}

    def load_state_dict(self, state: dict) -> None:
        self.generators.load_state_dict(state["generators"])
        self.discriminators.load_state_dict(state["discriminators"])
        for schedule, saved in zip(self.schedules, state["schedules"]):
            schedule.load_state_dict(saved)


def train_step(model: CycleGAN, x: torch.Tensor, y: torch.Tensor, optimisers: Optimisers,
               pools: tuple[ImagePool, ImagePool]) -> dict:
    """One update of G and F (discriminators fixed), then one of D_X and D_Y; the losses as floats.

    ``pools``: the image histories of generated X and Y images, ``(pool_x, pool_y)``.
    """
    for d in (model.D_X, model.D_Y):
        d.requires_grad_(False)
    losses, fake_x, fake_y = model.generator_losses(x, y)
    optimisers.generators.zero_grad(set_to_none=True)
    losses["total"].backward()
    optimisers.generators.step()
    for d in (model.D_X, model.D_Y):
        d.requires_grad_(True)

    pool_x, pool_y = pools
    fake_x, fake_y = pool_x.query(fake_x), pool_y.query(fake_y)
    losses["D_X"] = lsgan_d_loss(model.D_X(x), model.D_X(fake_x.detach()))
    losses["D_Y"] = lsgan_d_loss(model.D_Y(y), model.D_Y(fake_y.detach()))
    optimisers.discriminators.zero_grad(set_to_none=True)
    (losses["D_X"] + losses["D_Y"]).backward()
    optimisers.discriminators.step()
    for schedule in optimisers.schedules:
        schedule.step()
    return {k: v.item() for k, v in losses.items()}


def _state(model: CycleGAN, optimisers: Optimisers, pools, device) -> dict:
    """What a resumed run needs: weights, optimisers and schedules, image pools, random numbers."""
    return {"model": model.state_dict(), "optimisers": optimisers.state_dict(),
            "pools": [pool.state_dict() for pool in pools], **rng_state(device)}


def _restore(state: dict, model: CycleGAN, optimisers: Optimisers, pools, device) -> None:
    """Put back what :func:`_state` saved."""
    model.load_state_dict(state["model"])
    optimisers.load_state_dict(state["optimisers"])
    for pool, pool_state in zip(pools, state["pools"]):
        pool.load_state_dict(pool_state)
    set_rng_state(state, device)


def train_cyclegan(x_data, y_data, *, steps: int, batch_size: int = 16, width: int = 16, n_blocks: int = 3,
                   lambda_cycle: float = 10.0, lambda_identity: float = 0.5, pool_size: int = 50,
                   lr: float = 2e-4, betas=(0.5, 0.999), seed: int = 0, device=None, log_every: int = 50,
                   checkpoint=None):
    """Train a :class:`CycleGAN` between two unpaired data sets; return ``(model, history)``.

    Images are scaled to [-1, 1] with each data set's ``stats`` (use mean = std = 0.5), so
    they match the generators' tanh outputs. ``history`` (a ``cnnlib.train.History``) has a row
    of mean losses every ``log_every`` steps: ``step``, ``gan_G``, ``gan_F``, ``cycle_x``,
    ``cycle_y``, ``identity`` (if used), ``total``, ``D_X``, ``D_Y``, ``seconds`` (of training so
    far).

    ``checkpoint``: a path, with ``fit``'s policy (see ``cnnlib.adapt.loop``). The settings
    saved with the run are the networks, both data sets and every argument but ``device``; a
    finished run is loaded, an interrupted one resumes exactly, other settings are a
    ``CheckpointMismatchError``. NumPy numbers are taken as the Python numbers they are.
    """
    (steps, batch_size, width, n_blocks, lambda_cycle, lambda_identity, pool_size, lr, betas, seed,
     log_every) = plain((steps, batch_size, width, n_blocks, lambda_cycle, lambda_identity, pool_size,
                         lr, betas, seed, log_every))
    check_loop_arguments(steps, log_every, batch_size)
    validation.check_adam(lr, betas)
    validation.check_at_least_zero("lambda_cycle", lambda_cycle)
    validation.check_at_least_zero("lambda_identity", lambda_identity)
    validation.check_whole("pool_size", pool_size, minimum=0)
    device = get_device(device)
    seed_everything(seed)
    model = CycleGAN(x_data.images.shape[1], y_data.images.shape[1], width=width, n_blocks=n_blocks,
                     lambda_cycle=lambda_cycle, lambda_identity=lambda_identity, seed=seed).to(device)
    model.train()
    optimisers = Optimisers(model, lr=lr, betas=betas, total_steps=steps)
    pools = (ImagePool(pool_size, seed), ImagePool(pool_size, seed + 1))

    settings = {"model": model_fingerprint(model), "x": data_fingerprint(x_data), "y": data_fingerprint(y_data),
                "steps": steps, "batch_size": batch_size, "width": width, "n_blocks": n_blocks,
                "lambda_cycle": lambda_cycle, "lambda_identity": lambda_identity, "pool_size": pool_size,
                "lr": lr, "betas": list(betas), "seed": seed, "log_every": log_every}
    recorded = {"device": describe_device(device)}  # where it ran: not compared
    history, done = History(settings={**settings, **recorded}), 0
    saved = None if checkpoint is None else load_checkpoint(checkpoint, settings, device=device)
    if saved is not None:
        _restore(saved["state"], model, optimisers, pools, device)
        history, done = saved["history"], saved["progress"]
        if saved["finished"]:
            return model.eval(), history
    if checkpoint is not None:  # fail now, not at the first save
        validation.check_writable(checkpoint)

    xs = batches(x_data, batch_size, device=device, seed=seed, start=done)
    ys = batches(y_data, batch_size, device=device, seed=seed + 1, start=done)
    # ``seconds`` counts the training time of the whole run, across resumptions.
    means, start = RunningMeans(), time.perf_counter() - history.last.get("seconds", 0.0)
    for step in range(done + 1, steps + 1):
        (x, _), (y, _) = next(xs), next(ys)
        lr_now = optimisers.lr
        means.add(train_step(model, x, y, optimisers, pools))
        if step % log_every == 0 or step == steps:
            history.append({**means.row(step, lr_now), "seconds": time.perf_counter() - start})
            if checkpoint is not None:
                save_checkpoint(checkpoint, settings=settings, recorded=recorded,
                                state=_state(model, optimisers, pools, device),
                                history=history, progress=step, finished=step == steps)
    return model.eval(), history
