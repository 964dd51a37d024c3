"""Which convention a forward GRU follows, and which catalogued bug explains a failure.

``detect`` compares the function with every candidate convention's reference (and its known buggy
variants) on a few discriminating cases; ``diagnose`` runs every broken GRU of ``bugs.BUGS`` on the
counterexample and on seeded confirmation cases, and names one only if it reproduces the
function there while no correct GRU does.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from gru_props.engine.case import seeded_inputs
from gru_props.engine.compare import compare
from gru_props.engine.conventions import Convention, reference_forward, vote
from gru_props.engine.model import Context, Failure
from gru_props.forward.bugs import BUGS, NUMERIC_BUGS, Forward, non_finite_text
from gru_props.forward.case import GRUCase
from gru_props.forward.subject import Outcome


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
    forwards: Dict[str, Forward] = {"reference": lambda x, h0, p, conv: reference_forward(x, h0, p, conv)}
    forwards.update({n: BUGS[n].forward for n in NUMERIC_BUGS  # type: ignore[misc]
                     if n not in ("wrong_reset_convention", "reversed_interpolation")})
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
            for name, forward in forwards.items():
                with np.errstate(all="ignore"):
                    theirs = forward(case.x, case.h0, case.params, conv)[0]
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
def diagnose(ctx: Context, failure: Failure) -> None:
    """Name the catalogued bug behind ``failure`` (sets ``failure.diagnosis``, maybe its text)."""
    from gru_props.forward.properties import _deterministic, _inputs_unchanged, run

    if failure.diagnosis == "non_finite_output":
        failure.summary, failure.hints = non_finite_text(failure.case)
    if failure.diagnosis is not None or failure.kind not in ("value",):
        return
    if failure.got is not None and not np.all(np.isfinite(np.asarray(failure.got, dtype=np.float64))):
        failure.diagnosis = "non_finite_output"
        failure.summary, failure.hints = non_finite_text(failure.case)
        return
    # Behaviour first: a function that writes into its inputs or keeps state
    # between calls fails agreement too, but that is not its bug's name.
    behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
    if behaviour is not None and behaviour.diagnosis is not None:
        failure.diagnosis = behaviour.diagnosis
        return
    first = failure.case
    refs_of = lambda c: [reference_forward(c.x, c.h0, c.params, conv) for conv in ctx.candidates]  # noqa: E731
    for alt in failure.extra.get("diagnosis_cases", ()):
        # A property that compares two runs (e.g. two initial states): diagnose on
        # the run that differs from every reference.
        out = run(ctx, alt)
        if out.hs is not None and all(
                compare("hs", out.hs.astype(np.float64), ref[0], 1e-5, 1e-5) is not None for ref in refs_of(alt)):
            first = alt
            break
    observations: List[Tuple[GRUCase, Outcome]] = []
    for case in [first] + confirmation_cases(ctx.bias):
        out = run(ctx, case)
        if out.hs is None:
            if not observations:
                return
            continue
        observations.append((case, out))
    first_case, first_out = observations[0]
    dtypes = (first_case.dtype,) + tuple(first_out.dtypes)
    rtol, atol = ctx.tolerance(*dtypes)
    rtol, atol = max(rtol, 1e-5), max(atol, 1e-5)

    def same(a: Tuple[np.ndarray, np.ndarray], hs: Optional[np.ndarray], h_T: Optional[np.ndarray]) -> bool:
        if hs is None or a[0].shape != np.shape(hs):
            return False
        if compare("hs", np.asarray(hs, dtype=np.float64), a[0], rtol, atol):
            return False
        return h_T is None or compare("h_T", np.asarray(h_T, dtype=np.float64), a[1], rtol, atol) is None

    refs = refs_of(first_case)
    for conv in ctx.conventions():
        for name in NUMERIC_BUGS:
            forward = BUGS[name].forward
            assert forward is not None
            try:
                mutant = forward(first_case.x, first_case.h0, first_case.params, conv)
                if any(same(mutant, ref[0], ref[1]) for ref in refs):
                    continue  # indistinguishable from a correct GRU here: it explains nothing
                if not same(mutant, first_out.hs, first_out.h_T):
                    continue
                if all(same(forward(c.x, c.h0, c.params, conv), o.hs, o.h_T) for c, o in observations[1:]):
                    failure.diagnosis = name
                    failure.convention = conv
                    if name == "reversed_interpolation" and conv.chung:
                        failure.summary = (
                            "h_t is computed as z * h_{t-1} + (1 - z) * n_t, the standard form, but "
                            "Chung's interpolation (1 - z) * h_{t-1} + z * n_t was asked for "
                            "(interpolation='chung'). Pass interpolation='standard' (or None to "
                            "detect it) if the standard form is what you meant."
                        )
                    return
            except Exception:  # pragma: no cover - a broken GRU that cannot run on this case
                continue
