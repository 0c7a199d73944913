"""Checks for the exercises: tell a student what is wrong in plain words, without giving the answer.

Each chapter's exercise is a code cell with the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers), followed by a check cell that calls one of these.
A check prints one line when the answer is right (``✔ name: correct.``) and raises
``AssertionError`` when it is wrong or missing, with a message that says *how* it is wrong
(the sign, a factor, off by one, the shape) but never the expected value. Raising is what makes a
check cell an nbgrader test cell: the autograder gives a cell its points when it runs without an
error. Without nbgrader (in Colab, say) the student reads the same message under the cell.

In the student edition the answer is replaced by ``raise NotImplementedError()``; the checks then
raise "not done yet". The answer and check cells carry the tag ``raises-exception``, so a chapter
still runs top to bottom (nbclient, nbconvert, nbval) before any answer is written.

Answers may be Python numbers, NumPy or torch scalars and arrays, on any device: everything is
compared as float64 on the CPU.

Used by the exercises of every chapter.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import signal
import threading

import numpy as np
import torch

NOT_DONE = (NotImplementedError, NameError)
FACTORS = (2, 3, 4, 10, 100, 1000)
TIMEOUT_S = 60.0  # per case of check_function: far above any answer, well below "hung"


def _is_array(value) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def _as_float64(value) -> torch.Tensor:
    """``value`` (number, list, NumPy or torch array on any device) as a float64 CPU tensor."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device="cpu", dtype=torch.float64)
    if value is None or isinstance(value, str):  # np.asarray would make NaN or a string array
        raise TypeError(f"not a number or an array: {value!r:.60}")
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def _as_number(value):
    """A Python float for a real number, a NumPy/torch scalar or a one-element array; else ``None``."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):  # int, float, and NumPy's scalars (registered as Real)
        return float(value)
    if isinstance(value, torch.Tensor) and value.ndim == 0 and value.dtype != torch.bool:
        return float(_as_float64(value))
    if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.number):
        return float(value)
    return None


def relative_error(actual, expected) -> float:
    """max |a - e| / max(|a| + |e|, tiny), as CS231n's gradient checks report it."""
    a, e = _as_float64(actual), _as_float64(expected)
    return float(((a - e).abs() / (a.abs() + e.abs()).clamp_min(1e-12)).max())


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> bool:
    return bool(((actual - expected).abs() <= rtol * (actual.abs() + expected.abs()) + 1e-12).all())


