"""Reproduction snippets for ``check_implementation``: plain NumPy code that shows a forward failure
again, outside the checker, with the same reference and tolerance (see ``engine.snippet``)."""

from __future__ import annotations

from typing import Any, List, Optional

from gru_props.engine.conventions import Convention
from gru_props.engine.model import Context, Failure
from gru_props.engine.snippet import array_code, close_code, import_lines, params_code, tolerance_code


def reference_code(conv: Convention, x: str = "x", h0: str = "h0", p: str = "params") -> List[str]:
    """Lines computing ``hs_ref, hT_ref``: Level 1 in float64 in the convention ``conv``."""
    lines = [f"p64 = {p}.astype(np.float64)"]
    if conv.chung:
        lines.append("p64 = p64.replace(W_z=-p64.W_z, U_z=-p64.U_z, b_z=-p64.b_z)  "
                     "# Chung's form is the standard GRU with z negated")
    lines.append(f"hs_ref, hT_ref = level1.gru_forward({x}.astype(np.float64), {h0}.astype(np.float64), "
                 f"p64, reset_after={conv.reset_after})")
    return lines


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
    tol_lines, rtol, atol, slack, judged = tolerance_code(
        failure.extra.get("allowed"), (mm.rtol, mm.atol) if mm is not None else ctx.tolerance(case.dtype))

    def close(got: str, expected: str) -> List[str]:
        return tol_lines + close_code(got, expected, rtol, atol, slack, judged)

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
        if mm is not None and mm.name == "h_T":
            body += close("h_T", "hT_ref")
        else:
            body += close("hs", "hs_ref")
    elif prop == "update_gate_saturation":
        body += ["hs, h_T = run(x, h0)",
                 "expected = np.repeat(h0[:, None, :].astype(np.float64), x.shape[1], axis=1)  "
                 "# a saturated 'keep' gate: every h_t is h0"]
        body += close("hs", "expected")
    elif prop == "reset_gate_zero":
        body += ["hs_a, _ = run(x, h0)",
                 "hs_b, _ = run(x, np.where(h0 >= 0, h0 - 1, h0 + 1).astype(h0.dtype))  # another h0",
                 "expected = np.asarray(hs_a, dtype=np.float64)"]
        body += close("hs_b", "expected")
    elif prop == "batch_rows_independent":
        if "alone" in failure.message:
            body += ["hs, _ = run(x, h0)", "hs_alone, _ = run(x[:1], h0[:1])  # batch row 0 on its own",
                     "expected = np.asarray(hs, dtype=np.float64)[:1]"]
            body += close("hs_alone", "expected")
        else:
            body += ["hs, _ = run(x, h0)", "hs_flipped, _ = run(x[::-1], h0[::-1])",
                     "expected = np.asarray(hs, dtype=np.float64)[::-1]"]
            body += close("hs_flipped", "expected")
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
        body += close("hs_none", "expected")
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
