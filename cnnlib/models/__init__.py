"""Every network of the book, written by hand, one family per file.

The classic CNNs of the architecture chapters (LeNet-5 to DenseNet): every builder is named as
in ``torchvision.models`` and, with its defaults, builds the paper's ImageNet network with
exactly torchvision's parameters (same names and shapes, so torchvision's weights load). The
same builders make compact versions for 32x32 images that train on a laptop CPU, with the same
keyword arguments in every family:

- ``num_classes``: number of outputs;
- ``in_channels``: 3 for colour images, 1 for MNIST;
- ``small_input=True``: a 3x3 stride-1 stem without the first max-pool (32x32 inputs);
- ``width``: channels of the stem / first stage (64 in most papers); the rest scale with it.
  DenseNet is sized by ``growth_rate`` instead (its stem width defaults to twice it).

For example ``resnet18(num_classes=10, small_input=True, width=16)`` or
``densenet121(num_classes=10, small_input=True, growth_rate=12)``.

The smaller networks of the other chapters:

- :mod:`.conv_stack`: a plain deep stack of convolutions to probe initialisations (chapter 2);
- :mod:`.four_layer`: AlexNet's Figure 1 net, ReLU against tanh (chapter 7);
- :mod:`.cifar_resnet`: the paper's CIFAR-10 ResNets, plain or residual (chapter 9);
- :mod:`.convnet`: the book's four-block source network for transfer learning (chapter 10);
- :mod:`.adda`: ADDA's LeNet encoder, classifier and domain discriminator (chapters 11, 12);
- :mod:`.cyclegan`: CycleGAN's ResNet generator and PatchGAN discriminator (chapter 12).
"""
from __future__ import annotations

from .adda import domain_discriminator, lenet_classifier, lenet_encoder
from .alexnet import AlexNet, alexnet
from .cifar_resnet import CifarResNet, cifar_resnet
from .conv_stack import conv_stack
from .convnet import convnet
from .cyclegan import cyclegan_generator, patch_discriminator
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .four_layer import four_layer_net
from .googlenet import GoogLeNet, googlenet
from .lenet import LeNet5Classic, LeNet5Modern, lenet5, mlp
from .resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

__all__ = [
    "lenet5", "mlp", "alexnet",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "googlenet",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "densenet121", "densenet169", "densenet201", "densenet161",
    "cifar_resnet", "convnet", "four_layer_net", "conv_stack",
    "lenet_encoder", "lenet_classifier", "domain_discriminator",
    "cyclegan_generator", "patch_discriminator",
    "AlexNet", "CifarResNet", "DenseNet", "GoogLeNet", "LeNet5Classic", "LeNet5Modern", "ResNet", "VGG",
]
