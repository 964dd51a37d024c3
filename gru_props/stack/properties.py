"""The properties a stack (layers, directions, lengths) is held to by ``check_implementation``.

Every single-layer property lifted where it applies (output contract, agreement with the reference at
ordinary and extreme magnitudes, bounded and finite, a saturated update gate, final state, inputs
unchanged, determinism, T = 0, h0=None, dtypes), and the stack's own:

* ``padding_ignored``: other values at padded steps change no valid output and no state;
* ``padded_outputs``: padded steps hold what ``padding=`` says ("zeros": 0; "hold": the forward
  direction's last valid state; "any": not checked);
* ``sequences_independent``: each sequence's outputs equal the same sequence run alone, without padding;
* ``directions_mirror``: the reverse direction is the forward direction on the time-reversed sequence,
  with its outputs reversed (swap each layer's two directions and reverse each sequence: out comes back
  reversed with its halves swapped, h_n with its directions swapped);
* ``layers_compose``: layer k's input is layer k - 1's output (the first layer alone, then the others on
  its out, give the whole stack's out and h_n).
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.engine.checks import contract_failure, dtype_at_empty, empty_sequence_failure, inputs_unchanged
from gru_props.engine.compare import compare, compare_allowed
from gru_props.engine.conventions import Convention
from gru_props.engine.model import NA, Context, Failure, Property, Verdict
from gru_props.engine.profiles import Sizes
from gru_props.engine.tolerance import Allowed, allowed_for, estimate, precision_of
from gru_props.stack import terms
from gru_props.stack.case import StackCase
from gru_props.stack.subject import StackOutcome
from gru_props.strategies import stack_cases
from gru_props.tiers import stack as tier_stack
from gru_props.tiers.variants import stack_textbook

SATURATE = 40.0


@dataclasses.dataclass(frozen=True)
class Settings:
    """The stack form a check was asked for."""

    num_layers: int
    bidirectional: bool
    lengths: bool
    padding: str


def run(ctx: Context, case: StackCase, check_mutation: bool = False, h0_none: bool = False) -> StackOutcome:
    out = ctx.subject.run(case, check_mutation=check_mutation, h0_none=h0_none)
    ctx.record_warnings(out.warnings)
    return out


def _dtypes(case: StackCase, out: StackOutcome) -> Tuple[Any, ...]:
    return (case.dtype,) + tuple(out.dtypes)


def settings_of(ctx: Context) -> Settings:
    return ctx.extra["stack"]


# -------------------------------------------------------------- reference
class Expected(NamedTuple):
    out: np.ndarray
    h_n: np.ndarray
    allowed_out: Allowed
    allowed_hn: Allowed


_EXPECTED: "weakref.WeakKeyDictionary[StackCase, Dict[Any, Expected]]" = weakref.WeakKeyDictionary()


def padding_judged(case: StackCase, padding: str) -> Optional[np.ndarray]:
    """(B, T, nd * H) booleans: which elements of out ``padding`` lets the check judge (None: all)."""
    if case.lengths is None or padding == "zeros":
        return None
    judged = np.broadcast_to(case.valid[:, :, None], (case.B, case.T, case.nd * case.H)).copy()
    if padding == "hold":
        judged[:, :, :case.H] = True  # the forward direction holds its last state; the reverse half is open
    return judged


def reference_out(case: StackCase, conv: Convention, padding: str, slips: Tuple[str, ...] = ()
                  ) -> Tuple[np.ndarray, np.ndarray]:
    return terms.forward(case.x, case.h0, case.layers, case.lengths, case.bidirectional, conv, slips, padding)


def reference(ctx: Context, case: StackCase, conv: Convention, dtypes: Tuple[Any, ...]) -> Expected:
    """The float64 reference in ``conv`` and what a correct stack computing in ``dtypes`` may differ by."""
    padding = settings_of(ctx).padding
    precision = precision_of(*dtypes)
    key = (conv, precision, ctx.rtol, ctx.atol, padding)
    cached = _EXPECTED.setdefault(case, {})
    if key in cached:
        return cached[key]

    def exact(**kw: Any) -> Dict[str, np.ndarray]:
        out, h_n = reference_out(case, conv, padding)
        return {"out": out, "h_n": h_n}

    def tier(dtype: Any, fn: Callable[..., Any]) -> Callable[..., Dict[str, np.ndarray]]:
        def computed(**kw: Any) -> Dict[str, np.ndarray]:
            layers = [conv.standard_params(p).astype(dtype) for p in case.layers]
            out, h_n = fn(case.x.astype(dtype), case.h0.astype(dtype), layers, bidirectional=case.bidirectional,
                          lengths=case.lengths, reset_after=conv.reset_after)
            if padding == "hold" and case.lengths is not None:  # the held forward half, as the reference has it
                out = out.copy()
                out[:, :, :case.H] = _held(out[:, :, :case.H], case)
            return {"out": out, "h_n": h_n}
        return computed

    tiers = ([tier(np.float32, tier_stack.readable_forward), tier(np.float32, tier_stack.fast_forward),
              tier(np.float32, stack_textbook.readable_forward)]
             if precision.itemsize < 8 else [tier(np.float64, tier_stack.fast_forward)])
    est = estimate(exact, {}, tiers, precision, smoothing={"out": (2,), "h_n": (2,)})
    out, h_n = reference_out(case, conv, padding)
    a_out = allowed_for(out, est["out"], precision, rtol=ctx.rtol, atol=ctx.atol)
    pad = padding_judged(case, padding)
    if pad is not None:
        a_out = dataclasses.replace(a_out, judged=pad if a_out.judged is None else (a_out.judged & pad))
    result = Expected(out, h_n, a_out, allowed_for(h_n, est["h_n"], precision, rtol=ctx.rtol, atol=ctx.atol))
    cached[key] = result
    return result


def _held(fwd: np.ndarray, case: StackCase) -> np.ndarray:
    """The forward half with each padded step holding the last valid state (h0 of the top layer at length 0)."""
    assert case.lengths is not None
    idx = np.maximum(case.lengths - 1, 0)
    last = fwd[np.arange(case.B), idx]
    last = np.where((case.lengths > 0)[:, None], last, case.h0[(case.L - 1) * case.nd])
    return np.where(case.valid[:, :, None], fwd, last[:, None, :])


def _compare(out: StackOutcome, exp: Expected) -> Any:
    mm = compare_allowed("out", out.states, exp.out, exp.allowed_out)
    if mm is not None:
        return "out", mm, out.states, exp.out
    assert out.h_n is not None
    mm = compare_allowed("h_n", out.h_n, exp.h_n, exp.allowed_hn)
    if mm is not None:
        return "h_n", mm, out.h_n, exp.h_n
    return None


def against_conventions(ctx: Context, prop: str, case: StackCase, out: StackOutcome, what: str,
                        fit: bool = False) -> Verdict:
    first: Optional[Failure] = None
    distances: Dict[Convention, float] = {}
    for conv in ctx.conventions():
        exp = reference(ctx, case, conv, _dtypes(case, out))
        diff = _compare(out, exp)
        if diff is None:
            if not fit:
                return None
            ctx.fits[conv] = ctx.fits.get(conv, 0) + 1
            continue
        name, mm, got, expected = diff
        distances[conv] = mm.worst_abs
        if first is None:
            first = Failure(prop, what.format(name="outputs" if name == "out" else "final states h_n",
                                              conv=conv.short()), case, got=got, expected=expected, mismatch=mm,
                            convention=conv)
            first.extra["allowed"] = exp.allowed_out if name == "out" else exp.allowed_hn
    if fit:
        ctx.fit_trials += 1
    if len(distances) < len(ctx.candidates):
        return None
    assert first is not None
    first.distances = distances
    return first


def _failure_or(case: StackCase, out: StackOutcome) -> Optional[Failure]:
    return contract_failure(case, out)


def _between(ctx: Context, case: StackCase, dtypes: Tuple[Any, ...]) -> Tuple[Allowed, Allowed]:
    exp = reference(ctx, case, ctx.primary, dtypes)
    return exp.allowed_out.scaled(2.0), exp.allowed_hn.scaled(2.0)


# ------------------------------------------------------------- properties
def _output_contract(ctx: Context, case: StackCase) -> Optional[Failure]:
    return contract_failure(case, run(ctx, case))


def _matches(ctx: Context, case: StackCase, prop: str = "matches_reference", fit: bool = True) -> Verdict:
    out = run(ctx, case)
    return contract_failure(case, out) or against_conventions(
        ctx, prop, case, out, "the {name} differ from the reference stack ({conv}).", fit=fit)


def _matches_extreme(ctx: Context, case: StackCase) -> Verdict:
    return _matches(ctx, case, "matches_reference_at_extremes", fit=False)


def _finite_and_bounded(ctx: Context, case: StackCase) -> Optional[Failure]:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    for name, a in (("out", out.states), ("h_n", out.h_n)):
        a = np.asarray(a, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            return Failure("finite_and_bounded", f"the output is not finite: {name}[{', '.join(map(str, idx))}] = "
                           f"{float(a[idx])!r} for finite inputs.", case, got=a, diagnosis="non_finite_output")
        _, atol = ctx.tolerance(*_dtypes(case, out))
        if np.any(np.abs(a) > 1 + atol):
            idx = tuple(int(i) for i in np.argwhere(np.abs(a) > 1 + atol)[0])
            return Failure("finite_and_bounded", f"|{name}| exceeds 1: {name}[{', '.join(map(str, idx))}] = "
                           f"{float(a[idx])!r}. With |h0| <= 1 every state of every layer stays in [-1, 1] (a "
                           "convex combination of the previous state and a tanh).", case, got=a)
    return None


def _saturated(case: StackCase, sign: float) -> StackCase:
    layers = tuple(p.replace(W_z=np.zeros_like(p.W_z), U_z=np.zeros_like(p.U_z),
                             b_z=np.full_like(p.b_z, sign * SATURATE)) for p in case.layers)
    return case.replace(layers=layers)


def _update_gate_saturation(ctx: Context, case: StackCase) -> Verdict:
    if not ctx.bias:
        return NA
    first: Optional[Failure] = None
    for sign in dict.fromkeys(c.keep_sign() for c in ctx.conventions()):
        keep = _saturated(case, sign)
        out = run(ctx, keep)
        failure = contract_failure(keep, out)
        if failure:
            return failure
        top = [keep.h0[(keep.L - 1) * keep.nd + d] for d in range(keep.nd)]
        expected = np.broadcast_to(np.concatenate(top, axis=1)[:, None, :], out.states.shape).astype(np.float64)
        pad = padding_judged(keep, settings_of(ctx).padding)
        if keep.lengths is not None and settings_of(ctx).padding == "zeros":
            expected = np.where(keep.valid[:, :, None], expected, 0.0)
        rtol, atol = ctx.tolerance(*_dtypes(keep, out))
        mm = compare("out", out.states, expected, rtol, atol, judged=pad)
        if mm is None:
            mm = compare("h_n", out.h_n, keep.h0.astype(np.float64), rtol, atol)
        if mm is None:
            return None
        f = Failure("update_gate_saturation", "with every layer's update gate saturated to keep its state "
                    "(W_z = U_z = 0, b_z = ±40), every state must stay its h0: out repeats the top layer's h0 at "
                    "every valid step and h_n equals h0.", keep, got=out.states if mm.name == "out" else out.h_n,
                    expected=expected if mm.name == "out" else keep.h0, mismatch=mm)
        first = first or f
    return first


def _other_padding(case: StackCase) -> StackCase:
    rng = np.random.default_rng(7)
    noise = (5.0 * rng.standard_normal(case.x.shape)).astype(case.x.dtype)
    return case.replace(x=np.where(case.valid[:, :, None], case.x, noise))


def _padding_ignored(ctx: Context, case: StackCase) -> Verdict:
    if case.lengths is None or bool(np.all(case.valid)):
        return NA
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    other = _other_padding(case)
    out2 = run(ctx, other)
    failure = contract_failure(other, out2)
    if failure:
        return failure
    a_out, a_hn = _between(ctx, case, _dtypes(case, out) + tuple(out2.dtypes))
    valid = np.broadcast_to(case.valid[:, :, None], out.states.shape)
    mm = compare_allowed("out", out2.states, out.states.astype(np.float64), dataclasses.replace(
        a_out, judged=valid if a_out.judged is None else a_out.judged & valid))
    if mm is None:
        mm = compare_allowed("h_n", out2.h_n, out.h_n.astype(np.float64), a_hn)
    if mm is None:
        return None
    f = Failure("padding_ignored", "other values at the padded steps (t >= lengths[b]) changed a valid output or a "
                "final state: padding must never be read ('expected' is the run with the padding shown, 'got' the "
                "run with other padding).", other, got=out2.states if mm.name == "out" else out2.h_n,
                expected=out.states if mm.name == "out" else out.h_n, mismatch=mm)
    f.extra["diagnosis_cases"] = (case,)
    return f


def _padded_outputs(ctx: Context, case: StackCase) -> Verdict:
    padding = settings_of(ctx).padding
    if case.lengths is None or padding == "any" or bool(np.all(case.valid)):
        return NA
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    got = out.states.astype(np.float64)
    pad = ~case.valid
    if padding == "zeros":
        bad = pad[:, :, None] & (got != 0)
        if not bad.any():
            return None
        b, t, j = (int(i) for i in np.argwhere(bad)[0])
        expected = np.where(pad[:, :, None], 0.0, got)
        return Failure("padded_outputs", f"padding='zeros': out must be exactly 0 at padded steps (as PyTorch's "
                       f"pad_packed_sequence and ONNX Runtime give); out[{b}, {t}, {j}] = {got[b, t, j]!r} with "
                       f"lengths[{b}] = {int(case.lengths[b])}.", case, got=out.states, expected=expected,
                       mismatch=compare("out", got, expected, 0.0, 0.0), diagnosis=None)
    H = case.H
    fwd = got[:, :, :H]
    held = _held(fwd, case)
    alt = np.where(((case.lengths == 0)[:, None] & pad)[:, :, None], 0.0, held)  # at length 0, zeros too
    rtol, atol = ctx.tolerance(*_dtypes(case, out))
    if compare("out", fwd, held, rtol, atol) is None or compare("out", fwd, alt, rtol, atol) is None:
        return None
    return Failure("padded_outputs", "padding='hold': at padded steps the forward half of out must repeat the last "
                   "valid output (the state a masked update h = m * h_new + (1 - m) * h keeps).", case,
                   got=fwd, expected=held, mismatch=compare("out", fwd, held, rtol, atol))


def _alone(case: StackCase, b: int) -> StackCase:
    n = int(case.lengths[b]) if case.lengths is not None else case.T
    return case.replace(x=case.x[b:b + 1, :n], h0=case.h0[:, b:b + 1],
                        lengths=None if case.lengths is None else np.array([n]))


def _sequences_independent(ctx: Context, case: StackCase) -> Verdict:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    rows = [b for b in range(case.B) if case.lengths is None or case.lengths[b] > 0]
    if not rows or (case.B == 1 and (case.lengths is None or case.lengths[0] == case.T)):
        return NA
    a_out, a_hn = _between(ctx, case, _dtypes(case, out))
    for b in rows[:2] if case.B > 2 else rows:
        single = _alone(case, b)
        o = run(ctx, single)
        failure = contract_failure(single, o)
        if failure:
            return failure
        n = single.T
        part = (slice(b, b + 1), slice(0, n))
        mm = compare_allowed("out", o.states, out.states[part].astype(np.float64), a_out.part(part))
        if mm is None:
            mm = compare_allowed("h_n", o.h_n, out.h_n[:, b:b + 1].astype(np.float64),
                                 a_hn.part((slice(None), slice(b, b + 1))))
        if mm is not None:
            f = Failure("sequences_independent", f"sequence {b} run alone, without padding (T = its length {n}), "
                        f"gave another result than within the batch: each sequence's outputs and final states must "
                        f"depend on its own steps only ('expected' is sequence {b} within the batch, 'got' alone).",
                        case, got=o.states if mm.name == "out" else o.h_n,
                        expected=out.states[part] if mm.name == "out" else out.h_n[:, b:b + 1],
                        mismatch=mm)
            f.extra["diagnosis_cases"] = (single,)
            return f
    return None


def _final_state(ctx: Context, case: StackCase) -> Verdict:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    B, H, nd, L = case.B, case.H, case.nd, case.L
    lengths = case.lengths if case.lengths is not None else np.full(B, case.T)
    got = out.states.astype(np.float64)
    expected = np.empty((nd, B, H))
    for d in range(nd):
        for b in range(B):
            n = int(lengths[b])
            if n == 0:
                expected[d, b] = case.h0[(L - 1) * nd + d, b]
            else:
                expected[d, b] = got[b, n - 1, :H] if d == 0 else got[b, 0, H:]
    top = out.h_n[(L - 1) * nd:].astype(np.float64)
    rtol, atol = ctx.tolerance(*_dtypes(case, out))
    mm = compare("h_n", top, expected, rtol, atol)
    if mm is None:
        return None
    return Failure("final_state_is_last_valid", "the top layer's h_n must be its state at each sequence's last valid "
                   "step: out[b, lengths[b] - 1, :H] for the forward direction, out[b, 0, H:] for the reverse (h0 at "
                   "length 0) ('expected' is read off the function's own out).", case, got=top, expected=expected,
                   mismatch=mm)


def _mirror(case: StackCase) -> StackCase:
    """Each layer's two directions exchanged (later layers' inputs reordered to match), each sequence reversed."""
    H, nd = case.H, case.nd
    perm = np.concatenate([np.arange(H, 2 * H), np.arange(H)])
    layers = []
    for i in range(len(case.layers)):
        p = case.layers[i ^ 1]
        if i >= nd:
            p = p.replace(W_z=p.W_z[perm], W_r=p.W_r[perm], W_n=p.W_n[perm])
        layers.append(p)
    return case.replace(x=np.ascontiguousarray(tier_stack.flip(case.x, case.lengths)), layers=tuple(layers),
                        h0=case.h0[[i ^ 1 for i in range(len(case.layers))]])


def _directions_mirror(ctx: Context, case: StackCase) -> Verdict:
    if not case.bidirectional:
        return NA
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    mirrored = _mirror(case)
    o = run(ctx, mirrored)
    failure = contract_failure(mirrored, o)
    if failure:
        return failure
    H = case.H
    swapped = np.concatenate([out.states[:, :, H:], out.states[:, :, :H]], axis=2)
    expected = tier_stack.flip(swapped, case.lengths).astype(np.float64)
    expected_hn = out.h_n[[i ^ 1 for i in range(len(case.layers))]].astype(np.float64)
    a_out, a_hn = _between(ctx, case, _dtypes(case, out) + tuple(o.dtypes))
    a_out = dataclasses.replace(a_out, slack=None if a_out.slack is None else np.maximum(a_out.slack, tier_stack.flip(
        a_out.slack, case.lengths)), judged=None)
    pad = padding_judged(case, "any")
    mm = compare("out", o.states, expected, a_out.rtol, a_out.atol, a_out.slack, pad)
    if mm is None:
        mm = compare_allowed("h_n", o.h_n, expected_hn, a_hn)
    if mm is None:
        return None
    f = Failure("directions_mirror", "with each layer's two directions exchanged and every sequence reversed "
                "within its length, out must come back reversed with its halves swapped and h_n with its "
                "directions swapped: the reverse direction is the forward one run backwards ('expected' is built "
                "from the function's out on the case shown, 'got' its out on the mirrored case).", case,
                got=o.states if mm.name == "out" else o.h_n, expected=expected if mm.name == "out" else expected_hn,
                mismatch=mm)
    f.extra["diagnosis_cases"] = (mirrored,)
    return f


def _layers_compose(ctx: Context, case: StackCase) -> Verdict:
    if case.L < 2:
        return NA
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    nd = case.nd
    low = case.replace(layers=case.layers[:nd], h0=case.h0[:nd])
    o_low = run(ctx, low)
    if o_low.error is not None:
        return NA  # the function only runs its own number of layers: nothing to compose
    high = case.replace(x=o_low.states.astype(case.x.dtype), layers=case.layers[nd:], h0=case.h0[nd:])
    o_high = run(ctx, high)
    if o_high.error is not None:
        return NA
    a_out, a_hn = _between(ctx, case, _dtypes(case, out))
    mm = compare_allowed("out", o_high.states, out.states.astype(np.float64), a_out.scaled(2.0))
    got_hn = np.concatenate([o_low.h_n, o_high.h_n])
    if mm is None:
        mm = compare_allowed("h_n", got_hn, out.h_n.astype(np.float64), a_hn.scaled(2.0))
    if mm is None:
        return None
    return Failure("layers_compose", "layer k's input must be layer k - 1's output: the first layer alone, then the "
                   "other layers run on its out, must give the whole stack's out and h_n ('expected' is the whole "
                   "stack, 'got' the composition).", case, got=o_high.states if mm.name == "out" else got_hn,
                   expected=out.states if mm.name == "out" else out.h_n, mismatch=mm)


def _other(case: StackCase) -> StackCase:
    layers = tuple(GRUParams.random(p.D, p.H, seed=i, scale=1.0, dtype=p.dtype) for i, p in enumerate(case.layers))
    T = max(case.T, 1)
    return case.replace(x=np.ones((case.B, T, case.D), dtype=case.x.dtype), layers=layers,
                        h0=np.where(case.h0 >= 0, case.h0 - 1, case.h0 + 1).astype(case.h0.dtype),
                        lengths=None if case.lengths is None else np.full(case.B, T))


def _deterministic(ctx: Context, case: StackCase) -> Optional[Failure]:
    first = run(ctx, case)
    failure = contract_failure(case, first)
    if failure:
        return failure
    run(ctx, _other(case))
    again = run(ctx, case)
    failure = contract_failure(case, again)
    if failure:
        return failure
    for name, a, b in (("out", first.out, again.out), ("h_n", first.h_n, again.h_n)):
        if not np.array_equal(a, b, equal_nan=True):
            return Failure("deterministic", "calling the function again with the same inputs (after one call with "
                           f"other inputs) gave a different {name} ('expected' is the first call, 'got' the third).",
                           case, got=b, expected=a, mismatch=compare(name, b, a, 0.0, 0.0),
                           diagnosis="nondeterministic", kind="behaviour")
    return None


def _inputs_unchanged(ctx: Context, case: StackCase) -> Optional[Failure]:
    return inputs_unchanged(ctx, case, run)


_EMPTY_HINTS = ("What does your stack return when x has no time steps?",
                "With T = 0, out has shape (B, 0, num_directions * H) and h_n = h0 (every length is 0).",
                "Allocate out with np.zeros((B, T, num_directions * H), dtype=x.dtype) and return h0's copy as h_n.")


def _empty_sequence(ctx: Context, case: StackCase) -> Verdict:
    out = run(ctx, case)
    one = case.replace(x=np.zeros((case.B, 1, case.D), dtype=case.x.dtype),
                       lengths=None if case.lengths is None else np.ones(case.B, dtype=np.int64))
    out_one = run(ctx, one)
    if out_one.error is not None:
        return contract_failure(one, out_one)
    if out.error is not None:
        return empty_sequence_failure(case, out, _EMPTY_HINTS)
    changed = dtype_at_empty(case, out.dtypes, out_one.dtypes)
    if changed is not None:
        return changed
    rtol, atol = ctx.tolerance(*_dtypes(case, out))
    mm = compare("h_n", out.h_n, case.h0.astype(np.float64), rtol, atol)
    if mm is None:
        return None
    return Failure("empty_sequence", "with T = 0 no step is taken, so h_n must be h0.", case, got=out.h_n,
                   expected=case.h0, mismatch=mm, kind="edge")


def _accepts_h0_none(ctx: Context, case: StackCase) -> Verdict:
    zero = case.replace(h0=np.zeros_like(case.h0))
    with_zeros = run(ctx, zero)
    if with_zeros.error is not None:
        return contract_failure(zero, with_zeros)
    with_none = run(ctx, zero, h0_none=True)
    if with_none.error is not None:
        return Failure("accepts_h0_none", f"the function does not accept h0=None, which the contract defines as "
                       f"zeros: it {with_none.error}", zero, kind="edge", warning=True)
    a_out, a_hn = _between(ctx, zero, _dtypes(zero, with_none))
    mm = compare_allowed("out", with_none.states, with_zeros.states.astype(np.float64), a_out, equal_nan=True)
    if mm is None:
        mm = compare_allowed("h_n", with_none.h_n, with_zeros.h_n.astype(np.float64), a_hn,
                             equal_nan=True)
    if mm is None:
        return None
    return Failure("accepts_h0_none", "h0=None must mean zeros, but the result differs from the run with h0 = zeros.",
                   zero, got=with_none.states if mm.name == "out" else with_none.h_n,
                   expected=with_zeros.states if mm.name == "out" else with_zeros.h_n, mismatch=mm)


def _dtype_preserved(ctx: Context, case: StackCase) -> Optional[Failure]:
    for dtype in (np.dtype(np.float32), np.dtype(np.float64)):
        c = case.astype(dtype)
        out = run(ctx, c)
        failure = contract_failure(c, out)
        if failure:
            return failure
        wrong = sorted({str(d) for d in out.dtypes if d != dtype})
        if wrong:
            return Failure("dtype_preserved", f"{dtype} inputs came back as {', '.join(wrong)}; the contract is "
                           "float32 in, float32 out; float64 in, float64 out.", c, kind="contract", warning=True)
    return None


@functools.lru_cache(maxsize=None)
def properties(s: Settings, bias: bool, sizes: Sizes) -> Tuple[Property, ...]:
    """Every stack property that applies to the form ``s``, in the order the check runs them."""
    kw = dict(num_layers=s.num_layers, bidirectional=s.bidirectional, lengths=s.lengths, bias=bias, sizes=sizes)
    ordinary = stack_cases(**kw)  # type: ignore[arg-type]
    extreme = stack_cases(extreme=True, **kw)  # type: ignore[arg-type]
    empty = stack_cases(empty=True, **kw)  # type: ignore[arg-type]
    props = [
        Property("output_contract", "returns (out, h_n): out (B, T, num_directions * H), h_n (num_layers * "
                 "num_directions, B, H), float arrays, without raising or hanging", ordinary, _output_contract,
                 examples_share=0.3, kind="contract"),
        Property("matches_reference", "agrees with the float64 reference stack within the tolerance of the least "
                 "precise dtype", ordinary, _matches),
        Property("matches_reference_at_extremes", "agrees with the reference at weights and inputs up to 1e3",
                 extreme, _matches_extreme, examples_share=0.3),
        Property("finite_and_bounded", "stays finite, every state within [-1, 1], at extreme magnitudes", extreme,
                 _finite_and_bounded, examples_share=0.2),
        Property("update_gate_saturation", "a saturated update gate keeps every layer's h0", ordinary,
                 _update_gate_saturation, examples_share=0.2),
        Property("final_state_is_last_valid", "h_n of the top layer is its state at each sequence's last valid step",
                 ordinary, _final_state, examples_share=0.3),
        Property("sequences_independent", "each sequence equals itself run alone, without padding", ordinary,
                 _sequences_independent, examples_share=0.3),
    ]
    if s.lengths:
        props += [
            Property("padding_ignored", "padding never changes a valid output or state", ordinary, _padding_ignored,
                     examples_share=0.4),
            Property("padded_outputs", f"padded steps hold what padding={s.padding!r} says", ordinary,
                     _padded_outputs, examples_share=0.3),
        ]
    if s.bidirectional:
        props.append(Property("directions_mirror", "the reverse direction is the forward one on each sequence "
                              "reversed, with its outputs reversed back", ordinary, _directions_mirror,
                              examples_share=0.3))
    if s.num_layers > 1:
        props.append(Property("layers_compose", "layer k's input is layer k - 1's output", ordinary,
                              _layers_compose, examples_share=0.3))
    props += [
        Property("inputs_unchanged", "leaves x, h0, lengths and every layer's arrays unmodified", ordinary,
                 _inputs_unchanged, examples_share=0.2, kind="behaviour"),
        Property("deterministic", "gives the same result for the same inputs, call after call", ordinary,
                 _deterministic, examples_share=0.2, kind="behaviour"),
        Property("empty_sequence", "handles T = 0: out (B, 0, num_directions * H), h_n = h0", empty, _empty_sequence,
                 examples_share=0.1, kind="edge", floors={"T": 0}),
        Property("accepts_h0_none", "accepts h0=None as zeros", ordinary, _accepts_h0_none, examples_share=0.15,
                 kind="edge"),
        Property("dtype_preserved", "returns float32 for float32 input and float64 for float64", ordinary,
                 _dtype_preserved, examples_share=0.15, kind="contract"),
    ]
    return tuple(props)


def small_cases(s: Settings, bias: bool) -> List[StackCase]:
    """Seeded cases of the form ``s`` (detection, search and confirmation of diagnoses)."""
    out = []
    for seed, (B, T, D, H, scale) in enumerate([(3, 4, 3, 2, 1.2), (2, 3, 2, 3, 1.2), (4, 5, 3, 2, 1.0),
                                               (3, 3, 2, 2, 1.5), (2, 4, 4, 2, 1.0), (3, 6, 2, 3, 0.8)]):
        out.append(seeded_case(s, bias, 100 + seed, B, T, D, H, scale))
    return out


def seeded_case(s: Settings, bias: bool, seed: int, B: int, T: int, D: int, H: int, scale: float) -> StackCase:
    rng = np.random.default_rng(seed)
    nd = 2 if s.bidirectional else 1
    layers = []
    for i in range(s.num_layers * nd):
        p = GRUParams.random(D if i < nd else nd * H, H, seed=rng, scale=scale)
        if not bias:
            z = np.zeros(H)
            p = p.replace(b_z=z, b_r=z, b_n=z, b_hn=z)
        layers.append(p)
    lengths = None
    if s.lengths:
        lengths = rng.integers(0, T + 1, B)
        lengths[0] = T
        if B > 2:
            lengths[1] = max(1, T // 2)
    return StackCase(rng.standard_normal((B, T, D)), rng.uniform(-1, 1, (s.num_layers * nd, B, H)), tuple(layers),
                     lengths, s.bidirectional)


__all__ = ["Settings", "against_conventions", "properties", "reference", "run", "seeded_case", "small_cases"]

