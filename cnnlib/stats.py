"""How far a measured accuracy can be trusted: yardsticks for comparing trained networks.

A chapter that compares networks by their test accuracy has to say whether a gap is larger than
chance. Two yardsticks need no retraining:

- :func:`accuracy_se`: the standard error of an accuracy measured on ``n`` test images,
  :math:`\\sqrt{p(1-p)/n}`. It is the noise of *the test set* (another sample of ``n`` images
  would give another accuracy), not of training (another seed gives another network).
- :func:`mcnemar`: a paired comparison of two networks on the *same* test images. Only the
  images on which they disagree (one right, the other wrong) carry information about which is
  better; if both were equally good, each such image would be a fair coin. McNemar's exact test
  asks how surprising the split of those images is.

Seed-to-seed noise (the spread of several trainings) is measured by training again; the chapters
show it with :func:`cnnlib.book.spread` (mean ± standard deviation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["accuracy_se", "McNemar", "mcnemar", "p_phrase", "p_text"]


def accuracy_se(acc: float, n: int) -> float:
    """The standard error of an accuracy ``acc`` measured on ``n`` test images:
    ``sqrt(acc * (1 - acc) / n)`` (each image is right or wrong, like a coin with bias ``acc``).
    E.g. 0.84 on 10,000 images: 0.0037, about a third of a point."""
    if not 0.0 <= acc <= 1.0:
        raise ValueError(f"accuracy_se: acc={acc} is not an accuracy between 0 and 1")
    if n < 1:
        raise ValueError(f"accuracy_se: n={n} test images; give at least one")
    return math.sqrt(acc * (1.0 - acc) / n)


@dataclass(frozen=True)
class McNemar:
    """Two networks A and B on the same test images: ``only_a`` images only A got right,
    ``only_b`` images only B got right, and the two-sided ``p_value`` of McNemar's exact test."""

    only_a: int
    only_b: int
    p_value: float

    @property
    def disagreements(self) -> int:
        """The images on which exactly one of the two is right: all the test looks at."""
        return self.only_a + self.only_b


def mcnemar(a_correct, b_correct) -> McNemar:
    """McNemar's exact test of two networks' per-image results on the same test images.

    ``a_correct`` and ``b_correct`` say, image by image, whether A and B classified it correctly
    (booleans, or 0/1). If A and B were equally accurate, each of the ``k = only_a + only_b``
    images they disagree on would go to A or to B with probability 1/2, so the smaller count
    follows a Binomial(k, 1/2); the p-value is twice its lower tail (at most 1). The images both
    got right or both got wrong say nothing about which one is better, however many there are.
    """
    a = torch.as_tensor(a_correct).bool().flatten()
    b = torch.as_tensor(b_correct).bool().flatten()
    if a.shape != b.shape:
        raise ValueError(f"mcnemar: {a.numel()} results for A but {b.numel()} for B; "
                         "give one per test image, for the same images")
    only_a = int((a & ~b).sum())
    only_b = int((b & ~a).sum())
    k = only_a + only_b
    # Exact, in integers: P(X <= min) = sum_{i <= min} C(k, i) / 2^k.
    tail = sum(math.comb(k, i) for i in range(min(only_a, only_b) + 1))
    p_value = min(1.0, 2 * tail / 2**k)
    return McNemar(only_a, only_b, p_value)


def p_text(p: float) -> str:
    """A p-value as papers print it: two decimals from 0.01 up (``'0.26'``), one significant
    digit below (``'0.002'``), and ``'< 0.001'`` below that, where more digits say nothing."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p_text: p={p} is not a probability")
    if p >= 0.01:
        return f"{p:.2f}"
    if p >= 0.001:
        return f"{p:.1g}"
    return "< 0.001"


def p_phrase(p: float) -> str:
    """A p-value as a sentence writes it: ``'p = 0.26'``, ``'p = 0.002'``, ``'p < 0.001'``."""
    text = p_text(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
