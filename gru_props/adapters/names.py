"""Name maps: a parameter layout written as the user's names, each an expression over ``GRUParams`` fields.

A name map is a mapping ``{your name: expression}`` in the order your code
takes its weights. An expression says how your array is made of gru_props'
fields (``W_*`` (D, H), ``U_*`` (H, H), ``b_*`` (H,), rows for x or h,
columns for the H units)::

    "W_z"                 the field itself                    (D, H)
    "W_z.T"               transposed (column vectors)         (H, D)
    "W_z,W_r,W_n"         gates side by side (columns)        (D, 3H)
    "(W_r,W_z,W_n).T"     ... transposed: PyTorch's weight_ih (3H, D)
    "U_z;W_z"             stacked rows: acting on [h, x]      (H + D, H)
    "b_z;W_z;U_z"         a bias row first: acting on [1, x, h]
    "b_z:x" / "b_z:h"     the input / recurrent half of a bias split in two arrays
                          (PyTorch's bias_ih and bias_hh); their gradients must agree
    "b_n+b_hn"            one candidate bias standing for both (exact only with
                          reset_after=False, which the map then requires)
    "b_z[None]"           with a leading axis of 1           (1, H)
    "b_z[:, None]"        as a column                        (H, 1)
    "I" / "0"             a constant: the (H, H) identity, (H,) zeros (e.g. an output
                          layer your function applies, set to do nothing)

``,`` binds tighter than ``;``; parentheses group; ``.T``, ``[None]`` and
``[:, None]`` apply to what precedes them. Every weight field must appear
once; the biases all, or none (a bias-free layout: the check then uses
``bias=False``).

``NameMap`` parses and validates a map once, then converts: ``to_user``
(the arrays your function receives), ``values_from_user`` (what arrays your
function changed mean, for the checker's mutation test), ``grads_from_user``
(your gradients, by your names, back to fields) and ``locate`` (where a
field's element lives in your arrays, for reports).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props.core.params import _BIASES, _FIELDS, _RECURRENT, _WEIGHTS

_GATE = {"b_z": "z", "b_r": "r", "b_n": "n", "b_hn": "n"}
_TOKEN = re.compile(r"\s*(\[\s*None\s*\]|\[\s*:\s*,\s*None\s*\]|\.T|[(),;+]|:[xh]|[A-Za-z_][A-Za-z_0-9]*|0)")


class NameMapError(ValueError):
    """A name map that cannot describe a GRU's parameters (the message says which entry and why)."""


