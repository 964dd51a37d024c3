"""An AST mutation tool for the learner GRUs of ``learner_code.py``: one small slip per mutant.

    python benchmarks/acceptance/mutate.py --count                 # mutants per learner and operator
    python benchmarks/acceptance/mutate.py --list textbook_gru     # one line per mutant
    python benchmarks/acceptance/mutate.py --show textbook_gru#0042  # the mutant's whole source

Operators (the ``operator`` of a mutant):

* ``operator_swap``  - a binary operator replaced by each other of + - * / @ ** % //; ``+=`` -> ``-=``
* ``constant``       - a number changed: 1 -> 0, 2, -1; 0 -> 1, -1; c -> 0, c + 1, c - 1, -c
* ``drop_term``      - one operand of a sum or difference left out (``a + b`` -> ``a`` or ``b``;
                       ``a - b`` -> ``a`` or ``-b``)
* ``variable_swap``  - a variable read replaced by one of the same shape (the learner's ``swap`` pairs)
* ``transpose``      - ``.T`` removed, or added to an operand of ``@``
* ``sign_flip``      - a unary minus removed, or the right-hand side of an assignment negated
* ``index_shift``    - ``t`` -> ``t - 1`` / ``t + 1`` in a subscript; a slice bound moved by one; a reversed
                       loop made forward
* ``activation_swap``- tanh <-> sigmoid (the learner's sigmoid function or a written-out ``1 / (1 + exp(-a))``)
* ``accumulate``     - ``+=`` -> ``=``

A mutant is identified by ``<learner>#<four digits>`` (its rank in a
deterministic walk of the function's AST, duplicates removed), so a command
line can name one. ``Mutant.compile()`` gives the mutated function; its source
is registered with ``linecache`` so ``inspect.getsource`` (and the checker's
reproduction snippet) sees it.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import linecache
import os
import sys
from collections import Counter
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_FILE = os.path.join(HERE, "learner_code.py")

OPERATORS = ("operator_swap", "constant", "drop_term", "variable_swap", "transpose", "sign_flip", "index_shift",
             "activation_swap", "accumulate")
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult, ast.Pow, ast.Mod, ast.FloorDiv)
#: calls whose right-hand side is not arithmetic (negating them is not a sign slip a learner makes)
_NOT_ARITHMETIC = {"zeros", "zeros_like", "concatenate", "copy", "stack", "arrays", "shape"}


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    learner: str
    operator: str
    line: int          # line in learner_code.py
    before: str        # the expression (or statement) as written
    after: str         # as the mutant writes it
    source: str        # the whole mutated function

    @property
    def description(self) -> str:
        return f"{self.learner} line {self.line} [{self.operator}]: {self.before}  ->  {self.after}"

    def compile(self) -> Callable[..., object]:
        filename = f"<mutant {self.id}>"
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)
        namespace: Dict[str, object] = {"np": np, "__name__": "mutant"}
        exec(compile(self.source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
        fn = namespace[self.learner]
        fn.__qualname__ = fn.__name__ = self.learner  # type: ignore[attr-defined]
        return fn  # type: ignore[return-value]


def _function(name: str) -> ast.FunctionDef:
    with open(SOURCE_FILE) as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise KeyError(f"no function {name!r} in {SOURCE_FILE}")


def original_source(name: str) -> str:
    return ast.unparse(_function(name))


def _parents(root: ast.AST) -> Dict[int, Tuple[ast.AST, str, Optional[int]]]:
    """id(node) -> (parent, field, index in the field's list or None)."""
    out: Dict[int, Tuple[ast.AST, str, Optional[int]]] = {}
    for parent in ast.walk(root):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        out[id(child)] = (parent, field, i)
            elif isinstance(value, ast.AST):
                out[id(value)] = (parent, field, None)
    return out


def _is_sigmoid_expr(node: ast.AST) -> Optional[ast.AST]:
    """The argument a of a written-out ``1 / (1 + np.exp(-a))`` (or with 1.0), else None."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
        return None
    if not (isinstance(node.left, ast.Constant) and node.left.value == 1):
        return None
    den = node.right
    if not (isinstance(den, ast.BinOp) and isinstance(den.op, ast.Add) and isinstance(den.left, ast.Constant)
            and den.left.value == 1 and isinstance(den.right, ast.Call)):
        return None
    call = den.right
    if ast.unparse(call.func) != "np.exp" or len(call.args) != 1:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.USub):
        return arg.operand
    return None


def _sigmoid_of(a: ast.AST) -> ast.AST:
    return ast.parse(f"1 / (1 + np.exp(-({ast.unparse(a)})))", mode="eval").body


def _neg(a: ast.AST) -> ast.AST:
    return ast.UnaryOp(op=ast.USub(), operand=copy.deepcopy(a))


def _shift(a: ast.AST, by: int) -> ast.AST:
    op = ast.Add() if by > 0 else ast.Sub()
    return ast.BinOp(left=copy.deepcopy(a), op=op, right=ast.Constant(abs(by)))


def _transposed(a: ast.AST) -> ast.AST:
    return ast.Attribute(value=copy.deepcopy(a), attr="T", ctx=ast.Load())


def _constants(value: object) -> List[object]:
    if value == 1:
        return [0, 2, -1]
    if value == 0:
        return [1, -1]
    return [0, value + 1, value - 1, -value]  # type: ignore[operator]


def _replacements(node: ast.AST, fn: ast.FunctionDef, swaps: Sequence[Tuple[str, str]],
                  sigmoid_name: Optional[str]) -> Iterator[Tuple[str, ast.AST]]:
    """(operator, replacement node) for one node of the function."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
        for op in _BINOPS:
            if not isinstance(node.op, op):
                yield "operator_swap", ast.BinOp(left=copy.deepcopy(node.left), op=op(),
                                                 right=copy.deepcopy(node.right))
        if isinstance(node.op, ast.Add):
            yield "drop_term", copy.deepcopy(node.left)
            yield "drop_term", copy.deepcopy(node.right)
        elif isinstance(node.op, ast.Sub):
            yield "drop_term", copy.deepcopy(node.left)
            yield "drop_term", _neg(node.right)
        if isinstance(node.op, ast.MatMult):
            for side in ("left", "right"):
                operand = getattr(node, side)
                if not (isinstance(operand, ast.Attribute) and operand.attr == "T"):
                    new = copy.deepcopy(node)
                    setattr(new, side, _transposed(operand))
                    yield "transpose", new
        arg = _is_sigmoid_expr(node)
        if arg is not None:
            yield "activation_swap", ast.Call(func=ast.parse("np.tanh", mode="eval").body, args=[copy.deepcopy(arg)],
                                              keywords=[])
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        for value in _constants(node.value):
            yield "constant", ast.Constant(type(node.value)(value))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "sign_flip", copy.deepcopy(node.operand)
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        for a, b in swaps:
            if node.id in (a, b):
                yield "variable_swap", ast.Name(id=b if node.id == a else a, ctx=ast.Load())
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        yield "transpose", copy.deepcopy(node.value)
    elif isinstance(node, ast.Subscript):
        for new in _index_shifts(node):
            yield "index_shift", new
    elif isinstance(node, ast.Call):
        name = ast.unparse(node.func)
        if name == "np.tanh" and len(node.args) == 1:
            if sigmoid_name:
                yield "activation_swap", ast.Call(func=ast.Name(id=sigmoid_name, ctx=ast.Load()),
                                                  args=copy.deepcopy(node.args), keywords=[])
            else:
                yield "activation_swap", _sigmoid_of(node.args[0])
        elif sigmoid_name and name == sigmoid_name and len(node.args) == 1:
            yield "activation_swap", ast.Call(func=ast.parse("np.tanh", mode="eval").body,
                                              args=copy.deepcopy(node.args), keywords=[])
        elif name == "reversed" and len(node.args) == 1:
            yield "index_shift", copy.deepcopy(node.args[0])
    elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
        yield "accumulate", ast.Assign(targets=[copy.deepcopy(node.target)], value=copy.deepcopy(node.value))
        yield "operator_swap", ast.AugAssign(target=copy.deepcopy(node.target), op=ast.Sub(),
                                             value=copy.deepcopy(node.value))
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.BinOp):
        yield "sign_flip", ast.Assign(targets=copy.deepcopy(node.targets), value=_neg(node.value))
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.value, ast.Call):
        callee = ast.unparse(node.value.func).split(".")[-1]
        if callee not in _NOT_ARITHMETIC and not isinstance(node.targets[0], ast.Tuple):
            yield "sign_flip", ast.Assign(targets=copy.deepcopy(node.targets), value=_neg(node.value))


