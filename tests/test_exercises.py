"""cnnlib.exercises: checks print ✔ when right and raise AssertionError saying how an answer is
wrong (never what the answer is), or "not done yet" for a stub."""
import signal
import time

import numpy as np
import pytest
import torch

from cnnlib.exercises import check, check_function, describe_mismatch, relative_error


def test_correct_answers_pass(capsys):
    check("size", 55, 55)
    check_function("double", lambda x: 2 * x, [((1,), 2), ((3,), 6)])
    out = capsys.readouterr().out
    assert "✔ size: correct." in out and "all 2 cases correct" in out


@pytest.mark.parametrize("answer", [np.int64(3), np.float32(3.0), np.array(3), torch.tensor(3),
                                    torch.tensor(3.0, dtype=torch.float16), 3.0])
def test_numpy_and_torch_scalars_are_numbers(answer, capsys):
    # The library issue: check("q", np.int64(3), 3) said "expected a number".
    check("q", answer, 3)
    assert "✔ q: correct." in capsys.readouterr().out


def test_numpy_arrays_compare_with_tensors(capsys):
    check("a", np.array([1.0, 2.0]), torch.tensor([1.0, 2.0]))
    check("b", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))
    assert capsys.readouterr().out.count("correct") == 2
    with pytest.raises(AssertionError, match=r"wrong shape \(3,\), expected \(2,\)"):
        check("c", np.zeros(3), torch.zeros(2))


def test_booleans_are_not_numbers():
    assert "expected a number" in describe_mismatch(True, 1)
    assert "expected a number" in describe_mismatch(np.bool_(True), 1)


def test_wrong_answers_say_how_they_are_wrong_without_the_answer():
    assert describe_mismatch(110, 55) == "got 110, off by a factor of 2 (too large)"
    assert describe_mismatch(5.5, 55) == "got 5.5, off by a factor of 10 (too small)"
    assert describe_mismatch(54, 55) == "got 54, off by one (too small)"
    assert describe_mismatch(-3.5, 3.5) == "got -3.5, the sign is wrong"
    assert describe_mismatch(60, 55) == "got 60, too large"
    assert "wrong shape (3, 4), expected (4, 3)" in describe_mismatch(torch.zeros(3, 4), torch.zeros(4, 3))
    assert "relative error" in describe_mismatch(torch.ones(3), torch.tensor([1.0, 1.0, 1.1]))
    assert describe_mismatch(-torch.arange(1.0, 4.0), torch.arange(1.0, 4.0)).endswith("the sign is wrong")
    assert describe_mismatch(2 * torch.arange(1.0, 4.0), torch.arange(1.0, 4.0)).endswith("factor of 2 (too large)")
    assert "expected a number" in describe_mismatch("55", 55)
    assert describe_mismatch((55, 54, 96), (55, 55, 96)) == "item 1: got 54, off by one (too small)"
    assert describe_mismatch((55, 55, 96), (55, 55, 96)) is None
    assert describe_mismatch(None, torch.zeros(2)) == "got None (a missing return?), expected a tensor of shape (2,)"
    assert "expected a tensor of shape (2, 2)" in describe_mismatch([[1, 2], [3]], torch.zeros(2, 2))
    assert describe_mismatch(False, True) == "got bool False, which is not right"
    # The expected value is never printed (the issue: "got 54, expected 55" gave the answer away).
    for actual, expected in ((54, 55), (110, 55), (852.5, 853), ((1, 2), (1, 777)), ("x", 777), ([1], (3, 777))):
        assert str(expected[-1] if isinstance(expected, tuple) else expected) not in describe_mismatch(actual, expected)


def test_a_wrong_answer_raises_assertion_error_with_the_feedback(capsys):
    with pytest.raises(AssertionError, match=r"^✘ size: got 54, off by one \(too small\)\.$"):
        check("size", 54, 55)
    assert capsys.readouterr().out == ""


