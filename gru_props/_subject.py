"""Calling the user's GRU safely: copies in, a time limit, outputs checked and normalised.

Nothing the user's function does (raise, hang, return a list, write into its
arguments, warn) escapes as a crash of the checker: each becomes an
``Outcome`` the properties can judge and the report can describe.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import traceback
import warnings
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from gru_props._case import GRUCase
from gru_props._params import GRUParams


class Hang(BaseException):
    """Raised out of a Hypothesis search when the user's function does not return.

    A BaseException so that neither the user's ``except Exception`` nor
    Hypothesis' failure handling swallows it: a hang is reported at once,
    unshrunk, since every shrink attempt would cost the full time limit.
    """

    def __init__(self, case: GRUCase, seconds: float) -> None:
        super().__init__(f"no return within {seconds:g} s")
        self.case = case
        self.seconds = seconds


class _Alarm(BaseException):
    pass


@dataclasses.dataclass
class Outcome:
    """What one call produced: ``hs`` (B, T, H) and maybe ``h_T`` (B, H), or ``error``."""

    hs: Optional[np.ndarray] = None
    h_T: Optional[np.ndarray] = None
    error: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    mutated: Optional[str] = None


def writable_params(p: GRUParams) -> GRUParams:
    """A copy of ``p`` whose arrays are writable, to see whether ``fn`` writes into them."""
    q = GRUParams(**p.arrays())  # its own copies, read-only until we allow writing
    for arr in q.arrays().values():
        arr.setflags(write=True)
    return q


def _user_traceback(exc: BaseException) -> str:
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if "gru_props" not in f.filename.replace("\\", "/").split("/")[-2:-1]
    ]
    if not frames:
        return ""
    last = frames[-1]
    return f'\n  raised at {last.filename}:{last.lineno}, in {last.name}: {last.line or ""}'.rstrip()


def _as_float_array(value: Any, what: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    if isinstance(value, (list, tuple)) or np.isscalar(value) or value is None:
        return None, (
            f"{what} is a {type(value).__name__}; expected a NumPy array "
            f"(wrap it with np.asarray / np.stack)."
        )
    if not (isinstance(value, np.ndarray) or hasattr(value, "__array__")):
        return None, f"{what} is a {type(value).__name__}; expected a NumPy array."
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        return None, f"{what} has dtype {arr.dtype}; expected floating point (float32 or float64)."
    return arr, None


class Subject:
    """The user's function under test.

    ``step=False``: ``fn(x, h0, params)`` returns ``hs`` or ``(hs, h_T)``.
    ``step=True``: ``fn(x_t, h_prev, params)`` returns ``h_t``; the subject folds it over time.
    """

    def __init__(self, fn: Callable[..., Any], step: bool, timeout: Optional[float]) -> None:
        self.fn = fn
        self.step = step
        self.timeout = timeout
        self.calls = 0

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)

    def _call(self, case: GRUCase, *args: Any) -> Any:
        self.calls += 1
        timeout = self.timeout
        use_alarm = (
            timeout is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if not use_alarm:
            return self.fn(*args)

        def on_alarm(signum: int, frame: Any) -> None:
            raise _Alarm()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self.fn(*args)
        except _Alarm:
            raise Hang(case, timeout) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def run(self, case: GRUCase, check_mutation: bool = False) -> Outcome:
        """Call the function on copies of ``case``'s arrays and normalise what comes back."""
        x = case.x.copy()
        h0 = case.h0.copy()
        params = writable_params(case.params) if check_mutation else case.params
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out = self._forward(case, x, h0, params)
            except Hang:
                raise
            except Exception as exc:  # the user's error, reported as a failure
                return Outcome(error=f"raised {type(exc).__name__}: {exc}{_user_traceback(exc)}")
        out.warnings = tuple(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
        if check_mutation:
            out.mutated = _find_mutation(case, x, h0, params)
        return out

    def _forward(self, case: GRUCase, x: np.ndarray, h0: np.ndarray, params: GRUParams) -> Outcome:
        B, T, H = case.B, case.T, case.H
        if self.step:
            h = h0
            states: List[np.ndarray] = []
            for t in range(T):
                value = self._call(case, x[:, t, :], h, params)
                arr, err = _as_float_array(value, f"the value returned at step t={t}")
                if err is None and arr.shape != (B, H):
                    err = f"the value returned at step t={t} has shape {arr.shape}; expected h_t of shape (B, H) = ({B}, {H})."
                if err:
                    return Outcome(error=err)
                # The next step gets a private copy, so a step that writes into
                # h_prev cannot corrupt the recorded states.
                states.append(arr.copy())
                h = arr.copy()
            hs = np.stack(states, axis=1) if states else np.zeros((B, 0, H), dtype=np.result_type(h0))
            return Outcome(hs=hs, h_T=None)
        value = self._call(case, x, h0, params)
        h_T = None
        if isinstance(value, tuple):
            if len(value) != 2:
                return Outcome(error=f"returned a tuple of {len(value)} items; expected hs or (hs, h_T).")
            hs, err = _as_float_array(value[0], "hs (the first returned item)")
            if err is None:
                h_T, err = _as_float_array(value[1], "h_T (the second returned item)")
        else:
            hs, err = _as_float_array(value, "the returned value")
        if err:
            return Outcome(error=err)
        if hs.shape != (B, T, H):
            hint = ""
            if hs.shape == (T, B, H) and B != T:
                hint = " It looks time-major (T, B, H); gru_props is batch-first."
            return Outcome(error=f"hs has shape {hs.shape}; expected (B, T, H) = ({B}, {T}, {H}).{hint}")
        if h_T is not None and h_T.shape != (B, H):
            return Outcome(error=f"h_T has shape {h_T.shape}; expected (B, H) = ({B}, {H}).")
        return Outcome(hs=hs.copy(), h_T=None if h_T is None else h_T.copy())


def _find_mutation(case: GRUCase, x: np.ndarray, h0: np.ndarray, params: GRUParams) -> Optional[str]:
    pairs = [("x", case.x, x), ("h0", case.h0, h0)]
    pairs += [(f"params.{k}", v, getattr(params, k)) for k, v in case.params.arrays().items()]
    for name, before, after in pairs:
        if not np.array_equal(before, after, equal_nan=True):
            changed = (before != after) & ~(np.isnan(before) & np.isnan(after))
            idx = tuple(int(i) for i in np.argwhere(changed)[0])
            return (
                f"{name} was modified in place: {name}[{', '.join(map(str, idx))}] was "
                f"{before[idx]!r} before the call and {after[idx]!r} after it."
            )
    return None
