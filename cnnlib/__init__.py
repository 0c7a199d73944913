"""cnnlib: the tested library behind the CNN course book.

Modules, from foundations to what builds on them:

- ``cnnlib.runtime``  device, seeds, profile, cache folder, checkpoint paths        every chapter
- ``cnnlib.validation`` clear errors for bad input to ``fit``, ``evaluate``, checkpoints, ``adapt``
- ``cnnlib.download`` downloads that finish: several addresses, resume, checksums  (data, weights)
- ``cnnlib.data``     data sets, device-side batches, batched augmentation          chapters 1, 5
- ``cnnlib.precision`` bf16/fp16/fp32 and memory layout by device (with ``fit``)
- ``cnnlib.train``    ``fit``: the one training loop (images or feature tensors); ``forever``
  (``cnnlib.settings``: ``RunSettings``, what a run computes; ``cnnlib.history``: ``History``;
  ``cnnlib.checkpoint``: checkpoints that record their settings)
- ``cnnlib.distributed`` ``fit`` under torchrun: several GPUs or machines        README
- ``cnnlib.shapes``   conv arithmetic, receptive fields                             chapter 1
- ``cnnlib.inspection`` the one forward-hook walker, ``summary``, parameter counts  chapters 1, 6-10
- ``cnnlib.layers``   layers the book writes from scratch (dropout, batch norm)      chapters 3, 4
- ``cnnlib.initialisation`` init scales, k-means and Gabor first-layer filters    chapter 2
- ``cnnlib.models``   every network of the book, one family per file                chapters 2, 6-12
- ``cnnlib.memory``, ``cnnlib.compact``  activation memory; the compact CIFAR nets  chapters 8-9
- ``cnnlib.recipe``   a named fast recipe: fit settings + an airbench-like net        README
  (``cnnlib.weight_average``: its moving average of the weights)
- ``cnnlib.pretrained`` the book's trained networks (``weights/``, ``make weights``)
- ``cnnlib.transfer`` feature extraction and fine-tuning                            chapter 10
- ``cnnlib.adapt``    ADDA and CycleGAN (MNIST-M lives in ``cnnlib.data``)         chapters 11-12
- ``cnnlib.viz``      the convolution drawn (chapter 1), activation/gradient histograms
  (chapter 4), architecture diagrams drawn from the model (chapters 6-9), schematics of
  ADDA and CycleGAN (chapters 11-12), filters, Gabor, activations, embeddings, occlusion,
  saliency                                                                       chapter 13
- ``cnnlib.book``     small helpers for the notebooks (glue, set-up banner)
- ``cnnlib.exercises`` checks that tell a student what is wrong                     every chapter
"""
# The release, each written once (README, "Cutting a release"): the version (pyproject.toml reads
# it; the chapters' set-up cells install the tag v<version>) and the repository it is published
# from (_config.yml's `repository: url:` says the same; tests/test_release.py checks all of them).
__version__ = "0.2.0"
REPOSITORY_URL = "https://github.com/cnn-course-book/cnn-book"

from .runtime import Profile, describe_device, get_device, get_profile, seed_everything

__all__ = ["Profile", "describe_device", "get_device", "get_profile", "seed_everything"]
