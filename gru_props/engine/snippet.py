"""Reproduction snippets: plain NumPy code that shows a failure again, outside the checker.

Each snippet rebuilds the counterexample, calls the user's function the way
the check did (adapters included), and asserts exactly what the failed
property asserts, with the same tolerance (for float32, the same
element-wise slack computed from our own tiers). Run on the counterexample
it raises ``AssertionError``; run with a correct function it passes.
"""

from __future__ import annotations

import ast
import functools
import re
from typing import Any, List, Optional, Tuple

import numpy as np


# ------------------------------------------------------------ the function
def unwrap(fn: Any) -> Tuple[Any, List[str]]:
    """The user's own function under any gru_props adapters, and the adapters (outermost first)."""
    adapters: List[str] = []
    while getattr(fn, "__gru_props_adapter__", None) and getattr(fn, "__wrapped__", None) is not None:
        adapters.append(fn.__gru_props_adapter__)
        fn = fn.__wrapped__
    return fn, adapters


def _apply(adapter: str, inner: str) -> str:
    match = re.fullmatch(r"(\w+)\((.*)\)", adapter)
    if match:
        name, args = match.groups()
        return f"{name}({inner}, {args})" if args else f"{name}({inner})"
    return f"{adapter}({inner})"


def _partial_args(p: functools.partial) -> Optional[str]:
    """``functools.partial``'s arguments as source, when they are plain literals."""
    parts = [repr(a) for a in p.args] + [f"{k}={v!r}" for k, v in p.keywords.items()]
    for part in parts:
        try:
            ast.literal_eval(part.split("=", 1)[1] if "=" in part and part.split("=", 1)[0].isidentifier()
                             else part)
        except (ValueError, SyntaxError):
            return None
    return ", ".join(parts)


def _plain_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        args = _partial_args(fn)
        return f"partial({_plain_name(fn.func)}{', ' + args if args else ', ...'})"
    qualname = getattr(fn, "__qualname__", None)
    if qualname and "<locals>" not in qualname:
        return qualname
    return getattr(fn, "__name__", None) or type(fn).__name__


def display_name(fn: Any) -> str:
    """``torch_layout(my_gru)`` for an adapted function, ``my_gru`` otherwise."""
    base, adapters = unwrap(fn)
    name = _plain_name(base)
    for adapter in reversed(adapters):
        name = _apply(adapter, name)
    return name


def _importable(fn: Any) -> Optional[Tuple[str, str]]:
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__name__", "")
    qualname = getattr(fn, "__qualname__", name)
    if module and module != "__main__" and name.isidentifier() and qualname == name:
        return module, name
    return None


def import_lines(fn: Any) -> List[str]:
    """Lines that bind ``fn`` the way the check called it."""
    base, adapters = unwrap(fn)
    where = _importable(base)
    if isinstance(base, functools.partial) and _importable(base.func) and _partial_args(base) is not None:
        module, name = _importable(base.func)  # type: ignore[misc]
        lines = ["import functools", f"from {module} import {name}"]
        expr = f"functools.partial({name}, {_partial_args(base)})"
    elif where is not None:
        lines = [f"from {where[0]} import {where[1]}"]
        expr = where[1]
    else:
        lines = [f"user_fn = ...  # your function ({_plain_name(base)}): import or define it here"]
        expr = "user_fn"
    if adapters:
        names = sorted({re.match(r"\w+", a).group(0) for a in adapters})  # type: ignore[union-attr]
        lines.insert(0, f"from gru_props.adapters import {', '.join(names)}")
        for adapter in reversed(adapters):
            expr = _apply(adapter, expr)
    lines.append(f"fn = {expr}")
    return lines


# ------------------------------------------------------------------ arrays
def array_code(a: np.ndarray, dtype: str) -> str:
    a = np.asarray(a)
    if not np.any(a):
        return f"np.zeros({a.shape}, dtype={dtype})"
    return f"np.array({np.asarray(a, dtype=np.float64).tolist()!r}, dtype={dtype})"


def params_code(params: Any, dtype: str) -> str:
    body = ",\n    ".join(f"{k}={array_code(v, dtype)}" for k, v in params.arrays().items())
    return f"GRUParams(\n    {body},\n)"


def close_code(got: str, expected: str, rtol: float, atol: float, slack: Optional[str]) -> List[str]:
    """An assertion that ``got`` is within ``atol + rtol * |expected| (+ slack)`` everywhere."""
    allowed = f"{atol!r} + {rtol!r} * np.abs({expected})" + (f" + {slack}" if slack else "")
    return [
        f"bad = ~(np.abs(np.asarray({got}, dtype=np.float64) - {expected}) <= {allowed})",
        f"assert not bad.any(), f\"{got}: {{bad.sum()}} element(s) out of tolerance, the first at "
        f"{{tuple(int(i) for i in np.argwhere(bad)[0])}}\"",
    ]


