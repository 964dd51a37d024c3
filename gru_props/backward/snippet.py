"""Reproduction snippets for ``check_gradients``: plain NumPy code that shows a gradient failure
again, outside the checker, with the same reference gradient and tolerance."""

from __future__ import annotations

from typing import Any, Optional

from gru_props.backward.properties import grad_tolerance
from gru_props.engine.model import Context, Failure
from gru_props.engine.snippet import array_code, import_lines, params_code


# ---------------------------------------------------------------- snippet
def gradient_snippet(fn: Any, step: bool, ctx: Context, failure: Failure) -> Optional[str]:
    case = failure.case
    if case is None or failure.property in ("deterministic", "dtype_preserved", "accepts_none"):
        return None
    conv = failure.convention or ctx.primary
    dt = f"np.{case.params.dtype}"
    lines = ["import numpy as np", "from gru_props import GRUParams, level1"] + import_lines(fn)
    lines += ["", f"x = {array_code(case.x, dt)}", f"h0 = {array_code(case.h0, dt)}",
              f"params = {params_code(case.params, dt)}", f"dhs = {array_code(case.dhs, dt)}",
              f"dh_T = {array_code(case.dh_T, dt)}", ""]
    if step:
        lines += ["dx_t, dh_prev, grads = fn(x[:, 0].copy(), h0.copy(), params, dhs[:, 0].copy())",
                  "got = {'dx': np.asarray(dx_t)[:, None], 'dh0': dh_prev}"]
    else:
        lines += ["dx, dh0, grads = fn(x.copy(), h0.copy(), params, dhs.copy(), dh_T.copy())",
                  "got = {'dx': dx, 'dh0': dh0}"]
    lines += ["grads = grads.arrays() if hasattr(grads, 'arrays') else grads",
              "got.update({k: grads[k] for k in params.arrays()})"]
    if ctx.extra.get("forward_fn") is not None:
        lines += ["# the oracle: central finite differences of your own forward, in float64",
                  "from gru_props.backward.properties import finite_differences",
                  "from gru_props.backward.case import GradCase",
                  "forward_fn = ...  # your forward function, as passed to check_gradients",
                  f"expected = finite_differences(forward_fn, {step}, GradCase(x, h0, params, dhs, dh_T, {step}))"]
        rtol, atol = 1e-5, 1e-7
    else:
        lines += ["p64 = params.astype(np.float64)"]
        if conv.chung:
            lines.append("p64 = p64.replace(W_z=-p64.W_z, U_z=-p64.U_z, b_z=-p64.b_z)  "
                         "# Chung's form is the standard GRU with z negated")
        lines += [f"dx64, dh064, g64 = level1.gru_backward(x.astype(np.float64), h0.astype(np.float64), p64, "
                  f"dhs.astype(np.float64), dh_T.astype(np.float64), reset_after={conv.reset_after})",
                  "expected = {'dx': dx64, 'dh0': dh064, **g64.arrays()}"]
        if conv.chung:
            lines.append("for k in ('W_z', 'U_z', 'b_z'):  # back to Chung's z\n    expected[k] = -expected[k]")
        mm = failure.mismatch
        rtol, atol = (mm.rtol, mm.atol) if mm is not None else grad_tolerance(ctx, case.dtype)
    name = {"dx_t": "dx", "dh_prev": "dh0"}.get(failure.parameter or "", failure.parameter)
    if name is None:
        return "\n".join(lines)
    low = failure.extra.get("low_precision", False)
    if low:
        lines += ["# float32 is involved: the check also allows 4x the drift of our own float32 backward passes",
                  "slack_note = 'see gru_props.backward.properties.gradient_slack'"]
    scale = "max(1.0, float(np.max(np.abs(expected[name]))))"
    lines += [f"name = {name!r}",
              f"bad = ~(np.abs(np.asarray(got[name], dtype=np.float64) - expected[name]) <= "
              f"{atol!r} * {scale} + {rtol!r} * np.abs(expected[name]))",
              "assert not bad.any(), f\"{name}: {bad.sum()} element(s) wrong, the first at "
              "{tuple(int(i) for i in np.argwhere(bad)[0])}\""]
    return "\n".join(lines)
