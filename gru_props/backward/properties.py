"""The properties ``check_gradients`` holds a backward pass to.

The oracle is an exact float64 gradient: Level 1's BPTT in the convention
the function follows (Chung's form by relabelling z), or, for a GRU variant
with no reference (``forward_fn=``), central finite differences of the
user's own forward in float64. Every gradient the function returns (dx,
dh0 and the ten parameter gradients) is compared element by element; a
failure names the worst one, its element and what that element means
(which gate, which unit), and lists the other wrong gradients.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from hypothesis import strategies as st

from gru_props.backward.case import GradCase
from gru_props.backward.subject import GradOutcome
from gru_props.core.params import _BIASES, _FIELDS, GRUParams
from gru_props.engine.calls import Hang
from gru_props.engine.checks import contract_failure as _contract_failure
from gru_props.engine.checks import (
    dtype_at_empty,
    empty_sequence_failure,
    float32_only,
    float32_values,
    inputs_unchanged,
)
from gru_props.engine.compare import Mismatch, compare, compare_allowed
from gru_props.engine.conventions import Convention
from gru_props.engine.model import NA, Context, Failure, Property, Verdict
from gru_props.engine.profiles import SIZES, SMALL, Sizes
from gru_props.engine.report import user_place
from gru_props.engine.tolerance import (
    Allowed,
    allowed_for,
    dot_rounding,
    estimate,
    flat,
    precision_of,
    rounding_only,
)
from gru_props.strategies import (
    _arrays,
    _values,
    dims,
    extreme_gru_cases,
    float_dtypes,
    gru_cases,
    seeded_gru_cases,
)
from gru_props.tiers import level1, level3
from gru_props.tiers.variants import textbook

#: Central finite differences in float64: step and tolerance (measured: a correct float64 backward agrees
#: to ~2e-10 at this step).
FD_STEP = 1e-5
FD_RTOL, FD_ATOL = 1e-5, 1e-7

_GATES = {"z": "update gate z", "r": "reset gate r", "n": "candidate n"}


# ----------------------------------------------------------------- helpers
def run(ctx: Context, case: GradCase, check_mutation: bool = False, none: bool = False) -> GradOutcome:
    out = ctx.subject.run(case, check_mutation=check_mutation, none=none)
    ctx.record_warnings(out.warnings)
    return out


_GRAD_READ_ONLY_HINTS: Tuple[str, str, str] = (
    "Which of your operations work in place (+=, out=, slice assignment)?",
    "A backward pass reads the parameters; it must not change them (nor x, h0, dhs, dh_T).",
    "Accumulate into new arrays: dW = np.zeros_like(params.W_z); dW += x_t.T @ da.",
)


def contract_failure(case: GradCase, out: GradOutcome, where: str = "") -> Optional[Failure]:
    return _contract_failure(case, out, where, read_only_hints=_GRAD_READ_ONLY_HINTS)


def grad_tolerance(ctx: Context, *dtypes: Any) -> Tuple[float, float]:
    """The flat (rtol, atol) of gradients of the least precise of ``dtypes`` (atol before scaling)."""
    rtol, atol = flat(precision_of(*dtypes), gradients=True)
    return (ctx.rtol if ctx.rtol is not None else rtol, ctx.atol if ctx.atol is not None else atol)


def element_meaning(name: str, index: Tuple[int, ...], step: bool) -> str:
    """What one element of a gradient stands for, in the GRU's terms."""
    if name == "dx":
        return (f"batch row {index[0]}, input feature {index[-1]}" if step
                else f"batch row {index[0]}, step t={index[1]}, input feature {index[2]}")
    if name == "dh0":
        return f"batch row {index[0]}, unit {index[1]} of {'h_prev' if step else 'h0'}"
    kind, gate = name.split("_", 1)
    if name == "b_hn":
        return f"unit {index[0]} of the candidate's recurrent bias (inside r in reset_after=True)"
    what = _GATES[gate]
    if kind == "W":
        return f"input feature {index[0]} -> {what}, unit {index[1]}"
    if kind == "U":
        return f"unit {index[0]} of h_(t-1) -> {what}, unit {index[1]}"
    return f"{what}, unit {index[0]}"


def display(name: str, step: bool) -> str:
    """The user's name for a returned gradient (step form: dx_t, dh_prev)."""
    if step:
        return {"dx": "dx_t", "dh0": "dh_prev"}.get(name, name)
    return name


