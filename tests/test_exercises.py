"""cnnlib.exercises: checks print ✔ when right and raise AssertionError saying how an answer is
wrong (never what the answer is), or "not done yet" for a stub; a check cell of several parts
earns each part's share of its points (Parts), and shows its score as a plain number."""
import signal
import sys
import time
import warnings

import numpy as np
import pytest
import torch

from cnnlib.exercises import Parts, check, check_function, describe_mismatch, freeze, relative_error


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
    assert describe_mismatch(110, 55) == "got 110, too large (off by a factor of 2 or more)"
    assert describe_mismatch(5.5, 55) == "got 5.5, too small (off by a factor of 10 or more)"
    assert describe_mismatch(54, 55) == "got 54, too small"
    assert describe_mismatch(-3.5, 3.5) == "got -3.5, the sign is wrong"
    assert describe_mismatch(60, 55) == "got 60, too large"
    assert "wrong shape (3, 4), expected (4, 3)" in describe_mismatch(torch.zeros(3, 4), torch.zeros(4, 3))
    assert "relative error" in describe_mismatch(torch.ones(3), torch.tensor([1.0, 1.0, 1.1]))
    assert describe_mismatch(-torch.arange(1.0, 4.0), torch.arange(1.0, 4.0)).endswith("the sign is wrong")
    assert describe_mismatch(2 * torch.arange(1.0, 4.0), torch.arange(1.0, 4.0)).endswith("factor of 2 (too large)")
    assert "expected a number" in describe_mismatch("55", 55)
    assert describe_mismatch((55, 54, 96), (55, 55, 96)) == "item 1: got 54, too small"
    assert describe_mismatch((55, 55, 96), (55, 55, 96)) is None
    assert describe_mismatch(None, torch.zeros(2)) == "got None (a missing return?), expected a tensor of shape (2,)"
    assert "expected a tensor of shape (2, 2)" in describe_mismatch([[1, 2], [3]], torch.zeros(2, 2))
    assert describe_mismatch(False, True) == "got bool False, which is not right"
    # The expected value is never printed (the issue: "got 54, expected 55" gave the answer away).
    for actual, expected in ((54, 55), (110, 55), (852.5, 853), ((1, 2), (1, 777)), ("x", 777), ([1], (3, 777))):
        assert str(expected[-1] if isinstance(expected, tuple) else expected) not in describe_mismatch(actual, expected)


def test_a_wrong_answer_raises_assertion_error_with_the_feedback(capsys):
    with pytest.raises(AssertionError, match=r"^✘ size: got 54, too small\.$"):
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
    with pytest.raises(AssertionError, match=r"^✘ output_size\(7, 3\): got 4, too small\.$"):
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


# ---------------------------------------------------------------- single numbers: feedback that does not pin the value

def test_a_single_number_is_told_too_small_or_too_large_without_pinning_it():
    # The issue: "got 852, off by one (too small)" gave 853 away; so did "a factor of 2" for 1706.
    assert describe_mismatch(852, 853) == "got 852, too small"
    assert describe_mismatch(854, 853) == "got 854, too large"
    # an exact factor and a ratio in the same band read the same: the value is not pinned
    exact, near = describe_mismatch(1706, 853), describe_mismatch(1800, 853)
    assert exact.split(", ", 1)[1] == near.split(", ", 1)[1] == "too large (off by a factor of 2 or more)"
    assert describe_mismatch(85.3, 853) == "got 85.3, too small (off by a factor of 10 or more)"
    assert describe_mismatch(-853, 853) == describe_mismatch(-3, 853).replace("-3", "-853") == "got -853, the sign is wrong"
    for got in (852, 854, 1706, 426.5, -853, 8530, 85.3):
        assert "853" not in describe_mismatch(got, 853).split(", ", 1)[1]
        assert "off by one" not in describe_mismatch(got, 853)
    # a case of check_function that returns one number is told the same way
    with pytest.raises(AssertionError, match=r"^✘ f\(1\): got 852, too small\.$"):
        check_function("f", lambda x: 852, [((1,), 853)])


