"""What every contract's subject shares: the user's function called through one ``Caller``, its
return values turned into float arrays, and how a write into an argument is described.

``forward.subject.Subject`` and ``backward.subject.GradSubject`` build on it.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams, _writable_copy
from gru_props.engine.calls import Caller

_VERBS = ("raised ", "returned ", "called ", "was ", "did ", "tried ")


def what_the_function_did(error: str) -> str:
    """``error`` as the end of a sentence starting "the function ...": a verb first."""
    if error.startswith(_VERBS):
        return error
    return "returned a value the contract does not allow: " + error


def writable_params(p: GRUParams) -> GRUParams:
    """A copy of ``p`` whose arrays are writable, to see whether ``fn`` writes into them."""
    return _writable_copy(p)


class NotAFloatArray(ValueError):
    """What the user's function returned is not a floating NumPy array (the message says what it is)."""


def as_float_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a floating NumPy array; ``NotAFloatArray`` says what was wrong with it.

    Torch tensors (also ones requiring grad) are detached and converted; anything with
    ``__array__`` is converted by NumPy. Lists, tuples, scalars, None and non-float dtypes are
    refused, since a GRU returns arrays of floats.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, maybe requiring grad
        try:
            value = value.detach().cpu().numpy()
        except Exception as exc:  # pragma: no cover - exotic tensors (sparse, meta)
            raise NotAFloatArray(f"{what} is a {type(value).__name__} that could not be converted to NumPy "
                                 f"({exc}).") from None
    if isinstance(value, (list, tuple)) or np.isscalar(value) or value is None:
        raise NotAFloatArray(
            f"{what} is {'None' if value is None else 'a ' + type(value).__name__}; expected a NumPy "
            f"array" + ("" if value is None else " (wrap it with np.asarray / np.stack)") + "."
        )
    if not (isinstance(value, np.ndarray) or hasattr(value, "__array__")):
        raise NotAFloatArray(f"{what} is a {type(value).__name__}; expected a NumPy array.")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise NotAFloatArray(f"{what} is a {type(value).__name__} that NumPy cannot convert ({exc}).") from None
    if arr.dtype.kind != "f":
        raise NotAFloatArray(f"{what} has dtype {arr.dtype}; expected floating point (float32 or float64).")
    return arr


def call_and_convert(fn: Callable[..., Any], args: Tuple[Any, ...], convert: Callable[[Any], Any],
                     unreadable: Callable[[str], Any]) -> Any:
    """``convert(fn(*args))``, run in the worker so that converting what the function returned (its
    ``__array__``, a mapping's ``__getitem__``, ``grads.arrays()``) is under the same time limit as the call.

    An exception of ``fn`` propagates (it is the function's); one of ``convert`` becomes
    ``unreadable(text)``, an outcome saying the returned value could not be read.
    """
    value = fn(*args)
    try:
        return convert(value)
    except Exception as exc:
        return unreadable(f"returned a {type(value).__name__} that could not be read "
                          f"({type(exc).__name__}: {exc})")


class UserFunction:
    """A user's function under test (forward or backward), called through one Caller."""

    def __init__(self, fn: Callable[..., Any], step: bool, caller: Caller, name: str) -> None:
        self.fn = fn
        self.step = step
        self.caller = caller
        self.name = name

    @property
    def calls(self) -> int:
        return self.caller.calls


def first_mutation(pairs: List[Tuple[str, np.ndarray, np.ndarray]]) -> Optional[str]:
    """The first (name, before, after) whose arrays differ, described with its first changed element."""
    for name, before, after in pairs:
        if not np.array_equal(before, after, equal_nan=True):
            changed = (before != after) & ~(np.isnan(before) & np.isnan(after))
            idx = tuple(int(i) for i in np.argwhere(changed)[0])
            return (
                f"the function modified its argument {name} in place: {name}[{', '.join(map(str, idx))}] was "
                f"{float(before[idx])!r} before the call and {float(after[idx])!r} after it."
            )
    return None
