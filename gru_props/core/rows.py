"""What the Level 3 LSTM and tanh RNN keep of a forward for its backward: a cache of rows
[h_{t-1}, x_t, 1] (one (T+1, B, H+D+1) buffer) and the bookkeeping that makes a stale cache an error.

``RowCache`` is the base of ``gru_props.lstm.LSTMCache`` and ``gru_props.rnn.RNNCache``: it records the
shapes and dtype it holds, the params object that filled it and whether it is filled, and
``RowCache.check`` raises unless it holds the forward of exactly the arguments a backward was given.
Imports nothing from gru_props.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np


def rows(T: int, B: int, D: int, H: int, dtype: np.dtype) -> np.ndarray:
    """The (T+1, B, H+D+1) buffer of rows [h_{t-1}, x_t, 1]; h and x unset."""
    z = np.empty((T + 1, B, H + D + 1), dtype=dtype)
    z[:, :, H + D] = 1
    return z


class RowCache:
    """A forward kept for its backward (subclasses name the net: ``forward_call``, ``params_kind``,
    ``upstream``, what its ``_allocate`` adds to the rows ``z``)."""

    #: How a report calls the forward that fills the cache, the params' class, the upstream gradients.
    forward_call = "forward(x, h0, params, cache=cache)"
    params_kind = "params"
    upstream = "dhs or dh_T"

    def __init__(self) -> None:
        self._key: Optional[Tuple[Any, ...]] = None
        self._params: Any = None
        self._filled = False

    def clear(self) -> None:
        """Drop the buffers (the memory is freed when nothing else holds them)."""
        self.__init__()  # type: ignore[misc]

    def __repr__(self) -> str:
        if not self._filled:
            return f"{type(self).__name__}(empty)"
        B, T, D, H, dt = self._key  # type: ignore[misc]
        return f"{type(self).__name__}(B={B}, T={T}, D={D}, H={H}, dtype={np.dtype(dt)})"

    def _reuse(self, B: int, T: int, D: int, H: int, dtype: np.dtype) -> bool:
        """Mark the cache empty for a new forward; True when its buffers already have these shapes (else the
        rows ``z`` are allocated anew and the subclass allocates the rest)."""
        key = (B, T, D, H, dtype.str)
        self._filled = False
        self._params = None
        if key == self._key:
            return True
        self._key = key
        self.z = rows(T, B, D, H, dtype)  # [h_{t-1}, x_t, 1] per step; z[T, :, :H] = h_T
        return False

    def _fill(self, params: Any) -> None:
        self._params = params
        self._filled = True

    def check(self, x: np.ndarray, h0: np.ndarray, params: Any, dtype: np.dtype,
              states: Sequence[Tuple[str, Any, np.ndarray]] = ()) -> None:
        """Raise ``ValueError`` unless this cache holds the forward of exactly these arguments (x, h0 and any
        other initial ``states`` (name, given, kept) equal to those it was filled from, in ``dtype``)."""
        if not self._filled:
            raise ValueError(f"cache: it holds no forward. Call {self.forward_call} first, or pass cache=None to "
                             f"run the forward here.")
        B, T, D = x.shape
        key = (B, T, D, params.H, dtype.str)
        if self._key != key:
            cB, cT, cD, cH, cdt = self._key  # type: ignore[misc]
            raise ValueError(
                f"cache: it holds a forward with B={cB}, T={cT}, D={cD}, H={cH} in {np.dtype(cdt)}; "
                f"this backward has B={B}, T={T}, D={D}, H={params.H} in {dtype} (a float64 {self.upstream} "
                f"makes a float32 backward run in float64). Pass arrays of the forward's dtype, or cache=None.")
        if self._params is not params:
            raise ValueError(f"cache: it holds a forward of another {self.params_kind} object. Run "
                             f"{self.forward_call.split('(')[0]} with these params and this cache first, or pass "
                             f"cache=None.")
        H = params.H
        pairs = [("x", x.transpose(1, 0, 2), self.z[:T, :, H:H + D]), ("h0", h0, self.z[0, :, :H]), *states]
        for name, got, kept in pairs:
            # Exact equality in the computation dtype (the cache holds the cast); NaNs compare equal only on
            # the slow path, as they rarely occur.
            got = np.asarray(got, dtype=dtype)
            if not (np.array_equal(got, kept) or np.array_equal(got, kept, equal_nan=True)):
                raise ValueError(
                    f"{name}: differs from the {name} of the forward that filled the cache (changed in place, or "
                    f"another array). Run {self.forward_call.split('(')[0]} again with cache=cache, or pass "
                    f"cache=None.")


__all__ = ["RowCache", "rows"]
