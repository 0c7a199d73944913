"""cnnlib.pretrained and tools/train_weights.py: train -> file + manifest -> verified load;
a tampered file is refused; nothing is shipped yet and available() says how to make it; a
measured test accuracy is read from the cache the next time."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
import yaml

from cnnlib import pretrained
from cnnlib.pretrained import (NETWORKS, Network, PretrainedError, WeightsMismatchError, available,
                               fetch, load, read_manifest, train_network)
from cnnlib.checkpoint import model_fingerprint
from cnnlib.recipe import airbench_net
from cnnlib.train import evaluate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_network(tiny_dataset, monkeypatch, tmp_path):
    """A registry entry trained in seconds on the synthetic 4-class data (cache in tmp_path)."""
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    train, test = tiny_dataset.split_off(64)
    network = Network("tiny", lambda: airbench_net((8, 8, 8), num_classes=4), dataset="tiny",
                      data=lambda: (train, test), changes={"lr": 0.05, "epochs": 2, "batch_size": 32})
    monkeypatch.setitem(NETWORKS, "tiny", network)
    return network


def test_the_repository_address_is_the_one_in_config_yml():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert pretrained.REPOSITORY_URL == config["repository"]["url"]
    assert pretrained.BRANCH == config["repository"]["branch"]
    assert pretrained.raw_url("MANIFEST.json") == f"{config['repository']['url']}/raw/main/weights/MANIFEST.json"


def test_the_package_offers_every_name_the_chapters_and_tools_use():
    """cnnlib.pretrained is a package of modules by job; what the chapters and tools call on it
    (``pretrained.x``, ``from cnnlib.pretrained import x``) is all there."""
    import re

    used = set()
    for path in [*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("tools/*.py")]:
        text = path.read_text().replace("\\n", "\n")
        used.update(re.findall(r"\bpretrained\.([A-Za-z_]\w*)", text))
        for names in re.findall(r"from cnnlib\.pretrained import \(?([\w ,]+)", text):
            used.update(n.strip() for n in names.split(",") if n.strip())
    assert {"for_profile", "origin", "test_accuracy", "AUGMENTATIONS", "fig1_net"} <= used
    assert [name for name in sorted(used) if not hasattr(pretrained, name)] == []


def test_the_registry_holds_the_five_compact_nets_each_building_a_ten_class_net():
    assert {"alexnet", "vgg11", "googlenet", "resnet18", "densenet_bc"} <= set(NETWORKS)
    for name in ("alexnet", "vgg11", "googlenet", "resnet18", "densenet_bc"):
        model = NETWORKS[name].build().eval()
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10), name


def test_the_recipe_whitens_the_first_conv_of_every_registered_net():
    from cnnlib.initialisation import whiten_first_conv

    x = torch.randn(64, 3, 32, 32)
    for name, network in NETWORKS.items():
        model = network.build()
        conv = whiten_first_conv(model, x, kind="pca", patches=2000)
        assert conv.in_channels == 3 and torch.isfinite(conv.weight).all(), name


def test_without_shipped_networks_available_says_how_to_make_them(tmp_path):
    (tmp_path / "MANIFEST.json").write_text('{"networks": {}}')  # as weights/ is before make weights
    shipped = available(tmp_path)
    assert shipped == []
    assert "no trained networks are shipped yet" in repr(shipped)
    assert "make weights NET=resnet18" in repr(shipped)
    with pytest.raises(PretrainedError, match=r"not shipped yet.*make weights NET=resnet18"):
        load("resnet18", folder=tmp_path, device="cpu")
    with pytest.raises(PretrainedError, match="no network called 'resnet19'"):
        load("resnet19", device="cpu")


def test_the_shipped_files_are_the_manifests_and_within_the_size_limit():
    # Nothing is shipped until `make weights` has run; from then on every file must verify.
    folder = ROOT / "weights"
    manifest = read_manifest(folder)
    assert sorted(p.name for p in folder.glob("*.pt")) == sorted(e["file"] for e in manifest.values())
    assert sum(e["bytes"] for e in manifest.values()) <= pretrained.MAX_TOTAL_BYTES
    for name, entry in manifest.items():
        assert pretrained.sha256(folder / entry["file"]) == entry["sha256"], name
    assert available() == sorted(manifest)


def test_train_store_and_load_round_trip_with_history_and_metadata(tiny_network, tmp_path):
    folder = tmp_path / "weights"
    lines = []
    entry = train_network("tiny", folder, device="cpu", progress=False, log=lines.append)
    assert [line.split(":")[1].split()[0] for line in lines] == ["trained", "evaluated", "saved"]
    manifest = read_manifest(folder)
    assert manifest["tiny"] == entry and len(entry["sha256"]) == 64
    assert available(folder) == ["tiny"]

    model, history, meta, _ = load("tiny", folder=folder, device="cpu")
    assert not model.training
    assert history["epoch"] == [1, 2]
    for key in ("dataset", "train_images", "test_images", "recipe", "settings", "epochs", "test_acc",
                "training_seconds", "device", "cnnlib_version", "storage", "mean", "std"):
        assert key in meta, key
    assert meta["dataset"] == "tiny" and meta["train_images"] == 192 and meta["epochs"] == 2
    assert meta["recipe"] == "airbench-cpu" and meta["settings"]["ema"] == "0.99"
    _, test = tiny_network.load_data()
    from cnnlib.data import DeviceLoader
    loader = DeviceLoader(test, 500, device="cpu", mean=meta["mean"], std=meta["std"])
    result = evaluate(model, loader, device="cpu", precision="fp32", tta="flip+translate")
    assert result["acc"] == pytest.approx(meta["test_acc"])  # the stored weights' accuracy
    assert pretrained.test_accuracy("tiny", model) == pytest.approx(meta["test_acc"])
    single = evaluate(model, loader, device="cpu", precision="fp32")["acc"]
    assert pretrained.test_accuracy("tiny", model, tta=None) == pytest.approx(single)


def test_a_measured_test_accuracy_is_read_from_the_cache_until_anything_it_depends_on_changes(
        tiny_network, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    train_network("tiny", folder, device="cpu", progress=False, log=lambda s: None)
    measured = []  # the tta of each evaluation that really ran
    real_evaluate = pretrained.evaluation.evaluate
    monkeypatch.setattr(pretrained.evaluation, "evaluate",
                        lambda *a, **k: measured.append(k["tta"]) or real_evaluate(*a, **k))
    first = pretrained.test_accuracy("tiny", load("tiny", folder=folder, device="cpu").model)
    assert measured == ["flip+translate"]
    cached = list((tmp_path / "cache" / "test-accuracy").glob("tiny-*.json"))
    assert len(cached) == 1, "kept in the cache folder"
    # a second run (a fresh load of the same file) reads it: the same number, nothing evaluated
    again = load("tiny", folder=folder, device="cpu").model
    assert pretrained.test_accuracy("tiny", again) == first and len(measured) == 1
    # another test-time augmentation is another measurement, then cached too
    single = pretrained.test_accuracy("tiny", again, tta=None)
    assert measured[-1] is None and pretrained.test_accuracy("tiny", again, tta=None) == single
    assert len(measured) == 2
    # a model edited after loading is measured again (one weight changed)
    with torch.no_grad():
        first_weights = next(again.parameters())  # channels_last after evaluate: no .view
        first_weights[(0,) * first_weights.dim()] += 1.0
    pretrained.test_accuracy("tiny", again)
    assert len(measured) == 3
    # another weights file (retrained with another rate) is measured again
    other = dataclasses.replace(tiny_network, changes={**tiny_network.changes, "lr": 0.02})
    monkeypatch.setitem(NETWORKS, "tiny", other)
    (tmp_path / "cache" / "weights-runs" / "tiny.pt").unlink()  # the first run's checkpoint
    train_network("tiny", folder, device="cpu", progress=False, log=lambda s: None)
    pretrained.test_accuracy("tiny", load("tiny", folder=folder, device="cpu").model)
    assert len(measured) == 4
    # another version of cnnlib measures again
    monkeypatch.setattr("cnnlib.__version__", "0.0.0-test")
    pretrained.test_accuracy("tiny", load("tiny", folder=folder, device="cpu").model)
    assert len(measured) == 5


def test_the_source_digest_follows_every_python_file(tmp_path):
    from cnnlib.pretrained.evaluation import source_digest

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    before = source_digest(tmp_path)
    assert source_digest(tmp_path) == before and len(before) == 16
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    assert source_digest(tmp_path) != before
    assert source_digest() == source_digest(ROOT / "cnnlib")  # cnnlib's own by default


def test_a_damaged_cache_entry_is_measured_again_and_rewritten(tiny_network, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    train_network("tiny", folder, device="cpu", progress=False, log=lambda s: None)
    model = load("tiny", folder=folder, device="cpu").model
    first = pretrained.test_accuracy("tiny", model)
    [path] = (tmp_path / "cache" / "test-accuracy").glob("tiny-*.json")
    path.write_text('{"key": ')  # cut short
    measured = []
    real_evaluate = pretrained.evaluation.evaluate
    monkeypatch.setattr(pretrained.evaluation, "evaluate",
                        lambda *a, **k: measured.append(1) or real_evaluate(*a, **k))
    assert pretrained.test_accuracy("tiny", model) == first and measured == [1]
    assert pretrained.test_accuracy("tiny", model) == first and measured == [1]  # rewritten


def test_reevaluate_keeps_the_weights_and_stores_the_accuracy_with_the_new_tta(tiny_network,
                                                                               tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    flip = dataclasses.replace(tiny_network, changes={**tiny_network.changes, "tta": "flip"})
    monkeypatch.setitem(NETWORKS, "tiny", flip)
    entry = train_network("tiny", folder, device="cpu", progress=False, log=lambda s: None)
    before = load("tiny", folder=folder, device="cpu")
    monkeypatch.setitem(NETWORKS, "tiny", tiny_network)  # the recipe's tta: flip+translate
    lines = []
    new_entry = pretrained.reevaluate_network("tiny", folder, device="cpu", log=lines.append)
    assert new_entry["sha256"] != entry["sha256"] and "tta=flip ->" in lines[0].replace("'", "")
    model, history, meta, _ = load("tiny", folder=folder, device="cpu")  # verified against the manifest
    for name, tensor in before.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert history.rows == before.history.rows
    _, test = tiny_network.load_data()
    from cnnlib.data import DeviceLoader
    loader = DeviceLoader(test, 500, device="cpu", mean=meta["mean"], std=meta["std"])
    acc = evaluate(model, loader, device="cpu", precision="fp32", tta="flip+translate")["acc"]
    assert meta["test_acc"] == pytest.approx(acc) and new_entry["test_acc"] == meta["test_acc"]
    assert meta["settings"]["tta"] == "'flip+translate'"
    assert meta["reevaluated"]["tta"] == "'flip'"
    assert meta["reevaluated"]["test_acc"] == before.meta["test_acc"]
    # any other change needs a retraining
    other = dataclasses.replace(tiny_network, changes={**tiny_network.changes, "lr": 0.5})
    monkeypatch.setitem(NETWORKS, "tiny", other)
    with pytest.raises(PretrainedError, match=r"changed in \['lr'\].*make weights NET=tiny"):
        pretrained.reevaluate_network("tiny", folder, device="cpu", log=lambda s: None)


def test_fp16_storage_only_when_the_accuracy_stays_within_a_tenth_of_a_point(tiny_network, tmp_path,
                                                                              monkeypatch):
    entry = train_network("tiny", tmp_path / "a", device="cpu", progress=False, log=lambda s: None)
    saved = torch.load(tmp_path / "a" / entry["file"], weights_only=True)
    # on this tiny task fp16 changes no prediction: stored as fp16
    assert entry["storage"] == "fp16" and saved["state"]["0.weight"].dtype == torch.float16
    assert saved["meta"]["test_acc"] == saved["meta"]["test_acc_fp32"]
    monkeypatch.setattr(pretrained.training, "FP16_TOLERANCE", -1.0)  # no difference is small enough
    entry = train_network("tiny", tmp_path / "b", device="cpu", progress=False, log=lambda s: None)
    saved = torch.load(tmp_path / "b" / entry["file"], weights_only=True)
    assert entry["storage"] == "fp32" and saved["state"]["0.weight"].dtype == torch.float32


def test_a_tampered_or_missing_file_is_refused_naming_it_and_the_way_out(tiny_network, tmp_path):
    folder = tmp_path / "weights"
    entry = train_network("tiny", folder, device="cpu", progress=False, log=lambda s: None)
    path = folder / entry["file"]
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsMismatchError) as err:
        load("tiny", folder=folder, device="cpu")
    message = str(err.value)
    assert str(path) in message and "SHA-256" in message
    assert "git checkout -- weights/tiny.pt" in message and "make weights NET=tiny" in message
    path.unlink()
    with pytest.raises(PretrainedError, match="listed in the manifest but missing"):
        load("tiny", folder=folder, device="cpu")


def test_loading_reads_weights_only(tiny_network, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    train_network("tiny", folder, device="cpu", progress=False, log=lambda s: None)
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    load("tiny", folder=folder, device="cpu")
    assert calls and all(k.get("weights_only") is True for k in calls)


def test_the_folder_stays_under_its_size_limit(tiny_network, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained.store, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(PretrainedError, match="over the 0 MB the repository allows"):
        train_network("tiny", tmp_path / "w", device="cpu", progress=False, log=lambda s: None)
    assert not (tmp_path / "w" / "tiny.pt").exists() and read_manifest(tmp_path / "w") == {}


def test_a_pip_installed_cnnlib_fetches_the_files_from_the_repository(tiny_network, tmp_path):
    remote = tmp_path / "remote"  # stands for the repository's weights/ folder
    train_network("tiny", remote, device="cpu", progress=False, log=lambda s: None)
    local = tmp_path / "local"
    assert fetch("tiny", local, base=remote.as_uri())
    model, _, meta, _ = load("tiny", folder=local, device="cpu")
    assert meta["name"] == "tiny"
    assert not fetch("tiny", tmp_path / "nowhere", base=(tmp_path / "missing").as_uri())


def test_cnnlib_retrain_trains_the_network_into_the_cache(tiny_network, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLIB_RETRAIN", "1")
    model, history, meta, _ = load("tiny", device="cpu")
    assert len(history) == 2 and not model.training
    assert (tmp_path / "cache" / "weights-trained" / "tiny.pt").exists()


@pytest.mark.slow
def test_make_weights_smoke_trains_stores_and_verifies_end_to_end(tmp_path):
    out = tmp_path / "weights"
    env = {**os.environ, "CNNLIB_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "train_weights.py"), "--smoke",
                             "resnet18", "--out", str(out)], capture_output=True, text=True,
                            env=env, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    for step in ("resnet18: trained in", "resnet18: evaluated in", "resnet18: saved in"):
        assert step in result.stdout
    model, history, meta, _ = load("resnet18", folder=out, device="cpu")
    assert meta["smoke"] and meta["train_images"] == 256 and len(history) == 1
    (out / "resnet18.pt").write_bytes((out / "resnet18.pt").read_bytes()[:-10] + b"0123456789")
    with pytest.raises(WeightsMismatchError, match="resnet18.pt"):
        load("resnet18", folder=out, device="cpu")


@pytest.mark.slow
def test_make_weights_jobs_share_one_folder_and_one_manifest(tmp_path):
    """--jobs 3: three processes write into one folder; the locked manifest lists all four."""
    out = tmp_path / "weights"
    env = {**os.environ, "CNNLIB_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    names = ["four_layer_relu", "four_layer_tanh", "plain14", "residual14"]
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "train_weights.py"), "--smoke",
                             "--jobs", "3", *names, "--out", str(out)], capture_output=True,
                            text=True, env=env, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "4 networks in 3 processes done" in result.stdout
    assert sorted(read_manifest(out)) == sorted(names)
    for name in names:
        assert load(name, folder=out, device="cpu").meta["name"] == name
    listing = subprocess.run([sys.executable, str(ROOT / "tools" / "train_weights.py"), "--table",
                              "--out", str(out)], capture_output=True, text=True, env=env,
                             timeout=120, cwd=ROOT)
    rows = [line for line in listing.stdout.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == sorted(names)


@pytest.mark.slow
def test_train_weights_refuses_an_unknown_network(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "train_weights.py"), "resnet19",
                             "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 2 and "resnet19" in result.stderr and "resnet18" in result.stderr


# --------------------------------------------------------------------------------------
# The shipped files themselves (the one test that depends on them)

def test_every_registered_network_is_shipped_within_the_size_cap():
    manifest = read_manifest(pretrained.weights_dir())
    assert set(manifest) == set(NETWORKS), "make weights: every registered network is shipped"
    assert sum(entry["bytes"] for entry in manifest.values()) <= pretrained.MAX_TOTAL_BYTES


def recorded_key(name, model):
    """The fields of test_accuracy's key that recorded predictions must match."""
    from cnnlib.data import DeviceLoader
    from cnnlib.pretrained.evaluation import RECORDED_FIELDS, measurement

    network = pretrained.get_network(name)
    train, test = network.load_data()
    loader = DeviceLoader(test, 100, device="cpu", mean=train.mean, std=train.std)
    key = measurement(model, loader, network.settings()["tta"], "cpu")
    return key, json.loads(json.dumps({field: key[field] for field in RECORDED_FIELDS}))


