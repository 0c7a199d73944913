"""Domain adaptation and image-to-image translation (chapters 11 and 12).

- the MNIST-M data set (MNIST digits blended with colour photos) lives with the other data sets
  in :mod:`cnnlib.data.mnist_m` (``load_dataset("mnist_m", split)``); re-exported here;
- :mod:`cnnlib.adapt.domains`: MNIST, USPS and MNIST-M in one format (28x28, scaled to [-1, 1]);
- :mod:`cnnlib.adapt.adda`: Adversarial Discriminative Domain Adaptation (Tzeng et al., 2017);
- :mod:`cnnlib.adapt.cyclegan`: CycleGAN (Zhu et al., 2017) for small digit images;
- :mod:`cnnlib.adapt.loop`: what their two training loops share with ``fit``.

Adversarial training does not fit the supervised ``fit`` loop (two players, two optimisers, no
labels on the target side), so the loops live here; ``fit`` still pre-trains the source networks.
They return the same ``History`` as ``fit`` and load, resume and refuse checkpoints by the same
rules. The networks are in :mod:`cnnlib.models` (``adda``, ``cyclegan``).
"""
from ..data.mnist_m import blend, load_mnist_m

__all__ = ["blend", "load_mnist_m"]
