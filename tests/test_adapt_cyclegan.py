"""cnnlib.adapt.cyclegan: the loss formulas by hand, the image pool's rules, the
learning-rate decay, and which networks each half of a training step changes."""
import math

import pytest
import torch

from cnnlib.adapt import cyclegan as cg
from cnnlib.data import ImageDataset
from cnnlib.train import CheckpointMismatchError, History


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
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1, lambda_cycle=10, lambda_identity=0.5)
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
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1)
    optimisers = cg.Optimisers(model, total_steps=10)
    before = {name: params(getattr(model, name)) for name in ("G", "F", "D_X", "D_Y")}
    losses = cg.train_step(model, torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28), optimisers,
                           (cg.ImagePool(2), cg.ImagePool(2)))
    assert set(losses) >= {"gan_G", "gan_F", "cycle_x", "cycle_y", "identity", "total", "D_X", "D_Y"}
    assert all(changed(before[name], getattr(model, name)) for name in before)
    assert all(p.requires_grad for p in model.D_X.parameters())


def test_generator_update_leaves_discriminators_alone():
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1)
    optimisers = cg.Optimisers(model, total_steps=10)
    d_before = params(model.D_Y)
    for d in (model.D_X, model.D_Y):
        d.requires_grad_(False)
    losses, _, _ = model.generator_losses(torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28))
    optimisers.generators.zero_grad()
    losses["total"].backward()
    optimisers.generators.step()
    assert not changed(d_before, model.D_Y)
    assert all(p.grad is None for p in model.D_Y.parameters())


def test_optimisers_live_outside_the_model():
    model = cg.CycleGAN(1, 1, width=4, n_blocks=1)
    assert not any(isinstance(v, torch.optim.Optimizer) for v in vars(model).values())
    assert {key.split(".")[0] for key in model.state_dict()} == {"G", "F", "D_X", "D_Y"}
    optimisers = cg.Optimisers(model, lr=1e-3, total_steps=4)
    ids = lambda opt: {id(p) for group in opt.param_groups for p in group["params"]}
    assert ids(optimisers.generators) == {id(p) for p in [*model.G.parameters(), *model.F.parameters()]}
    assert ids(optimisers.discriminators) == {id(p) for p in [*model.D_X.parameters(), *model.D_Y.parameters()]}
    assert optimisers.lr == 1e-3


def test_image_pool_state_round_trip():
    pool = cg.ImagePool(size=3, seed=0)
    pool.query(torch.arange(6.0).reshape(6, 1))
    copy = cg.ImagePool(size=3, seed=5)
    copy.load_state_dict(pool.state_dict())
    batch = torch.full((20, 1), 9.0)
    assert torch.equal(pool.query(batch), copy.query(batch))
    empty = cg.ImagePool(size=3)
    empty.load_state_dict(cg.ImagePool(size=3).state_dict())
    assert empty.images == []


def domain(seed, n=12):  # 3 batches of 4 a pass: a resumed run starts mid-pass
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
                        torch.zeros(n, dtype=torch.long), ["0"], stats=([0.5], [0.5]))


TINY = dict(steps=6, batch_size=4, log_every=2, device="cpu", width=4, n_blocks=1, pool_size=2)


def test_train_cyclegan_logs_losses_in_a_history():
    model, history = cg.train_cyclegan(domain(0), domain(1), **{**TINY, "steps": 3})
    assert isinstance(history, History)
    assert history["step"] == [2, 3]
    assert all(math.isfinite(total) for total in history["total"])
    assert history.last["step"] == 3 and history.settings["steps"] == 3
    assert repr(history).split()[0] == "step"  # printed by its steps (was KeyError: 'epoch')
    with pytest.raises(ValueError, match="identity"):
        cg.CycleGAN(1, 3, width=4)
    with pytest.raises(ValueError, match="steps"):
        cg.train_cyclegan(domain(0), domain(1), **{**TINY, "steps": 0})
    with pytest.raises(ValueError, match="fewer than one batch"):
        cg.train_cyclegan(domain(0, n=3), domain(1), **TINY)


def interrupt_at(monkeypatch, call):
    """Make the ``call``-th training step raise, as if the run were killed there."""
    real, calls = cg.train_step, []

    def step(*args):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(cg, "train_step", step)


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]


def test_train_cyclegan_resumes_an_interrupted_run_exactly(tmp_path, monkeypatch):
    whole, whole_history = cg.train_cyclegan(domain(0), domain(1), **TINY, checkpoint=tmp_path / "whole.pt")
    path = tmp_path / "cut.pt"
    with monkeypatch.context() as patch:
        interrupt_at(patch, 5)  # steps 1-4 done and saved (rows at 2 and 4), step 5 never finishes
        with pytest.raises(KeyboardInterrupt):
            cg.train_cyclegan(domain(0), domain(1), **TINY, checkpoint=path)
    resumed, history = cg.train_cyclegan(domain(0), domain(1), **TINY, checkpoint=path)
    assert without_seconds(history) == without_seconds(whole_history)
    assert history["seconds"] == sorted(history["seconds"])  # training time of the whole run
    for key, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_train_cyclegan_loads_a_finished_run_and_refuses_other_settings(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    trained, history = cg.train_cyclegan(domain(0), domain(1), **TINY, checkpoint=path)
    with monkeypatch.context() as patch:
        interrupt_at(patch, 1)  # any training step would raise
        loaded, loaded_history = cg.train_cyclegan(domain(0), domain(1), **TINY, checkpoint=path)
    assert without_seconds(loaded_history) == without_seconds(history)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trained.state_dict().items())
    with pytest.raises(CheckpointMismatchError, match=r"lambda_cycle: saved 10.0, now 5.0"):
        cg.train_cyclegan(domain(0), domain(1), **TINY, lambda_cycle=5.0, checkpoint=path)
    with pytest.raises(CheckpointMismatchError, match=r"steps: saved 6, now 8"):
        cg.train_cyclegan(domain(0), domain(1), **{**TINY, "steps": 8}, checkpoint=path)
    with pytest.raises(CheckpointMismatchError, match=r"y\.hash"):
        cg.train_cyclegan(domain(0), domain(2), **TINY, checkpoint=path)


def test_numpy_settings_write_a_checkpoint_that_resumes_and_loads(tmp_path, monkeypatch):
    import numpy as np

    numpy_tiny = {**TINY, "lambda_cycle": np.float64(10.0), "lr": np.float32(2e-4)}
    whole, whole_history = cg.train_cyclegan(domain(0), domain(1), **numpy_tiny)
    path = tmp_path / "run.pt"
    with monkeypatch.context() as patch:
        interrupt_at(patch, 5)
        with pytest.raises(KeyboardInterrupt):
            cg.train_cyclegan(domain(0), domain(1), **numpy_tiny, checkpoint=path)
    torch.load(path, weights_only=True)
    resumed, history = cg.train_cyclegan(domain(0), domain(1), **numpy_tiny, checkpoint=path)
    assert without_seconds(history) == without_seconds(whole_history)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in whole.state_dict().items())
    with monkeypatch.context() as patch:
        interrupt_at(patch, 1)
        cg.train_cyclegan(domain(0), domain(1), **numpy_tiny, checkpoint=path)
