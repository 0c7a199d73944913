"""Tests of cnnlib.viz.architecture: the diagram follows the model's real data flow.

Oracles: ``cnnlib.inspection.summary`` (its rows and output shapes, themselves tested against
torch), the models' own module trees and hand-counted branches.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Circle, FancyBboxPatch  # noqa: E402
from torch import nn  # noqa: E402

from cnnlib.inspection import summary  # noqa: E402
from cnnlib.models import alexnet, lenet5, vgg16  # noqa: E402
from cnnlib.models.densenet import DenseBlock, Transition  # noqa: E402
from cnnlib.models.googlenet import Inception  # noqa: E402
from cnnlib.models.resnet import BasicBlock, Bottleneck, conv1x1  # noqa: E402
from cnnlib.viz.architecture import diagram, draw_architecture  # noqa: E402


def _inception():
    return Inception(192, 64, 96, 128, 16, 32, 32)  # inception3a of the paper


@pytest.mark.parametrize("model, size", [
    (lenet5(), (1, 32, 32)),
    (lenet5("modern"), (1, 28, 28)),
    (_inception(), (192, 28, 28)),
    (alexnet(variant="paper", width=16), (3, 227, 227)),
])
def test_one_box_per_summary_row_with_its_real_output_shape(model, size):
    rows = summary(model, size).rows
    boxes = diagram(model, size).layers
    assert [(b.name, b.type, b.shape) for b in boxes] == \
        [(r.name, r.type, r.output_shape) for r in rows]


def test_the_figure_shows_every_box_with_its_shape_as_label():
    model = lenet5("modern")
    fig = draw_architecture(model, (1, 28, 28), title="LeNet-5")
    texts = [t.get_text() for t in fig.axes[0].texts]
    rows = summary(model, (1, 28, 28)).rows
    assert len(texts) == len(rows) + 1  # and the input
    for row, text in zip(rows, texts[1:]):
        assert text.endswith(str(row.output_shape).replace(",)", ")"))
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(rows) + 1
    assert fig.get_size_inches()[0] <= 7.5
    plt.close(fig)


def test_inception_module_has_four_branches_joined_by_one_concatenation():
    d = diagram(_inception(), (192, 28, 28), hide=["BatchNorm2d"])
    assert d.branches() == 4
    joins = [n for n in d.nodes if n.kind == "concat"]
    assert len(joins) == 1 and joins[0].shape == (64 + 128 + 32 + 32, 28, 28)
    assert len(joins[0].sources) == 4
    assert sorted({n.lane for n in d.layers}) == [0, 1, 2, 3]  # one column per branch


def test_hidden_layers_are_not_drawn_but_the_data_still_flows_through_them():
    model = vgg16(num_classes=10, width=8, small_input=True)
    d = diagram(model, (3, 32, 32), hide=["ReLU", "Dropout"])
    assert [n.type for n in d.layers].count("Conv2d") == 13
    assert not any(n.type in ("ReLU", "Dropout") for n in d.nodes)
    # a plain chain: every node reads exactly the one before it
    assert all(n.sources == [i] for i, n in enumerate(d.nodes[1:]))


def test_residual_blocks_sum_the_layers_and_the_shortcut():
    basic = diagram(BasicBlock(16, 16), (16, 8, 8), hide=["BatchNorm2d", "ReLU"])
    add = [i for i, n in enumerate(basic.nodes) if n.kind == "add"]
    assert len(add) == 1
    assert basic.nodes[add[0]].sources == [0, 2]  # identity shortcut from the input
    assert basic.branches() == 2

    downsample = nn.Sequential(conv1x1(16, 128, 2), nn.BatchNorm2d(128))
    neck = diagram(Bottleneck(16, 32, 2, downsample), (16, 8, 8), hide=["BatchNorm2d", "ReLU"])
    convs = [n for n in neck.layers if n.name.startswith("conv")]
    assert [n.shape for n in convs] == [(32, 8, 8), (32, 4, 4), (128, 4, 4)]
    shortcut = next(n for n in neck.layers if n.name == "downsample.0")
    assert shortcut.lane == 1 and all(n.lane == 0 for n in convs)  # the paper's picture
    assert neck.branches() == 2


def test_dense_block_reads_every_earlier_layer_and_transition_halves_the_maps():
    model = nn.Sequential(DenseBlock(3, 8, 4), Transition(20, 10))
    d = diagram(model, (8, 16, 16), hide=["BatchNorm2d", "ReLU"], collapse=["DenseLayer"])
    index = {n.name: i for i, n in enumerate(d.nodes)}
    assert d.nodes[index["0.denselayer3"]].sources == [0, index["0.denselayer1"],
                                                       index["0.denselayer2"]]
    final = next(n for n in d.nodes if n.kind == "concat")
    assert final.shape == (8 + 3 * 4, 16, 16) and len(final.sources) == 4
    assert d.nodes[index["1.pool"]].shape == (10, 8, 8)


def test_alexnet_paper_draws_its_grouped_convs_as_two_streams():
    d = diagram(alexnet(variant="paper"), (3, 227, 227), hide=["ReLU", "Dropout"])
    convs = [n for n in d.layers if n.type == "Conv2d"]
    assert [n.groups for n in convs] == [1, 2, 1, 2, 2]
    assert "2 × (128, 27, 27)" in convs[1].label
    fig = d.draw(rows=9)
    assert len([p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]) == \
        len(d.nodes) + 3  # one more card for each grouped conv
    plt.close(fig)


def test_paper_labels_number_the_layers_with_weights_as_the_papers_count_them():
    from cnnlib.models import vgg16
    alex = diagram(alexnet(variant="paper"), (3, 227, 227), hide=["ReLU", "Dropout"],
                   labels="paper")
    named = [n.title for n in alex.layers if n.title]
    assert named == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    pool = next(n for n in alex.layers if n.type == "MaxPool2d")
    assert pool.label.splitlines()[0] == "MaxPool2d"  # no module name for a box without weights
    with torch.device("meta"):
        vgg = diagram(vgg16(), (3, 224, 224), hide=["ReLU", "Dropout"], labels="paper")
    assert [n.title for n in vgg.layers if n.title][-1] == "fc16"  # VGG-16: 16 weight layers
    lenet = diagram(lenet5("modern"), (1, 28, 28), hide=["ReLU"], labels={"features.0": "C1"})
    assert lenet.layers[0].label.startswith("C1\nConv2d")
    assert lenet.layers[1].label.startswith("features.2")  # not renamed: its module name
    with pytest.raises(ValueError, match="labels must be"):
        diagram(lenet5("modern"), (1, 28, 28), labels="papers")


def test_two_streams_cross_only_where_a_layer_reads_both_halves():
    # AlexNet's GPUs exchanged data only at conv3 and the fully connected layers.
    d = diagram(alexnet(variant="paper"), (3, 227, 227), hide=["ReLU", "Dropout"],
                labels="paper", streams=2)
    boxes = {}
    for i, node in enumerate(d.nodes):
        boxes.setdefault(node.title, []).append(i)
    assert [d.nodes[i].lane for i in boxes["conv2"]] == [0, 1]
    assert [d.nodes[i].shape for i in boxes["conv2"]] == [(128, 27, 27)] * 2
    for name, crosses in [("conv1", False), ("conv2", False), ("conv3", True), ("conv4", False),
                          ("fc6", True), ("fc8", True)]:
        for i in boxes[name]:
            lanes = {d.nodes[s].lane for s in d.nodes[i].sources}
            assert (lanes == {0, 1}) == crosses, name
    assert len(boxes["conv1"]) == 2 and d.branches(0) == 2  # the input feeds both GPUs
    fig = d.draw(rows=8)
    plt.close(fig)
    with pytest.raises(ValueError, match="without branches"):
        diagram(BasicBlock(8, 8), (8, 4, 4), streams=2)


def test_collapsed_modules_are_one_box_each():
    from cnnlib.models import googlenet
    model = googlenet(num_classes=10, width=8, small_input=True)
    d = diagram(model, (3, 32, 32), collapse=["Inception"], hide=["BatchNorm2d", "Dropout"])
    inceptions = [n for n in d.layers if n.type == "Inception"]
    assert len(inceptions) == 9
    assert inceptions[-1].shape == (model.inception5b.out_channels, 4, 4)


def test_joins_are_drawn_as_circles():
    fig = draw_architecture(BasicBlock(8, 8), (8, 4, 4), hide=["BatchNorm2d", "ReLU"])
    circles = [p for p in fig.axes[0].patches if isinstance(p, Circle)]
    assert len(circles) == 1 and "+" in [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)


def test_unknown_layer_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="no layer or layer type named.*Conv2d"):
        diagram(lenet5("modern"), (1, 28, 28), hide=["Relu"])


def test_the_diagram_leaves_the_model_and_random_stream_alone():
    model = lenet5("modern").train()
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    diagram(model, (1, 28, 28))
    assert torch.equal(torch.rand(3), expected)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_shortcuts_go_around_the_boxes_in_their_way_and_only_those():
    from cnnlib.viz.architecture import _is_skip

    basic = diagram(BasicBlock(8, 8), (8, 4, 4), hide=["BatchNorm2d", "ReLU"])
    add = next(i for i, n in enumerate(basic.nodes) if n.kind == "add")
    assert _is_skip(basic, 0, add)  # the identity passes conv1 and conv2
    inception = diagram(_inception(), (192, 28, 28), hide=["BatchNorm2d"])
    join = next(i for i, n in enumerate(inception.nodes) if n.kind == "concat")
    branch1 = next(i for i, n in enumerate(inception.nodes) if n.name == "branch1.conv")
    assert not _is_skip(inception, branch1, join)  # nothing in between: straight down
