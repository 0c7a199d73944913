"""cnnlib: the tested library behind the CNN course book.

Modules, from foundations to what builds on them:

- ``cnnlib.runtime``  device, seeds, fast/full profile (every chapter)
- ``cnnlib.data``     data sets, batches kept on the device, batched augmentation
- ``cnnlib.train``    ``fit``: the one training loop, history, checkpoints
- ``cnnlib.shapes``   conv arithmetic, receptive fields, ``summary`` (chapter 1)
- ``cnnlib.layers``   layers the book writes from scratch (dropout, batch norm)
- ``cnnlib.models``   LeNet-5 to DenseNet, one family per file
- ``cnnlib.book``     small helpers for the notebooks (glue, set-up banner)
- ``cnnlib.exercises`` checks that tell a student what is wrong
"""
from .runtime import Profile, describe_device, get_device, get_profile, seed_everything

__version__ = "0.1.0"

__all__ = ["Profile", "describe_device", "get_device", "get_profile", "seed_everything"]
