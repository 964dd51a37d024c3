"""Explaining a wrong function by a combination of slips: a beam search over the contract's vocabulary.

A contract writes its equations (forward) or its chain rule (backward) as
named terms and lists the slips each term can have (``forward.terms``,
``backward.terms``); a *model* is the reference computation with a set of
slips applied. Given what the user's function returned on a few cases, the
search looks for the smallest set of slips whose model returns the same:

* each set is scored by the share of output elements its model gets right
  on the search cases (each output, and each time step of a sequence, weighs
  the same), so that a slip that fixes part of the outputs is kept even when
  other slips are still missing;
* a beam of the best sets is grown one slip at a time (at most one slip per
  site of the equations, and only slips that change the model's outputs),
  up to ``depth`` slips;
* a set whose model matches every element is confirmed on more cases
  (``confirm``): only a set that reproduces the function there too is an
  explanation. Anything else is no explanation, never a guess.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props.engine.conventions import Convention

#: Relative and absolute tolerance of "the model reproduces the function" (of its outputs' scale).
MATCH_RTOL = 1e-5
MATCH_ATOL = 1e-6


def matching(got: np.ndarray, model: np.ndarray, allowed: Any = None) -> np.ndarray:
    """Element by element: does ``model`` reproduce ``got`` (NaN where NaN, inf where the same inf)?

    Within ``MATCH_RTOL``/``MATCH_ATOL`` of the model's scale, or within what the check itself allows on
    this case (``allowed``, an ``engine.tolerance.Allowed`` of the reference: the same rounding applies to
    the model), whichever is wider; elements the check does not judge match.
    """
    g = np.asarray(got, dtype=np.float64)
    m = np.asarray(model, dtype=np.float64)
    if g.shape != m.shape:
        return np.zeros(g.shape, dtype=bool)
    with np.errstate(all="ignore"):
        scale = max(1.0, float(np.max(np.abs(np.where(np.isfinite(m), m, 0.0)), initial=0.0)))
        tol = MATCH_ATOL * scale + MATCH_RTOL * np.abs(m)
        if allowed is not None:
            wide = allowed.atol + allowed.rtol * np.abs(m) + (0.0 if allowed.slack is None else allowed.slack)
            tol = np.maximum(tol, wide)
        close = np.abs(g - m) <= tol
        same = (np.isnan(g) & np.isnan(m)) | (np.isinf(g) & (g == m))
    ok = close | same
    if allowed is not None and allowed.judged is not None:
        ok = ok | ~np.broadcast_to(allowed.judged, ok.shape)
    return ok


def share(got: np.ndarray, model: np.ndarray, axis: Optional[int] = None, allowed: Any = None,
          reference: Optional[np.ndarray] = None) -> Tuple[float, bool]:
    """(score, exact): how well ``model`` reproduces ``got``, in [0, 1], and whether it does everywhere.

    Half the score is the share of matching elements (averaged over ``axis`` slices, each weighing the
    same), half how much closer to ``got`` the model is than the ``reference`` is, element by element
    (1 - |got - model| / |got - reference|, clipped to [0, 1]): a slip that is right moves the model
    toward the function even while other slips are still missing and nothing matches yet.
    """
    ok = matching(got, model, allowed)
    if ok.size == 0:
        return 1.0, True
    if axis is None or ok.ndim <= axis or ok.shape[axis] == 0:
        matched = float(ok.mean())
    else:
        matched = float(np.mean(np.moveaxis(ok, axis, 0).reshape(ok.shape[axis], -1).mean(axis=1)))
    if reference is None or np.shape(reference) != ok.shape:
        return matched, bool(ok.all())
    with np.errstate(all="ignore"):
        g = np.asarray(got, dtype=np.float64)
        e_model = np.abs(g - np.asarray(model, dtype=np.float64))
        e_ref = np.abs(g - np.asarray(reference, dtype=np.float64))
        closer = np.where(ok, 1.0, np.clip(1.0 - e_model / np.where(e_ref > 0, e_ref, np.inf), 0.0, 1.0))
        closer = np.where(np.isfinite(closer), closer, 0.0)
    return 0.5 * matched + 0.5 * float(closer.mean()), bool(ok.all())


@dataclasses.dataclass(frozen=True)
class Found:
    """An explanation: the slips (catalogue names, in vocabulary order) and the label of the model family."""

    slips: Tuple[str, ...]
    label: object


GROW = "grow"


def search(vocabulary: Sequence[str], site: Callable[[str], str],
           score: Callable[[FrozenSet[str]], Tuple[float, bool, bytes]],
           confirm: Callable[[FrozenSet[str]], object], depth: int = 3, width: int = 8,
           budget_seconds: float = 30.0, max_models: int = 3000, restarts: int = 5) -> Optional[Tuple[str, ...]]:
    """The smallest set of slips from ``vocabulary`` whose model scores exact and is confirmed, or None.

    ``score(slips)`` gives (share of elements reproduced, exact, a fingerprint of the model's outputs: two
    sets with one fingerprint are the same model on the search cases); ``site(name)`` keeps two slips of
    one site apart. ``confirm(slips)`` is True (the model holds on the confirmation cases), False, or
    ``GROW``: it failed on a case the caller has now added to the search cases, and the search starts
    again on them (a slip that shows only on that case, invisible so far, can now be told apart).
    """
    start = time.monotonic()
    order = {name: i for i, name in enumerate(vocabulary)}
    state = {"evaluated": 0}

    def out_of_budget() -> bool:
        return state["evaluated"] >= max_models or time.monotonic() - start > budget_seconds

    for _attempt in range(restarts + 1):
        result = _beam(vocabulary, site, score, confirm, depth, width, order, state, out_of_budget)
        if result != GROW:
            return result  # type: ignore[return-value]
        if out_of_budget():
            return None
    return None


def _beam(vocabulary: Sequence[str], site: Callable[[str], str],
          score: Callable[[FrozenSet[str]], Tuple[float, bool, bytes]], confirm: Callable[[FrozenSet[str]], object],
          depth: int, width: int, order: Dict[str, int], state: Dict[str, int],
          out_of_budget: Callable[[], bool]) -> object:
    seen: Dict[bytes, FrozenSet[str]] = {}
    base_score, _, base_print = score(frozenset())
    seen[base_print] = frozenset()
    beam: List[Tuple[float, FrozenSet[str]]] = [(base_score, frozenset())]
    for _level in range(depth):
        candidates: List[Tuple[float, int, FrozenSet[str]]] = []
        for _parent_score, parent in beam:
            used = {site(n) for n in parent}
            for name in vocabulary:
                if name in parent or site(name) in used:
                    continue
                trial = parent | {name}
                if any(trial == c for _, _, c in candidates):
                    continue
                if out_of_budget():
                    break
                state["evaluated"] += 1
                value, exact, fingerprint_ = score(trial)
                if fingerprint_ in seen:  # the same model as a set already scored: this slip changes nothing
                    continue
                seen[fingerprint_] = trial
                if exact:
                    verdict = confirm(trial)
                    if verdict is True:
                        return tuple(sorted(trial, key=order.__getitem__))
                    if verdict == GROW:
                        return GROW
                candidates.append((value, len(trial), trial))
        if not candidates:
            return None
        candidates.sort(key=lambda c: (-c[0], c[1], sorted(order[n] for n in c[2])))
        beam = [(v, c) for v, _, c in candidates[:width]]
    return None


def expand(slips: Iterable[str], combinations: Mapping[str, FrozenSet[str]]) -> FrozenSet[str]:
    """Named combinations among ``slips`` replaced by their single slips."""
    out: set = set()
    for name in slips:
        out |= combinations.get(name, frozenset({name}))
    return frozenset(out)


def named(slips: Sequence[str], combinations: Mapping[str, FrozenSet[str]]) -> Tuple[str, ...]:
    """Single slips replaced by the catalogue's name of their combination, where one has a name."""
    rest = list(slips)
    out = []
    for name, parts in combinations.items():
        if parts <= set(rest):
            out.append(name)
            rest = [s for s in rest if s not in parts]
    return tuple(out + rest)


