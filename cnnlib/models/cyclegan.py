"""The networks of CycleGAN (chapter 12), shrunk for 28-32 px digit images.

From J.-Y. Zhu, T. Park, P. Isola and A. A. Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017, arXiv:1703.10593, Appendix 7.2:

- the generator is the ResNet design of Johnson et al. (2016): c7s1-w, two stride-2
  downsamplings, residual blocks, two upsamplings, c7s1 + tanh, with instance normalisation;
- the discriminator is a PatchGAN (Isola et al., 2017): a few 4x4 convolutions whose output is
  a grid of scores, each judging one overlapping patch of the image;
- weights are drawn from N(0, 0.02) (:func:`init_normal`).

The losses and the training loop are :mod:`cnnlib.adapt.cyclegan`.
"""
from __future__ import annotations

from torch import nn

__all__ = ["ResidualBlock", "cyclegan_generator", "patch_discriminator", "init_normal"]


class ResidualBlock(nn.Module):
    """x + (reflect-pad, conv 3x3, IN, ReLU, reflect-pad, conv 3x3, IN)(x): the paper's R_k."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x):
        return x + self.body(x)


def _down(in_channels: int, out_channels: int) -> list[nn.Module]:
    """d_k: 3x3 conv with stride 2 (half the size) - IN - ReLU."""
    return [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
            nn.InstanceNorm2d(out_channels), nn.ReLU(True)]


def _up(in_channels: int, out_channels: int) -> list[nn.Module]:
    """u_k: 3x3 transposed conv with stride 2 (twice the size) - IN - ReLU."""
    return [nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(out_channels), nn.ReLU(True)]


def cyclegan_generator(in_channels: int = 3, out_channels: int = 3, width: int = 16,
                       n_blocks: int = 3) -> nn.Sequential:
    """The CycleGAN ResNet generator (Zhu et al. 2017, Appendix 7.2), shrunk for 28-32 px.

    c7s1-w, d2w, d4w, ``n_blocks`` x R4w, u2w, uw, c7s1-out + tanh (the paper: w = 64, 6 or 9
    blocks). Side lengths divisible by 4 come back unchanged; outputs are in [-1, 1].
    """
    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), nn.InstanceNorm2d(width), nn.ReLU(True),
        *_down(width, 2 * width), *_down(2 * width, 4 * width),
        *[ResidualBlock(4 * width) for _ in range(n_blocks)],
        *_up(4 * width, 2 * width), *_up(2 * width, width),
        nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh())


def patch_discriminator(in_channels: int = 3, width: int = 16) -> nn.Sequential:
    """A PatchGAN for 28-32 px: C(w) - C(2w) - a 1-channel map of scores.

    4x4 convolutions, LeakyReLU 0.2 and instance norm on the second layer, as in the paper's
    70x70 PatchGAN but two layers shorter: each score judges an overlapping 22x22 patch (its
    receptive field), and a 28x28 image gets 6x6 scores, a 32x32 one 7x7.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.InstanceNorm2d(2 * width), nn.LeakyReLU(0.2, True),
        nn.Conv2d(2 * width, 1, 4, stride=1, padding=1))


def init_normal(module: nn.Module) -> None:
    """The paper's initialisation, for ``net.apply``: conv weights from N(0, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
