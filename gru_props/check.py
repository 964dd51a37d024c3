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
diagnose, report) is shared with ``check_gradients``: ``_engine`` runs the
properties, ``_calls`` calls the function under a time limit, ``_report``
renders, ``_properties`` and ``_diagnosis`` hold what is specific to a
forward pass.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from hypothesis import HealthCheck, given, settings

from gru_props import _diagnosis
from gru_props._calls import BudgetExhausted, Caller, Hang, Interrupted
from gru_props._case import GRUCase
from gru_props._conventions import Convention, candidates as convention_candidates, reference_forward
from gru_props._engine import Context, Engine, Failure, Progress, Property, digest
from gru_props._profiles import (
    _PHASES,
    PROFILES,
    SIZES,
    check_bool,
    check_int,
    check_interpolation,
    check_optional_bool,
    check_property_names,
    check_seconds,
    check_sizes,
    check_tolerance,
    choose_profile,
)
from gru_props._properties import properties as forward_properties
from gru_props._report import CheckReport, ImplementationError, PropertyResult, array_text, render_failure
from gru_props._snippet import display_name, forward_snippet
from gru_props._subject import Subject

__all__ = [
    "CheckReport",
    "ImplementationError",
    "PropertyResult",
    "check_implementation",
    "implementation_tests",
    "PROFILES",
]


# --------------------------------------------------------------- contract
class ForwardContract:
    """What is specific to checking a forward GRU (the engine does the rest)."""

    kind = "forward"
    unknown_bug_advice = ("compare your code with the SPEC equations (gru_props.level1 is the "
                          "reference, written to be read).")

    def __init__(self, props: Sequence[Property]) -> None:
        self.props = {p.name: p for p in props}

    def property_by_name(self, name: str) -> Optional[Property]:
        return self.props.get(name)

    def bug(self, name: str) -> _diagnosis.Bug:
        return _diagnosis.BUGS[name]

    def axes(self, name: str) -> str:
        return "bth" if name == "hs" else "bh"

    def case_text(self, case: GRUCase) -> str:
        return case_text(case)

    def diagnose(self, ctx: Context, failure: Failure) -> None:
        _diagnosis.diagnose(ctx, failure)

    def hang_failure(self, ctx: Context, prop: Optional[Property], hang: Hang) -> Failure:
        left = ("" if hang.stopped else
                " The call could not be interrupted and is still running in a background thread.")
        during = f"checking '{prop.name}'" if prop is not None else "detecting its convention"
        return Failure(
            "output_contract",
            f"did not return within {hang.seconds:g} s (timeout) while {during}; the "
            f"case below was not shrunk, since every shrink attempt would cost the full time limit.{left}",
            hang.case, kind="contract", shrunk=False, diagnosed=True,
        )


def case_text(case: GRUCase) -> str:
    lines = [f"  B={case.B}, T={case.T}, D={case.D}, H={case.H}, dtype={case.dtype}"]
    lines.append(f"  x  = {array_text(case.x)}")
    lines.append(f"  h0 = {array_text(case.h0)}")
    zero = []
    for name, arr in case.params.arrays().items():
        if np.any(arr != 0):
            lines.append(f"  params.{name:4} = {array_text(arr)}")
        else:
            zero.append(name)
    if zero:
        lines.append(f"  params: {', '.join(zero)} {'is' if len(zero) == 1 else 'are all'} zero")
    return "\n".join(lines)


# ------------------------------------------------------------- arguments
def _requirements(fn: Any, args: Dict[str, Any]) -> Dict[str, Any]:
    """What an adapter's layout implies (``__gru_props_requires__``), merged into the checked arguments.

    A requirement fills an argument left at "detect" (reset_after=None,
    interpolation=None) and sets ``step`` and ``bias``; an argument passed
    with another value is a contradiction, reported as a ValueError.
    """
    required = dict(getattr(fn, "__gru_props_requires__", {}) or {})
    adapter = getattr(fn, "__gru_props_adapter__", "the adapter")
    merged = dict(args)
    for key, value in required.items():
        if key not in ("reset_after", "interpolation", "step", "bias"):
            continue
        current = merged[key]
        if key in ("reset_after", "interpolation") and current is None:
            merged[key] = value
        elif key == "bias" and value is False:
            merged[key] = False
        elif key == "step" and value is True:
            merged[key] = True
        elif current != value:
            raise ValueError(
                f"{key}: {adapter} implies {key}={value!r}, but {key}={current!r} was passed; "
                f"drop the argument or change the adapter."
            )
    return merged


def validate(fn: Any, step: Any, reset_after: Any, interpolation: Any, bias: Any, strict: Any,
             timeout: Any, max_seconds: Any, rtol: Any, atol: Any, hints: Any, what: str) -> Dict[str, Any]:
    """Check every argument eagerly; TypeError/ValueError name the argument."""
    if not callable(fn):
        raise TypeError(f"{what}: expected a callable, got {fn!r} ({type(fn).__name__}).")
    return dict(
        step=check_bool("step", step),
        reset_after=check_optional_bool("reset_after", reset_after, "detect"),
        interpolation=check_interpolation(interpolation),
        bias=check_bool("bias", bias),
        strict=check_bool("strict", strict),
        timeout=check_seconds("timeout", timeout),
        max_seconds=check_seconds("max_seconds", max_seconds),
        rtol=check_tolerance("rtol", rtol),
        atol=check_tolerance("atol", atol),
        hints=check_int("hints", hints, 0, 3, " (how many hints the message shows)"),
    )