def test_a_one_value_array_is_a_single_number():
    assert describe_mismatch(torch.tensor([852.0]), torch.tensor([853.0])) == "got 852, too small"


@pytest.mark.parametrize("answer, words", [(float("nan"), "not a number (NaN)"), (float("inf"), "infinite")])
def test_nan_and_inf_from_a_function_are_named(answer, words):
    with pytest.raises(AssertionError) as info:
        check_function("f", lambda: answer, [((), -2.5)])
    assert words in str(info.value) and "too" not in str(info.value) and "sign" not in str(info.value)


# ---------------------------------------------------------------- plain values: what the checker reads

def test_answers_are_frozen_into_plain_values():
    a = freeze(torch.arange(6, dtype=torch.float32).view(2, 3).t())  # a transposed view
    assert type(a) is np.ndarray and a.dtype == np.float64 and a.flags.c_contiguous and a.flags.owndata
    assert freeze(np.int64(3)) == 3 and type(freeze(np.int64(3))) is int
    assert type(freeze(np.float32(0.5))) is float and type(freeze(np.bool_(True))) is bool
    assert freeze([1, (2, np.int8(3))]) == (1, (2, 3)) and freeze(torch.zeros(2, 3).shape) == (2, 3)
    source = np.ones(3)
    frozen = freeze(source)
    source[0] = 7  # the student's array changed afterwards: the copy did not
    assert frozen[0] == 1


def test_plain_answers_of_every_accepted_kind_pass(capsys):
    check("shape", torch.zeros(2, 3).shape, (2, 3))
    check("parameter", torch.nn.Parameter(torch.ones(2)), torch.ones(2))
    check("needs grad", torch.ones(2, requires_grad=True) * 2, np.full(2, 2.0))
    check("flag", np.bool_(True), True)
    check("list", [1, 2], (1, 2))
    assert capsys.readouterr().out.count("correct") == 5