def _index_text(name: str, idx: Tuple[int, ...], step: bool) -> str:
    if step and name == "dx" and len(idx) == 3:
        idx = (idx[0], idx[2])
    return f"{display(name, step)}[{', '.join(map(str, idx))}]"


# --------------------------------------------------------------- references
def _relabel(arrays: Dict[str, np.ndarray], conv: Convention) -> Dict[str, np.ndarray]:
    if conv.chung:
        arrays = dict(arrays)
        for k in ("W_z", "U_z", "b_z"):
            arrays[k] = -arrays[k]
    return arrays


def reference_gradients(case: GradCase, conv: Convention, dtype: Any = np.float64) -> Dict[str, np.ndarray]:
    """dL/d(x, h0, params) of ``L = sum(hs * dhs) + sum(h_T * dh_T)`` in ``conv``, by Level 1 (or Level 3
    for a low-precision run), as arrays by name ("dx", "dh0", field names)."""
    return _tier_gradients(level1 if np.dtype(dtype) == np.float64 else level3, conv, dtype)(
        x=case.x, h0=case.h0, params=case.params, dhs=case.dhs, dh_T=case.dh_T)


def _tier_gradients(tier: Any, conv: Convention, dtype: Any) -> Callable[..., Dict[str, np.ndarray]]:
    dt = np.dtype(dtype)

    def gradients(x: np.ndarray, h0: np.ndarray, params: GRUParams, dhs: np.ndarray,
                  dh_T: np.ndarray) -> Dict[str, np.ndarray]:
        p = conv.standard_params(params.astype(dt))
        with np.errstate(all="ignore"):
            dx, dh0, grads = tier.gru_backward(np.asarray(x).astype(dt), np.asarray(h0).astype(dt), p,
                                               np.asarray(dhs).astype(dt), np.asarray(dh_T).astype(dt),
                                               conv.reset_after)
        return _relabel({"dx": dx, "dh0": dh0, **grads.arrays()}, conv)

    return gradients


class GradExpected(NamedTuple):
    """The float64 reference gradients in one convention and what a correct backward may differ by."""

    arrays: Dict[str, np.ndarray]
    allowed: Dict[str, Allowed]


_EXPECTED: "weakref.WeakKeyDictionary[GradCase, Dict[Any, GradExpected]]" = weakref.WeakKeyDictionary()
_SMOOTHING = {"dx": (2,), "dh0": (1,), **{k: () for k in _FIELDS}}


def expected_gradients(ctx: Context, case: GradCase, conv: Convention, dtypes: Tuple[Any, ...]) -> GradExpected:
    """The reference gradients in ``conv`` and the tolerance of a backward whose arrays are ``dtypes``.

    The tolerance follows the computation (``engine.tolerance``): the flat
    tolerance of the least precise dtype (atol scaled by each gradient's
    largest magnitude) plus eight times this case's error estimate; elements
    too ill-conditioned to judge are left out. Cached per case.
    """
    precision = precision_of(*dtypes)
    key = (conv, precision, ctx.rtol, ctx.atol)
    cached = _EXPECTED.setdefault(case, {})
    if key in cached:
        return cached[key]
    exact = _tier_gradients(level1, conv, np.float64)
    tiers = ([_tier_gradients(level1, conv, np.float32), _tier_gradients(level3, conv, np.float32),
              _tier_gradients(textbook, conv, np.float32)]
             if precision.itemsize < 8 else [_tier_gradients(level3, conv, np.float64)])
    inputs = dict(x=case.x, h0=case.h0, params=case.params, dhs=case.dhs, dh_T=case.dh_T)
    est = estimate(exact, inputs, tiers, precision, smoothing=_SMOOTHING, perturb=dot_rounding(case, precision))
    arrays = exact(**inputs)
    allowed = {k: allowed_for(v, est[k], precision, scale=max(1.0, float(np.max(np.abs(v), initial=0.0))),
                              gradients=True, rtol=ctx.rtol, atol=ctx.atol) for k, v in arrays.items()}
    result = GradExpected(arrays, allowed)
    cached[key] = result
    return result


