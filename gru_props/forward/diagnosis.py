"""Which convention a forward GRU follows, and which slips of the equations explain a failure.

``detect`` compares the function with every candidate convention's reference (and its common slips) on a
few discriminating cases, each case voting for the convention of the closest. ``diagnose`` explains a
wrong value by a combination of slips (``forward.terms``): a beam search (``engine.explain``) over the
vocabulary, on the cases the search met and on seeded ones; a combination is named only when its model
reproduces the function on the counterexample and on fresh cases. ``err.bug_model`` is that model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.engine.case import seeded_inputs
from gru_props.engine.conventions import Convention, vote
from gru_props.engine.explain import Explanation, explain_observed, named, share
from gru_props.engine.model import Context, Failure
from gru_props.engine.overflow import explain, overflow
from gru_props.engine.tolerance import precision_of
from gru_props.forward import terms
from gru_props.forward.bugs import BUGS, hints_for
from gru_props.forward.case import GRUCase
from gru_props.forward.subject import Outcome

#: Slips tried when detecting the convention: a buggy GRU is judged in its own convention.
DETECTION_SLIPS = ("gates_swapped", "reset_gate_ignored", "update_gate_ignored", "initial_state_ignored",
                   "time_reversed", "time_reversed_output", "b_hn_ignored", "states_shifted",
                   "saturating_sigmoid_guard")


# ------------------------------------------------------------- seeded cases
def _seeded(seeds: Tuple[int, ...], B: int, T: int, D: int, H: int, scale: float, x_scale: float,
            bias: bool) -> List[GRUCase]:
    return [GRUCase(*seeded_inputs(seed, B, T, D, H, scale=scale, x_scale=x_scale, bias=bias)[1:])
            for seed in seeds]


def detection_cases(bias: bool = True) -> List[GRUCase]:
    """Cases on which the conventions differ clearly: three small, one of ordinary size."""
    return (_seeded((11, 12, 13), 2, 3, 3, 4, 1.5, 1.0, bias)
            + _seeded((14,), 5, 17, 8, 9, 1.0, 1.0, bias))


def confirmation_cases(bias: bool = True) -> List[GRUCase]:
    """Seeded cases, ordinary and extreme, on which a diagnosis must also hold.

    One has B == T, so that a layout mistake that only has the right shape
    there (a time-major hs) can be confirmed too.
    """
    return (detection_cases(bias) + _seeded((21, 22), 2, 3, 3, 4, 1e3, 1e3, bias)
            + _seeded((23,), 3, 3, 2, 4, 1.0, 1.0, bias))


# ------------------------------------------------------------------ detect
def detect(ctx: Context) -> Dict[Convention, float]:
    """Set ``ctx.primary`` to the convention ``ctx.subject`` most likely follows.

    The candidates' references and their known buggy variants are compared
    with the function's outputs on a few discriminating cases; each case
    votes for the convention of the closest (the reference preferred on
    ties), so a buggy GRU is judged in its own convention (``vote``). A case on which the function
    raises is skipped. Returns
    each candidate's largest distance from the function (inf if unknown).
    """
    from gru_props.forward.properties import run

    distances: Dict[Convention, float] = {c: 0.0 for c in ctx.candidates}
    per_case: List[Dict[Tuple[Convention, str], float]] = []
    models = ("reference",) + DETECTION_SLIPS
    seen = 0
    for case in detection_cases(ctx.bias):
        out = run(ctx, case)
        if out.error is not None:
            continue
        seen += 1
        assert out.hs is not None
        got = out.hs.astype(np.float64)
        best: Dict[Tuple[Convention, str], float] = {}
        per_case.append(best)
        for conv in ctx.candidates:
            for name in models:
                with np.errstate(all="ignore"):
                    slips = () if name == "reference" else (name,)
                    theirs = terms.forward(case.x, case.h0, case.params, conv, slips)[0]
                    if theirs.shape != got.shape:
                        continue
                    err = float(np.max(np.abs(got - theirs), initial=0.0))
                err = err if np.isfinite(err) else np.inf
                best[(conv, name)] = err
                if name == "reference":
                    distances[conv] = max(distances[conv], err)
    if not seen:
        return {c: np.inf for c in ctx.candidates}
    ctx.primary = vote(per_case, ctx.candidates)
    return distances


# ---------------------------------------------------------------- diagnose
def non_finite_explanation(ctx: Context, failure: Failure) -> Tuple[str, Tuple[str, str, str]]:
    """What a NaN or inf in the function's states means on this case: which exp could overflow, if any."""
    case, got = failure.case, failure.got
    if case is None or got is None or not isinstance(case, GRUCase):
        bug = BUGS["non_finite_output"]
        return bug.summary, bug.hints
    bad = ~np.isfinite(np.asarray(got, dtype=np.float64))
    if got.ndim == 3 and bad.any():
        first_step = int(np.argwhere(bad)[:, 1].min())
    else:
        first_step = max(case.T - 1, 0)
    dtype = precision_of(case.dtype, np.asarray(got).dtype)
    # The function's own states on this case (batch_rows_independent's are of the batch reversed: put back
    # in order): its pre-activations can overflow where the reference's do not.
    own = np.asarray(got, dtype=np.float64) if got.shape == (case.B, case.T, case.H) else None
    if own is not None and failure.property == "batch_rows_independent":
        own = own[::-1]
    return explain(overflow(case.x, case.h0, case.params, failure.convention or ctx.primary, dtype, first_step,
                            states=own))


