"""Reproduction snippets: plain NumPy code that shows a failure again, outside the checker.

Each snippet rebuilds the counterexample, calls the user's function the way
the check did (adapters included), and asserts exactly what the failed
property asserts, with the same tolerance (for float32, the same
element-wise slack computed from our own tiers). Run on the counterexample
it raises ``AssertionError``; run with a correct function it passes.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any, List, Optional, Tuple

import numpy as np

from gru_props._conventions import Convention
from gru_props._engine import Context, Failure


# ------------------------------------------------------------ the function
def unwrap(fn: Any) -> Tuple[Any, List[str]]:
    """The user's own function under any gru_props adapters, and the adapters (outermost first)."""
    adapters: List[str] = []
    while getattr(fn, "__gru_props_adapter__", None) and getattr(fn, "__wrapped__", None) is not None:
        adapters.append(fn.__gru_props_adapter__)
        fn = fn.__wrapped__
    return fn, adapters


def _apply(adapter: str, inner: str) -> str:
    match = re.fullmatch(r"(\w+)\((.*)\)", adapter)
    if match:
        name, args = match.groups()
        return f"{name}({inner}, {args})" if args else f"{name}({inner})"
    return f"{adapter}({inner})"


def _partial_args(p: functools.partial) -> Optional[str]:
    """``functools.partial``'s arguments as source, when they are plain literals."""
    parts = [repr(a) for a in p.args] + [f"{k}={v!r}" for k, v in p.keywords.items()]
    for part in parts:
        try:
            ast.literal_eval(part.split("=", 1)[1] if "=" in part and part.split("=", 1)[0].isidentifier()
                             else part)
        except (ValueError, SyntaxError):
            return None
    return ", ".join(parts)


def _plain_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        args = _partial_args(fn)
        return f"partial({_plain_name(fn.func)}{', ' + args if args else ', ...'})"
    qualname = getattr(fn, "__qualname__", None)
    if qualname and "<locals>" not in qualname:
        return qualname
    return getattr(fn, "__name__", None) or type(fn).__name__


def display_name(fn: Any) -> str:
    """``torch_layout(my_gru)`` for an adapted function, ``my_gru`` otherwise."""
    base, adapters = unwrap(fn)
    name = _plain_name(base)
    for adapter in reversed(adapters):
        name = _apply(adapter, name)
    return name


def _importable(fn: Any) -> Optional[Tuple[str, str]]:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__name__", "")
    qualname = getattr(fn, "__qualname__", name)
    if module and module != "__main__" and name.isidentifier() and qualname == name:
        return module, name
    return None


def import_lines(fn: Any) -> List[str]:
    """Lines that bind ``fn`` the way the check called it."""
    base, adapters = unwrap(fn)
    where = _importable(base)
    if isinstance(base, functools.partial) and _importable(base.func) and _partial_args(base) is not None:
        module, name = _importable(base.func)  # type: ignore[misc]
        lines = ["import functools", f"from {module} import {name}"]
        expr = f"functools.partial({name}, {_partial_args(base)})"
    elif where is not None:
        lines = [f"from {where[0]} import {where[1]}"]
        expr = where[1]
    else:
        lines = [f"user_fn = ...  # your function ({_plain_name(base)}): import or define it here"]
        expr = "user_fn"
    if adapters:
        names = sorted({re.match(r"\w+", a).group(0) for a in adapters})  # type: ignore[union-attr]
        lines.insert(0, f"from gru_props.adapters import {', '.join(names)}")
        for adapter in reversed(adapters):
            expr = _apply(adapter, expr)
    lines.append(f"fn = {expr}")
    return lines


# ------------------------------------------------------------------ arrays
def array_code(a: np.ndarray, dtype: str) -> str:
    a = np.asarray(a)
    if not np.any(a):
        return f"np.zeros({a.shape}, dtype={dtype})"
    return f"np.array({np.asarray(a, dtype=np.float64).tolist()!r}, dtype={dtype})"


def params_code(params: Any, dtype: str) -> str:
    body = ",\n    ".join(f"{k}={array_code(v, dtype)}" for k, v in params.arrays().items())
    return f"GRUParams(\n    {body},\n)"


def reference_code(conv: Convention, x: str = "x", h0: str = "h0", p: str = "params") -> List[str]:
    """Lines computing ``hs_ref, hT_ref``: Level 1 in float64 in the convention ``conv``."""
    lines = [f"p64 = {p}.astype(np.float64)"]
    if conv.chung:
        lines.append("p64 = p64.replace(W_z=-p64.W_z, U_z=-p64.U_z, b_z=-p64.b_z)  "
                     "# Chung's form is the standard GRU with z negated")
    lines.append(f"hs_ref, hT_ref = level1.gru_forward({x}.astype(np.float64), {h0}.astype(np.float64), "
                 f"p64, reset_after={conv.reset_after})")
    return lines


