"""The old name of :mod:`cnnlib.data.augment`, where all batched augmentation now lives.

Kept only so that chapter 5 of an older checkout (``from cnnlib.augment import ...``) still runs;
new code imports from ``cnnlib.data.augment``.
"""
from .data.augment import *  # noqa: F403
from .data.augment import __all__  # noqa: F401
