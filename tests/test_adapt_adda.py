"""cnnlib.adapt.adda: each step changes only the network it should, the inverted-label loss by
hand, and the discriminator's accuracy bookkeeping."""
import math

import pytest
import torch

from cnnlib.adapt import adda
from cnnlib.data import ImageDataset
from cnnlib.models import domain_discriminator, lenet_encoder
from cnnlib.train import CheckpointMismatchError, History


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
    assert isinstance(history, History)
    assert history["step"] == [3, 6] and history["target_acc"] == [0.25, 0.25]
    assert all(0.0 <= acc <= 1.0 for acc in history["d_acc"])
    assert repr(history).split()[0] == "step"  # printed by its steps (was KeyError: 'epoch')


def test_adapt_refuses_settings_that_cannot_run():
    encoder = lenet_encoder()
    with pytest.raises(ValueError, match="log_every"):
        adda.adapt(encoder, tiny_domain(0, 0), tiny_domain(1, 120), steps=2, log_every=0, device="cpu")
    with pytest.raises(ValueError, match="fewer than one batch of 128"):
        adda.adapt(encoder, tiny_domain(0, 0), tiny_domain(1, 120), steps=2, device="cpu")


TINY = dict(steps=6, batch_size=16, log_every=3, device="cpu", seed=3)  # 64 images: 4 batches a pass


def source_encoder():
    torch.manual_seed(0)
    return lenet_encoder()


def interrupt_at(monkeypatch, call):
    """Make the ``call``-th encoder update raise, as if the run were killed in that step."""
    real, calls = adda.encoder_step, []

    def step(*args):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(adda, "encoder_step", step)


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]


def test_adapt_resumes_an_interrupted_run_exactly(tmp_path, monkeypatch):
    # The random source batches and the target shuffle draw random numbers: the resumed run
    # must continue both streams where it stopped.
    source, target = tiny_domain(0, 0), tiny_domain(1, 120)
    whole, whole_disc, whole_history = adda.adapt(source_encoder(), source, target, **TINY,
                                                  checkpoint=tmp_path / "whole.pt")
    path = tmp_path / "cut.pt"
    with monkeypatch.context() as patch:
        interrupt_at(patch, 5)  # steps 1-3 saved (mid-pass); step 5 updates D, then dies
        with pytest.raises(KeyboardInterrupt):
            adda.adapt(source_encoder(), source, target, **TINY, checkpoint=path)
    resumed, resumed_disc, history = adda.adapt(source_encoder(), source, target, **TINY, checkpoint=path)
    assert history["step"] == [3, 6]
    assert without_seconds(history) == without_seconds(whole_history)
    assert history["seconds"] == sorted(history["seconds"])  # training time of the whole run
    for a, b in ((whole, resumed), (whole_disc, resumed_disc)):
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), key


def test_adapt_loads_a_finished_run_and_refuses_other_settings(tmp_path, monkeypatch):
    source, target, path = tiny_domain(0, 0), tiny_domain(1, 120), tmp_path / "run.pt"
    trained, _, history = adda.adapt(source_encoder(), source, target, **TINY, checkpoint=path)
    with monkeypatch.context() as patch:
        interrupt_at(patch, 1)  # any training step would raise
        loaded, _, loaded_history = adda.adapt(source_encoder(), source, target, **TINY, checkpoint=path)
    assert without_seconds(loaded_history) == without_seconds(history)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trained.state_dict().items())
    with pytest.raises(CheckpointMismatchError, match=r"lr: saved 0.0002, now 0.001") as err:
        adda.adapt(source_encoder(), source, target, **TINY, lr=1e-3, checkpoint=path)
    assert "delete" in str(err.value) and "another checkpoint path" in str(err.value)
    with pytest.raises(CheckpointMismatchError, match=r"steps: saved 6, now 9"):
        adda.adapt(source_encoder(), source, target, **{**TINY, "steps": 9}, checkpoint=path)
    other_source = source_encoder()
    with torch.no_grad():
        other_source[0].bias += 0.1  # the same network with other weights: another source encoder
    with pytest.raises(CheckpointMismatchError, match=r"source_encoder\.weights"):
        adda.adapt(other_source, source, target, **TINY, checkpoint=path)


