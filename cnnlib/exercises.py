"""Checks for the exercises: tell a student what is wrong in plain words.

The checks print their verdict (✔ correct, ✘ what is wrong, … not done yet) and return nothing,
so a check cell shows exactly one line per check. Each chapter's exercise is a code cell with the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers), followed by a check cell that calls one of these.
In the student edition the answer is replaced by ``raise NotImplementedError()``; the checks
then say "not done yet" instead of crashing, so the rest of the chapter still runs.

Used by the exercises of every chapter.
"""
from __future__ import annotations

import math

import torch

NOT_DONE = (NotImplementedError, NameError)


def relative_error(actual, expected) -> float:
    """max |a - e| / max(|a| + |e|, tiny), as CS231n's gradient checks report it."""
    a = torch.as_tensor(actual, dtype=torch.float64)
    e = torch.as_tensor(expected, dtype=torch.float64)
    return float(((a - e).abs() / (a.abs() + e.abs()).clamp_min(1e-12)).max())


def describe_mismatch(actual, expected, rtol: float = 1e-6) -> str | None:
    """``None`` if ``actual`` matches ``expected``, else a sentence that says how it differs."""
    if isinstance(expected, torch.Tensor) or isinstance(actual, torch.Tensor) and isinstance(expected, (list, tuple)):
        e = torch.as_tensor(expected, dtype=torch.float64)
        try:
            a = torch.as_tensor(actual, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):  # None, a string, a ragged list
            got = "None (a missing return?)" if actual is None else f"{type(actual).__name__} {actual!r:.60}"
            return f"got {got}, expected a tensor of shape {tuple(e.shape)}"
        if a.shape != e.shape:
            return f"wrong shape {tuple(a.shape)}, expected {tuple(e.shape)}"
        error = relative_error(a, e)
        return None if error <= rtol else f"values differ (relative error {error:.1e}, allowed {rtol:.0e})"
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"got {actual!r}, expected {len(expected)} values like {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            problem = describe_mismatch(a, e, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return f"got {actual!r} of type {type(actual).__name__}, expected a number"
        if math.isclose(actual, expected, rel_tol=rtol, abs_tol=1e-12):
            return None
        return f"got {actual:g}, expected {expected:g}{_factor_hint(actual, expected)}"
    return None if actual == expected else f"got {actual!r}, expected {expected!r}"


def _factor_hint(actual: float, expected: float) -> str:
    if expected == 0 or actual == 0:
        return ""
    ratio = actual / expected
    for factor in (2, 3, 4, 10, 100, 1000):
        for r, word in ((factor, "too large"), (1 / factor, "too small")):
            if math.isclose(ratio, r, rel_tol=1e-6):
                return f" (off by a factor of {factor}: {word})"
    if math.isclose(ratio, -1, rel_tol=1e-9):
        return " (the sign is wrong)"
    if abs(actual - expected) in (1, 1.0):
        return " (off by one)"
    return ""


def _why_not_done(err) -> str:
    if isinstance(err, NameError):
        return f"{err}: write and run the answer cell above"
    return "the answer cell still raises NotImplementedError"


def check(name: str, answer, expected, *, rtol: float = 1e-6) -> None:
    """Compare ``answer()`` (a function of no arguments, or a value) with ``expected``; print the verdict."""
    try:
        actual = answer() if callable(answer) else answer
    except NOT_DONE as err:
        print(f"… {name}: not done yet ({_why_not_done(err)}).")
        return
    problem = describe_mismatch(actual, expected, rtol)
    if problem:
        print(f"✘ {name}: {problem}.")
        return
    print(f"✔ {name}: correct.")


def check_function(name: str, function, cases, *, rtol: float = 1e-6) -> None:
    """Call ``function(*args)`` for each ``(args, expected)`` in ``cases``; print the first miss."""
    for args, expected in cases:
        shown = ", ".join(repr(a) for a in args)
        try:
            actual = function(*args)
        except NOT_DONE as err:
            print(f"… {name}: not done yet ({_why_not_done(err)}).")
            return
        problem = describe_mismatch(actual, expected, rtol)
        if problem:
            print(f"✘ {name}({shown}): {problem}.")
            return
    print(f"✔ {name}: all {len(cases)} cases correct.")
