"""``check_gradients``: vet a hand-written GRU backward pass (BPTT), shrink, and name the bug.

::

    from gru_props import check_gradients
    from gru_props.level1 import gru_backward   # yours: (x, h0, params, dhs, dh_T) -> (dx, dh0, grads)

    def test_my_backward():
        check_gradients(gru_backward)

The oracle is an exact float64 gradient (Level 1's BPTT, in the convention
the function follows), not finite differences: in float64 a correct
backward agrees with it to ~1e-15 and every known bug is off by 0.5 to 2
relative, so the verdict is never close; a float32 answer is held to the
float64 gradient with float32's tolerance. A failure names the parameter,
its worst element and what that element is (which gate, which unit),
expected vs got, the absolute and relative error, then every other wrong
gradient on one line each; and the bug, when one of our deliberately broken
backward passes reproduces the learner's gradients.

For a GRU variant with no reference, ``check_gradients(backward_fn,
forward_fn=my_forward)`` compares with central finite differences of the
user's own forward in float64: a self-consistency check.

This is the second contract of the engine that runs ``check_implementation``
(search, shrink, diagnose, report are shared; see ``gru_props._engine``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from gru_props import _grad_bugs
from gru_props._calls import Caller, Interrupted
from gru_props._case import seeded_inputs
from gru_props._compare import compare
from gru_props._conventions import Convention, candidates as convention_candidates, vote
from gru_props._diagnosis import Bug
from gru_props._engine import Context, Contract, Failure, Property
from gru_props._grad_case import GradCase
from gru_props._grad_properties import grad_tolerance, properties as gradient_properties, reference_gradients, run
from gru_props._grad_subject import GradSubject
from gru_props._params import GRUParams
from gru_props._profiles import choose_profile
from gru_props._report import CheckReport, labelled
from gru_props._session import execute, plan, select
from gru_props._snippet import array_code, import_lines, params_code
from gru_props.check import params_text

__all__ = ["check_gradients"]

_BEHAVIOUR_BUGS = {
    "input_mutated": Bug(
        "input_mutated",
        "the backward pass writes into an argument (x, h0, params, dhs or dh_T).",
        ("Which of your operations work in place (+=, out=, slice assignment)?",
         "The caller's arrays must be unchanged after the call: dh = dh_T aliases dh_T, and dh += ... then "
         "changes it.",
         "Start from copies (dh = dh_T.copy()) and accumulate into new arrays (dW = np.zeros_like(W))."),
    ),
    "nondeterministic": Bug(
        "nondeterministic",
        "two calls with the same inputs give different gradients: state is kept between calls "
        "(an accumulator that is never reset, a cache), or randomness is used.",
        ("Does your backward remember anything between calls?",
         "Gradients are a pure function of (x, h0, params, dhs, dh_T).",
         "Zero your gradient accumulators at the start of every call; do not keep them on a module or "
         "an object that outlives the call."),
    ),
}


# --------------------------------------------------------------- contract
class GradientContract(Contract):
    """What is specific to checking a backward pass (the engine does the rest)."""

    kind = "gradients"
    unknown_bug_advice = ("compare your backward with gru_props.level1.gru_backward, written to be read "
                          "next to the chain rule, gate by gate.")

    def __init__(self, props: Sequence[Property], step: bool, forward_fn: Optional[Callable[..., Any]]) -> None:
        super().__init__(props)
        self.step = step
        self.forward_fn = forward_fn

    def subject(self, fn: Any, step: bool, caller: Caller, name: str) -> GradSubject:
        return GradSubject(fn, step, caller, name)

    def prepare(self, ctx: Context) -> None:
        if self.forward_fn is not None:
            ctx.extra["forward_fn"] = self.forward_fn

    def detect(self, ctx: Context) -> None:
        detect(ctx)

    def detection_case(self, ctx: Context) -> GradCase:
        return detection_cases(ctx.bias, self.step)[0]

    def bug(self, name: str) -> Any:
        return _grad_bugs.GRAD_BUGS.get(name) or _BEHAVIOUR_BUGS[name]

    def axes(self, name: str) -> str:
        return {"dx": "btd", "dx_t": "btd", "dh0": "bh", "dh_prev": "bh"}.get(name, "")

    def case_text(self, case: GradCase) -> str:
        return case_text(case)

    def snippet(self, fn: Any, step: bool, ctx: Context, failure: Failure) -> Optional[str]:
        return gradient_snippet(fn, step, ctx, failure)

    def notes(self, ctx: Context) -> List[str]:
        if self.forward_fn is None:
            return []
        return ["self-consistency check: the gradients were compared with central finite differences "
                "(float64, step 1e-5) of forward_fn, not with a reference GRU; it shows the backward matches "
                "your forward, not that your forward is a GRU."]

    def explain(self, fn: Any, ctx: Context, caller: Caller, failures: Sequence[Failure]) -> List[str]:
        if self.forward_fn is None:
            return []
        return ["", "(Self-consistency check: 'expected' is central finite differences of forward_fn.)"]

    def diagnose(self, ctx: Context, failure: Failure) -> None:
        if failure.diagnosis is not None or failure.kind != "value" or self.forward_fn is not None:
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


def case_text(case: GradCase) -> str:
    names = ("x_t", "h_prev", "dh_t") if case.step else ("x", "h0", "dhs")
    lines = [f"  B={case.B}, T={case.T}, D={case.D}, H={case.H}, dtype={case.dtype}"
             + ("  (one step)" if case.step else "")]
    lines.append(labelled(f"  {names[0]:6} = ", case.x_t if case.step else case.x))
    lines.append(labelled(f"  {names[1]:6} = ", case.h0))
    lines += params_text(case.params)
    lines.append(labelled(f"  {names[2]:6} = ", case.dh_t if case.step else case.dhs,
                          "   (dL/dh_t)" if case.step else "   (dL/dhs)"))
    if not case.step:
        lines.append(labelled("  dh_T   = ", case.dh_T, "   (dL/dh_T, on top of dhs[:, -1])"))
    return "\n".join(lines)


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
    broken backward) is closest (``_conventions.vote``)."""
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
            for name, bug in _grad_bugs.GRAD_BUGS.items():
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
    from gru_props._grad_properties import _deterministic, _inputs_unchanged

    behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
    if behaviour is not None and behaviour.diagnosis is not None:
        failure.diagnosis = behaviour.diagnosis
        return True
    return False


