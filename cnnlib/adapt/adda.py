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
was adapted. :func:`adda_experiment` runs the chapter's experiment on one pair of digit domains.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import validation
from ..checkpoint import (data_fingerprint, load_checkpoint, model_fingerprint, plain, save_checkpoint,
                          stable_repr)
from ..data import DeviceLoader
from ..history import History
from ..models.adda import domain_discriminator, lenet_classifier, lenet_encoder
from ..runtime import describe_device, get_device, seed_everything
from ..train import evaluate, fit
from .domains import digit_domain
from ..runtime import rng_state, set_rng_state
from .loop import (RunningMeans, batches, check_loop_arguments,
                   weights_fingerprint)

__all__ = ["SOURCE", "TARGET",
           "discriminator_step", "encoder_step", "encoder_loss", "adapt", "adda_experiment"]

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


def _state(players: dict, source_index: torch.Generator, device) -> dict:
    """What a resumed run needs: both networks and optimisers, and every random number stream."""
    return {**{name: player.state_dict() for name, player in players.items()},
            "rng_source_index": source_index.get_state(), **rng_state(device)}


def _restore(state: dict, players: dict, source_index: torch.Generator, device) -> None:
    """Put back what :func:`_state` saved."""
    for name, player in players.items():
        player.load_state_dict(state[name])
    source_index.set_state(state["rng_source_index"])
    set_rng_state(state, device)