class IntThatEqualsAnything(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class AlwaysEqual:
    def __eq__(self, other):
        return True


class NamedFloat(float):
    pass


class MatrixLike(np.ndarray):
    pass


@pytest.mark.parametrize("answer, expected, words", [
    (IntThatEqualsAnything(3), 5, "IntThatEqualsAnything (a subclass of int)"),
    (IntThatEqualsAnything(1), True, "IntThatEqualsAnything (a subclass of int)"),
    (AlwaysEqual(), True, "got a AlwaysEqual, which the checker does not take"),
    (AlwaysEqual(), (1, 2), "got a AlwaysEqual, which the checker does not take"),
    (NamedFloat(2.5), 2.5, "NamedFloat (a subclass of float)"),
    (np.zeros(2).view(MatrixLike), np.zeros(2), "MatrixLike (a subclass of ndarray)"),
    (np.array([1, 2], dtype=object), np.ones(2), "dtype object"),
    (1 + 2j, 1.0, "complex"),
    ({"a": 1}, 1, "got a dict"),
])
def test_subclasses_and_odd_types_are_refused_with_a_clear_message(answer, expected, words):
    with pytest.raises(AssertionError, match="does not take|expected real numbers|complex") as info:
        check("q", lambda: answer, expected)
    assert words in str(info.value)


def test_a_meta_tensor_is_refused_not_called_not_done():
    with pytest.raises(AssertionError, match="a tensor whose values cannot be read"):
        check("q", torch.empty(2, device="meta"), torch.zeros(2))


class ChameleonTensor(torch.Tensor):
    """The issue's cheat: a tensor whose shape matches anything and whose difference is always zero."""
    calls = []

    @property
    def shape(self):
        class AnyShape(tuple):
            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False
        return AnyShape()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        cls.calls.append(name)
        if name in ("detach", "to", "contiguous", "cpu", "double"):
            return args[0]
        if name == "isfinite":
            return torch.tensor(True)
        return torch.zeros(())


def test_a_tensor_subclass_that_matches_anything_is_refused_untouched():
    ChameleonTensor.calls.clear()
    cheat = torch.zeros(1).as_subclass(ChameleonTensor)
    ChameleonTensor.calls.clear()
    with pytest.raises(AssertionError, match=r"ChameleonTensor \(a subclass of Tensor\)"):
        check("x", lambda: cheat, torch.arange(1.0, 5.0))
    with pytest.raises(AssertionError, match=r"ChameleonTensor \(a subclass of Tensor\)"):
        check_function("f", lambda x: cheat, [((1,), torch.arange(1.0, 5.0))])
    assert ChameleonTensor.calls == []  # none of its methods ran


def _expected_from_the_stack():
    """The issue's cheat: read the checker's expected value from a frame up the stack."""
    frame = sys._getframe(1)
    while frame is not None:
        for name in ("expected", "cases"):
            if name in frame.f_locals:
                found = frame.f_locals[name]
                return found[0][1] if name == "cases" else found
        frame = frame.f_back
    return None


class FrameReadingFloat(float):
    """A number type that reads the expected value from the checker's frame when converted."""
    converted = []

    def __float__(self):
        FrameReadingFloat.converted.append(True)
        return float(_expected_from_the_stack())


def test_the_expected_value_is_not_in_a_local_of_the_checkers_frame():
    with pytest.raises(AssertionError, match="got None"):
        check("answer", lambda: _expected_from_the_stack(), 853)
    with pytest.raises(AssertionError, match="got None"):
        check_function("f", lambda x: _expected_from_the_stack(), [((1,), 853)])
    FrameReadingFloat.converted.clear()
    with pytest.raises(AssertionError, match="FrameReadingFloat"):
        check("answer", lambda: FrameReadingFloat(0.0), 853)
    assert FrameReadingFloat.converted == []  # refused before any of its methods ran


def test_an_expected_value_given_as_a_function_is_computed_after_the_answer(capsys):
    order = []
    check("late", lambda: order.append("answer") or 3, lambda: order.append("expected") or 3)
    check_function("f", lambda x: order.append("call") or x, [((2,), lambda: order.append("case") or 2)])
    assert order == ["answer", "expected", "call", "case"]
    assert capsys.readouterr().out == "✔ late: correct.\n✔ f: all 1 cases correct.\n"


# ---------------------------------------------------------------- warnings and stderr never zero a correct answer

def _warns_and_doubles(x):
    warnings.warn("this API is deprecated", UserWarning, stacklevel=2)
    print("progress 50%", file=sys.stderr)
    return 2 * x


def test_a_correct_answer_that_warns_passes_without_writing_to_stderr(capsys):
    # nbgrader scores a test cell with stderr output 0: the warning must not reach stderr, nor
    # become an error under a strict filter.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_function("double", _warns_and_doubles, [((1,), 2), ((3,), 6)])
        check("value", lambda: _warns_and_doubles(2), 4)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("✔ double: all 2 cases correct.\n")  # the passing line is unchanged
    assert "  note: your code wrote to stderr: UserWarning: this API is deprecated\n" in out
    assert "progress 50%" in out and "✔ value: correct.\n" in out


def test_a_wrong_answer_that_warns_still_fails():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AssertionError, match=r"double\(1\): got 4, too large"):
            check_function("double", lambda x: _warns_and_doubles(2 * x), [((1,), 2)])


def test_a_value_answer_that_never_returns_is_stopped():
    def endless():
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(AssertionError, match=r"✘ answer did not finish within 0.2 s"):
        check("answer", endless, 3, timeout=0.2)
    assert time.perf_counter() - start < 5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# ---------------------------------------------------------------- a check cell of several parts