def fingerprint(*arrays: np.ndarray) -> bytes:
    """A short fingerprint of a model's outputs (rounded, so that rounding noise does not tell models apart)."""
    parts = []
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        with np.errstate(all="ignore"):
            parts.append(np.round(np.where(np.isfinite(a), a, 1e300), 9).tobytes())
    import hashlib

    return hashlib.blake2b(b"".join(parts), digest_size=16).digest()


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Slips (catalogue names) whose model reproduces the function, in ``convention``, on ``cases`` cases."""

    slips: Tuple[str, ...]
    convention: Convention
    cases: int


#: ``evaluate(case, convention, slips, observed)`` -> (share reproduced, exact, the model's outputs to fingerprint,
#: made only when the search scores: a confirmation needs the verdict alone)
Evaluate = Callable[[Any, Convention, FrozenSet[str], Any],
                    Tuple[float, bool, Callable[[], Sequence[np.ndarray]]]]


def explain_observed(ctx: Any, shown: Sequence[Tuple[Any, Any]],
                     more: Callable[[], Tuple[List[Tuple[Any, Any]], List[Tuple[Any, Any]]]],
                     evaluate: Evaluate, vocabulary: Callable[[Convention], Sequence[str]],
                     site: Callable[[str], str], name: Callable[[Tuple[str, ...]], Tuple[str, ...]] = tuple,
                     remember_failure: bool = True, budget_seconds: float = 30.0,
                     relevant: Optional[Callable[[Convention, Sequence[Tuple[Any, Any]]], Callable[[str], bool]]]
                     = None) -> Optional[Explanation]:
    """The smallest combination of slips that reproduces what a function returned, for every contract.

    ``shown``: (case, what the function returned) for the counterexample first, then the other cases the
    failure was seen on; ``more()`` gives the search and confirmation observations, made only when no
    earlier explanation of the same check (``ctx.extra["explanations"]``: one function, one set of bugs)
    reproduces ``shown``. Each convention of ``ctx`` is searched in turn, a later one only for a smaller
    set. With ``remember_failure``, a search that found nothing is remembered and not run again for the
    check's next failure (same vocabulary, same search and fresh cases: it would find nothing again, and
    cost seconds). ``name`` turns the slips found into catalogue names (named combinations).
    ``relevant(conv, observations)``, given every search and confirmation observation, says which slips of the
    vocabulary can be part of an explanation (a slip that changes only outputs the function gets right
    everywhere cannot): the others are not tried.
    """
    def reproduces(slips: Sequence[str], conv: Convention) -> bool:
        return all(evaluate(c, conv, frozenset(slips), o)[1] for c, o in shown)

    for known in ctx.extra.setdefault("explanations", []):
        if reproduces(known.slips, known.convention):
            return known
    if remember_failure and ctx.extra.get("search_failed"):
        return None
    extra_search, extra_confirm = more()
    search_obs = list(shown[:1]) + extra_search
    confirm_obs = list(shown[1:]) + extra_confirm
    best: Optional[Explanation] = None
    for conv in ctx.conventions():
        depth = 3 if best is None else len(best.slips) - 1
        if depth < 1:
            break

        def score(slips: FrozenSet[str], conv: Convention = conv) -> Tuple[float, bool, bytes]:
            total, exact = 0.0, True
            outs: List[np.ndarray] = []
            for case, out in search_obs:
                s, e, arrays = evaluate(case, conv, slips, out)
                total, exact = total + s, exact and e
                outs.extend(arrays())
            return total / len(search_obs), exact, fingerprint(*outs)

        def confirm(slips: FrozenSet[str], conv: Convention = conv) -> object:
            for i, (c, o) in enumerate(confirm_obs):
                if not evaluate(c, conv, slips, o)[1]:
                    search_obs.append(confirm_obs.pop(i))  # a case that tells more: search on it too
                    return GROW
            return True

        names = list(vocabulary(conv))
        if relevant is not None:
            keep = relevant(conv, search_obs + confirm_obs)
            names = [n for n in names if keep(n)]
        found = search(names, site, score, confirm, depth=depth, budget_seconds=budget_seconds)
        if found and (best is None or len(found) < len(best.slips)):
            best = Explanation(name(found), conv, len(search_obs) + len(confirm_obs))
    if best is not None:
        ctx.extra["explanations"].append(best)
    elif remember_failure:
        ctx.extra["search_failed"] = True
    return best


__all__ = ["Evaluate", "Explanation", "Found", "GROW", "MATCH_ATOL", "MATCH_RTOL", "explain_observed", "fingerprint",
           "matching", "search", "share"]
