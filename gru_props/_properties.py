"""The properties ``check_implementation`` holds a GRU to.

Each property is a name, a sentence, a Hypothesis strategy of ``GRUCase`` and
a check that runs the subject on a case and returns a ``Failure`` or None. The
same objects drive ``check_implementation`` (through ``hypothesis.find``) and
the pytest test classes of ``implementation_tests``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from hypothesis import strategies as st

from gru_props import level1, level3
from gru_props._case import GRUCase
from gru_props._compare import Mismatch, compare, tolerance_for
from gru_props._diagnosis import reference_forward
from gru_props._subject import Outcome, Subject
from gru_props.strategies import dims, extreme_gru_cases, float_dtypes, gru_cases

# A gate pre-activation of ±40 gives sigmoid exactly 1.0 or 4e-18 in float64
# (and exactly 1.0 / 0.0 in float32): the gate is saturated for any inputs.
SATURATE = 40.0


@dataclasses.dataclass
class Failure:
    """Why a property failed on ``case`` (the exact arrays given to the function)."""

    property: str
    message: str
    case: GRUCase
    got: Optional[np.ndarray] = None
    expected: Optional[np.ndarray] = None
    mismatch: Optional[Mismatch] = None
    diagnosis: Optional[str] = None
    reset_after: Optional[bool] = None


@dataclasses.dataclass
class Context:
    """What every check needs besides the case: the subject and the settings of this run."""

    subject: Subject
    reset_after: bool
    rtol: Optional[float] = None
    atol: Optional[float] = None
    warnings: Dict[str, int] = dataclasses.field(default_factory=dict)
    returned_h_T: bool = False  # did the function ever return (hs, h_T)?

    def run(self, case: GRUCase, check_mutation: bool = False) -> Outcome:
        out = self.subject.run(case, check_mutation=check_mutation)
        self.returned_h_T = self.returned_h_T or out.h_T is not None
        for w in out.warnings:
            self.warnings[w] = self.warnings.get(w, 0) + 1
        return out

    def tolerance(self, dtype: np.dtype) -> Tuple[float, float]:
        rtol, atol = tolerance_for(dtype)
        return (self.rtol if self.rtol is not None else rtol, self.atol if self.atol is not None else atol)

    def agree(self, name: str, got: np.ndarray, expected: np.ndarray, slack=None) -> Optional[Mismatch]:
        rtol, atol = self.tolerance(got.dtype)
        return compare(name, got, expected, rtol, atol, slack)


@dataclasses.dataclass(frozen=True)
class Property:
    name: str
    description: str
    strategy: st.SearchStrategy[GRUCase]
    check: Callable[[Context, GRUCase], Optional[Failure]]
    #: share of the profile's max_examples this property runs; every other
    #: property also reports contract violations, so output_contract needs fewer
    examples_share: float = 1.0


# ----------------------------------------------------------------- helpers
def _contract_failure(case: GRUCase, out: Outcome) -> Optional[Failure]:
    if out.error is None:
        return None
    return Failure("output_contract", f"the function {out.error}", case)


def reference(case: GRUCase, reset_after: bool, out_dtype: np.dtype) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hs, h_T, slack): the float64 reference and the rounding slack for ``out_dtype``.

    The user's inputs are computed exactly in float64 (Level 1). For an output
    of lower precision the slack is 4 times how far two of our own tiers drift
    from that reference when run in the output's precision, element by
    element: a correct float32 GRU may drift as far, a wrong one drifts much
    further.
    """
    hs, h_T = reference_forward(case.x, case.h0, case.params, reset_after)
    slack = np.zeros_like(hs)
    if np.dtype(out_dtype).itemsize < 8:
        low = np.dtype(np.float32)
        xl, hl, pl = case.x.astype(low), case.h0.astype(low), case.params.astype(low)
        for tier in (level1, level3):
            hs_low, _ = tier.gru_forward(xl, hl, pl, reset_after)
            slack = np.maximum(slack, 4.0 * np.abs(hs_low.astype(np.float64) - hs))
    return hs, h_T, slack


