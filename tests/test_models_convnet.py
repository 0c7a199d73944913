"""cnnlib.models.convnet: the book's source network, checked layer by layer against torch's own
conv/BN/pool functions and its parameter count by hand."""
import torch
import torch.nn.functional as F

import cnnlib.models
import cnnlib.transfer
from cnnlib.models.convnet import conv_bn_relu, convnet


def conv_bn_params(c_in, c_out):
    return 9 * c_in * c_out + 2 * c_out  # conv without bias, BN weight and bias


def test_convnet_children_and_parameter_count():
    model = convnet(num_classes=5, widths=(4, 8, 8, 16))
    assert [n for n, _ in model.named_children()] == [
        "layer1", "layer2", "layer3", "layer4", "avgpool", "flatten", "fc"]
    expected = (conv_bn_params(3, 4) + conv_bn_params(4, 8) + conv_bn_params(8, 8)
                + conv_bn_params(8, 16) + 16 * 5 + 5)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert convnet(in_channels=1)(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_convnet_forward_equals_the_functional_ops():
    torch.manual_seed(0)
    model = convnet(num_classes=3, widths=(4, 8, 8, 16)).eval()
    x = torch.randn(2, 3, 32, 32)
    h = x
    for i in range(1, 5):
        conv, bn = getattr(model, f"layer{i}")[0], getattr(model, f"layer{i}")[1]
        h = F.relu(F.batch_norm(F.conv2d(h, conv.weight, padding=1), bn.running_mean, bn.running_var,
                                bn.weight, bn.bias, training=False, eps=bn.eps))
        if i < 4:
            h = F.max_pool2d(h, 2)  # 32 -> 16 -> 8 -> 4
    assert h.shape == (2, 16, 4, 4)
    logits = F.linear(h.mean((2, 3)), model.fc.weight, model.fc.bias)
    assert torch.allclose(model(x), logits, atol=1e-5)


def test_conv_bn_relu_keeps_the_size_and_has_no_conv_bias():
    conv, bn, relu = conv_bn_relu(3, 6)
    assert conv.bias is None and conv.padding == (1, 1) and bn.num_features == 6
    assert torch.nn.Sequential(conv, bn, relu)(torch.randn(1, 3, 9, 9)).shape == (1, 6, 9, 9)


def test_convnet_is_exported_by_models():
    assert cnnlib.models.convnet is convnet