def _diagnose(ctx: Context, failure: Failure) -> Tuple[Optional[str], Optional[Convention]]:
    cases = [failure.case] + confirmation_cases(ctx.bias, ctx.subject.step)
    outs = []
    for case in cases:
        out = run(ctx, case)
        if out.arrays is None:
            if not outs:
                return None, None
            continue
        outs.append((case, out))
    rtol, atol = grad_tolerance(ctx, *((outs[0][0].dtype,) + tuple(outs[0][1].dtypes)))
    rtol, atol = max(rtol, 1e-5), max(atol, 1e-6)

    def matches(got: np.ndarray, expected: np.ndarray) -> bool:
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        return compare("g", got, expected, rtol, atol * scale) is None

    for conv in ctx.conventions():
        observations = [_observation(c, o.arrays, conv) for c, o in outs]
        # The broken backward must differ from every candidate's reference on the counterexample.
        name = _grad_bugs.diagnose_gradients(observations, conv.reset_after, matches)
        if name is None:
            continue
        first = failure.case
        mutant = _grad_bugs.GRAD_BUGS[name].backward(*observations[0][:5], conv.reset_after)
        arrays = {"dx": mutant[0], "dh0": mutant[1], **mutant[2].arrays()}
        if conv.chung:
            arrays = {k: (-v if k in ("W_z", "U_z", "b_z") else v) for k, v in arrays.items()}
        if any(all(matches(arrays[k], v) for k, v in reference_gradients(first, c).items())
               for c in ctx.candidates):
            continue
        return name, conv
    return None, None


