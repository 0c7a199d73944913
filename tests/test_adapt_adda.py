"""cnnlib.adapt.adda: each step changes only the network it should, the inverted-label loss by
hand, and the discriminator's accuracy bookkeeping."""
import math

import torch

from cnnlib.adapt import adda
from cnnlib.data import ImageDataset
from cnnlib.models import domain_discriminator, lenet_encoder


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def same(before, module):
    return all(torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_encoder_loss_is_minus_log_of_the_source_probability():
    logits = torch.tensor([[0.0, 0.0], [2.0, -1.0]])  # columns: target (0), source (1)
    by_hand = -(math.log(0.5) + math.log(math.exp(-1) / (math.exp(2) + math.exp(-1)))) / 2
    assert adda.SOURCE == 1 and adda.TARGET == 0
    assert math.isclose(adda.encoder_loss(logits).item(), by_hand, rel_tol=1e-6)


def setup(seed=0):
    torch.manual_seed(seed)
    encoder, disc = lenet_encoder(), domain_discriminator()
    opt_t = torch.optim.Adam(encoder.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
    return encoder, disc, opt_t, opt_d


def test_discriminator_step_changes_only_the_discriminator_and_counts_hits():
    encoder, disc, opt_t, opt_d = setup()
    source_features, target_images = torch.randn(4, 500), torch.randn(4, 1, 28, 28)
    enc_before, disc_before = params(encoder), params(disc)
    encoder.eval()
    with torch.no_grad():
        logits = disc(torch.cat([source_features, encoder(target_images)]))
    expected_hits = int((logits[:4].argmax(1) == 1).sum() + (logits[4:].argmax(1) == 0).sum())
    loss, hits = adda.discriminator_step(disc, encoder, source_features, target_images, opt_d)
    assert hits == expected_hits and 0 <= hits <= 8
    assert math.isfinite(loss)
    assert same(enc_before, encoder) and not same(disc_before, disc)


def test_encoder_step_changes_only_the_target_encoder_and_fools_the_discriminator():
    encoder, disc, opt_t, opt_d = setup()
    encoder.eval()  # no dropout, so the loss before and after is comparable
    target_images = torch.randn(16, 1, 28, 28)
    disc_before, enc_before = params(disc), params(encoder)
    with torch.no_grad():
        before = adda.encoder_loss(disc(encoder(target_images))).item()
    for _ in range(5):
        adda.encoder_step(disc, encoder, target_images, opt_t)
    with torch.no_grad():
        after = adda.encoder_loss(disc(encoder(target_images))).item()
    assert same(disc_before, disc) and not same(enc_before, encoder)
    assert after < before


def tiny_domain(seed, shift):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(64, 1, 28, 28, generator=g) * 100 + shift).to(torch.uint8)
    return ImageDataset(images, torch.zeros(64, dtype=torch.long), [str(d) for d in range(10)],
                        stats=([0.5], [0.5]))


def test_adapt_keeps_the_source_encoder_and_logs_discriminator_accuracy():
    torch.manual_seed(0)
    source_encoder = lenet_encoder()
    before = params(source_encoder)
    target_encoder, disc, history = adda.adapt(source_encoder, tiny_domain(0, 0), tiny_domain(1, 120),
                                               steps=6, batch_size=16, log_every=3, device="cpu",
                                               evaluate_target=lambda enc: 0.25)
    assert same(before, source_encoder)
    assert not same(before, target_encoder)
    assert history["step"] == [3, 6] and history["target_acc"] == [0.25, 0.25]
    assert all(0.0 <= acc <= 1.0 for acc in history["d_acc"])
