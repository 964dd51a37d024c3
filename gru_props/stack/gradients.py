"""The properties a stack's backward pass is held to by ``check_gradients`` in the stack form.

``backward_fn(x, h0, layers[, lengths], dout, dh_n)`` returns ``(dx, dh0, grads)``: dx (B, T, D), dh0
(num_layers * num_directions, B, H), grads one GRUParams (or mapping of its fields) per layer and direction,
for ``L = sum(out * dout) + sum(h_n * dh_n)``. The oracle is Level 1's stack backward in float64
(``tiers.stack.readable_backward``); with padding other than "zeros" dout is zero at padded steps (what a
padded output is depends on the convention there).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np

from gru_props.engine.checks import contract_failure, inputs_unchanged
from gru_props.engine.compare import compare, compare_allowed
from gru_props.engine.conventions import Convention
from gru_props.engine.model import NA, Context, Failure, Property, Verdict
from gru_props.engine.profiles import Sizes
from gru_props.engine.tolerance import Allowed, allowed_for, estimate, precision_of
from gru_props.stack import terms
from gru_props.stack.case import StackCase
from gru_props.stack.properties import Settings, _deterministic, _dtype_preserved, run
from gru_props.strategies import stack_cases
from gru_props.tiers import stack as tier_stack
from gru_props.tiers.variants import stack_textbook


class GradExpected(NamedTuple):
    arrays: Dict[str, np.ndarray]
    allowed: Dict[str, Allowed]


_EXPECTED: "weakref.WeakKeyDictionary[StackCase, Dict[Any, GradExpected]]" = weakref.WeakKeyDictionary()


def _named(dx: np.ndarray, dh0: np.ndarray, grads: Any, conv: Convention) -> Dict[str, np.ndarray]:
    out = {"dx": dx, "dh0": dh0}
    for i, g in enumerate(grads):
        for k, v in g.arrays().items():
            out[f"layers[{i}].{k}"] = -v if conv.chung and k in ("W_z", "U_z", "b_z") else v
    return out


def expected_gradients(ctx: Context, case: StackCase, conv: Convention, dtypes: Tuple[Any, ...]) -> GradExpected:
    precision = precision_of(*dtypes)
    key = (conv, precision, ctx.rtol, ctx.atol)
    cached = _EXPECTED.setdefault(case, {})
    if key in cached:
        return cached[key]

    def tier(fn: Any, dtype: Any) -> Any:
        def grads(**kw: Any) -> Dict[str, np.ndarray]:
            layers = [conv.standard_params(p).astype(dtype) for p in case.layers]
            dx, dh0, g = fn(case.x.astype(dtype), case.h0.astype(dtype), layers, case.dout.astype(dtype),
                            case.dh_n.astype(dtype), bidirectional=case.bidirectional, lengths=case.lengths,
                            reset_after=conv.reset_after)
            return _named(dx, dh0, g, conv)
        return grads

    exact = tier(tier_stack.readable_backward, np.float64)
    tiers = ([tier(tier_stack.readable_backward, np.float32), tier(tier_stack.fast_backward, np.float32),
              tier(stack_textbook.readable_backward, np.float32)]
             if precision.itemsize < 8 else [tier(tier_stack.fast_backward, np.float64)])
    arrays = exact()
    est = estimate(exact, {}, tiers, precision, smoothing={k: ((2,) if k == "dx" else (2,) if k == "dh0" else ())
                                                            for k in arrays})
    allowed = {k: allowed_for(v, est[k], precision, scale=max(1.0, float(np.max(np.abs(v), initial=0.0))),
                              gradients=True, rtol=ctx.rtol, atol=ctx.atol) for k, v in arrays.items()}
    result = GradExpected(arrays, allowed)
    cached[key] = result
    return result


def _wrong(out: Any, exp: GradExpected) -> Optional[Tuple[str, Any]]:
    worst = None
    for name, value in exp.arrays.items():
        mm = compare_allowed(name, out.arrays[name], value, exp.allowed[name])
        if mm is not None:
            bad = mm.worst_abs / max(float(np.max(np.abs(value), initial=0.0)), 1e-12)
            if worst is None or bad > worst[0]:
                worst = (bad, name, mm)
    return None if worst is None else (worst[1], worst[2])


def _checked(ctx: Context, case: StackCase, prop: str, what: str, fit: bool = False) -> Verdict:
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    first: Optional[Failure] = None
    distances: Dict[Convention, float] = {}
    for conv in ctx.conventions():
        exp = expected_gradients(ctx, case, conv, (case.dtype,) + tuple(out.dtypes))
        wrong = _wrong(out, exp)
        if wrong is None:
            if not fit:
                return None
            ctx.fits[conv] = ctx.fits.get(conv, 0) + 1
            continue
        name, mm = wrong
        distances[conv] = mm.worst_abs
        if first is None:
            first = Failure(prop, f"{what} The worst is {name}{list(mm.worst_abs_index)}: expected "
                            f"{mm.expected_at_worst!r}, got {mm.got_at_worst!r} ({conv.short()}).", case,
                            got=out.arrays[name], expected=exp.arrays[name], mismatch=mm, convention=conv,
                            parameter=name, index=mm.worst_abs_index)
            first.extra["allowed"] = exp.allowed[name]
    if fit:
        ctx.fit_trials += 1
    if len(distances) < len(ctx.candidates):
        return None
    assert first is not None
    first.distances = distances
    return first


def _output_contract(ctx: Context, case: StackCase) -> Optional[Failure]:
    return contract_failure(case, run(ctx, case))


def _matches(ctx: Context, case: StackCase) -> Verdict:
    return _checked(ctx, case, "gradients_match_reference", "the gradients differ from the float64 reference "
                    "stack's, with a loss on every output and on h_n.", fit=True)


def _final_states_only(ctx: Context, case: StackCase) -> Verdict:
    c = case.replace(dout=np.zeros_like(case.dout))
    return _checked(ctx, c, "gradients_with_loss_on_final_states", "with a loss on h_n only (dout = 0), the "
                    "gradients differ from the reference: dL/dh_n must flow back through every layer and step.")


def _padding_gets_no_gradient(ctx: Context, case: StackCase) -> Verdict:
    if case.lengths is None or bool(np.all(case.valid)):
        return NA
    out = run(ctx, case)
    failure = contract_failure(case, out)
    if failure:
        return failure
    assert out.arrays is not None
    dx = out.arrays["dx"].astype(np.float64)
    pad = ~case.valid
    if np.any(dx[pad] != 0):
        b, t = (int(i) for i in np.argwhere(pad & np.any(dx != 0, axis=2))[0])
        expected = np.where(pad[:, :, None], 0.0, dx)
        return Failure("padding_gets_no_gradient", f"dx must be zero at padded steps (they are never read); "
                       f"dx[{b}, {t}] = {dx[b, t].tolist()} with lengths[{b}] = {int(case.lengths[b])}.", case,
                       got=dx, expected=expected, mismatch=compare("dx", dx, expected, 0.0, 0.0), parameter="dx")
    return None


def _inputs_unchanged(ctx: Context, case: StackCase) -> Optional[Failure]:
    return inputs_unchanged(ctx, case, run)


@functools.lru_cache(maxsize=None)
def properties(s: Settings, bias: bool, sizes: Sizes) -> Tuple[Property, ...]:
    kw = dict(num_layers=s.num_layers, bidirectional=s.bidirectional, lengths=s.lengths, bias=bias, sizes=sizes,
              gradient=True)
    ordinary = stack_cases(**kw).map(functools.partial(_upstream_padding, s))  # type: ignore[arg-type]
    props = [
        Property("output_contract", "returns (dx, dh0, grads) of the right shapes, one gradient per layer and "
                 "direction, without raising or hanging", ordinary, _output_contract, examples_share=0.3,
                 kind="contract"),
        Property("gradients_match_reference", "every gradient agrees with the float64 reference stack's",
                 ordinary, _matches),
        Property("gradients_with_loss_on_final_states", "every gradient agrees when the loss is on h_n only",
                 ordinary, _final_states_only, examples_share=0.5),
    ]
    if s.lengths:
        props.append(Property("padding_gets_no_gradient", "dx is zero at padded steps", ordinary,
                              _padding_gets_no_gradient, examples_share=0.3))
    props += [
        Property("inputs_unchanged", "leaves x, h0, lengths, layers, dout and dh_n unmodified", ordinary,
                 _inputs_unchanged, examples_share=0.2, kind="behaviour"),
        Property("deterministic", "gives the same gradients for the same inputs, call after call", ordinary,
                 _deterministic_grads, examples_share=0.2, kind="behaviour"),
        Property("dtype_preserved", "returns float32 gradients for float32 input and float64 for float64",
                 ordinary, _dtype_preserved, examples_share=0.15, kind="contract"),
    ]
    return tuple(props)


def _upstream_padding(s: Settings, case: StackCase) -> StackCase:
    """With padding other than "zeros", dout is zero at padded steps (what a padded output is is open there)."""
    if case.lengths is None or s.padding == "zeros":
        return case
    return case.replace(dout=np.where(case.valid[:, :, None], case.dout, 0).astype(case.dout.dtype))


def _deterministic_grads(ctx: Context, case: StackCase) -> Optional[Failure]:
    first = run(ctx, case)
    failure = contract_failure(case, first)
    if failure:
        return failure
    again = run(ctx, case)
    failure = contract_failure(case, again)
    if failure:
        return failure
    assert first.arrays is not None and again.arrays is not None
    for name, a in first.arrays.items():
        if not np.array_equal(a, again.arrays[name], equal_nan=True):
            return Failure("deterministic", f"the same inputs gave another {name} on the second call.", case,
                           got=again.arrays[name], expected=a, mismatch=compare(name, again.arrays[name], a, 0, 0),
                           diagnosis="nondeterministic", kind="behaviour", parameter=name)
    return None


__all__ = ["expected_gradients", "properties", "terms", "_deterministic"]
