"""The user's backward pass under test: copies in, gradients checked and normalised.

``backward_fn(x, h0, params, dhs, dh_T) -> (dx, dh0, grads)``, or with
``step=True`` ``backward_fn(x_t, h_prev, params, dh_t) -> (dx_t, dh_prev,
grads)``; ``grads`` a ``GRUParams``, a mapping with its field names, or an
object with those attributes. Calls go through ``engine.calls.Caller`` (time
limit, budget, isolation), like the forward's.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from gru_props.backward.case import GradCase
from gru_props.core.params import _BIASES, _FIELDS
from gru_props.core.tied import collect_tied
from gru_props.engine.subject import (
    NotAFloatArray,
    UserFunction,
    as_float_array,
    call_and_convert,
    first_mutation,
    writable_params,
)


@dataclasses.dataclass
class GradOutcome:
    """What one backward call returned, as float arrays by name, or ``error``.

    ``arrays`` maps "dx", "dh0" and the ten field names to arrays of the
    reference's shapes (the step form's dx_t is stored as dx[:, 0]).
    """

    arrays: Optional[Dict[str, np.ndarray]] = None
    error: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    mutated: Optional[str] = None
    read_only_write: bool = False
    dtypes: Tuple[np.dtype, ...] = ()
    raised: bool = False  # the function raised (rather than returning something unusable)
    absent: Tuple[str, ...] = ()  # bias gradients the function did not return
    #: fields a layout holds twice whose two gradients disagreed: field -> (name, gradient, name, gradient)
    tied: Dict[str, Tuple[str, np.ndarray, str, np.ndarray]] = dataclasses.field(default_factory=dict)


def _grads_fields(grads: Any) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """The gradients by field name; bias gradients may be absent (a bias-free cell has none: the
    properties then demand ``bias=False``)."""
    if grads is None:
        return None, "grads (the third returned item) is None; expected a GRUParams or a mapping of its fields."
    if hasattr(grads, "arrays") and callable(grads.arrays):
        grads = grads.arrays()
    if isinstance(grads, Mapping):
        missing = [k for k in _FIELDS if k not in grads and k not in _BIASES]
        if missing:
            extra = sorted(str(k) for k in grads if k not in _FIELDS)
            hint = f" It has {extra}: name the gradients after the GRUParams fields." if extra else ""
            return None, f"grads has no {missing}; expected the GRUParams field names {list(_FIELDS)}.{hint}"
        return {k: grads[k] for k in _FIELDS if k in grads}, None
    if all(hasattr(grads, k) for k in _FIELDS if k not in _BIASES):
        return {k: getattr(grads, k) for k in _FIELDS if hasattr(grads, k)}, None
    return None, (f"grads (the third returned item) is a {type(grads).__name__}; expected a GRUParams or a "
                  f"mapping with the field names {list(_FIELDS)}.")


def _unreadable(text: str) -> GradOutcome:
    return GradOutcome(error=text)


def _with_tied(fn: Any, args: Tuple[Any, ...], normalise: Any) -> GradOutcome:
    with collect_tied() as tied:
        out = call_and_convert(fn, args, normalise, _unreadable)
    if tied and out.error is None:
        out.tied = dict(tied)
    return out


class GradSubject(UserFunction):
    """The user's backward function, called on copies and normalised."""

    def first_args(self, case: GradCase) -> Tuple[Any, ...]:
        """What the function receives on ``case``."""
        if self.step:
            return (case.x[:, 0, :], case.h0, case.params, case.dhs[:, 0, :])
        return (case.x, case.h0, case.params, case.dhs, case.dh_T)

    def run(self, case: GradCase, check_mutation: bool = False, none: bool = False) -> GradOutcome:
        """Call the backward on copies of ``case``; ``none=True`` passes None for h0 and dh_T."""
        x, h0, dhs, dh_T = case.x.copy(), case.h0.copy(), case.dhs.copy(), case.dh_T.copy()
        params = writable_params(case.params) if check_mutation else copy.copy(case.params)
        args: Tuple[Any, ...]
        if self.step:
            args = (x[:, 0, :], None if none else h0, params, dhs[:, 0, :])
        else:
            args = (x, None if none else h0, params, dhs, None if none else dh_T)
        # The call and the reading of what it returned, both under the time limit, in the worker; tied
        # gradients of a layout adapter that disagree are recorded rather than raised (core.tied).
        result = self.caller.call(_with_tied, self.fn, args, functools.partial(self._normalise, case))
        if result.error is not None:
            return GradOutcome(error=result.error, warnings=result.warnings,
                               read_only_write=result.wrote_read_only, raised=True)
        out = result.value
        out.warnings = result.warnings
        if check_mutation and out.error is None:
            out.mutated = _find_mutation(case, x, h0, dhs, dh_T, params)
        return out

    def _normalise(self, case: GradCase, value: Any) -> GradOutcome:
        B, T, D, H = case.B, case.T, case.D, case.H
        names = ("dx_t", "dh_prev") if self.step else ("dx", "dh0")
        if not isinstance(value, (tuple, list)) or len(value) != 3:
            what = f"a {type(value).__name__}" + (f" of {len(value)} items" if isinstance(value, (tuple, list)) else "")
            return GradOutcome(error=f"returned {what}; expected a tuple ({names[0]}, {names[1]}, grads).")
        try:
            dx = as_float_array(value[0], f"{names[0]} (the first returned item)")
            dh0 = as_float_array(value[1], f"{names[1]} (the second returned item)")
        except NotAFloatArray as exc:
            return GradOutcome(error=str(exc))
        expected_dx = (B, D) if self.step else (B, T, D)
        if dx.shape != expected_dx:
            layout = "(B, D)" if self.step else "(B, T, D)"
            return GradOutcome(error=f"{names[0]} has shape {dx.shape}; expected {layout} = {expected_dx}.")
        if dh0.shape != (B, H):
            return GradOutcome(error=f"{names[1]} has shape {dh0.shape}; expected (B, H) = ({B}, {H}).")
        fields, err = _grads_fields(value[2])
        if fields is None:
            return GradOutcome(error=err)
        arrays: Dict[str, np.ndarray] = {"dx": dx.reshape(B, T, D).copy() if self.step else dx.copy(),
                                         "dh0": dh0.copy()}
        dtypes: List[np.dtype] = [dx.dtype, dh0.dtype]
        absent = tuple(name for name in _BIASES if name not in fields)
        for name in _FIELDS:
            if name not in fields:  # a bias gradient left out: zeros, noted as absent
                arrays[name] = np.zeros(getattr(case.params, name).shape)
                continue
            try:
                arr = as_float_array(fields[name], f"grads[{name!r}]")
            except NotAFloatArray as exc:
                return GradOutcome(error=str(exc))
            expected = getattr(case.params, name).shape
            if arr.shape != expected:
                transposed = " (it looks transposed)" if arr.shape == expected[::-1] and len(expected) == 2 else ""
                return GradOutcome(error=f"grads[{name!r}] has shape {arr.shape}; expected {expected}, the shape "
                                         f"of params.{name}{transposed}.")
            arrays[name] = arr.copy()
            dtypes.append(arr.dtype)
        return GradOutcome(arrays=arrays, dtypes=tuple(dict.fromkeys(dtypes)), absent=absent)


def _find_mutation(case: GradCase, x: np.ndarray, h0: np.ndarray, dhs: np.ndarray, dh_T: np.ndarray,
                   params: Any) -> Optional[str]:
    pairs = [("x", case.x, x), ("h0", case.h0, h0), ("dhs", case.dhs, dhs)]
    if not case.step:
        pairs.append(("dh_T", case.dh_T, dh_T))
    pairs += [(f"params.{k}", v, getattr(params, k)) for k, v in case.params.arrays().items()]
    return first_mutation(pairs)
