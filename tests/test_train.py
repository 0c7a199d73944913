"""cnnlib.train: fit learns, resumes exactly, stops on a non-finite loss, evaluates correctly."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.data import DeviceLoader
from cnnlib.train import History, choose_bf16, evaluate, fit, load_weights, make_schedule


def small_net(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * 8 * 8, 4))


def test_fit_learns_a_separable_task(tiny_dataset):
    train, val = tiny_dataset.split_off(64)
    history = fit(small_net(), train, val, epochs=4, lr=0.05, batch_size=32, progress=False,
                  device="cpu")
    assert len(history) == 4 and history["epoch"] == [1, 2, 3, 4]
    assert history.last["val_acc"] > 0.9
    assert history.last["train_loss"] < history[0]["train_loss"]
    assert all(r["images_per_s"] > 0 and r["seconds"] > 0 for r in history.rows)


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_dataset, tmp_path):
    kwargs = dict(epochs=4, lr=0.05, batch_size=32, progress=False, device="cpu", seed=5)
    straight = small_net(dropout=0.3)  # dropout: the RNG state must be restored too
    fit(straight, tiny_dataset, **kwargs)

    path = tmp_path / "run.pt"

    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(small_net(dropout=0.3), tiny_dataset, checkpoint=path, on_epoch_end=interrupt, **kwargs)
    resumed = small_net(seed=99, dropout=0.3)  # different init: everything must come from the file
    history = fit(resumed, tiny_dataset, checkpoint=path, **kwargs)
    assert history["epoch"] == [1, 2, 3, 4]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert not [p for p in tmp_path.iterdir() if p.name != "run.pt"]  # no temporary files left


def test_a_finished_checkpoint_is_loaded_not_retrained(tiny_dataset, tmp_path):
    path = tmp_path / "done.pt"
    first = fit(small_net(), tiny_dataset, epochs=2, lr=0.05, progress=False, device="cpu", checkpoint=path)
    calls = []
    again = fit(small_net(seed=7), tiny_dataset, epochs=2, lr=0.05, progress=False, device="cpu",
                checkpoint=path, on_epoch_end=lambda e, r: calls.append(e))
    assert calls == [] and again["train_loss"] == first["train_loss"]
    more = fit(small_net(seed=7), tiny_dataset, epochs=3, lr=0.05, progress=False, device="cpu",
               checkpoint=path, on_epoch_end=lambda e, r: calls.append(e))
    assert calls == [2] and len(more) == 3
    state = torch.load(path, weights_only=True)
    assert state["epoch"] == 3
    assert torch.equal(load_weights(small_net(seed=1), path)[0].weight, state["model"]["0.weight"])


def test_a_checkpoint_of_another_model_is_a_clear_error(tiny_dataset, tmp_path):
    path = tmp_path / "other.pt"
    fit(small_net(), tiny_dataset, epochs=1, lr=0.05, progress=False, device="cpu", checkpoint=path)
    other = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    with pytest.raises(ValueError, match="different model"):
        fit(other, tiny_dataset, epochs=2, lr=0.05, progress=False, device="cpu", checkpoint=path)


def test_a_non_finite_loss_names_the_step_and_learning_rate(tiny_dataset):
    with pytest.raises(FloatingPointError, match=r"epoch 1, step \d+ of 8 \(learning rate"):
        fit(small_net(), tiny_dataset, epochs=1, lr=1e12, batch_size=32, momentum=0.0,
            schedule="constant", progress=False, device="cpu")


def test_evaluate_matches_a_hand_computed_loss_and_accuracy(tiny_dataset):
    model = small_net().eval()
    loader = DeviceLoader(tiny_dataset, 256, device="cpu")
    x, y = next(iter(loader))
    with torch.no_grad():
        logits = model(x)
    result = evaluate(model, tiny_dataset, device="cpu", bf16=False)
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_onecycle_schedule_warms_up_then_decays_to_zero():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = make_schedule(opt, "onecycle", 100)
    lrs = []
    for _ in range(100):
        lrs.append(schedule.get_last_lr()[0])
        opt.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)
    assert lrs.index(max(lrs)) == 20 and lrs[-1] < 0.02
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule(opt, "cosine-ish", 10)


def test_bf16_is_chosen_only_where_the_processor_does_it_natively(monkeypatch):
    from cnnlib import train

    net = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5))
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: False)
    assert not choose_bf16(net, torch.device("cpu"))
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda: True)
    assert choose_bf16(net, torch.device("cpu"))
    assert not choose_bf16(net, torch.device("mps"))


def test_history_prints_and_plots(tiny_dataset):
    import matplotlib
    matplotlib.use("Agg")
    history = History([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": None,
                        "val_acc": None, "seconds": 2.0, "images_per_s": 1000.0, "lr": 0.1}])
    text = repr(history)
    assert "train loss" in text and "1.0000" in text and "1,000" in text
    assert len(history.plot().axes) == 2
