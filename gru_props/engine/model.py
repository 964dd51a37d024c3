"""The model of a check, shared by every contract: what a property is, what a failure records, the
context a property check runs in, and what a contract supplies to the engine.

``search.Engine`` runs the properties; ``session.execute`` runs a whole check.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from hypothesis import strategies as st

from gru_props.engine.calls import Caller, Hang
from gru_props.engine.compare import Mismatch
from gru_props.engine.conventions import Convention
from gru_props.engine.profiles import Sizes
from gru_props.engine.tolerance import flat, precision_of

__all__ = ["KINDS", "NA", "Verdict", "Bug", "Failure", "Property", "Context", "Contract", "Outcome"]

#: How a failure ranks in ``ImplementationError.failures``: wrong values first
#: (named ones before unnamed), then behaviour (mutation, state kept between
#: calls), then edge cases (T = 0, h0=None), then contract violations.
KINDS = ("value", "behaviour", "edge", "contract")


class _NotApplicable:
    """Returned by a property check when the case says nothing about it (e.g. no h_T returned)."""

    def __repr__(self) -> str:
        return "NA"


NA = _NotApplicable()

#: What a property check returns: a failure, ``NA`` (nothing to check on this case) or None (held).
Verdict = Union["Failure", _NotApplicable, None]


@dataclasses.dataclass(frozen=True)
class Bug:
    """A named explanation of a failure: what the function does (``summary``) and three progressive
    hints (a nudge, the line of math, the fix). Each contract's catalogue extends it with a model of
    the broken computation."""

    name: str
    summary: str
    hints: Tuple[str, str, str]


@dataclasses.dataclass
class Failure:
    """Why a property failed on ``case`` (the exact arrays given to the function).

    ``kind`` is one of ``KINDS``; ``warning`` marks a finding that is not a
    wrong value (reported as a warning unless ``strict=True``). ``distances``
    maps each candidate convention to how far the function was from it.
    ``summary``/``hints`` override the catalog's text for this failure (a
    diagnosis whose explanation depends on the case). For gradient failures,
    ``parameter`` and ``index`` name the worst element.
    """

    property: str
    message: str
    case: Any
    got: Optional[np.ndarray] = None
    expected: Optional[np.ndarray] = None
    mismatch: Optional[Mismatch] = None
    diagnosis: Optional[str] = None
    convention: Optional[Convention] = None
    #: catalogue names whose combination explains the failure (its model reproduces the function)
    diagnoses: Tuple[str, ...] = ()
    #: that model, with the checked function's own contract (None when nothing explains it)
    bug_model: Optional[Callable[..., Any]] = None
    kind: str = "value"
    warning: bool = False
    summary: Optional[str] = None
    hints: Optional[Tuple[str, str, str]] = None
    distances: Dict[Convention, float] = dataclasses.field(default_factory=dict)
    parameter: Optional[str] = None
    index: Optional[Tuple[int, ...]] = None
    others: Tuple[str, ...] = ()  # one line per other wrong output (gradients)
    shrunk: bool = True
    diagnosed: bool = False
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def headline(self) -> str:
        """One line: property, diagnosis, size and the worst difference."""
        size = getattr(self.case, "dims_text", lambda: "")()
        text = f"{self.property}"
        if self.diagnosis:
            text += f" [{self.diagnosis}]"
        if self.parameter:
            text += f" {self.parameter}"
        text += f" on {size}" if size else ""
        if self.mismatch is not None:
            text += f": worst |got - expected| = {self.mismatch.worst_abs:.3g}"
        else:
            text += ": " + self.message.split("\n")[0]  # whole: a sentence cut in the middle says something else
        return text


@dataclasses.dataclass(frozen=True)
class Property:
    """A named property: a strategy of cases and a check returning a Failure, NA or None."""

    name: str
    description: str
    strategy: st.SearchStrategy[Any]
    check: Callable[["Context", Any], Any]
    #: share of the profile's max_examples this property runs
    examples_share: float = 1.0
    kind: str = "value"
    #: the smallest value each size may shrink to (e.g. T=1 except for T = 0 cases)
    floors: Dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Context:
    """What every check needs besides the case: the subject, the conventions, the settings."""

    subject: Any
    candidates: Tuple[Convention, ...]
    primary: Convention
    rtol: Optional[float] = None
    atol: Optional[float] = None
    strict: bool = False
    bias: bool = True
    sizes: Optional[Sizes] = None
    detected: bool = False
    zero_h0: bool = False  # the function takes no initial state: cases have h0 = 0 only
    runtime_warnings: Dict[str, int] = dataclasses.field(default_factory=dict)
    fits: Dict[Convention, int] = dataclasses.field(default_factory=dict)
    #: on failing cases whose references tell the conventions apart, which convention was the closest
    closest: Dict[Convention, int] = dataclasses.field(default_factory=dict)
    fit_trials: int = 0
    returned_h_T: bool = False
    requires: Dict[str, Any] = dataclasses.field(default_factory=dict)
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def record_warnings(self, texts: Sequence[str]) -> None:
        for w in texts:
            self.runtime_warnings[w] = self.runtime_warnings.get(w, 0) + 1

    def tolerance(self, *dtypes: Any) -> Tuple[float, float]:
        """The flat (rtol, atol) of the least precise of ``dtypes`` unless overridden (comparisons with a
        reference add the case's own error estimate: ``engine.tolerance``)."""
        rtol, atol = flat(precision_of(*dtypes))
        return (self.rtol if self.rtol is not None else rtol, self.atol if self.atol is not None else atol)

    def vote_closest(self, distances: Dict[Convention, float], apart: float) -> None:
        """Count the convention a wrong output was closest to, when the case's references differ by ``apart``
        far beyond the distances' differences (a case that cannot tell them apart says nothing)."""
        if len(distances) < 2:
            return
        ranked = sorted(distances.items(), key=lambda kv: kv[1])
        (best, d0), (_, d1) = ranked[0], ranked[1]
        if apart > 0 and d1 - d0 > 0.1 * apart:
            self.closest[best] = self.closest.get(best, 0) + 1

    def conventions(self) -> List[Convention]:
        """The candidates, the primary (detected or demanded) one first."""
        return [self.primary] + [c for c in self.candidates if c != self.primary]


class Contract:
    """What a kind of check supplies to the engine; ``check.ForwardContract`` and
    ``gradients.GradientContract`` fill in the rest.

    ``props``: its properties; ``kind``: "forward" or "gradients";
    ``unknown_bug_advice``: the sentence shown when no known bug explains a
    wrong value.
    """

    kind = ""
    unknown_bug_advice = ""

    def __init__(self, props: Sequence[Property]) -> None:
        self.props = {p.name: p for p in props}

    def property_by_name(self, name: str) -> Optional[Property]:
        return self.props.get(name)

    def hang_failure(self, ctx: "Context", prop: Optional[Property], hang: Hang) -> Failure:
        left = ("" if hang.stopped else
                " The call could not be interrupted and is still running in a background thread.")
        during = f"checking '{prop.name}'" if prop is not None else "detecting its convention"
        who = "" if hang.what is None else f"{hang.what} "
        text = (f"did not return within {hang.seconds:g} s (timeout) while {during}; the case below was not "
                f"shrunk, since every shrink attempt would cost the full time limit.{left}")
        if hang.what is not None:
            text = (f"the oracle did not answer: {who}did not return within {hang.seconds:g} s (timeout) while "
                    f"{during}. The function checked is not to blame; the case below was not shrunk.{left}")
        return Failure("output_contract", text, hang.case, kind="contract", shrunk=False, diagnosed=True)

    # -- to be supplied -------------------------------------------------------
    def subject(self, fn: Any, step: bool, caller: Caller, name: str) -> Any:
        raise NotImplementedError

    def prepare(self, ctx: "Context") -> None:
        """Put what the properties need into ``ctx.extra`` (default: nothing)."""

    def detect(self, ctx: "Context") -> None:
        raise NotImplementedError

    def detection_case(self, ctx: "Context") -> Any:
        raise NotImplementedError

    def diagnose(self, ctx: "Context", failure: Failure) -> None:
        raise NotImplementedError

    def bug(self, name: str) -> Any:
        raise NotImplementedError

    def slip(self, name: str) -> Any:
        """The term-level description of a catalogue name (``forward.terms.Slip``...), or None."""
        return None

    def axes(self, name: str) -> str:
        return ""

    def case_text(self, case: Any) -> str:
        raise NotImplementedError

    def snippet(self, fn: Any, step: bool, ctx: "Context", failure: Failure) -> Optional[str]:
        return None

    def convention_note(self, ctx: "Context") -> Optional[str]:
        """What the report says in place of the convention, when the check has no reference (default: None)."""
        return None

    def notes(self, ctx: "Context") -> List[str]:
        """Notes for the report besides the runtime warnings (default: none)."""
        return []

    def explain(self, fn: Any, ctx: "Context", caller: Caller, failures: Sequence[Failure]) -> List[str]:
        """Extra lines for the message, after the first failure's details (default: none)."""
        return []


@dataclasses.dataclass
class Outcome:
    """What a whole check found."""

    results: List[Tuple[str, str, int, str, int]]  # (name, description, examples, status, blocked)
    failures: List[Failure]
    warnings: List[Failure]
    complete: bool
    stop_reason: Optional[str] = None