def _mismatch_failure(
    ctx: Context, prop: str, what: str, case: GRUCase, out: Outcome, expected_hs: np.ndarray,
    slack: Optional[np.ndarray] = None,
) -> Optional[Failure]:
    mm = ctx.agree("hs", out.hs, expected_hs, slack)
    if mm is None:
        return None
    return Failure(prop, what, case, got=out.hs, expected=expected_hs, mismatch=mm,
                   reset_after=ctx.reset_after)


# --------------------------------------------------------------- properties
def _output_contract(ctx: Context, case: GRUCase) -> Optional[Failure]:
    return _contract_failure(case, ctx.run(case))


def _matches_reference(ctx: Context, case: GRUCase, prop: str = "matches_reference") -> Optional[Failure]:
    out = ctx.run(case)
    failure = _contract_failure(case, out)
    if failure:
        return failure
    hs, h_T, slack = reference(case, ctx.reset_after, out.hs.dtype)
    conv = f"reset_after={ctx.reset_after}"
    failure = _mismatch_failure(
        ctx, prop, f"the hidden states differ from the reference GRU ({conv}).", case, out, hs, slack
    )
    if failure or out.h_T is None:
        return failure
    mm = ctx.agree("h_T", out.h_T, h_T, slack[:, -1] if case.T else None)
    if mm:
        return Failure(prop, f"the final state h_T differs from the reference GRU ({conv}).", case,
                       got=out.h_T, expected=h_T, mismatch=mm, reset_after=ctx.reset_after)
    return None


def _matches_reference_extreme(ctx: Context, case: GRUCase) -> Optional[Failure]:
    return _matches_reference(ctx, case, prop="matches_reference_at_extremes")


def _finite_and_bounded(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = ctx.run(case)
    failure = _contract_failure(case, out)
    if failure:
        return failure
    hs = out.hs.astype(np.float64)
    if not np.all(np.isfinite(hs)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(hs))[0])
        return Failure(
            "finite_and_bounded",
            f"the output is not finite: hs[{', '.join(map(str, idx))}] = {hs[idx]!r} "
            f"for finite inputs (|x| and |weights| up to {np.abs(case.x).max(initial=0):g}).",
            case, got=out.hs, diagnosis="non_finite_output",
        )
    prev = np.concatenate([case.h0.astype(np.float64)[:, None, :], hs[:, :-1, :]], axis=1)
    bound = np.maximum(np.abs(prev), 1.0)
    _, atol = ctx.tolerance(out.hs.dtype)
    over = np.abs(hs) > bound + atol
    if over.any():
        idx = tuple(int(i) for i in np.argwhere(over)[0])
        return Failure(
            "finite_and_bounded",
            f"|h_t| exceeds max(|h_(t-1)|, 1): hs[{', '.join(map(str, idx))}] = {hs[idx]!r}, bound "
            f"{bound[idx]:g}. h_t is a convex combination of h_(t-1) and a tanh, so it cannot.",
            case, got=out.hs,
        )
    return None


def _saturate(case: GRUCase, gate: str, sign: float) -> GRUCase:
    p = case.params
    zeros_w, zeros_u = np.zeros_like(p.W_z), np.zeros_like(p.U_z)
    b = np.full_like(p.b_z, sign * SATURATE)
    return GRUCase(case.x, case.h0, p.replace(**{f"W_{gate}": zeros_w, f"U_{gate}": zeros_u, f"b_{gate}": b}))