def fake_digits(monkeypatch):
    """Every digit domain and split: 40 grey 28x28 images whose class is a bright row band."""
    from cnnlib.adapt import domains

    def load_dataset(name, split):
        g = torch.Generator().manual_seed(sum(map(ord, name + split)))  # each its own images
        labels = torch.arange(40) % 10
        images = torch.randint(0, 50, (40, 1, 28, 28), generator=g, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            images[i, :, 2 * label:2 * label + 4] = 200
        return ImageDataset(images, labels, [str(d) for d in range(10)], name, split)
    monkeypatch.setattr(domains, "load_dataset", load_dataset)


def test_adda_experiment_reports_source_only_and_adapted_accuracy(tmp_path, monkeypatch):
    fake_digits(monkeypatch)
    settings = dict(n_source=32, n_target=32, seed=1, steps=2, source_epochs=1, log_every=1, batch_size=16)
    path = tmp_path / "usps_to_mnist.pt"
    result = adda.adda_experiment("usps", "mnist", **settings, checkpoint=path)
    assert result["history"]["step"] == [1, 2]
    assert result["adda"] == result["history"]["target_acc"][-1]  # the last log is the final encoder
    assert 0.0 <= result["source_only"] <= 1.0 and len(result["source_history"]) == 1
    assert path.exists() and (tmp_path / "usps_to_mnist-source.pt").exists()
    with monkeypatch.context() as patch:
        interrupt_at(patch, 1)  # loading both checkpoints trains nothing
        again = adda.adda_experiment("usps", "mnist", **settings, checkpoint=path)
    assert (again["source_only"], again["adda"]) == (result["source_only"], result["adda"])
    with pytest.raises(CheckpointMismatchError, match="epochs: saved 1, now 2"):
        adda.adda_experiment("usps", "mnist", **{**settings, "source_epochs": 2}, checkpoint=path)


def test_adda_experiment_uses_colour_when_mnist_m_is_a_domain(monkeypatch):
    fake_digits(monkeypatch)
    seen, real_adapt = [], adda.adapt

    def adapt(encoder, source, target, **settings):
        seen.append((source.images.shape[1], target.images.shape[1]))
        return real_adapt(encoder, source, target, **settings)
    monkeypatch.setattr(adda, "adapt", adapt)
    adda.adda_experiment("mnist", "mnist_m", n_source=16, n_target=16, steps=1, source_epochs=1,
                         log_every=1, batch_size=16)
    assert seen == [(3, 3)]


def test_numpy_settings_write_a_checkpoint_that_resumes_and_loads(tmp_path, monkeypatch):
    # lr from np.logspace: weights-only loading must read the checkpoint (and the optimizers'
    # state, which holds the lr too).
    import numpy as np

    numpy_tiny = {**TINY, "lr": np.logspace(-4, -3, 3)[0], "betas": np.array([0.5, 0.999])}
    source, target, path = tiny_domain(0, 0), tiny_domain(1, 120), tmp_path / "run.pt"
    whole, _, whole_history = adda.adapt(source_encoder(), source, target, **numpy_tiny)
    with monkeypatch.context() as patch:
        interrupt_at(patch, 5)
        with pytest.raises(KeyboardInterrupt):
            adda.adapt(source_encoder(), source, target, **numpy_tiny, checkpoint=path)
    torch.load(path, weights_only=True)
    resumed, _, history = adda.adapt(source_encoder(), source, target, **numpy_tiny, checkpoint=path)
    assert without_seconds(history) == without_seconds(whole_history)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in whole.state_dict().items())
    with monkeypatch.context() as patch:
        interrupt_at(patch, 1)  # loading the finished run trains nothing
        adda.adapt(source_encoder(), source, target, **numpy_tiny, checkpoint=path)