def _loss(forward: Callable[..., Any], step: bool, x: np.ndarray, h0: np.ndarray, params: GRUParams,
          dhs: np.ndarray, dh_T: np.ndarray) -> float:
    from gru_props.engine.subject import as_float_array

    if step:
        h = as_float_array(forward(x[:, 0, :], h0, params), "forward_fn's h_t")
        return float(np.sum(h * dhs[:, 0, :]))
    value = forward(x, h0, params)
    hs = as_float_array(value[0] if isinstance(value, tuple) else value, "forward_fn's hs")
    h_T = as_float_array(value[1] if isinstance(value, tuple) and len(value) == 2
                         else (hs[:, -1] if hs.shape[1] else h0), "forward_fn's h_T")
    if hs.dtype != np.float64 or h_T.dtype != np.float64:
        raise ValueError(f"forward_fn returned {hs.dtype} for float64 input: finite differences need float64 "
                         "(in float32 they are off by 2e-2 relative at best); make it keep float64.")
    return float(np.sum(hs * dhs) + np.sum(h_T * dh_T))


def finite_differences(forward: Callable[..., Any], step: bool, case: GradCase) -> Dict[str, np.ndarray]:
    """Central finite differences (step ``FD_STEP`` relative to each value's size) of the loss, every scalar.

    ``forward`` is the user's own forward (called directly: it is reached only
    through ``Caller`` by ``fd_reference``).
    """
    c = case.astype(np.float64)
    arrays = {"dx": c.x, "dh0": c.h0, **c.params.arrays()}
    out: Dict[str, np.ndarray] = {}
    for name, base in arrays.items():
        grad = np.zeros(base.shape)
        for index in range(base.size):
            value = base.flat[index]
            eps = FD_STEP * max(1.0, abs(value))
            losses = []
            for sign in (1.0, -1.0):
                trial = base.copy()
                trial.flat[index] = value + sign * eps
                x, h0, p = c.x, c.h0, c.params
                if name == "dx":
                    x = trial
                elif name == "dh0":
                    h0 = trial
                else:
                    p = p.replace(**{name: trial})
                losses.append(_loss(forward, step, x, h0, p, c.dhs, c.dh_T))
            grad.flat[index] = (losses[0] - losses[1]) / (2 * eps)
        out[name] = grad
    return out


# ---------------------------------------------------------------- comparing
def compare_gradients(ctx: Context, case: GradCase, out: GradOutcome, expected: Dict[str, np.ndarray],
                      allowed: Dict[str, Allowed], equal_nan: bool = False) -> List[Tuple[str, Mismatch, float]]:
    """Every wrong gradient as (name, mismatch, badness), worst first.

    ``allowed`` gives each gradient's tolerance (``engine.tolerance.Allowed``);
    badness is the worst error relative to the gradient's scale, so "worst"
    means most wrong for its size, not largest. Without biases (``bias=False``)
    the bias gradients are not compared: a returned one must be zero (or
    absent), which ``bias_free_gradients`` checks.
    """
    assert out.arrays is not None
    wrong = []
    step = case.step
    for name, exp in expected.items():
        if (not ctx.bias and name in _BIASES) or (ctx.zero_h0 and name == "dh0"):
            continue
        got, tol = out.arrays[name], allowed[name]
        if step and name == "dx":  # the step form's dx_t is (B, D)
            got, exp, tol = got[:, 0], exp[:, 0], tol.part((slice(None), 0))
        label = display(name, step)
        if name in out.tied:  # the layout's two gradients for this field disagreed: the wrong one is shown
            a_name, a, b_name, b = out.tied[name]
            mm_a = compare_allowed(f"{name}, as {a_name}", a, exp, tol, equal_nan=equal_nan)
            mm_b = compare_allowed(f"{name}, as {b_name}", b, exp, tol, equal_nan=equal_nan)
            mm = mm_b if mm_b is not None and (mm_a is None or mm_b.worst_abs >= mm_a.worst_abs) else mm_a
        else:
            mm = compare_allowed(label, got, exp, tol, equal_nan=equal_nan)
        if mm is not None:
            wrong.append((name, mm, mm.worst_abs / max(float(np.max(np.abs(exp), initial=0.0)), 1e-12)))
    wrong.sort(key=lambda item: -item[2])
    return wrong


