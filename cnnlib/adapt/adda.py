"""ADDA: Adversarial Discriminative Domain Adaptation (Tzeng et al., CVPR 2017), chapter 11.

Three stages, as in Figure 3 of the paper:

1. **Pre-training**: a source encoder ``M_s`` and a classifier ``C`` are trained on labelled
   source images (with ``cnnlib.train.fit`` on ``nn.Sequential(encoder, classifier)``).
2. **Adversarial adaptation**: a target encoder ``M_t``, initialised as a copy of ``M_s``, is
   trained against a domain discriminator ``D``. ``D`` learns to tell source features
   ``M_s(x_s)`` (label 1) from target features ``M_t(x_t)`` (label 0); ``M_t`` learns to make
   ``D`` say "source" for target images: the GAN loss with *inverted labels*, which gives
   stronger gradients early on than minimising D's own loss. ``M_s`` and ``C`` stay fixed.
3. **Testing**: target images go through ``M_t`` and the *source* classifier ``C``.

The networks are the paper's digit networks, in :mod:`cnnlib.models.adda` (its Section 4.1,
the LeNet of Caffe; encoder, classifier, discriminator 500-500-2). Adam, learning rate 2e-4,
beta1 = 0.5.

Watch the discriminator's accuracy: near 0.5 means the two feature distributions are hard to
tell apart (what adaptation wants); stuck near 1.0 means the encoder lost the game and nothing
was adapted.
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DeviceLoader
from ..models.adda import domain_discriminator
from ..runtime import get_device, seed_everything

# The networks live in ``cnnlib.models.adda``; their old names here keep notebooks of older
# checkouts working against a newer library.
from ..models.adda import lenet_classifier as lenet_classifier, lenet_encoder as lenet_encoder  # noqa: E402
discriminator = domain_discriminator

__all__ = ["SOURCE", "TARGET",
           "discriminator_step", "encoder_step", "encoder_loss", "adapt", "AddaHistory"]

SOURCE, TARGET = 1, 0  # the discriminator's domain labels


def discriminator_step(disc, target_encoder, source_features, target_images, opt_d) -> tuple[float, int]:
    """One update of D on a batch of both domains; returns (loss, number D got right).

    The target encoder runs without gradients: this step changes only D.
    """
    with torch.no_grad():
        target_features = target_encoder(target_images)
    features = torch.cat([source_features, target_features])
    domains = torch.cat([torch.full((len(source_features),), SOURCE),
                         torch.full((len(target_features),), TARGET)]).to(features.device)
    logits = disc(features)
    loss = F.cross_entropy(logits, domains)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return loss.item(), int((logits.argmax(1) == domains).sum())


def encoder_loss(domain_logits: torch.Tensor) -> torch.Tensor:
    """The inverted-label GAN loss of the target encoder: -mean log D(M_t(x_t)) of "source"."""
    return F.cross_entropy(domain_logits, torch.full((len(domain_logits),), SOURCE,
                                                     device=domain_logits.device))


def encoder_step(disc, target_encoder, target_images, opt_t) -> float:
    """One update of the target encoder to fool D (D's weights do not change)."""
    loss = encoder_loss(disc(target_encoder(target_images)))
    opt_t.zero_grad(set_to_none=True)
    loss.backward()
    opt_t.step()
    return loss.item()


def _forever(loader):
    while True:
        yield from loader


class AddaHistory:
    """Logged every ``log_every`` steps: step, d_loss, encoder_loss, d_acc, target_acc, seconds."""

    def __init__(self):
        self.rows = []

    def __getitem__(self, key):
        return [row.get(key) for row in self.rows]

    @property
    def last(self):
        return self.rows[-1] if self.rows else {}


def adapt(source_encoder: nn.Module, source_data, target_data, *, steps: int, batch_size: int = 128,
          lr: float = 2e-4, betas=(0.5, 0.999), seed: int = 0, device=None, log_every: int = 100,
          evaluate_target=None, disc: nn.Module | None = None):
    """Stage 2 of ADDA: return ``(target_encoder, discriminator, history)``.

    ``source_data`` and ``target_data`` are data sets (labels are never used); both are
    normalised with their own ``stats``. ``evaluate_target(target_encoder) -> accuracy``, if
    given, is called at each log (for the curves only: the adaptation never sees target labels).

    The source encoder is fixed, so the source features of the whole source sample are computed
    once (in evaluation mode) and batches of them are drawn at random.
    """
    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    source_encoder = source_encoder.to(device).eval()
    with torch.no_grad():
        source_features = torch.cat([source_encoder(x) for x, _ in
                                     DeviceLoader(source_data, 500, device=device)])
    target_encoder = copy.deepcopy(source_encoder).train()
    for p in target_encoder.parameters():
        p.requires_grad_(True)
    disc = (disc if disc is not None else domain_discriminator(source_features.shape[1])).to(device)
    opt_t = torch.optim.Adam(target_encoder.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    targets = _forever(DeviceLoader(target_data, batch_size, shuffle=True, drop_last=True,
                                    device=device, seed=seed))
    generator = torch.Generator().manual_seed(seed)

    history = AddaHistory()
    d_losses, t_losses, correct, seen = [], [], 0, 0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        index = torch.randint(len(source_features), (batch_size,), generator=generator)
        x_t, _ = next(targets)
        d_loss, d_correct = discriminator_step(disc, target_encoder, source_features[index.to(device)],
                                               x_t, opt_d)
        t_losses.append(encoder_step(disc, target_encoder, x_t, opt_t))
        d_losses.append(d_loss)
        correct, seen = correct + d_correct, seen + 2 * batch_size
        if step % log_every == 0 or step == steps:
            row = {"step": step, "d_loss": sum(d_losses) / len(d_losses),
                   "encoder_loss": sum(t_losses) / len(t_losses), "d_acc": correct / seen,
                   "seconds": time.perf_counter() - start}
            if evaluate_target is not None:
                row["target_acc"] = evaluate_target(target_encoder)
                target_encoder.train()
            history.rows.append(row)
            d_losses, t_losses, correct, seen = [], [], 0, 0
    return target_encoder.eval(), disc.eval(), history
