"""``check_implementation``: vet a user's forward GRU with Hypothesis, shrink, and name the bug.

::

    from gru_props import check_implementation
    from gru_props._demo import fixed_gru as gru_forward   # your GRU: from my_gru import gru_forward

    def test_my_gru():
        check_implementation(gru_forward)

Either returns a ``CheckReport`` (what was checked, how often, which
convention the function follows) or raises ``ImplementationError``, an
``AssertionError`` whose message shows the property that failed, the shrunk
counterexample, expected vs got at the worst element, the bug's name when it
is a known one, a hint, and a NumPy snippet that reproduces it; every other
failure found is in ``err.failures``.

This module is the forward contract's glue; the machinery (search, shrink,
diagnose, report) is shared with ``check_gradients`` in ``gru_props.engine``:
``engine.search`` runs the properties, ``engine.calls`` calls the function
under a time limit, ``engine.report`` renders; ``forward.properties``,
``forward.bugs`` and ``forward.diagnosis`` hold what is specific to a forward
pass.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from hypothesis import HealthCheck, given, settings

from gru_props.engine.calls import BudgetExhausted, Caller, Hang, Interrupted
from gru_props.engine.case import seeded_inputs
from gru_props.engine.conventions import candidates as convention_candidates
from gru_props.engine.conventions import reference_forward
from gru_props.engine.model import Context, Contract, Failure, Property
from gru_props.engine.profiles import _PHASES, PROFILES, SIZES
from gru_props.engine.report import (
    CheckReport,
    ImplementationError,
    IncompleteCheckError,
    PropertyResult,
    labelled,
    params_text,
    render_failure,
)
from gru_props.engine.search import digest
from gru_props.engine.session import execute, plan, select
from gru_props.engine.snippet import display_name
from gru_props.forward import bugs, diagnosis, terms
from gru_props.forward.case import GRUCase
from gru_props.forward.properties import NOT_FOR_STEPS, step_form, zero_h0_form
from gru_props.forward.properties import properties as forward_properties
from gru_props.forward.snippet import forward_snippet
from gru_props.forward.subject import Subject

__all__ = [
    "CheckReport",
    "ImplementationError",
    "IncompleteCheckError",
    "PropertyResult",
    "check_implementation",
    "implementation_tests",
    "PROFILES",
]


# --------------------------------------------------------------- contract
class ForwardContract(Contract):
    """What is specific to checking a forward GRU (the engine does the rest)."""

    kind = "forward"
    unknown_bug_advice = ("compare your code with the equations (README, 'The GRU, both conventions'); "
                          "gru_props.level1.gru_forward is the reference, written to be read next to them.")

    def subject(self, fn: Any, step: bool, caller: Caller, name: str) -> Subject:
        return Subject(fn, step, caller, name)

    def detect(self, ctx: Context) -> None:
        diagnosis.detect(ctx)

    def detection_case(self, ctx: Context) -> GRUCase:
        return diagnosis.detection_cases(ctx.bias)[0]

    def bug(self, name: str) -> Any:
        return bugs.bug(name)

    def slip(self, name: str) -> Any:
        return terms.describe(name)

    def axes(self, name: str) -> str:
        return "bth" if name == "hs" else "bh"

    def case_text(self, case: GRUCase) -> str:
        return case_text(case)

    def diagnose(self, ctx: Context, failure: Failure) -> None:
        diagnosis.diagnose(ctx, failure)

    def snippet(self, fn: Any, step: bool, ctx: Context, failure: Failure) -> Optional[str]:
        return forward_snippet(fn, step, ctx, failure)

    def explain(self, fn: Any, ctx: Context, caller: Caller, failures: Sequence[Failure]) -> List[str]:
        """Shape hints, when the function broke the output contract (not by hanging)."""
        broken = [f for f in failures if f.property in ("output_contract", "empty_sequence")
                  and "did not return" not in f.message]
        if not broken:
            return []
        hint_lines = _shape_hints(fn, ctx, caller, ctx.subject.step)
        for f in broken:
            f.extra["shape_hints"] = tuple(hint_lines)
        return [""] + [f"Hint: {h}" for h in hint_lines] if hint_lines else []


def case_text(case: GRUCase) -> str:
    lines = [f"  B={case.B}, T={case.T}, D={case.D}, H={case.H}, dtype={case.dtype}"]
    lines.append(labelled("  x  = ", case.x))
    lines.append(labelled("  h0 = ", case.h0))
    lines += params_text(case.params)
    return "\n".join(lines)


# ------------------------------------------------------------ shape hints
def _probe_case() -> GRUCase:
    return GRUCase(*seeded_inputs(5, 2, 3, 4, 5)[1:])


def _shape_hints(fn: Any, ctx: Context, caller: Caller, step: bool) -> List[str]:
    """When the function fails the output contract, try the usual layout mix-ups and say which fits."""
    from gru_props.forward.properties import run as run_subject

    case = _probe_case()
    refs = [reference_forward(case.x, case.h0, case.params, c)[0] for c in ctx.candidates]

    def works(candidate: Any, as_step: bool) -> bool:
        sub = Subject(candidate, as_step, caller, "probe")
        probe_ctx = Context(sub, ctx.candidates, ctx.primary)
        out = run_subject(probe_ctx, case)
        return out.hs is not None and any(
            np.allclose(out.hs.astype(np.float64), r, rtol=1e-4, atol=1e-4) for r in refs)

    hints: List[str] = []
    try:
        if not step and works(fn, True):
            hints.append("It works as a step function fn(x_t, h_prev, params) -> h_t: pass step=True "
                         "(--step on the command line).")
        elif step and works(fn, False):
            hints.append("It works as a whole-sequence function fn(x, h0, params): drop step=True.")
        if not hints:
            from gru_props import adapters

            meanings = {
                "transposed_weights": "every weight matrix transposed (W_* (H, D), column vectors)",
                "time_major": "time-major x (T, B, D), returning (T, B, H)",
                "unbatched": "one example at a time (x (T, D), h0 (H,))",
            }
            for names in (("transposed_weights",), ("time_major",), ("unbatched",),
                          ("unbatched", "transposed_weights"), ("time_major", "transposed_weights")):
                if "time_major" in names and step:
                    continue
                wrapped, expr = fn, display_name(fn)
                try:
                    for name in reversed(names):
                        wrapped, expr = getattr(adapters, name)(wrapped), f"{name}({expr})"
                except (TypeError, ValueError):  # a combination the adapters refuse (e.g. already adapted)
                    continue
                if works(wrapped, step):
                    what = " and ".join(meanings[n] for n in names)
                    hints.append(f"It works when wrapped with gru_props.adapters: it expects {what}. "
                                 f"Check {expr} instead.")
                    break
    except (Hang, BudgetExhausted):
        return hints
    if not hints:
        try:
            positional = [p for p in inspect.signature(fn).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        except (TypeError, ValueError):
            positional = []
        if len(positional) == 6:
            hints.append("It takes six arguments: if they are (x, h0, weight_ih, weight_hh, bias_ih, "
                         "bias_hh) as PyTorch stores them, wrap it with gru_props.adapters.torch_layout.")
        elif len(positional) == 5:
            hints.append("It takes five arguments: if they are (x, h0, kernel, recurrent_kernel, bias) as "
                         "Keras stores them, wrap it with gru_props.adapters.keras_layout.")
    return hints


# ------------------------------------------------------------------- check
def check_implementation(
    fn: Callable[..., Any],
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
    sizes: Any = None,
    num_layers: int = 1,
    bidirectional: bool = False,
    lengths: bool = False,
    padding: str = "zeros",
) -> CheckReport:
    """Check ``fn`` against every property of the GRU contract; raise listing every failure.

    Args:
        fn: ``fn(x, h0, params)`` with x (B, T, D), h0 (B, H) and a ``GRUParams``,
            returning hs (B, T, H) or ``(hs, h_T)`` with h_T (B, H). With
            ``step=True``, ``fn(x_t, h_prev, params)`` with x_t (B, D), h_prev
            (B, H), returning h_t (B, H). Wrap other layouts with
            ``gru_props.adapters`` (PyTorch, Keras, transposed, unbatched, ...).
        step: check a single-step function, folded over time.
        reset_after: None detects the convention and reports it; True or False demands one.
        interpolation: "standard" (default) demands h = z*h + (1-z)*n; "chung"
            demands Chung et al.'s h = (1-z)*h + z*n; None detects either.
        bias: False for a GRU without biases: only zero biases are generated.
        strict: turn warnings (float32 answered in float64 or the reverse,
            h0=None not accepted, an exception at T = 0) into failures.
        profile: "dev" (default; random, failures saved and replayed first),
            "ci" (derandomized; default when the CI variable is set to a true
            value) or "thorough"; also the GRU_PROPS_PROFILE variable.
        max_examples: examples per property, overriding the profile's.
        timeout: seconds one call of ``fn`` may take (None or inf: no limit).
            Holds in any thread; see ``gru_props.engine.calls`` for what is left
            running when a call cannot be interrupted.
        max_seconds: a budget for the whole check (None: none); when it runs
            out the check stops: ``IncompleteCheckError`` says what ran, unless
            a failure was found first (then ``ImplementationError``).
        allow_incomplete: with ``max_seconds``, return the report of an
            unfinished check (``report.complete == False``) instead of raising.
        rtol, atol: override the flat part of the tolerance (default by the
            least precise dtype involved: float64 1e-10/1e-11, float32
            1.3e-6/1e-5); on top of it, every comparison allows eight times
            the rounding error the case itself causes at that precision
            (``gru_props.engine.tolerance`` says how it is measured).
        properties: names of the properties to run (default: all).
        hints: how many of the three progressive hints the message shows.
        sizes: the largest (B, T, D, H) generated, as a mapping such as
            ``{"T": 64, "H": 32}`` or a tuple (default by profile: up to
            B=6, T=20, D=H=10; ``thorough`` up to B=8, T=40, D=H=16).
        num_layers, bidirectional, lengths, padding: the whole ``torch.nn.GRU``.
            When any differs from its default, ``fn`` follows the stack form
            ``fn(x, h0, layers, lengths)`` -> ``(out, h_n)``: layers a list of
            num_layers * num_directions ``GRUParams`` (layer 0 forward, layer 0
            reverse, ...), h0 and h_n (num_layers * num_directions, B, H), out
            (B, T, num_directions * H); ``lengths`` (B,) is passed only with
            ``lengths=True``. ``padding``: "zeros" (outputs 0 past each length,
            PyTorch / ONNX Runtime), "hold" (the last valid state repeated) or
            "any" (padded outputs unchecked). See ``gru_props.stack``.

    Returns:
        A ``CheckReport`` (``report.complete`` is False only with ``allow_incomplete``).

    Raises:
        ImplementationError: a property failed (an ``AssertionError``); it lists
            every failure, most informative first.
        IncompleteCheckError: ``max_seconds`` ran out before every property was
            searched to the end, and nothing failed (an ``AssertionError``).
        TypeError, ValueError: bad arguments to ``check_implementation`` itself.
    """
    __tracebackhide__ = True
    try:
        p = plan(fn, "fn", step=step, reset_after=reset_after, interpolation=interpolation, bias=bias,
                 strict=strict, timeout=timeout, max_seconds=max_seconds, rtol=rtol, atol=atol, hints=hints,
                 profile=profile, max_examples=max_examples, sizes=sizes, allow_incomplete=allow_incomplete)
        if num_layers != 1 or bidirectional is not False or lengths is not False or padding != "zeros":
            from gru_props.stack.check import check_stack, settings

            return check_stack(fn, p, settings(num_layers, bidirectional, lengths, padding), properties, False)
        a = p.args
        props = forward_properties(a["bias"], p.sizes)
        if a["zero_h0"]:
            props = zero_h0_form(props)
        if a["step"]:
            props = step_form(props)
            left_out = [n for n in (properties or ()) if isinstance(n, str) and n in NOT_FOR_STEPS]
            if left_out:
                raise ValueError(f"properties: {', '.join(left_out)} does not apply to a step function (it is "
                                 "never called with T = 0 and returns no h_T); leave it out, or check the "
                                 "whole-sequence function without step=True.")
        selected = select(props, properties)
        return execute(ForwardContract(props), fn, p, selected,
                       convention_candidates(a["reset_after"], a["interpolation"]),
                       (a["step"], a["reset_after"], a["interpolation"], a["bias"]))
    except Interrupted as outer:  # an outer timer or Ctrl-C: theirs to handle, not a finding
        raise outer.original from None


# ------------------------------------------------------ pytest test classes
def implementation_tests(
    fn: Callable[..., Any],
    *,
    step: bool = False,
    reset_after: Optional[bool] = None,
    interpolation: Optional[str] = "standard",
    bias: bool = True,
    timeout: Optional[float] = 5.0,
    hints: int = 1,
) -> Type[Any]:
    """A pytest test class with one real Hypothesis test per property.

    ::

        from gru_props import implementation_tests
        from gru_props._demo import fixed_gru as my_gru     # your GRU
        TestMyGRU = implementation_tests(my_gru, reset_after=False)

    Each method is an ordinary ``@given`` test, so pytest-xdist spreads them,
    HypoFuzz can fuzz them, and your settings profile and database apply.
    Each test's database key includes ``fn``, so failures replay per function.
    """
    args = plan(fn, "fn", step=step, reset_after=reset_after, interpolation=interpolation, bias=bias,
                strict=False, timeout=timeout, hints=hints, profile="dev").args
    name = display_name(fn)
    caller = Caller(args["timeout"])
    subject = Subject(fn, args["step"], caller, name)
    cands = convention_candidates(args["reset_after"], args["interpolation"])
    ctx = Context(subject, cands, cands[0], bias=args["bias"], detected=len(cands) > 1)
    props = forward_properties(args["bias"], SIZES["dev"])
    contract = ForwardContract(props)
    state: Dict[str, bool] = {}

    def context() -> Context:
        if len(cands) > 1 and "detected" not in state:
            diagnosis.detect(ctx)
            state["detected"] = True
        return ctx

    def raise_failure(failure: Failure) -> None:
        def render() -> Tuple[str, Tuple[str, ...]]:
            if not failure.diagnosed:
                contract.diagnose(ctx, failure)
                failure.diagnosed = True
            first_args = ctx.subject.first_args(failure.case) if failure.case is not None else None
            return render_failure(contract, name, failure, args["hints"], candidates=cands,
                                  snippet=forward_snippet(fn, args["step"], ctx, failure), fn=fn,
                                  first_args=first_args)

        raise ImplementationError([failure], render)

    namespace: Dict[str, Any] = {"__doc__": f"gru_props properties of {name}."}
    for prop in props:
        def make(prop: Property = prop) -> Callable[..., None]:
            @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, phases=_PHASES)
            @given(case=prop.strategy)
            def test(self: Any, case: GRUCase) -> None:
                __tracebackhide__ = True
                c = context()
                with np.errstate(all="ignore"):  # the checker's own arithmetic, whatever np.seterr says
                    failure = prop.check(c, case)
                if isinstance(failure, Failure) and not failure.warning:
                    raise_failure(failure)

            test.__name__ = f"test_{prop.name}"
            test.__doc__ = prop.description
            # Key the example database on fn too, as hypothesis.stateful does.
            test.hypothesis.inner_test._hypothesis_internal_add_digest = digest(  # type: ignore[attr-defined]
                fn, "forward", prop.name, args["step"])
            return test

        namespace[f"test_{prop.name}"] = make()
    return type(f"Test_{getattr(fn, '__name__', 'gru')}", (), namespace)


def _digest(fn: Callable[..., Any], *parts: Any) -> bytes:
    """The database key of ``fn`` (kept for callers of the round-1 name)."""
    return digest(fn, *parts)