def flat_allowed(ctx: Context, expected: Dict[str, np.ndarray], dtypes: Tuple[Any, ...],
                 tolerance: Optional[Tuple[float, float]] = None) -> Dict[str, Allowed]:
    """Flat tolerances (atol scaled by each gradient's magnitude), for comparisons with no reference."""
    precision = precision_of(*dtypes)
    out = {}
    for name, exp in expected.items():
        scale = max(1.0, float(np.max(np.abs(exp), initial=0.0))) if np.all(np.isfinite(exp)) else 1.0
        rtol, atol = tolerance if tolerance is not None else (ctx.rtol, ctx.atol)
        out[name] = allowed_for(exp, None, precision, scale=scale, gradients=True, rtol=rtol,
                                atol=None if atol is None else atol * scale)
    return out


def gradient_failure(prop: str, what: str, case: GradCase, out: GradOutcome, expected: Dict[str, np.ndarray],
                     wrong: List[Tuple[str, Mismatch, float]], conv: Optional[Convention], step: bool,
                     fn: Any = None) -> Failure:
    """The failure of the worst wrong gradient; with ``fn`` (the checked function), named in its layout too."""
    name, mm, _ = wrong[0]
    idx = mm.worst_abs_index
    if mm.expected_at_worst != 0:
        rel = abs(mm.got_at_worst - mm.expected_at_worst) / abs(mm.expected_at_worst)
        errors = f"absolute error {mm.worst_abs:.3g}, relative {rel:.3g}"
    else:
        errors = f"absolute error {mm.worst_abs:.3g}; the expected value is 0"
    where = _index_text(name, idx, step)
    if mm.name.startswith(f"{name}, as "):  # one of a layout's two gradients for this field
        user = mm.name[len(f"{name}, as "):]
        where += f", returned as {user}[{', '.join(map(str, idx))}]"
    meaning = element_meaning(name, idx, step)
    place = (user_place(fn, display(name, step), tuple(int(i) for i in idx), case.D, case.H,
                        gradient=name not in ("dx", "dh0")) if fn is not None else None)
    if place is not None:
        where, meaning = place, f"{where} in gru_props' names: {meaning}"
    message = (f"{what}\nThe worst is {where} ({meaning}): "
               f"expected {mm.expected_at_worst!r}, got {mm.got_at_worst!r} ({errors}); {mm.mismatched} of "
               f"{mm.total} elements of {display(name, step)} are wrong.")
    others = []
    for other, omm, _ in wrong[1:]:
        oidx = omm.worst_abs_index
        others.append(f"{display(other, step)}: {omm.mismatched} of {omm.total} wrong, worst "
                      f"{_index_text(other, oidx, step)} ({element_meaning(other, oidx, step)}): expected "
                      f"{omm.expected_at_worst:.6g}, got {omm.got_at_worst:.6g}")
    right = [display(n, step) for n in expected if n not in {w[0] for w in wrong}]
    assert out.arrays is not None
    got, exp = out.arrays[name], expected[name]
    if name in out.tied:
        a_name, a, _, b = out.tied[name]
        got = a if mm.name.endswith(f"as {a_name}") else b
    if step and name == "dx":
        got, exp = got[:, 0], exp[:, 0]
    failure = Failure(prop, message, case, got=got, expected=exp, mismatch=mm,
                      convention=conv, parameter=display(name, step), index=tuple(int(i) for i in idx),
                      others=tuple(others))
    if place is not None:
        failure.extra["place"], failure.extra["place_said"] = place, True
    failure.extra["wrong"] = tuple(w[0] for w in wrong)
    failure.extra["right"] = tuple(right)
    return failure