def _update_gate_saturation(ctx: Context, case: GRUCase) -> Optional[Failure]:
    keep = _saturate(case, "z", +1.0)  # z = 1: h_t = h_{t-1} = h0 at every step
    out = ctx.run(keep)
    failure = _contract_failure(keep, out)
    if failure:
        return failure
    expected = np.broadcast_to(keep.h0[:, None, :], out.hs.shape).astype(np.float64)
    failure = _mismatch_failure(
        ctx, "update_gate_saturation",
        f"with the update gate forced to z = 1 (W_z = U_z = 0, b_z = {SATURATE:g}), every h_t must "
        "equal h_(t-1), so hs must repeat h0.", keep, out, expected,
    )
    if failure:
        return failure
    take = _saturate(case, "z", -1.0)  # z = 0: h_t = n_t, the candidate
    out = ctx.run(take)
    failure = _contract_failure(take, out)
    if failure:
        return failure
    hs, _, slack = reference(take, ctx.reset_after, out.hs.dtype)
    return _mismatch_failure(
        ctx, "update_gate_saturation",
        f"with the update gate forced to z = 0 (W_z = U_z = 0, b_z = -{SATURATE:g}), every h_t must "
        f"equal the candidate n_t (reset_after={ctx.reset_after}).", take, out, hs, slack,
    )


def _other_h0(h0: np.ndarray) -> np.ndarray:
    return np.where(h0 >= 0, h0 - 1, h0 + 1).astype(h0.dtype)


def _reset_gate_zero(ctx: Context, case: GRUCase) -> Optional[Failure]:
    # z = 0 and r = 0: h_t = n_t, and n_t must not depend on h_(t-1) at all.
    c = _saturate(_saturate(case, "z", -1.0), "r", -1.0)
    other = GRUCase(c.x, _other_h0(c.h0), c.params)
    out_a = ctx.run(c)
    failure = _contract_failure(c, out_a)
    if failure:
        return failure
    out_b = ctx.run(other)
    failure = _contract_failure(other, out_b)
    if failure:
        return failure
    mm = ctx.agree("hs", out_b.hs, out_a.hs.astype(np.float64))
    if mm is None:
        return None
    return Failure(
        "reset_gate_zero",
        f"with the reset gate forced to r = 0 and the update gate to z = 0 (W = U = 0, b = -{SATURATE:g} "
        "for both), the candidate must not depend on h_(t-1); yet changing h0 changed hs. "
        "Below, 'expected' is hs for the h0 shown, 'got' is hs for h0' = h0 - sign(h0).",
        c, got=out_b.hs, expected=out_a.hs, mismatch=mm, reset_after=ctx.reset_after,
    )


