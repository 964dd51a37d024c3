"""The checking engine: search, shrink, diagnose and collect, for any contract.

A *contract* (the forward GRU of ``check_implementation``, the backward pass
of ``check_gradients``) supplies its properties, how to detect the
convention a function follows, how to name a bug and how to describe a case;
this module does the rest, the same way for both:

1. search each property with ``hypothesis.find`` (keyed per function, so a
   failure is replayed first next time);
2. shrink what it finds: Hypothesis shrinks the values, then ``shrink``
   deletes batch rows, time steps, features and units and simplifies
   numbers while the same property still fails;
3. confirm the failure repeats (else it is ``nondeterministic``) and name
   the bug when a deliberately broken implementation reproduces it;
4. keep going through every property, and hand back all failures, most
   informative first, plus warnings and per-property counts.

Nothing the user's function does escapes: a hang, a budget running out, a
flaky answer that makes Hypothesis raise ``Flaky`` all become findings.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import re
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from hypothesis import Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, NoSuchExample

from gru_props.engine.calls import (
    BudgetExhausted,
    Caller,
    Hang,
    Interrupted,
    interruption_in,
    raise_pending_interruption,
)
from gru_props.engine.model import KINDS, NA, Context, Failure, Outcome, Property
from gru_props.engine.shrink import reduce_dims, simplify_values

# ------------------------------------------------------------------ digest
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _identity(fn: Any) -> str:
    """Stable text for a function, a functools.partial, a callable instance or an adapter wrapper."""
    parts = []
    seen = 0
    while fn is not None and seen < 10:
        seen += 1
        adapter = getattr(fn, "__gru_props_adapter__", None)
        if adapter:
            parts.append(f"adapter:{adapter}")
        func = getattr(fn, "func", None)
        if func is not None and hasattr(fn, "args") and hasattr(fn, "keywords"):  # functools.partial
            parts.append(_ADDRESS.sub("", f"partial:{fn.args!r}:{sorted(fn.keywords.items())!r}"))
            fn = func
            continue
        target = fn
        if not (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)) and callable(fn):
            target = type(fn)  # a callable instance: its class's source
        try:
            source = inspect.getsource(target)
        except (OSError, TypeError):
            source = _ADDRESS.sub("", repr(target))
        parts.append(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}\n{source}")
        fn = getattr(fn, "__wrapped__", None) if adapter else None
    return "\x00".join(parts)


def digest(fn: Any, *parts: Any) -> bytes:
    """The example-database key of ``fn`` for one property: stable across runs and processes."""
    return hashlib.sha384("\x00".join([_identity(fn), *map(str, parts)]).encode()).digest()


# ---------------------------------------------------------------- progress
class Progress:
    """Prints a line to stderr every ``every`` seconds once a check has run that long."""

    def __init__(self, name: str, total: int, every: float = 10.0, stream: Any = None) -> None:
        self.name = name
        self.total = total
        self.every = every
        self.stream = stream
        self.start = time.monotonic()
        self.last = self.start
        self.index = 0
        self.prop = ""
        self.examples = 0

    def begin(self, index: int, prop: str) -> None:
        self.index, self.prop, self.examples = index, prop, 0

    def tick(self, calls: int) -> None:
        self.examples += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            stream = self.stream or sys.stderr
            print(f"gru_props: checking {self.name}: {now - self.start:.0f} s, property "
                  f"{self.index + 1}/{self.total} '{self.prop}', {self.examples} examples so far, "
                  f"{calls} calls in all", file=stream, flush=True)


# ------------------------------------------------------------------ engine
class Engine:
    """Runs a contract's properties against one subject.

    ``contract`` provides ``diagnose(ctx, failure)``; ``caller`` is the
    subject's ``engine.calls.Caller`` (for the budget); ``database`` is a function
    of the property name giving its database key.
    """

    def __init__(self, contract: Any, ctx: Context, caller: Caller, base: settings,
                 database_key: Callable[[str], bytes], progress: Optional[Progress] = None) -> None:
        self.contract = contract
        self.ctx = ctx
        self.caller = caller
        self.base = base
        self.database_key = database_key
        self.progress = progress
        self.recorded: Dict[str, Failure] = {}
        self.warnings: Dict[str, Failure] = {}

    # -- a single evaluation -------------------------------------------------
    def _evaluate(self, prop: Property, case: Any, counts: Dict[str, int]) -> Optional[Failure]:
        """The failure this case shows for ``prop``, or None (pass, not applicable, already known)."""
        raise_pending_interruption()
        if self.progress is not None:
            self.progress.tick(self.caller.calls)
        try:
            failure = prop.check(self.ctx, case)
        except Hang as hang:
            hang.case = case
            raise
        except (BudgetExhausted, Interrupted):
            raise
        except BaseException as exc:
            # Not the function's doing (its errors are caught in its worker thread): an
            # outer timer, Ctrl-C, pytest-timeout, or a bug of ours. Hypothesis must not
            # take it for a failing example, so it leaves the search wrapped.
            raise Interrupted(exc) from exc
        counts["examples"] += 1
        largest = self.ctx.extra.setdefault("largest", {})
        for axis, size in case.dims().items():
            largest[axis] = max(largest.get(axis, 0), size)
        if failure is None:
            counts["evaluated"] += 1
            return None
        if failure is NA:
            counts["na"] += 1
            return None
        if failure.warning and not self.ctx.strict:
            self.warnings.setdefault(failure.property, failure)
            counts["evaluated"] += 1
            return None
        if failure.property != prop.name:
            counts["blocked"] += 1  # another property's failure: this one could not judge the case
            if failure.property in self.recorded:
                return None  # already reported: search on
            return failure
        counts["evaluated"] += 1
        return failure

    # -- one property --------------------------------------------------------
    def _search(self, prop: Property, counts: Dict[str, int]) -> Optional[Tuple[Any, Failure]]:
        found: List[Failure] = []

        def fails(case: Any) -> bool:
            failure = self._evaluate(prop, case, counts)
            if failure is None:
                return False
            found[:] = [failure]
            return True

        share = max(1, round(self.base.max_examples * prop.examples_share))
        chosen = settings(self.base, max_examples=share)
        if self.recorded:
            # Hypothesis' shrinker gives the first failure its minimal case; later ones
            # (usually the same bug seen by another property) get the cheaper, bounded
            # passes of _shrink only: a hard-to-find failure can take Hypothesis minutes.
            chosen = settings(chosen, phases=[p for p in chosen.phases if p != Phase.shrink])
        try:
            try:
                with without_local_constants():
                    minimal = find(_guarded(prop.strategy), fails, settings=chosen,
                                   database_key=self.database_key(prop.name))
            except BaseException as exc:
                ours = interruption_in(exc)
                if ours is None:
                    # A handler's exception swallowed inside Hypothesis (a gc callback) can leave its
                    # state broken, so that it raises an assertion of its own with no trace of ours:
                    # the caller's exception, kept aside, still decides.
                    raise_pending_interruption()
                    raise
                if ours is exc:
                    raise
                raise ours from None  # Hypothesis' clean-up raised over it: ours decides
        except NoSuchExample:
            return None
        except Flaky:
            if not found:
                raise
            return found[-1].case, self._flaky(prop, found[-1])
        except (Hang, BudgetExhausted):
            if found:  # a hang or the budget while Hypothesis was shrinking: keep the failure, as found
                found[-1].shrunk = False
                self._record(found[-1], diagnose=False)
            raise
        failure = self._evaluate(prop, minimal, counts) or (found[-1] if found else None)
        if failure is None:  # pragma: no cover - find returned a case that no longer fails
            return None
        return minimal, failure

    def _flaky(self, prop: Property, failure: Failure) -> Failure:
        return Failure(
            prop.name,
            "the function did not give the same answer when called again with the same inputs: a "
            "failing example passed when Hypothesis replayed it (below: the failure as first seen).",
            failure.case, got=failure.got, expected=failure.expected, mismatch=failure.mismatch,
            diagnosis="nondeterministic", convention=failure.convention, kind="behaviour",
            shrunk=False, diagnosed=True,
        )

    def _shrink(self, prop: Property, case: Any, failure: Failure) -> Failure:
        found = self._shrunk(prop, case, failure)
        # The case as the search found it, before shrinking: the diagnosis looks at both.
        found.extra.setdefault("found_cases", (case,) if found.case is not case else ())
        return found

    def _shrunk(self, prop: Property, case: Any, failure: Failure) -> Failure:
        name = failure.property
        counts = {"examples": 0, "evaluated": 0, "na": 0, "blocked": 0}

        def still_fails(c: Any) -> bool:
            f = self._evaluate(prop, c, counts)
            return f is not None and f.property == name

        case = reduce_dims(case, still_fails, floors=prop.floors)
        case = simplify_values(case, still_fails)
        final = self._evaluate(prop, case, counts)
        if final is None or final.property != name:
            return failure
        # The same failure twice more: a function whose answers change between
        # identical calls is nondeterministic, whatever else it does.
        for _ in range(2):
            again = self._evaluate(prop, case, counts)
            if again is None or again.property != name:
                return self._flaky(prop, final)
        return final

    def _record(self, failure: Failure, diagnose: bool = True) -> None:
        if failure.property in self.recorded:
            return
        if diagnose and not failure.diagnosed:
            try:
                self.contract.diagnose(self.ctx, failure)
            except (Hang, BudgetExhausted):
                self.recorded[failure.property] = failure  # undiagnosed, but not lost
                raise
            failure.diagnosed = True
        if failure.diagnosis == "nondeterministic" and any(
                f.diagnosis == "nondeterministic" for f in self.recorded.values()):
            # Once a function is known to answer differently to the same inputs, every
            # other property fails at random too: one report of it is enough.
            self.recorded.setdefault("_nondeterministic_" + failure.property, failure).extra["hidden"] = True
            return
        self.recorded[failure.property] = failure

    # -- every property ------------------------------------------------------
    def run(self, selected: Sequence[Property]) -> Outcome:
        results: List[Tuple[str, str, int, str, int]] = []
        complete = True
        stop_reason = None
        for i, prop in enumerate(selected):
            if self.progress is not None:
                self.progress.begin(i, prop.name)
            counts = {"examples": 0, "evaluated": 0, "na": 0, "blocked": 0}
            status = "passed"
            searched = False
            try:
                # A failure of another property found on the way stops the search: it is recorded and
                # the search starts again (cases showing a recorded failure no longer stop it), at most
                # once per property that can fail; a search still cut short then is not a pass.
                for _attempt in range(len(self.contract.props) + 1):
                    hit = self._search(prop, counts)
                    if hit is None:
                        searched = True
                        break
                    case, failure = hit
                    if failure.shrunk and failure.diagnosis != "nondeterministic":
                        try:
                            failure = self._shrink(prop, case, failure)
                        except (Hang, BudgetExhausted):
                            # Keep what was found, as found, before reporting the hang or the budget.
                            failure.shrunk = False
                            self._record(failure, diagnose=False)
                            raise
                    self._record(failure)
                    if failure.property == prop.name:
                        status = "failed"
                        break
            except Hang as hang:
                self._record(self.contract.hang_failure(self.ctx, prop, hang))
                results.append((prop.name, prop.description, counts["examples"], "hung", counts["blocked"]))
                results.extend((p.name, p.description, 0, "not run", 0) for p in selected[i + 1:])
                complete, stop_reason = False, f"a call did not return within {hang.seconds:g} s"
                break
            except BudgetExhausted:
                results.append((prop.name, prop.description, counts["examples"], "stopped", counts["blocked"]))
                results.extend((p.name, p.description, 0, "not run", 0) for p in selected[i + 1:])
                complete, stop_reason = False, "the time budget (max_seconds) ran out"
                break
            if status == "passed":
                status = _status(prop.name in self.warnings, searched, counts)
            results.append((prop.name, prop.description, counts["examples"], status, counts["blocked"]))
        # A property whose failure another property's search found and recorded did not hold, whatever its
        # own search saw (e.g. output_contract broken only on cases the other property draws).
        failed = {f.property for f in self.recorded.values()}
        results = [(n, d, k, "failed" if n in failed and st in ("passed", "warning", "not fully checked",
                                                                "not checked", "n/a") else st, b)
                   for n, d, k, st, b in results]
        order = {p.name: i for i, p in enumerate(selected)}
        shown = [f for f in self.recorded.values() if not f.extra.get("hidden")]
        failures = sorted(shown, key=lambda f: (_rank(f), order.get(f.property, 99)))
        return Outcome(results, failures, list(self.warnings.values()), complete, stop_reason)


_constants_depth = 0


@contextlib.contextmanager
def without_local_constants() -> Iterator[None]:
    """Hypothesis' searches here draw no constants from the code that happens to be imported.

    Hypothesis (6.1xx) mixes into generation, now and then, literal constants
    read from every *local* module imported so far (not site-packages). A
    check's cases would then depend on what else the process imported (the
    other test files run before it, an editable install of this package): the
    same function, profile and seed could meet other cases and another
    verdict. A check is reproducible only from what it is given, so during
    its searches that pool is empty (Hypothesis' own global constants stay).
    Without that internal hook (another Hypothesis version) nothing changes.
    """
    global _constants_depth
    try:
        from hypothesis.internal.conjecture import providers
        getter, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
        from hypothesis.internal.constants_ast import Constants
        empty = Constants()
    except (ImportError, AttributeError):  # pragma: no cover - a Hypothesis without local constants
        yield
        return
    if _constants_depth:
        _constants_depth += 1
        try:
            yield
        finally:
            _constants_depth -= 1
        return
    _constants_depth = 1
    providers._get_local_constants = lambda: empty
    cache.cache.clear()  # (key -> permitted constants) computed with the local pool
    try:
        yield
    finally:
        providers._get_local_constants = getter
        cache.cache.clear()
        _constants_depth = 0


@functools.lru_cache(maxsize=None)
def _guarded(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy``, with anything but Hypothesis' own control flow raised while drawing carried out.

    An outer timer's or pytest-timeout's exception can fire while Hypothesis
    draws a case; inside the test Hypothesis would take it for a failure (and
    then for a flaky one). Wrapped in ``Interrupted`` it leaves the search.
    """

    @st.composite
    def draw_guarded(draw: Any) -> Any:
        try:
            return draw(strategy)
        except BaseException as exc:
            if isinstance(exc, Interrupted) or type(exc).__module__.split(".")[0] == "hypothesis":
                raise
            raise Interrupted(exc) from exc

    return draw_guarded()


def _status(warned: bool, searched: bool, counts: Dict[str, int]) -> str:
    """A property that did not fail: "passed" only if it was searched to the end and judged most of its cases.

    "not fully checked": cut short, or more of its cases stopped by other properties' failures than judged;
    "not checked": none judged; "n/a": nothing to check on any case (e.g. h_T when only hs is returned).
    """
    if counts["evaluated"] == 0:
        return "n/a" if counts["na"] > 0 and counts["blocked"] == 0 else "not checked"
    if not searched or counts["blocked"] > counts["evaluated"]:
        return "not fully checked"
    return "warning" if warned else "passed"


def _rank(failure: Failure) -> int:
    kind = KINDS.index(failure.kind) if failure.kind in KINDS else len(KINDS)
    if failure.kind == "value":
        return 0 if failure.diagnosis else 1
    return kind + 1
