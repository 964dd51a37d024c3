"""Level 1: the GRU written to be read, one equation per line.

This tier mirrors the equations of the SPEC gate by gate, with one separate
weight matrix per gate and a plain loop over time. It is the reference the
checker compares user implementations against: when in doubt, read this file.

Shapes: B batch, T time steps, D input features, H hidden units. Row vectors:
``x_t`` is (B, D), ``h`` is (B, H), weights multiply on the right.

::

    z_t = sigmoid(x_t W_z + h_{t-1} U_z + b_z)          update gate
    r_t = sigmoid(x_t W_r + h_{t-1} U_r + b_r)          reset gate
    reset_after=False:  n_t = tanh(x_t W_n + (r_t * h_{t-1}) U_n + b_n + b_hn)
    reset_after=True:   n_t = tanh(x_t W_n + b_n + r_t * (h_{t-1} U_n + b_hn))
    h_t = z_t * h_{t-1} + (1 - z_t) * n_t               z -> 1 keeps h_{t-1}
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from gru_props._math import sigmoid
from gru_props._params import GRUParams
from gru_props._validation import check_forward_args, check_reset_after, check_step_args

__all__ = ["gru_step", "gru_forward"]


def _cell(x_t: np.ndarray, h_prev: np.ndarray, p: GRUParams, reset_after: bool) -> np.ndarray:
    """One GRU step on validated arrays of the computation dtype."""
    z = sigmoid(x_t @ p.W_z + h_prev @ p.U_z + p.b_z)  # update gate  (B, H)
    r = sigmoid(x_t @ p.W_r + h_prev @ p.U_r + p.b_r)  # reset gate   (B, H)
    if reset_after:
        n = np.tanh(x_t @ p.W_n + p.b_n + r * (h_prev @ p.U_n + p.b_hn))
    else:
        n = np.tanh(x_t @ p.W_n + (r * h_prev) @ p.U_n + p.b_n + p.b_hn)
    return z * h_prev + (1 - z) * n  # (B, H)


def _cast(p: GRUParams, dtype: np.dtype) -> GRUParams:
    return p if p.dtype == dtype else p.astype(dtype)


def gru_step(
    x_t: np.ndarray,
    h_prev: Optional[np.ndarray],
    params: GRUParams,
    reset_after: bool = False,
) -> np.ndarray:
    """One GRU time step.

    Args:
        x_t: input at this step, (B, D).
        h_prev: previous hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.

    Returns:
        h_t, (B, H), float32 if every input is float32, else float64.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a GRUParams.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    reset_after = check_reset_after(reset_after)
    x_t, h_prev, dtype = check_step_args(x_t, h_prev, params)
    p = _cast(params, dtype)
    h_t = _cell(x_t.astype(dtype, copy=False), h_prev.astype(dtype, copy=False), p, reset_after)
    assert h_t.shape == h_prev.shape and h_t.dtype == dtype
    return h_t


def gru_forward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: GRUParams,
    reset_after: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Run the GRU over a batch-first sequence.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.

    Returns:
        ``(hs, h_T)``: every hidden state (B, T, H) and the last one (B, H).
        T = 0 gives hs of shape (B, 0, H) and h_T equal to h0.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a GRUParams.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    reset_after = check_reset_after(reset_after)
    x, h0, dtype = check_forward_args(x, h0, params)
    p = _cast(params, dtype)
    B, T, _ = x.shape
    h = h0.astype(dtype, copy=True)
    states = []
    for t in range(T):
        h = _cell(x[:, t, :].astype(dtype, copy=False), h, p, reset_after)
        states.append(h)
    hs = np.stack(states, axis=1) if states else np.zeros((B, 0, params.H), dtype=dtype)
    assert hs.shape == (B, T, params.H) and h.shape == (B, params.H)
    assert hs.dtype == dtype and h.dtype == dtype
    return hs, h
