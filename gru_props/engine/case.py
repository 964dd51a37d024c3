"""What every contract's case shares: sizes read off the arrays, and seeded inputs.

``forward.case.GRUCase`` (x, h0, params) and ``backward.case.GradCase`` (+ dhs, dh_T) build on it.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from gru_props.core.params import GRUParams


class Sized:
    """Integer sizes B, T, D, H read off ``x`` (B, T, D) and ``params`` (D, H), for the case classes."""

    x: np.ndarray
    params: GRUParams

    @property
    def B(self) -> int:
        return int(self.x.shape[0])

    @property
    def T(self) -> int:
        return int(self.x.shape[1])

    @property
    def D(self) -> int:
        return self.params.D

    @property
    def H(self) -> int:
        return self.params.H

    def dims_text(self) -> str:
        return f"B={self.B}, T={self.T}, D={self.D}, H={self.H} ({self.dtype})"  # type: ignore[attr-defined]

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        # Hypothesis' pretty printer would list every field of the dataclass.
        printer.text(repr(self))  # type: ignore[attr-defined]


def seeded_inputs(seed: int, B: int, T: int, D: int, H: int, *, scale: float = 1.0, x_scale: float = 1.0,
                  bias: bool = True) -> Tuple[np.random.Generator, np.ndarray, np.ndarray, GRUParams]:
    """(rng, x, h0, params) from one seed: params uniform in [-scale, scale] (zero biases with
    ``bias=False``), x normal times ``x_scale``, h0 uniform in [-1, 1]; float64."""
    rng = np.random.default_rng(seed)
    p = GRUParams.random(D, H, seed=rng, scale=scale)
    if not bias:
        zero = np.zeros(H)
        p = p.replace(b_z=zero, b_r=zero, b_n=zero, b_hn=zero)
    x = x_scale * rng.standard_normal((B, T, D))
    h0 = rng.uniform(-1, 1, (B, H))
    return rng, x, h0, p
