"""``StackCase``: one input of a stacked, maybe bidirectional, maybe variable-length GRU, as generated and reported."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams

__all__ = ["StackCase"]


def _drop_unit(p: GRUParams, j: int, input_units: Tuple[int, ...]) -> GRUParams:
    """``p`` without hidden unit j (and without the input features ``input_units``, the previous layer's unit j)."""
    q = {}
    for k, v in p.arrays().items():
        if k.startswith("W"):
            q[k] = np.delete(np.delete(v, j, axis=1), list(input_units), axis=0) if input_units else np.delete(v, j, 1)
        elif k.startswith("U"):
            q[k] = np.delete(np.delete(v, j, axis=0), j, axis=1)
        else:
            q[k] = np.delete(v, j)
    return GRUParams(**q)


@dataclasses.dataclass(frozen=True, eq=False)
class StackCase:
    """A stack's input: ``x`` (B, T, D), ``h0`` (L * nd, B, H), ``layers`` (L * nd GRUParams, PyTorch's order),
    ``lengths`` (B,) or None, ``bidirectional``; for a backward case also ``dout`` (B, T, nd * H) and ``dh_n``
    (L * nd, B, H). Integer ``B, T, D, H, L`` (num_layers) and ``nd`` are read off the arrays."""

    x: np.ndarray
    h0: np.ndarray
    layers: Tuple[GRUParams, ...]
    lengths: Optional[np.ndarray]
    bidirectional: bool
    dout: Any = None  # (B, T, nd * H) or None
    dh_n: Any = None  # (L * nd, B, H) or None

    def __post_init__(self) -> None:
        nd = 2 if self.bidirectional else 1
        B, T, D = self.x.shape
        H = self.layers[0].H
        if len(self.layers) % nd or self.h0.shape != (len(self.layers), B, H):
            raise ValueError(f"StackCase: h0 {self.h0.shape} does not fit {len(self.layers)} layers of H = {H}.")
        if self.lengths is not None and (self.lengths.shape != (B,) or np.any(self.lengths > T)):
            raise ValueError(f"StackCase.lengths: expected (B,) = ({B},) within 0 .. {T}; got {self.lengths}.")
        if self.dout is not None and self.dout.shape != (B, T, nd * H):
            raise ValueError(f"StackCase.dout: expected {(B, T, nd * H)}; got {self.dout.shape}.")

    # ------------------------------------------------------------------ sizes
    @property
    def nd(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def B(self) -> int:
        return int(self.x.shape[0])

    @property
    def T(self) -> int:
        return int(self.x.shape[1])

    @property
    def D(self) -> int:
        return int(self.x.shape[2])

    @property
    def H(self) -> int:
        return self.layers[0].H

    @property
    def L(self) -> int:
        return len(self.layers) // self.nd

    @property
    def gradient(self) -> bool:
        return self.dout is not None

    @property
    def dtype(self) -> np.dtype:
        arrays = [self.x, self.h0] + ([self.dout, self.dh_n] if self.gradient else [])
        return np.result_type(*[a.dtype for a in arrays if a is not None], *[p.dtype for p in self.layers])

    @property
    def valid(self) -> np.ndarray:
        """(B, T) booleans: True at the real steps of each sequence."""
        if self.lengths is None:
            return np.ones((self.B, self.T), dtype=bool)
        return np.arange(self.T)[None, :] < self.lengths[:, None]

    def dims(self) -> Dict[str, int]:
        return {"T": self.T, "B": self.B, "H": self.H, "D": self.D}

    def dims_text(self) -> str:
        text = f"B={self.B}, T={self.T}, D={self.D}, H={self.H}, num_layers={self.L}"
        text += ", bidirectional" if self.bidirectional else ""
        if self.lengths is not None:
            text += f", lengths={self.lengths.tolist()}"
        return text + f" ({self.dtype})"

    def __repr__(self) -> str:
        return f"StackCase({self.dims_text()})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def replace(self, **changes: Any) -> "StackCase":
        return dataclasses.replace(self, **changes)

    # -------------------------------------------------------------- shrinking
    def without(self, axis: str, index: int) -> "StackCase":
        """One batch row, time step, input feature or hidden unit (in every layer and direction) removed."""
        c: Dict[str, Any] = dict(x=self.x, h0=self.h0, layers=self.layers, lengths=self.lengths, dout=self.dout,
                                 dh_n=self.dh_n)
        nd, H = self.nd, self.H
        if axis == "B":
            c.update(x=np.delete(self.x, index, 0), h0=np.delete(self.h0, index, 1))
            if self.lengths is not None:
                c["lengths"] = np.delete(self.lengths, index)
            if self.gradient:
                c.update(dout=np.delete(self.dout, index, 0), dh_n=np.delete(self.dh_n, index, 1))
        elif axis == "T":
            c["x"] = np.delete(self.x, index, 1)
            if self.lengths is not None:
                c["lengths"] = self.lengths - (self.lengths > index)
            if self.gradient:
                c["dout"] = np.delete(self.dout, index, 1)
        elif axis == "D":
            c["x"] = np.delete(self.x, index, 2)
            c["layers"] = tuple(p.replace(**{k: np.delete(getattr(p, k), index, 0) for k in ("W_z", "W_r", "W_n")})
                                if i < nd else p for i, p in enumerate(self.layers))
        elif axis == "H":
            if H <= 1:
                raise ValueError("StackCase.without: H = 1 cannot shrink.")
            inputs = tuple(index + d * H for d in range(nd))
            c["layers"] = tuple(_drop_unit(p, index, inputs if i >= nd else ()) for i, p in enumerate(self.layers))
            c["h0"] = np.delete(self.h0, index, 2)
            if self.gradient:
                c["dout"] = np.delete(self.dout, list(inputs), 2)
                c["dh_n"] = np.delete(self.dh_n, index, 2)
        else:
            raise ValueError(f"axis: expected 'B', 'T', 'D' or 'H', got {axis!r}.")
        return StackCase(bidirectional=self.bidirectional, **c)

    def named_arrays(self) -> List[Tuple[str, np.ndarray]]:
        out = [("x", self.x), ("h0", self.h0)]
        out += [(f"layers[{i}].{k}", v) for i, p in enumerate(self.layers) for k, v in p.arrays().items()]
        if self.gradient:
            out += [("dout", self.dout), ("dh_n", self.dh_n)]
        return out

    def with_array(self, name: str, value: np.ndarray) -> "StackCase":
        if name in ("x", "h0", "dout", "dh_n"):
            return self.replace(**{name: value})
        if name.startswith("layers["):
            i, field = name[len("layers["):].split("].")
            layers = list(self.layers)
            layers[int(i)] = layers[int(i)].replace(**{field: value})
            return self.replace(layers=tuple(layers))
        raise ValueError(f"name: expected 'x', 'h0', 'dout', 'dh_n' or 'layers[i].<field>', got {name!r}.")

    def astype(self, dtype: Any) -> "StackCase":
        return self.replace(x=self.x.astype(dtype), h0=self.h0.astype(dtype),
                            layers=tuple(p.astype(dtype) for p in self.layers),
                            dout=None if self.dout is None else self.dout.astype(dtype),
                            dh_n=None if self.dh_n is None else self.dh_n.astype(dtype))

    def describe(self) -> str:
        """Python source that rebuilds this case."""
        dt = f"np.{np.dtype(self.dtype)}"

        def arr(a: np.ndarray) -> str:
            return f"np.array({np.asarray(a, dtype=np.float64).tolist()!r}, dtype={dt})"

        lines = [f"# {self.dims_text()}", f"x = {arr(self.x)}", f"h0 = {arr(self.h0)}", "layers = ["]
        for p in self.layers:
            lines.append("    GRUParams(" + ", ".join(f"{k}={arr(v)}" for k, v in p.arrays().items()) + "),")
        lines.append("]")
        lines.append(f"lengths = {None if self.lengths is None else 'np.array(' + repr(self.lengths.tolist()) + ')'}")
        if self.gradient:
            lines += [f"dout = {arr(self.dout)}", f"dh_n = {arr(self.dh_n)}"]
        return "\n".join(lines)