# One test per network: a failure names it, and the others still run.
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(read_manifest(pretrained.weights_dir())))
def test_the_shipped_network_loads_and_gives_the_test_accuracy_the_book_states(name, tmp_path,
                                                                              monkeypatch):
    """Its SHA-256 checks and it loads; its predictions were recorded for this very file and
    network; evaluated here on a seeded sample of its test images (fp32, on the CPU, an empty
    cache) it predicts what was recorded; and the recorded predictions give the stated accuracy
    (within 0.3 point: it was measured on the GPU that trained it)."""
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    entry = read_manifest(pretrained.weights_dir())[name]
    model, history, meta, _ = load(name, device="cpu")
    assert meta["test_acc"] == entry["test_acc"] and not meta["smoke"]
    assert len(history) == meta["epochs"]
    record = pretrained.read_predictions().get(name, {})
    key, wanted = recorded_key(name, model)
    assert record.get("sha256") == entry["sha256"] and record["key"] == wanted, \
        f"{name} changed since its predictions were recorded: python tools/record_predictions.py {name}"
    acc = pretrained.recorded_accuracy(name, model, key, tta=pretrained.get_network(name).settings()["tta"],
                                       device="cpu")
    assert acc is not None, f"{name} no longer predicts what was recorded for its test images"
    assert abs(acc - meta["test_acc"]) <= 0.003


