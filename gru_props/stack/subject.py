"""The user's stack under test: ``fn(x, h0, layers, lengths)`` -> ``(out, h_n)``, or its backward
``fn(x, h0, layers, lengths, dout, dh_n)`` -> ``(dx, dh0, grads)``; ``lengths`` is passed only when the check
was given ``lengths=True``. Called on copies, through the engine's ``Caller``; what comes back is normalised."""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from gru_props.backward.subject import _grads_fields
from gru_props.core.params import _FIELDS
from gru_props.engine.subject import (
    NotAFloatArray,
    UserFunction,
    as_float_array,
    call_and_convert,
    first_mutation,
    writable_params,
)
from gru_props.stack.case import StackCase


@dataclasses.dataclass
class StackOutcome:
    """What one call gave: ``out`` and ``h_n`` (forward) or ``arrays`` by name ("dx", "dh0", "layers[i].W_z"...)."""

    out: Any = None  # (B, T, nd * H)
    h_n: Any = None  # (L * nd, B, H)
    arrays: Any = None  # Dict[str, np.ndarray]
    error: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    mutated: Optional[str] = None
    read_only_write: bool = False
    dtypes: Tuple[np.dtype, ...] = ()
    raised: bool = False

    @property
    def states(self) -> np.ndarray:
        if self.out is None:
            raise RuntimeError(f"no output in an outcome with an error: {self.error}")
        return self.out


def _unreadable(text: str) -> StackOutcome:
    return StackOutcome(error=text)


def _forward_output(value: Any, B: int, T: int, nd: int, L: int, H: int) -> StackOutcome:
    if not isinstance(value, tuple) or len(value) != 2:
        what = f"a tuple of {len(value)} items" if isinstance(value, tuple) else f"a {type(value).__name__}"
        return StackOutcome(error=f"returned {what}; the stack form returns (out, h_n), as torch.nn.GRU does.")
    try:
        out = as_float_array(value[0], "out (the first returned item)")
        h_n = as_float_array(value[1], "h_n (the second returned item)")
    except NotAFloatArray as exc:
        return StackOutcome(error=str(exc))
    if out.shape != (B, T, nd * H):
        hint = " It looks time-major: the stack form is batch-first." if out.shape == (T, B, nd * H) != (
            B, T, nd * H) else ""
        return StackOutcome(error=f"out has shape {out.shape}; expected (B, T, num_directions * H) = "
                                  f"{(B, T, nd * H)}.{hint}")
    if h_n.shape != (L * nd, B, H):
        hint = (" It looks batch-first; h_n is (num_layers * num_directions, B, H) as in torch.nn.GRU."
                if h_n.shape == (B, L * nd, H) else "")
        return StackOutcome(error=f"h_n has shape {h_n.shape}; expected (num_layers * num_directions, B, H) = "
                                  f"{(L * nd, B, H)}.{hint}")
    return StackOutcome(out=out.copy(), h_n=h_n.copy(), dtypes=tuple(dict.fromkeys((out.dtype, h_n.dtype))))


def _backward_output(value: Any, case: StackCase) -> StackOutcome:
    B, T, D, H, n = case.B, case.T, case.D, case.H, len(case.layers)
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return StackOutcome(error=f"returned a {type(value).__name__}; expected a tuple (dx, dh0, grads), grads one "
                                  f"GRUParams (or mapping of its fields) per layer and direction.")
    try:
        dx = as_float_array(value[0], "dx (the first returned item)")
        dh0 = as_float_array(value[1], "dh0 (the second returned item)")
    except NotAFloatArray as exc:
        return StackOutcome(error=str(exc))
    if dx.shape != (B, T, D):
        return StackOutcome(error=f"dx has shape {dx.shape}; expected (B, T, D) = {(B, T, D)}.")
    if dh0.shape != (n, B, H):
        return StackOutcome(error=f"dh0 has shape {dh0.shape}; expected (num_layers * num_directions, B, H) = "
                                  f"{(n, B, H)}.")
    grads = value[2]
    if isinstance(grads, dict) or not isinstance(grads, (tuple, list)) or len(grads) != n:
        got = (f"a sequence of {len(grads)}" if isinstance(grads, (tuple, list)) else f"a {type(grads).__name__}")
        return StackOutcome(error=f"grads is {got}; "
                                  f"expected {n} gradients (a GRUParams or a mapping of its fields each), one per "
                                  f"layer and direction in the order of layers.")
    arrays: Dict[str, np.ndarray] = {"dx": dx.copy(), "dh0": dh0.copy()}
    dtypes: List[np.dtype] = [dx.dtype, dh0.dtype]
    for i, g in enumerate(grads):
        fields, err = _grads_fields(g)
        if fields is None:
            return StackOutcome(error=f"grads[{i}]: {err}")
        for name in _FIELDS:
            shape = getattr(case.layers[i], name).shape
            if name not in fields:
                arrays[f"layers[{i}].{name}"] = np.zeros(shape)
                continue
            try:
                arr = as_float_array(fields[name], f"grads[{i}][{name!r}]")
            except NotAFloatArray as exc:
                return StackOutcome(error=str(exc))
            if arr.shape != shape:
                return StackOutcome(error=f"grads[{i}][{name!r}] has shape {arr.shape}; expected {shape}, the shape "
                                          f"of layers[{i}].{name}.")
            arrays[f"layers[{i}].{name}"] = arr.copy()
            dtypes.append(arr.dtype)
    return StackOutcome(arrays=arrays, dtypes=tuple(dict.fromkeys(dtypes)))


