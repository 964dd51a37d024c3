"""The user's forward GRU under test: copies in, outputs checked and normalised.

Nothing the user's function does (raise, hang, return a list or a torch
tensor, write into its arguments, warn, call ``sys.exit``) escapes as a
crash of the checker: each becomes an ``Outcome`` that the properties judge
and the report describes. The calls themselves go through ``engine.calls.Caller``
(time limit, budget, isolation).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.engine.subject import (
    NotAFloatArray,
    UserFunction,
    as_float_array,
    call_and_convert,
    first_mutation,
    writable_params,
)
from gru_props.forward.case import GRUCase


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
    raised: bool = False  # the function raised (rather than returning something unusable)

    @property
    def states(self) -> np.ndarray:
        """``hs`` of an outcome without an error (a property checks ``error`` before reading it)."""
        if self.hs is None:
            raise RuntimeError(f"no states in an outcome with an error: {self.error}")
        return self.hs


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

    def first_args(self, case: GRUCase) -> Tuple[Any, ...]:
        """What the function's first call on ``case`` receives (the first step, for a step function)."""
        if self.step:
            return (case.x[:, 0, :], case.h0, case.params)
        return (case.x, case.h0, case.params)

    def _invoke(self, warned: List[str], convert: Callable[[Any], Outcome], *args: Any) -> Outcome:
        """Call the function and convert what it returned, both in the worker under the time limit
        (a blocking ``__array__`` cannot hang the check)."""
        result = self.caller.call(call_and_convert, self.fn, args, convert, _unreadable)
        warned.extend(result.warnings)
        if result.error is not None:
            return Outcome(error=result.error, read_only_write=result.wrote_read_only, raised=True)
        return result.value

    def _forward(self, case: GRUCase, x: np.ndarray, h0: Optional[np.ndarray], params: GRUParams,
                 warned: List[str]) -> Outcome:
        B, T, H = case.B, case.T, case.H
        if self.step:
            h = h0
            states: List[np.ndarray] = []
            dtypes: List[np.dtype] = []
            for t in range(T):
                out = self._invoke(warned, functools.partial(_step_output, B=B, H=H, t=t), x[:, t, :], h, params)
                if out.error is not None:
                    return out
                arr = out.states
                dtypes.append(arr.dtype)
                # The next step gets a private copy, so a step that writes into
                # h_prev cannot corrupt the recorded states.
                states.append(arr)
                h = arr.copy()
            dtype = np.result_type(*dtypes) if dtypes else case.h0.dtype
            hs = np.stack(states, axis=1) if states else np.zeros((B, 0, H), dtype=dtype)
            return Outcome(hs=hs, h_T=None, dtypes=tuple(dict.fromkeys(dtypes)))
        return self._invoke(warned, functools.partial(_sequence_output, B=B, T=T, H=H), x, h0, params)


def _unreadable(text: str) -> Outcome:
    return Outcome(error=text)


def _step_output(value: Any, B: int, H: int, t: int) -> Outcome:
    if isinstance(value, tuple):
        return Outcome(error=(
            f"returned a tuple of {len(value)} items at step t={t}; with step=True the function "
            "returns h_t (B, H) alone. A step that returns (h_t, cache), CS231n style, can be checked "
            "as lambda x_t, h, p: step(x_t, h, p)[0]."))
    try:
        arr = as_float_array(value, f"the value returned at step t={t}")
    except NotAFloatArray as exc:
        return Outcome(error=str(exc))
    if arr.shape != (B, H):
        return Outcome(error=f"the value returned at step t={t} has shape {arr.shape}; expected h_t "
                             f"of shape (B, H) = ({B}, {H}).")
    return Outcome(hs=arr.copy(), dtypes=(arr.dtype,))


def _sequence_output(value: Any, B: int, T: int, H: int) -> Outcome:
    h_T: Optional[np.ndarray] = None
    try:
        if isinstance(value, tuple):
            if len(value) != 2:
                return Outcome(error=f"returned a tuple of {len(value)} items; expected hs or (hs, h_T).")
            hs = as_float_array(value[0], "hs (the first returned item)")
            h_T = as_float_array(value[1], "h_T (the second returned item)")
        elif isinstance(value, list) and len(value) == 2 and all(hasattr(v, "shape") for v in value):
            return Outcome(error="returned a list of two arrays; return the tuple (hs, h_T) instead "
                                 "(return hs, h_T), or hs alone.")
        else:
            hs = as_float_array(value, "the returned value")
    except NotAFloatArray as exc:
        return Outcome(error=str(exc))
    if hs.shape != (B, T, H):
        hint = ""
        if hs.shape == (T, B, H) and B != T:
            hint = (" It looks time-major (T, B, H); gru_props is batch-first: transpose it, or "
                    "wrap your function with gru_props.adapters.time_major.")
        return Outcome(error=f"hs has shape {hs.shape}; expected (B, T, H) = ({B}, {T}, {H}).{hint}")
    if h_T is not None and h_T.shape != (B, H):
        return Outcome(error=f"h_T has shape {h_T.shape}; expected (B, H) = ({B}, {H}).")
    returned = (hs.dtype,) if h_T is None else tuple(dict.fromkeys((hs.dtype, h_T.dtype)))
    return Outcome(hs=hs.copy(), h_T=None if h_T is None else h_T.copy(), dtypes=returned)


def _find_mutation(case: GRUCase, x: np.ndarray, h0: np.ndarray, params: GRUParams) -> Optional[str]:
    pairs = [("x", case.x, x), ("h0", case.h0, h0)]
    pairs += [(f"params.{k}", v, getattr(params, k)) for k, v in case.params.arrays().items()]
    return first_mutation(pairs)


