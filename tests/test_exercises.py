"""cnnlib.exercises: checks say what is wrong in plain words, and 'not done yet' for stubs."""
import torch

from cnnlib.exercises import check, check_function, describe_mismatch, relative_error


def test_correct_answers_pass(capsys):
    check("size", 55, 55)
    check_function("double", lambda x: 2 * x, [((1,), 2), ((3,), 6)])
    out = capsys.readouterr().out
    assert "✔ size: correct." in out and "all 2 cases correct" in out


def test_wrong_answers_say_how_they_are_wrong():
    assert "off by a factor of 2: too large" in describe_mismatch(110, 55)
    assert "too small" in describe_mismatch(5.5, 55)
    assert "off by one" in describe_mismatch(54, 55)
    assert "the sign is wrong" in describe_mismatch(-3.5, 3.5)
    assert "wrong shape (3, 4), expected (4, 3)" in describe_mismatch(torch.zeros(3, 4), torch.zeros(4, 3))
    assert "relative error" in describe_mismatch(torch.ones(3), torch.tensor([1.0, 1.0, 1.1]))
    assert "expected a number" in describe_mismatch("55", 55)
    assert "item 1" in describe_mismatch((55, 54, 96), (55, 55, 96))
    assert describe_mismatch((55, 55, 96), (55, 55, 96)) is None
    assert describe_mismatch(None, torch.zeros(2)) == "got None (a missing return?), expected a tensor of shape (2,)"
    assert "expected a tensor of shape (2, 2)" in describe_mismatch([[1, 2], [3]], torch.zeros(2, 2))


def test_stubs_report_not_done_instead_of_crashing(capsys):
    def stub(*args):
        raise NotImplementedError()

    check_function("output_size", stub, [((1,), 1)])
    check("answer", lambda: undefined_name, 3)  # noqa: F821
    out = capsys.readouterr().out
    assert "not done yet" in out and "undefined_name" in out


def test_a_wrong_function_names_the_failing_case(capsys):
    check_function("output_size", lambda W, F: W - F, [((5, 3), 2), ((7, 3), 5)])
    assert "✘ output_size(7, 3): got 4, expected 5 (off by one)." in capsys.readouterr().out


def test_relative_error_matches_the_cs231n_formula():
    assert relative_error(1.0, 1.0) == 0
    assert abs(relative_error(1.1, 1.0) - 0.1 / 2.1) < 1e-12
