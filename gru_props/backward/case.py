"""``GradCase``: one input of a backward pass, (x, h0, params, dhs, dh_T), as generated and reported."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.engine.case import Sized
from gru_props.forward.case import GRUCase

__all__ = ["GradCase"]


@dataclasses.dataclass(frozen=True, eq=False)
class GradCase(Sized):
    """A backward-pass input: the forward's ``x`` (B, T, D), ``h0`` (B, H), ``params``, and the
    upstream gradients ``dhs`` = dL/dhs (B, T, H) and ``dh_T`` = dL/dh_T (B, H).

    The loss is ``L = sum(hs * dhs) + sum(h_T * dh_T)``. Integer ``B, T, D, H``
    are read off the arrays. With ``step=True`` the case is one time step
    (T = 1, dh_T zero): ``x_t`` (B, D), ``h_prev`` (B, H) and ``dh_t`` (B, H)
    name what a step backward receives.
    """

    x: np.ndarray
    h0: np.ndarray
    params: GRUParams
    dhs: np.ndarray
    dh_T: np.ndarray
    step: bool = False

    def __post_init__(self) -> None:
        GRUCase(self.x, self.h0, self.params)  # checks x and h0 against params
        if self.dhs.shape != self.x.shape[:2] + (self.params.H,):
            raise ValueError(f"GradCase.dhs: expected shape (B, T, H) = {self.x.shape[:2] + (self.params.H,)}; "
                             f"got {self.dhs.shape}.")
        if self.dh_T.shape != self.h0.shape:
            raise ValueError(f"GradCase.dh_T: expected shape (B, H) = {self.h0.shape}; got {self.dh_T.shape}.")
        if self.step and self.x.shape[1] != 1:
            raise ValueError(f"GradCase: a step case has T = 1; got x of shape {self.x.shape}.")

    def __repr__(self) -> str:
        return f"GradCase(B={self.B}, T={self.T}, D={self.D}, H={self.H}, dtype={self.dtype}, step={self.step})"

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(self.x.dtype, self.h0.dtype, self.params.dtype, self.dhs.dtype, self.dh_T.dtype)

    # --------------------------------------------------------- the step form
    @property
    def x_t(self) -> np.ndarray:
        """The step input (B, D) of a step case."""
        return self.x[:, 0, :]

    @property
    def h_prev(self) -> np.ndarray:
        """The previous state (B, H) of a step case (the same array as ``h0``)."""
        return self.h0

    @property
    def dh_t(self) -> np.ndarray:
        """dL/dh_t (B, H) of a step case."""
        return self.dhs[:, 0, :]

    @property
    def forward_case(self) -> GRUCase:
        return GRUCase(self.x, self.h0, self.params)

    # -------------------------------------------------------------- shrinking
    def dims(self) -> Dict[str, int]:
        d = {"T": self.T, "B": self.B, "H": self.H, "D": self.D}
        if self.step:
            del d["T"]
        return d

    def without(self, axis: str, index: int) -> "GradCase":
        """This case with one batch row, time step, input feature or hidden unit removed."""
        base = GRUCase(self.x, self.h0, self.params).without(axis, index)
        dhs, dh_T = self.dhs, self.dh_T
        if axis == "B":
            dhs, dh_T = np.delete(dhs, index, axis=0), np.delete(dh_T, index, axis=0)
        elif axis == "T":
            dhs = np.delete(dhs, index, axis=1)
        elif axis == "H":
            dhs, dh_T = np.delete(dhs, index, axis=2), np.delete(dh_T, index, axis=1)
        return GradCase(base.x, base.h0, base.params, dhs, dh_T, self.step)

    def named_arrays(self) -> List[Tuple[str, np.ndarray]]:
        names = [("x", self.x), ("h0", self.h0)]
        names += [(f"params.{k}", v) for k, v in self.params.arrays().items()]
        names.append(("dhs", self.dhs))
        if not self.step:
            names.append(("dh_T", self.dh_T))
        return names

    def with_array(self, name: str, value: np.ndarray) -> "GradCase":
        fields: Dict[str, Any] = dict(x=self.x, h0=self.h0, params=self.params, dhs=self.dhs, dh_T=self.dh_T,
                                      step=self.step)
        if name.startswith("params."):
            fields["params"] = self.params.replace(**{name[len("params."):]: value})
        elif name in ("x", "h0", "dhs", "dh_T"):
            fields[name] = value
        else:
            raise ValueError(f"name: expected 'x', 'h0', 'dhs', 'dh_T' or 'params.<field>', got {name!r}.")
        return GradCase(**fields)

    def astype(self, dtype: Any) -> "GradCase":
        return GradCase(self.x.astype(dtype), self.h0.astype(dtype), self.params.astype(dtype),
                        self.dhs.astype(dtype), self.dh_T.astype(dtype), self.step)
