"""Checks for the exercises: tell a student what is wrong in plain words, without giving the answer.

Each chapter's exercise is a code cell with the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers), followed by a check cell that calls one of these.
A check prints one line when the answer is right (``✔ name: correct.``) and raises
``AssertionError`` when it is wrong or missing, with a message that says *how* it is wrong
(too small or too large, the sign, a factor, the shape) but never the expected value. Raising is
what makes a check cell an nbgrader test cell: the autograder gives a cell its points when it runs
without an error. Without nbgrader (in Colab, say) the student reads the same message under the
cell.

**Several parts.** A check cell that asks for several things (two functions and a value) would
earn all its points or none if it called the checks directly. Such a cell declares its parts with
:class:`Parts` instead, checks each with ``parts.check`` / ``parts.check_function`` (the same
arguments), and ends with ``parts.score()``. Each part earns its share of the cell's points when
all its checks pass; a failing part prints its message and the next part still runs. The score is
the cell's result: a plain number (``2.0``), which nbgrader reads as the cell's partial credit,
shown in Jupyter and the book as "2 of 3 points" with a ✔ or ✘ per part. A cell that earns
nothing raises, as a one-part check does.

In the student edition the answer is replaced by ``raise NotImplementedError()``; the checks then
raise "not done yet". The answer and check cells carry the tag ``raises-exception``, so a chapter
still runs top to bottom (nbclient, nbconvert, nbval) before any answer is written.

**Plain values only.** Before anything is compared, the answer is copied into plain values:
a Python ``bool``, ``int``, ``float`` or ``str``, a tuple of those, or a contiguous float64 NumPy
array (from a NumPy array, or a torch tensor on any device). A subclass of ``int``, ``float``,
a tensor or an array, and any other type, is refused with a message that says what to return,
without calling a single method of it: a number type whose ``__eq__`` is always true, or a tensor
whose shape matches anything, is never asked anything. The comparison then runs on the copies,
so no student code runs while an expected value is compared.

**The student's code runs fenced:** under a time limit (an endless loop is stopped with a clear
message), with its warnings and its writes to stderr caught and shown as notes on stdout (nbgrader
scores a check cell that wrote to stderr 0, so one ``UserWarning`` would cost a correct answer its
points), and without the expected value in a local variable of the checker's frame (it is sealed
away before the student's code runs, and may be passed as a function of no arguments, which is
called only after the answer is frozen). In a shared kernel this raises the bar, not a wall: the
student's code could still walk the stack or replace the checker, or (in a cell of parts) reach
the cell's ``parts`` or show a result of its own before the score. ``tools/grade.py`` (``make
grade``) grades in a sandbox and flags the code that does such things, and a check cell whose
result is not its own score (README, "For instructors").

Used by the exercises of every chapter.
"""
from __future__ import annotations

import contextlib
import io
import math
import signal
import threading
import warnings

import numpy as np
import torch

NOT_DONE = (NotImplementedError, NameError)
FACTORS = (2, 3, 4, 10, 100, 1000)
TIMEOUT_S = 60.0  # per call of the student's code: far above any answer, well below "hung"
MAX_DEPTH = 8  # nested tuples/lists deeper than this are not an answer (and a list holding itself ends)

# ---------------------------------------------------------------- the answer, frozen into plain values

# Only these exact types are read; everything is decided on type(value), never on isinstance, so
# that a subclass cannot slip in with methods of its own.
_PLAIN = (bool, int, float, str)
_NUMPY_BOOLS = frozenset({np.bool_})
_NUMPY_INTEGERS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, np.integer))
_NUMPY_FLOATS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, np.floating))
_SEQUENCES = (tuple, list, torch.Size)  # torch.Size: an answer may well be `x.shape`
_TENSORS = tuple({torch.Tensor, torch.nn.Parameter, getattr(torch.nn.parameter, "Buffer", torch.Tensor)})
_ACCEPTED = "a Python number, a tuple or list, a NumPy array or a torch tensor"
_NUMERIC_KINDS = "biuf"  # NumPy dtype kinds: bool, signed, unsigned, float


class UnreadableAnswer(TypeError):
    """The answer (or a part of it) is of a type the checker does not read; the message says why
    (the checks turn it into the student's ``AssertionError``)."""


def _type_name(value) -> str:
    # read from the type's C slot, not through attribute lookup, which a metaclass could override
    return type.__dict__["__qualname__"].__get__(type(value))