# ---------------------------------------------------------------- snippet
def gradient_snippet(fn: Any, step: bool, ctx: Context, failure: Failure) -> Optional[str]:
    case = failure.case
    if case is None or failure.property in ("deterministic", "dtype_preserved", "accepts_none"):
        return None
    conv = failure.convention or ctx.primary
    dt = f"np.{case.params.dtype}"
    lines = ["import numpy as np", "from gru_props import GRUParams, level1"] + import_lines(fn)
    lines += ["", f"x = {array_code(case.x, dt)}", f"h0 = {array_code(case.h0, dt)}",
              f"params = {params_code(case.params, dt)}", f"dhs = {array_code(case.dhs, dt)}",
              f"dh_T = {array_code(case.dh_T, dt)}", ""]
    if step:
        lines += ["dx_t, dh_prev, grads = fn(x[:, 0].copy(), h0.copy(), params, dhs[:, 0].copy())",
                  "got = {'dx': np.asarray(dx_t)[:, None], 'dh0': dh_prev}"]
    else:
        lines += ["dx, dh0, grads = fn(x.copy(), h0.copy(), params, dhs.copy(), dh_T.copy())",
                  "got = {'dx': dx, 'dh0': dh0}"]
    lines += ["grads = grads.arrays() if hasattr(grads, 'arrays') else grads",
              "got.update({k: grads[k] for k in params.arrays()})"]
    if ctx.extra.get("forward_fn") is not None:
        lines += ["# the oracle: central finite differences of your own forward, in float64",
                  "from gru_props._grad_properties import finite_differences",
                  "from gru_props._grad_case import GradCase",
                  "forward_fn = ...  # your forward function, as passed to check_gradients",
                  f"expected = finite_differences(forward_fn, {step}, GradCase(x, h0, params, dhs, dh_T, {step}))"]
        rtol, atol = 1e-5, 1e-7
    else:
        lines += ["p64 = params.astype(np.float64)"]
        if conv.chung:
            lines.append("p64 = p64.replace(W_z=-p64.W_z, U_z=-p64.U_z, b_z=-p64.b_z)  "
                         "# Chung's form is the standard GRU with z negated")
        lines += [f"dx64, dh064, g64 = level1.gru_backward(x.astype(np.float64), h0.astype(np.float64), p64, "
                  f"dhs.astype(np.float64), dh_T.astype(np.float64), reset_after={conv.reset_after})",
                  "expected = {'dx': dx64, 'dh0': dh064, **g64.arrays()}"]
        if conv.chung:
            lines.append("for k in ('W_z', 'U_z', 'b_z'):  # back to Chung's z\n    expected[k] = -expected[k]")
        mm = failure.mismatch
        rtol, atol = (mm.rtol, mm.atol) if mm is not None else grad_tolerance(ctx, case.dtype)
    name = {"dx_t": "dx", "dh_prev": "dh0"}.get(failure.parameter or "", failure.parameter)
    if name is None:
        return "\n".join(lines)
    low = failure.extra.get("low_precision", False)
    if low:
        lines += ["# float32 is involved: the check also allows 4x the drift of our own float32 backward passes",
                  "slack_note = 'see gru_props._grad_properties.gradient_slack'"]
    scale = "max(1.0, float(np.max(np.abs(expected[name]))))"
    lines += [f"name = {name!r}",
              f"bad = ~(np.abs(np.asarray(got[name], dtype=np.float64) - expected[name]) <= "
              f"{atol!r} * {scale} + {rtol!r} * np.abs(expected[name]))",
              "assert not bad.any(), f\"{name}: {bad.sum()} element(s) wrong, the first at "
              "{tuple(int(i) for i in np.argwhere(bad)[0])}\""]
    return "\n".join(lines)