def against_conventions(ctx: Context, prop: str, case: GradCase, out: GradOutcome, what: str,
                        fit: bool = False) -> Verdict:
    """None if the gradients agree with the oracle of any candidate convention, else the failure (``NA``
    when the case amplifies rounding so much that nothing can be judged)."""
    dtypes = (case.dtype,) + tuple(out.dtypes)
    forward = ctx.extra.get("forward_fn")
    if forward is not None:  # self-consistency: finite differences of the user's own forward
        expected = fd_reference(ctx, case)
        wrong = compare_gradients(ctx, case, out, expected, flat_allowed(
            ctx, expected, dtypes, (max(flat(precision_of(*dtypes), True)[0], FD_RTOL), FD_ATOL)))
        if not wrong:
            return None
        return gradient_failure(prop, what.replace("{oracle}", "central finite differences of forward_fn"),
                                case, out, expected, wrong, None, ctx.subject.step, fn=ctx.subject.fn)
    first: Optional[Failure] = None
    distances: Dict[Convention, float] = {}
    agreed = False
    judged = 0
    convs = ctx.conventions()
    for conv in convs:
        exp = expected_gradients(ctx, case, conv, dtypes)
        if not _judges_anything(ctx, exp):
            continue
        judged += 1
        wrong = compare_gradients(ctx, case, out, exp.arrays, exp.allowed)
        if not wrong:
            agreed = True
            if not fit:
                return None
            ctx.fits[conv] = ctx.fits.get(conv, 0) + 1
            continue
        distances[conv] = wrong[0][1].worst_abs
        if first is None:
            first = gradient_failure(prop, what.replace("{oracle}", f"the reference gradient ({conv.short()})"),
                                     case, out, exp.arrays, wrong, conv, ctx.subject.step, fn=ctx.subject.fn)
            first.extra["allowed"] = exp.allowed[wrong[0][0]]
            first.extra["precision"] = str(precision_of(*dtypes))
    if fit and judged:
        ctx.fit_trials += 1
    if agreed:
        return None
    if first is None:
        return NA
    first.distances = distances
    refs = [expected_gradients(ctx, case, c, dtypes).arrays for c in convs if c in distances]
    apart = max((max(float(np.max(np.abs(a[k] - b[k]), initial=0.0)) for k in a) for a in refs for b in refs),
                default=0.0)
    first.extra["conventions_apart"] = apart
    ctx.vote_closest(distances, apart)
    if precision_of(*dtypes).itemsize == 8 and ctx.rtol is None and ctx.atol is None:
        for conv in convs:
            exact = expected_gradients(ctx, case, conv, dtypes)
            low = expected_gradients(ctx, case, conv, (np.float32,))
            if not compare_gradients(ctx, case, out, low.arrays, low.allowed) and _looks_rounded(ctx, out, exact,
                                                                                                   low):
                return float32_only(prop, case, first)
    return first


def _judges_anything(ctx: Context, exp: GradExpected) -> bool:
    return any(a.judged is None or bool(np.any(a.judged)) for k, a in exp.allowed.items()
               if ctx.bias or k not in _BIASES)


def _looks_rounded(ctx: Context, out: GradOutcome, exact: GradExpected, low: GradExpected) -> bool:
    """Evidence that a float64 backward computed in float32: every value it returned is a float32 number, or
    every gradient is off from the float64 reference by more than float64 rounding (one wrong gradient among
    exact ones is a bug, not precision) and by no more than float32 rounding explains on this case (``low``;
    a bug with a small effect is not precision)."""
    assert out.arrays is not None
    if all(float32_values(a) for a in out.arrays.values()):
        return True  # float32 results cast to float64
    judged = [name for name, ref in exact.arrays.items() if not (not ctx.bias and name in _BIASES)]
    for name in judged:
        ref = exact.arrays[name]
        if np.any(ref != 0) and compare_allowed(name, out.arrays[name], ref, exact.allowed[name]) is None:
            return False
    for name in judged:
        ref = exact.arrays[name]
        scale = float(np.max(np.abs(ref), initial=0.0))
        if compare_allowed(name, out.arrays[name], ref, rounding_only(low.allowed[name], scale)) is not None:
            return False
    return True


def fd_reference(ctx: Context, case: GradCase) -> Dict[str, np.ndarray]:
    """Finite differences of ``forward_fn``, computed through the caller (time limit and budget hold)."""
    forward = ctx.extra["forward_fn"]
    step = ctx.subject.step
    caller = ctx.subject.caller
    # Two forward calls per scalar, each allowed the per-call time limit.
    n = case.x.size + case.h0.size + sum(a.size for a in case.params.arrays().values())
    limit = None if caller.timeout is None else caller.timeout * max(1, 2 * n)
    try:
        result = caller.call_limited(limit, finite_differences, forward, step, case)
    except Hang as hang:
        hang.what = ("forward_fn (the oracle's forward pass, called twice per scalar for finite differences; "
                     f"{2 * n} calls were allowed {limit:g} s in all)" if limit is not None else "forward_fn")
        raise
    if result.error is not None:
        raise _ForwardFailed(result.error)
    return result.value


class _ForwardFailed(Exception):
    """forward_fn raised or returned something unusable while finite differences were taken."""


# --------------------------------------------------------------- properties
def _checked(ctx: Context, case: GradCase, prop: str, what: str, fit: bool = False) -> Verdict:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    return _compared(ctx, case, out, prop, what, fit)


