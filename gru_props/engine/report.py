"""What a check hands back: ``CheckReport`` on success, ``ImplementationError`` on failure.

Both are shared by ``check_implementation`` and ``check_gradients``; the
contract behind a check supplies the parts that differ (how a case reads,
the bug catalog, the reproduction snippet).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props.engine.compare import Mismatch
from gru_props.engine.conventions import Convention
from gru_props.engine.model import Failure

__all__ = ["CheckReport", "ImplementationError", "IncompleteCheckError", "PropertyResult"]


@dataclasses.dataclass(frozen=True)
class PropertyResult:
    """One property's outcome.

    ``status`` is "passed" (searched to the end, every judged case held),
    "failed", "warning" (a finding that is not a wrong value, shown but not
    raised), "n/a" (nothing to check, e.g. h_T when only hs is returned), "not
    fully checked" (its search was cut short, or most of its cases were stopped
    by other properties' failures), "not checked" (every case was), "hung",
    "stopped" (the time budget ran out during it) or "not run" (after a hang
    or the budget). ``examples`` counts the cases tried, ``blocked`` those on
    which another property's failure kept this one from judging.
    """

    name: str
    description: str
    examples: int
    status: str
    blocked: int = 0


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What a check checked on a function that passed.

    Attributes:
        function: the function's name (with the adapters applied to it).
        kind: "forward" (``check_implementation``) or "gradients" (``check_gradients``).
        reset_after, interpolation: the convention the function follows (detected or demanded).
        convention_detected: True if the convention was detected rather than demanded.
        convention_note: set instead when there is no reference to follow a convention (the
            self-consistency check of ``check_gradients(forward_fn=...)``).
        fits: for each candidate convention, how many reference comparisons it agreed with
            (``(agreed, compared)``); shows how clearly the convention was detected.
        step: True if a step function was checked.
        properties: one ``PropertyResult`` per property, in the order run.
        warnings: findings that are not wrong values (float32 answered in float64,
            h0=None not accepted); failures under ``strict=True``.
        notes: things worth knowing that are not failures (overflow warnings seen, ...).
        complete: False if the time budget (``max_seconds``) stopped the check early.
        profile, seconds, calls: the settings profile, wall time and calls of the function.
        sizes: the largest (B, T, D, H) the check could generate; ``largest``: the
            largest of each it did generate ({"B": .., "T": .., "D": .., "H": ..}).
    """

    function: str
    kind: str
    reset_after: bool
    interpolation: str
    convention_detected: bool
    fits: Dict[str, Tuple[int, int]]
    step: bool
    properties: Tuple[PropertyResult, ...]
    warnings: Tuple[str, ...]
    notes: Tuple[str, ...]
    profile: str
    seconds: float
    calls: int
    complete: bool = True
    stop_reason: Optional[str] = None
    sizes: Optional[Tuple[int, int, int, int]] = None
    largest: Optional[Dict[str, int]] = None
    convention_note: Optional[str] = None

    @property
    def passed(self) -> List[str]:
        """Names of the properties that held: searched to the end without failing."""
        return [p.name for p in self.properties if p.status == "passed"]

    @property
    def examples(self) -> Dict[str, int]:
        return {p.name: p.examples for p in self.properties}

    def to_dict(self) -> Dict[str, Any]:
        """The report as JSON-ready data (``gru-props check --json``): ``verdict`` "pass" (or "incomplete"
        when the budget ran out), the function, the convention, each property's status and examples."""
        return {
            "verdict": "pass" if self.complete else "incomplete",
            "function": self.function, "kind": self.kind, "step": self.step,
            "reset_after": self.reset_after, "interpolation": self.interpolation,
            "convention_detected": self.convention_detected,
            "properties": [{"name": p.name, "status": p.status, "examples": p.examples} for p in self.properties],
            "warnings": list(self.warnings), "notes": list(self.notes),
            "profile": self.profile, "seconds": round(self.seconds, 3), "calls": self.calls,
            "complete": self.complete, "stop_reason": self.stop_reason,
            "largest": dict(self.largest or {}),
        }

    def __str__(self) -> str:
        what = {"forward": "forward function", "gradients": "backward function"}.get(self.kind, self.kind)
        if self.step:
            what = "step " + what.split()[0] + " function" if self.kind == "gradients" else "step function"
        counted = [p for p in self.properties if p.status not in ("n/a",)]
        head = (f"gru_props: {self.function} ({what}) passed {len(self.passed)} of {len(counted)} "
                f"properties")
        extra = [f"{sum(p.status == s for p in self.properties)} {s}"
                 for s in ("n/a", "warning", "not fully checked", "not checked", "not run", "stopped")
                 if any(p.status == s for p in self.properties)]
        if extra:
            head += f" ({', '.join(extra)})"
        head += f" in {self.seconds:.2f} s (profile {self.profile!r}, {self.calls} calls)."
        lines = [head]
        if not self.complete:
            lines.append(f"INCOMPLETE: {self.stop_reason}; the properties marked NOT RUN or STOPPED "
                         "were not (fully) checked.")
        conv = Convention(self.reset_after, self.interpolation)
        how = "detected" if self.convention_detected else "as asked"
        if self.convention_note:
            lines.append(f"Convention: {self.convention_note}.")
        else:
            lines.append(f"Convention: {conv.describe()} ({how}).")
        if self.convention_detected and self.fits and not self.convention_note:
            fit = "; ".join(f"{name}: {a}/{n}" for name, (a, n) in self.fits.items())
            lines.append(f"  agreement with each candidate convention (reference comparisons): {fit}")
        if self.largest:
            lines.append("  largest case generated: " + ", ".join(
                f"{k}={self.largest[k]}" for k in ("B", "T", "D", "H") if k in self.largest))
        for p in self.properties:
            count = "" if p.status in ("n/a", "not run") else f"{p.examples:5d} examples"
            lines.append(f"  {p.status.upper():17} {p.name:30} {count:14}  {p.description}")
            if p.blocked and p.status in ("not fully checked", "not checked"):
                lines.append(f"  {'':17} ({p.blocked} of its cases were stopped by another property's failure)")
        for w in self.warnings:
            lines.append("  warning: " + w.replace("\n", "\n    "))
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


