"""Reproduction snippets: plain NumPy code that shows a failure again, outside the checker.

Each snippet rebuilds the counterexample, calls the user's function the way
the check did (adapters included), and asserts exactly what the failed
property asserts, with the same tolerance (for float32, the same
element-wise slack computed from our own tiers). Run on the counterexample
it raises ``AssertionError``; run with a correct function it passes.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import re
import sys
import textwrap
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


def _module_binding(chain: List[Any]) -> Optional[Tuple[int, str, str]]:
    """(i, module, name) for the outermost ``chain[i]`` that is what its module binds to the base function's
    name: a function decorated with an adapter is imported as it is, already wrapped."""
    base = chain[-1]
    module_name = getattr(base, "__module__", None)
    name = getattr(base, "__name__", "")
    if not module_name or module_name == "__main__" or not name.isidentifier():
        return None
    module = sys.modules.get(module_name)
    bound = getattr(module, name, None) if module is not None else None
    for i, wrapper in enumerate(chain):
        if bound is wrapper:
            return i, module_name, name
    return None


def _lambda_source(fn: Any) -> Optional[str]:
    """The source of a lambda, when its line holds exactly one lambda."""
    if getattr(fn, "__name__", "") != "<lambda>":
        return None
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return None
    source = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        try:
            tree = ast.parse("(" + source.strip().rstrip(",") + ")")
            source = "(" + source.strip().rstrip(",") + ")"
        except SyntaxError:
            return None
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    if len(found) != 1:
        return None
    return ast.get_source_segment(source, found[0])


def _free_names(lambda_source: str) -> List[str]:
    """The names a lambda reads that are neither its arguments nor builtins (what the snippet must define)."""
    node = ast.parse(lambda_source, mode="eval").body
    assert isinstance(node, ast.Lambda)
    args = {a.arg for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs}
    if node.args.vararg:
        args.add(node.args.vararg.arg)
    if node.args.kwarg:
        args.add(node.args.kwarg.arg)
    names = {n.id for n in ast.walk(node.body) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(n for n in names - args if not hasattr(builtins, n))


def import_lines(fn: Any) -> List[str]:
    """Lines that bind ``fn`` the way the check called it.

    The user's function is imported from its module (as the module binds it:
    a function decorated with an adapter is not wrapped again), a
    ``functools.partial`` of an importable function is rebuilt, a lambda is
    pasted from its source, and anything else is left as a named placeholder.
    """
    chain = [fn]
    while getattr(chain[-1], "__gru_props_adapter__", None) and getattr(chain[-1], "__wrapped__", None) is not None:
        chain.append(chain[-1].__wrapped__)
    base = chain[-1]
    adapters = [w.__gru_props_adapter__ for w in chain[:-1]]
    bound = _module_binding(chain)
    lam = _lambda_source(base)
    if bound is not None:
        i, module, name = bound
        lines, expr = [f"from {module} import {name}"], name
        adapters = adapters[:i]  # the ones outside what the module binds
    elif isinstance(base, functools.partial) and _importable(base.func) and _partial_args(base) is not None:
        module, name = _importable(base.func)  # type: ignore[misc]
        lines = ["import functools", f"from {module} import {name}"]
        expr = f"functools.partial({name}, {_partial_args(base)})"
    elif lam is not None:
        where = f"{getattr(base, '__module__', '')}" + (f", line {base.__code__.co_firstlineno}"
                                                        if hasattr(base, "__code__") else "")
        free = _free_names(lam)
        needs = f"; it uses {', '.join(free)}: import or define them first" if free else ""
        lines, expr = [f"user_fn = {lam}  # the lambda checked ({where}){needs}"], "user_fn"
    else:
        lines = [f"user_fn = ...  # your function ({_plain_name(base)}): import or define it here"]
        expr = "user_fn"
    if adapters:
        names = sorted({re.match(r"\w+", a).group(0) for a in adapters}  # type: ignore[union-attr]
                       | {w for a in adapters for w in re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", a)}
                       | ({"maps"} if any("maps." in a for a in adapters) else set()))
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


def close_code(got: str, expected: str, rtol: float, atol: float, slack: Optional[str] = None,
               judged: Optional[str] = None) -> List[str]:
    """An assertion that ``got`` is within ``atol + rtol * |expected| (+ slack)`` wherever ``judged``."""
    allowed = f"{atol!r} + {rtol!r} * np.abs({expected})" + (f" + {slack}" if slack else "")
    bad = f"~(np.abs(np.asarray({got}, dtype=np.float64) - {expected}) <= {allowed})"
    return [
        f"bad = {bad}" + (f" & {judged}" if judged else ""),
        f"assert not bad.any(), f\"{got}: {{bad.sum()}} element(s) out of tolerance, the first at "
        f"{{tuple(int(i) for i in np.argwhere(bad)[0])}}\"",
    ]


def tolerance_code(allowed: Any, fallback: Tuple[float, float]) -> Tuple[List[str], float, float, Optional[str],
                                                                         Optional[str]]:
    """Lines defining the check's own slack and judged mask for one comparison (``engine.tolerance.Allowed``),
    and (rtol, atol, slack name or None, judged name or None) for ``close_code``."""
    if allowed is None:
        return [], fallback[0], fallback[1], None, None
    lines: List[str] = []
    slack_name = judged_name = None
    if allowed.slack is not None and np.any(allowed.slack):
        lines += ["# what this case's own rounding allows on top (8x its error estimate, as the check computes it)",
                  f"slack = {array_code(allowed.slack, 'np.float64')}"]
        slack_name = "slack"
    if allowed.judged is not None and not np.all(allowed.judged):
        lines += ["# elements the check judged (elsewhere the case amplifies rounding beyond any tolerance)",
                  f"judged = np.array({np.asarray(allowed.judged).tolist()!r})"]
        judged_name = "judged"
    return lines, allowed.rtol, allowed.atol, slack_name, judged_name
