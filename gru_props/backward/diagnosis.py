"""Which convention a backward pass follows, and which catalogued broken backward explains a failure.

The gradient counterpart of ``forward.diagnosis``: ``detect`` votes case by case for the candidate
whose reference (or known broken backward) is closest; ``diagnose`` names a bug of ``bugs.GRAD_BUGS``
only when it reproduces every gradient the function returned, on the counterexample and on the
confirmation cases, where no correct convention does.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.backward import terms
from gru_props.backward.bugs import GRAD_BUGS, hints_for
from gru_props.backward.case import GradCase
from gru_props.backward.properties import expected_gradients, reference_gradients, run
from gru_props.core.params import _BIASES, _FIELDS, GRUParams, in_float64
from gru_props.engine.case import seeded_inputs
from gru_props.engine.conventions import Convention, vote
from gru_props.engine.explain import Explanation, explain_observed, matching, named, share
from gru_props.engine.model import Context, Failure
from gru_props.engine.overflow import explain_gradients, overflow
from gru_props.engine.tolerance import precision_of


# ------------------------------------------------------- detect, diagnose
def _seeded(seeds: Tuple[int, ...], B: int, T: int, D: int, H: int, bias: bool, step: bool,
            scale: float = 1.0) -> List[GradCase]:
    cases = []
    for seed in seeds:
        rng, x, h0, p = seeded_inputs(seed, B, 1 if step else T, D, H, scale=scale, bias=bias)
        dhs = rng.standard_normal((B, 1 if step else T, H))
        dh_T = np.zeros((B, H)) if step else rng.standard_normal((B, H))
        cases.append(GradCase(x, h0, p, dhs, dh_T, step))
    return cases


def detection_cases(bias: bool, step: bool) -> List[GradCase]:
    return _seeded((31, 32), 2, 3, 3, 4, bias, step, 1.5) + _seeded((33,), 3, 5, 2, 5, bias, step)


def confirmation_cases(bias: bool, step: bool) -> List[GradCase]:
    return detection_cases(bias, step) + _seeded((34,), 2, 4, 4, 3, bias, step, 0.5)


def _observation(case: GradCase, arrays: Dict[str, np.ndarray], conv: Convention) -> Tuple[Any, ...]:
    """What diagnose_gradients reads, relabelled to the standard interpolation for a Chung candidate."""
    grads = {k: arrays[k] for k in GRUParams.__dataclass_fields__}
    params = conv.standard_params(case.params.astype(np.float64))
    if conv.chung:
        grads = {k: (-v if k in ("W_z", "U_z", "b_z") else v) for k, v in grads.items()}
    return (case.x, case.h0, params, case.dhs, case.dh_T, arrays["dx"], arrays["dh0"], grads)


def detect(ctx: Context) -> None:
    """Set ``ctx.primary``: each detection case votes for the candidate whose reference (or known
    broken backward) is closest (``engine.conventions.vote``)."""
    bias, step = ctx.bias, ctx.subject.step
    per_case: List[Dict[Tuple[Convention, str], float]] = []
    seen = 0
    for case in detection_cases(bias, step):
        out = run(ctx, case)
        if out.arrays is None:
            continue
        seen += 1
        best: Dict[Tuple[Convention, str], float] = {}
        per_case.append(best)
        for conv in ctx.candidates:
            expected = {"reference": reference_gradients(case, conv)}
            p_std = conv.standard_params(case.params.astype(np.float64))
            for name, bug in GRAD_BUGS.items():
                if name == "reset_convention_mixed" or not bug.applies(conv.reset_after):
                    continue
                with np.errstate(all="ignore"):
                    dx, dh0, g = bug.backward(case.x, case.h0, p_std, case.dhs, case.dh_T, conv.reset_after)
                arrays = {"dx": dx, "dh0": dh0, **g.arrays()}
                if conv.chung:
                    arrays = {k: (-v if k in ("W_z", "U_z", "b_z") else v) for k, v in arrays.items()}
                expected[name] = arrays
            for name, arrays in expected.items():
                with np.errstate(all="ignore"):
                    err = max(float(np.max(np.abs(out.arrays[k].astype(np.float64) - v), initial=0.0))
                              for k, v in arrays.items())
                err = err if np.isfinite(err) else np.inf
                best[(conv, name)] = err
    if seen:
        ctx.primary = vote(per_case, ctx.candidates)


def _behaviour(ctx: Context, failure: Failure) -> bool:
    from gru_props.backward.properties import _deterministic, _inputs_unchanged

    behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
    if behaviour is not None and behaviour.diagnosis is not None:
        failure.diagnosis = behaviour.diagnosis
        return True
    return False


def diagnose(ctx: Context, failure: Failure) -> None:
    """Name the catalogued bug behind ``failure`` (sets ``failure.diagnosis``, its convention, maybe its text)."""
    if failure.diagnosis is not None or failure.kind != "value":
        return
    if failure.got is not None and not np.all(np.isfinite(np.asarray(failure.got, dtype=np.float64))):
        case = failure.case
        dtype = precision_of(case.dtype, np.asarray(failure.got).dtype)
        conv = failure.convention or ctx.primary
        failure.summary, failure.hints = explain_gradients(
            overflow(case.x, case.h0, case.params, conv, dtype, max(case.T - 1, 0)))
        return
    if _behaviour(ctx, failure):
        return
    found = explain_failure(ctx, failure)
    if found is not None:
        apply(failure, found, ctx)


# ------------------------------------------------------------------ explain
def model_gradients(case: GradCase, conv: Convention, slips: Sequence[str]) -> Dict[str, np.ndarray]:
    """The gradients of the slip model in ``conv`` on ``case`` (Chung: relabelled back), by name."""
    p = conv.standard_params(in_float64(case.params))
    dx, dh0, g = terms.backward(case.x, case.h0, p, case.dhs, case.dh_T, conv.reset_after, slips)
    arrays = {"dx": dx, "dh0": dh0, **g.arrays()}
    if conv.chung:
        arrays = {k: (-v if k in ("W_z", "U_z", "b_z") else v) for k, v in arrays.items()}
    return arrays


class BackwardModel:
    """``err.bug_model`` of a gradient check: the reference BPTT of ``convention`` with ``slips`` applied, with
    the checked function's own contract: ``fn(x, h0, params, dhs, dh_T) -> (dx, dh0, grads)``, or with
    ``step=True`` ``fn(x_t, h_prev, params, dh_t) -> (dx_t, dh_prev, grads)``; float64."""

    def __init__(self, slips: Sequence[str], convention: Convention, step: bool) -> None:
        self.slips = tuple(slips)
        self.convention = convention
        self.step = step

    def __call__(self, x: Any, h: Any, params: GRUParams, dhs: Any, dh_T: Any = None) -> Any:
        B = np.shape(x)[0]
        h = np.zeros((B, params.H)) if h is None else np.asarray(h, dtype=np.float64)
        if self.step:
            case = GradCase(np.asarray(x, dtype=np.float64)[:, None, :], h, params.astype(np.float64),
                            np.asarray(dhs, dtype=np.float64)[:, None, :], np.zeros((B, params.H)), True)
        else:
            T = np.shape(x)[1]
            dhs = np.zeros((B, T, params.H)) if dhs is None else np.asarray(dhs, dtype=np.float64)
            dh_T = np.zeros((B, params.H)) if dh_T is None else np.asarray(dh_T, dtype=np.float64)
            case = GradCase(np.asarray(x, dtype=np.float64), h, params.astype(np.float64), dhs, dh_T)
        g = model_gradients(case, self.convention, self.slips)
        dx = g.pop("dx")
        dh0 = g.pop("dh0")
        return (dx[:, 0] if self.step else dx), dh0, GRUParams(**g)

    def __repr__(self) -> str:
        return f"BackwardModel({' + '.join(self.slips)}; {self.convention.short()}{', step' if self.step else ''})"


_TIME_SLIPS = ("truncated_bptt", "grads_not_accumulated", "h_prev_wraparound", "dh_from_dhs_missing")
#: Slips of a sequence that a one-step backward cannot have (its h_prev is given; there is no loop to reverse).
_STEP_FREE = ("backward_loop_forward_in_time", terms.FORWARD_PREFIX + "input_shifted",
              terms.FORWARD_PREFIX + "initial_state_ignored")


def _vocabulary(ctx: Context, conv: Convention) -> List[str]:
    names = [s.name for s in terms.SLIPS_LIST if conv.reset_after in s.conventions]
    recomputed = terms.FORWARD_PREFIX
    if ctx.subject.step:  # one step: nothing is carried in time or accumulated over it
        names = [n for n in names if n not in _TIME_SLIPS and not n.endswith("_not_accumulated")
                 and n not in _STEP_FREE]
    if len({c.reset_after for c in ctx.candidates}) > 1:
        names.remove("reset_convention_mixed")  # the other convention is a candidate of its own
    if not ctx.bias:
        names = [n for n in names if n != "b_hn_not_gated" and not n.startswith("b_")
                 and not (n.startswith(recomputed) and any(k in n for k in ("bias", "b_hn")))]
    if ctx.zero_h0:
        names = [n for n in names if n not in ("dh0_missing", "h_prev_zero_at_start", "h_prev_wraparound",
                                               recomputed + "initial_state_ignored")]
    return names


def _compared(ctx: Context) -> Tuple[str, ...]:
    names = ("dx", "dh0") + _FIELDS
    return tuple(n for n in names if not (not ctx.bias and n in _BIASES) and not (ctx.zero_h0 and n == "dh0"))


def _agrees(ctx: Context, case: GradCase, conv: Convention, model: Dict[str, np.ndarray], out: Any
            ) -> Tuple[float, bool]:
    """Share of the function's gradients the model reproduces (each gradient weighs the same; dx each step),
    and whether it reproduces all, within what the check allows on the case. Both of a layout's
    disagreeing tied gradients must be reproduced."""
    exp = expected_gradients(ctx, case, conv, (case.dtype,) + tuple(out.dtypes))
    total, exact, n = 0.0, True, 0
    for name in _compared(ctx):
        for got in _returned(out, name):
            s, e = share(got, model[name], axis=1 if name == "dx" else None, allowed=exp.allowed[name],
                         reference=exp.arrays[name])
            total, exact, n = total + s, exact and e, n + 1
    return total / max(n, 1), exact


def _returned(out: Any, name: str) -> List[np.ndarray]:
    """The function's gradient ``name``; both of a layout's disagreeing tied gradients where it has two."""
    return [out.tied[name][1], out.tied[name][3]] if name in out.tied else [out.arrays[name]]


def _observed(ctx: Context, cases: Sequence[GradCase]) -> List[Tuple[GradCase, Any]]:
    out = []
    for case in cases:
        if ctx.zero_h0 and np.any(case.h0):  # a function with no initial state is observed from zeros only
            case = dataclasses.replace(case, h0=np.zeros_like(case.h0))
        o = run(ctx, case)
        if o.arrays is not None:
            out.append((case, o))
    return out


def _search_cases(bias: bool, step: bool) -> List[GradCase]:
    """Small cases, D != H, B >= 2, one of a single step: each output element says something."""
    return _seeded((71,), 2, 1, 3, 4, bias, step, 1.5) + _seeded((72,), 2, 3, 3, 4, bias, step, 1.5)


def _fresh_cases(bias: bool, step: bool) -> List[GradCase]:
    return _seeded((81, 82), 3, 4, 4, 3, bias, step) + _seeded((83,), 2, 3, 2, 5, bias, step, 3.0)


def explain_failure(ctx: Context, failure: Failure) -> Optional[Explanation]:
    """The smallest combination of slips whose model reproduces every gradient the function returned: on the
    counterexample (shrunk and as found), search cases, the confirmation cases and fresh ones; or None.
    An explanation found earlier in the same check is tried first."""
    shown = [failure.case] + [c for c in failure.extra.get("found_cases", ()) if c is not failure.case]
    shown_obs = _observed(ctx, shown)
    if not shown_obs or shown_obs[0][0] is not failure.case:
        return None

    def evaluate(case: GradCase, conv: Convention, slips: FrozenSet[str], out: Any
                 ) -> Tuple[float, bool, Callable[[], Sequence[np.ndarray]]]:
        model = model_gradients(case, conv, tuple(slips))
        s, e = _agrees(ctx, case, conv, model, out)
        return s, e, lambda: [model[k] for k in _compared(ctx)]

    def more() -> Tuple[List[Tuple[GradCase, Any]], List[Tuple[GradCase, Any]]]:
        return (_observed(ctx, _search_cases(ctx.bias, ctx.subject.step)),
                _observed(ctx, confirmation_cases(ctx.bias, ctx.subject.step)
                          + _fresh_cases(ctx.bias, ctx.subject.step)))

    def relevant(conv: Convention, observations: Sequence[Tuple[GradCase, Any]]) -> Callable[[str], bool]:
        wrong = _wrong_outputs(ctx, conv, observations)
        return lambda n: not terms.SLIPS[n].outputs or bool(wrong.intersection(terms.SLIPS[n].outputs))

    return explain_observed(ctx, shown_obs, more, evaluate, lambda conv: _vocabulary(ctx, conv),
                            lambda n: terms.SLIPS[n].site, lambda found: named(found, terms.COMBINATIONS),
                            relevant=relevant)


def _wrong_outputs(ctx: Context, conv: Convention, observations: Sequence[Tuple[GradCase, Any]]) -> set:
    """The gradients (by name) the function gets wrong, against ``conv``'s reference, on any observation: a
    slip that changes only others cannot be part of an explanation."""
    wrong = set()
    for case, out in observations:
        model = model_gradients(case, conv, ())
        exp = expected_gradients(ctx, case, conv, (case.dtype,) + tuple(out.dtypes))
        for name in _compared(ctx):
            if not all(matching(got, model[name], exp.allowed[name]).all() for got in _returned(out, name)):
                wrong.add(name)
    return wrong


def apply(failure: Failure, found: Explanation, ctx: Context) -> None:
    names = found.slips
    failure.diagnoses = names
    failure.diagnosis = names[0] if len(names) == 1 else None
    failure.convention = found.convention
    failure.bug_model = BackwardModel(sorted(terms.expand(names)), found.convention, ctx.subject.step)
    failure.extra["explained_on"] = found.cases
    if len(names) > 1:
        failure.hints = hints_for(names)
