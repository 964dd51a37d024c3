"""One check from start to finish, for any contract: arguments, detection, the engine, then a report or an error.

``check_implementation`` and ``check_gradients`` are thin: each validates
its own arguments into a ``Plan``, picks its properties and hands both to
``execute`` with its contract (``engine.model.Contract``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from hypothesis import settings

from gru_props.engine.calls import BudgetExhausted, Caller, Hang, outer_signals_interrupt
from gru_props.engine.conventions import Convention
from gru_props.engine.model import Context, Contract, Failure, Property
from gru_props.engine.profiles import (
    SIZES,
    Sizes,
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
from gru_props.engine.report import (
    CheckReport,
    ImplementationError,
    IncompleteCheckError,
    PropertyResult,
    render_failure,
)
from gru_props.engine.search import Engine, Progress, digest
from gru_props.engine.snippet import display_name


@dataclasses.dataclass
class Plan:
    """A check's validated arguments (``args``: step, reset_after, interpolation, bias, strict,
    timeout, max_seconds, rtol, atol, hints), its settings profile and its largest sizes."""

    args: Dict[str, Any]
    profile: str
    base: settings
    sizes: Sizes


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
        if key == "zero_h0":
            merged["zero_h0"] = bool(value)
            continue
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


def _first_args(ctx: Context, failure: Failure) -> Optional[Tuple[Any, ...]]:
    """What the function's first call on the failure's case receives (None without a case)."""
    first = getattr(ctx.subject, "first_args", None)
    if failure.case is None or first is None:
        return None
    try:
        return tuple(first(failure.case))
    except Exception:  # pragma: no cover - a case of another shape than the subject's
        return None


def plan(fn: Any, what: str, *, step: Any, reset_after: Any, interpolation: Any, bias: Any, strict: Any,
         timeout: Any, max_seconds: Any = None, rtol: Any = None, atol: Any = None, hints: Any = 1,
         profile: Any = None, max_examples: Any = None, sizes: Any = None, allow_incomplete: Any = False) -> Plan:
    """Check every argument eagerly (TypeError/ValueError name the argument) and merge an adapter's needs."""
    if not callable(fn):
        raise TypeError(f"{what}: expected a callable, got {fn!r} ({type(fn).__name__}).")
    args = _requirements(fn, dict(
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
        allow_incomplete=check_bool("allow_incomplete", allow_incomplete),
        zero_h0=False,
    ))
    name, base = choose_profile(profile)
    if max_examples is not None:
        base = settings(base, max_examples=check_int("max_examples", max_examples, 1))
    return Plan(args, name, base, check_sizes(sizes, SIZES[name]))


def select(props: Sequence[Property], names: Any) -> Tuple[Property, ...]:
    """The properties named in ``names`` (None: all), in the contract's order."""
    chosen = check_property_names(names, [p.name for p in props])
    return tuple(props) if chosen is None else tuple(p for p in props if p.name in chosen)


def fits(ctx: Context) -> Dict[str, Tuple[int, int]]:
    return {c.short(): (ctx.fits.get(c, 0), ctx.fit_trials) for c in ctx.candidates}


def final_primary(ctx: Context) -> Convention:
    """After the search, the candidate that agreed most often; for a function that agreed with none, the one
    its wrong outputs were closest to on cases that tell the conventions apart (detection's choice on ties)."""
    if len(ctx.candidates) < 2:
        return ctx.primary
    if any(ctx.fits.values()):
        return max(ctx.conventions(), key=lambda c: ctx.fits.get(c, 0))
    if any(ctx.closest.values()):
        return max(ctx.conventions(), key=lambda c: ctx.closest.get(c, 0))
    return ctx.primary


def notes(ctx: Context, caller: Caller) -> List[str]:
    out = []
    for w, n in sorted(ctx.runtime_warnings.items()):
        out.append(f"{n} call(s) warned {w!r}; the results were still correct (a textbook "
                   "1/(1+exp(-a)) sigmoid overflows harmlessly; 0.5*tanh(0.5*a)+0.5 does not warn).")
    if ctx.zero_h0:
        out.append("checked with h0 = 0 only: the function takes no initial state (no_initial_state); the "
                   "properties that need another initial state were left out, and dh0 is not compared.")
    if caller.abandoned:
        out.append(f"{len(caller.abandoned)} call(s) that overran the time limit could not be "
                   "interrupted and may still be running in a background daemon thread.")
    return out