def _hint(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> str:
    """How ``actual`` differs from ``expected`` (the sign, a factor, off by one), or ``""``."""
    if expected.abs().max() > 0 and _close(actual, -expected, rtol):
        return "the sign is wrong"
    for factor in FACTORS:
        if expected.abs().max() > 0 and _close(actual, expected * factor, rtol):
            return f"off by a factor of {factor} (too large)"
        if expected.abs().max() > 0 and _close(actual, expected / factor, rtol):
            return f"off by a factor of {factor} (too small)"
    for step in (1, -1):
        if _close(actual, expected + step, rtol):
            return f"off by one (too {'large' if step > 0 else 'small'})"
    if actual.numel() == 1:
        return "too large" if float(actual) > float(expected) else "too small"
    return ""


def _got(value) -> str:
    if value is None:
        return "None (a missing return?)"
    return f"{type(value).__name__} {value!r:.60}"


def describe_mismatch(actual, expected, rtol: float = 1e-6) -> str | None:
    """``None`` if ``actual`` matches ``expected``, else a sentence that says how it differs.

    The sentence never contains the expected value: it names the sign, a factor, an off-by-one,
    a wrong shape or a wrong type, so that a check cell does not give the answer away.
    """
    if _is_array(expected) or (_is_array(actual) and isinstance(expected, (list, tuple))):
        return _describe_array(actual, expected, rtol)
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"got {_got(actual)}, expected a tuple or list of {len(expected)} values"
        for i, (a, e) in enumerate(zip(actual, expected)):
            problem = describe_mismatch(a, e, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    expected_number = _as_number(expected)
    if expected_number is not None:
        number = _as_number(actual)
        if number is None:
            return f"got {_got(actual)}, expected a number"
        if math.isclose(number, expected_number, rel_tol=rtol, abs_tol=1e-12):
            return None
        if not math.isfinite(number) and math.isfinite(expected_number):
            return f"got {number:g}, {_not_finite(number)}"
        hint = _hint(torch.tensor(number, dtype=torch.float64),
                     torch.tensor(expected_number, dtype=torch.float64), rtol)
        return f"got {number:g}, {hint}"
    if actual == expected:
        return None
    return f"got {_got(actual)}, which is not right"


def _describe_array(actual, expected, rtol: float) -> str | None:
    e = _as_float64(expected)
    try:
        a = _as_float64(actual)
    except (TypeError, ValueError, RuntimeError):  # None, a string, a ragged list
        return f"got {_got(actual)}, expected a tensor of shape {tuple(e.shape)}"
    if a.shape != e.shape:
        return f"wrong shape {tuple(a.shape)}, expected {tuple(e.shape)}"
    broken = ~torch.isfinite(a) & torch.isfinite(e)
    if broken.any():
        first = float(a[broken][0])
        return (f"{int(broken.sum())} of {a.numel()} values are not finite; the first is "
                f"{first:g}, {_not_finite(first)}")
    error = relative_error(a, e)
    if error <= rtol:
        return None
    hint = _hint(a, e, rtol)
    return f"values differ (relative error {error:.1e}, allowed {rtol:.0e}){': ' + hint if hint else ''}"


def _not_finite(number: float) -> str:
    """What a NaN or an infinity in an answer usually comes from."""
    if math.isnan(number):
        return ("not a number (NaN): look for 0/0, inf - inf, or the log or square root of a "
                "negative number")
    return "infinite: look for a division by zero, or an exp or a power that overflowed"


def _why_not_done(err) -> str:
    if isinstance(err, NameError):
        return f"{err}: write and run the answer cell above"
    return "the answer cell still raises NotImplementedError"


def check(name: str, answer, expected, *, rtol: float = 1e-6) -> None:
    """Compare ``answer()`` (a function of no arguments, or a value) with ``expected``.

    Prints ``✔ name: correct.``; raises ``AssertionError`` saying what is wrong or missing.
    """
    __tracebackhide__ = True  # pytest (and debuggers) skip this frame; the message is the last line
    try:
        actual = answer() if callable(answer) else answer
    except NOT_DONE as err:
        raise AssertionError(f"… {name}: not done yet ({_why_not_done(err)}).") from None
    problem = describe_mismatch(actual, expected, rtol)
    if problem:
        raise AssertionError(f"✘ {name}: {problem}.")
    print(f"✔ {name}: correct.")


def check_function(name: str, function, cases, *, rtol: float = 1e-6,
                   timeout: float | None = TIMEOUT_S) -> None:
    """Call ``function(*args)`` for each ``(args, expected)`` in ``cases``.

    Prints ``✔ name: all n cases correct.``; raises ``AssertionError`` at the first case that is
    wrong, whose call raised, or that ran longer than ``timeout`` seconds (an endless loop would
    otherwise hang the check cell without a word), naming that case's arguments. The time limit
    needs POSIX signals on the main thread (Linux, macOS, Jupyter's kernels); elsewhere, or with
    ``timeout=None``, there is none.
    """
    __tracebackhide__ = True
    for args, expected in cases:
        shown = f"{name}({', '.join(_short(a) for a in args)})"
        try:
            with _time_limit(timeout):
                actual = function(*args)
        except _TimeUp:
            raise AssertionError(f"✘ {shown} did not finish within {timeout:g} s: look for a loop "
                                 "that never ends (a while condition that stays true), or a far "
                                 "slower way than needed") from None
        except NOT_DONE as err:
            raise AssertionError(f"… {name}: not done yet ({_why_not_done(err)}).") from None
        except Exception as err:  # the student's code failed on this case: say which case
            raise AssertionError(f"✘ {shown} raised {type(err).__name__}: {err}") from err
        problem = describe_mismatch(actual, expected, rtol)
        if problem:
            raise AssertionError(f"✘ {shown}: {problem}.")
    print(f"✔ {name}: all {len(cases)} cases correct.")


class _TimeUp(BaseException):
    """Raised in the checked function by :func:`_time_limit`; a ``BaseException``, so that the
    student's own ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def _time_limit(seconds: float | None):
    """Interrupt the block with :class:`_TimeUp` after ``seconds`` (a SIGALRM timer)."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def time_up(signum, frame):
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, time_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short(value) -> str:
    """An argument as a reader wants to see it: tensors by their shape, not their values."""
    if _is_array(value) and value.ndim > 0:
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