def record_tiny(model, folder, change=None):
    """Record the tiny network's predictions in ``folder`` as tools/record_predictions.py does;
    ``change(predictions)`` edits them first."""
    predictions = pretrained.predicted_classes("tiny", model)
    if change is not None:
        predictions = change(predictions)
    _, wanted = recorded_key("tiny", model)
    record = {"tiny": {"sha256": "-", "key": wanted,
                       "predictions": "".join(str(int(c)) for c in predictions)}}
    (folder / pretrained.store.PREDICTIONS).write_text(json.dumps(record))


def test_predicted_classes_give_the_measured_test_accuracy(tiny_network):
    """The function that records the predictions computes what test_accuracy measures."""
    model = tiny_network.build()
    labels = tiny_network.load_data()[1].labels
    classes = pretrained.predicted_classes("tiny", model)
    assert classes.shape == labels.shape
    assert (classes == labels).double().mean().item() == pretrained.test_accuracy("tiny", model)
    some = torch.tensor([3, 0, 7])
    assert torch.equal(pretrained.predicted_classes("tiny", model, some), classes[some])


@pytest.fixture
def tiny_record(tiny_network, tmp_path, monkeypatch):
    """A weights folder of its own for the tiny network's recorded predictions; evaluating
    every image counted in ``calls``."""
    from cnnlib.pretrained import evaluation, store

    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(store, "weights_dir", lambda: folder)
    calls = []
    measure_all = evaluation.evaluate
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: calls.append(1) or measure_all(*a, **k))
    return folder, calls


