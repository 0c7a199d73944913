"""cnnlib.checkpoint: fingerprints see every change that makes another run (layers without
weights, an edited lambda, one edited image), and a checkpoint the library writes is always
readable with weights-only loading (NumPy numbers included)."""
import numpy as np
import pytest
import torch
from torch import nn

from cnnlib.checkpoint import (data_fingerprint, model_fingerprint, plain, read_checkpoint,
                               save_checkpoint, stable_repr, state_digest)
from cnnlib.data import ImageDataset
from cnnlib.history import History


def net(activation=nn.ReLU, pool=None, dropout=0.5, bn_eps=1e-5, bn_momentum=0.1):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8, eps=bn_eps, momentum=bn_momentum),
                         activation(), pool or nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(dropout),
                         nn.Linear(8 * 8 * 8, 4))


class Scale(nn.Module):
    """A module whose one setting is a plain attribute (no extra_repr)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


@pytest.mark.parametrize("other", [
    dict(activation=nn.Tanh), dict(dropout=0.1), dict(pool=nn.AvgPool2d(2)),
    dict(pool=nn.MaxPool2d(2, ceil_mode=True)), dict(bn_eps=1e-3), dict(bn_momentum=0.01),
], ids=["relu->tanh", "dropout p", "max->avg pool", "ceil_mode", "bn eps", "bn momentum"])
def test_a_model_changed_only_in_layers_without_weights_is_another_model(other):
    # The chapters 3 and 7 experiments: same weight shapes, another network.
    assert model_fingerprint(net(**other)) != model_fingerprint(net())
    assert model_fingerprint(net()) == model_fingerprint(net())  # the same code: the same model


def test_the_fingerprint_sees_plain_attributes_trainability_and_a_custom_forward():
    assert model_fingerprint(Scale(1 / 9)) != model_fingerprint(Scale(1 / 8))
    first, second = (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)) for _ in range(2))
    first[0].requires_grad_(False)
    second[1].requires_grad_(False)  # as many trainable parameters, in another layer
    assert model_fingerprint(first) != model_fingerprint(second)
    namespace = {"nn": nn, "__name__": "__main__"}
    for body in ("x * 2", "x * 3"):  # a notebook cell defining a module, edited
        exec(f"class Double(nn.Module):\n    def forward(self, x):\n        return {body}\n", namespace)
        namespace[body] = model_fingerprint(namespace["Double"]())
    assert namespace["x * 2"] != namespace["x * 3"]


def test_torch_layers_are_described_by_their_settings_not_by_what_a_torch_release_prints(
        monkeypatch):
    # torch 2.14's BatchNorm2d repr shows `bias=True` and 2.11's does not; a release may add
    # an attribute or a constructor argument with a default. None of that is another network:
    # a checkpoint or a recorded prediction from one torch must be recognised under another.
    before = model_fingerprint(net())
    monkeypatch.setattr(nn.BatchNorm2d, "extra_repr", lambda self: "printed differently")
    model = net()
    model[1].a_new_attribute = True
    assert model_fingerprint(model) == before
    model[1].momentum = 0.2  # a setting that was passed: another network
    assert model_fingerprint(model) != before


def test_a_method_is_described_by_its_source_without_comments_or_indentation(tmp_path,
                                                                              monkeypatch):
    # Source, not bytecode: Python 3.11's and 3.13's bytecode differ for the same class.
    import importlib

    def fingerprint(body):
        (tmp_path / "net_module.py").write_text(
            "from torch import nn\n\n\nclass Half(nn.Module):\n"
            f"    def forward(self, x):\n{body}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        import net_module
        return model_fingerprint(importlib.reload(net_module).Half())

    plain_body = fingerprint("        return x / 2")
    assert fingerprint("        # halve it\n\n        return x / 2") == plain_body
    assert fingerprint("        return x / 3") != plain_body


def _lambda(source: str, **globals_):
    """A function as a notebook cell makes it: module __main__, name <lambda>."""
    namespace = {"__name__": "__main__", "torch": torch, **globals_}
    exec(f"f = {source}", namespace)
    return namespace["f"]


def test_functions_are_described_by_their_code_constants_and_the_values_they_use():
    sgd = "lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)"
    assert stable_repr(_lambda(sgd)) == stable_repr(_lambda(sgd))  # run again: the same
    edited = _lambda("lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.5)")
    assert stable_repr(edited) != stable_repr(_lambda(sgd))
    adam = _lambda("lambda params: torch.optim.Adam(params, lr=0.1)")
    assert stable_repr(adam) != stable_repr(_lambda(sgd))
    # a module-level number it reads, a nested function's code, a set's order
    uses_lr = "lambda params: torch.optim.SGD(params, lr=LR)"
    assert stable_repr(_lambda(uses_lr, LR=0.1)) != stable_repr(_lambda(uses_lr, LR=0.2))
    nested = "lambda batch, g: (lambda x: x.flip({}))(batch)"
    assert stable_repr(_lambda(nested.format(3))) != stable_repr(_lambda(nested.format(2)))
    assert "at 0x" not in stable_repr(_lambda(sgd))


def test_objects_without_a_stable_repr_are_described_by_their_attributes():
    from cnnlib.data.augment import as_augmentation

    one = as_augmentation(_lambda("lambda batch, g: batch.flip(3)"))
    two = as_augmentation(_lambda("lambda batch, g: batch.flip(2)"))
    assert stable_repr(one) != stable_repr(two) and "at 0x" not in stable_repr(one)


def big_dataset(n=1000):
    g = torch.Generator().manual_seed(0)
    return ImageDataset(torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8),
                        torch.arange(n) % 4, list("abcd"))


def test_the_data_fingerprint_covers_every_image():
    data = big_dataset()
    edited = big_dataset()
    edited.images[1, 0, 0, 0] += 1  # an image between the 256 an old sample looked at
    assert data_fingerprint(edited)["hash"] != data_fingerprint(data)["hash"]
    assert data_fingerprint(big_dataset()) == data_fingerprint(data)
    features = torch.randn(1000, 5)
    other = features.clone()
    other[500, 2] += 1
    assert data_fingerprint((features, data.labels)) != data_fingerprint((other, data.labels))


def test_plain_turns_numpy_numbers_into_python_numbers_everywhere():
    value = plain({"lr": np.float64(0.1), "batch": np.int64(32), "betas": (np.float32(0.5), 0.9),
                   "rows": [{"acc": np.float32(0.25)}], "grid": np.arange(3)})
    assert value == {"lr": 0.1, "batch": 32, "betas": (0.5, 0.9), "rows": [{"acc": 0.25}],
                     "grid": [0, 1, 2]}
    assert type(value["lr"]) is float and type(value["batch"]) is int
    assert type(value["betas"][0]) is float and type(value["rows"][0]["acc"]) is float


def test_a_saved_checkpoint_is_readable_with_weights_only_even_with_numpy_values(tmp_path):
    path = tmp_path / "run.pt"
    history = History([{"step": 1, "acc": np.float64(0.5)}], {"lr": np.float64(0.1)})
    save_checkpoint(path, settings={"lr": np.float64(0.1), "steps": np.int64(3)},
                    state={"w": torch.ones(2), "group": {"lr": np.float64(0.1)}},
                    history=history, progress=np.int64(1), finished=False)
    saved = read_checkpoint(path)  # weights_only=True inside
    assert saved["settings"] == {"lr": 0.1, "steps": 3}
    assert saved["history"]["rows"] == [{"step": 1, "acc": 0.5}]


def test_a_value_weights_only_loading_cannot_read_is_refused_before_writing(tmp_path):
    path = tmp_path / "run.pt"

    class Opaque:
        pass

    with pytest.raises(TypeError, match=r"run.pt would hold a value .*plain Python values"):
        save_checkpoint(path, settings={"thing": Opaque()}, state={}, history=History(),
                        progress=1, finished=False)
    assert not list(tmp_path.iterdir())  # nothing written


def test_state_digest_sees_values_not_only_shapes():
    a = nn.Linear(3, 2).state_dict()
    b = {k: v.clone() for k, v in a.items()}
    assert state_digest(a) == state_digest(b)
    b["bias"][0] += 1e-3
    assert state_digest(a) != state_digest(b)
