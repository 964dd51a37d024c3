"""The properties ``check_implementation`` holds a forward GRU to.

Each property is a name, a sentence, a Hypothesis strategy of ``GRUCase`` and
a check that runs the subject on a case and returns a ``Failure``, ``NA``
(nothing to check on this case) or None. The same objects drive
``check_implementation`` (through the engine) and the pytest test classes of
``implementation_tests``.

Checks that compare with a reference accept any convention the function may
follow (``ctx.candidates``): a case is a failure only if it disagrees with
every one of them, so a counterexample is never one where the function is
right in its own convention.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from hypothesis import strategies as st

from gru_props.engine.checks import (
    contract_failure,
    dtype_at_empty,
    empty_sequence_failure,
    float32_only,
    float32_values,
    inputs_unchanged,
)
from gru_props.engine.compare import compare, compare_allowed
from gru_props.engine.conventions import Convention, reference_forward
from gru_props.engine.model import NA, Context, Failure, Property, Verdict
from gru_props.engine.profiles import SIZES, SMALL, Sizes
from gru_props.engine.subject import what_the_function_did
from gru_props.engine.tolerance import Allowed, allowed_for, dot_rounding, estimate, precision_of, rounding_only
from gru_props.forward.case import GRUCase
from gru_props.forward.subject import Outcome
from gru_props.strategies import dims, extreme_gru_cases, float_dtypes, gru_cases, seeded_gru_cases
from gru_props.tiers import level1, level3
from gru_props.tiers.variants import textbook

# A gate pre-activation of ±40 gives sigmoid exactly 1.0 or 4e-18 in float64
# (and exactly 1.0 / 0.0 in float32): the gate is saturated for any inputs.
SATURATE = 40.0


# ----------------------------------------------------------------- helpers
def run(ctx: Context, case: GRUCase, check_mutation: bool = False, h0_none: bool = False) -> Outcome:
    """Run the subject and keep the bookkeeping (warnings seen, whether h_T is returned)."""
    out = ctx.subject.run(case, check_mutation=check_mutation, h0_none=h0_none)
    ctx.returned_h_T = ctx.returned_h_T or out.h_T is not None
    ctx.record_warnings(out.warnings)
    return out


def out_dtypes(case: GRUCase, out: Outcome) -> Tuple[np.dtype, ...]:
    """Every floating dtype involved: what the function received and what it returned."""
    return (case.dtype,) + tuple(out.dtypes)


class Expected(NamedTuple):
    """The float64 reference outputs in one convention and what a correct function may differ by."""

    hs: np.ndarray
    h_T: np.ndarray
    allowed_hs: Allowed
    allowed_hT: Allowed


_EXPECTED: "weakref.WeakKeyDictionary[GRUCase, Dict[Any, Expected]]" = weakref.WeakKeyDictionary()


def _tier(tier: Any, conv: Convention, dtype: Any) -> Callable[..., Dict[str, np.ndarray]]:
    def forward(x: np.ndarray, h0: np.ndarray, params: Any) -> Dict[str, np.ndarray]:
        p = conv.standard_params(params).astype(dtype)
        hs, h_T = tier.gru_forward(np.asarray(x).astype(dtype), np.asarray(h0).astype(dtype), p, conv.reset_after)
        return {"hs": hs, "h_T": h_T}
    return forward


def reference(ctx: Context, case: GRUCase, conv: Convention, dtypes: Tuple[Any, ...]) -> Expected:
    """The float64 reference in ``conv`` and the tolerance of a function whose arrays are ``dtypes``.

    The user's inputs are computed exactly in float64 (Level 1); the tolerance
    follows the computation (``engine.tolerance``): the flat tolerance of the
    least precise dtype plus eight times this case's error estimate at that
    precision, with elements the case makes too ill-conditioned to judge left
    out. Cached per case.
    """
    precision = precision_of(*dtypes)
    key = (conv, precision, ctx.rtol, ctx.atol)
    cached = _EXPECTED.setdefault(case, {})
    if key in cached:
        return cached[key]

    def exact(x: np.ndarray, h0: np.ndarray, params: Any) -> Dict[str, np.ndarray]:
        hs, h_T = reference_forward(x, h0, params, conv)
        return {"hs": hs, "h_T": h_T}

    tiers = ([_tier(level1, conv, np.float32), _tier(level3, conv, np.float32), _tier(textbook, conv, np.float32)]
             if precision.itemsize < 8 else [_tier(level3, conv, np.float64)])
    est = estimate(exact, {"x": case.x, "h0": case.h0, "params": case.params}, tiers, precision,
                   smoothing={"hs": (2,), "h_T": (1,)}, perturb=dot_rounding(case, precision))
    hs, h_T = reference_forward(case.x, case.h0, case.params, conv)
    result = Expected(hs, h_T, allowed_for(hs, est["hs"], precision, rtol=ctx.rtol, atol=ctx.atol),
                      allowed_for(h_T, est["h_T"], precision, rtol=ctx.rtol, atol=ctx.atol))
    cached[key] = result
    return result


_UNJUDGEABLE = "unjudgeable"


def _compare_out(out: Outcome, exp: Expected) -> Any:
    """None (agrees), ``_UNJUDGEABLE`` (no element could be judged) or (name, mismatch, got, expected)."""
    judged_any = exp.allowed_hs.judged is None or bool(np.any(exp.allowed_hs.judged))
    mm = compare_allowed("hs", out.states, exp.hs, exp.allowed_hs)
    if mm is not None:
        return "hs", mm, out.states, exp.hs
    if out.h_T is not None:
        judged_any = judged_any or exp.allowed_hT.judged is None or bool(np.any(exp.allowed_hT.judged))
        mm = compare_allowed("h_T", out.h_T, exp.h_T, exp.allowed_hT)
        if mm is not None:
            return "h_T", mm, out.h_T, exp.h_T
    return None if judged_any else _UNJUDGEABLE


def against_conventions(
    ctx: Context, prop: str, case: GRUCase, out: Outcome, what: Callable[[Convention], str],
    fit: bool = False, conventions: Optional[List[Convention]] = None,
) -> Verdict:
    """None if ``out`` (the function's outputs on ``case``) agrees with the reference of any candidate
    convention, else the failure.

    The failure
    shows the first convention tried (the primary one) and records how far
    the output is from each (``Failure.distances``). With ``fit=True`` every
    convention is tried and ``ctx.fits`` counts which ones agreed. A case on
    which nothing can be judged (rounding amplified beyond any meaning) is
    ``NA``.
    """
    first: Optional[Failure] = None
    distances: Dict[Convention, float] = {}
    agreed = False
    unjudgeable = 0
    convs = conventions if conventions is not None else ctx.conventions()
    dtypes = out_dtypes(case, out)
    for conv in convs:
        exp = reference(ctx, case, conv, dtypes)
        diff = _compare_out(out, exp)
        if diff is _UNJUDGEABLE:
            unjudgeable += 1
            continue
        if diff is None:
            agreed = True
            if not fit:
                return None
            ctx.fits[conv] = ctx.fits.get(conv, 0) + 1
            continue
        name, mm, got, exp_arr = diff
        distances[conv] = mm.worst_abs
        if first is None:
            text = what(conv).replace("{name}", "hidden states" if name == "hs" else "final state h_T")
            first = Failure(prop, text, case, got=got, expected=exp_arr, mismatch=mm, convention=conv)
            first.extra["allowed"] = exp.allowed_hs if name == "hs" else exp.allowed_hT
            first.extra["precision"] = str(precision_of(*out_dtypes(case, out)))
    if fit and unjudgeable < len(convs):
        ctx.fit_trials += 1
    if agreed:
        return None
    if first is None:
        return NA
    first.distances = distances
    refs = [reference(ctx, case, c, dtypes).hs for c in convs if c in distances]
    apart = max((float(np.max(np.abs(a - b), initial=0.0)) for a in refs for b in refs), default=0.0)
    first.extra["conventions_apart"] = apart
    ctx.vote_closest(distances, apart)
    if precision_of(*dtypes).itemsize == 8 and ctx.rtol is None and ctx.atol is None:
        for conv in convs:
            exact = reference(ctx, case, conv, dtypes)
            low = reference(ctx, case, conv, (np.float32,))
            if _compare_out(out, low) is None and _looks_rounded(out, exact, low):
                return float32_only(prop, case, first)
    return first


def _looks_rounded(out: Outcome, exact: Expected, low: Expected) -> bool:
    """Evidence that a float64 answer was computed in float32: every value it returned is a float32 number,
    or every output is off from the float64 reference by more than float64 rounding, not just one of them
    (a wrong value in one output among exact ones is a bug, not precision), and by no more than float32
    rounding explains on this case (``low``: the float32 estimate; a bug with a small effect is not
    precision)."""
    pairs = [(out.states, exact.hs, exact.allowed_hs, low.allowed_hs)]
    if out.h_T is not None:
        pairs.append((out.h_T, exact.h_T, exact.allowed_hT, low.allowed_hT))
    if all(float32_values(got) for got, _, _, _ in pairs):
        return True  # float32 results cast to float64
    for got, ref, allowed, _ in pairs:
        if ref.size and np.any(ref != 0) and compare_allowed("x", got, ref, allowed) is None:
            return False
    return all(compare_allowed("x", got, ref, rounding_only(allowed32)) is None for got, ref, _, allowed32 in pairs)


def _force(case: GRUCase, gates: Dict[str, float], bias: bool) -> GRUCase:
    """``case`` with each named gate's pre-activation fixed to a constant (e.g. {"z": 40.0}).

    With biases, the gate's W and U become zero and its bias the constant.
    Without biases (``bias=False``), the constant rides on an extra input
    feature that is always 1 (D grows by one), the way a learner's
    "constant-1 column" feeds a bias: every other gate ignores that feature.
    """
    p = case.params
    if bias:
        changes = {}
        for gate, value in gates.items():
            changes.update({f"W_{gate}": np.zeros_like(p.W_z), f"U_{gate}": np.zeros_like(p.U_z),
                            f"b_{gate}": np.full_like(p.b_z, value)})
        return GRUCase(case.x, case.h0, p.replace(**changes))
    ones = np.ones(case.x.shape[:2] + (1,), dtype=case.x.dtype)
    x = np.concatenate([case.x, ones], axis=2)
    changes = {}
    for gate in ("z", "r", "n"):
        W = getattr(p, f"W_{gate}")
        extra = np.zeros((1, p.H), dtype=W.dtype)
        if gate in gates:
            W = np.zeros_like(W)
            extra[:] = gates[gate]
            changes[f"U_{gate}"] = np.zeros_like(p.U_z)
        changes[f"W_{gate}"] = np.concatenate([W, extra], axis=0)
    return GRUCase(x, case.h0, p.replace(**changes))


def _other_case(case: GRUCase) -> GRUCase:
    """Other inputs of the same sizes and dtype: ones for x, another h0, seeded random weights."""
    from gru_props.core.params import GRUParams

    params = GRUParams.random(case.D, case.H, seed=0, scale=1.0, dtype=case.params.dtype)
    return GRUCase(np.ones((case.B, max(case.T, 1), case.D), dtype=case.x.dtype), _other_h0(case.h0), params)


def _other_h0(h0: np.ndarray) -> np.ndarray:
    return np.where(h0 >= 0, h0 - 1, h0 + 1).astype(h0.dtype)


def _conv_text(conv: Convention) -> str:
    return conv.short()


# --------------------------------------------------------------- properties
def _output_contract(ctx: Context, case: GRUCase) -> Optional[Failure]:
    return contract_failure(case, run(ctx, case))


def _matches_reference(ctx: Context, case: GRUCase, prop: str = "matches_reference",
                       fit: bool = True) -> Verdict:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    return against_conventions(
        ctx, prop, case, out, lambda conv: f"the {{name}} differ from the reference GRU ({_conv_text(conv)}).",
        fit=fit,
    )


def _matches_reference_extreme(ctx: Context, case: GRUCase) -> Verdict:
    return _matches_reference(ctx, case, prop="matches_reference_at_extremes", fit=False)


def _finite_and_bounded(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    hs = out.states.astype(np.float64)
    if not np.all(np.isfinite(hs)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(hs))[0])
        return Failure(
            "finite_and_bounded",
            f"the output is not finite: hs[{', '.join(map(str, idx))}] = {float(hs[idx])!r} "
            f"for finite inputs (|x| and |weights| up to {max_magnitude(case):g}).",
            case, got=out.states, diagnosis="non_finite_output",
        )
    prev = np.concatenate([case.h0.astype(np.float64)[:, None, :], hs[:, :-1, :]], axis=1)
    bound = np.maximum(np.abs(prev), 1.0)
    _, atol = ctx.tolerance(*out_dtypes(case, out))
    over = np.abs(hs) > bound + atol
    if over.any():
        idx = tuple(int(i) for i in np.argwhere(over)[0])
        return Failure(
            "finite_and_bounded",
            f"|h_t| exceeds max(|h_(t-1)|, 1): hs[{', '.join(map(str, idx))}] = {float(hs[idx])!r}, bound "
            f"{bound[idx]:g}. h_t is a convex combination of h_(t-1) and a tanh, so it cannot.",
            case, got=out.states,
        )
    return None


def max_magnitude(case: GRUCase) -> float:
    """The largest |number| among x and the parameters (h0 is at most 1 here)."""
    return max(float(np.max(np.abs(a), initial=0.0)) for _, a in case.named_arrays())


def _keep_signs(ctx: Context) -> List[float]:
    return list(dict.fromkeys(c.keep_sign() for c in ctx.conventions()))


def _update_gate_saturation(ctx: Context, case: GRUCase) -> Optional[Failure]:
    first: Optional[Failure] = None
    for sign in _keep_signs(ctx):
        convs = [c for c in ctx.conventions() if c.keep_sign() == sign]
        gate_z = "z = 1" if sign > 0 else "z = 0"
        keep = _force(case, {"z": sign * SATURATE}, ctx.bias)  # h_t = h_{t-1} = h0 at every step
        out = run(ctx, keep)
        failure = contract_failure(keep, out)
        if failure:
            return failure
        expected = np.broadcast_to(keep.h0[:, None, :], out.states.shape).astype(np.float64)
        rtol, atol = ctx.tolerance(*out_dtypes(keep, out))
        mm = compare("hs", out.states, expected, rtol, atol)
        if mm is not None:
            how = _forced_text("z", sign, ctx.bias)
            failure = Failure(
                "update_gate_saturation",
                f"with the update gate forced to {gate_z} ({how}; {convs[0].interpolation_formula()}), "
                "every h_t must equal h_(t-1), so hs must repeat h0.",
                keep, got=out.states, expected=expected, mismatch=mm, convention=convs[0],
            )
            first = first or failure
            continue
        took = _takes_candidate(ctx, case, sign, convs)
        if not isinstance(took, Failure):
            return None  # agrees in this family of conventions, or the case cannot tell
        if took.property != "update_gate_saturation":
            return took  # a contract violation
        first = first or took
    return first


def _takes_candidate(ctx: Context, case: GRUCase, sign: float, convs: List[Convention]) -> Verdict:
    """With z saturated the other way (h_t = n_t), the output must be the reference's in one of ``convs``."""
    take = _force(case, {"z": -sign * SATURATE}, ctx.bias)
    out = run(ctx, take)
    failure = contract_failure(take, out)
    if failure:
        return failure
    how = _forced_text("z", -sign, ctx.bias)
    verdict = against_conventions(
        ctx, "update_gate_saturation", take, out,
        lambda conv: f"with the update gate forced to take the candidate ({how}), every h_t must "
                     f"equal the candidate n_t ({_conv_text(conv)}).",
        conventions=convs,
    )
    if isinstance(verdict, Failure) and verdict.property == "update_gate_saturation":
        verdict.extra["expected"] = "reference"
    return verdict


def _forced_text(gate: str, sign: float, bias: bool) -> str:
    value = f"{'' if sign > 0 else '-'}{SATURATE:g}"
    if bias:
        return f"W_{gate} = U_{gate} = 0, b_{gate} = {value}"
    return f"W_{gate} = U_{gate} = 0 but {value} on an extra input feature that is always 1 (bias=False)"


def _reset_gate_zero(ctx: Context, case: GRUCase) -> Optional[Failure]:
    # The candidate taken (z at its "take" end) and r = 0: n_t must not depend on h_(t-1).
    first: Optional[Failure] = None
    for sign in _keep_signs(ctx):
        c = _force(case, {"z": -sign * SATURATE, "r": -SATURATE}, ctx.bias)
        other = GRUCase(c.x, _other_h0(c.h0), c.params)
        out_a = run(ctx, c)
        failure = contract_failure(c, out_a)
        if failure:
            return failure
        out_b = run(ctx, other)
        failure = contract_failure(other, out_b)
        if failure:
            return failure
        rtol, atol = ctx.tolerance(*out_dtypes(c, out_a), *out_b.dtypes)
        mm = compare("hs", out_b.states, out_a.states.astype(np.float64), rtol, atol)
        if mm is None:
            return None
        failure = Failure(
            "reset_gate_zero",
            f"with the reset gate forced to r = 0 ({_forced_text('r', -1, ctx.bias)}) and the update "
            "gate forced to take the candidate, the candidate must not depend on h_(t-1); yet changing "
            "h0 changed hs. Below, 'expected' is hs for the h0 shown, 'got' is hs for "
            "h0' = h0 - sign(h0).",
            c, got=out_b.states, expected=out_a.states, mismatch=mm,
        )
        # The case with the other h0 is where a wrong GRU shows against the reference.
        failure.extra["diagnosis_cases"] = (other, c)
        first = first or failure
    return first


def _between_runs(ctx: Context, case: GRUCase, dtypes: Tuple[Any, ...]) -> Allowed:
    """What two runs of a correct function on (rearranged) inputs of ``case`` may differ by: twice the
    rounding the case allows against the reference (each run rounds on its own)."""
    return reference(ctx, case, ctx.primary, dtypes).allowed_hs.scaled(2.0)


def _batch_rows_independent(ctx: Context, case: GRUCase) -> Optional[Failure]:
    """Rows of the batch do not mix. A difference found in float32 is confirmed in float64: a function whose
    (other) bug amplifies its own rounding differs between batch orders by that rounding alone, and row b
    still depends on row b only."""
    failure = _rows_mixed(ctx, case)
    if failure is None or failure.mismatch is None or np.dtype(case.dtype).itemsize >= 8:
        return failure
    wide = GRUCase(case.x.astype(np.float64), case.h0.astype(np.float64), case.params.astype(np.float64))
    again = _rows_mixed(ctx, wide)
    return None if again is None else failure


def _rows_mixed(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    perm = np.arange(case.B)[::-1]
    flipped = GRUCase(case.x[perm], case.h0[perm], case.params)
    out_f = run(ctx, flipped)
    failure = contract_failure(flipped, out_f)
    if failure:
        return failure
    allowed = _between_runs(ctx, case, out_dtypes(case, out) + tuple(out_f.dtypes))
    mm = compare_allowed("hs", out_f.states, out.states[perm].astype(np.float64), allowed.part(perm))
    if mm is None:
        # A mixing that is symmetric in the rows survives any reordering: row 0 alone shows it.
        alone = GRUCase(case.x[:1], case.h0[:1], case.params)
        out_a = run(ctx, alone)
        failure = contract_failure(alone, out_a)
        if failure:
            return failure
        mm = compare_allowed("hs", out_a.states, out.states[:1].astype(np.float64), allowed.part(slice(0, 1)))
        if mm is None:
            return None
        failure = Failure(
            "batch_rows_independent",
            "running batch row 0 alone gave another result than running it within the batch: row b of hs "
            "must depend only on row b of x and h0 ('expected' is row 0 of the batch's hs, 'got' row 0 run "
            "alone, as B = 1).", case, got=out_a.states, expected=out.states[:1], mismatch=mm,
        )
        failure.extra["allowed"] = allowed.part(slice(0, 1))
        return failure
    failure = Failure(
        "batch_rows_independent",
        "reversing the order of the batch rows changed the results beyond reordering them: "
        "row b of hs must depend only on row b of x and h0 ('expected' is hs with its rows "
        "reversed, 'got' is hs of the reversed batch).",
        case, got=out_f.states, expected=out.states[perm], mismatch=mm,
    )
    failure.extra["allowed"] = allowed.part(perm)
    return failure


def _final_state_is_last(ctx: Context, case: GRUCase) -> Verdict:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    if out.h_T is None:
        return NA
    expected = out.states[:, -1, :] if case.T else case.h0
    rtol, atol = ctx.tolerance(*out_dtypes(case, out))
    mm = compare("h_T", out.h_T, expected.astype(np.float64), rtol, atol)
    if mm is None:
        return None
    what = "hs[:, -1]" if case.T else "h0 (T = 0: no step was taken)"
    return Failure("final_state_is_last", f"the returned h_T is not {what}.", case,
                   got=out.h_T, expected=expected, mismatch=mm)


def _deterministic(ctx: Context, case: GRUCase) -> Optional[Failure]:
    first = run(ctx, case)
    failure = contract_failure(case, first)
    if failure:
        return failure
    # A call with other inputs (at least one step, seeded random weights, so that a
    # state kept between calls is not zero) in between: it shows in the third call.
    run(ctx, _other_case(case))
    again = run(ctx, case)
    failure = contract_failure(case, again)
    if failure:
        return failure
    same_hT = first.h_T is None or again.h_T is None or np.array_equal(first.h_T, again.h_T, equal_nan=True)
    if np.array_equal(first.states, again.states, equal_nan=True) and same_hT:
        return None
    if np.array_equal(first.states, again.states, equal_nan=True):
        assert again.h_T is not None and first.h_T is not None  # else same_hT
        mm = compare("h_T", again.h_T, first.h_T, 0.0, 0.0)
        got, expected = again.h_T, first.h_T
    else:
        mm = compare("hs", again.states, first.states, 0.0, 0.0)
        got, expected = again.states, first.states
    return Failure(
        "deterministic",
        "calling the function again with the same inputs (after one call with other inputs) "
        "gave a different result ('expected' is the first call, 'got' the third).",
        case, got=got, expected=expected, mismatch=mm, diagnosis="nondeterministic", kind="behaviour",
    )


def _inputs_unchanged(ctx: Context, case: GRUCase) -> Optional[Failure]:
    return inputs_unchanged(ctx, case, run)


_EMPTY_HINTS = (
    "What does your function return when x has no time steps?",
    "With T = 0, hs has shape (B, 0, H) and h_T = h0. np.stack([]) and torch.cat([]) raise on an empty list.",
    "Allocate hs = np.zeros((B, T, H), dtype=x.dtype) and fill it, or return "
    "np.zeros((B, 0, H), dtype=x.dtype) when T == 0.",
)


def _empty_sequence(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = run(ctx, case)
    # Only a finding special to T = 0 belongs here: if one step fails the same way,
    # it is the output contract that is broken.
    one = GRUCase(np.zeros((case.B, 1, case.D), dtype=case.x.dtype), case.h0, case.params)
    out_one = run(ctx, one)
    if out_one.error is not None:
        return contract_failure(one, out_one)
    if out.error is not None:
        return empty_sequence_failure(case, out, _EMPTY_HINTS)
    changed = dtype_at_empty(case, out.dtypes, out_one.dtypes)
    if changed is not None:
        return changed
    if out.h_T is None:
        return None
    rtol, atol = ctx.tolerance(*out_dtypes(case, out))
    mm = compare("h_T", out.h_T, case.h0.astype(np.float64), rtol, atol)
    if mm is None:
        return None
    return Failure("empty_sequence", "with T = 0 no step is taken, so h_T must be h0.", case,
                   got=out.h_T, expected=case.h0, mismatch=mm, kind="edge")


def _accepts_h0_none(ctx: Context, case: GRUCase) -> Optional[Failure]:
    zero = GRUCase(case.x, np.zeros_like(case.h0), case.params)
    with_zeros = run(ctx, zero)
    if with_zeros.error is not None:
        return contract_failure(zero, with_zeros)
    with_none = run(ctx, zero, h0_none=True)
    name = "h_prev" if ctx.subject.step else "h0"
    if with_none.error is not None:
        # Refusing None is a warning; accepting it for some sizes only is a bug of its None path.
        square = _square(zero)
        if square is not None and run(ctx, square, h0_none=True).error is None:
            return Failure(
                "accepts_h0_none",
                f"the function accepts {name}=None when D = H but not here (D = {zero.D}, H = {zero.H}): with "
                f"{name}=None it {what_the_function_did(with_none.error)}\nThe zeros it makes for None must "
                "have shape (B, H), whatever D is.",
                zero, kind="edge",
                hints=(f"What shape do the zeros you make for {name}=None have?",
                       "np.zeros_like(x[:, 0]) is (B, D); the state is (B, H).",
                       "Make them with np.zeros((x.shape[0], params.H), dtype=x.dtype)."),
            )
        return Failure(
            "accepts_h0_none",
            f"the function does not accept {name}=None, which the contract defines as zeros: with "
            f"{name}=None it {what_the_function_did(with_none.error)}",
            zero, kind="edge", warning=True,
            hints=(f"What does your function do when {name} is None?",
                   f"The contract: {name} may be None, meaning zeros of shape (B, H).",
                   f"Start with: if {name} is None: {name} = np.zeros((x.shape[0], params.H), "
                   f"dtype=x.dtype)"),
        )
    allowed = _between_runs(ctx, zero, out_dtypes(zero, with_none) + tuple(with_zeros.dtypes))
    mm = compare_allowed("hs", with_none.states, with_zeros.states.astype(np.float64), allowed, equal_nan=True)
    used = allowed
    if mm is None and with_none.h_T is not None and with_zeros.h_T is not None:
        used = reference(ctx, zero, ctx.primary, out_dtypes(zero, with_none)).allowed_hT.scaled(2.0)
        mm = compare_allowed("h_T", with_none.h_T, with_zeros.h_T.astype(np.float64), used, equal_nan=True)
    if mm is None:
        return None
    failure = Failure(
        "accepts_h0_none",
        f"{name}=None must mean zeros, but the result differs from the run with {name} = zeros "
        f"('expected' is the run from zeros, 'got' the run from None).",
        zero, got=with_none.states if mm.name == "hs" else with_none.h_T,
        expected=with_zeros.states if mm.name == "hs" else with_zeros.h_T, mismatch=mm, kind="value",
    )
    failure.extra["allowed"] = used
    return failure


def _square(case: GRUCase) -> Optional[GRUCase]:
    """``case`` cut to D = H (the first min(D, H) input features and hidden units), or None if already so."""
    if case.D == case.H:
        return None
    k = min(case.D, case.H)
    c = case
    while c.D > k:
        c = c.without("D", c.D - 1)
    while c.H > k:
        c = c.without("H", c.H - 1)
    return c


def _dtype_preserved(ctx: Context, case: GRUCase) -> Optional[Failure]:
    # Both precisions on every example: a few examples must already see both.
    for dtype in (case.dtype, np.dtype(np.float32) if case.dtype == np.float64 else np.dtype(np.float64)):
        failure = _dtype_preserved_in(ctx, case.astype(dtype))
        if failure is not None:
            return failure
    return None


def _dtype_preserved_in(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    wrong = [d for d in out.dtypes if d != case.dtype]
    if not wrong:
        return None
    least = min(wrong, key=lambda d: np.dtype(d).itemsize)
    if np.dtype(least).itemsize > case.dtype.itemsize:
        effect = f"memory and time grow, and the caller's {case.dtype} pipeline silently upcasts"
    else:
        effect = (f"precision drops to {least}'s (about {float(np.finfo(least).eps):.0e} relative)")
    return Failure(
        "dtype_preserved",
        f"{case.dtype} inputs came back as {', '.join(str(d) for d in wrong)}: {effect}. The contract is "
        "float32 in, float32 out; float64 in, float64 out.",
        case, kind="contract", warning=True,
        hints=("Which dtype do your buffers have?",
               "np.zeros((B, T, H)) is float64 whatever x is; np.stack keeps the dtype of its inputs.",
               "Allocate with dtype=x.dtype (np.zeros((B, T, H), dtype=x.dtype)), or cast at the end "
               "with hs.astype(x.dtype)."),
    )


# ------------------------------------------------------------------ catalog
def _mixed(sizes: Sizes, bias: bool, *, min_batch: int = 1, min_time: int = 1,
           extreme: bool = False) -> st.SearchStrategy[GRUCase]:
    """Small cases drawn element by element first (readable when shrunk), then large seeded ones."""
    small = dims(min_batch=min_batch, max_batch=max(min_batch, min(SMALL.B, sizes.B)),
                 min_time=min_time, max_time=max(min_time, min(SMALL.T, sizes.T)),
                 max_input=min(SMALL.D, sizes.D), max_hidden=min(SMALL.H, sizes.H))
    large = dims(min_batch=min_batch, max_batch=max(min_batch, sizes.B), min_time=min_time,
                 max_time=max(min_time, sizes.T), max_input=sizes.D, max_hidden=sizes.H, max_elements=None)
    if extreme:
        return st.one_of(
            extreme_gru_cases(small, dtype=float_dtypes(), bias=bias),
            seeded_gru_cases(large, dtype=float_dtypes(), scale=1e3, x_scale=1e3, bias=bias),
        )
    return st.one_of(
        gru_cases(small, dtype=float_dtypes(), bias=bias),
        seeded_gru_cases(large, dtype=float_dtypes(), scale=1.0, bias=bias),
        seeded_gru_cases(large, dtype=float_dtypes(), scale=2.5, x_scale=2.0, bias=bias),
    )


@functools.lru_cache(maxsize=None)
def properties(bias: bool = True, sizes: Sizes = SIZES["dev"]) -> Tuple[Property, ...]:
    """Every forward property, in the order ``check_implementation`` runs them."""
    ordinary = _mixed(sizes, bias)
    empty = gru_cases(dims(min_time=0, max_time=0, max_batch=3, max_input=3, max_hidden=3),
                      dtype=float_dtypes(), bias=bias)
    return (
        Property("output_contract",
                 "returns hs (B, T, H) or (hs, h_T) as float arrays, without raising or hanging",
                 st.one_of(ordinary, _mixed(sizes, bias, extreme=True)), _output_contract,
                 examples_share=0.5, kind="contract"),
        Property("matches_reference",
                 "agrees with the float64 reference GRU within the tolerance of the least precise dtype",
                 ordinary, _matches_reference),
        Property("update_gate_saturation",
                 "a saturated update gate keeps h_prev, or takes the candidate",
                 ordinary, _update_gate_saturation),
        Property("reset_gate_zero", "r -> 0 removes h_prev from the candidate",
                 ordinary, _reset_gate_zero),
        Property("matches_reference_at_extremes",
                 "agrees with the reference when weights and inputs reach 1e4 (saturated gates)",
                 _mixed(sizes, bias, extreme=True), _matches_reference_extreme),
        Property("finite_and_bounded",
                 "stays finite with |h_t| <= max(|h_(t-1)|, 1) at extreme magnitudes",
                 _mixed(sizes, bias, extreme=True), _finite_and_bounded, examples_share=0.5),
        Property("batch_rows_independent", "treats each batch row independently",
                 _mixed(sizes, bias, min_batch=2), _batch_rows_independent, examples_share=0.5,
                 floors={"B": 2}),
        Property("final_state_is_last", "returns h_T equal to hs[:, -1]",
                 ordinary, _final_state_is_last, examples_share=0.5),
        Property("inputs_unchanged", "leaves x, h0 and every parameter array unmodified",
                 ordinary, _inputs_unchanged, examples_share=0.5, kind="behaviour"),
        Property("deterministic", "gives the same result for the same inputs, call after call",
                 ordinary, _deterministic, examples_share=0.5, kind="behaviour"),
        Property("empty_sequence", "handles T = 0: hs of shape (B, 0, H), h_T = h0",
                 empty, _empty_sequence, examples_share=0.2, kind="edge", floors={"T": 0}),
        Property("accepts_h0_none", "accepts h0=None as zeros",
                 ordinary, _accepts_h0_none, examples_share=0.25, kind="edge"),
        Property("dtype_preserved", "returns float32 for float32 input and float64 for float64",
                 ordinary, _dtype_preserved, examples_share=0.25, kind="contract"),
    )


#: What a property says of a step function fn(x_t, h_prev, params) -> h_t (folded over time by the check).
_STEP_DESCRIPTIONS = {
    "output_contract": "returns h_t (B, H) as a float array at every step, without raising or hanging",
    "inputs_unchanged": "leaves x_t, h_prev and every parameter array unmodified",
    "accepts_h0_none": "accepts h_prev=None as zeros",
}
#: Properties that say nothing of a step function: it is never called with T = 0 and returns no h_T.
NOT_FOR_STEPS = ("empty_sequence", "final_state_is_last")


#: Properties that need an initial state other than zeros (left out for no_initial_state).
NEED_H0 = ("reset_gate_zero", "accepts_h0_none")


def zero_h0_form(props: Tuple[Property, ...]) -> Tuple[Property, ...]:
    """``props`` for a function that takes no initial state: every case has h0 = 0, and the properties that
    need another one are left out."""
    return tuple(dataclasses.replace(p, strategy=p.strategy.map(_with_zero_h0))
                 for p in props if p.name not in NEED_H0)


def _with_zero_h0(case: Any) -> Any:
    return case.with_array("h0", np.zeros_like(case.h0))


def step_form(props: Tuple[Property, ...]) -> Tuple[Property, ...]:
    """``props`` as they apply to a step function: worded for x_t and h_prev, without those that cannot apply."""
    return tuple(dataclasses.replace(p, description=_STEP_DESCRIPTIONS.get(p.name, p.description))
                 for p in props if p.name not in NOT_FOR_STEPS)


def property_names() -> List[str]:
    return [p.name for p in properties()]