def diagnose(ctx: Context, failure: Failure) -> None:
    """Name the catalogued bug behind ``failure`` (sets ``failure.diagnosis``, maybe its text)."""
    from gru_props.forward.properties import _deterministic, _inputs_unchanged

    non_finite = failure.diagnosis == "non_finite_output" or (
        failure.diagnosis is None and failure.kind == "value" and failure.got is not None
        and not np.all(np.isfinite(np.asarray(failure.got, dtype=np.float64))))
    if non_finite:
        failure.diagnosis = "non_finite_output"
        failure.summary, failure.hints = non_finite_explanation(ctx, failure)
        found = explain_failure(ctx, failure)  # which slips make the NaN, if the vocabulary has them
        if found is not None:
            apply(failure, found, ctx)
        return
    if failure.diagnosis is not None or failure.kind not in ("value",):
        return
    # Behaviour first: a function that writes into its inputs or keeps state
    # between calls fails agreement too, but that is not its bug's name.
    behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
    if behaviour is not None and behaviour.diagnosis is not None:
        failure.diagnosis = behaviour.diagnosis
        return
    found = explain_failure(ctx, failure)
    if found is not None:
        apply(failure, found, ctx)


# ------------------------------------------------------------------ explain
class ForwardModel:
    """``err.bug_model`` of a forward check: the reference GRU of ``convention`` with ``slips`` applied, with
    the checked function's own contract (``fn(x, h0, params) -> (hs, h_T)``, or with ``step=True``
    ``fn(x_t, h_prev, params) -> h_t``), computed in float64."""

    def __init__(self, slips: Sequence[str], convention: Convention, step: bool) -> None:
        self.slips = tuple(slips)
        self.convention = convention
        self.step = step

    def __call__(self, x: Any, h: Any, params: Any) -> Any:
        h = np.zeros((np.shape(x)[0], params.H)) if h is None else h
        if self.step:
            return terms.step(x, h, params, self.convention, self.slips)
        return terms.forward(x, h, params, self.convention, self.slips)

    def __repr__(self) -> str:
        return f"ForwardModel({' + '.join(self.slips)}; {self.convention.short()}{', step' if self.step else ''})"


def _search_cases(bias: bool, step: bool) -> List[GRUCase]:
    """Small cases, D != H, B >= 2, one of a single step: each output element says something."""
    T = 1 if step else 3
    return (_seeded((51,), 2, 1, 3, 4, 1.5, 1.0, bias) + _seeded((52, 53), 2, T, 3, 4, 1.5, 1.0, bias)
            + _seeded((54,), 3, 1 if step else 4, 2, 3, 1.0, 1.0, bias))


def _fresh_cases(bias: bool) -> List[GRUCase]:
    """Cases the search never saw: an explanation must hold on them too."""
    return _seeded((61, 62), 3, 5, 4, 3, 1.0, 1.0, bias) + _seeded((63,), 2, 3, 3, 4, 30.0, 3.0, bias)


def _vocabulary(ctx: Context, conv: Convention) -> List[str]:
    names = [s.name for s in terms.SLIPS_LIST]
    if ctx.subject.step:
        names = [n for n in names if n not in terms.SEQUENCE_SLIPS]
    if len({c.reset_after for c in ctx.candidates}) > 1:
        names.remove("wrong_reset_convention")  # the other convention is a candidate of its own
    if len({c.interpolation for c in ctx.candidates}) > 1:
        names.remove("reversed_interpolation")
    if not ctx.bias:
        names = [n for n in names if not any(k in n for k in ("bias", "b_hn"))]
    if ctx.zero_h0:  # no initial state to ignore (no_initial_state): naming it would be a false line
        names = [n for n in names if n != "initial_state_ignored"]
    return names