def _in_convention(contract: Contract, ctx: Context, conv: Convention, failure: Failure) -> Failure:
    """``failure`` shown against ``conv``: when the search's agreement counts settle on another
    convention than detection did, the headline, expected values and snippet follow them."""
    prop = contract.property_by_name(failure.property)
    if prop is None or not failure.distances or failure.kind != "value":
        return failure
    ctx.primary = conv
    try:
        again = prop.check(ctx, failure.case)
    except (Hang, BudgetExhausted):
        return failure
    if not isinstance(again, Failure) or again.property != failure.property:
        return failure
    again.shrunk = failure.shrunk
    contract.diagnose(ctx, again)
    again.diagnosed = True
    return again


def execute(contract: Contract, fn: Any, plan_: Plan, selected: Sequence[Property],
            candidates: Sequence[Convention], key: Sequence[Any]) -> CheckReport:
    """Run ``selected`` against ``fn``; return the report, or raise ``ImplementationError`` listing every failure."""
    __tracebackhide__ = True
    args = plan_.args
    start = time.perf_counter()
    deadline = None if args["max_seconds"] is None else time.monotonic() + args["max_seconds"]
    name = display_name(fn)
    cands = tuple(candidates)
    # The checker's own arithmetic (references, tolerances, casts of cases) runs under its own NumPy error
    # state, whatever the caller set globally (np.seterr(all="raise") must not turn an underflow in a cast
    # into a crash); the user's function runs under NumPy's defaults in its worker (engine.calls).
    with outer_signals_interrupt(), np.errstate(all="ignore"), Caller(args["timeout"], deadline) as caller:
        ctx = Context(contract.subject(fn, args["step"], caller, name), cands, cands[0], rtol=args["rtol"],
                      atol=args["atol"], strict=args["strict"], bias=args["bias"], sizes=plan_.sizes,
                      detected=len(cands) > 1, zero_h0=args["zero_h0"])
        contract.prepare(ctx)
        engine = Engine(contract, ctx, caller, plan_.base,
                        lambda prop: digest(fn, contract.kind, prop, *key), Progress(name, len(selected)))
        early: Optional[Failure] = None
        stop_reason = None
        if len(cands) > 1:
            try:
                contract.detect(ctx)
            except Hang as hang:
                hang.case = contract.detection_case(ctx)
                early = contract.hang_failure(ctx, None, hang)
            except BudgetExhausted:
                stop_reason = "the time budget (max_seconds) ran out"
        if early is None and stop_reason is None:
            outcome = engine.run(selected)
            results, failures, warned = outcome.results, outcome.failures, outcome.warnings
            complete, stop_reason = outcome.complete, outcome.stop_reason
        else:
            results = [(p.name, p.description, 0, "not run", 0) for p in selected]
            failures, warned, complete = ([early] if early else []), [], False
        chosen = final_primary(ctx)
        if failures and chosen != ctx.primary:
            failures[0] = _in_convention(contract, ctx, chosen, failures[0])
        report = CheckReport(
            function=name, kind=contract.kind, reset_after=chosen.reset_after,
            interpolation=chosen.interpolation, convention_detected=len(cands) > 1, fits=fits(ctx),
            step=args["step"], properties=tuple(PropertyResult(*r) for r in results),
            warnings=tuple(f"{w.property}: {w.message}" for w in warned),
            notes=tuple(contract.notes(ctx) + notes(ctx, caller)), profile=plan_.profile,
            seconds=time.perf_counter() - start, calls=caller.calls, complete=complete, stop_reason=stop_reason,
            sizes=(plan_.sizes.B, plan_.sizes.T, plan_.sizes.D, plan_.sizes.H),
            convention_note=contract.convention_note(ctx),
            largest=dict(ctx.extra.get("largest", {})),
        )
        if not failures:
            if complete or args["allow_incomplete"]:
                return report
            raise IncompleteCheckError(report)
        first = failures[0]
        passed = [r[0] for r in results if r[3] == "passed"]
        partly = [r[0] for r in results if r[3] in ("not fully checked", "not checked")]
        text, hint_texts = render_failure(
            contract, name, first, args["hints"], others=failures[1:], warnings=warned, passed=passed, partly=partly,
            candidates=cands, snippet=contract.snippet(fn, args["step"], ctx, first),
            stop_reason=None if complete else stop_reason, extra=contract.explain(fn, ctx, caller, failures),
            fn=fn, first_args=_first_args(ctx, first),
        )
    raise ImplementationError(failures, lambda: (text, hint_texts), warned, report)
