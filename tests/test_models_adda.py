"""cnnlib.models.adda: ADDA's digit networks against the paper's layer sizes (Section 4.1)."""
import torch
import torch.nn.functional as F

import cnnlib.models
from cnnlib.models.adda import domain_discriminator, lenet_classifier, lenet_encoder


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_lenet_encoder_classifier_and_discriminator_shapes_and_parameters():
    encoder = lenet_encoder()
    features = encoder(torch.zeros(3, 1, 28, 28))
    assert features.shape == (3, 500)
    assert lenet_classifier()(features).shape == (3, 10)
    assert domain_discriminator()(features).shape == (3, 2)
    # conv 20@5x5, conv 50@5x5, fc 800->500: parameters by hand
    assert count(encoder) == (25 * 20 + 20) + (20 * 25 * 50 + 50) + (800 * 500 + 500)
    assert count(lenet_encoder(3)) == count(encoder) + 2 * 25 * 20
    assert count(domain_discriminator()) == 2 * (500 * 500 + 500) + 500 * 2 + 2


def test_lenet_encoder_equals_the_paper_layers_run_by_hand():
    torch.manual_seed(0)
    encoder = lenet_encoder()
    conv1, conv2, fc = encoder[0], encoder[3], encoder[7]
    x = torch.randn(2, 1, 28, 28)
    h = F.relu(F.max_pool2d(F.conv2d(x, conv1.weight, conv1.bias), 2))   # 20 x 12 x 12
    h = F.relu(F.max_pool2d(F.conv2d(h, conv2.weight, conv2.bias), 2))   # 50 x 4 x 4
    assert torch.allclose(encoder(x), F.linear(h.flatten(1), fc.weight, fc.bias), atol=1e-5)


def test_lenet_encoder_has_no_dropout():
    # The paper's LeNet has none: in training and in evaluation mode it computes the same
    # function (the target encoder trains in training mode, the source one gives features in
    # evaluation mode).
    torch.manual_seed(0)
    encoder, x = lenet_encoder(), torch.randn(4, 1, 28, 28)
    assert torch.equal(encoder.train()(x), encoder.eval()(x))


def test_networks_are_exported():
    assert cnnlib.models.lenet_encoder is lenet_encoder
    assert cnnlib.models.domain_discriminator is domain_discriminator