def _fits(ctx: Context) -> Dict[str, Tuple[int, int]]:
    return {c.short(): (ctx.fits.get(c, 0), ctx.fit_trials) for c in ctx.candidates}


def _final_primary(ctx: Context) -> Convention:
    """After the search, the candidate that agreed most often (detection's choice on ties)."""
    if len(ctx.candidates) < 2 or not ctx.fit_trials:
        return ctx.primary
    return max(ctx.conventions(), key=lambda c: ctx.fits.get(c, 0))


def _notes(ctx: Context, caller: Caller) -> List[str]:
    notes = []
    for w, n in sorted(ctx.runtime_warnings.items()):
        notes.append(f"{n} call(s) warned {w!r}; the results were still correct (a textbook "
                     "1/(1+exp(-a)) sigmoid overflows harmlessly; 0.5*tanh(0.5*a)+0.5 does not warn).")
    if caller.abandoned:
        notes.append(f"{len(caller.abandoned)} call(s) that overran the time limit could not be "
                     "interrupted and may still be running in a background daemon thread.")
    return notes


# ------------------------------------------------------------ shape hints
def _probe_case() -> GRUCase:
    rng = np.random.default_rng(5)
    from gru_props._params import GRUParams

    return GRUCase(rng.standard_normal((2, 3, 4)), rng.uniform(-1, 1, (2, 5)), GRUParams.random(4, 5, seed=rng))


