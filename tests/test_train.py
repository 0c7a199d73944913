"""cnnlib.train: fit learns, resumes exactly, reuses a checkpoint only for the same settings,
refuses bad input clearly, trains on feature tensors, stops on a non-finite loss, evaluates
correctly; forever streams passes with fresh shuffles."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.data import Augment, DeviceLoader, ImageDataset
from cnnlib.train import (CheckpointError, CheckpointMismatchError, History,
                          data_fingerprint, evaluate, fit, forever, load_checkpoint, load_weights,
                          make_schedule, model_fingerprint, save_checkpoint, stable_repr, tta_logits)

QUIET = dict(progress=False, device="cpu")


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


def _interrupt_after_the_first_epoch(data, path, **kwargs):
    """A run of ``small_net(dropout=0.3)`` stopped (as by Ctrl-C) after its first epoch."""
    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(small_net(dropout=0.3), data, checkpoint=path, on_epoch_end=interrupt, **kwargs)


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_dataset, tmp_path):
    kwargs = dict(epochs=4, lr=0.05, batch_size=32, progress=False, device="cpu", seed=5)
    straight = small_net(dropout=0.3)  # dropout: the RNG state must be restored too
    fit(straight, tiny_dataset, **kwargs)

    path = tmp_path / "run.pt"
    _interrupt_after_the_first_epoch(tiny_dataset, path, **kwargs)
    resumed = small_net(seed=99, dropout=0.3)  # different init: everything must come from the file
    history = fit(resumed, tiny_dataset, checkpoint=path, **kwargs)
    assert history["epoch"] == [1, 2, 3, 4]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert not [p for p in tmp_path.iterdir() if p.name != "run.pt"]  # no temporary files left


def test_a_finished_checkpoint_is_loaded_not_retrained(tiny_dataset, tmp_path):
    path = tmp_path / "done.pt"
    first = fit(small_net(), tiny_dataset, epochs=2, lr=0.05, checkpoint=path, **QUIET)
    calls = []
    again = fit(small_net(seed=7), tiny_dataset, epochs=2, lr=0.05, checkpoint=path,
                on_epoch_end=lambda e, r: calls.append(e), **QUIET)
    assert calls == [] and again["train_loss"] == first["train_loss"]
    assert again.settings["resumed_from_epoch"] == 2
    saved = torch.load(path, weights_only=True)
    assert saved["progress"] == 2 and saved["finished"]
    loaded = load_weights(small_net(seed=1), path)
    assert torch.equal(loaded[0].weight, saved["state"]["model"]["0.weight"])


def test_more_epochs_on_a_finished_run_is_refused_not_continued_at_the_old_rate(tiny_dataset, tmp_path):
    # The onecycle schedule of a 2-epoch run has decayed to 0; "continuing" it for a third
    # epoch would restart at the base lr, a run no one asked for.
    path = tmp_path / "done.pt"
    fit(small_net(), tiny_dataset, epochs=2, lr=0.05, checkpoint=path, **QUIET)
    before = path.read_bytes()
    calls = []
    with pytest.raises(CheckpointMismatchError, match=r"epochs: saved 2, now 3") as err:
        fit(small_net(), tiny_dataset, epochs=3, lr=0.05, checkpoint=path,
            on_epoch_end=lambda e, r: calls.append(e), **QUIET)
    assert str(path) in str(err.value) and "delete" in str(err.value)
    assert "another checkpoint path" in str(err.value)
    assert calls == [] and path.read_bytes() == before  # nothing trained, nothing lost


def test_changed_settings_are_refused_naming_each_difference(tiny_dataset, tmp_path):
    # The example: a new lr, schedule and training set must not get the old weights.
    train, val = tiny_dataset.split_off(64)
    path = tmp_path / "c.pt"
    fit(small_net(), train, val, epochs=2, lr=0.05, checkpoint=path, **QUIET)
    with pytest.raises(CheckpointMismatchError) as err:
        fit(small_net(), train.subset(100), val, epochs=2, lr=0.5, schedule="constant",
            checkpoint=path, **QUIET)
    message = str(err.value)
    for expected in ("lr: saved 0.05, now 0.5", "schedule: saved 'onecycle', now 'constant'",
                     "train.size: saved 192, now 100"):
        assert expected in message
    assert "epochs" not in message and "seed" not in message  # only what differs


@pytest.mark.parametrize("change, setting", [
    (dict(lr=0.02), "lr"), (dict(batch_size=64), "batch_size"), (dict(optimizer="adam"), "optimizer"),
    (dict(momentum=0.5), "momentum"), (dict(weight_decay=0.0), "weight_decay"),
    (dict(augment=Augment(flip=True)), "augment"), (dict(label_smoothing=0.1), "label_smoothing"),
    (dict(seed=1), "seed"), (dict(val="other"), "val.hash"), (dict(train="other"), "train.hash"),
])
def test_every_setting_that_defines_a_run_is_compared(tiny_dataset, tmp_path, change, setting):
    train, val = tiny_dataset.split_off(64)
    other_train, other_val = tiny_dataset.split_off(64, seed=1)  # same sizes, other examples
    path = tmp_path / "run.pt"
    base = dict(epochs=1, lr=0.05, checkpoint=path, **QUIET)
    fit(small_net(), train, val, **base)
    kwargs = {**base, **{k: v for k, v in change.items() if k not in ("train", "val")}}
    with pytest.raises(CheckpointMismatchError, match=rf"\n  {setting}: saved "):
        fit(small_net(), other_train if "train" in change else train,
            other_val if "val" in change else val, **kwargs)


def test_device_and_precision_are_recorded_but_not_compared(tiny_dataset, tmp_path):
    path = tmp_path / "run.pt"
    first = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, precision="fp32", checkpoint=path,
                **QUIET)
    assert torch.load(path, weights_only=True)["recorded"]["precision"] == "fp32"
    again = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, precision="bf16", checkpoint=path,
                **QUIET)
    assert again.rows == first.rows  # reused on "another machine"


def test_a_checkpoint_of_another_model_is_a_clear_error(tiny_dataset, tmp_path):
    path = tmp_path / "other.pt"
    fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    other = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    with pytest.raises(CheckpointError, match=r"model.class|model.layers"):
        fit(other, tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    with pytest.raises(CheckpointError, match="another model"):
        load_weights(other, path)


def _truncated(path):
    fit(small_net(), _tiny(), epochs=1, lr=0.05, checkpoint=path, **QUIET)
    path.write_bytes(path.read_bytes()[:300])


def _tiny():
    g = torch.Generator().manual_seed(0)
    return ImageDataset(torch.randint(0, 256, (40, 3, 16, 16), generator=g, dtype=torch.uint8),
                        torch.arange(40) % 4, list("abcd"))


def _data_cache(path):
    # What load_dataset caches: decoded images of both splits, written with atomic_save.
    from cnnlib.data.cache import CACHE_FORMAT
    from cnnlib.runtime import atomic_save

    data = _tiny()
    atomic_save({"format": CACHE_FORMAT, "train_images": data.images, "train_labels": data.labels,
                 "test_images": data.images, "test_labels": data.labels, "classes": data.classes,
                 "mean": [0.5] * 3, "std": [0.2] * 3}, path)


def _optimizer_state(path):
    torch.save(torch.optim.SGD(small_net().parameters(), lr=0.1, momentum=0.9).state_dict(), path)


UNREADABLE = {
    "truncated": (_truncated, "not a readable torch file"),
    "empty": (lambda p: p.write_bytes(b""), "not a readable torch file"),
    "text": (lambda p: p.write_text("epoch,loss\n1,0.5\n"), "not a readable torch file"),
    "optimizer state": (_optimizer_state, "an optimizer's state"),
    "data-cache file": (_data_cache, "data-cache file"),
    "bare state_dict": (lambda p: torch.save(small_net().state_dict(), p), "bare state_dict"),
    "older cnnlib": (lambda p: torch.save({"model": small_net().state_dict(), "optimizer": {},
                                           "epoch": 2}, p), "not a cnnlib training checkpoint"),
    "older format": (lambda p: _rewritten(p, version=2), "another version of cnnlib (checkpoint format 2"),
    "no settings": (lambda p: _rewritten(p, settings=None), "it lacks settings"),
}


def _rewritten(path, **changes):
    """A checkpoint fit wrote, with ``changes`` to its contents (None: the key removed)."""
    fit(small_net(), _tiny(), epochs=1, lr=0.05, checkpoint=path, **QUIET)
    contents = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is None:
            del contents[key]
        else:
            contents[key] = value
    torch.save(contents, path)


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_an_unusable_checkpoint_file_is_one_clear_error_naming_it(tiny_dataset, tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    make, why = UNREADABLE[kind]
    make(path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError) as err:
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    message = str(err.value)
    assert str(path) in message and why in message
    assert "Delete it" in message and "another checkpoint path" in message
    assert not isinstance(err.value, CheckpointMismatchError)
    assert path.read_bytes() == before  # the file is the student's to delete, not ours


def test_save_and_load_checkpoint_round_trip_and_compare_settings(tmp_path):
    path = tmp_path / "adv.pt"
    assert load_checkpoint(path, {"steps": 10}, device="cpu") is None  # no file: nothing to load
    history = History([{"step": 1, "loss": 0.5}], {"steps": 10})
    settings = {"steps": 10, "model": {"class": "Net", "shapes": "abc"}}
    state = {"weights": torch.arange(3.0), "rng_cpu": torch.get_rng_state()}
    save_checkpoint(path, settings=settings, recorded={"device": "cpu (2 threads)"}, state=state,
                    history=history, progress=1, finished=False)
    saved = load_checkpoint(path, settings, device="cpu")  # where it ran is not compared
    assert saved["progress"] == 1 and saved["finished"] is False
    assert saved["recorded"] == {"device": "cpu (2 threads)"}
    assert torch.equal(saved["state"]["weights"], state["weights"])
    assert saved["history"].rows == history.rows and saved["history"].settings == history.settings
    with pytest.raises(CheckpointMismatchError, match=r"model.shapes: saved 'abc', now 'xyz'"):
        load_checkpoint(path, {**settings, "model": {"class": "Net", "shapes": "xyz"}}, device="cpu")
    with pytest.raises(CheckpointMismatchError, match=r"seed: saved '\(not set\)', now 3"):
        load_checkpoint(path, {**settings, "seed": 3}, device="cpu")
    assert not [p for p in tmp_path.iterdir() if p.name != "adv.pt"]  # atomic: no temporary files


def test_stable_repr_describes_settings_objects_by_value_not_address():
    from cnnlib.data.augment import RandomAffine
    from cnnlib.transfer import layerwise_sgd

    model = small_net()
    slow, fast = layerwise_sgd(model, lr=0.01), layerwise_sgd(model, lr=0.1)
    assert stable_repr(slow) == stable_repr(layerwise_sgd(small_net(seed=4), lr=0.01))
    assert stable_repr(slow) != stable_repr(fast) and "lr=0.01" in stable_repr(slow)
    assert stable_repr(RandomAffine(degrees=10)) != stable_repr(RandomAffine(degrees=20))
    assert stable_repr(lambda p, lr=0.1: p) != stable_repr(lambda p, lr=0.2: p)
    for obj in (slow, RandomAffine(degrees=10), object(), Augment(flip=True)):
        assert " at 0x" not in stable_repr(obj)


def test_history_state_round_trips():
    history = History([{"epoch": 1, "val_acc": 0.5}], {"lr": 0.1})
    again = History.from_state(history.state_dict())
    assert again.rows == history.rows and again.settings == history.settings
    assert again["val_acc"] == [0.5] and again.last == {"epoch": 1, "val_acc": 0.5}


def test_fingerprints_tell_models_and_data_apart(tiny_dataset):
    from cnnlib.initialisation import freeze

    assert model_fingerprint(small_net(seed=0)) == model_fingerprint(small_net(seed=3))  # init aside
    wider = nn.Sequential(nn.Conv2d(3, 9, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.0), nn.Linear(9 * 8 * 8, 4))
    assert model_fingerprint(wider)["layers"] != model_fingerprint(small_net())["layers"]
    frozen = freeze(small_net(), trainable=("5",))
    assert model_fingerprint(frozen)["trainable"] == 8 * 8 * 8 * 4 + 4
    assert data_fingerprint(tiny_dataset) == data_fingerprint(tiny_dataset.select(torch.arange(256)))
    assert data_fingerprint(tiny_dataset.subset(100))["size"] == 100
    a, b = tiny_dataset.split_off(64, seed=0)[1], tiny_dataset.split_off(64, seed=1)[1]
    assert data_fingerprint(a)["hash"] != data_fingerprint(b)["hash"]
    restats = ImageDataset(tiny_dataset.images, tiny_dataset.labels, tiny_dataset.classes,
                           stats=([0.5] * 3, [0.5] * 3))
    assert data_fingerprint(restats)["hash"] != data_fingerprint(tiny_dataset)["hash"]


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
    result = evaluate(model, tiny_dataset, device="cpu", precision="fp32")
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


def test_history_prints_and_plots(tiny_dataset):
    import matplotlib
    matplotlib.use("Agg")
    history = History([{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": None,
                        "val_acc": None, "seconds": 2.0, "images_per_s": 1000.0, "lr": 0.1}])
    text = repr(history)
    assert "train loss" in text and "1.0000" in text and "1,000" in text
    assert len(history.plot().axes) == 2


# --------------------------------------------------------------------------------------
# forever

def test_forever_streams_pass_after_pass_each_with_a_fresh_deterministic_shuffle(tiny_dataset):
    loader = DeviceLoader(tiny_dataset, 64, shuffle=True, drop_last=True, device="cpu", seed=3)
    stream = forever(loader)
    got = [next(stream)[1] for _ in range(3 * len(loader))]
    passes = []
    for epoch in range(3):  # oracle: fresh loaders set to each epoch by hand
        oracle = DeviceLoader(tiny_dataset, 64, shuffle=True, drop_last=True, device="cpu", seed=3)
        oracle.epoch = epoch
        passes.append(torch.cat([y for _, y in oracle]))
    assert torch.equal(torch.cat(got), torch.cat(passes))
    assert not torch.equal(passes[0], passes[1])  # a new order each pass


def test_forever_advances_loaders_that_do_not_count_their_own_passes():
    class Counted:  # a loader with an epoch it does not advance itself
        epoch = 0

        def __iter__(self):
            yield from [(self.epoch, "a"), (self.epoch, "b")]

    stream = forever(Counted())
    assert [next(stream)[0] for _ in range(6)] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="no batches"):
        next(forever([]))


# --------------------------------------------------------------------------------------
# Bad input: a clear ValueError each, before any training

def test_empty_training_or_validation_data_is_refused(tiny_dataset):
    empty = tiny_dataset.select(torch.arange(0))
    with pytest.raises(ValueError, match="training set is empty"):
        fit(small_net(), empty, epochs=1, lr=0.05, **QUIET)
    with pytest.raises(ValueError, match="validation set is empty"):
        fit(small_net(), tiny_dataset, empty, epochs=1, lr=0.05, **QUIET)
    with pytest.raises(ValueError, match="training set is empty"):
        fit(nn.Linear(3, 2), (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), epochs=1,
            lr=0.05, **QUIET)


@pytest.mark.parametrize("epochs", [0, -1, 2.5])
def test_epochs_below_one_is_refused(tiny_dataset, epochs):
    with pytest.raises(ValueError, match="epochs must be a whole number of at least 1"):
        fit(small_net(), tiny_dataset, epochs=epochs, lr=0.05, **QUIET)


@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan")])
def test_a_learning_rate_that_is_not_positive_is_refused(tiny_dataset, lr):
    with pytest.raises(ValueError, match="lr must be a positive learning rate"):
        fit(small_net(), tiny_dataset, epochs=1, lr=lr, **QUIET)


def test_a_head_with_more_outputs_than_classes_says_to_replace_it(tiny_dataset):
    net = small_net()
    net[5] = nn.Linear(8 * 8 * 8, 10)
    with pytest.raises(ValueError, match=r"10 outputs but the data has 4 classes.*replace_head\(model, 4\)"):
        fit(net, tiny_dataset, epochs=1, lr=0.05, **QUIET)


def test_a_head_with_fewer_outputs_than_classes_names_the_labels_out_of_range(tiny_dataset):
    net = small_net()
    net[5] = nn.Linear(8 * 8 * 8, 2)
    with pytest.raises(ValueError, match=r"2 outputs but the labels go up to 3: labels 2..3 are out of range"):
        fit(net, tiny_dataset, epochs=1, lr=0.05, **QUIET)


def test_a_float64_model_is_refused_with_the_fix(tiny_dataset):
    with pytest.raises(ValueError, match=r"float64.*model.float\(\)"):
        fit(small_net().double(), tiny_dataset, epochs=1, lr=0.05, **QUIET)


def test_channels_last_uint8_images_are_refused_with_the_permute(tiny_dataset):
    nhwc = ImageDataset(tiny_dataset.images.permute(0, 2, 3, 1).contiguous(), tiny_dataset.labels,
                        tiny_dataset.classes)
    with pytest.raises(ValueError, match=r"\(256, 16, 16, 3\).*permute\(0, 3, 1, 2\)"):
        fit(small_net(), nhwc, epochs=1, lr=0.05, **QUIET)
    with pytest.raises(ValueError, match=r"permute\(0, 3, 1, 2\)"):
        fit(small_net(), tiny_dataset, nhwc, epochs=1, lr=0.05, **QUIET)


# --------------------------------------------------------------------------------------
# Feature tensors

def blobs(n=300, dim=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g) * 4
    labels = torch.arange(n) % classes
    return centres[labels] + torch.randn(n, dim, generator=g) * 0.3, labels


def test_fit_on_features_is_plain_gradient_descent_on_the_raw_features():
    # Oracle: full-batch gradient descent written out by hand, with the softmax regression
    # gradient (softmax - onehot)^T x / n. fit must batch the features as they are: no
    # normalisation (the features are far from zero mean, unit variance), no augmentation.
    features, labels = blobs(n=120)
    features = features + 5.0
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    w, b = model.weight.detach().clone(), model.bias.detach().clone()
    fit(model, (features, labels), epochs=5, lr=0.01, batch_size=120, momentum=0.0,
        weight_decay=0.0, schedule="constant", precision="fp32", **QUIET)
    onehot = F.one_hot(labels, 3).float()
    for _ in range(5):
        error = torch.softmax(features @ w.T + b, 1) - onehot
        w -= 0.01 * error.T @ features / 120
        b -= 0.01 * error.mean(0)
    assert torch.allclose(model.weight, w, atol=1e-5) and torch.allclose(model.bias, b, atol=1e-5)


def test_fit_trains_a_linear_classifier_on_features_with_validation():
    # Features with a validation pair; evaluate takes a pair too.
    features, labels = blobs()
    val = blobs(n=90, seed=0)  # same centres, since the centres come first from the generator
    torch.manual_seed(0)
    classifier = nn.Linear(8, 3)
    history = fit(classifier, (features, labels), val, epochs=30, lr=0.01, optimizer="adam",
                  weight_decay=1e-3, batch_size=64, **QUIET)
    assert (classifier(features).argmax(1) == labels).float().mean() == 1.0
    assert history.last["val_acc"] == 1.0
    assert evaluate(classifier, val, device="cpu")["acc"] == 1.0


def test_feature_data_is_checked_and_can_be_checkpointed(tmp_path):
    features, labels = blobs()
    with pytest.raises(ValueError, match="features are uint8"):
        fit(nn.Linear(8, 3), (features.to(torch.uint8), labels), epochs=1, lr=0.1, **QUIET)
    with pytest.raises(ValueError, match=r"features.float\(\)"):
        fit(nn.Linear(8, 3), (features.double(), labels), epochs=1, lr=0.1, **QUIET)
    with pytest.raises(ValueError, match="299 labels"):
        fit(nn.Linear(8, 3), (features, labels[:-1]), epochs=1, lr=0.1, **QUIET)
    with pytest.raises(ValueError, match="augment applies to uint8 images"):
        fit(nn.Linear(8, 3), (features, labels), epochs=1, lr=0.1, augment=Augment(flip=True), **QUIET)
    path = tmp_path / "linear.pt"
    first = fit(nn.Linear(8, 3), (features, labels), epochs=2, lr=0.1, checkpoint=path, **QUIET)
    assert fit(nn.Linear(8, 3), (features, labels), epochs=2, lr=0.1, checkpoint=path, **QUIET).rows == first.rows
    with pytest.raises(CheckpointMismatchError, match="train.hash"):
        fit(nn.Linear(8, 3), (features + 1, labels), epochs=2, lr=0.1, checkpoint=path, **QUIET)


# --------------------------------------------------------------------------------------
# The recipe options: ema, tta, whiten (cnnlib.recipe bundles them)

def bn_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 24, 2), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(3),
                         nn.Flatten(), nn.Linear(24 * 5 * 5, 4))


def test_evaluate_with_flip_tta_averages_the_logits_of_each_image_and_its_mirror(tiny_dataset):
    model = small_net().eval()
    x, y = next(iter(DeviceLoader(tiny_dataset, 256, device="cpu")))
    with torch.no_grad():
        logits = (model(x) + model(torch.flip(x, dims=[3]))) / 2
    result = evaluate(model, tiny_dataset, device="cpu", precision="fp32", tta="flip")
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    plain = evaluate(model, tiny_dataset, device="cpu", precision="fp32")
    assert plain["loss"] != pytest.approx(result["loss"], rel=1e-5)  # the mirror does count
    with pytest.raises(ValueError, match="tta='crop'.*None, 'flip' or 'flip\\+translate'"):
        evaluate(model, tiny_dataset, device="cpu", tta="crop")
    with pytest.raises(ValueError, match="tta=\"'flip'\""):  # a key's repr is not a tta
        tta_logits(model, x, repr("flip"))
    with pytest.raises(ValueError, match="feature tensors"):
        evaluate(nn.Linear(4, 2), (torch.randn(8, 4), torch.zeros(8).long()), device="cpu", tta="flip")


def test_evaluate_with_flip_translate_tta_is_airbenchs_six_view_average(tiny_dataset):
    model = small_net().eval()
    x, y = next(iter(DeviceLoader(tiny_dataset, 256, device="cpu")))
    # the shifted copies by hand, with numpy's reflecting pad: (i, j) <- (i - 1, j - 1), (i + 1, j + 1)
    padded = torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect"))
    up_left, down_right = padded[:, :, :-2, :-2], padded[:, :, 2:, 2:]
    assert torch.equal(down_right[:, :, 0, 0], x[:, :, 1, 1])
    views = [x, up_left, down_right]
    with torch.no_grad():
        mirrored = [(model(v) + model(torch.flip(v, dims=[3]))) / 2 for v in views]
    logits = mirrored[0] / 2 + (mirrored[1] + mirrored[2]) / 4
    result = evaluate(model, tiny_dataset, device="cpu", precision="fp32", tta="flip+translate")
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert result["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    flip = evaluate(model, tiny_dataset, device="cpu", precision="fp32", tta="flip")
    assert flip["loss"] != pytest.approx(result["loss"], rel=1e-5)  # the shifts do count


def test_fit_with_ema_leaves_the_average_in_the_model_and_validates_with_it(tiny_dataset):
    train, val = tiny_dataset.split_off(64)
    model = bn_net()
    history = fit(model, train, val, epochs=2, lr=0.05, batch_size=32, ema=0.9, seed=3, **QUIET)
    # the final weights are the average: evaluating them gives the history's last val row
    val_as_fit_sees_it = DeviceLoader(val, 500, device="cpu", mean=train.mean, std=train.std)
    again = evaluate(model, val_as_fit_sees_it, device="cpu")
    assert again["loss"] == pytest.approx(history.last["val_loss"], rel=1e-5)
    plain = bn_net()
    fit(plain, train, val, epochs=2, lr=0.05, batch_size=32, seed=3, **QUIET)
    assert not torch.equal(plain[0].weight, model[0].weight)
    assert history.settings["ema"] == 0.9
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit(bn_net(), train, epochs=1, lr=0.05, ema=1.5, **QUIET)


def test_an_interrupted_ema_run_resumes_to_the_same_weights_and_average(tiny_dataset, tmp_path):
    kwargs = dict(epochs=3, lr=0.05, batch_size=32, seed=5, ema=0.8, **QUIET)
    straight = bn_net()
    fit(straight, tiny_dataset, **kwargs)
    path = tmp_path / "run.pt"

    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(bn_net(), tiny_dataset, checkpoint=path, on_epoch_end=interrupt, **kwargs)
    assert "ema" in torch.load(path, weights_only=True)["state"]
    resumed = bn_net(seed=99)
    fit(resumed, tiny_dataset, checkpoint=path, **kwargs)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    # a finished ema run loads as its averaged weights, untrained
    again = bn_net(seed=7)
    fit(again, tiny_dataset, checkpoint=path, **kwargs)
    for a, b in zip(straight.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("change, setting", [
    (dict(ema=0.9), "ema"), (dict(tta="flip"), "tta"), (dict(whiten="pca"), "whiten"),
])
def test_the_recipe_options_are_compared_on_resume(tiny_dataset, tmp_path, change, setting):
    path = tmp_path / "run.pt"
    train, val = tiny_dataset.split_off(64)
    fit(bn_net(), train, val, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    with pytest.raises(CheckpointMismatchError, match=rf"\n  {setting}: saved None, now "):
        fit(bn_net(), train, val, epochs=1, lr=0.05, checkpoint=path, **change, **QUIET)


def test_fit_whitens_the_first_conv_frozen_or_trained(tiny_dataset):
    from cnnlib.initialisation import whiten_first_conv

    frozen = bn_net()
    history = fit(frozen, tiny_dataset, epochs=1, lr=0.05, batch_size=32, whiten="pca",
                  whiten_frozen=True, augment=Augment(translate=2, flip=True), **QUIET)
    reference = bn_net()  # whitened by hand on the same (unaugmented, normalised) images
    loader = DeviceLoader(tiny_dataset, 256, device="cpu")
    whiten_first_conv(reference, loader.normalise(tiny_dataset.images), kind="pca")
    assert torch.allclose(frozen[0].weight, reference[0].weight, atol=1e-5)  # frozen: unchanged
    assert not frozen[0].weight.requires_grad
    assert history.settings["whiten"] == "pca" and history.settings["whiten_frozen"] is True
    trained = bn_net()
    fit(trained, tiny_dataset, epochs=1, lr=0.05, batch_size=32, whiten="pca", **QUIET)
    assert not torch.allclose(trained[0].weight, reference[0].weight, atol=1e-3)
    with pytest.raises(ValueError, match="feature tensors"):
        fit(nn.Linear(4, 2), (torch.randn(8, 4), torch.zeros(8).long()), epochs=1, lr=0.1,
            whiten="pca", **QUIET)


# --------------------------------------------------------------------------------------
# Never a stale run, never an unreadable checkpoint

def test_a_model_changed_only_in_a_layer_without_weights_does_not_load_the_old_run(tiny_dataset,
                                                                                    tmp_path):
    path = tmp_path / "run.pt"
    fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    tanh = small_net()
    tanh[1] = nn.Tanh()  # chapter 7's experiment: the same weights' shapes, another net
    with pytest.raises(CheckpointMismatchError, match=r"model.layers: saved"):
        fit(tanh, tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    with pytest.raises(CheckpointMismatchError, match=r"model.layers: saved"):
        fit(small_net(dropout=0.1), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)


def _notebook_lambda(source):
    namespace = {"__name__": "__main__", "torch": torch}
    exec(f"f = {source}", namespace)
    return namespace["f"]


@pytest.mark.parametrize("setting, source, edited", [
    ("optimizer", "lambda params: torch.optim.SGD(params, lr=0.05, momentum={})", (0.9, 0.5)),
    ("augment", "lambda images, generator: images.flip({})", (3, 2)),
])
def test_an_edited_lambda_does_not_load_the_old_run(tiny_dataset, tmp_path, setting, source, edited):
    # Every notebook lambda is __main__.<lambda>: described by its name, an edit loaded the old run.
    path = tmp_path / "run.pt"
    original, changed = (_notebook_lambda(source.format(value)) for value in edited)

    def run(function):
        return fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path,
                   **{setting: function}, **QUIET)

    first = run(original)
    rerun = run(_notebook_lambda(source.format(edited[0])))  # the cell run again: loaded
    assert rerun.rows == first.rows
    with pytest.raises(CheckpointMismatchError, match=rf"\n  {setting}: saved"):
        run(changed)


def test_numpy_settings_write_checkpoints_that_load_and_resume(tiny_dataset, tmp_path):
    # lr from np.logspace, a batch size from a NumPy array: weights-only loading must read them.
    kwargs = dict(epochs=np.int64(3), lr=np.logspace(-2, -1, 3)[2], batch_size=np.int64(32),
                  weight_decay=np.float32(1e-4), seed=5, **QUIET)
    straight = small_net(dropout=0.3)
    fit(straight, tiny_dataset, **kwargs)
    path = tmp_path / "run.pt"
    _interrupt_after_the_first_epoch(tiny_dataset, path, **kwargs)
    assert torch.load(path, weights_only=True)["progress"] == 2
    resumed = small_net(seed=99, dropout=0.3)
    history = fit(resumed, tiny_dataset, checkpoint=path, **kwargs)
    assert history.settings["resumed_from_epoch"] == 2
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    calls = []
    fit(small_net(dropout=0.3), tiny_dataset, checkpoint=path, on_epoch_end=lambda e, r: calls.append(e),
        **kwargs)
    assert calls == []  # the finished run is loaded


def test_a_device_loader_with_another_batch_size_or_augmentation_is_refused(tiny_dataset, tmp_path):
    loader = DeviceLoader(tiny_dataset, 64, shuffle=True, drop_last=True, device="cpu")
    with pytest.raises(ValueError, match=r"augment=Augment.*DeviceLoader.*augment=None"):
        fit(small_net(), loader, epochs=1, lr=0.05, augment=Augment(flip=True), **QUIET)
    with pytest.raises(ValueError, match=r"batch_size=32 cannot apply.*batch_size=64"):
        fit(small_net(), loader, epochs=1, lr=0.05, batch_size=32, **QUIET)
    # what the loader really uses is what the checkpoint records
    path = tmp_path / "run.pt"
    history = fit(small_net(), loader, epochs=1, lr=0.05, batch_size=64, checkpoint=path, **QUIET)
    assert history.settings["batch_size"] == 64 and history.settings["augment"] is None
    flipping = DeviceLoader(tiny_dataset, 64, shuffle=True, drop_last=True, device="cpu",
                            augment=Augment(flip=True))
    with pytest.raises(CheckpointMismatchError, match=r"augment: saved None, now 'Augment"):
        fit(small_net(), flipping, epochs=1, lr=0.05, checkpoint=path, **QUIET)
