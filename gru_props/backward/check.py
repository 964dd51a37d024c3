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
(search, shrink, diagnose, report are shared; see ``gru_props.engine.search``).
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence

import numpy as np

from gru_props.backward import bugs, diagnosis, terms
from gru_props.backward.case import GradCase
from gru_props.backward.properties import properties as gradient_properties
from gru_props.backward.properties import zero_h0_form
from gru_props.backward.snippet import gradient_snippet
from gru_props.backward.subject import GradSubject
from gru_props.engine.calls import BudgetExhausted, Caller, Hang, Interrupted
from gru_props.engine.case import seeded_inputs
from gru_props.engine.conventions import Convention
from gru_props.engine.conventions import candidates as convention_candidates
from gru_props.engine.model import Bug, Context, Contract, Failure, Property
from gru_props.engine.profiles import choose_profile
from gru_props.engine.report import CheckReport, labelled, params_text
from gru_props.engine.session import execute, plan, select

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
            ctx.extra["forward_convention"] = _forward_convention(ctx, self.forward_fn, self.step)

    def convention_note(self, ctx: Context) -> Optional[str]:
        if self.forward_fn is None:
            return None
        text = ("not checked against a reference: the gradients were compared with central finite differences "
                "of forward_fn (self-consistency)")
        conv = ctx.extra.get("forward_convention")
        if conv is not None:
            text += f"; forward_fn itself computes the GRU with {conv.describe()} (agreed on 4 cases)"
        else:
            text += "; forward_fn agrees with no GRU convention (a variant, or a bug in the forward)"
        return text

    def detect(self, ctx: Context) -> None:
        diagnosis.detect(ctx)

    def detection_case(self, ctx: Context) -> GradCase:
        return diagnosis.detection_cases(ctx.bias, self.step)[0]

    def bug(self, name: str) -> Any:
        return _BEHAVIOUR_BUGS[name] if name in _BEHAVIOUR_BUGS else bugs.bug(name)

    def slip(self, name: str) -> Any:
        return terms.describe(name)

    def axes(self, name: str) -> str:
        return {"dx": "btd", "dx_t": "bd", "dh0": "bh", "dh_prev": "bh"}.get(name, "")

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
        if self.forward_fn is None:
            diagnosis.diagnose(ctx, failure)
            return
        conv = ctx.extra.get("forward_convention")
        if conv is None:
            return  # no reference the backward could be explained against
        # forward_fn is a GRU in ``conv``: the catalogue of broken backward passes applies there.
        saved = ctx.candidates, ctx.primary
        ctx.candidates, ctx.primary = (conv,), conv
        try:
            diagnosis.diagnose(ctx, failure)
        finally:
            ctx.candidates, ctx.primary = saved


def _forward_convention(ctx: Context, forward_fn: Callable[..., Any], step: bool) -> Optional[Convention]:
    """The convention in which ``forward_fn`` computes a GRU (on four seeded cases), or None if in none."""
    from gru_props.engine.conventions import candidates, reference_forward
    from gru_props.forward.case import GRUCase
    from gru_props.forward.subject import Subject

    subject = Subject(forward_fn, step, ctx.subject.caller, "forward_fn")
    cases = [GRUCase(*seeded_inputs(seed, 2, 1 if step else 3, 3, 4, scale=1.5, bias=ctx.bias)[1:])
             for seed in (41, 42, 43, 44)]
    try:
        outs = [subject.run(c) for c in cases]
    except (Hang, BudgetExhausted):  # the properties will meet it again and report it
        return None
    if any(o.error is not None for o in outs):
        return None
    for conv in candidates(None, None):
        if all(np.allclose(o.states, reference_forward(c.x, c.h0, c.params, conv)[0], rtol=1e-6, atol=1e-8)
               for c, o in zip(cases, outs)):
            return conv
    return None


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
    allow_incomplete: bool = False,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    properties: Optional[Sequence[str]] = None,
    hints: int = 1,
    forward_fn: Optional[Callable[..., Any]] = None,
    sizes: Any = None,
    num_layers: int = 1,
    bidirectional: bool = False,
    lengths: bool = False,
    padding: str = "zeros",
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
        step, reset_after, interpolation, strict, profile, max_examples,
        timeout, max_seconds, allow_incomplete, rtol, atol, properties, hints,
            sizes: as for ``check_implementation``. The flat tolerances are
            float64 rtol 1e-10, atol 1e-11; float32 rtol 1e-4, atol 1e-5; atol
            scales with each gradient's magnitude, and eight times the case's
            own rounding error at that precision is allowed on top.
        bias: False for a cell without biases: only zero biases are generated,
            bias gradients are not compared, and one returned anyway must be
            zero (or left out of ``grads``).
        forward_fn: your own forward (``fn(x, h0, params)`` returning hs or
            (hs, h_T); a step function with ``step=True``): the gradients are
            then compared with central finite differences of it in float64 (a
            self-consistency check for GRU variants with no reference; the
            report says so). It must keep float64 inputs in float64.
        num_layers, bidirectional, lengths, padding: as for
            ``check_implementation``; when any differs from its default,
            ``backward_fn(x, h0, layers, lengths, dout, dh_n)`` (lengths only
            with ``lengths=True``) returns ``(dx, dh0, grads)``: dx (B, T, D),
            dh0 (num_layers * num_directions, B, H), grads one GRUParams (or
            mapping) per layer and direction, for sum(out * dout) + sum(h_n * dh_n).

    Returns:
        A ``CheckReport`` (``kind == "gradients"``).

    Raises:
        ImplementationError: a property failed; ``.parameter`` names the wrong
            gradient ("U_n", "dx", "dh0"; step form "dx_t", "dh_prev") and
            ``.index`` its worst element; ``.failures`` lists every failure.
        IncompleteCheckError: ``max_seconds`` ran out first and nothing failed.
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
                 hints=hints, profile=profile, max_examples=max_examples, sizes=sizes,
                 allow_incomplete=allow_incomplete)
        if num_layers != 1 or bidirectional is not False or lengths is not False or padding != "zeros":
            from gru_props.stack.check import check_stack, settings

            if self_consistency:
                raise ValueError("forward_fn: the stack form has no self-consistency check; its oracle is the "
                                 "reference stack (gru_props.level1.stack_backward).")
            return check_stack(backward_fn, p, settings(num_layers, bidirectional, lengths, padding), properties,
                               True)
        a = p.args
        props = gradient_properties(a["step"], a["bias"], p.sizes, self_consistency)
        if a["zero_h0"]:
            props = zero_h0_form(props)
        cands = (Convention(False),) if self_consistency else convention_candidates(a["reset_after"],
                                                                                    a["interpolation"])
        return execute(GradientContract(props, a["step"], forward_fn), backward_fn, p, select(props, properties),
                       cands, (a["step"], a["reset_after"], a["interpolation"], a["bias"], self_consistency))
    except Interrupted as outer:
        raise outer.original from None
