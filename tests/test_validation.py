"""cnnlib.validation: bad input to fit, evaluate, the checkpoints and the adapt loops is a clear
ValueError that names the argument, the data or the file, raised before any training (each test
here failed before the module existed: a raw torch error, a misleading one, or a silent run)."""
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from cnnlib import validation
from cnnlib.adapt.adda import adapt
from cnnlib.adapt.cyclegan import train_cyclegan
from cnnlib.checkpoint import CheckpointError, read_checkpoint
from cnnlib.train import evaluate, fit

QUIET = dict(progress=False, device="cpu")


def small_net(seed=0, outputs=4):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 8 * 8, outputs))


def features(n=64, bad=None):
    """A (features, labels) pair of 4 classes; ``bad``: a value put into row 5."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 6, generator=g), torch.randint(0, 4, (n,), generator=g)
    if bad is not None:
        x[5, 2] = bad
    return x, y


def no_epoch_may_run(epoch, row):
    raise AssertionError("training started before the bad input was noticed")


# --------------------------------------------------------------------------------------
# NaN and inf in the data are named, not blamed on the learning rate

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_training_features_are_named_not_blamed_on_the_learning_rate(bad):
    with pytest.raises(ValueError, match=r"the training data holds NaN or infinite values in 1 "
                                         r"of its 64 examples \(the first is example 5\)"):
        fit(nn.Linear(6, 4), features(bad=bad), epochs=1, lr=0.1, on_epoch_end=no_epoch_may_run,
            **QUIET)


def test_non_finite_validation_features_are_named():
    with pytest.raises(ValueError, match="the validation data holds NaN or infinite values"):
        fit(nn.Linear(6, 4), features(), features(bad=float("nan")), epochs=1, lr=0.1,
            on_epoch_end=no_epoch_may_run, **QUIET)
    with pytest.raises(ValueError, match="the evaluation data holds NaN or infinite values"):
        evaluate(nn.Linear(6, 4), features(bad=float("nan")), device="cpu")


# --------------------------------------------------------------------------------------
# Labels: class numbers, and a head with an output for each

def test_a_negative_label_is_named_before_training(tiny_dataset):
    tiny_dataset.labels[7] = -1
    with pytest.raises(ValueError, match=r"the training labels include -1; labels are class "
                                         r"numbers 0, 1, \.\.\."):
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05, on_epoch_end=no_epoch_may_run, **QUIET)
    with pytest.raises(ValueError, match="the evaluation labels include -1"):
        evaluate(small_net(), tiny_dataset, device="cpu")


def test_evaluate_checks_the_head_against_the_labels(tiny_dataset):
    with pytest.raises(ValueError, match=r"the model has 2 outputs but the evaluation labels go "
                                         r"up to 3.*replace_head\(model, 4\)"):
        evaluate(small_net(outputs=2), tiny_dataset, device="cpu")


def test_a_validation_set_with_more_classes_than_the_head_is_refused():
    x, y = features()
    with pytest.raises(ValueError, match="the model has 3 outputs but the evaluation labels go up to 3"):
        fit(nn.Linear(6, 3), (x, y.clamp(max=2)), (x, y), epochs=1, lr=0.1, **QUIET)


def test_float_labels_are_refused():
    x, y = features()
    with pytest.raises(ValueError, match=r"the training labels are torch.float32.*labels.long\(\)"):
        fit(nn.Linear(6, 4), (x, y.float()), epochs=1, lr=0.1, **QUIET)


# --------------------------------------------------------------------------------------
# evaluate: an empty set, a model without parameters

def test_evaluate_on_an_empty_set_says_so(tiny_dataset):
    with pytest.raises(ValueError, match="the evaluation set is empty"):
        evaluate(small_net(), tiny_dataset.select(torch.arange(0)), device="cpu")


def test_evaluate_works_for_a_model_without_parameters():
    x = torch.eye(4).repeat(8, 1)
    y = torch.arange(4).repeat(8)
    result = evaluate(nn.Flatten(), (x, y))  # no parameters to read a device from
    assert result["acc"] == 1.0
    assert validation.model_device(nn.ReLU()) == validation.get_device()
    assert validation.model_device(nn.BatchNorm1d(3, affine=False)) == torch.device("cpu")
    assert validation.model_device(nn.Linear(2, 2), "meta") == torch.device("meta")  # given: kept


# --------------------------------------------------------------------------------------
# The model's dtype

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_or_bfloat16_model_is_refused_with_the_fix(tiny_dataset, dtype):
    message = r"weights are (float16|bfloat16).*model.float\(\).*precision='bf16'"
    with pytest.raises(ValueError, match=message):
        fit(small_net().to(dtype), tiny_dataset, epochs=1, lr=0.05, **QUIET)
    with pytest.raises(ValueError, match=message):
        evaluate(small_net().to(dtype), tiny_dataset, device="cpu")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_adda_refuses_a_half_or_bfloat16_encoder_with_the_fix(tiny_dataset, dtype):
    # It failed at the first step with torch's "Input type (float) and bias type (c10::Half)".
    with pytest.raises(ValueError, match=r"the source_encoder's weights are (float16|bfloat16); "
                                         r"this loop trains in float32: call source_encoder.float"):
        adapt(small_net().to(dtype), tiny_dataset, tiny_dataset, steps=1, batch_size=8, device="cpu")


# --------------------------------------------------------------------------------------
# An augmentation must keep the uint8 protocol

def test_an_augmentation_that_returns_floats_in_0_1_is_refused_before_training(tiny_dataset):
    def to_unit_floats(images, generator):
        return images.float() / 255

    state = torch.get_rng_state()
    # cnnlib.data.augment checks what every augmentation returns, before the first step
    with pytest.raises(ValueError, match=r"returned .*float32.*must return a uint8 batch"):
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05, augment=to_unit_floats,
            on_epoch_end=no_epoch_may_run, **QUIET)
    torch.set_rng_state(state)


# --------------------------------------------------------------------------------------
# Checkpoint paths that cannot be written fail before the first epoch

def test_a_checkpoint_under_a_file_fails_before_training(tiny_dataset, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match=r"cannot write the checkpoint .*file/run\.pt.*pass a "
                                         r"checkpoint path in a folder you can write to"):
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=tmp_path / "file" / "run.pt",
            on_epoch_end=no_epoch_may_run, **QUIET)


def test_a_path_that_is_a_folder_is_not_writable_and_a_missing_folder_is_made(tmp_path):
    # (fit reads an existing path first, and says it is no checkpoint: also before training)
    with pytest.raises(ValueError, match=r"the checkpoint path .* is a folder; pass a file path"):
        validation.check_writable(tmp_path)
    validation.check_writable(tmp_path / "new" / "run.pt")
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []


def test_a_checkpoint_in_a_read_only_folder_fails_before_training(tiny_dataset, read_only_folder):
    with pytest.raises(ValueError, match="cannot write the checkpoint"):
        fit(small_net(), tiny_dataset, epochs=1, lr=0.05,
            checkpoint=f"{read_only_folder}/run.pt", on_epoch_end=no_epoch_may_run, **QUIET)


def test_a_finished_checkpoint_in_a_read_only_place_still_loads(tiny_dataset, tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    history = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)

    def unwritable(path, what="checkpoint"):
        raise ValueError("checked")

    monkeypatch.setattr(validation, "check_writable", unwritable)
    again = fit(small_net(), tiny_dataset, epochs=1, lr=0.05, checkpoint=path, **QUIET)
    assert again.rows == history.rows  # loaded: reading needs no write access


def test_the_adapt_loops_check_their_checkpoint_path_before_the_first_step(tiny_dataset, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    path = tmp_path / "file" / "run.pt"
    with pytest.raises(ValueError, match="cannot write the checkpoint"):
        adapt(small_net(), tiny_dataset, tiny_dataset, steps=1, batch_size=8, device="cpu",
              checkpoint=path)
    with pytest.raises(ValueError, match="cannot write the checkpoint"):
        train_cyclegan(tiny_dataset, tiny_dataset, steps=1, batch_size=4, width=4, n_blocks=1,
                       device="cpu", checkpoint=path)


# --------------------------------------------------------------------------------------
# Files that hold code are untrusted, never "load them with weights_only=False"

class RunsCode:
    def __reduce__(self):
        return (print, ("this would have run",))


def test_a_checkpoint_that_holds_code_is_called_untrusted(tmp_path):
    path = tmp_path / "run.pt"
    torch.save({"format": "cnnlib-checkpoint", "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and "not a cnnlib file" in message and "could run code" in message
    assert "weights_only" not in message and "Delete it" in message


def test_load_errors_are_described_by_what_the_file_holds():
    numpy_refused = pickle.UnpicklingError("Weights only load failed ... Unsupported global: "
                                           "GLOBAL numpy._core.multiarray.scalar was not ...")
    assert "NumPy values (numpy._core.multiarray.scalar)" in validation.describe_load_error(numpy_refused)
    assert validation.describe_load_error(EOFError()) == "it is not a readable torch file (EOFError: )"


# --------------------------------------------------------------------------------------
# Type slips and settings that would be ignored

@pytest.mark.parametrize("change, message", [
    (dict(lr="0.1"), r"lr must be a number, got '0.1' \(a str\): write lr=0.1 without quotes"),
    (dict(batch_size=32.0), r"batch_size must be a whole number of at least 1, got 32.0 \(a "
                            r"float\): write batch_size=32"),
    (dict(epochs=2.5), r"epochs must be a whole number of at least 1, got 2.5 \(a float\)"),
    (dict(epochs="2"), r"epochs must be a whole number of at least 1, got '2' \(a str\)"),
    (dict(momentum=1.5), r"momentum must be at least 0 and below 1, got 1.5"),
    (dict(weight_decay=-1e-4), r"weight_decay must be a finite number of at least 0"),
    (dict(label_smoothing="0.1"), r"label_smoothing must be a number"),
    (dict(lr=float("inf")), r"lr must be a positive learning rate, got inf"),
    (dict(whiten_frozen=True), r"whiten_frozen=True keeps a whitened first conv fixed, but "
                               r"whiten=None whitens nothing"),
])
def test_type_slips_and_ignored_settings_name_the_argument(tiny_dataset, change, message):
    settings = dict(epochs=1, lr=0.05, **QUIET) | change
    with pytest.raises(ValueError, match=message):
        fit(small_net(), tiny_dataset, on_epoch_end=no_epoch_may_run, **settings)


def test_evaluate_names_a_batch_size_that_is_not_a_whole_number(tiny_dataset):
    # Its loaders took 32.0 and failed later with "'float' object cannot be interpreted as an integer".
    with pytest.raises(ValueError, match=r"batch_size must be a whole number .* write batch_size=32"):
        evaluate(small_net(), tiny_dataset, batch_size=32.0, device="cpu")
    with pytest.raises(ValueError, match=r"batch_size must be a whole number .* write batch_size=32"):
        evaluate(nn.Linear(6, 4), features(), batch_size=32.0, device="cpu")


def test_numpy_numbers_are_numbers():
    for value in (np.int64(3), np.float32(0.1)):
        validation.check_positive("lr", value)
    validation.check_whole("batch_size", np.int64(32))
    with pytest.raises(ValueError, match="must be a whole number"):
        validation.check_whole("epochs", True)


@pytest.mark.parametrize("lr", [0, 0.0, -2e-4, float("nan"), "2e-4"])
def test_adda_refuses_a_learning_rate_that_would_train_nothing(tiny_dataset, lr):
    with pytest.raises(ValueError, match="lr must be a"):
        adapt(small_net(), tiny_dataset, tiny_dataset, steps=1, batch_size=8, lr=lr, device="cpu")


@pytest.mark.parametrize("change, message", [
    (dict(lr=0), "lr must be a positive learning rate"),
    (dict(betas=(0.5, 1.5)), "betas must be at least 0 and below 1"),
    (dict(betas=0.5), r"betas must be a pair \(beta1, beta2\)"),
    (dict(lambda_cycle=-10), "lambda_cycle must be a finite number of at least 0"),
    (dict(lambda_identity=float("nan")), "lambda_identity must be a finite number of at least 0"),
    (dict(pool_size=2.5), "pool_size must be a whole number of at least 0"),
])
def test_cyclegan_refuses_settings_that_cannot_train(tiny_dataset, change, message):
    with pytest.raises(ValueError, match=message):
        train_cyclegan(tiny_dataset, tiny_dataset, steps=1, batch_size=4, width=4, n_blocks=1,
                       device="cpu", **change)
