"""``check_implementation``: vet a user's GRU with Hypothesis, shrink, and name the bug.

::

    from gru_props import check_implementation
    from my_gru import gru_forward

    def test_my_gru():
        check_implementation(gru_forward)

Either returns a ``CheckReport`` (what was checked, how often, which
convention the function follows) or raises ``ImplementationError``, an
``AssertionError`` whose message shows the property that failed, the shrunk
counterexample, expected vs got at the worst element, the bug's name when it
is a known one, a hint, and a NumPy snippet that reproduces it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.errors import NoSuchExample

from gru_props._case import GRUCase
from gru_props._compare import Mismatch, compare, tolerance_for
from gru_props._diagnosis import BUGS, NUMERIC_BUGS, diagnose, reference_forward
from gru_props._params import GRUParams
from gru_props._properties import (
    Context,
    Failure,
    Property,
    _deterministic,
    _inputs_unchanged,
    properties,
)
from gru_props._subject import Hang, Subject

__all__ = [
    "CheckReport",
    "ImplementationError",
    "PropertyResult",
    "check_implementation",
    "implementation_tests",
    "PROFILES",
]

_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)  # no "explain" noise

#: Hypothesis settings for each profile, registered as ``gru_props.<name>``
#: and passed explicitly, so neither Hypothesis' own ``ci`` profile (loaded
#: when CI is set) nor a user's global profile changes what a check does.
PROFILES: Dict[str, settings] = {
    "dev": settings(max_examples=60, deadline=None, phases=_PHASES, print_blob=False),
    "ci": settings(max_examples=60, deadline=None, phases=_PHASES, derandomize=True,
                   database=None, print_blob=False),
    "thorough": settings(max_examples=1000, deadline=None, phases=_PHASES, print_blob=False),
}
for _name, _settings in PROFILES.items():
    settings.register_profile(f"gru_props.{_name}", _settings)


def _profile_settings(profile: Optional[str]) -> Tuple[str, settings]:
    if profile is None:
        profile = os.environ.get("GRU_PROPS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    if profile not in PROFILES:
        raise ValueError(
            f"profile: expected one of {sorted(PROFILES)}, got {profile!r} "
            f"(also settable with the GRU_PROPS_PROFILE environment variable)."
        )
    return profile, PROFILES[profile]


@dataclasses.dataclass(frozen=True)
class PropertyResult:
    name: str
    description: str
    examples: int
    status: str  # "passed", or "n/a" when the property had nothing to check


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What ``check_implementation`` checked on a function that passed.

    Attributes:
        function: the function's qualified name.
        reset_after: the convention the function follows (detected or demanded).
        step: True if a step function was checked (and folded over time).
        properties: one ``PropertyResult`` per property, in the order run.
        notes: things worth knowing that are not failures (warnings seen).
        profile: the settings profile used; seconds: wall time of the check.
    """

    function: str
    reset_after: bool
    convention_detected: bool
    step: bool
    properties: Tuple[PropertyResult, ...]
    notes: Tuple[str, ...]
    profile: str
    seconds: float

    @property
    def passed(self) -> List[str]:
        return [p.name for p in self.properties if p.status == "passed"]

    @property
    def examples(self) -> Dict[str, int]:
        return {p.name: p.examples for p in self.properties}

    def __str__(self) -> str:
        how = "detected" if self.convention_detected else "as asked"
        kind = "step function" if self.step else "forward function"
        lines = [
            f"gru_props: {self.function} ({kind}) passed {len(self.passed)} properties "
            f"in {self.seconds:.2f} s (profile {self.profile!r}).",
            f"Convention: reset_after={self.reset_after} ({how}; "
            + ("PyTorch/Keras/cuDNN, ONNX linear_before_reset=1" if self.reset_after
               else "Cho et al. 2014, ONNX default linear_before_reset=0") + ").",
        ]
        for p in self.properties:
            lines.append(f"  {p.status.upper():6} {p.name:30} {p.examples:5d} examples  {p.description}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


class ImplementationError(AssertionError):
    """A property of the GRU contract failed for the user's function.

    Attributes:
        property: name of the failed property (e.g. ``"matches_reference"``).
        diagnosis: name of the known bug that explains the failure, or None.
        counterexample: the shrunk ``GRUCase`` (integer ``B, T, D, H``; arrays
            ``x``, ``h0``, ``params``) exactly as the function received it.
        expected, got: the arrays compared (None when not a comparison).
        mismatch: worst-element summary, or None.
        hints: progressive hints for the diagnosis (nudge, pointer, fix).
        reset_after: the convention checked against.
    """

    def __init__(self, failure: Failure, render: Callable[[Failure], Tuple[str, Tuple[str, ...]]]) -> None:
        super().__init__(failure.message)
        self._failure = failure
        self._render = render
        self._text: Optional[str] = None
        self._hints: Tuple[str, ...] = ()
        self.property = failure.property
        self.counterexample = failure.case
        self.expected = failure.expected
        self.got = failure.got
        self.mismatch: Optional[Mismatch] = failure.mismatch
        self.reset_after = failure.reset_after

    # The diagnosis and the message are worked out on first use: a Hypothesis
    # test raises this error on every failing example it shrinks through, and
    # only the last one is ever shown.
    def _rendered(self) -> str:
        if self._text is None:
            self._text, self._hints = self._render(self._failure)
        return self._text

    @property
    def diagnosis(self) -> Optional[str]:
        self._rendered()
        return self._failure.diagnosis

    @property
    def hints(self) -> Tuple[str, ...]:
        self._rendered()
        return self._hints

    def __str__(self) -> str:
        return self._rendered()


# ------------------------------------------------------------- convention
def _detection_cases() -> List[GRUCase]:
    """Cases on which the two conventions differ clearly (B=2, T=3, D=3, H=4)."""
    cases = []
    for seed in (11, 12, 13):
        rng = np.random.default_rng(seed)
        p = GRUParams.random(3, 4, seed=rng, scale=1.5)
        x = rng.standard_normal((2, 3, 3))
        h0 = rng.uniform(-1, 1, (2, 4))
        cases.append(GRUCase(x, h0, p))
    return cases


def _detect_convention(ctx: Context) -> bool:
    """The convention ``fn`` follows: the one whose reference, or whose known buggy
    variant, comes closest to ``fn``'s outputs on a few discriminating cases.

    Buggy variants count so that a buggy GRU is judged in its own convention:
    a reversed interpolation in the reset-before GRU is closer to the
    reset-after reference than to the reset-before one, but it matches the
    reset-before reversed-interpolation bug exactly.
    """
    forwards = {"reference": reference_forward}
    forwards.update({n: BUGS[n].forward for n in NUMERIC_BUGS if n != "wrong_reset_convention"})
    candidates: Dict[Tuple[bool, str], float] = {}
    for case in _detection_cases():
        out = ctx.run(case)
        if out.error is not None:
            return False  # the properties will report the error
        got = out.hs.astype(np.float64)
        for ra in (False, True):
            for name, forward in forwards.items():
                with np.errstate(all="ignore"):
                    err = float(np.max(np.abs(got - forward(case.x, case.h0, case.params, ra)[0]), initial=0.0))
                err = err if np.isfinite(err) else np.inf
                key = (ra, name)
                candidates[key] = max(candidates.get(key, 0.0), err)
    # Prefer the reference on ties, then the convention with the smallest error.
    (ra, _), _ = min(candidates.items(), key=lambda kv: (kv[1], kv[0][1] != "reference"))
    return ra


# --------------------------------------------------------------- diagnosis
def _confirmation_cases() -> List[GRUCase]:
    """Seeded cases, ordinary and extreme, on which a diagnosis must also hold."""
    cases = _detection_cases()
    for seed in (21, 22):
        rng = np.random.default_rng(seed)
        p = GRUParams.random(3, 4, seed=rng, scale=1e3)
        cases.append(GRUCase(1e3 * rng.standard_normal((2, 3, 3)), rng.uniform(-1, 1, (2, 4)), p))
    return cases


def _diagnose(ctx: Context, failure: Failure) -> Optional[str]:
    if failure.diagnosis is not None:
        return failure.diagnosis
    if failure.property == "output_contract":
        return None
    # Behaviour first: a function that writes into its inputs or keeps state
    # between calls fails agreement too, but that is not its bug's name.
    behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
    if behaviour is not None and behaviour.diagnosis is not None:
        return behaviour.diagnosis
    observations, params = [], []
    for case in [failure.case] + _confirmation_cases():
        out = ctx.subject.run(case)
        if out.hs is None:
            if not observations:
                return None
            continue
        observations.append((case.x, case.h0, out.hs, out.h_T))
        params.append(case.params)
    rtol, atol = ctx.tolerance(observations[0][2].dtype)

    def matches(a: np.ndarray, b: np.ndarray) -> bool:
        return compare("hs", a, b, max(rtol, 1e-5), max(atol, 1e-5)) is None

    return diagnose(observations, params, ctx.reset_after, matches)


# ------------------------------------------------------------------ shrink
def _reduce_dims(case: GRUCase, still_fails: Callable[[GRUCase], bool], budget: int = 200) -> GRUCase:
    """Remove batch rows, time steps, input features and hidden units while the failure stays.

    Hypothesis shrinks values well, but lowering a size shifts every later
    draw, so a counterexample can keep a hidden unit that plays no part in
    the failure. Deleting one index at a time (and re-checking) finishes the
    job: a reversed interpolation ends at B = T = D = H = 1.
    """
    minimum = {"B": 1, "T": min(case.T, 1), "D": min(case.D, 1), "H": 1}
    changed = True
    while changed and budget > 0:
        changed = False
        for axis in ("T", "B", "H", "D"):
            index = 0
            while getattr(case, axis) > minimum[axis] and index < getattr(case, axis) and budget > 0:
                budget -= 1
                smaller = case.without(axis, index)
                if still_fails(smaller):
                    case, changed = smaller, True
                else:
                    index += 1
    return case


# ------------------------------------------------------------------ report
def _array_text(a: np.ndarray) -> str:
    if a.size == 0:
        return f"(empty, shape {a.shape})"
    text = np.array2string(np.asarray(a, dtype=np.float64), separator=", ", threshold=10**6,
                           max_line_width=80, floatmode="maxprec", precision=17)
    return text.replace("\n", "\n" + " " * 8)


def _case_text(case: GRUCase) -> str:
    lines = [f"  B={case.B}, T={case.T}, D={case.D}, H={case.H}, dtype={case.dtype}"]
    lines.append(f"  x  = {_array_text(case.x)}")
    lines.append(f"  h0 = {_array_text(case.h0)}")
    zero = []
    for name, arr in case.params.arrays().items():
        if np.any(arr != 0):
            lines.append(f"  params.{name:4} = {_array_text(arr)}")
        else:
            zero.append(name)
    if zero:
        lines.append(f"  params: {', '.join(zero)} are all zeros")
    return "\n".join(lines)


def _snippet(fn: Callable[..., Any], case: GRUCase, reset_after: Optional[bool], step: bool,
             tolerance: Tuple[float, float]) -> str:
    dt = f"np.{case.params.dtype}"
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__name__", "")
    if module and module != "__main__" and name.isidentifier():
        get_fn = f"from {module} import {name} as fn"
    else:
        get_fn = "fn = ...  # your GRU function"

    def arr(a: np.ndarray) -> str:
        if not np.any(a):
            return f"np.zeros({a.shape}, dtype={dt})"
        return f"np.array({np.asarray(a, dtype=np.float64).tolist()!r}, dtype={dt})"

    params = ",\n    ".join(f"{k}={arr(v)}" for k, v in case.params.arrays().items())
    ra = bool(reset_after)
    call = (
        "h = h0\nstates = []\nfor t in range(x.shape[1]):\n    h = fn(x[:, t], h, params)\n    states.append(h)\n"
        f"hs = np.stack(states, axis=1) if states else np.zeros(({case.B}, 0, {case.H}))"
        if step else
        "out = fn(x.copy(), h0.copy(), params)\nhs = out[0] if isinstance(out, tuple) else out"
    )
    return (
        "import numpy as np\n"
        "from gru_props import GRUParams, level1\n"
        f"{get_fn}\n\n"
        f"x = {arr(case.x)}\n"
        f"h0 = {arr(case.h0)}\n"
        f"params = GRUParams(\n    {params},\n)\n"
        f"{call}\n"
        f"hs_ref, _ = level1.gru_forward(x, h0, params, reset_after={ra})\n"
        f"np.testing.assert_allclose(hs, hs_ref, rtol={tolerance[0]:g}, atol={tolerance[1]:g})"
    )


def _message(subject: Subject, failure: Failure, hint_level: int,
             properties_passed: Sequence[str]) -> Tuple[str, Tuple[str, ...]]:
    diagnosis = failure.diagnosis
    prop = {p.name: p for p in properties()}[failure.property]
    fn_name = subject.name
    lines = [
        f"gru_props: {fn_name} failed property '{failure.property}' ({prop.description}).",
        f"  {failure.message[0].upper() + failure.message[1:]}",
        "",
        "Counterexample (shrunk), exactly as the function received it:",
        _case_text(failure.case),
    ]
    if failure.mismatch is not None:
        lines += ["", failure.mismatch.format("bth" if failure.mismatch.name == "hs" else "bh")]
    hints: Tuple[str, ...] = ()
    if diagnosis is not None:
        bug = BUGS[diagnosis]
        hints = bug.hints
        lines += ["", f"Diagnosis: {diagnosis}: {bug.summary}"]
        shown = hints[: max(0, min(hint_level, 3))]
        for i, h in enumerate(shown, 1):
            lines.append(f"  Hint {i}: {h}")
        if len(shown) < 3:
            lines.append(f"  ({3 - len(shown)} more hint(s): err.hints, or hints=3 / --hints 3)")
    else:
        lines += ["", "Diagnosis: not one of the known bugs; compare your code with the SPEC equations "
                  "(gru_props.level1 is the reference, written to be read)."]
    if properties_passed:
        lines += ["", f"Properties that held before this one: {', '.join(properties_passed)}."]
    mm = failure.mismatch
    tolerance = (mm.rtol, mm.atol) if mm is not None else tolerance_for(failure.case.dtype)
    snippet = _snippet(subject.fn, failure.case, failure.reset_after, subject.step, tolerance)
    lines += ["", "Reproduce with plain NumPy:", "", _indent(snippet, 4)]
    return "\n".join(lines), hints


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line if line else line for line in text.splitlines())


