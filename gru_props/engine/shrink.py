"""Shrinking after Hypothesis: fewer rows, steps, features and units, and simpler numbers.

Hypothesis shrinks values well, but lowering a size shifts every later draw,
so a counterexample can keep a hidden unit that plays no part in the
failure; and cases drawn from a seed (the large ones) shrink only to another
seed. Two passes finish the job, each keeping a change only while the same
property still fails:

* ``reduce_dims`` deletes one batch row, time step, input feature or hidden
  unit at a time. It never claims a case smaller than the failure needs: a
  bug that needs T = 5 stops at T = 5, because T = 4 passes.
* ``simplify_values`` zeroes whole arrays, then single entries, then rounds
  what is left, so a case drawn from a seed becomes a few readable numbers.

Cases only need ``dims()`` (axis -> size), ``without(axis, index)``,
``named_arrays()`` and ``with_array(name, value)``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np


def reduce_dims(case: Any, still_fails: Callable[[Any], bool], floors: Optional[Dict[str, int]] = None,
                budget: int = 300) -> Any:
    """Delete indices along each size while ``still_fails`` holds.

    ``floors`` bounds each size from below (default 1, and T stays 0 for a
    case of T = 0).
    """
    floors = dict(floors or {})
    sizes = case.dims()
    minimum = {axis: min(size, floors.get(axis, 1)) for axis, size in sizes.items()}
    changed = True
    while changed and budget > 0:
        changed = False
        for axis in case.dims():
            index = 0
            while case.dims()[axis] > minimum[axis] and index < case.dims()[axis] and budget > 0:
                budget -= 1
                # Delete from the end first: later steps and units are the ones
                # least likely to matter, and a deletion there shifts nothing.
                position = case.dims()[axis] - 1 - index
                smaller = case.without(axis, position)
                if still_fails(smaller):
                    case, changed = smaller, True
                else:
                    index += 1
    return case


def _is_simple(case: Any, dense: int) -> bool:
    """Few non-zero numbers, each with at most two decimals: what Hypothesis' shrinking leaves."""
    values = np.concatenate([np.ravel(a).astype(np.float64) for _, a in case.named_arrays()] or [np.zeros(0)])
    nonzero = values[values != 0]
    return nonzero.size <= dense and bool(np.all(np.round(nonzero, 2) == nonzero))


def simplify_values(case: Any, still_fails: Callable[[Any], bool], budget: int = 250,
                    dense: int = 12) -> Any:
    """Zero arrays, then entries, then make what is left ±1 or round it, while ``still_fails`` holds.

    Skipped for cases that are already simple (at most ``dense`` non-zero
    numbers of at most two decimals): Hypothesis has shrunk those already.
    """
    if _is_simple(case, dense):
        return case
    names = [name for name, _ in case.named_arrays()]
    for name in names:  # whole arrays to zero
        arr = dict(case.named_arrays())[name]
        if budget <= 0 or not np.any(arr):
            continue
        budget -= 1
        candidate = case.with_array(name, np.zeros_like(arr))
        if still_fails(candidate):
            case = candidate
    for name in names:  # single entries to zero, in small arrays
        arr = dict(case.named_arrays())[name]
        if arr.size > 64:
            continue
        for flat in np.flatnonzero(arr):
            if budget <= 0:
                break
            budget -= 1
            trial = arr.copy()
            trial.flat[flat] = 0
            candidate = case.with_array(name, trial)
            if still_fails(candidate):
                case, arr = candidate, trial
    for name in names:  # what is left, entry by entry: +-1 reads best
        arr = dict(case.named_arrays())[name]
        if arr.size > 64:
            continue
        for flat in np.flatnonzero(arr):
            if budget <= 0 or abs(float(arr.flat[flat])) == 1.0:
                continue
            budget -= 1
            trial = arr.copy()
            trial.flat[flat] = np.sign(arr.flat[flat])
            candidate = case.with_array(name, trial)
            if still_fails(candidate):
                case, arr = candidate, trial
    for decimals in (0, 1):  # round what is left: integers if they still fail, else one decimal
        for name in names:
            arr = dict(case.named_arrays())[name]
            if budget <= 0 or not np.any(arr):
                continue
            rounded = np.round(arr, decimals).astype(arr.dtype)
            if np.array_equal(rounded, arr):
                continue
            budget -= 1
            candidate = case.with_array(name, rounded)
            if still_fails(candidate):
                case = candidate
    return case
