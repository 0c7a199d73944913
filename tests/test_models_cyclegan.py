"""cnnlib.models.cyclegan: sizes, ranges, receptive fields and the paper's initialisation."""
import torch
from torch import nn

import cnnlib.models
from cnnlib.models.cyclegan import ResidualBlock, cyclegan_generator, init_normal, patch_discriminator
from cnnlib.shapes import receptive_field


def test_generator_keeps_the_size_and_range():
    for size in (28, 32):
        out = cyclegan_generator(3, 1, width=4, n_blocks=1)(torch.randn(2, 3, size, size) * 5)
        assert out.shape == (2, 1, size, size)
        assert out.abs().max() <= 1.0


def test_generator_has_the_papers_layers():
    g = cyclegan_generator(3, 3, width=4, n_blocks=2)
    assert sum(isinstance(m, ResidualBlock) for m in g) == 2
    strided = [m.stride for m in g if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert strided == [(1, 1), (2, 2), (2, 2), (2, 2), (2, 2), (1, 1)]  # c7s1, d, d, u, u, c7s1
    assert [m.out_channels for m in g if isinstance(m, nn.Conv2d) and m.kernel_size == (7, 7)] == [4, 3]


def test_patch_discriminator_outputs_a_grid_of_patch_scores():
    d = patch_discriminator(3, width=4)
    assert d(torch.zeros(2, 3, 28, 28)).shape == (2, 1, 6, 6)
    assert d(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 7, 7)
    assert receptive_field(d).size == 22  # the docstring's patch size


def test_residual_block_is_identity_plus_body():
    block = ResidualBlock(4)
    x = torch.randn(1, 4, 6, 6)
    assert torch.allclose(block(x), x + block.body(x))


def test_init_normal_draws_conv_weights_with_std_0_02_and_zero_biases():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 64, 3), nn.ConvTranspose2d(64, 64, 3), nn.InstanceNorm2d(64))
    net.apply(init_normal)
    for layer in net[:2]:
        assert abs(layer.weight.std().item() - 0.02) < 0.001 and layer.bias.abs().max() == 0


def test_networks_are_exported():
    assert cnnlib.models.cyclegan_generator is cyclegan_generator
    assert cnnlib.models.patch_discriminator is patch_discriminator
