"""cnnlib.memory against hand-worked counts."""
from torch import nn

from cnnlib.memory import activation_counts, saved_for_backward


def test_activation_counts_follow_the_shapes_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 5))
    records = activation_counts(model, (3, 8, 8))
    assert [r.type for r in records] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert [r.numel for r in records] == [4 * 8 * 8, 4 * 8 * 8, 4 * 4 * 4, 64, 5]
    assert records[2].shape == (4, 4, 4)
    kept = activation_counts(model, (3, 8, 8), include=(nn.Conv2d, nn.Linear))
    assert [r.numel for r in kept] == [256, 5]


def test_activation_counts_restore_mode_and_remove_hooks():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    model.train()
    activation_counts(model, (2,))
    assert model.training and model[1].training
    assert not model[0]._forward_hooks


def test_saved_for_backward_counts_each_storage_once():
    # Linear saves its input (2x3 floats); ReLU saves its output (2x4 floats); no params.
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    assert saved_for_backward(model, (3,), batch_size=2) == 4 * (2 * 3 + 2 * 4)


def test_saved_for_backward_grows_with_the_batch():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    one = saved_for_backward(model, (1, 6, 6))
    assert saved_for_backward(model, (1, 6, 6), batch_size=3) == 3 * one