def test_recorded_predictions_give_the_accuracy_without_evaluating_every_image(tiny_network,
                                                                                tiny_record):
    folder, calls = tiny_record
    model = tiny_network.build()
    record_tiny(model, folder)
    acc = pretrained.test_accuracy("tiny", model)
    assert calls == [] and acc == pretrained.test_accuracy("tiny", model, recorded=False)
    assert calls == [1]


@pytest.mark.parametrize("edit", ["weights", "layer", "predictions"])
def test_a_record_that_does_not_match_is_not_used(tiny_network, tiny_record, edit):
    """Recorded for other weights, another network, or predictions the net no longer makes:
    every image is evaluated."""
    folder, calls = tiny_record
    model = tiny_network.build()
    shifted = (lambda p: (p + 1) % 4) if edit == "predictions" else None
    record_tiny(model, folder, shifted)
    if edit == "weights":
        with torch.no_grad():
            next(model.parameters()).mul_(1.5)
    elif edit == "layer":
        name = next(n for n, m in model.named_modules() if isinstance(m, nn.GELU))
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, nn.Tanh())  # no weights changed
    acc = pretrained.test_accuracy("tiny", model)
    assert calls == [1]
    assert acc == pretrained.test_accuracy("tiny", model, recorded=False)


def test_for_profile_gives_the_same_kind_of_network_in_both_profiles(tiny_network, tmp_path,
                                                                      monkeypatch):
    """The fast profile's stand-in is the network's own smoke run (its architecture and recipe on
    a few images, one epoch), trained once into the cache; the full profile's is the trained one.
    Both come with a test accuracy measured now, so a chapter never branches on the profile."""
    from cnnlib.checkpoint import state_digest
    from cnnlib.pretrained import Pretrained, for_profile, origin
    from cnnlib.runtime import Profile

    fast_profile = Profile("fast", torch.device("cpu"))
    fast = for_profile("tiny", fast_profile)
    assert isinstance(fast, Pretrained) and not fast.model.training
    assert type(fast.model) is type(tiny_network.build())
    assert fast.meta["smoke"] and fast.meta["name"] == "tiny" and fast.meta["recipe"] == "airbench-cpu"
    assert fast.meta["train_images"] == 192 and len(fast.history) == 1 == fast.meta["epochs"]
    assert fast.history.settings["lr"] == 0.05, "the network's own recipe and changes"
    assert fast.test_acc == fast.meta["test_acc"] == fast.history.last["val_acc"]
    # the same 64 test images as test_accuracy's smoke=True (fit validated in bf16, this is fp32)
    assert pretrained.test_accuracy("tiny", fast.model, smoke=True) == pytest.approx(fast.test_acc,
                                                                                    abs=2 / 64)
    assert (tmp_path / "cache" / "weights-runs" / "tiny-smoke.pt").exists()
    sentence = " ".join(origin(fast.meta).splitlines())
    assert sentence.startswith("tiny: a stand-in for the book's network (fast profile), trained "
                               "with the 'airbench-cpu' recipe, 1 epoch on 192 images")
    assert f"test accuracy {100 * fast.test_acc:.2f} % on 64 images" in sentence

    again = for_profile("tiny", fast_profile)
    assert again.history.settings.get("resumed_from_epoch") == 1, "loaded, not trained again"
    assert state_digest(again.model.state_dict()) == state_digest(fast.model.state_dict())
    assert again.test_acc == fast.test_acc

    monkeypatch.setenv("CNNLIB_RETRAIN", "1")  # the full profile's network, trained here
    full = for_profile("tiny", Profile("full", torch.device("cpu")))
    assert isinstance(full, Pretrained) and not full.model.training
    assert not full.meta["smoke"] and len(full.history) == 2 and full.meta["train_images"] == 192
    assert full.test_acc == pretrained.test_accuracy("tiny", full.model)
    assert set(fast.meta) <= set(full.meta), "the same metadata in both profiles"