def _lengths_arg(case: StackCase, lengths: Optional[np.ndarray]) -> np.ndarray:
    """The lengths a function checked with ``lengths=True`` receives: the case's, or every sequence full."""
    return lengths if lengths is not None else np.full(case.B, case.T, dtype=np.int64)


class StackSubject(UserFunction):
    """The user's stack function; ``with_lengths``: whether it takes ``lengths``; ``gradient``: a backward."""

    def __init__(self, fn: Any, step: bool, caller: Any, name: str, with_lengths: bool = False,
                 gradient: bool = False) -> None:
        super().__init__(fn, step, caller, name)
        self.with_lengths = with_lengths
        self.gradient = gradient

    def first_args(self, case: StackCase) -> Tuple[Any, ...]:
        """What the function's first call on ``case`` receives (for the report's "as your function received it")."""
        args: List[Any] = [case.x, case.h0, list(case.layers)]
        if self.with_lengths:
            args.append(_lengths_arg(case, case.lengths))
        if self.gradient:
            args += [case.dout, case.dh_n]
        return tuple(args)

    def run(self, case: StackCase, check_mutation: bool = False, h0_none: bool = False) -> StackOutcome:
        x, h0 = case.x.copy(), case.h0.copy()
        layers = [writable_params(p) if check_mutation else copy.copy(p) for p in case.layers]
        lengths = None if case.lengths is None else case.lengths.copy()
        args: List[Any] = [x, None if h0_none else h0, layers]
        if self.with_lengths:
            args.append(_lengths_arg(case, lengths))
        dout = dh_n = None
        if self.gradient:
            assert case.dout is not None and case.dh_n is not None
            dout, dh_n = case.dout.copy(), case.dh_n.copy()
            args += [dout, None if h0_none else dh_n]
            convert = functools.partial(_backward_output, case=case)
        else:
            convert = functools.partial(_forward_output, B=case.B, T=case.T, nd=case.nd, L=case.L, H=case.H)
        fn = self.fn
        if getattr(fn, "__gru_props_stack_aware__", False):  # torch_module, a layout adapter: told the directions
            fn = functools.partial(fn, bidirectional=case.bidirectional)
        result = self.caller.call(call_and_convert, fn, tuple(args), convert, _unreadable)
        if result.error is not None:
            return StackOutcome(error=result.error, warnings=result.warnings, read_only_write=result.wrote_read_only,
                                raised=True)
        out = result.value
        out.warnings = tuple(sorted(set(result.warnings)))
        if check_mutation and out.error is None:
            pairs = [("x", case.x, x), ("h0", case.h0, h0)]
            if lengths is not None and case.lengths is not None:
                pairs.append(("lengths", case.lengths, lengths))
            if dout is not None:
                pairs += [("dout", case.dout, dout), ("dh_n", case.dh_n, dh_n)]
            pairs += [(f"layers[{i}].{k}", v, getattr(layers[i], k)) for i, p in enumerate(case.layers)
                      for k, v in p.arrays().items()]
            out.mutated = first_mutation(pairs)
        return out