# ------------------------------------------------------------------- check
def _digest(fn: Callable[..., Any], *parts: Any) -> bytes:
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = repr(fn)
    ident = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}"
    return hashlib.sha384("\x00".join([ident, source, *map(str, parts)]).encode()).digest()


def _select(only: Optional[Sequence[str]]) -> Tuple[Property, ...]:
    allp = properties()
    if only is None:
        return allp
    names = {p.name for p in allp}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ValueError(f"properties: unknown {unknown}; choose from {[p.name for p in allp]}.")
    return tuple(p for p in allp if p.name in only)


def _check_args(fn: Any, step: Any, reset_after: Any, timeout: Any, hints: Any) -> None:
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(x, h0, params), got {fn!r}.")
    if not isinstance(step, bool):
        raise TypeError(f"step: expected True or False, got {step!r}.")
    if reset_after is not None and not isinstance(reset_after, bool):
        raise TypeError(f"reset_after: expected None (detect), True or False, got {reset_after!r}.")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout: expected seconds > 0 or None, got {timeout!r}.")
    if not isinstance(hints, int) or not 0 <= hints <= 3:
        raise ValueError(f"hints: expected 0, 1, 2 or 3 (how many hints the message shows), got {hints!r}.")


def _renderer(ctx: Context, hints: int, passed: Sequence[str]) -> Callable[[Failure], Tuple[str, Tuple[str, ...]]]:
    def render(failure: Failure) -> Tuple[str, Tuple[str, ...]]:
        failure.diagnosis = _diagnose(ctx, failure)
        if failure.reset_after is None:
            failure.reset_after = ctx.reset_after
        return _message(ctx.subject, failure, hints, list(passed))

    return render