def _shape_hints(fn: Any, ctx: Context, caller: Caller, step: bool) -> List[str]:
    """When the function fails the output contract, try the usual layout mix-ups and say which fits."""
    from gru_props._properties import run as run_subject

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
        try:
            from gru_props import adapters
        except ImportError:  # pragma: no cover - adapters not installed
            adapters = None  # type: ignore[assignment]
        if adapters is not None and not hints:
            for name, meaning in (
                ("transposed_weights", "it expects every weight matrix transposed (W_* (H, D), column vectors)"),
                ("time_major", "it expects time-major x (T, B, D) and returns (T, B, H)"),
                ("unbatched", "it handles one example at a time (x (T, D), h0 (H,))"),
            ):
                wrapper = getattr(adapters, name, None)
                if wrapper is not None and works(wrapper(fn), step):
                    hints.append(f"It works when wrapped with gru_props.adapters.{name}: {meaning}. "
                                 f"Check {name}({display_name(fn)}) instead.")
                    break
    except (Hang, BudgetExhausted):
        return hints
    if not hints:
        try:
            positional = [p for p in inspect.signature(fn).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
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
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    properties: Optional[Sequence[str]] = None,
    hints: int = 1,
    sizes: Any = None,
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
            h0=None not accepted) into failures.
        profile: "dev" (default; random, failures saved and replayed first),
            "ci" (derandomized; default when the CI variable is set to a true
            value) or "thorough"; also the GRU_PROPS_PROFILE variable.
        max_examples: examples per property, overriding the profile's.
        timeout: seconds one call of ``fn`` may take (None or inf: no limit).
            Holds in any thread; see ``gru_props._calls`` for what is left
            running when a call cannot be interrupted.
        max_seconds: a budget for the whole check (None: none); when it runs
            out the check stops, and the report (or error) says what ran.
        rtol, atol: override the tolerances (default by the least precise
            dtype involved: float64 1e-7/1e-7; float32 1.3e-6/1e-5 plus the
            rounding slack float32 itself causes).
        properties: names of the properties to run (default: all).
        hints: how many of the three progressive hints the message shows.
        sizes: the largest (B, T, D, H) generated, as a mapping such as
            ``{"T": 64, "H": 32}`` or a tuple (default by profile: up to
            B=6, T=20, D=H=10; ``thorough`` up to B=8, T=40, D=H=16).

    Returns:
        A ``CheckReport``; check ``report.complete`` when using ``max_seconds``.

    Raises:
        ImplementationError: a property failed (an ``AssertionError``); it lists
            every failure, most informative first.
        TypeError, ValueError: bad arguments to ``check_implementation`` itself.
    """
    __tracebackhide__ = True
    try:
        return _check(fn, step, reset_after, interpolation, bias, strict, profile, max_examples, timeout,
                      max_seconds, rtol, atol, properties, hints, sizes)
    except Interrupted as outer:  # an outer timer or Ctrl-C: theirs to handle, not a finding
        raise outer.original from None


def _check(fn: Any, step: Any, reset_after: Any, interpolation: Any, bias: Any, strict: Any, profile: Any,
           max_examples: Any, timeout: Any, max_seconds: Any, rtol: Any, atol: Any, properties: Any,
           hints: Any, sizes: Any) -> CheckReport:
    __tracebackhide__ = True
    args = _requirements(fn, validate(fn, step, reset_after, interpolation, bias, strict, timeout, max_seconds,
                                      rtol, atol, hints, "fn"))
    reset_after, interpolation, bias = args["reset_after"], args["interpolation"], args["bias"]
    profile_name, base = choose_profile(profile)
    if max_examples is not None:
        base = settings(base, max_examples=check_int("max_examples", max_examples, 1))
    size_limits = check_sizes(sizes, SIZES[profile_name])
    props = forward_properties(bias, size_limits)
    names = check_property_names(properties, [p.name for p in props])
    selected = props if names is None else tuple(p for p in props if p.name in names)
    contract = ForwardContract(props)

    start = time.perf_counter()
    deadline = None if args["max_seconds"] is None else time.monotonic() + args["max_seconds"]
    name = display_name(fn)
    with Caller(args["timeout"], deadline) as caller:
        subject = Subject(fn, args["step"], caller, name)
        cands = convention_candidates(reset_after, interpolation)
        ctx = Context(subject, cands, cands[0], rtol=args["rtol"], atol=args["atol"],
                      strict=args["strict"], bias=bias, sizes=size_limits, detected=len(cands) > 1)
        engine = Engine(
            contract, ctx, caller, base,
            lambda prop: digest(fn, "forward", prop, args["step"], reset_after, interpolation, bias),
            Progress(name, len(selected)),
        )
        early: Optional[Failure] = None
        stop_reason = None
        if len(cands) > 1:
            try:
                _diagnosis.detect(ctx)
            except Hang as hang:
                hang.case = _diagnosis.detection_cases(bias)[0]
                early = contract.hang_failure(ctx, None, hang)
            except BudgetExhausted:
                stop_reason = "the time budget (max_seconds) ran out"
        if early is None and stop_reason is None:
            outcome = engine.run(selected)
            results, failures, warned = outcome.results, outcome.failures, outcome.warnings
            complete, stop_reason = outcome.complete, outcome.stop_reason
        else:
            results = [(p.name, p.description, 0, "not run") for p in selected]
            failures, warned, complete = ([early] if early else []), [], False
        chosen = _final_primary(ctx)
        report = CheckReport(
            function=name, kind="forward", reset_after=chosen.reset_after,
            interpolation=chosen.interpolation, convention_detected=len(cands) > 1, fits=_fits(ctx),
            step=args["step"],
            properties=tuple(PropertyResult(*r) for r in results),
            warnings=tuple(f"{w.property}: {w.message}" for w in warned),
            notes=tuple(_notes(ctx, caller)), profile=profile_name,
            seconds=time.perf_counter() - start, calls=caller.calls, complete=complete,
            stop_reason=stop_reason, sizes=tuple(size_limits), largest=dict(ctx.extra.get("largest", {})),
        )
        if not failures:
            return report
        first = failures[0]
        extra: List[str] = []
        if first.kind == "contract" and first.property in ("output_contract",) and "did not return" not in first.message:
            hint_lines = _shape_hints(fn, ctx, caller, args["step"])
            if hint_lines:
                extra = [""] + [f"Hint: {h}" for h in hint_lines]
                first.extra["shape_hints"] = tuple(hint_lines)
        passed = [r[0] for r in results if r[3] == "passed"]
        text, hint_texts = render_failure(
            contract, name, first, args["hints"], others=failures[1:], warnings=warned, passed=passed,
            candidates=cands, snippet=forward_snippet(fn, args["step"], ctx, first),
            stop_reason=None if complete else stop_reason, extra=extra,
        )
    error = ImplementationError(failures, lambda: (text, hint_texts), warned, report)
    raise error


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
    args = _requirements(fn, validate(fn, step, reset_after, interpolation, bias, False, timeout, None, None, None,
                                      hints, "fn"))
    reset_after, interpolation, bias = args["reset_after"], args["interpolation"], args["bias"]
    name = display_name(fn)
    caller = Caller(args["timeout"])
    subject = Subject(fn, args["step"], caller, name)
    cands = convention_candidates(reset_after, interpolation)
    ctx = Context(subject, cands, cands[0], bias=bias, detected=len(cands) > 1)
    props = forward_properties(bias, SIZES["dev"])
    contract = ForwardContract(props)
    state: Dict[str, bool] = {}

    def context() -> Context:
        if len(cands) > 1 and "detected" not in state:
            _diagnosis.detect(ctx)
            state["detected"] = True
        return ctx

    def raise_failure(failure: Failure) -> None:
        def render() -> Tuple[str, Tuple[str, ...]]:
            if not failure.diagnosed:
                contract.diagnose(ctx, failure)
                failure.diagnosed = True
            return render_failure(contract, name, failure, args["hints"], candidates=cands,
                                  snippet=forward_snippet(fn, args["step"], ctx, failure))

        raise ImplementationError([failure], render)

    namespace: Dict[str, Any] = {"__doc__": f"gru_props properties of {name}."}
    for prop in props:
        def make(prop: Property = prop) -> Callable[..., None]:
            @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, phases=_PHASES)
            @given(case=prop.strategy)
            def test(self: Any, case: GRUCase) -> None:
                __tracebackhide__ = True
                c = context()
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