def test_no_chapter_branches_on_the_profile_of_its_trained_networks():
    """A chapter takes its networks from for_profile as they come: no toy trainer passed in, no
    branch for a run without metadata or without a test accuracy."""
    import re

    for path in ROOT.glob("chapters/*.ipynb"):
        code = "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                         if cell["cell_type"] == "code")
        for call in re.findall(r"for_profile\(([^()]*(?:\([^()]*\)[^()]*)*)\)", code):
            assert call.count(",") == 1, f"{path.name}: for_profile({call})"
        for branch in ("meta is None", "meta is not None", "test_acc is None", "test_acc or "):
            assert branch not in code, f"{path.name}: {branch}"


@pytest.mark.slow
def test_for_profile_loads_and_measures_the_shipped_net_in_full():
    from cnnlib.pretrained import for_profile, origin, wrap
    from cnnlib.runtime import Profile

    full = for_profile("four_layer_relu", Profile("full", torch.device("cpu")))
    assert full.meta["name"] == "four_layer_relu" and not full.model.training
    assert not full.meta["smoke"]
    assert abs(full.test_acc - full.meta["test_acc"]) <= 0.003
    lines = origin(full.meta).splitlines()
    assert len(lines) > 1 and all(len(line) <= 79 for line in lines), "fits the book's column"
    sentence = " ".join(lines)
    assert sentence.startswith("four_layer_relu: trained for the book with the")
    assert f"test accuracy {100 * full.meta['test_acc']:.2f} %" in sentence
    assert "make weights" not in sentence and "CNNLIB" not in sentence, "no machinery on the page"
    # 36 characters: plain textwrap would break the span at its spaces
    assert wrap("see `make weights NET=four_layer_relu` now", 36).splitlines() == \
        ["see", "`make weights NET=four_layer_relu`", "now"], "a code span is never broken"
    assert all(line.startswith("    ") for line in origin(full.meta, indent="    ").splitlines())


