"""The user's forward GRU under test: copies in, outputs checked and normalised.

Nothing the user's function does (raise, hang, return a list or a torch
tensor, write into its arguments, warn, call ``sys.exit``) escapes as a
crash of the checker: each becomes an ``Outcome`` that the properties judge
and the report describes. The calls themselves go through ``_calls.Caller``
(time limit, budget, isolation).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from gru_props._calls import Caller, CallResult
from gru_props._case import GRUCase
from gru_props._params import GRUParams


@dataclasses.dataclass
class Outcome:
    """What one run produced: ``hs`` (B, T, H) and maybe ``h_T`` (B, H), or ``error``.

    ``read_only_write`` is set when the function failed by writing into one of
    the read-only parameter arrays it was given; ``mutated`` describes an
    argument it modified in place (checked on request).
    """

    hs: Optional[np.ndarray] = None
    h_T: Optional[np.ndarray] = None
    error: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    mutated: Optional[str] = None
    read_only_write: bool = False
    dtypes: Tuple[np.dtype, ...] = ()  # dtypes of the arrays returned


_VERBS = ("raised ", "returned ", "called ", "was ", "did ", "tried ")


def what_the_function_did(error: str) -> str:
    """``error`` as the end of a sentence starting "the function ...": a verb first."""
    if error.startswith(_VERBS):
        return error
    return "returned a value the contract does not allow: " + error


def writable_params(p: GRUParams) -> GRUParams:
    """A copy of ``p`` whose arrays are writable, to see whether ``fn`` writes into them."""
    from gru_props import _params

    maker = getattr(_params, "_writable_copy", None)
    if maker is not None:
        return maker(p)
    q = GRUParams(**p.arrays())  # pragma: no cover - older GRUParams without the helper
    for arr in q.arrays().values():
        arr.setflags(write=True)
    return q


def as_float_array(value: Any, what: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """``value`` as a floating NumPy array, or an error text saying what was wrong with it."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, maybe requiring grad
        try:
            value = value.detach().cpu().numpy()
        except Exception as exc:  # pragma: no cover - exotic tensors (sparse, meta)
            return None, f"{what} is a {type(value).__name__} that could not be converted to NumPy ({exc})."
    if isinstance(value, (list, tuple)) or np.isscalar(value) or value is None:
        return None, (
            f"{what} is {'None' if value is None else 'a ' + type(value).__name__}; expected a NumPy "
            f"array" + ("" if value is None else " (wrap it with np.asarray / np.stack)") + "."
        )
    if not (isinstance(value, np.ndarray) or hasattr(value, "__array__")):
        return None, f"{what} is a {type(value).__name__}; expected a NumPy array."
    try:
        arr = np.asarray(value)
    except Exception as exc:
        return None, f"{what} is a {type(value).__name__} that NumPy cannot convert ({exc})."
    if arr.dtype.kind != "f":
        return None, f"{what} has dtype {arr.dtype}; expected floating point (float32 or float64)."
    return arr, None


class UserFunction:
    """A user's function under test (forward or backward), called through one Caller."""

    def __init__(self, fn: Callable[..., Any], step: bool, caller: Caller, name: str) -> None:
        self.fn = fn
        self.step = step
        self.caller = caller
        self.name = name

    @property
    def calls(self) -> int:
        return self.caller.calls