def _odd_type(value) -> str:
    kind = type(value)
    for base in (torch.Tensor, np.ndarray, bool, int, float, str, tuple, list):
        if issubclass(kind, base):  # the metaclass of `base` (ours) decides, not the student's class
            return (f"got a {_type_name(value)} (a subclass of {base.__name__}), which the checker does "
                    f"not take: return {_ACCEPTED} itself, not a subclass of one")
    if issubclass(kind, complex) or kind in (np.complex64, np.complex128):
        return "got a complex number, expected a real one"
    return f"got a {_type_name(value)}, which the checker does not take: return {_ACCEPTED}"


def freeze(value, depth: int = 0):
    """``value`` as plain values: ``None``, ``bool``, ``int``, ``float``, ``str``, a tuple of plain
    values, or a C-contiguous float64 NumPy array that owns its data.

    Raises :class:`UnreadableAnswer` for any other type, subclasses included, before calling any
    of its methods (see the module docstring).
    """
    kind = type(value)
    if value is None or kind in _PLAIN:
        return value
    if kind in _NUMPY_BOOLS:
        return bool(value)
    if kind in _NUMPY_INTEGERS:
        return int(value)
    if kind in _NUMPY_FLOATS:
        return float(value)
    if kind in _SEQUENCES:
        if depth >= MAX_DEPTH:
            raise UnreadableAnswer(f"got tuples or lists nested more than {MAX_DEPTH} deep")
        return tuple(freeze(item, depth + 1) for item in value)
    if kind in _TENSORS:
        return _tensor_values(value)
    if kind is np.ndarray:
        return _array_values(value)
    raise UnreadableAnswer(_odd_type(value))


def _tensor_values(tensor: torch.Tensor) -> np.ndarray:
    if tensor.is_complex():
        return _refuse_dtype(f"a tensor of dtype {tensor.dtype}")
    if tensor.layout != torch.strided:
        raise UnreadableAnswer(f"got a {tensor.layout} tensor: return a dense one (.to_dense())")
    try:
        copied = tensor.detach().to(device="cpu", dtype=torch.float64).contiguous().numpy()
    except Exception as err:  # a meta or quantized tensor has no values to read
        raise UnreadableAnswer(f"got a tensor whose values cannot be read ({type(err).__name__}: "
                       f"{str(err).splitlines()[0][:80] if str(err) else ''})") from None
    return np.array(copied, dtype=np.float64, order="C", copy=True)