def test_each_part_earns_its_share_and_a_failing_part_does_not_stop_the_next(capsys):
    parts = Parts("stack_params", "single_size", "saving_5", points=3)
    parts.check_function("stack_params", lambda n: 9 * n, [((1,), 9), ((2,), 18)])
    parts.check_function("single_size", lambda n: 2 * n, [((1,), 3)])  # wrong
    parts.check("saving_5", lambda: 0.28, 0.28)
    score = parts.score()
    assert repr(score) == "2.0"  # the plain number nbgrader reads as the cell's points
    assert score._repr_markdown_() == "**2 of 3 points**: stack_params ✔, single_size ✘, saving_5 ✔"
    out, err = capsys.readouterr()
    assert out == ("✔ stack_params: all 2 cases correct.\n"
                   "✘ single_size(1): got 2, too small.\n"  # the one-part check's words, no expected value
                   "✔ saving_5: correct.\n") and err == ""


def test_a_part_is_earned_only_when_all_its_checks_pass(capsys):
    parts = Parts("layers", "saving_5", points=2)
    parts.check("layers", lambda: 5, 5)
    parts.check("saving_5", lambda: 0.28, 0.28)
    parts.check("saving_5 (hand value)", lambda: 0.28, 0.3)  # the same part, by the name before " ("
    parts.check("size check", lambda: 1, 2, part="layers")  # or by part=
    with pytest.raises(AssertionError, match=r"^✘ 0 of 2 points: no part is right yet\.$"):
        parts.score()
    assert "✘ saving_5 (hand value): got 0.28, too small." in capsys.readouterr().out


def test_points_may_be_given_per_part_and_thirds_add_up_to_the_total():
    weighed = Parts(points={"conv": 2, "fc": 0.5, "share": 0.5})
    weighed.check("conv", 1, 1)
    weighed.check("fc", 1, 2)
    weighed.check("share", 1, 1)
    assert repr(weighed.score()) == "2.5"
    thirds = Parts("a", "b", "c", points=2)
    for name in "abc":
        thirds.check(name, 1, 1)
    assert repr(thirds.score()) == "2.0"  # not 1.9999999999999998, which nbgrader would call partial
    one_third = Parts("a", "b", "c", points=2)
    one_third.check("a", 1, 1)
    one_third.check("b", 1, 2)
    one_third.check("c", 1, 2)
    score = one_third.score()
    assert abs(float(repr(score)) - 2 / 3) < 1e-12 and score._repr_markdown_().startswith("**0.67 of 2 points**")


def _raises():
    return [][0]


def _stub(*args):
    raise NotImplementedError()


