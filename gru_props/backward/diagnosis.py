"""Which convention a backward pass follows, and which catalogued broken backward explains a failure.

The gradient counterpart of ``forward.diagnosis``: ``detect`` votes case by case for the candidate
whose reference (or known broken backward) is closest; ``diagnose`` names a bug of ``bugs.GRAD_BUGS``
only when it reproduces every gradient the function returned, on the counterexample and on the
confirmation cases, where no correct convention does.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.backward.bugs import GRAD_BUGS, GradObservation, _as_fields, reference_backward
from gru_props.backward.case import GradCase
from gru_props.backward.properties import grad_tolerance, reference_gradients, run
from gru_props.core.params import GRUParams
from gru_props.engine.case import seeded_inputs
from gru_props.engine.compare import compare
from gru_props.engine.conventions import Convention, vote
from gru_props.engine.model import Context, Failure


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


def _diagnose(ctx: Context, failure: Failure) -> Tuple[Optional[str], Optional[Convention]]:
    cases = [failure.case] + confirmation_cases(ctx.bias, ctx.subject.step)
    outs: List[Tuple[GradCase, Dict[str, np.ndarray]]] = []
    dtypes: Tuple[Any, ...] = ()
    for case in cases:
        out = run(ctx, case)
        if out.arrays is None:
            if not outs:
                return None, None
            continue
        if not outs:
            dtypes = (case.dtype,) + tuple(out.dtypes)
        outs.append((case, out.arrays))
    rtol, atol = grad_tolerance(ctx, *dtypes)
    rtol, atol = max(rtol, 1e-5), max(atol, 1e-6)

    def matches(got: np.ndarray, expected: np.ndarray) -> bool:
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        return compare("g", got, expected, rtol, atol * scale) is None

    for conv in ctx.conventions():
        observations = [_observation(c, arrays, conv) for c, arrays in outs]
        # The broken backward must differ from every candidate's reference on the counterexample.
        name = diagnose_gradients(observations, conv.reset_after, matches)
        if name is None:
            continue
        first = failure.case
        x, h0, p, dhs, dh_T = observations[0][:5]
        mutant = GRAD_BUGS[name].backward(x, h0, p, dhs, dh_T, conv.reset_after)
        arrays = {"dx": mutant[0], "dh0": mutant[1], **mutant[2].arrays()}
        if conv.chung:
            arrays = {k: (-v if k in ("W_z", "U_z", "b_z") else v) for k, v in arrays.items()}
        if any(all(matches(arrays[k], v) for k, v in reference_gradients(first, c).items())
               for c in ctx.candidates):
            continue
        return name, conv
    return None, None


def diagnose_gradients(
    observations: Sequence[GradObservation],
    reset_after: bool,
    matches: Callable[[np.ndarray, np.ndarray], bool],
) -> Optional[str]:
    """Name the catalogued backward bug that explains the learner's gradients, or None.

    ``observations[0]`` is the counterexample: the bug's broken backward must
    differ from the reference there and reproduce every gradient the learner
    returned (dx, dh0 and all ten parameter gradients, by ``matches(got,
    expected)``). The rest confirm: the bug must reproduce the learner's
    gradients on them too. Bugs that cannot exist in ``reset_after``'s
    convention are not tried.
    """

    def same(mine: Tuple[np.ndarray, np.ndarray, GRUParams], dx: Any, dh0: Any, grads: Any) -> bool:
        try:
            fields = _as_fields(grads)
        except (KeyError, TypeError):
            return False
        pairs = [(np.asarray(dx, dtype=np.float64), mine[0]), (np.asarray(dh0, dtype=np.float64), mine[1])]
        pairs += [(fields[k], v) for k, v in mine[2].arrays().items()]
        return all(a.shape == b.shape and matches(a, b) for a, b in pairs)

    x, h0, params, dhs, dh_T, dx, dh0, grads = observations[0]
    reference = reference_backward(x, h0, params, dhs, dh_T, reset_after)
    for name, bug in GRAD_BUGS.items():
        if not bug.applies(reset_after):
            continue
        try:
            mutant = bug.backward(x, h0, params, dhs, dh_T, reset_after)
            if same(mutant, *reference) or not same(mutant, dx, dh0, grads):
                continue
            if all(
                same(bug.backward(xc, hc, pc, gc, gTc, reset_after), dxc, dh0c, gradsc)
                for xc, hc, pc, gc, gTc, dxc, dh0c, gradsc in observations[1:]
            ):
                return name
        except Exception:  # pragma: no cover - a broken backward that cannot run on this case
            continue
    return None


def diagnose(ctx: Context, failure: Failure) -> None:
    """Name the catalogued bug behind ``failure`` (sets ``failure.diagnosis``, its convention, maybe its text)."""
    if failure.diagnosis is not None or failure.kind != "value":
        return
    if failure.got is not None and not np.all(np.isfinite(np.asarray(failure.got, dtype=np.float64))):
        failure.summary = ("the gradients contain NaN or inf for finite inputs: a derivative computed "
                           "through exp(a) overflows (e.g. exp(-a) / (1 + exp(-a))**2 at a = -1e3), or "
                           "0/0 somewhere.")
        failure.hints = ("Which derivative can overflow at large pre-activations?",
                         "sigmoid'(a) = s * (1 - s) and tanh'(a) = 1 - n**2, both from the forward's "
                         "outputs s and n, never from exp(a).",
                         "Reuse the forward's gate values: ds = s * (1 - s), dn = 1 - n * n.")
        return
    if _behaviour(ctx, failure):
        return
    failure.diagnosis, conv = _diagnose(ctx, failure)
    if conv is not None:
        failure.convention = conv