class IncompleteCheckError(AssertionError):
    """The check ran out of time (``max_seconds``) before every property was searched to the end.

    Nothing failed in what ran, but a check that did not finish is not a pass;
    ``allow_incomplete=True`` returns the report instead. Attributes:
    ``report`` (the ``CheckReport``, ``complete == False``), ``ran`` (names
    and example counts of the properties that ran), ``not_run`` (names of
    those that did not run or were stopped).
    """

    def __init__(self, report: CheckReport) -> None:
        self.report = report
        self.ran: Tuple[Tuple[str, int], ...] = tuple(
            (p.name, p.examples) for p in report.properties if p.status not in ("not run", "stopped"))
        self.not_run: Tuple[str, ...] = tuple(
            p.name for p in report.properties if p.status in ("not run", "stopped"))
        ran = ", ".join(f"{n} ({k} examples)" for n, k in self.ran) or "none"
        super().__init__(
            f"gru_props: the check of {report.function} did not finish: {report.stop_reason}. Properties that "
            f"ran: {ran}. Not run or stopped: {', '.join(self.not_run) or 'none'}. Nothing failed in what ran, "
            "but an unfinished check is not a pass: give it more time (max_seconds=None, --max-seconds none), "
            "fewer examples (max_examples=...) or fewer properties (properties=[...]); allow_incomplete=True "
            "returns the report instead.\n\n" + str(report))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready data: the report's, with ``verdict`` "incomplete" and the properties not run."""
        return {**self.report.to_dict(), "verdict": "incomplete", "not_run": list(self.not_run),
                "message": str(self).split("\n\n")[0]}