def _batch_rows_independent(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = ctx.run(case)
    failure = _contract_failure(case, out)
    if failure:
        return failure
    perm = np.arange(case.B)[::-1]
    flipped = GRUCase(case.x[perm], case.h0[perm], case.params)
    out_f = ctx.run(flipped)
    failure = _contract_failure(flipped, out_f)
    if failure:
        return failure
    mm = ctx.agree("hs", out_f.hs, out.hs[perm].astype(np.float64))
    if mm is None:
        return None
    return Failure(
        "batch_rows_independent",
        "reversing the order of the batch rows changed the results beyond reordering them: "
        "row b of hs must depend only on row b of x and h0 ('expected' is hs with its rows "
        "reversed, 'got' is hs of the reversed batch).",
        case, got=out_f.hs, expected=out.hs[perm], mismatch=mm,
    )


def _final_state_is_last(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = ctx.run(case)
    failure = _contract_failure(case, out)
    if failure or out.h_T is None:
        return failure
    expected = out.hs[:, -1, :] if case.T else case.h0
    mm = ctx.agree("h_T", out.h_T, expected.astype(np.float64))
    if mm is None:
        return None
    what = "hs[:, -1]" if case.T else "h0 (T = 0: no step was taken)"
    return Failure("final_state_is_last", f"the returned h_T is not {what}.", case,
                   got=out.h_T, expected=expected, mismatch=mm)


def _deterministic(ctx: Context, case: GRUCase) -> Optional[Failure]:
    first = ctx.run(case)
    failure = _contract_failure(case, first)
    if failure:
        return failure
    # A call with other inputs (at least one step) in between: state kept
    # between calls shows in the third call.
    other_x = np.ones((case.B, max(case.T, 1), case.D), dtype=case.x.dtype)
    ctx.run(GRUCase(other_x, _other_h0(case.h0), case.params))
    again = ctx.run(case)
    failure = _contract_failure(case, again)
    if failure:
        return failure
    same_hT = first.h_T is None or again.h_T is None or np.array_equal(first.h_T, again.h_T, equal_nan=True)
    if np.array_equal(first.hs, again.hs, equal_nan=True) and same_hT:
        return None
    if np.array_equal(first.hs, again.hs, equal_nan=True):
        mm = compare("h_T", again.h_T, first.h_T, 0.0, 0.0)
        got, expected = again.h_T, first.h_T
    else:
        mm = compare("hs", again.hs, first.hs, 0.0, 0.0)
        got, expected = again.hs, first.hs
    return Failure(
        "deterministic",
        "calling the function again with the same inputs (after one call with other inputs) "
        "gave a different result ('expected' is the first call, 'got' the third).",
        case, got=got, expected=expected, mismatch=mm, diagnosis="nondeterministic",
    )


def _inputs_unchanged(ctx: Context, case: GRUCase) -> Optional[Failure]:
    out = ctx.run(case, check_mutation=True)
    failure = _contract_failure(case, out)
    if failure:
        return failure
    if out.mutated:
        return Failure("inputs_unchanged", out.mutated, case, diagnosis="input_mutated")
    return None


# ------------------------------------------------------------------ catalog
# Small sizes: enough for every structural bug to show (two batch rows, a few
# steps, D != H), few enough numbers that shrinking is quick and the
# counterexample readable.
_SIZES = dict(max_batch=3, max_time=4, max_input=3, max_hidden=3)


def _cases(**dim_kwargs) -> st.SearchStrategy[GRUCase]:
    return gru_cases(dims(**{**_SIZES, **dim_kwargs}), dtype=float_dtypes())


def _extreme_cases() -> st.SearchStrategy[GRUCase]:
    return extreme_gru_cases(dims(**_SIZES), dtype=float_dtypes())


@functools.lru_cache(maxsize=None)
def properties() -> Tuple[Property, ...]:
    """Every property, in the order ``check_implementation`` runs them."""
    return (
        Property("output_contract",
                 "returns hs (B, T, H) or (hs, h_T) as float arrays, without raising or hanging",
                 st.one_of(_cases(), _extreme_cases()), _output_contract, examples_share=0.5),
        Property("matches_reference",
                 "agrees with the Level 1 reference GRU within the output dtype's tolerance",
                 _cases(), _matches_reference),
        Property("update_gate_saturation", "z -> 1 keeps h_prev; z -> 0 takes the candidate",
                 _cases(min_time=1), _update_gate_saturation),
        Property("reset_gate_zero", "r -> 0 removes h_prev from the candidate",
                 _cases(min_time=1), _reset_gate_zero),
        Property("matches_reference_at_extremes",
                 "agrees with the reference when weights and inputs reach 1e4 (saturated gates)",
                 _extreme_cases(), _matches_reference_extreme),
        Property("finite_and_bounded",
                 "stays finite with |h_t| <= max(|h_(t-1)|, 1) at extreme magnitudes",
                 _extreme_cases(), _finite_and_bounded),
        Property("batch_rows_independent", "treats each batch row independently",
                 _cases(min_batch=2, min_time=1), _batch_rows_independent),
        Property("final_state_is_last", "returns h_T equal to hs[:, -1] (h0 when T = 0)",
                 _cases(), _final_state_is_last),
        Property("inputs_unchanged", "leaves x, h0 and every parameter array unmodified",
                 _cases(), _inputs_unchanged),
        Property("deterministic", "gives the same result for the same inputs, call after call",
                 _cases(min_time=1), _deterministic),
    )


def property_names() -> List[str]:
    return [p.name for p in properties()]
