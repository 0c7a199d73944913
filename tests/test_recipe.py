"""cnnlib.recipe: the airbench-like net, the recipe's settings reach fit and its checkpoint."""
import dataclasses

import pytest
import torch

from cnnlib.recipe import RECIPES, Recipe, airbench_net, get_recipe
from cnnlib.settings import RunSettings
from cnnlib.train import CheckpointMismatchError

QUIET = dict(progress=False, device="cpu")


def tiny_recipe(**changes) -> Recipe:
    return RECIPES["airbench-cpu"].replace(build=lambda: airbench_net((8, 8, 8), num_classes=4), epochs=1,
                                           batch_size=32, lr=0.05, **changes)


def test_the_airbench_net_maps_cifar_images_to_ten_logits_with_a_2x2_first_conv():
    net = airbench_net()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert net[0].kernel_size == (2, 2) and net[0].out_channels == 24  # 2 x 12 whitening filters
    assert airbench_net((8, 16, 16), num_classes=4)(torch.zeros(2, 3, 16, 16)).shape == (2, 4)


def test_a_recipe_is_a_run_settings_object_with_a_net():
    names = [f.name for f in dataclasses.fields(RunSettings)]
    for recipe in RECIPES.values():
        assert isinstance(recipe.settings, RunSettings)
        assert list(recipe.fit_kwargs()) == names  # every field, from the one definition
    changed = RECIPES["airbench-cpu"].replace(name="mine", lr=0.1)
    assert changed.name == "mine" and changed.settings.lr == 0.1
    assert changed.settings.ema == RECIPES["airbench-cpu"].settings.ema


def test_a_recipe_trains_through_fit_and_records_its_settings(tiny_dataset, tmp_path):
    recipe = tiny_recipe()
    train, val = tiny_dataset.split_off(64)
    model = recipe.build()
    history = recipe.fit(model, train, val, checkpoint=tmp_path / "r.pt", **QUIET)
    for key in ("ema", "tta", "whiten", "whiten_frozen", "label_smoothing", "lr", "batch_size"):
        assert history.settings[key] == recipe.fit_kwargs()[key], key
    assert not model[0].weight.requires_grad  # the frozen whitening layer
    # a changed recipe setting is another run: refused, naming the setting
    with pytest.raises(CheckpointMismatchError, match=r"ema: saved 0.99, now 0.9"):
        tiny_recipe(ema=0.9).fit(recipe.build(), train, val, checkpoint=tmp_path / "r.pt", **QUIET)


def test_recipe_fit_refuses_a_setting_fit_does_not_know(tiny_dataset):
    with pytest.raises(TypeError, match=r"unknown settings \['lr_max'\]"):
        tiny_recipe().fit(airbench_net((8, 8, 8)), tiny_dataset, lr_max=1.0, **QUIET)


def test_get_recipe_names_the_recipes_when_one_is_unknown():
    assert get_recipe("airbench-cpu") is RECIPES["airbench-cpu"]
    with pytest.raises(ValueError, match="airbench-cpu"):
        get_recipe("airbench-gpu")
