"""Tests of cnnlib.viz.schematics: the diagrams say what the methods do, with counts from the models."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from torch import nn  # noqa: E402

from cnnlib.models import (cyclegan_generator, domain_discriminator, lenet_classifier,  # noqa: E402
                           lenet_encoder, patch_discriminator)
from cnnlib.viz.schematics import adda_stages, cyclegan_diagram, parameter_label  # noqa: E402


def boxes(ax):
    """{text in the box: the box's kind} for every box of a panel."""
    patches = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    texts = [t for t in ax.texts if t.get_text()]
    found = {}
    for patch in patches:
        bb = patch.get_bbox()
        inside = [t.get_text() for t in texts
                  if bb.x0 <= t.get_position()[0] <= bb.x1 and bb.y0 <= t.get_position()[1] <= bb.y1]
        assert len(inside) == 1, f"one label per box, got {inside}"
        found[inside[0]] = patch.get_gid()
    return found


def arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_parameter_label_counts_a_torch_layer_and_leaves_a_name_alone():
    assert parameter_label("fc", nn.Linear(10, 3)) == "fc\n33 params"  # 10 * 3 + 3
    assert parameter_label("D") == "D"


def test_adda_has_three_stages_with_the_papers_trained_and_fixed_networks():
    fig = adda_stages()
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["1. pre-training", "2. adversarial adaptation",
                                               "3. testing"]
    pre, adapt, test = (boxes(ax) for ax in axes)
    assert pre == {"source images\n$x_s$, labels $y_s$": "data",
                   "source encoder $M_s$": "trained", "classifier $C$": "trained"}
    # Stage 2: only M_t and D learn; M_s is fixed (dashed) and C is not there at all.
    assert adapt == {"source\nimages $x_s$": "data", "target\nimages $x_t$": "data",
                     "source enc. $M_s$": "fixed", "target enc. $M_t$": "trained",
                     "discriminator $D$": "trained"}
    assert test == {"target images $x_t$": "data", "target enc. $M_t$": "fixed",
                    "classifier $C$": "fixed"}
    assert [len(arrows(ax)) for ax in axes] == [2, 4, 2]
    fixed = [p for ax in axes for p in ax.patches if p.get_gid() == "fixed"]
    assert fixed and all(p.get_linestyle() == "--" for p in fixed)
    assert fig.get_figwidth() <= 7.5


def test_adda_boxes_carry_the_parameter_counts_of_the_models_given():
    encoder, classifier, discriminator = lenet_encoder(), lenet_classifier(), domain_discriminator()
    fig = adda_stages(encoder, classifier, discriminator)
    labels = [text for ax in fig.axes for text in boxes(ax)]
    assert f"target enc. $M_t$\n{n_params(encoder):,} params" in labels
    assert f"classifier $C$\n{n_params(classifier):,} params" in labels
    assert f"discriminator $D$\n{n_params(discriminator):,} params" in labels
    # A different network gives a different count: the figure is read from the model.
    wider = lenet_encoder(3)
    labels = [text for ax in adda_stages(wider).axes for text in boxes(ax)]
    assert f"source encoder $M_s$\n{n_params(wider):,} params" in labels
    assert n_params(wider) != n_params(encoder)


def test_cyclegan_has_two_generators_two_discriminators_and_the_four_translations():
    G = cyclegan_generator(3, 3, width=4, n_blocks=1)
    F = cyclegan_generator(3, 3, width=2, n_blocks=1)
    D = patch_discriminator(3, width=4)
    fig = cyclegan_diagram(G, F, D, D)
    (ax,) = fig.axes
    found = boxes(ax)
    trained = sorted(text.split("\n")[0] for text, kind in found.items() if kind == "trained")
    assert trained == ["$D_X$: real $x$", "$D_Y$: real $y$", "$F: Y \\to X$", "$G: X \\to Y$"]
    assert sorted(kind for kind in found.values()).count("data") == 2
    assert f"$G: X \\to Y$\n{n_params(G):,} params" in found
    assert f"$F: Y \\to X$\n{n_params(F):,} params" in found
    assert len(arrows(ax)) == 6  # x->G, G(x)->Y, y->F, F(y)->X, and each domain to its D
    words = " ".join(t.get_text() for t in ax.texts)
    for label in ("$x$", "$G(x)$", "$y$", "$F(y)$", "$F(G(x)) \\approx x$", "$G(F(y)) \\approx y$"):
        assert label in words
    assert fig.get_figwidth() <= 7.5


def test_every_label_is_at_least_9_points():
    for fig in (adda_stages(), cyclegan_diagram()):
        sizes = [t.get_fontsize() for ax in fig.axes for t in ax.texts + [ax.title]]
        assert min(sizes) >= 9