def _array_values(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in _NUMERIC_KINDS:  # object arrays would call the objects' __float__
        return _refuse_dtype(f"a NumPy array of dtype {array.dtype}")
    return np.array(array, dtype=np.float64, order="C", copy=True)


def _refuse_dtype(what: str):
    raise UnreadableAnswer(f"got {what}, expected real numbers")


def _freeze_expected(expected):
    """The check cell's expected value, frozen; a function of no arguments is called first.

    A type the checker does not read is a mistake in the check cell, not the student's: TypeError.
    """
    if callable(expected):
        expected = expected()
    try:
        return freeze(expected)
    except UnreadableAnswer as err:
        raise TypeError(f"the check cell's expected value: {err}") from None


# ---------------------------------------------------------------- comparing plain values

def _number(value):
    """A plain int or float (not a bool), or a 0-d array, as a float; else ``None``."""
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range: infinitely far from any expected float
            return math.copysign(math.inf, value)
    if type(value) is float:
        return value
    if type(value) is np.ndarray and value.ndim == 0:
        return float(value)
    return None


def _array(value) -> np.ndarray:
    """A frozen value as a float64 array; ``TypeError``/``ValueError`` if it is not numbers."""
    if value is None or type(value) is str:  # np.asarray would make NaN or a string array
        raise TypeError(f"not a number or an array: {value!r:.60}")
    array = np.asarray(value, dtype=np.float64)
    return array


def relative_error(actual, expected) -> float:
    """max |a - e| / max(|a| + |e|, tiny), as CS231n's gradient checks report it."""
    a, e = _array(freeze(actual)), _array(freeze(expected))
    return float((np.abs(a - e) / np.maximum(np.abs(a) + np.abs(e), 1e-12)).max(initial=0.0))


def _close(actual: np.ndarray, expected: np.ndarray, rtol: float) -> bool:
    return bool((np.abs(actual - expected) <= rtol * (np.abs(actual) + np.abs(expected)) + 1e-12).all())


def _array_hint(actual: np.ndarray, expected: np.ndarray, rtol: float) -> str:
    """How array ``actual`` differs from ``expected`` (the sign, a factor, off by one), or ``""``.

    For an array these say how the *function* is wrong; a single number gets :func:`_number_hint`.
    """
    scale = np.abs(expected).max(initial=0.0)
    if scale > 0 and _close(actual, -expected, rtol):
        return "the sign is wrong"
    for factor in FACTORS:
        if scale > 0 and _close(actual, expected * factor, rtol):
            return f"off by a factor of {factor} (too large)"
        if scale > 0 and _close(actual, expected / factor, rtol):
            return f"off by a factor of {factor} (too small)"
    for step in (1, -1):
        if _close(actual, expected + step, rtol):
            return f"off by one (too {'large' if step > 0 else 'small'})"
    return ""


def _number_hint(number: float, expected: float) -> str:
    """How a single number is wrong, in words that do not pin the expected value down.

    "Off by one" or "a factor of 2 too large" would give the answer away (got 852, off by one:
    it is 853), so a single number gets its direction and a band: too small or too large, by a
    factor of 2 or 10 or more, or a wrong sign.
    """
    if not math.isfinite(number):
        return _not_finite(number)
    if expected != 0 and number * expected < 0:
        return "the sign is wrong"
    direction = "too large" if number > expected else "too small"
    if expected == 0 or number == 0:
        return direction
    ratio = max(abs(number / expected), abs(expected / number))
    for band in (10, 2):
        if ratio >= band:
            return f"{direction} (off by a factor of {band} or more)"
    return direction


def _got(value) -> str:
    if value is None:
        return "None (a missing return?)"
    if type(value) is np.ndarray:
        return f"an array of shape {value.shape}"
    return f"{_type_name(value)} {value!r:.60}"


def describe_mismatch(actual, expected, rtol: float = 1e-6) -> str | None:
    """``None`` if ``actual`` matches ``expected``, else a sentence that says how it differs.

    Both are frozen into plain values first (see the module docstring); an answer of a type the
    checker does not take is described as such. The sentence never contains the expected value:
    it names the direction and the size of the mistake, the sign, a factor (for an array), a wrong
    shape or a wrong type, so that a check cell does not give the answer away.
    """
    try:
        actual = freeze(actual)
    except UnreadableAnswer as err:
        return str(err)
    return _mismatch(actual, _freeze_expected(expected), rtol)


def _mismatch(actual, expected, rtol: float) -> str | None:
    """:func:`describe_mismatch` for values that are frozen already."""
    if _is_shaped(expected) or (_is_shaped(actual) and type(expected) is tuple):
        return _describe_array(actual, expected, rtol)
    if type(expected) is tuple:
        if type(actual) is not tuple or len(actual) != len(expected):
            return f"got {_got(actual)}, expected a tuple or list of {len(expected)} values"
        for i, (a, e) in enumerate(zip(actual, expected)):
            problem = _mismatch(a, e, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    expected_number = _number(expected)
    if expected_number is not None:
        number = _number(actual)
        if number is None:
            return f"got {_got(actual)}, expected a number"
        if math.isclose(number, expected_number, rel_tol=rtol, abs_tol=1e-12):
            return None
        return f"got {number:g}, {_number_hint(number, expected_number)}"
    if _same(actual, expected):
        return None
    return f"got {_got(actual)}, which is not right"


def _is_shaped(value) -> bool:
    return type(value) is np.ndarray and value.ndim > 0


def _same(actual, expected) -> bool:
    """Equality of plain values (a bool, a str, None); a one-value array counts as its value."""
    if type(actual) is np.ndarray:
        return actual.size == 1 and actual.item() == expected
    return actual == expected


def _describe_array(actual, expected, rtol: float) -> str | None:
    e = _array(expected)
    try:
        a = _array(actual)
    except (TypeError, ValueError):  # None, a string, a ragged list
        return f"got {_got(actual)}, expected a tensor of shape {e.shape}"
    if a.shape != e.shape:
        return f"wrong shape {a.shape}, expected {e.shape}"
    broken = ~np.isfinite(a) & np.isfinite(e)
    if broken.any():
        first = float(a[broken][0])
        return (f"{int(broken.sum())} of {a.size} values are not finite; the first is "
                f"{first:g}, {_not_finite(first)}")
    if a.size == 1:  # one value in an array: a single number, told as one
        number, wanted = float(a.reshape(())), float(e.reshape(()))
        if math.isclose(number, wanted, rel_tol=rtol, abs_tol=1e-12):
            return None
        return f"got {number:g}, {_number_hint(number, wanted)}"
    error = float((np.abs(a - e) / np.maximum(np.abs(a) + np.abs(e), 1e-12)).max(initial=0.0))
    if error <= rtol:
        return None
    hint = _array_hint(a, e, rtol)
    return f"values differ (relative error {error:.1e}, allowed {rtol:.0e}){': ' + hint if hint else ''}"


def _not_finite(number: float) -> str:
    """What a NaN or an infinity in an answer usually comes from."""
    if math.isnan(number):
        return ("not a number (NaN): look for 0/0, inf - inf, or the log or square root of a "
                "negative number")
    return "infinite: look for a division by zero, or an exp or a power that overflowed"


# ---------------------------------------------------------------- running the student's code

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


def _run_fenced(function, args, timeout, notes: list[str]):
    """``function(*args)`` under the time limit, its warnings and stderr appended to ``notes``.

    nbgrader scores a test cell that wrote to stderr 0, so a warning that correct code printed
    (a deprecation in a library, say) would cost the answer its points; here it becomes a note
    the check prints on stdout.
    """
    stderr = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
        warnings.simplefilter("always")  # a filter set to "error" must not turn a note into a failure
        try:
            with _time_limit(timeout):
                return function(*args)
        finally:
            notes += [f"{w.category.__name__}: {w.message}" for w in caught]
            notes += [line for line in stderr.getvalue().splitlines() if line.strip()]


def _print_notes(notes: list[str]) -> None:
    for note in dict.fromkeys(notes):  # once each, in order
        print(f"  note: your code wrote to stderr: {note}")


class _Sealed:
    """Holds the expected values while the student's code runs, so that the checker's frame has
    no local that holds them in the open (the issue's cheat: ``f_locals["expected"]``). Not a
    wall: a student who walks the stack can open it; tools/grade.py flags code that walks it."""

    __slots__ = ("_values",)

    def __init__(self, values):
        self._values = values

    def __repr__(self) -> str:
        return "<sealed expected values>"

    def open(self):
        return self._values


def _why_not_done(err) -> str:
    if isinstance(err, NameError):
        return f"{err}: write and run the answer cell above"
    return "the answer cell still raises NotImplementedError"


def _timed_out(shown: str, timeout: float) -> AssertionError:
    return AssertionError(f"✘ {shown} did not finish within {timeout:g} s: look for a loop "
                          "that never ends (a while condition that stays true), or a far "
                          "slower way than needed")


# ---------------------------------------------------------------- the checks

def check(name: str, answer, expected, *, rtol: float = 1e-6, timeout: float | None = TIMEOUT_S) -> None:
    """Compare ``answer()`` (a function of no arguments, or a value) with ``expected``.

    ``expected`` is a value, or a function of no arguments that computes it: then it is computed
    only after the answer is frozen. Prints ``✔ name: correct.``; raises ``AssertionError`` saying
    what is wrong or missing.
    """
    __tracebackhide__ = True  # pytest (and debuggers) skip this frame; the message is the last line
    sealed = _Sealed(expected)
    del expected  # from here on, only the sealed copy: the student's code runs next
    notes: list[str] = []
    try:
        actual = _run_fenced(answer, (), timeout, notes) if callable(answer) else answer
    except _TimeUp:
        _print_notes(notes)
        raise _timed_out(name, timeout) from None
    except NOT_DONE as err:
        raise AssertionError(f"… {name}: not done yet ({_why_not_done(err)}).") from None
    try:
        actual = freeze(actual)
    except UnreadableAnswer as err:
        raise AssertionError(f"✘ {name}: {err}.") from None
    problem = _mismatch(actual, _freeze_expected(sealed.open()), rtol)
    if problem:
        _print_notes(notes)
        raise AssertionError(f"✘ {name}: {problem}.")
    print(f"✔ {name}: correct.")
    _print_notes(notes)


def check_function(name: str, function, cases, *, rtol: float = 1e-6,
                   timeout: float | None = TIMEOUT_S) -> None:
    """Call ``function(*args)`` for each ``(args, expected)`` in ``cases``.

    Prints ``✔ name: all n cases correct.``; raises ``AssertionError`` at the first case that is
    wrong, whose call raised, or that ran longer than ``timeout`` seconds (an endless loop would
    otherwise hang the check cell without a word), naming that case's arguments. The time limit
    needs POSIX signals on the main thread (Linux, macOS, Jupyter's kernels); elsewhere, or with
    ``timeout=None``, there is none.

    Every call is made, and its result frozen, before any expected value is looked at; an
    ``expected`` may be a function of no arguments, computed only then.
    """
    __tracebackhide__ = True
    cases = list(cases)  # a generator would be used up by the first pass
    calls = [tuple(args) for args, _ in cases]
    sealed = _Sealed([expected for _, expected in cases])
    del cases  # the student's function runs next; the expected values stay sealed
    notes: list[str] = []
    results, failure = [], None
    for args in calls:
        shown = f"{name}({', '.join(_short(a) for a in args)})"
        try:
            results.append(freeze(_run_fenced(function, args, timeout, notes)))
        except _TimeUp:
            failure = _timed_out(shown, timeout)
        except NOT_DONE as err:
            failure = AssertionError(f"… {name}: not done yet ({_why_not_done(err)}).")
        except UnreadableAnswer as err:
            failure = AssertionError(f"✘ {shown}: {err}.")
        except Exception as err:  # the student's code failed on this case: say which case
            failure = AssertionError(f"✘ {shown} raised {type(err).__name__}: {err}")
            failure.__cause__ = err
        if failure is not None:
            break
    # in case order: a wrong result before the failed call is what the student meets first
    for args, actual, expected in zip(calls, results, sealed.open()):
        problem = _mismatch(actual, _freeze_expected(expected), rtol)
        if problem:
            _print_notes(notes)
            raise AssertionError(f"✘ {name}({', '.join(_short(a) for a in args)}): {problem}.")
    if failure is not None:
        _print_notes(notes)
        raise failure from failure.__cause__
    print(f"✔ {name}: all {len(calls)} cases correct.")
    _print_notes(notes)


def _short(value) -> str:
    """An argument as a reader wants to see it: tensors by their shape, not their values."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim > 0:
        return f"<{type(value).__name__} of shape {tuple(value.shape)}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- a check cell of several parts

class Parts:
    """The parts of one check cell, each earning its share of the cell's points.

    A check cell that asks for several things (two functions and a value, say) declares them up
    front, checks each, and ends with the score, which nbgrader reads as the cell's points::

        parts = Parts("stack_params", "single_size", "saving_5", points=3)
        parts.check_function("stack_params", lambda *a: stack_params(*a), cases)
        parts.check("saving_5", lambda: saving_5, expected)
        parts.score()

    ``points`` is the cell's nbgrader points, split equally over the parts; or a dict
    ``{part: points}`` (and no names) to weigh them. :meth:`check` and :meth:`check_function`
    take the arguments of :func:`check` and :func:`check_function`; each check belongs to the part
    named before any ``" ("`` of its name ("saving_5 (hand value)" is part "saving_5"), or to
    ``part=``. A part is earned when every check of it passed. The parts are declared, not found
    as the checks run, so that they and their points are the same with and without the hidden
    tests; a part that no check of this run checked (one the hidden tests check, in the student
    edition) is counted as earned, and the autograder, which runs the hidden tests, decides it.

    A failing part prints its message (``✘`` wrong, ``…`` not done yet) and the later parts still
    run: an answer that raises, is not done or is of a type the checker does not take fails its
    part, not the cell. :meth:`score` raises ``AssertionError`` when no part passed its checks
    (nbgrader gives 0 for an error, and a blank exercise fails as a one-part check does).
    """

    def __init__(self, *names: str, points):
        if isinstance(points, dict) == bool(names):
            raise TypeError("Parts: give the parts' names and the cell's points, or a dict {part: points}")
        if isinstance(points, dict):
            self._shares = dict(points)
        else:
            if len(set(names)) != len(names):
                raise ValueError(f"Parts: a part is named twice: {names}")
            self._shares = {name: points / len(names) for name in names}
        if not all(share > 0 for share in self._shares.values()):
            raise ValueError(f"Parts: every part needs points above 0: {self._shares}")
        self._total = float(sum(points.values()) if isinstance(points, dict) else points)
        self._checked: set[str] = set()
        self._failed: dict[str, str] = {}  # part -> the message of its first failed check
        self._running = False

    def check(self, name: str, answer, expected, *, part: str | None = None, rtol: float = 1e-6,
              timeout: float | None = TIMEOUT_S) -> None:
        """:func:`check`, as one check of ``part`` (by default the part ``name`` names)."""
        sealed = _Sealed(expected)
        del expected  # as in check: this frame is on the stack while the student's code runs
        if callable(answer):
            answer = _failing_if_it_raises(name, answer)
        self._run(name, part, lambda: check(name, answer, sealed.open(), rtol=rtol, timeout=timeout))

    def check_function(self, name: str, function, cases, *, part: str | None = None,
                       rtol: float = 1e-6, timeout: float | None = TIMEOUT_S) -> None:
        """:func:`check_function`, as one check of ``part`` (by default the part ``name`` names)."""
        sealed = _Sealed(list(cases))
        del cases
        self._run(name, part, lambda: check_function(name, function, sealed.open(), rtol=rtol, timeout=timeout))

    def _run(self, name: str, part: str | None, run_check) -> None:
        """``run_check()``, its ``AssertionError`` printed and counted against ``part``."""
        part = name.split(" (")[0] if part is None else part
        if part not in self._shares:  # a mistake in the check cell, not the student's
            raise ValueError(f"Parts: {part!r} is not one of the parts declared: {', '.join(self._shares)}")
        if self._running:
            # the student's code, run by a check, calling a check itself (to mark a part passed)
            raise AssertionError("a check cannot run inside the answer it checks")
        self._running = True
        self._checked.add(part)
        try:
            run_check()
        except AssertionError as err:
            print(err)  # the same message a one-part check cell shows, and on to the next part
            self._failed.setdefault(part, str(err))
        finally:
            self._running = False

    def score(self) -> Score:
        """The points earned, as the cell's last line; raises ``AssertionError`` if none."""
        __tracebackhide__ = True
        passed = self._checked - set(self._failed)
        if not passed:  # nothing right: the cell fails, as a one-part check does
            if self._failed and all(message.startswith("…") for message in self._failed.values()):
                raise AssertionError(f"… {', '.join(self._failed)}: not done yet (0 of {self._total:g} points).")
            raise AssertionError(f"✘ 0 of {self._total:g} points: no part is right yet.")
        if not self._failed:
            points = self._total  # the exact total: a sum of thirds may round below it
        else:
            points = min(math.fsum(share for part, share in self._shares.items() if part not in self._failed),
                         self._total)
        verdicts = {part: "✘" if part in self._failed else "✔" if part in self._checked else "(checked when graded)"
                    for part in self._shares}
        return Score(points, self._total, verdicts)


def _failing_if_it_raises(name: str, answer):
    """``answer`` with an error it raises turned into the check's ``AssertionError``.

    :func:`check` lets the student's error through (a one-part cell fails either way); in a cell
    of parts it must fail only its part. "Not done" (NameError, NotImplementedError) and the time
    limit pass through untouched, for :func:`check` to name them.
    """
    def run():
        try:
            return answer()
        except NOT_DONE:
            raise
        except Exception as err:
            raise AssertionError(f"✘ {name} raised {type(err).__name__}: {err}") from err
    return run


class Score:
    """What a check cell of several parts shows as its result: the points it earned.

    Its text (``repr``) is the plain number, which nbgrader reads as the cell's partial credit
    (``utils.get_partial_grade``); Jupyter and the book show its Markdown instead, which they
    prefer to plain text: "**2 of 3 points**: stack_params ✔, single_size ✘, saving_5 ✔".
    Made by :meth:`Parts.score` only, from what its own checks found.
    """

    __slots__ = ("points", "total", "verdicts")

    def __init__(self, points: float, total: float, verdicts: dict[str, str]):
        self.points, self.total, self.verdicts = float(points), float(total), dict(verdicts)

    def __repr__(self) -> str:
        return repr(self.points)

    def _repr_markdown_(self) -> str:
        parts = ", ".join(f"{part} {verdict}" for part, verdict in self.verdicts.items())
        return f"**{round(self.points, 2):g} of {self.total:g} points**: {parts}"