def slack_code(conv: Convention, x: str = "x", h0: str = "h0", p: str = "params") -> List[str]:
    """Lines computing ``slack``: how far float32 rounding moves our own tiers (as the check does)."""
    p32 = f"{p}.astype(np.float32)"
    if conv.chung:
        p32 = f"{p}.replace(W_z=-{p}.W_z, U_z=-{p}.U_z, b_z=-{p}.b_z).astype(np.float32)"
    return [
        "# float32 is involved: allow 4x the drift of our own tiers run in float32 (as the check does)",
        "slack = np.zeros_like(hs_ref)",
        "for tier in (level1, level3):",
        f"    hs32, _ = tier.gru_forward({x}.astype(np.float32), {h0}.astype(np.float32), {p32}, "
        f"reset_after={conv.reset_after})",
        "    slack = np.maximum(slack, 4 * np.abs(hs32.astype(np.float64) - hs_ref))",
    ]


def close_code(got: str, expected: str, rtol: float, atol: float, slack: Optional[str]) -> List[str]:
    """An assertion that ``got`` is within ``atol + rtol * |expected| (+ slack)`` everywhere."""
    allowed = f"{atol!r} + {rtol!r} * np.abs({expected})" + (f" + {slack}" if slack else "")
    return [
        f"bad = ~(np.abs(np.asarray({got}, dtype=np.float64) - {expected}) <= {allowed})",
        f"assert not bad.any(), f\"{got}: {{bad.sum()}} element(s) out of tolerance, the first at "
        f"{{tuple(int(i) for i in np.argwhere(bad)[0])}}\"",
    ]


# ----------------------------------------------------------------- forward
def _run_code(step: bool) -> List[str]:
    if step:
        return [
            "def run(x, h0):",
            "    h, states = h0, []",
            "    for t in range(x.shape[1]):",
            "        h = np.asarray(fn(x[:, t].copy(), h, copy.copy(params)))",
            "        states.append(h)",
            "    hs = np.stack(states, axis=1) if states else np.zeros((x.shape[0], 0, params.H), x.dtype)",
            "    return hs, None",
        ]
    return [
        "def run(x, h0):",
        "    out = fn(x.copy(), None if h0 is None else h0.copy(), copy.copy(params))  # copies, as the check",
        "    return out if isinstance(out, tuple) else (out, None)",
    ]