def _index_shifts(node: ast.Subscript) -> Iterator[ast.AST]:
    """``t`` -> ``t -/+ 1`` where the subscript reads or writes step t; slice bounds moved by one."""
    sl = node.slice
    elts = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
    for i, e in enumerate(elts):
        variants: List[ast.AST] = []
        if isinstance(e, ast.Name) and e.id == "t":
            variants = [_shift(e, -1), _shift(e, +1)]
        elif isinstance(e, ast.Slice):
            for bound in ("lower", "upper"):
                b = getattr(e, bound)
                if b is not None:
                    for by in (-1, 1):
                        s = copy.deepcopy(e)
                        setattr(s, bound, _shift(b, by))
                        variants.append(s)
        for v in variants:
            new = copy.deepcopy(node)
            if isinstance(sl, ast.Tuple):
                new.slice.elts[i] = v  # type: ignore[attr-defined]
            else:
                new.slice = v
            yield new


def _sigmoid_name(fn: ast.FunctionDef) -> Optional[str]:
    for node in fn.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("sigmoid", "sig"):
            return node.name
    return None


def mutants(learner: str) -> List[Mutant]:
    """Every mutant of one learner, in a deterministic order, duplicates (same source) removed."""
    from learner_code import LEARNERS

    swaps = LEARNERS[learner]["swap"]
    fn = _function(learner)
    original = ast.unparse(fn)
    sig = _sigmoid_name(fn)
    nodes = list(ast.walk(fn))
    seen = {original}
    out: List[Mutant] = []
    for index, node in enumerate(nodes):
        if node is fn:
            continue
        for operator, replacement in _replacements(node, fn, swaps, sig):
            tree = copy.deepcopy(fn)
            target = list(ast.walk(tree))[index]
            parent, field, pos = _parents(tree)[id(target)]
            if pos is None:
                setattr(parent, field, replacement)
            else:
                getattr(parent, field)[pos] = replacement
            ast.fix_missing_locations(tree)
            try:
                source = ast.unparse(tree)
                compile(source, "<mutant>", "exec")
            except (SyntaxError, ValueError):
                continue
            if source in seen:
                continue
            seen.add(source)
            out.append(Mutant(id=f"{learner}#{len(out):04d}", learner=learner, operator=operator,
                              line=getattr(node, "lineno", 0), before=ast.unparse(node),
                              after=ast.unparse(replacement), source=source + "\n"))
    return out