def test_stubs_raise_not_done_yet():
    def stub(*args):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="output_size: not done yet .*NotImplementedError"):
        check_function("output_size", stub, [((1,), 1)])
    with pytest.raises(AssertionError, match="answer: not done yet .*undefined_name.*answer cell"):
        check("answer", lambda: undefined_name, 3)  # noqa: F821


def test_a_wrong_function_names_the_failing_case():
    with pytest.raises(AssertionError, match=r"^✘ output_size\(7, 3\): got 4, off by one \(too small\)\.$"):
        check_function("output_size", lambda W, F: W - F, [((5, 3), 2), ((7, 3), 5)])


def test_a_function_that_raises_names_the_case_whose_call_raised():
    def reciprocal(x):
        return 1 / x

    with pytest.raises(AssertionError, match=r"✘ reciprocal\(0\) raised ZeroDivisionError: division by zero") as info:
        check_function("reciprocal", reciprocal, [((1,), 1.0), ((0,), 0.0), ((2,), 0.5)])
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_tensor_arguments_are_shown_by_their_shape():
    with pytest.raises(AssertionError, match=r"✘ f\(<Tensor of shape \(2, 3\)>, 4\): wrong shape"):
        check_function("f", lambda x, k: x, [((torch.zeros(2, 3), 4), torch.zeros(3))])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_tensor_on_another_device_is_compared_on_the_cpu(capsys):
    check("on_gpu", torch.tensor([1.0, 2.0], device="cuda"), torch.tensor([1.0, 2.0]))
    check("scalar_on_gpu", torch.tensor(3, device="cuda"), 3)
    assert capsys.readouterr().out.count("correct") == 2


def test_a_tensor_on_another_device_is_moved_to_the_cpu(monkeypatch):
    # Without a GPU: a tensor whose .to() records where it is sent stands for a CUDA tensor.
    moved = []
    original = torch.Tensor.to

    def recording_to(self, *args, **kwargs):
        moved.append(kwargs.get("device", args[0] if args else None))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    assert describe_mismatch(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) is None
    assert moved and all(str(d) == "cpu" for d in moved)


def test_relative_error_matches_the_cs231n_formula():
    assert relative_error(1.0, 1.0) == 0
    assert abs(relative_error(1.1, 1.0) - 0.1 / 2.1) < 1e-12


@pytest.mark.parametrize("answer, words", [(float("nan"), "not a number (NaN)"),
                                           (float("inf"), "infinite"), (-float("inf"), "infinite"),
                                           (np.float32("nan"), "not a number (NaN)")])
def test_nan_and_inf_answers_are_named_not_called_too_small_or_the_wrong_sign(answer, words):
    problem = describe_mismatch(answer, 2.5)
    assert words in problem
    assert "too small" not in problem and "sign" not in problem and "2.5" not in problem


def test_an_array_with_nan_or_inf_says_how_many_values_are_not_finite():
    expected = torch.tensor([1.0, -2.0, 3.0])
    problem = describe_mismatch(torch.tensor([1.0, float("nan"), float("inf")]), expected)
    assert "2 of 3 values are not finite" in problem and "NaN" in problem


def test_a_function_that_never_returns_is_stopped_with_a_clear_message():
    def endless(n):
        while True:
            try:
                n += 1
            except Exception:  # a student's catch-all must not swallow the time limit
                pass

    start = time.perf_counter()
    with pytest.raises(AssertionError, match=r"endless\(1\) did not finish within 0.2 s: look "
                                             r"for a loop that never ends"):
        check_function("endless", endless, [((1,), 2)], timeout=0.2)
    assert time.perf_counter() - start < 5
    # the timer is off again afterwards, and the SIGALRM handler is restored
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_a_function_within_its_time_limit_passes(capsys):
    check_function("double", lambda x: 2 * x, [((1,), 2), ((3,), 6)], timeout=5)
    assert "all 2 cases correct" in capsys.readouterr().out