def forward_snippet(fn: Any, step: bool, ctx: Context, failure: Failure) -> Optional[str]:
    """A snippet for a failure of ``check_implementation``, or None if none applies."""
    case = failure.case
    conv = failure.convention or ctx.primary
    dt = f"np.{case.params.dtype}"
    head = ["import copy", "import numpy as np", "from gru_props import GRUParams, level1, level3"] + import_lines(fn)
    head += ["", f"x = {array_code(case.x, dt)}", f"h0 = {array_code(case.h0, dt)}",
             f"params = {params_code(case.params, dt)}", ""]
    head += _run_code(step)
    body: List[str] = []
    prop = failure.property
    mm = failure.mismatch
    rtol, atol = (mm.rtol, mm.atol) if mm is not None else ctx.tolerance(case.dtype)
    low = mm is not None and (case.dtype.itemsize < 8 or "float32" in str(failure.extra.get("dtypes", "")))
    if prop == "deterministic" or failure.diagnosis == "nondeterministic":
        other = ("fn(x_o[:, 0], h0_o, p_o)" if step else "fn(x_o, h0_o, p_o)")
        body += ["first, _ = run(x, h0)",
                 "# a call with other inputs in between (as the check does)",
                 "x_o = np.ones((x.shape[0], max(x.shape[1], 1), x.shape[2]), x.dtype)",
                 "h0_o = np.where(h0 >= 0, h0 - 1, h0 + 1).astype(h0.dtype)",
                 "p_o = GRUParams.random(params.D, params.H, seed=0, scale=1.0, dtype=params.dtype)",
                 other,
                 "again, _ = run(x, h0)",
                 "np.testing.assert_array_equal(again, first)  # the same inputs must give the same answer"]
    elif prop in ("matches_reference", "matches_reference_at_extremes") or (
            prop == "update_gate_saturation" and failure.extra.get("expected") == "reference"):
        body += ["hs, h_T = run(x, h0)"] + reference_code(conv)
        if failure.extra.get("low_precision", low):
            body += slack_code(conv)
        slack = "slack" if failure.extra.get("low_precision", low) else None
        if mm is not None and mm.name == "h_T":
            body += close_code("h_T", "hT_ref", rtol, atol, "slack[:, -1]" if slack else None)
        else:
            body += close_code("hs", "hs_ref", rtol, atol, slack)
    elif prop == "update_gate_saturation":
        body += ["hs, h_T = run(x, h0)",
                 "expected = np.repeat(h0[:, None, :].astype(np.float64), x.shape[1], axis=1)  "
                 "# a saturated 'keep' gate: every h_t is h0"]
        body += close_code("hs", "expected", rtol, atol, None)
    elif prop == "reset_gate_zero":
        body += ["hs_a, _ = run(x, h0)",
                 "hs_b, _ = run(x, np.where(h0 >= 0, h0 - 1, h0 + 1).astype(h0.dtype))  # another h0",
                 "expected = np.asarray(hs_a, dtype=np.float64)"]
        body += close_code("hs_b", "expected", rtol, atol, None)
    elif prop == "batch_rows_independent":
        if "alone" in failure.message:
            body += ["hs, _ = run(x, h0)", "hs_alone, _ = run(x[:1], h0[:1])  # batch row 0 on its own",
                     "expected = np.asarray(hs, dtype=np.float64)[:1]"]
            body += close_code("hs_alone", "expected", rtol, atol, None)
        else:
            body += ["hs, _ = run(x, h0)", "hs_flipped, _ = run(x[::-1], h0[::-1])",
                     "expected = np.asarray(hs, dtype=np.float64)[::-1]"]
            body += close_code("hs_flipped", "expected", rtol, atol, None)
    elif prop == "final_state_is_last":
        body += ["hs, h_T = run(x, h0)", "expected = np.asarray(hs, dtype=np.float64)[:, -1]"]
        body += close_code("h_T", "expected", rtol, atol, None)
    elif prop == "inputs_unchanged":
        call = "fn(x[:, 0], h0, params)" if step else "fn(x, h0, params)"
        body += ["x_before, h0_before = x.copy(), h0.copy()",
                 "params_before = {k: v.copy() for k, v in params.arrays().items()}",
                 f"{call}  # the arguments themselves, not copies",
                 "np.testing.assert_array_equal(x, x_before)",
                 "np.testing.assert_array_equal(h0, h0_before)",
                 "for k, v in params.arrays().items():",
                 "    np.testing.assert_array_equal(v, params_before[k], err_msg=f'params.{k}')"]
    elif prop == "empty_sequence":
        body += ["hs, h_T = run(x, h0)  # T = 0",
                 f"assert np.shape(hs) == ({case.B}, 0, {case.H}), np.shape(hs)",
                 "if h_T is not None:", "    np.testing.assert_allclose(h_T, h0)"]
    elif prop == "accepts_h0_none":
        body += ["hs_zeros, hT_zeros = run(x, np.zeros_like(h0))",
                 "hs_none, hT_none = run(x, None)  # None must mean zeros",
                 "expected = np.asarray(hs_zeros, dtype=np.float64)"]
        body += close_code("hs_none", "expected", rtol, atol, None)
    elif prop == "dtype_preserved":
        body += ["hs, h_T = run(x, h0)",
                 "assert np.asarray(hs).dtype == x.dtype, (np.asarray(hs).dtype, x.dtype)",
                 "assert h_T is None or np.asarray(h_T).dtype == x.dtype, (np.asarray(h_T).dtype, x.dtype)"]
    elif prop == "finite_and_bounded":
        body += ["hs, _ = run(x, h0)", "hs = np.asarray(hs, dtype=np.float64)",
                 "assert np.all(np.isfinite(hs)), 'not finite'",
                 "prev = np.concatenate([h0[:, None, :], hs[:, :-1]], axis=1)",
                 f"assert np.all(np.abs(hs) <= np.maximum(np.abs(prev), 1) + {atol!r}), 'out of bounds'"]
    elif prop == "output_contract":
        shape = f"({case.B}, {case.T}, {case.H})"
        body += ["hs, h_T = run(x, h0)  # raises, or returns the wrong type or shape",
                 f"assert isinstance(hs, np.ndarray) and hs.shape == {shape}, (type(hs), getattr(hs, 'shape', None))"]
    else:
        return None
    return "\n".join(head + [""] + body)