def all_mutants(learners: Sequence[str]) -> List[Mutant]:
    return [m for name in learners for m in mutants(name)]


def by_id(mutant_id: str) -> Mutant:
    learner = mutant_id.split("#")[0]
    for m in mutants(learner):
        if m.id == mutant_id:
            return m
    raise KeyError(f"no mutant {mutant_id!r}")


def main(argv: Optional[Sequence[str]] = None) -> None:
    sys.path.insert(0, HERE)
    from learner_code import LEARNERS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", action="store_true", help="mutants per learner and operator")
    ap.add_argument("--list", metavar="LEARNER", help="one line per mutant of LEARNER")
    ap.add_argument("--show", metavar="ID", help="print one mutant's source")
    args = ap.parse_args(argv)
    if args.show:
        m = by_id(args.show)
        print(f"# {m.description}\n{m.source}")
    elif args.list:
        for m in mutants(args.list):
            print(f"{m.id}  {m.description}")
    else:
        total = 0
        for name in LEARNERS:
            counts = Counter(m.operator for m in mutants(name))
            total += sum(counts.values())
            print(f"{name:14} {sum(counts.values()):5d}  " + ", ".join(f"{k} {counts[k]}" for k in OPERATORS
                                                                       if counts[k]))
        print(f"{'total':14} {total:5d}")


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
