"""cnnlib.adapt.cyclegan: the loss formulas by hand, the image pool's rules, the
learning-rate decay, and which networks each half of a training step changes."""
import math

import pytest
import torch

from cnnlib.adapt import cyclegan as cg
from cnnlib.data import ImageDataset


def test_lsgan_and_l1_losses_by_hand():
    real, fake = torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.2])
    # D: 1/2 [((0)^2 + (-0.5)^2)/2 + (0^2 + 0.2^2)/2] = 1/2 [0.125 + 0.02]
    assert math.isclose(cg.lsgan_d_loss(real, fake).item(), 0.5 * (0.125 + 0.02), rel_tol=1e-6)
    # G: ((0-1)^2 + (0.2-1)^2)/2 = (1 + 0.64)/2
    assert math.isclose(cg.lsgan_g_loss(fake).item(), 0.82, rel_tol=1e-6)
    x, x_cycled = torch.tensor([[0.0, 1.0], [-1.0, 0.5]]), torch.tensor([[0.5, 1.0], [1.0, 0.0]])
    assert math.isclose(cg.cycle_loss(x, x_cycled).item(), (0.5 + 0 + 2 + 0.5) / 4, rel_tol=1e-6)
    assert math.isclose(cg.identity_loss(x, x_cycled).item(), 0.75, rel_tol=1e-6)


def test_full_objective_weights_the_terms():
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1, lambda_cycle=10, lambda_identity=0.5, pool_size=0)
    x, y = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    losses, _, _ = model.generator_losses(x, y)
    expected = (losses["gan_G"] + losses["gan_F"] + 10 * (losses["cycle_x"] + losses["cycle_y"])
                + 0.5 * 10 * losses["identity"])
    assert torch.allclose(losses["total"], expected)
    with torch.no_grad():
        assert torch.allclose(losses["cycle_x"], (model.F(model.G(x)) - x).abs().mean())


def test_image_pool_fills_then_mixes_history():
    pool = cg.ImagePool(size=3, seed=0)
    first = torch.arange(3.0).reshape(3, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as they are
    out = pool.query(torch.full((40, 1), 9.0))
    old = (out != 9).sum().item()
    assert 0 < old <= 3  # some come from the history, each stored image at most once
    assert len(pool.images) == 3
    assert torch.equal(cg.ImagePool(size=0).query(first), first)


def test_linear_decay_schedule():
    factor = cg.linear_decay(100)
    assert factor(0) == 1.0 and factor(49) == 1.0 and factor(50) == 1.0
    assert factor(75) == pytest.approx(0.5) and factor(100) == 0.0


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_train_step_updates_all_four_networks_and_returns_the_terms():
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1, pool_size=2, total_steps=10)
    before = {name: params(getattr(model, name)) for name in ("G", "F", "D_X", "D_Y")}
    losses = model.train_step(torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28))
    assert set(losses) >= {"gan_G", "gan_F", "cycle_x", "cycle_y", "identity", "total", "D_X", "D_Y"}
    assert all(changed(before[name], getattr(model, name)) for name in before)
    assert all(p.requires_grad for p in model.D_X.parameters())


def test_generator_update_leaves_discriminators_alone():
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1, pool_size=0)
    d_before = params(model.D_Y)
    for d in (model.D_X, model.D_Y):
        d.requires_grad_(False)
    losses, _, _ = model.generator_losses(torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28))
    model.opt_g.zero_grad()
    losses["total"].backward()
    model.opt_g.step()
    assert not changed(d_before, model.D_Y)
    assert all(p.grad is None for p in model.D_Y.parameters())


def test_train_cyclegan_logs_losses():
    g = torch.Generator().manual_seed(0)
    make = lambda: ImageDataset(torch.randint(0, 256, (8, 1, 28, 28), generator=g, dtype=torch.uint8),
                                torch.zeros(8, dtype=torch.long), ["0"], stats=([0.5], [0.5]))
    model, rows = cg.train_cyclegan(make(), make(), steps=3, batch_size=4, log_every=2, device="cpu",
                                    width=4, n_blocks=1)
    assert [r["step"] for r in rows] == [2, 3]
    assert all(math.isfinite(r["total"]) for r in rows)
    with pytest.raises(ValueError, match="identity"):
        cg.CycleGAN(1, 3, width=4)