@dataclasses.dataclass(frozen=True)
class Part:
    """One block of a user array: a field (or the sum b_n + b_hn), a half of a split bias, or a constant."""

    fields: Tuple[str, ...]  # () for a constant
    side: str = ""  # "x" | "h": the input / recurrent half of a split b_z or b_r
    const: str = ""  # "I" | "0"

    @property
    def ndim(self) -> int:
        if self.const:
            return 2 if self.const == "I" else 1
        return 1 if self.fields[0] in _BIASES else 2

    def rows(self, D: int, H: int) -> int:
        """Rows of a 2-D block (D for W_*, H for U_* and I)."""
        if self.const == "I" or (self.fields and self.fields[0] in _RECURRENT):
            return H
        return D

    def text(self) -> str:
        if self.const:
            return self.const
        return "+".join(self.fields) + (f":{self.side}" if self.side else "")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One user array: rows (``;``) of blocks (``,``), then postfix operations."""

    name: str
    expression: str
    rows: Tuple[Tuple[Part, ...], ...]
    post: Tuple[str, ...]  # "T" | "lead" | "col", in order

    @property
    def stacked(self) -> bool:
        """Rows stacked with ``;`` (1-D rows become (1, n))."""
        return len(self.rows) > 1

    def parts(self) -> List[Part]:
        return [p for row in self.rows for p in row]

    def fields(self) -> List[str]:
        return [f for p in self.parts() for f in p.fields]

    def is_constant(self) -> bool:
        return all(p.const for p in self.parts())

    def is_bias(self) -> bool:
        return not self.is_constant() and all(f in _BIASES for f in self.fields())


# ------------------------------------------------------------------ parsing
def _tokens(name: str, text: str) -> List[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise NameMapError(f"names[{name!r}] = {text!r}: cannot read {text[pos:]!r} (at character {pos}); "
                               "an expression is made of field names (W_z, U_r, b_n, b_hn...), ',' ';' '+' "
                               "':x' ':h' '(' ')' '.T' '[None]' '[:, None]', 'I' and '0'.")
        tok = re.sub(r"\s+", "", m.group(1))
        out.append(tok)
        pos = m.end()
    return out


class _Parser:
    """expression := stack | "(" expression ")" postfix* ; stack := row (";" row)* ; row := part ("," part)*;
    a stack of one part may carry postfix operations too ("W_z.T")."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text, self.toks, self.i = name, text, _tokens(name, text), 0

    def fail(self, why: str) -> NameMapError:
        return NameMapError(f"names[{self.name!r}] = {self.text!r}: {why}.")

    def peek(self) -> Optional[str]:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise self.fail("it ends too early")
        self.i += 1
        return tok

    def entry(self) -> Entry:
        rows, post = self.expression()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r} after a complete expression")
        return Entry(self.name, self.text, rows, post)

    def expression(self) -> Tuple[Tuple[Tuple[Part, ...], ...], Tuple[str, ...]]:
        if self.peek() == "(":
            self.take()
            rows, post = self.expression()
            if self.take() != ")":
                raise self.fail("a '(' is not closed")
            return rows, post + self.postfix()
        stack = [self.row()]
        while self.peek() == ";":
            self.take()
            stack.append(self.row())
        rows = tuple(stack)
        post = self.postfix()
        if post and (len(rows) > 1 or len(rows[0]) > 1):
            raise self.fail("'.T', '[None]' and '[:, None]' apply to one field or to a whole array in "
                            "parentheses, e.g. '(W_r,W_z,W_n).T'")
        return rows, post

    def row(self) -> Tuple[Part, ...]:
        parts = [self.part()]
        while self.peek() == ",":
            self.take()
            parts.append(self.part())
        return tuple(parts)

    def part(self) -> Part:
        tok = self.take()
        if tok in ("I", "0"):
            return Part((), const=tok)
        if tok not in _FIELDS:
            raise self.fail(f"{tok!r} is not a GRUParams field (expected one of {', '.join(_FIELDS)}, or I, 0)")
        fields = [tok]
        while self.peek() == "+":
            self.take()
            nxt = self.take()
            if nxt not in _FIELDS:
                raise self.fail(f"{nxt!r} after '+' is not a GRUParams field")
            fields.append(nxt)
        if len(fields) > 1 and sorted(fields) != ["b_hn", "b_n"]:
            raise self.fail("the only sum a GRU layout can hold is b_n+b_hn (one candidate bias for both)")
        side = ""
        if self.peek() in (":x", ":h"):
            side = self.take()[1]
            if fields[0] not in ("b_z", "b_r") or len(fields) > 1:
                raise self.fail(f"':{side}' splits b_z or b_r between an input and a recurrent bias; "
                                f"b_n and b_hn are separate fields already")
        return Part(tuple(fields), side=side)

    def postfix(self) -> Tuple[str, ...]:
        out = []
        while self.peek() in (".T", "[None]", "[:,None]"):
            out.append({".T": "T", "[None]": "lead", "[:,None]": "col"}[self.take()])
        return tuple(out)


def _parse(name: str, text: str) -> Entry:
    if not isinstance(text, str):
        raise NameMapError(f"names[{name!r}]: expected an expression string such as 'W_z' or "
                           f"'(W_r,W_z,W_n).T'; got {text!r}.")
    entry = _Parser(name, text).entry()
    for row in entry.rows:
        dims = {p.ndim for p in row}
        if len(dims) > 1:
            raise NameMapError(f"names[{name!r}] = {text!r}: blocks side by side (',') must all be biases "
                               f"or all matrices.")
        heads = {("R" if (p.const == "I" or (p.fields and p.fields[0] in _RECURRENT)) else "D")
                 for p in row if p.ndim == 2}
        if len(heads) > 1:
            raise NameMapError(f"names[{name!r}] = {text!r}: W_* (D rows) and U_* (H rows) cannot sit side by "
                               f"side (','); stack them as rows with ';' (e.g. 'U_z;W_z' for [h, x]).")
    return entry