def test_fig1_inputs_are_pixel_values_minus_the_mean_and_weights_start_small():
    """Krizhevsky et al.'s set-up: pixel - mean on the 0-255 scale (no std), N(0, 0.01^2)."""
    from cnnlib.data import load_dataset
    from cnnlib.pretrained import fig1_net, paper_inputs

    data = load_dataset("cifar10", "test").subset(64, seed=0)
    raw = paper_inputs(data)
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    expected = data.images.float() - 255 * mean
    assert torch.allclose(raw.normalised(), expected, atol=1e-3)
    torch.manual_seed(0)
    net = fig1_net("tanh")
    weights = torch.cat([m.weight.flatten() for m in net if hasattr(m, "weight")])
    assert abs(weights.std().item() - 0.01) < 0.0005
    assert all(m.bias.abs().max() == 0 for m in net if hasattr(m, "bias") and m.bias is not None)


@pytest.mark.slow
def test_the_relu_tanh_pilot_runs_and_names_a_rate_for_each(capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import pilot_relu_tanh

    best = pilot_relu_tanh.main(["--images", "128", "--epochs", "1", "--rates", "0.01", "0.001"])
    assert set(best) == {"relu", "tanh"} and all(lr in (0.01, 0.001) for lr, _ in best.values())
    assert "fastest for relu" in capsys.readouterr().out


@pytest.mark.parametrize("value, expected", [("false", False), ("no", False), ("off", False),
                                             ("0", False), ("", False), ("1", True), ("yes", True)])
def test_cnnlib_retrain_reads_yes_and_no(monkeypatch, value, expected):
    monkeypatch.setenv("CNNLIB_RETRAIN", value)  # "false" used to start retraining
    assert pretrained.retraining_requested() is expected


def test_cnnlib_retrain_with_an_unknown_word_is_an_error(monkeypatch):
    monkeypatch.setenv("CNNLIB_RETRAIN", "please")
    with pytest.raises(ValueError, match="CNNLIB_RETRAIN='please' is not a yes/no value"):
        pretrained.retraining_requested()


class _RunsCode:
    """Pickles as a call of a function: what a malicious weights file holds."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_a_file_that_holds_code_is_called_untrusted_without_suggesting_weights_only_false(
        tiny_network, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save({"format": "cnnlib-pretrained", "payload": _RunsCode()}, path)
    entry = {"file": path.name, "sha256": pretrained.sha256(path),  # a manifest tampered with too
             "bytes": path.stat().st_size}
    with pytest.raises(PretrainedError) as err:
        pretrained.store.load_file(path, entry, tiny_network, "cpu")
    message = str(err.value)
    assert str(path) in message and "not a cnnlib file" in message and "could run code" in message
    assert "weights_only" not in message and "make weights NET=tiny" in message


@pytest.mark.parametrize("change, problem", [
    (lambda e: e.pop("sha256"), "holds no SHA-256"),
    (lambda e: e.update(file="../../etc/passwd"), "names no plain file"),
    (lambda e: e.update(bytes="many"), "holds no size"),
    (lambda e: e.pop("test_acc"), "holds no test accuracy"),
])
def test_a_tampered_manifest_is_one_clear_error_naming_it(tmp_path, change, problem):
    manifest = json.loads((pretrained.weights_dir() / "MANIFEST.json").read_text())
    change(manifest["networks"]["alexnet"])
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(PretrainedError, match=rf"MANIFEST.json: the entry for 'alexnet' {problem}.*restore it"):
        read_manifest(tmp_path)


def test_a_manifest_or_weights_file_that_is_dev_zero_is_refused_without_reading_it(tmp_path):
    (tmp_path / "MANIFEST.json").symlink_to("/dev/zero")
    with pytest.raises(PretrainedError, match="not a plain file of at most"):
        read_manifest(tmp_path)  # before: read /dev/zero until memory ran out
    entry = read_manifest(pretrained.weights_dir())["alexnet"]
    (tmp_path / "alexnet.pt").symlink_to("/dev/zero")
    with pytest.raises(WeightsMismatchError, match="not the file its manifest lists"):
        pretrained.store.load_file(tmp_path / "alexnet.pt", entry, NETWORKS["alexnet"], "cpu")


def test_every_shipped_network_has_its_predictions_recorded_for_its_file():
    """tools/record_predictions.py was run after the last `make weights`, on the file the
    manifest lists (one digit per test image: the slow test checks their number)."""
    manifest = read_manifest(pretrained.weights_dir())
    recorded = pretrained.read_predictions()
    assert sorted(recorded) == sorted(manifest)
    for name, entry in manifest.items():
        assert recorded[name]["sha256"] == entry["sha256"], \
            f"python tools/record_predictions.py {name}"
        assert recorded[name]["predictions"].isdigit(), name


def test_the_recorded_predictions_recognise_each_shipped_network_as_built_today():
    """The key names the network by every layer's settings and its classes' source, not by
    torch's repr or Python's bytecode: under another torch or Python (``make colab-check``
    runs this under Colab's torch) a chapter still reads a shipped net's accuracy from the
    record instead of evaluating all its test images."""
    recorded = pretrained.read_predictions()
    for name in sorted(recorded):
        model = pretrained.load(name, device="cpu")[0]
        network = json.loads(json.dumps(model_fingerprint(model)))
        assert recorded[name]["key"]["network"] == network, \
            f"python tools/record_predictions.py --rekey {name}"
