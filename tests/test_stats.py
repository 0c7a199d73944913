"""cnnlib.stats: the standard error of an accuracy and McNemar's exact test, against hand-worked
values and scipy."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from cnnlib.stats import McNemar, accuracy_se, mcnemar, p_phrase, p_text


def test_accuracy_se_by_hand():
    # 0.84 * 0.16 = 0.1344; / 10,000 = 1.344e-5; sqrt = 0.003666
    assert accuracy_se(0.84, 10_000) == pytest.approx(0.0036661, abs=1e-7)
    assert accuracy_se(0.5, 100) == pytest.approx(0.05)  # sqrt(0.25 / 100)
    assert accuracy_se(1.0, 50) == 0.0  # all right: no spread
    with pytest.raises(ValueError, match="between 0 and 1"):
        accuracy_se(84.0, 10_000)  # a percentage, not an accuracy
    with pytest.raises(ValueError, match="at least one"):
        accuracy_se(0.5, 0)


def test_accuracy_se_is_the_spread_of_simulated_test_sets():
    # Independent oracle: draw many test sets of n images from a net that is right with
    # probability p, and measure the standard deviation of their accuracies.
    rng = np.random.default_rng(0)
    p, n = 0.7, 2_500
    accs = rng.binomial(n, p, size=20_000) / n
    assert accs.std() == pytest.approx(accuracy_se(p, n), rel=0.03)


def test_mcnemar_hand_worked():
    # A right on images 0-3, B right on 3-4: only A on 0, 1, 2 (3 images), only B on 4 (1).
    # k = 4 disagreements; P(X <= 1) for Binomial(4, 1/2) = (1 + 4) / 16; two-sided: 10/16.
    a = [1, 1, 1, 1, 0, 0]
    b = [0, 0, 0, 1, 1, 0]
    result = mcnemar(a, b)
    assert result == McNemar(only_a=3, only_b=1, p_value=0.625)
    assert result.disagreements == 4
    # 10 disagreements, all won by A: 2 / 2**10
    assert mcnemar([True] * 10 + [False], [False] * 11).p_value == pytest.approx(2 / 1024)
    # even split, and no disagreement at all: nothing to tell them apart
    assert mcnemar([1, 0, 1, 0], [0, 1, 1, 0]).p_value == 1.0
    assert mcnemar([1, 1, 0], [1, 1, 0]) == McNemar(0, 0, 1.0)


@pytest.mark.parametrize("only_a, only_b", [(729, 438), (608, 609), (460, 1832), (5, 0), (40, 57)])
def test_mcnemar_matches_scipy_binomial_test(only_a, only_b):
    # Build per-image results with the given disagreements plus images both got right or wrong
    # (which must not matter), shuffled.
    both_right, both_wrong = 8_000, 300
    a = torch.tensor([1] * only_a + [0] * only_b + [1] * both_right + [0] * both_wrong)
    b = torch.tensor([0] * only_a + [1] * only_b + [1] * both_right + [0] * both_wrong)
    order = torch.randperm(len(a), generator=torch.Generator().manual_seed(0))
    result = mcnemar(a[order].bool(), b[order].numpy())
    assert (result.only_a, result.only_b) == (only_a, only_b)
    expected = binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert math.isclose(result.p_value, expected, rel_tol=1e-9, abs_tol=1e-300)


def test_mcnemar_needs_the_same_images():
    with pytest.raises(ValueError, match="one per test image"):
        mcnemar([1, 0, 1], [1, 0])


def test_p_text():
    assert p_text(0.256) == "0.26"
    assert p_text(1.0) == "1.00"
    assert p_text(0.0101) == "0.01"
    assert p_text(0.00175) == "0.002"
    assert p_text(0.000131) == "< 0.001"
    with pytest.raises(ValueError, match="not a probability"):
        p_text(1.5)


def test_p_phrase():
    assert p_phrase(0.256) == "p = 0.26"
    assert p_phrase(0.00175) == "p = 0.002"
    assert p_phrase(1e-17) == "p < 0.001"
