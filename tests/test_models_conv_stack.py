"""cnnlib.models.conv_stack: the plain deep stack of chapter 2, against a hand-run forward pass."""
import pytest
import torch
import torch.nn.functional as F

import cnnlib.initialisation
import cnnlib.models
from cnnlib.models.conv_stack import conv_stack


def test_conv_stack_is_depth_bias_free_3x3_convs_and_activations():
    torch.manual_seed(0)
    stack = conv_stack(depth=4, width=6, in_channels=2, activation="relu")
    assert len(stack) == 8
    x = torch.randn(3, 2, 7, 7)
    h = x
    for conv in stack[::2]:
        assert conv.bias is None and conv.kernel_size == (3, 3)
        h = F.relu(F.conv2d(h, conv.weight, padding=1))  # size kept
    assert torch.equal(stack(x), h) and h.shape == (3, 6, 7, 7)
    assert isinstance(conv_stack(2, 4, activation="tanh")[1], torch.nn.Tanh)


def test_conv_stack_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="'relu', 'tanh'"):
        conv_stack(2, 4, activation="sigmoid")


def test_conv_stack_lives_in_models():
    assert cnnlib.models.conv_stack is conv_stack