def _compared(ctx: Context, case: GradCase, out: GradOutcome, prop: str, what: str, fit: bool = False) -> Verdict:
    failure = _bias_contract(ctx, case, out)
    if failure:
        return failure
    try:
        return against_conventions(ctx, prop, case, out, what, fit=fit)
    except _ForwardFailed as exc:
        return Failure("output_contract", f"forward_fn (the oracle's forward pass) {exc}", case, kind="contract")


def _bias_contract(ctx: Context, case: GradCase, out: GradOutcome) -> Optional[Failure]:
    """Bias gradients left out need ``bias=False``; with ``bias=False`` a returned one must be zero."""
    assert out.arrays is not None
    if ctx.bias and out.absent:
        return Failure("output_contract", f"the returned grads has no {list(out.absent)}: a GRU with biases has "
                                          "gradients for them. For a cell without biases, check with bias=False "
                                          "(--no-bias).", case, kind="contract")
    if not ctx.bias:
        for name in _BIASES:
            if name not in out.absent and np.any(out.arrays[name] != 0):
                idx = tuple(int(i) for i in np.argwhere(out.arrays[name] != 0)[0])
                return Failure(
                    "output_contract",
                    f"checked with bias=False (a cell without biases), yet grads[{name!r}]{list(idx)} = "
                    f"{float(out.arrays[name][idx])!r}: a bias-free cell has no bias gradients, so return zeros "
                    "or leave them out. If your cell has biases, drop bias=False.", case, kind="contract",
                    parameter=name, index=idx)
    return None


def _output_contract(ctx: Context, case: GradCase) -> Optional[Failure]:
    out = run(ctx, case)
    return contract_failure(case, out) or _bias_contract(ctx, case, out)


def _matches(ctx: Context, case: GradCase) -> Verdict:
    return _checked(ctx, case, "gradients_match_reference",
                    "with a loss on every step, the gradients differ from {oracle}.", fit=True)


def _last_step(ctx: Context, case: GradCase) -> Verdict:
    return _checked(ctx, case, "gradients_with_loss_on_last_state",
                    "with a loss on the final state only (dhs = 0, dh_T given), the gradients differ from "
                    "{oracle}: the gradient must flow back through every step.")


def _extremes(ctx: Context, case: GradCase) -> Verdict:
    return _checked(ctx, case, "gradients_at_extremes",
                    "with weights and inputs up to 1e3 (saturated gates), the gradients differ from {oracle}.")


def _inputs_unchanged(ctx: Context, case: GradCase) -> Optional[Failure]:
    return inputs_unchanged(ctx, case, run, contract_failure)


def _deterministic(ctx: Context, case: GradCase) -> Optional[Failure]:
    first = run(ctx, case)
    failure = contract_failure(case, first)
    if failure:
        return failure
    other = GradCase(np.ones_like(case.x), np.where(case.h0 >= 0, case.h0 - 1, case.h0 + 1).astype(case.h0.dtype),
                     GRUParams.random(case.D, case.H, seed=0, scale=1.0, dtype=case.params.dtype),
                     np.ones_like(case.dhs), np.ones_like(case.dh_T), case.step)
    run(ctx, other)
    again = run(ctx, case)
    failure = contract_failure(case, again)
    if failure:
        return failure
    assert first.arrays is not None and again.arrays is not None
    for name, arr in first.arrays.items():
        if not np.array_equal(arr, again.arrays[name], equal_nan=True):
            mm = compare(name, again.arrays[name], arr, 0.0, 0.0)
            return Failure("deterministic",
                           "calling the function again with the same inputs (after one call with other inputs) "
                           f"gave a different {display(name, case.step)} ('expected' is the first call, 'got' "
                           "the third).", case, got=again.arrays[name], expected=arr, mismatch=mm,
                           diagnosis="nondeterministic", kind="behaviour", parameter=display(name, case.step),
                           index=None if mm is None else mm.worst_abs_index)
    return None


_EMPTY_HINTS = ("What does your backward return when x has no time steps?",
                "T = 0: dx has shape (B, 0, D), dh0 = dh_T, every parameter gradient is zero.",
                "Allocate the gradients with np.zeros and skip the loop; return dh_T as dh0.")