def _observed(ctx: Context, cases: Sequence[GRUCase]) -> List[Tuple[GRUCase, Outcome]]:
    from gru_props.forward.properties import run

    out = []
    for case in cases:
        if ctx.zero_h0 and np.any(case.h0):  # a function with no initial state is observed from zeros only
            case = dataclasses.replace(case, h0=np.zeros_like(case.h0))
        o = run(ctx, case)
        if o.error is None and o.hs is not None:
            out.append((case, o))
    return out


def _agrees(ctx: Context, case: GRUCase, conv: Convention, model: Tuple[np.ndarray, np.ndarray],
            out: Outcome) -> Tuple[float, bool]:
    """Share of the function's outputs the model reproduces (each time step weighs the same) and whether it
    reproduces all, within what the check allows on the case."""
    from gru_props.forward.properties import out_dtypes, reference

    hs, h_T = model
    exp = reference(ctx, case, conv, out_dtypes(case, out)) if hs.shape == out.states.shape else None
    score, exact = share(out.states, hs, axis=1, allowed=None if exp is None else exp.allowed_hs,
                         reference=None if exp is None else exp.hs)
    if out.h_T is not None:
        s2, e2 = share(out.h_T, h_T, allowed=None if exp is None else exp.allowed_hT,
                       reference=None if exp is None else exp.h_T)
        score, exact = 0.75 * score + 0.25 * s2, exact and e2
    return score, exact


def explain_failure(ctx: Context, failure: Failure) -> Optional[Explanation]:
    """The smallest combination of slips whose model reproduces the function: on the counterexample (shrunk
    and as found), small search cases, the seeded confirmation cases and fresh ones. None if there is none.

    An explanation found for an earlier failure of the same check is tried first (one function, one set of
    bugs): it is kept when it reproduces this failure's cases too.
    """
    shown = [failure.case] + [c for c in failure.extra.get("found_cases", ()) if c is not failure.case]
    shown += list(failure.extra.get("diagnosis_cases", ()))
    shown_obs = _observed(ctx, shown)
    if not shown_obs or shown_obs[0][0] is not failure.case:
        return None  # the counterexample itself gives no values to explain

    def evaluate(case: GRUCase, conv: Convention, slips: FrozenSet[str], out: Outcome
                 ) -> Tuple[float, bool, Callable[[], Sequence[np.ndarray]]]:
        model = terms.forward(case.x, case.h0, case.params, conv, slips)
        s, e = _agrees(ctx, case, conv, model, out)
        # h_T too, where the function returns one: a slip of what is returned as h_T changes nothing else
        return s, e, lambda: (model[0],) if out.h_T is None else (model[0], model[1])

    def more() -> Tuple[List[Tuple[GRUCase, Outcome]], List[Tuple[GRUCase, Outcome]]]:
        return (_observed(ctx, _search_cases(ctx.bias, ctx.subject.step)),
                _observed(ctx, confirmation_cases(ctx.bias) + _fresh_cases(ctx.bias)))

    return explain_observed(ctx, shown_obs, more, evaluate, lambda conv: _vocabulary(ctx, conv),
                            lambda n: terms.SLIPS[n].site, lambda found: named(found, terms.COMBINATIONS))


def apply(failure: Failure, found: Explanation, ctx: Context) -> None:
    """Put an explanation on a failure: its names, its model, its words."""
    names = found.slips
    failure.diagnoses = names
    failure.diagnosis = names[0] if len(names) == 1 else None
    failure.convention = found.convention
    failure.bug_model = ForwardModel(names, found.convention, ctx.subject.step)
    failure.extra["explained_on"] = found.cases
    if len(names) == 1 and names[0] == "reversed_interpolation" and found.convention.chung:
        failure.summary = (
            "h_t is computed as z * h_{t-1} + (1 - z) * n_t, the standard form, but Chung's interpolation "
            "(1 - z) * h_{t-1} + z * n_t was asked for (interpolation='chung'). Pass interpolation='standard' "
            "(or None to detect it) if the standard form is what you meant.")
    elif len(names) > 1:
        failure.hints = hints_for(names)