class ImplementationError(AssertionError):
    """A property of the contract failed for the user's function.

    Attributes (those of the first, most informative failure):
        property: name of the failed property (e.g. ``"matches_reference"``).
        diagnosis: name of the known bug that explains the failure, or None.
        counterexample: the shrunk case exactly as the function received it (a
            ``GRUCase`` with integer ``B, T, D, H`` and arrays ``x``, ``h0``,
            ``params``; for gradients also ``dhs``, ``dh_T``).
        expected, got: the arrays compared (None when not a comparison).
        mismatch: worst-element summary, or None.
        hints: progressive hints for the diagnosis (nudge, pointer, fix).
        reset_after, interpolation: the convention the expectation was computed in.
        parameter, index: for gradients, the wrong gradient and its worst element.
        failures: every failure found, most informative first (each has
            ``property``, ``diagnosis``, ``case``, ``message``, ``mismatch``...).
        warnings: findings that are not wrong values.
        report: the ``CheckReport`` of what was checked (None from a generated test class).
    """

    def __init__(self, failures: Sequence[Failure], render: Callable[[], Tuple[str, Tuple[str, ...]]],
                 warnings: Sequence[Failure] = (), report: Optional[CheckReport] = None) -> None:
        first = failures[0]
        super().__init__(first.message)
        self.failures: Tuple[Failure, ...] = tuple(failures)
        self.warnings: Tuple[Failure, ...] = tuple(warnings)
        self.report = report
        self._render = render
        self._text: Optional[str] = None
        self._hints: Tuple[str, ...] = ()
        self.property = first.property
        self.counterexample = first.case
        self.expected = first.expected
        self.got = first.got
        self.mismatch: Optional[Mismatch] = first.mismatch
        self.parameter = first.parameter
        self.index = first.index

    def _rendered(self) -> str:
        if self._text is None:
            self._text, self._hints = self._render()
        return self._text

    @property
    def diagnosis(self) -> Optional[str]:
        """The single catalogued bug that explains the failure, or None (none, or several together)."""
        self._rendered()
        return self.failures[0].diagnosis

    @property
    def diagnoses(self) -> Tuple[str, ...]:
        """The catalogued bugs whose combination explains the failure: their model (``bug_model``)
        reproduces the function on the counterexample and on fresh cases. Empty when none does."""
        self._rendered()
        first = self.failures[0]
        if first.diagnoses:
            return first.diagnoses
        return (first.diagnosis,) if first.diagnosis and first.bug_model is not None else ()

    @property
    def bug_model(self) -> Optional[Callable[..., Any]]:
        """A callable with the checked function's own contract that computes the reference with exactly
        ``diagnoses`` applied (None when ``diagnoses`` is empty)."""
        self._rendered()
        return self.failures[0].bug_model

    @property
    def convention(self) -> Optional[Convention]:
        self._rendered()
        return self.failures[0].convention

    @property
    def reset_after(self) -> Optional[bool]:
        conv = self.convention
        return None if conv is None else conv.reset_after

    @property
    def interpolation(self) -> Optional[str]:
        conv = self.convention
        return None if conv is None else conv.interpolation

    @property
    def hints(self) -> Tuple[str, ...]:
        self._rendered()
        return self._hints

    def __str__(self) -> str:
        return self._rendered()

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready data (``gru-props check --json``): ``verdict`` "fail", the failed property, the
        diagnoses, the wrong parameter and its index (with where it is in the function's own layout),
        the counterexample's sizes, every failure in one line, and the report's property statuses."""

        def sizes(case: Any) -> Optional[Dict[str, Any]]:
            if case is None:
                return None
            return {"B": case.B, "T": case.T, "D": case.D, "H": case.H, "dtype": str(case.dtype)}

        first = self.failures[0]
        message = str(self)  # (rendering also places the worst element in the function's layout)
        return {
            "verdict": "fail",
            "function": self.report.function if self.report is not None else None,
            "property": self.property, "diagnosis": self.diagnosis, "diagnoses": list(self.diagnoses),
            "parameter": self.parameter, "index": list(self.index) if self.index is not None else None,
            "in_your_layout": first.extra.get("place"),
            "counterexample": sizes(self.counterexample), "shrunk": first.shrunk,
            "reset_after": self.reset_after, "interpolation": self.interpolation,
            "failures": [{"property": f.property, "kind": f.kind, "diagnosis": f.diagnosis,
                          "diagnoses": list(f.diagnoses), "parameter": f.parameter,
                          "index": list(f.index) if f.index is not None else None,
                          "counterexample": sizes(f.case)} for f in self.failures],
            "warnings": [f"{w.property}: {w.message}" for w in self.warnings],
            "properties": ([{"name": p.name, "status": p.status, "examples": p.examples}
                            for p in self.report.properties] if self.report is not None else []),
            "message": message,
        }


# ------------------------------------------------------------------- render
def array_text(a: np.ndarray, indent: int = 8) -> str:
    """``a`` printed for a report, continuation lines indented by ``indent`` (the label's width)."""
    a = np.asarray(a)
    if a.size == 0:
        return f"(empty, shape {a.shape})"
    if a.size > 200:
        return f"<array of shape {a.shape}, {a.dtype}; see the counterexample attribute>"
    if a.dtype.kind in "iub":  # lengths, a mask: as they are, not as floats
        text = np.array2string(a, separator=", ")
    else:
        text = np.array2string(np.asarray(a, dtype=np.float64), separator=", ", threshold=10**6,
                               max_line_width=80, floatmode="maxprec", precision=17)
    text = re.sub(r"\n\s*\n", "\n", text)  # no blank lines between the blocks of a 3-D array
    return text.replace("\n", "\n" + " " * indent)


def labelled(label: str, a: np.ndarray, note: str = "") -> str:
    """``label`` then ``a``, its rows aligned under the first."""
    return label + array_text(a, len(label)) + note


def indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line if line else line for line in text.splitlines())


def _hint_lines(hints: Tuple[str, ...], level: int) -> List[str]:
    shown = hints[: max(0, min(level, len(hints)))]
    lines = [f"  Hint {i}: {h}" for i, h in enumerate(shown, 1)]
    if len(shown) < len(hints):
        lines.append(f"  ({len(hints) - len(shown)} more hint(s): err.hints, or hints=3 / --hints 3)")
    return lines


def _term_line(contract: Any, name: str) -> str:
    """Which term of which equation a catalogued slip changes, and how, in one line (or "")."""
    slip = contract.slip(name)
    if slip is None:
        return ""
    how = _HOW.get(slip.how, slip.how)
    if " and " in slip.term:
        return f"the terms {slip.term} of {slip.equation} are {how}; look at {slip.hint}."
    return f"the term {slip.term} of {slip.equation} is {how}; look at {slip.hint}."


#: How a slip's term is wrong, as the report says it.
_HOW = {"missing": "missing", "negated": "negated", "scaled": "scaled by the wrong factor",
        "transposed": "transposed", "wrong quantity": "computed from the wrong quantity",
        "added": "added where it does not belong"}


def display_of(fn: Any) -> str:
    """The adapters around ``fn`` as written (``torch_layout(my_gru)``)."""
    from gru_props.engine.snippet import display_name

    return display_name(fn)


def _located(fn: Any, failure: Failure) -> Optional[str]:
    """The worst element of the failure in the function's own layout (None when it is where it is)."""
    case = failure.case
    if fn is None or case is None or not hasattr(case, "D") or failure.extra.get("place_said"):
        return None  # (a place the message already gives)
    if failure.parameter is not None and failure.index is not None:
        name = {"dx_t": "dx", "dh_prev": "dh0"}.get(failure.parameter, failure.parameter)
        idx = failure.index
        if failure.parameter == "dx_t" and len(idx) == 2:
            return user_place(fn, "dx_t", idx, case.D, case.H)
        if failure.parameter == "dh_prev":
            return user_place(fn, "dh_prev", idx, case.D, case.H)
        return user_place(fn, name, idx, case.D, case.H, gradient=name not in ("dx", "dh0"),
                          bidirectional=getattr(case, "bidirectional", None))
    if failure.mismatch is not None:
        return user_place(fn, failure.mismatch.name, failure.mismatch.worst_abs_index, case.D, case.H,
                          bidirectional=getattr(case, "bidirectional", None))
    return None


def render_failure(contract: Any, subject_name: str, failure: Failure, hint_level: int,
                   others: Sequence[Failure] = (), warnings: Sequence[Failure] = (),
                   passed: Sequence[str] = (), candidates: Sequence[Convention] = (), partly: Sequence[str] = (),
                   snippet: Optional[str] = None, stop_reason: Optional[str] = None,
                   extra: Sequence[str] = (), fn: Any = None, first_args: Optional[Sequence[Any]] = None
                   ) -> Tuple[str, Tuple[str, ...]]:
    """The full message for ``failure``, and the hints it carries. With ``fn`` (the checked function, maybe
    wrapped by adapters) and ``first_args`` (what its first call on the case receives), the counterexample
    and the worst element are shown in the function's own layout and names too."""
    prop = contract.property_by_name(failure.property)
    description = prop.description if prop is not None else failure.property
    message = failure.message[0].upper() + failure.message[1:]
    lines = [f"gru_props: {subject_name} failed property '{failure.property}' ({description}).",
             indent(message, 2), ""]
    received = (received_lines(fn, first_args, _stack_kwargs(fn, failure.case))
                if fn is not None and first_args is not None else [])
    state = "(shrunk)" if failure.shrunk else "(as found, not shrunk)"
    if received:
        lines.append(f"Counterexample {state}, in gru_props' names (W_* (D, H), U_* (H, H), b_* (H,)):")
    else:
        lines.append(f"Counterexample {state}, exactly as the function received it:")
    lines.append(contract.case_text(failure.case))
    if received:
        shown = display_of(fn)
        several = "unbatched(" in shown or np.ndim(first_args[0] if first_args else 0) == 2  # per example, per step
        lines += [f"which {shown} handed your function{' on its first call' if several else ''} as:"] + received
    if failure.mismatch is not None:
        lines += ["", failure.mismatch.format(contract.axes(failure.mismatch.name))]
    place = _located(fn, failure)
    if place:
        failure.extra["place"] = place
        lines.append(f"  In your function's layout that is {place}.")
    for other in failure.others:
        lines.append(f"  also wrong: {other}")
    if failure.extra.get("right"):
        lines.append(f"  right: {', '.join(failure.extra['right'])}")
    if failure.distances and len(failure.distances) > 1:
        dist = ", ".join(f"{c.short()}: {d:.3g}" for c, d in failure.distances.items())
        lines += ["", f"It differs from every convention the function might follow (worst "
                      f"|got - expected| per convention: {dist})."]
        apart = failure.extra.get("conventions_apart")
        if apart is not None and apart <= 1e-12 and failure.convention is not None:
            lines.append(f"On this case the conventions give the same expected values, so it does not show which "
                         f"one the function follows (it is shown in {failure.convention.short()}).")
    lines.extend(extra)
    hints: Tuple[str, ...] = ()
    where = ""
    if failure.convention is not None and len(candidates) > 1:
        where = f" (in the {failure.convention.short()} GRU)"
    if len(failure.diagnoses) > 1:
        names = failure.diagnoses
        cases = failure.extra.get("explained_on")
        on = f" on the counterexample and {cases - 1} other cases" if cases else ""
        lines += ["", f"Diagnosis: {' + '.join(names)}{where}: {len(names)} slips together. Their model "
                      f"(err.bug_model) reproduces the function{on}:"]
        for name in names:
            lines.append(f"  - {name}: {contract.bug(name).summary}")
            term = _term_line(contract, name)
            if term:
                lines.append(f"      {term}")
        hints = tuple(failure.hints or ())
        lines += _hint_lines(hints, hint_level)
    elif failure.diagnosis is not None:
        bug = contract.bug(failure.diagnosis)
        summary = failure.summary or bug.summary
        hints = tuple(failure.hints or bug.hints)
        lines += ["", f"Diagnosis: {failure.diagnosis}{where}: {summary}"]
        term = _term_line(contract, failure.diagnosis) if failure.bug_model is not None else ""
        if term:
            lines.append(f"  {term}")
        lines += _hint_lines(hints, hint_level)
    elif failure.hints:
        hints = tuple(failure.hints)
        lines += [""] + _hint_lines(hints, hint_level)
    elif failure.kind == "value":
        lines += ["", "Diagnosis: not one of the known bugs; " + contract.unknown_bug_advice]
    if others:
        lines += ["", f"Other failures ({len(others)}), each shrunk on its own (err.failures):"]
        lines += [f"  - {f.headline()}" for f in others]
    if warnings:
        lines += ["", "Warnings (not wrong values; strict=True makes them failures):"]
        lines += [f"  - {w.property}: " + indent(w.message, 4).lstrip() for w in warnings]
    if passed:
        lines += ["", f"Properties that held: {', '.join(passed)}."]
    if partly:
        lines += ["", f"Not fully checked (other failures stopped most of their cases): {', '.join(partly)}."]
    if stop_reason:
        lines += ["", f"The check stopped early: {stop_reason}."]
    if snippet:
        lines += ["", "Reproduce with plain NumPy:", "", indent(snippet, 4)]
    return "\n".join(lines), hints


def _stack_kwargs(fn: Any, case: Any) -> Dict[str, Any]:
    """What the stack checks tell a stack-aware wrapper besides the arguments (its direction count)."""
    if getattr(fn, "__gru_props_stack_aware__", False) and hasattr(case, "bidirectional"):
        return {"bidirectional": case.bidirectional}
    return {}


def received_lines(fn: Any, args: Sequence[Any], kwargs: Optional[Mapping[str, Any]] = None) -> List[str]:
    """What your own function received on ``args`` through its adapters, under its own names (one line per
    non-zero array, then one naming the zero ones); [] for a function without adapters (or one whose
    innermost adapter builds the call itself)."""
    get = getattr(fn, "__gru_props_received__", None)
    got = get(*args, **(kwargs or {})) if callable(get) else None
    if got is None:
        return []
    lines, zero = [], []
    for label, value in _flat_args(got.args, getattr(got, "element_names", ())):
        if value is None:
            lines.append(f"  {label} = None")
            continue
        arr = np.asarray(value)
        if arr.dtype.kind in "fiub" and arr.size and not np.any(arr != 0):
            zero.append(label)
        else:
            lines.append(labelled(f"  {label} = ", arr))
    if zero:
        lines.append(f"  {', '.join(zero)} {'is' if len(zero) == 1 else 'are all'} zero")
    return lines


def _flat_args(args: Sequence[Tuple[str, Any]], element_names: Sequence[str] = ()) -> List[Tuple[str, Any]]:
    out: List[Tuple[str, Any]] = []
    for name, value in args:
        if isinstance(value, dict):
            out += [(f"{name}[{k!r}]", v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            known = len(element_names) == len(value)
            out += [(f"{name}[{i}]" + (f" ({element_names[i]})" if known else ""), v) for i, v in enumerate(value)]
        elif hasattr(value, "arrays") and callable(value.arrays):
            out += [(f"{name}.{k}", v) for k, v in value.arrays().items()]
        else:
            out.append((name, value))
    return out


def user_place(fn: Any, name: str, index: Sequence[int], D: int, H: int, gradient: bool = False,
               bidirectional: Optional[bool] = None) -> Optional[str]:
    """Where ``name[index]`` (gru_props' terms) is in what your function receives or returns, when its
    adapters put it elsewhere (``weight_hh[8, 2]`` for ``U_n[2, 0]`` under torch_layout); else None. With
    ``gradient``, the gradient of that parameter (``dWrx[1, 0]``, or "the gradient for weight_hh[8, 2]").
    In the stack form (``bidirectional`` given), ``name`` is ``layers[i].U_n`` and so on."""
    locate = getattr(fn, "__gru_props_locate__" if bidirectional is None else "__gru_props_stack_locate__", None)
    if not callable(locate):
        return None
    idx = tuple(int(i) for i in index)
    places = locate(name, idx, D, H) if bidirectional is None else locate(name, idx, D, H, bidirectional)
    if not places or places == [(name, idx)]:
        return None
    grad_name = getattr(fn, "__gru_props_grad_name__", None)
    named = [(grad_name(n) if gradient and callable(grad_name) else n, i) for n, i in places]
    text = " and ".join(f"{n}[{', '.join(map(str, i))}]" if i else n for n, i in named)
    return f"the gradient for {text}" if gradient and not callable(grad_name) else text


def params_text(params: Any) -> List[str]:
    """One line per non-zero parameter array, then one naming the zero ones."""
    lines, zero = [], []
    for name, arr in params.arrays().items():
        if np.any(arr != 0):
            lines.append(labelled(f"  params.{name:4} = ", arr))
        else:
            zero.append(name)
    if zero:
        lines.append(f"  params: {', '.join(zero)} {'is' if len(zero) == 1 else 'are all'} zero")
    return lines