def _empty_sequence(ctx: Context, case: GradCase) -> Verdict:
    out = run(ctx, case)
    one = GradCase(np.zeros((case.B, 1, case.D), case.x.dtype), case.h0, case.params,
                   np.zeros((case.B, 1, case.H), case.dhs.dtype), case.dh_T)
    out_one = run(ctx, one)
    if out_one.error is not None:
        return contract_failure(one, out_one)
    if out.error is not None:
        return empty_sequence_failure(case, out, _EMPTY_HINTS)
    changed = dtype_at_empty(case, out.dtypes, out_one.dtypes)
    if changed is not None:
        return changed
    return _compared(ctx, case, out, "empty_sequence",
                     "with T = 0 (no step), dh0 must be dh_T and every other gradient zero, as {oracle} says.")


def _accepts_none(ctx: Context, case: GradCase) -> Verdict:
    zero = GradCase(case.x, np.zeros_like(case.h0), case.params, case.dhs, np.zeros_like(case.dh_T), case.step)
    with_zeros = run(ctx, zero)
    if with_zeros.error is not None:
        return contract_failure(zero, with_zeros)
    with_none = run(ctx, zero, none=True)
    names = "h_prev=None" if case.step else "h0=None and dh_T=None"
    if with_none.error is not None:
        return NA  # a backward need not accept None; one that does must treat it as zeros
    dtypes = (zero.dtype,) + tuple(with_none.dtypes) + tuple(with_zeros.dtypes)
    assert with_zeros.arrays is not None
    # Two runs of the function: twice the rounding the case allows against the reference, NaN equal to NaN.
    allowed = {k: a.scaled(2.0) for k, a in expected_gradients(ctx, zero, ctx.primary, dtypes).allowed.items()}
    wrong = compare_gradients(ctx, zero, with_none, {k: v.astype(np.float64) for k, v in with_zeros.arrays.items()},
                              allowed, equal_nan=True)
    if not wrong:
        return None
    failure = gradient_failure("accepts_none", f"{names} must mean zeros, but the gradients differ from the call "
                               "with zeros ('expected' is the call with zeros).", zero, with_none,
                               with_zeros.arrays, wrong, None, case.step, fn=ctx.subject.fn)
    failure.kind = "value"
    return failure


def _dtype_preserved(ctx: Context, case: GradCase) -> Optional[Failure]:
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        c = case.astype(dtype)
        out = run(ctx, c)
        failure = contract_failure(c, out)
        if failure:
            return failure
        wrong = sorted({str(d) for d in out.dtypes if d != dtype})
        if wrong:
            return Failure("dtype_preserved", f"{dtype} inputs gave gradients of dtype {', '.join(wrong)}; the "
                                              "contract is float32 in, float32 out; float64 in, float64 out.",
                           c, kind="contract", warning=True)
    return None


# ------------------------------------------------------------------ catalog
@st.composite
def _with_upstream(draw: Any, base: st.SearchStrategy[Any], seeded: bool, last_state_only: bool,
                   step: bool) -> GradCase:
    """A backward case: a forward case plus dL/dhs and dL/dh_T (drawn, or from a seed)."""
    c = draw(base)
    dt = c.dtype
    if seeded:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        dhs = rng.standard_normal((c.B, c.T, c.H)).astype(dt)
        dh_T = rng.standard_normal((c.B, c.H)).astype(dt)
    else:
        dhs = draw(_arrays(dt.str, (c.B, c.T, c.H), _values(2.0, dt.str)))
        dh_T = draw(_arrays(dt.str, (c.B, c.H), _values(2.0, dt.str)))
    if last_state_only:
        dhs = np.zeros_like(dhs)
    if step:
        dh_T = np.zeros_like(dh_T)
    return GradCase(c.x, c.h0, c.params, dhs, dh_T, step)