def _raise_hang(prop: Property, hang: Hang, ctx: Context, passed: List[str]) -> None:
    failure = Failure(
        "output_contract",
        f"did not return within {hang.seconds:g} s (timeout) while checking '{prop.name}'; "
        "the case below was not shrunk.",
        hang.case,
    )
    raise ImplementationError(failure, _renderer(ctx, 0, passed)) from None


def check_implementation(
    fn: Callable[..., Any],
    *,
    step: bool = False,
    reset_after: Optional[bool] = None,
    profile: Optional[str] = None,
    max_examples: Optional[int] = None,
    timeout: Optional[float] = 5.0,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    properties: Optional[Sequence[str]] = None,
    hints: int = 1,
) -> CheckReport:
    """Check ``fn`` against every property of the GRU contract; raise on the first failure.

    Args:
        fn: ``fn(x, h0, params)`` with x (B, T, D), h0 (B, H) and a ``GRUParams``,
            returning hs (B, T, H) or ``(hs, h_T)``. With ``step=True``,
            ``fn(x_t, h_prev, params)`` returning h_t (B, H).
        step: check a single-step function, folded over time.
        reset_after: None detects the convention (and reports it); True or
            False demands one.
        profile: ``"dev"`` (default; random, failures saved and replayed
            first), ``"ci"`` (derandomized, default when the CI variable is
            set) or ``"thorough"``; also ``GRU_PROPS_PROFILE``.
        max_examples: examples per property, overriding the profile's.
        timeout: seconds one call of ``fn`` may take before it counts as hung
            (enforced with SIGALRM in the main thread; None disables).
        rtol, atol: override the tolerances (default by output dtype:
            float64 1e-7/1e-7, float32 1.3e-6/1e-5, plus float32 rounding slack).
        properties: names of the properties to run (default: all).
        hints: how many of the three progressive hints the message shows.

    Returns:
        A ``CheckReport``.

    Raises:
        ImplementationError: a property failed (an ``AssertionError``).
        TypeError, ValueError: bad arguments to ``check_implementation`` itself.
    """
    __tracebackhide__ = True
    _check_args(fn, step, reset_after, timeout, hints)
    selected = _select(properties)
    profile_name, base = _profile_settings(profile)
    if max_examples is not None:
        if not isinstance(max_examples, int) or max_examples < 1:
            raise ValueError(f"max_examples: expected an integer >= 1, got {max_examples!r}.")
        base = settings(base, max_examples=max_examples)
    start = time.perf_counter()
    subject = Subject(fn, step, timeout)
    ctx = Context(subject, reset_after=bool(reset_after), rtol=rtol, atol=atol)
    detected = reset_after is None
    passed: List[str] = []
    if detected:
        try:
            ctx.reset_after = _detect_convention(ctx)
        except Hang as hang:
            _raise_hang(selected[0], hang, ctx, passed)
    results: List[PropertyResult] = []
    for prop in selected:
        count = [0]
        found: List[Failure] = []

        def fails(case: GRUCase, prop: Property = prop) -> bool:
            count[0] += 1
            failure = prop.check(ctx, case)
            if failure is not None:
                found[:] = [failure]
            return failure is not None

        prop_settings = settings(base, max_examples=max(1, round(base.max_examples * prop.examples_share)))
        try:
            minimal = find(prop.strategy, fails, settings=prop_settings,
                           database_key=_digest(fn, prop.name, step, reset_after))
        except NoSuchExample:
            vacuous = prop.name == "final_state_is_last" and not ctx.returned_h_T
            status = "n/a" if vacuous else "passed"  # a step function, or fn returns hs only
            results.append(PropertyResult(prop.name, prop.description, count[0], status))
            passed.append(prop.name)
            continue
        except Hang as hang:
            _raise_hang(prop, hang, ctx, passed)
        original = prop.check(ctx, minimal) or found[-1]

        def same_failure(case: GRUCase, prop: Property = prop, name: str = original.property) -> bool:
            failure = prop.check(ctx, case)
            return failure is not None and failure.property == name

        minimal = _reduce_dims(minimal, same_failure)
        failure = prop.check(ctx, minimal) or original
        error = ImplementationError(failure, _renderer(ctx, hints, passed))
        str(error)  # diagnose now, while the function is known to fail this way
        raise error
    notes = []
    for w, n in sorted(ctx.warnings.items()):
        notes.append(f"{n} call(s) warned {w!r}; the results were still correct (a textbook "
                     "1/(1+exp(-a)) sigmoid overflows harmlessly; 0.5*tanh(0.5*a)+0.5 does not warn).")
    return CheckReport(
        function=subject.name,
        reset_after=ctx.reset_after,
        convention_detected=detected,
        step=step,
        properties=tuple(results),
        notes=tuple(notes),
        profile=profile_name,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------ pytest test classes
def implementation_tests(
    fn: Callable[..., Any],
    *,
    step: bool = False,
    reset_after: Optional[bool] = None,
    timeout: Optional[float] = 5.0,
    hints: int = 1,
) -> Type[Any]:
    """A pytest test class with one real Hypothesis test per property.

    ::

        from gru_props import implementation_tests
        TestMyGRU = implementation_tests(my_gru, reset_after=True)

    Each method is an ordinary ``@given`` test, so pytest-xdist spreads them,
    HypoFuzz can fuzz them, and your settings profile and database apply.
    Each test's database key includes ``fn``, so failures replay per function.
    """
    _check_args(fn, step, reset_after, timeout, hints)
    subject = Subject(fn, step, timeout)
    ctx = Context(subject, reset_after=bool(reset_after))
    state: Dict[str, bool] = {}

    def context() -> Context:
        if reset_after is None and "detected" not in state:
            ctx.reset_after = _detect_convention(ctx)
            state["detected"] = True
        return ctx

    namespace: Dict[str, Any] = {"__doc__": f"gru_props properties of {subject.name}."}
    for prop in properties():
        def make(prop: Property = prop) -> Callable[..., None]:
            @settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, phases=_PHASES)
            @given(case=prop.strategy)
            def test(self: Any, case: GRUCase) -> None:
                __tracebackhide__ = True
                c = context()
                failure = prop.check(c, case)
                if failure is not None:
                    raise ImplementationError(failure, _renderer(c, hints, []))

            test.__name__ = f"test_{prop.name}"
            test.__doc__ = prop.description
            # Key the example database on fn too, as hypothesis.stateful does.
            test.hypothesis.inner_test._hypothesis_internal_add_digest = _digest(fn, prop.name, step)  # type: ignore[attr-defined]
            return test

        namespace[f"test_{prop.name}"] = make()
    return type(f"Test_{getattr(fn, '__name__', 'gru')}", (), namespace)
