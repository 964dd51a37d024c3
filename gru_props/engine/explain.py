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


__all__ = ["Found", "GROW", "MATCH_ATOL", "MATCH_RTOL", "fingerprint", "matching", "search", "share"]