def adapt(source_encoder: nn.Module, source_data, target_data, *, steps: int, batch_size: int = 128,
          lr: float = 2e-4, betas=(0.5, 0.999), seed: int = 0, device=None, log_every: int = 100,
          evaluate_target=None, disc: nn.Module | None = None, checkpoint=None):
    """Stage 2 of ADDA: return ``(target_encoder, discriminator, history)``.

    ``source_data`` and ``target_data`` are data sets (labels are never used); both are
    normalised with their own ``stats``. ``evaluate_target(target_encoder) -> accuracy``, if
    given, is called at each log (for the curves only: the adaptation never sees target labels).
    ``history`` (a ``cnnlib.train.History``) has a row every ``log_every`` steps: ``step``,
    the mean ``d_loss`` and ``encoder_loss``, ``d_acc`` (how often D was right), ``seconds``
    (of training so far) and, with ``evaluate_target``, ``target_acc``.

    ``checkpoint``: a path, with ``fit``'s policy (see ``cnnlib.adapt.loop``). The settings
    saved with the run are the source encoder's weights, the discriminator, both data sets,
    ``steps``, ``batch_size``, ``lr``, ``betas``, ``seed``, ``log_every`` and
    ``evaluate_target``; a finished run is loaded, an interrupted one resumes exactly, other
    settings are a ``CheckpointMismatchError``.

    The source encoder is fixed, so the source features of the whole source sample are computed
    once (in evaluation mode) and batches of them are drawn at random. NumPy numbers are taken
    as the Python numbers they are.
    """
    steps, batch_size, lr, betas, seed, log_every = plain((steps, batch_size, lr, betas, seed, log_every))
    check_loop_arguments(steps, log_every, batch_size)
    validation.check_adam(lr, betas)
    validation.check_model_dtype(source_encoder, "source_encoder", has_precision=False)
    if disc is not None:
        validation.check_model_dtype(disc, "disc", has_precision=False)
    device = get_device(device)
    seed_everything(seed)
    source_encoder = source_encoder.to(device).eval()
    with torch.no_grad():
        source_features = torch.cat([source_encoder(x) for x, _ in
                                     DeviceLoader(source_data, 500, device=device)])
    target_encoder = copy.deepcopy(source_encoder).train()
    target_encoder.requires_grad_(True)
    disc = (disc if disc is not None else domain_discriminator(source_features.shape[1])).to(device)
    opt_t = torch.optim.Adam(target_encoder.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    source_index = torch.Generator().manual_seed(seed)  # which source features each step draws
    players = {"target_encoder": target_encoder, "discriminator": disc, "opt_target_encoder": opt_t,
               "opt_discriminator": opt_d}

    settings = {"source_encoder": {**model_fingerprint(source_encoder),
                                   "weights": weights_fingerprint(source_encoder)},
                "discriminator": model_fingerprint(disc), "source": data_fingerprint(source_data),
                "target": data_fingerprint(target_data), "steps": steps, "batch_size": batch_size,
                "lr": lr, "betas": list(betas), "seed": seed, "log_every": log_every,
                "evaluate_target": stable_repr(evaluate_target)}
    recorded = {"device": describe_device(device)}  # where it ran: not compared
    history, done = History(settings={**settings, **recorded}), 0
    saved = None if checkpoint is None else load_checkpoint(checkpoint, settings, device=device)
    if saved is not None:
        _restore(saved["state"], players, source_index, device)
        history, done = saved["history"], saved["progress"]
        if saved["finished"]:
            return target_encoder.eval(), disc.eval(), history
    if checkpoint is not None:  # fail now, not at the first save
        validation.check_writable(checkpoint)

    targets = batches(target_data, batch_size, device=device, seed=seed, start=done)
    # ``seconds`` counts the training time of the whole run, across resumptions.
    means, start = RunningMeans(), time.perf_counter() - history.last.get("seconds", 0.0)
    for step in range(done + 1, steps + 1):
        index = torch.randint(len(source_features), (batch_size,), generator=source_index)
        x_t, _ = next(targets)
        d_loss, d_correct = discriminator_step(disc, target_encoder, source_features[index.to(device)],
                                               x_t, opt_d)
        t_loss = encoder_step(disc, target_encoder, x_t, opt_t)
        means.add({"d_loss": d_loss, "encoder_loss": t_loss, "d_acc": d_correct / (2 * batch_size)})
        if step % log_every == 0 or step == steps:
            row = {**means.row(step, lr), "seconds": time.perf_counter() - start}
            if evaluate_target is not None:
                row["target_acc"] = evaluate_target(target_encoder)
                target_encoder.train()
            history.append(row)
            if checkpoint is not None:
                save_checkpoint(checkpoint, settings=settings, recorded=recorded,
                                state=_state(players, source_index, device),
                                history=history, progress=step, finished=step == steps)
    return target_encoder.eval(), disc.eval(), history


# --------------------------------------------------------------------------------------
# Chapter 11's experiment: source only, then ADDA, on one pair of digit domains

def _beside(path, suffix: str):
    """``runs/ch11.pt`` -> ``runs/ch11-source.pt``: a second checkpoint next to ``path``."""
    path = Path(path)
    return path.with_name(f"{path.stem}-{suffix}{path.suffix}")


def adda_experiment(source_name: str, target_name: str, *, n_source: int, n_target: int, seed: int = 0,
                    steps: int, source_epochs: int, log_every: int, batch_size: int = 128,
                    checkpoint=None) -> dict:
    """Source only vs ADDA from ``source_name`` to ``target_name`` (digit domains), as in Table 2
    of Tzeng et al. (2017); returns ``{"source_only", "adda", "history", "source_history"}``.

    1. Pre-training: LeNet encoder + classifier on ``n_source`` labelled source training images
       (Adam, lr 1e-3, ``source_epochs`` epochs). ``source_only``: its accuracy on the target's
       test split, as it is.
    2. Adaptation (:func:`adapt`): ``steps`` steps on ``n_target`` *unlabelled* target training
       images; the target test accuracy through the source classifier is logged every
       ``log_every`` steps in ``history`` (for the curves only). ``adda``: the final accuracy.

    Both domains are colour when MNIST-M is one of them, grey otherwise; samples are drawn with
    ``seed``, which also seeds the training. ``checkpoint``: a path for the adaptation; the
    pre-training is kept beside it (``-source`` added to its name). Both load or train, with
    ``fit``'s policy: a finished run is loaded, other settings are refused.
    """
    channels = 3 if "mnist_m" in (source_name, target_name) else 1
    source = digit_domain(source_name, "train", channels=channels).subset(n_source, seed=seed)
    target = digit_domain(target_name, "train", channels=channels).subset(n_target, seed=seed)
    target_test = digit_domain(target_name, "test", channels=channels)

    torch.manual_seed(seed)
    encoder, classifier = lenet_encoder(channels), lenet_classifier()
    source_history = fit(nn.Sequential(encoder, classifier), source, epochs=source_epochs, lr=1e-3,
                         batch_size=128, optimizer="adam", weight_decay=0.0, seed=seed, progress=False,
                         checkpoint=None if checkpoint is None else _beside(checkpoint, "source"))
    source_only = evaluate(nn.Sequential(encoder, classifier), target_test)["acc"]

    def target_accuracy(target_encoder):  # for the curves only; ADDA never sees target labels
        return evaluate(nn.Sequential(target_encoder, classifier), target_test)["acc"]

    target_encoder, _, history = adapt(encoder, source, target, steps=steps, batch_size=batch_size,
                                       seed=seed, log_every=log_every, evaluate_target=target_accuracy,
                                       checkpoint=checkpoint)
    return {"source_only": source_only, "adda": target_accuracy(target_encoder), "history": history,
            "source_history": source_history}
