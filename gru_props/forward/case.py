"""``GRUCase``: one concrete GRU input (x, h0, params), as generated and as reported."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.engine.case import Sized

__all__ = ["GRUCase"]


@dataclasses.dataclass(frozen=True, eq=False)
class GRUCase(Sized):
    """A GRU input: ``x`` (B, T, D), ``h0`` (B, H) and ``params``.

    The integer attributes ``B``, ``T``, ``D``, ``H`` are read off the arrays.
    ``h0`` is always an array here (zeros stand for "no initial state").
    Raises ``ValueError`` when the shapes do not fit together.
    """

    x: np.ndarray
    h0: np.ndarray
    params: GRUParams

    def __post_init__(self) -> None:
        if self.x.ndim != 3 or self.x.shape[2] != self.params.D:
            raise ValueError(
                f"GRUCase.x: expected shape (B, T, D) with D = {self.params.D}; got {self.x.shape}."
            )
        if self.h0.shape != (self.x.shape[0], self.params.H):
            raise ValueError(
                f"GRUCase.h0: expected shape (B, H) = ({self.x.shape[0]}, {self.params.H}); "
                f"got {self.h0.shape}."
            )

    def __repr__(self) -> str:
        head = f"GRUCase(B={self.B}, T={self.T}, D={self.D}, H={self.H}, dtype={self.dtype}"
        if self.x.size + self.h0.size + sum(a.size for a in self.params.arrays().values()) > 200:
            return head + ")"
        arrays = ", ".join(
            f"{k}={np.asarray(v).tolist()!r}"
            for k, v in [("x", self.x), ("h0", self.h0), *self.params.arrays().items()]
            if np.any(v) or k in ("x", "h0")
        )
        return f"{head}, {arrays}; other parameters 0)"

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(self.x.dtype, self.h0.dtype, self.params.dtype)

    def dims(self) -> Dict[str, int]:
        """The sizes as a mapping, in the order the shrinker reduces them."""
        return {"T": self.T, "B": self.B, "H": self.H, "D": self.D}

    def named_arrays(self) -> List[Tuple[str, np.ndarray]]:
        """Every array with its name: ``x``, ``h0``, then ``params.W_z`` ... ``params.b_hn``."""
        return [("x", self.x), ("h0", self.h0)] + [
            (f"params.{k}", v) for k, v in self.params.arrays().items()
        ]

    def with_array(self, name: str, value: np.ndarray) -> "GRUCase":
        """This case with one named array (as in ``named_arrays``) replaced."""
        if name == "x":
            return GRUCase(value, self.h0, self.params)
        if name == "h0":
            return GRUCase(self.x, value, self.params)
        if name.startswith("params."):
            return GRUCase(self.x, self.h0, self.params.replace(**{name[len("params."):]: value}))
        raise ValueError(f"name: expected 'x', 'h0' or 'params.<field>', got {name!r}.")

    def step(self, t: int = 0) -> "GRUCase":
        """The single time step ``t`` of this case, as a case with T = 1."""
        return GRUCase(self.x[:, t : t + 1, :], self.h0, self.params)

    def without(self, axis: str, index: int) -> "GRUCase":
        """This case with one batch row, time step, input feature or hidden unit removed.

        ``axis`` is "B", "T", "D" or "H"; removing hidden unit j removes row and
        column j of every recurrent matrix, column j of every input matrix and
        entry j of every bias and of h0.
        """
        p = self.params.arrays()
        if axis == "B":
            return GRUCase(np.delete(self.x, index, axis=0), np.delete(self.h0, index, axis=0), self.params)
        if axis == "T":
            return GRUCase(np.delete(self.x, index, axis=1), self.h0, self.params)
        if axis == "D":
            q = {k: (np.delete(v, index, axis=0) if k.startswith("W") else v) for k, v in p.items()}
            return GRUCase(np.delete(self.x, index, axis=2), self.h0, GRUParams(**q))
        if axis == "H":
            q = {}
            for k, v in p.items():
                if k.startswith("W"):
                    q[k] = np.delete(v, index, axis=1)
                elif k.startswith("U"):
                    q[k] = np.delete(np.delete(v, index, axis=0), index, axis=1)
                else:
                    q[k] = np.delete(v, index)
            return GRUCase(self.x, np.delete(self.h0, index, axis=1), GRUParams(**q))
        raise ValueError(f"axis: expected 'B', 'T', 'D' or 'H', got {axis!r}.")

    def astype(self, dtype: Any) -> "GRUCase":
        return GRUCase(self.x.astype(dtype), self.h0.astype(dtype), self.params.astype(dtype))

    def describe(self, max_elements: Optional[int] = 400) -> str:
        """Python source that rebuilds this case (arrays printed in full when small)."""
        lines = [f"# B={self.B}, T={self.T}, D={self.D}, H={self.H}, dtype={self.dtype}"]
        dt = f"np.{self.params.dtype}"

        def arr(a: np.ndarray) -> str:
            if a.size == 0:
                return f"np.zeros({a.shape}, dtype={dt})"
            if max_elements is not None and a.size > max_elements:
                return f"<{a.shape} array of {a.dtype}, too large to print>"
            body = np.array2string(
                np.asarray(a, dtype=np.float64), separator=", ", threshold=10**9,
                max_line_width=88, floatmode="unique",
            )
            return f"np.array({body}, dtype={dt})"

        lines.append(f"x = {arr(self.x)}  # (B, T, D)")
        lines.append(f"h0 = {arr(self.h0)}  # (B, H)")
        lines.append("params = GRUParams(")
        for name, value in self.params.arrays().items():
            lines.append(f"    {name}={arr(value)},")
        lines.append(")")
        return "\n".join(lines)