# ------------------------------------------------------------------ the map
class NameMap:
    """A validated name map (see the module's docstring): parse once, convert both ways, locate elements.

    Raises (at construction):
        NameMapError: an expression that cannot be read, a field missing or given twice, biases partly
            present, a split bias with one half only.
    """

    def __init__(self, names: Mapping[str, str], label: str = "your layout") -> None:
        if not isinstance(names, Mapping) or not names:
            raise NameMapError(f"names: expected a non-empty mapping from your names to expressions such as "
                               f"{{'Wz': 'W_z', 'Uz': 'U_z', ...}}; got {names!r}.")
        self.label = label
        self.entries: Tuple[Entry, ...] = tuple(_parse(str(k), v) for k, v in names.items())
        self.names = tuple(e.name for e in self.entries)
        seen: Dict[str, List[Tuple[str, str]]] = {}
        for e in self.entries:
            for p in e.parts():
                for f in p.fields:
                    seen.setdefault(f, []).append((e.name, p.side))
        for f in _WEIGHTS + _RECURRENT:
            where = seen.get(f, [])
            if not where:
                raise NameMapError(f"names: {f} appears in no entry; every weight matrix must be handed to your "
                                   f"function once (entries: {', '.join(self.names)}).")
            if len(where) > 1:
                raise NameMapError(f"names: {f} appears in {', '.join(w[0] for w in where)}; a weight matrix "
                                   f"can be handed to your function once.")
        present = [b for b in _BIASES if b in seen]
        self.bias = bool(present)
        if present and len(present) < len(_BIASES):
            absent = [b for b in _BIASES if b not in seen]
            raise NameMapError(
                f"names: {', '.join(absent)} appear(s) in no entry while {', '.join(present)} do. Give every "
                f"bias (write 'b_n+b_hn' where one candidate bias stands for both), or none for a bias-free "
                f"layout.")
        self.summed = any(len(p.fields) > 1 for e in self.entries for p in e.parts())
        for b in present:
            where = seen[b]
            sides = sorted(s for _, s in where)
            summed = b in ("b_n", "b_hn") and self.summed
            if summed and len(where) == 1:
                continue
            if sides == [""] or sides == ["h", "x"]:
                continue
            given = ", ".join(f"{n} ({s or 'whole'})" for n, s in where)
            raise NameMapError(f"names: {b} is given as {given}; "
                               f"give it whole once, or as its two halves ':x' and ':h' once each.")

    # ----------------------------------------------------------- properties
    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)

    def hidden_size(self, arrays: Mapping[str, Any]) -> int:
        """H, read from your arrays (the first entry made of fields: its blocks are H wide)."""
        for e in self.entries:
            if e.is_constant() or e.name not in arrays:
                continue
            shape = tuple(np.shape(arrays[e.name]))
            for op in reversed(e.post):
                shape = shape[::-1] if op == "T" else (shape[1:] if op == "lead" else shape[:-1])
            return int(shape[-1]) // len(e.rows[0])
        raise NameMapError(f"names: no entry to read the hidden size from among {', '.join(arrays)}.")

    def requires(self) -> Dict[str, Any]:
        """The check arguments the layout implies (reset_after=False for b_n+b_hn, bias=False bias-free)."""
        out: Dict[str, Any] = {}
        if self.summed:
            out["reset_after"] = False
        if not self.bias:
            out["bias"] = False
        return out

    def expression(self) -> str:
        return "{" + ", ".join(f"{e.name!r}: {e.expression!r}" for e in self.entries) + "}"

    # ----------------------------------------------------------- to the user
    def to_user(self, f: Mapping[str, np.ndarray], D: int, H: int) -> Dict[str, np.ndarray]:
        """The arrays your function receives, by your names (fresh, writable, C-contiguous)."""
        dtype = np.result_type(*f.values())
        return {e.name: self._build(e, f, D, H, dtype) for e in self.entries}

    def grads_to_user(self, g: Mapping[str, np.ndarray], D: int, H: int) -> Dict[str, np.ndarray]:
        """Gradients by field -> the gradients of your arrays (what a correct backward in your layout
        returns): both halves of a split bias get the field's whole gradient, b_n+b_hn gets b_n's (equal to
        b_hn's where that sum is exact), a constant's gradient is left out."""
        dtype = np.result_type(*g.values())
        out = {}
        for e in self.entries:
            if e.is_constant():
                continue
            whole = Entry(e.name, e.expression, tuple(tuple(dataclasses.replace(p, side="", fields=p.fields[:1])
                                                            for p in row) for row in e.rows), e.post)
            out[e.name] = self._build(whole, g, D, H, dtype)
        return out

    def _value(self, p: Part, f: Mapping[str, np.ndarray], H: int, dtype: Any) -> np.ndarray:
        if p.const == "I":
            return np.eye(H, dtype=dtype)
        if p.const == "0":
            return np.zeros(H, dtype=dtype)
        if len(p.fields) > 1:
            return f["b_n"] + f["b_hn"]
        v = np.asarray(f[p.fields[0]])
        if p.side:  # halves exact in binary floating point: x gets b - b/2, h gets b/2
            half = 0.5 * v
            return v - half if p.side == "x" else half
        return v

    def _build(self, e: Entry, f: Mapping[str, np.ndarray], D: int, H: int, dtype: Any) -> np.ndarray:
        rows = []
        for row in e.rows:
            blocks = [self._value(p, f, H, dtype) for p in row]
            a = np.concatenate(blocks, axis=-1) if len(blocks) > 1 else np.array(blocks[0])
            rows.append(a[None] if (e.stacked and a.ndim == 1) else a)
        a = np.concatenate(rows, axis=0) if len(rows) > 1 else rows[0]
        for op in e.post:
            a = a.T if op == "T" else (a[None] if op == "lead" else a[:, None])
        return np.ascontiguousarray(a)

    def shape(self, e: Entry, D: int, H: int) -> Tuple[int, ...]:
        rows: List[Tuple[int, ...]] = []
        for row in e.rows:
            width = H * len(row)
            if row[0].ndim == 1:
                rows.append((1, width) if e.stacked else (width,))
            else:
                rows.append((row[0].rows(D, H), width))
        shape: Tuple[int, ...] = (sum(r[0] for r in rows), rows[0][-1]) if len(rows) > 1 else rows[0]
        for op in e.post:
            shape = tuple(shape[::-1]) if op == "T" else ((1,) + tuple(shape) if op == "lead" else
                                                          tuple(shape) + (1,))
        return tuple(shape)

    # ----------------------------------------------------------- back from the user
    def _blocks(self, e: Entry, a: np.ndarray, D: int, H: int) -> List[Tuple[Part, np.ndarray]]:
        """The blocks of one of your arrays (its postfix operations undone), with their parts."""
        for op in reversed(e.post):
            a = a.T if op == "T" else (a[0] if op == "lead" else a[:, 0])
        out = []
        r0 = 0
        for row in e.rows:
            if row[0].ndim == 1:
                line = a[r0] if e.stacked else a
                r0 += 1
                out += [(p, line[k * H:(k + 1) * H]) for k, p in enumerate(row)]
            else:
                n = row[0].rows(D, H)
                block = a[r0:r0 + n] if e.stacked else a
                r0 += n
                out += [(p, block[:, k * H:(k + 1) * H]) for k, p in enumerate(row)]
        return out

    def values_from_user(self, user: Mapping[str, np.ndarray], f: Mapping[str, np.ndarray], D: int, H: int
                         ) -> Dict[str, np.ndarray]:
        """The fields your arrays stand for (a split bias: its halves' sum; b_n+b_hn: b_n, b_hn kept)."""
        out: Dict[str, np.ndarray] = {}
        halves: Dict[str, List[np.ndarray]] = {}
        for e in self.entries:
            for p, block in self._blocks(e, np.asarray(user[e.name]), D, H):
                if p.const:
                    continue
                if len(p.fields) > 1:
                    out["b_n"] = block - f["b_hn"]
                    out["b_hn"] = np.asarray(f["b_hn"])
                elif p.side:
                    halves.setdefault(p.fields[0], []).append(block)
                else:
                    out[p.fields[0]] = block
        for b, parts in halves.items():
            out[b] = parts[0] + parts[1]
        return out

    def grads_from_user(self, expr: str, items: Mapping[str, Any], D: int, H: int) -> Dict[str, np.ndarray]:
        """Your gradients (by your names; bias-only and constant entries may be missing) -> by field.

        Raises:
            TypeError / ValueError: a gradient of the wrong type or shape (the message gives the shape).
            TiedGradientError: the two halves of a split bias got different gradients.
        """
        from gru_props.adapters.base import _bias_why, _grad_array, _tied, _to_numpy

        out: Dict[str, np.ndarray] = {}
        halves: Dict[str, List[Tuple[str, np.ndarray]]] = {}
        for e in self.entries:
            if e.is_constant() or e.name not in items:
                continue
            shape = self.shape(e, D, H)
            value = _to_numpy(items[e.name])
            if getattr(value, "shape", None) == shape[1:] and shape[:1] == (1,):
                value = np.asarray(value)[None]  # given without the leading axis of 1
            elif getattr(value, "shape", None) == (1,) + shape:
                value = np.asarray(value)[0]  # given with a leading axis of 1
            g = _grad_array(expr, e.name, value, shape, f"like {e.name} {shape}")
            for p, block in self._blocks(e, g, D, H):
                if p.const:
                    continue
                if p.side:
                    halves.setdefault(p.fields[0], []).append((self.part_name(e, p), block))
                    continue
                for k, field in enumerate(p.fields):  # b_n+b_hn: one gradient for both
                    out[field] = block.copy() if k else block
        for b, parts in halves.items():
            if len(parts) == 1:  # its other half's entry was left out with the other biases
                out[b] = parts[0][1]
                continue
            (xn, xg), (hn, hg) = sorted(parts, key=lambda t: t[0] != self._half_name(b, "x"))
            out[b] = _tied(expr, b, xn, xg, hn, hg, _bias_why(_GATE[b], xn, hn))
        return out

    def _half_name(self, field: str, side: str) -> str:
        for e in self.entries:
            for p in e.parts():
                if p.fields == (field,) and p.side == side:
                    return self.part_name(e, p)
        return ""

    def part_name(self, e: Entry, part: Part) -> str:
        """How a report names a block of your array: the array, with the gate or the slice when it holds more."""
        if len(e.parts()) == 1:
            return e.name
        gates = [(_GATE.get(p.fields[0], p.fields[0][-1]) if p.fields else p.const) for p in e.parts()]
        gate = _GATE.get(part.fields[0], part.fields[0][-1]) if part.fields else part.const
        for r, row in enumerate(e.rows):
            if part in row:
                row_gates = [(_GATE.get(p.fields[0], p.fields[0][-1]) if p.fields else p.const) for p in row]
                if e.stacked and row[0].ndim == 1 and row_gates.count(gate) == 1:
                    return f"{e.name}[{r}, {gate}]"
                if not e.stacked and gates.count(gate) == 1:
                    return f"{e.name}[{gate}]"
        return f"{e.name}[{part.text()}]"

    # ----------------------------------------------------------- where an element lives
    def locate(self, field: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
        """Every (your name, index) holding ``field[index]`` (two for a split bias, shared for b_n+b_hn)."""
        out = []
        for e in self.entries:
            r0 = 0
            for row in e.rows:
                height = 1 if row[0].ndim == 1 else row[0].rows(D, H)
                for k, p in enumerate(row):
                    if field not in p.fields:
                        continue
                    if p.ndim == 1:
                        (j,) = tuple(index)[-1:] or (0,)
                        idx: Tuple[int, ...] = (r0, k * H + j) if e.stacked else (k * H + j,)
                    else:
                        i, j = tuple(index)
                        idx = (r0 + i, k * H + j)
                    for op in e.post:
                        idx = idx[::-1] if op == "T" else ((0,) + idx if op == "lead" else idx + (0,))
                    out.append((e.name, idx))
                r0 += height
        return out


def describe_location(places: Sequence[Tuple[str, Tuple[int, ...]]], prefix: str = "") -> str:
    """``"weight_hh[5, 2]"``, or two places joined with "and"."""
    return " and ".join(f"{prefix}{n}[{', '.join(map(str, i))}]" for n, i in places)


__all__ = ["Entry", "NameMap", "NameMapError", "Part", "describe_location"]
