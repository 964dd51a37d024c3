"""Which convention a stack follows, and which slips (``stack.terms``, with the single-layer ones) explain a failure.

The machinery of ``forward.diagnosis``: a beam search (``engine.explain``) over the stack's vocabulary
on the counterexample and seeded cases of the same form; a combination is named only when its model
reproduces the function there and on cases it never saw. ``err.bug_model`` is that model, with the
checked function's own contract (``fn(x, h0, layers[, lengths])`` -> ``(out, h_n)``, or the backward).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.engine.conventions import Convention, vote
from gru_props.engine.explain import Explanation, explain_observed, share
from gru_props.engine.model import Context, Failure
from gru_props.stack import terms
from gru_props.stack.bugs import hints_for
from gru_props.stack.case import StackCase
from gru_props.stack.properties import Settings, reference, run, settings_of, small_cases


def detect(ctx: Context) -> None:
    """Set ``ctx.primary``: each seeded case votes for the candidate whose reference is closest."""
    s = settings_of(ctx)
    per_case: List[Dict[Tuple[Convention, str], float]] = []
    for case in detection_cases(ctx):
        out = run(ctx, case)
        if out.error is not None:
            continue
        best: Dict[Tuple[Convention, str], float] = {}
        for conv in ctx.candidates:
            with np.errstate(all="ignore"):
                err = _distance(ctx, case, conv, out, s)
            best[(conv, "reference")] = err if np.isfinite(err) else np.inf
        per_case.append(best)
    if per_case:
        ctx.primary = vote(per_case, ctx.candidates)


def _distance(ctx: Context, case: StackCase, conv: Convention, out: Any, s: Settings) -> float:
    """The worst difference of what the function returned from convention ``conv``'s reference: the outputs of
    a forward, every gradient of a backward (the references the properties compare with, cached per case)."""
    if out.arrays is None:
        ref = terms.forward(case.x, case.h0, case.layers, case.lengths, case.bidirectional, conv, (), s.padding)
        return float(np.max(np.abs(out.states - ref[0]), initial=0.0))
    from gru_props.stack.gradients import expected_gradients

    exp = expected_gradients(ctx, case, conv, (case.dtype,) + tuple(out.dtypes))
    return max(float(np.max(np.abs(out.arrays[k] - v), initial=0.0)) for k, v in exp.arrays.items())


def detection_cases(ctx: Context) -> List[StackCase]:
    cases = small_cases(settings_of(ctx), ctx.bias)[:3]
    if ctx.extra.get("gradient"):
        cases = [_with_upstream(c, settings_of(ctx)) for c in cases]
    return cases


def _with_upstream(case: StackCase, s: Settings) -> StackCase:
    rng = np.random.default_rng(case.B * 31 + case.T)
    dout = rng.standard_normal((case.B, case.T, case.nd * case.H))
    if case.lengths is not None and s.padding != "zeros":
        dout = np.where(case.valid[:, :, None], dout, 0.0)
    return case.replace(dout=dout, dh_n=rng.standard_normal(case.h0.shape))



class StackModel:
    """``err.bug_model`` of a stack check: the reference stack of ``convention`` with ``slips`` applied (float64),
    called like the checked function: ``(x, h0, layers[, lengths])`` -> ``(out, h_n)``, or for a backward
    ``(x, h0, layers[, lengths], dout, dh_n)`` -> ``(dx, dh0, grads)``."""

    def __init__(self, slips: Sequence[str], convention: Convention, s: Settings, gradient: bool) -> None:
        self.slips = tuple(slips)
        self.convention = convention
        self.settings = s
        self.gradient = gradient

    def __call__(self, x: Any, h0: Any, layers: Any, *rest: Any) -> Any:
        rest_l = list(rest)
        lengths = np.asarray(rest_l.pop(0)) if self.settings.lengths else None
        layers = list(layers)
        bi = self.settings.bidirectional
        if self.gradient:
            dout, dh_n = rest_l
            B, H = np.shape(x)[0], layers[0].H
            dh_n = np.zeros((len(layers), B, H)) if dh_n is None else dh_n
            return terms.backward(x, h0, layers, lengths, bi, self.convention, dout, dh_n, self.slips)
        return terms.forward(x, h0, layers, lengths, bi, self.convention, self.slips, self.settings.padding)

    def __repr__(self) -> str:
        return f"StackModel({' + '.join(self.slips)}; {self.convention.short()})"


def _vocabulary(ctx: Context) -> List[str]:
    s = settings_of(ctx)
    if ctx.extra.get("gradient"):
        names = list(terms.GRADIENT_SLIPS)
    else:
        names = [k.key for k in terms.STACK_SLIPS] + list(terms.CELL_SLIPS)
    names = [n for n in names if terms.applies(n, s.lengths, s.bidirectional, s.num_layers)]
    if len({c.reset_after for c in ctx.candidates}) > 1 and "wrong_reset_convention" in names:
        names.remove("wrong_reset_convention")
    if len({c.interpolation for c in ctx.candidates}) > 1 and "reversed_interpolation" in names:
        names.remove("reversed_interpolation")
    if not ctx.bias:
        names = [n for n in names if "b_hn" not in n]
    if s.padding != "zeros" and "padded_outputs_not_zeroed" in names:
        names.remove("padded_outputs_not_zeroed")
    return names


def _agrees(ctx: Context, case: StackCase, conv: Convention, slips: FrozenSet[str], out: Any
            ) -> Tuple[float, bool, Sequence[np.ndarray]]:
    """How well the model with ``slips`` reproduces ``out`` (a share in [0, 1]), whether exactly, and the
    model's own outputs."""
    s = settings_of(ctx)
    if ctx.extra.get("gradient"):
        from gru_props.stack.gradients import expected_gradients

        dx, dh0, grads = terms.backward(case.x, case.h0, case.layers, case.lengths, case.bidirectional, conv,
                                        case.dout, case.dh_n, slips)
        model = {"dx": dx, "dh0": dh0, **{f"layers[{i}].{k}": v for i, g in enumerate(grads)
                                          for k, v in g.arrays().items()}}
        gexp = expected_gradients(ctx, case, conv, (case.dtype,) + tuple(out.dtypes))
        total, exact = 0.0, True
        for name, value in model.items():
            sc, e = share(out.arrays[name], value, allowed=gexp.allowed[name], reference=gexp.arrays[name])
            total, exact = total + sc, exact and e
        return total / len(model), exact, list(model.values())
    o, hn = terms.forward(case.x, case.h0, case.layers, case.lengths, case.bidirectional, conv, slips, s.padding)
    exp = reference(ctx, case, conv, (case.dtype,) + tuple(out.dtypes))
    s1, e1 = share(out.states, o, axis=1, allowed=exp.allowed_out, reference=exp.out)
    s2, e2 = share(out.h_n, hn, allowed=exp.allowed_hn, reference=exp.h_n)
    return 0.6 * s1 + 0.4 * s2, e1 and e2, (o, hn)