def grad_cases(sizes: Sizes, bias: bool, *, step: bool, min_time: int = 1, max_time: Optional[int] = None,
               last_state_only: bool = False, extreme: bool = False, dtype: Any = None,
               small_only: bool = False) -> st.SearchStrategy[GradCase]:
    """Small cases drawn element by element first, then large seeded ones (D and H drawn apart)."""
    t_hi = 1 if step else (max_time if max_time is not None else sizes.T)
    t_lo = 1 if step else min_time
    dtypes = float_dtypes() if dtype is None else st.just(np.dtype(dtype))
    small = dims(max_batch=min(SMALL.B, sizes.B), min_time=t_lo, max_time=max(t_lo, min(SMALL.T, t_hi)),
                 max_input=min(SMALL.D, sizes.D), max_hidden=min(SMALL.H, sizes.H))
    large = dims(max_batch=sizes.B, min_time=t_lo, max_time=max(t_lo, t_hi), max_input=sizes.D,
                 max_hidden=sizes.H, max_elements=None)
    if extreme:
        small_base = extreme_gru_cases(small, dtype=dtypes, bias=bias, magnitudes=(1e3, 100.0, 50.0))
        large_base = seeded_gru_cases(large, dtype=dtypes, scale=100.0, x_scale=100.0, bias=bias)
    else:
        small_base = gru_cases(small, dtype=dtypes, bias=bias)
        large_base = seeded_gru_cases(large, dtype=dtypes, scale=1.0, bias=bias)
    first = _with_upstream(small_base, False, last_state_only, step)
    if small_only:
        return first
    return st.one_of(first, _with_upstream(large_base, True, last_state_only, step))


def zero_h0_form(props: Tuple[Property, ...]) -> Tuple[Property, ...]:
    """``props`` for a backward with no initial state: h0 = 0 in every case, no ``accepts_none``."""
    return tuple(dataclasses.replace(p, strategy=p.strategy.map(_with_zero_h0))
                 for p in props if p.name != "accepts_none")


def _with_zero_h0(case: GradCase) -> GradCase:
    return case.with_array("h0", np.zeros_like(case.h0))


@functools.lru_cache(maxsize=None)
def properties(step: bool = False, bias: bool = True, sizes: Sizes = SIZES["dev"],
               self_consistency: bool = False) -> Tuple[Property, ...]:
    """Every gradient property, in the order ``check_gradients`` runs them.

    Self-consistency (finite differences of the user's forward) costs two
    forward calls per scalar: it uses float64 small cases only.
    """
    kw: Dict[str, Any] = dict(step=step)
    if self_consistency:
        kw.update(dtype=np.float64, small_only=True)
    ordinary = grad_cases(sizes, bias, **kw)
    props = [
        Property("output_contract",
                 f"returns {'(dx_t, dh_prev, grads)' if step else '(dx, dh0, grads)'} of the right shapes, without "
                 "raising or hanging",
                 ordinary, _output_contract, examples_share=0.5, kind="contract"),
        Property("gradients_match_reference",
                 "every gradient agrees with the float64 oracle, for a loss on h_t" if step
                 else "every gradient agrees with the float64 oracle, with a loss on every step",
                 ordinary, _matches),
    ]
    if not step:
        props.append(Property(
            "gradients_with_loss_on_last_state",
            "every gradient agrees with the oracle when the loss is on h_T only (BPTT through every step)",
            grad_cases(sizes, bias, last_state_only=True, **kw), _last_step))
    if not self_consistency:
        props.append(Property("gradients_at_extremes",
                              "gradients stay right (and finite) at weights and inputs up to 1e3",
                              grad_cases(sizes, bias, extreme=True, **kw), _extremes, examples_share=0.5))
    props += [
        Property("inputs_unchanged",
                 "leaves x_t, h_prev, params and dh_t unmodified" if step
                 else "leaves x, h0, params, dhs and dh_T unmodified",
                 ordinary, _inputs_unchanged, examples_share=0.5, kind="behaviour"),
        Property("deterministic", "gives the same gradients for the same inputs, call after call",
                 ordinary, _deterministic, examples_share=0.5, kind="behaviour"),
    ]
    if not step:
        props.append(Property("empty_sequence", "handles T = 0: dx (B, 0, D), dh0 = dh_T, zero parameter gradients",
                              grad_cases(sizes, bias, min_time=0, max_time=0, small_only=True,
                                         **{k: v for k, v in kw.items() if k != "small_only"}),
                              _empty_sequence, examples_share=0.2, kind="edge", floors={"T": 0}))
    props += [
        Property("accepts_none",
                 "treats h0=None and dh_T=None as zeros, if it accepts them" if not step
                 else "treats h_prev=None as zeros, if it accepts it",
                 ordinary, _accepts_none, examples_share=0.25, kind="edge"),
        Property("dtype_preserved", "returns float32 gradients for float32 input and float64 for float64",
                 ordinary, _dtype_preserved, examples_share=0.25, kind="contract"),
    ]
    return tuple(props)


__all__ = ["properties", "reference_gradients", "finite_differences", "element_meaning", "NA"]