class Subject(UserFunction):
    """The user's forward function.

    ``step=False``: ``fn(x, h0, params)`` returns ``hs`` or ``(hs, h_T)``.
    ``step=True``: ``fn(x_t, h_prev, params)`` returns ``h_t``; the subject folds it over time.
    """

    def run(self, case: GRUCase, check_mutation: bool = False, h0_none: bool = False) -> Outcome:
        """Call the function on copies of ``case``'s arrays and normalise what comes back.

        ``h0_none=True`` passes None as the initial state (the first ``h_prev``
        for a step function): the result must equal the run from zeros.
        Raises ``Hang`` or ``BudgetExhausted`` from the caller.
        """
        x = case.x.copy()
        h0 = case.h0.copy()
        # Its own copy of the (read-only) parameters every call: a function that forces a
        # write anyway (through a ctypes view) cannot change the case shown in the report.
        params = writable_params(case.params) if check_mutation else copy.copy(case.params)
        warned: List[str] = []
        out = self._forward(case, x, None if h0_none else h0, params, warned)
        out.warnings = tuple(sorted(set(warned)))
        if check_mutation and out.error is None:
            out.mutated = _find_mutation(case, x, h0, params)
        return out

    def _invoke(self, warned: List[str], *args: Any) -> CallResult:
        result = self.caller.call(self.fn, *args)
        warned.extend(result.warnings)
        return result

    def _forward(self, case: GRUCase, x: np.ndarray, h0: Optional[np.ndarray], params: GRUParams,
                 warned: List[str]) -> Outcome:
        B, T, H = case.B, case.T, case.H
        if self.step:
            h = h0
            states: List[np.ndarray] = []
            dtypes = []
            for t in range(T):
                result = self._invoke(warned, x[:, t, :], h, params)
                if result.error is not None:
                    return Outcome(error=result.error, read_only_write=result.wrote_read_only)
                if isinstance(result.value, tuple):
                    return Outcome(error=(
                        f"returned a tuple of {len(result.value)} items at step t={t}; with step=True the function "
                        "returns h_t (B, H) alone. A step that returns (h_t, cache), CS231n style, can be checked "
                        "as lambda x_t, h, p: step(x_t, h, p)[0]."))
                arr, err = as_float_array(result.value, f"the value returned at step t={t}")
                if err is None and arr.shape != (B, H):
                    err = (f"the value returned at step t={t} has shape {arr.shape}; expected h_t of "
                           f"shape (B, H) = ({B}, {H}).")
                if err:
                    return Outcome(error=err)
                dtypes.append(arr.dtype)
                # The next step gets a private copy, so a step that writes into
                # h_prev cannot corrupt the recorded states.
                states.append(arr.copy())
                h = arr.copy()
            dtype = np.result_type(*dtypes) if dtypes else case.h0.dtype
            hs = np.stack(states, axis=1) if states else np.zeros((B, 0, H), dtype=dtype)
            return Outcome(hs=hs, h_T=None, dtypes=tuple(dict.fromkeys(dtypes)))
        result = self._invoke(warned, x, h0, params)
        if result.error is not None:
            return Outcome(error=result.error, read_only_write=result.wrote_read_only)
        value = result.value
        h_T = None
        if isinstance(value, tuple):
            if len(value) != 2:
                return Outcome(error=f"returned a tuple of {len(value)} items; expected hs or (hs, h_T).")
            hs, err = as_float_array(value[0], "hs (the first returned item)")
            if err is None:
                h_T, err = as_float_array(value[1], "h_T (the second returned item)")
        elif isinstance(value, list) and len(value) == 2 and all(hasattr(v, "shape") for v in value):
            return Outcome(error="returned a list of two arrays; return the tuple (hs, h_T) instead "
                                 "(return hs, h_T), or hs alone.")
        else:
            hs, err = as_float_array(value, "the returned value")
        if err:
            return Outcome(error=err)
        if hs.shape != (B, T, H):
            hint = ""
            if hs.shape == (T, B, H) and B != T:
                hint = (" It looks time-major (T, B, H); gru_props is batch-first: transpose it, or "
                        "wrap your function with gru_props.adapters.time_major.")
            return Outcome(error=f"hs has shape {hs.shape}; expected (B, T, H) = ({B}, {T}, {H}).{hint}")
        if h_T is not None and h_T.shape != (B, H):
            return Outcome(error=f"h_T has shape {h_T.shape}; expected (B, H) = ({B}, {H}).")
        dtypes = (hs.dtype,) if h_T is None else tuple(dict.fromkeys((hs.dtype, h_T.dtype)))
        return Outcome(hs=hs.copy(), h_T=None if h_T is None else h_T.copy(), dtypes=dtypes)


def _find_mutation(case: GRUCase, x: np.ndarray, h0: np.ndarray, params: GRUParams) -> Optional[str]:
    pairs = [("x", case.x, x), ("h0", case.h0, h0)]
    pairs += [(f"params.{k}", v, getattr(params, k)) for k, v in case.params.arrays().items()]
    return first_mutation(pairs)


def first_mutation(pairs: List[Tuple[str, np.ndarray, np.ndarray]]) -> Optional[str]:
    """The first (name, before, after) whose arrays differ, described with its first changed element."""
    for name, before, after in pairs:
        if not np.array_equal(before, after, equal_nan=True):
            changed = (before != after) & ~(np.isnan(before) & np.isnan(after))
            idx = tuple(int(i) for i in np.argwhere(changed)[0])
            return (
                f"the function modified its argument {name} in place: {name}[{', '.join(map(str, idx))}] was "
                f"{float(before[idx])!r} before the call and {float(after[idx])!r} after it."
            )
    return None