# ------------------------------------------------------------------- check
def check_gradients(
    backward_fn: Callable[..., Any],
    *,
    step: bool = False,
    reset_after: Optional[bool] = None,
    interpolation: Optional[str] = "standard",
    bias: bool = True,
    strict: bool = False,
    profile: Optional[str] = None,
    max_examples: Optional[int] = None,
    timeout: Optional[float] = 5.0,
    max_seconds: Optional[float] = None,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    properties: Optional[Sequence[str]] = None,
    hints: int = 1,
    forward_fn: Optional[Callable[..., Any]] = None,
    sizes: Any = None,
) -> CheckReport:
    """Check a GRU backward pass against exact float64 gradients; raise listing every failure.

    Args:
        backward_fn: ``backward_fn(x, h0, params, dhs, dh_T)`` with x (B, T, D),
            h0 (B, H), a ``GRUParams``, dhs = dL/dhs (B, T, H) and dh_T = dL/dh_T
            (B, H) (the loss is ``sum(hs * dhs) + sum(h_T * dh_T)``), returning
            ``(dx, dh0, grads)``: dx (B, T, D), dh0 (B, H) and ``grads`` a
            ``GRUParams`` or a mapping with its field names (W_* (D, H), U_*
            (H, H), b_* (H,)). With ``step=True``: ``backward_fn(x_t, h_prev,
            params, dh_t)`` with x_t (B, D), h_prev and dh_t (B, H), returning
            ``(dx_t, dh_prev, grads)`` for one step. Adapters in
            ``gru_props.adapters`` wrap other layouts, backward passes included.
        step, reset_after, interpolation, bias, strict, profile, max_examples,
        timeout, max_seconds, rtol, atol, properties, hints, sizes: as for
            ``check_implementation``. The default tolerances are float64
            rtol 1e-7, atol 1e-9; float32 rtol 1e-4, atol 1e-5 (plus float32's
            own rounding slack); atol scales with each gradient's magnitude.
        forward_fn: your own forward (``fn(x, h0, params)`` returning hs or
            (hs, h_T); a step function with ``step=True``): the gradients are
            then compared with central finite differences of it in float64 (a
            self-consistency check for GRU variants with no reference; the
            report says so). It must keep float64 inputs in float64.

    Returns:
        A ``CheckReport`` (``kind == "gradients"``).

    Raises:
        ImplementationError: a property failed; ``.parameter`` names the wrong
            gradient ("U_n", "dx", "dh0"; step form "dx_t", "dh_prev") and
            ``.index`` its worst element; ``.failures`` lists every failure.
        TypeError, ValueError: bad arguments to ``check_gradients`` itself.
    """
    __tracebackhide__ = True
    try:
        if forward_fn is not None and not callable(forward_fn):
            raise TypeError(f"forward_fn: expected your forward function (a callable) or None, got "
                            f"{forward_fn!r}.")
        self_consistency = forward_fn is not None
        if self_consistency and max_examples is None:
            max_examples = max(5, choose_profile(profile)[1].max_examples // 4)  # two forward calls per scalar
        p = plan(backward_fn, "backward_fn", step=step, reset_after=reset_after, interpolation=interpolation,
                 bias=bias, strict=strict, timeout=timeout, max_seconds=max_seconds, rtol=rtol, atol=atol,
                 hints=hints, profile=profile, max_examples=max_examples, sizes=sizes)
        a = p.args
        props = gradient_properties(a["step"], a["bias"], p.sizes, self_consistency)
        cands = (Convention(False),) if self_consistency else convention_candidates(a["reset_after"],
                                                                                    a["interpolation"])
        return execute(GradientContract(props, a["step"], forward_fn), backward_fn, p, select(props, properties),
                       cands, (a["step"], a["reset_after"], a["interpolation"], a["bias"], self_consistency))
    except Interrupted as outer:
        raise outer.original from None