def _observed(ctx: Context, cases: Sequence[StackCase]) -> List[Tuple[StackCase, Any]]:
    found = []
    for case in cases:
        o = run(ctx, case)
        if o.error is None:
            found.append((case, o))
    return found


def explain_failure(ctx: Context, failure: Failure) -> Optional[Explanation]:
    s = settings_of(ctx)
    shown = [failure.case] + [c for c in failure.extra.get("found_cases", ()) if c is not failure.case]
    shown += list(failure.extra.get("diagnosis_cases", ()))
    shown_obs = _observed(ctx, shown)
    if not shown_obs:
        return None

    def evaluate(case: StackCase, conv: Convention, slips: FrozenSet[str], out: Any
                 ) -> Tuple[float, bool, Callable[[], Sequence[np.ndarray]]]:
        sc, e, arrays = _agrees(ctx, case, conv, slips, out)
        return sc, e, lambda: arrays  # out and h_n (a slip may change h_n alone), or every gradient

    def more() -> Tuple[List[Tuple[StackCase, Any]], List[Tuple[StackCase, Any]]]:
        cases = small_cases(s, ctx.bias)
        if ctx.extra.get("gradient"):
            cases = [_with_upstream(c, s) for c in cases]
        return _observed(ctx, cases[:3]), _observed(ctx, cases[3:])

    return explain_observed(ctx, shown_obs, more, evaluate, lambda conv: _vocabulary(ctx), terms.site,
                            budget_seconds=20.0)


def diagnose(ctx: Context, failure: Failure) -> None:
    """Name the catalogued bugs behind ``failure``: behaviour first, then the slips that reproduce it."""
    from gru_props.stack.properties import _deterministic, _inputs_unchanged

    if failure.diagnosis is not None or failure.kind != "value":
        return
    if not ctx.extra.get("gradient"):
        behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
        if behaviour is not None and behaviour.diagnosis is not None:
            failure.diagnosis = behaviour.diagnosis
            return
    found = explain_failure(ctx, failure)
    if found is None:
        return
    names = terms.names_of(found.slips)
    failure.diagnoses = names
    failure.diagnosis = names[0] if len(names) == 1 else None
    failure.convention = found.convention
    failure.bug_model = StackModel(found.slips, found.convention, settings_of(ctx), bool(ctx.extra.get("gradient")))
    failure.extra["explained_on"] = found.cases
    failure.extra["slips"] = found.slips
    if len(names) > 1:
        failure.hints = hints_for(names)