class _Sneaky(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def test_an_answer_that_raises_is_not_done_or_is_an_odd_type_fails_its_part_only(capsys):
    parts = Parts("raises", "stub", "missing", "odd", "function stub", "right", points=6)
    parts.check("raises", _raises, 1)
    parts.check("stub", _stub, 1)
    parts.check("missing", lambda: undefined_answer, 1)  # noqa: F821
    parts.check("odd", lambda: _Sneaky(3), 5)
    parts.check_function("function stub", lambda *args: _stub(*args), [((1,), 1)])
    parts.check("right", lambda: 3, 3)
    score = parts.score()
    assert repr(score) == "1.0"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "✘ raises raised IndexError: list index out of range"
    assert out[1].startswith("… stub: not done yet") and out[2].startswith("… missing: not done yet")
    assert "_Sneaky (a subclass of int)" in out[3] and out[4].startswith("… function stub: not done yet")
    assert out[5] == "✔ right: correct."


def test_a_blank_exercise_fails_as_a_one_part_check_does(capsys):
    parts = Parts("he_std", "glorot_std", points=2)
    parts.check_function("he_std", _stub, [((1,), 1.0)])
    parts.check("glorot_std", _stub, 1.0)
    with pytest.raises(AssertionError, match=r"^… he_std, glorot_std: not done yet \(0 of 2 points\)\.$"):
        parts.score()
    assert capsys.readouterr().out.count("not done yet") == 2


def test_a_part_only_the_hidden_tests_check_counts_in_the_total():
    # the student edition has no hidden tests: the part is not failed there, and the points are
    # the same as where the hidden tests run
    parts = Parts("conv2_saving", "hand_only", points=2)
    parts.check("conv2_saving", 307_200, 307_200)
    score = parts.score()
    assert repr(score) == "2.0"
    assert score._repr_markdown_() == "**2 of 2 points**: conv2_saving ✔, hand_only (checked when graded)"
    graded = Parts("conv2_saving", "hand_only", points=2)
    graded.check("conv2_saving", 307_200, 307_200)
    graded.check("hand_only (hand value)", 1, 2)
    assert repr(graded.score()) == "1.0"


def test_a_check_cell_that_names_an_undeclared_part_is_a_mistake_in_the_cell():
    with pytest.raises(ValueError, match="'typo' is not one of the parts declared: a, b"):
        Parts("a", "b", points=2).check("typo", 1, 1)
    with pytest.raises(TypeError):
        Parts("a", points={"a": 1})
    with pytest.raises(ValueError, match="named twice"):
        Parts("a", "a", points=2)


def test_the_time_limit_and_the_notes_hold_for_each_part(capsys):
    def endless(n):
        while True:
            pass

    parts = Parts("endless", "warns", points=2)
    parts.check_function("endless", endless, [((1,), 2)], timeout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts.check("warns", lambda: _warns_and_doubles(2), 4)
    assert repr(parts.score()) == "1.0"
    out, err = capsys.readouterr()
    assert "endless(1) did not finish within 0.2 s" in out and "note: your code wrote to stderr" in out
    assert err == "" and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_expected_value_stays_sealed_in_a_part():
    parts = Parts("answer", "f", points=2)
    parts.check("answer", lambda: _expected_from_the_stack(), 853)
    parts.check_function("f", lambda x: _expected_from_the_stack(), [((1,), 853)])
    with pytest.raises(AssertionError, match="no part is right"):
        parts.score()


def test_an_answer_cannot_run_a_check_to_earn_a_part(capsys):
    # The cheat: the student's code, called by one check, passes another part with an expected
    # value of its own choosing (the check cell's `parts` is a global of the notebook).
    parts = Parts("a", "b", points=2)

    def marks_b_passed():
        parts.check("b", 1, 1)
        return 0

    parts.check("a", marks_b_passed, 5)
    parts.check("b", lambda: 0, 5)
    with pytest.raises(AssertionError, match="no part is right"):
        parts.score()
    assert "a check cannot run inside the answer it checks" in capsys.readouterr().out


def test_the_score_comes_from_its_own_checks_only():
    # an earlier cell's Parts, all passed, is another object: the check cell makes a fresh one
    earlier = Parts("a", "b", points=2)
    earlier.check("a", 1, 1)
    earlier.check("b", 1, 1)
    parts = Parts("a", "b", points=2)
    parts.check("a", 0, 1)
    parts.check("b", 0, 1)
    with pytest.raises(AssertionError):
        parts.score()


def test_jupyter_shows_the_words_and_nbgrader_reads_the_number():
    utils = pytest.importorskip("nbgrader.utils")
    from IPython.core.formatters import DisplayFormatter
    from nbformat import v4

    parts = Parts("a", "b", "c", points=3)
    for name, answer in zip("abc", (1, 2, 1)):
        parts.check(name, answer, 1)
    data, _ = DisplayFormatter().format(parts.score())
    assert data["text/plain"] == "2.0" and data["text/markdown"].startswith("**2 of 3 points**")
    cell = v4.new_code_cell(outputs=[v4.new_output("stream", name="stdout", text="✔ a: correct.\n"),
                                     v4.new_output("execute_result", data=data, execution_count=1)],
                            metadata={"nbgrader": {"grade": True, "solution": False, "points": 3}})
    assert utils.determine_grade(cell) == (2.0, 3.0)
