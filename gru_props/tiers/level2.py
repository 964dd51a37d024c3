"""Level 2: the vectorized GRU.

The three gates' weights are stacked side by side, W (D, 3H) and U (H, 3H) in
gate order z, r, n, so each time step costs two matrix products instead of six,
and the only Python loop is the one over time. Same equations and contract as
``gru_props.level1``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from gru_props.core.numerics import sigmoid
from gru_props.core.params import GRUParams
from gru_props.core.validation import check_forward_args, check_reset_after, check_step_args

__all__ = ["gru_step", "gru_forward"]


def _stack(p: GRUParams, dtype: np.dtype) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """W (D, 3H), U (H, 3H), b (3H,) and b_hn (H,), in the computation dtype."""
    W = np.concatenate([p.W_z, p.W_r, p.W_n], axis=1).astype(dtype, copy=False)
    U = np.concatenate([p.U_z, p.U_r, p.U_n], axis=1).astype(dtype, copy=False)
    b = np.concatenate([p.b_z, p.b_r, p.b_n]).astype(dtype, copy=False)
    return W, U, b, p.b_hn.astype(dtype, copy=False)


def _cell(
    xw: np.ndarray, h: np.ndarray, U: np.ndarray, b_hn: np.ndarray, reset_after: bool
) -> np.ndarray:
    """One step given the input projection ``xw = x_t W + b`` (B, 3H)."""
    H = h.shape[1]
    if reset_after:
        hu = h @ U  # (B, 3H)
        zr = sigmoid(xw[:, : 2 * H] + hu[:, : 2 * H])
        z, r = zr[:, :H], zr[:, H:]
        n = np.tanh(xw[:, 2 * H:] + r * (hu[:, 2 * H:] + b_hn))
    else:
        zr = sigmoid(xw[:, : 2 * H] + h @ U[:, : 2 * H])
        z, r = zr[:, :H], zr[:, H:]
        n = np.tanh(xw[:, 2 * H:] + (r * h) @ U[:, 2 * H:] + b_hn)
    return n + z * (h - n)  # = z * h + (1 - z) * n


def gru_step(
    x_t: np.ndarray,
    h_prev: Optional[np.ndarray],
    params: GRUParams,
    reset_after: bool = False,
) -> np.ndarray:
    """One GRU time step: x_t (B, D), h_prev (B, H) or None -> h_t (B, H).

    Raises ``TypeError``/``ValueError`` on bad input as ``level1.gru_step`` does.
    """
    reset_after = check_reset_after(reset_after)
    x_t, h_prev, dtype = check_step_args(x_t, h_prev, params)
    W, U, b, b_hn = _stack(params, dtype)
    h_t = _cell(x_t.astype(dtype, copy=False) @ W + b, h_prev.astype(dtype, copy=False), U, b_hn, reset_after)
    assert h_t.shape == h_prev.shape and h_t.dtype == dtype
    return h_t


def gru_forward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: GRUParams,
    reset_after: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Run the GRU over x (B, T, D) from h0 (B, H) or None; returns hs (B, T, H), h_T (B, H).

    Raises ``TypeError``/``ValueError`` on bad input as ``level1.gru_forward`` does.
    """
    reset_after = check_reset_after(reset_after)
    x, h0, dtype = check_forward_args(x, h0, params)
    W, U, b, b_hn = _stack(params, dtype)
    B, T, _ = x.shape
    hs = np.empty((B, T, params.H), dtype=dtype)
    h = h0.astype(dtype, copy=True)
    for t in range(T):
        h = _cell(x[:, t, :].astype(dtype, copy=False) @ W + b, h, U, b_hn, reset_after)
        hs[:, t, :] = h
    assert hs.shape == (B, T, params.H) and h.shape == (B, params.H) and hs.dtype == dtype
    return hs, h
