"""Level 1: the GRU written to be read, one equation per line.

This tier mirrors the equations (README, 'The GRU, both conventions') gate by gate, with one separate
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

``gru_backward`` is backpropagation through time for the same equations,
written to be read next to the chain rule: one line per derivative. It is the
float64 oracle gradients are checked against.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from gru_props.core.numerics import sigmoid
from gru_props.core.params import GRUParams
from gru_props.core.validation import (
    check_backward_args,
    check_forward_args,
    check_lengths,
    check_reset_after,
    check_step_args,
)

__all__ = ["gru_step", "gru_forward", "gru_backward"]


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
    *,
    lengths: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Run the GRU over a batch-first sequence.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.
        lengths: None (every sequence has T steps) or integers (B,) with
            0 <= lengths[b] <= T: sequence b is its first lengths[b] steps, the
            rest of x[b] is padding and never read (packed-sequence semantics,
            as ``torch.nn.utils.rnn.pack_padded_sequence`` gives).

    Returns:
        ``(hs, h_T)``: every hidden state (B, T, H) and the last one (B, H).
        T = 0 gives hs of shape (B, 0, H) and h_T equal to h0. With lengths,
        ``hs[b, t]`` is zero for t >= lengths[b] and ``h_T[b]`` is the state
        after step lengths[b] - 1 (h0[b] when lengths[b] == 0).

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a
            GRUParams; lengths not integers.
        ValueError: wrong rank or a B, D or H that does not match; lengths not
            of shape (B,) or outside 0 .. T.
    """
    reset_after = check_reset_after(reset_after)
    x, h0, dtype = check_forward_args(x, h0, params)
    p = _cast(params, dtype)
    B, T, _ = x.shape
    lengths = check_lengths(lengths, B, T)
    h = h0.astype(dtype, copy=True)
    states = []
    for t in range(T):
        x_t = x[:, t, :].astype(dtype, copy=False)
        if lengths is None:
            h = _cell(x_t, h, p, reset_after)
            states.append(h)
            continue
        valid = (t < lengths)[:, None]  # (B, 1): which sequences still have a step t
        h_new = _cell(np.where(valid, x_t, 0).astype(dtype), h, p, reset_after)  # padding is never read
        h = np.where(valid, h_new, h)  # a finished sequence keeps its last state
        states.append(np.where(valid, h_new, 0).astype(dtype))  # and outputs zeros
    hs = np.stack(states, axis=1) if states else np.zeros((B, 0, params.H), dtype=dtype)
    assert hs.shape == (B, T, params.H) and h.shape == (B, params.H)
    assert hs.dtype == dtype and h.dtype == dtype
    return hs, h


def gru_backward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: GRUParams,
    dhs: Optional[np.ndarray],
    dh_T: Optional[np.ndarray] = None,
    reset_after: bool = False,
    *,
    lengths: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, GRUParams]:
    """Backpropagation through time: the gradients of a loss through ``gru_forward``.

    The loss is ``L = sum(hs * dhs) + sum(h_T * dh_T)``, i.e. ``dhs`` and
    ``dh_T`` are the gradients dL/dhs and dL/dh_T that reach the GRU's outputs
    from whatever follows it.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        dhs: dL/dhs, (B, T, H); None means zeros (a loss on h_T only).
        dh_T: dL/dh_T, (B, H), added on top of ``dhs[:, -1]``; None means zeros.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.
        lengths: as for ``gru_forward``: None, or integers (B,) in 0 .. T. Then
            dh_T reaches each sequence at its last valid step, dhs at padded
            steps is ignored (those outputs are constant zeros), and dx is
            zero at padded steps.

    Returns:
        ``(dx, dh0, grads)``: dL/dx (B, T, D), dL/dh0 (B, H), and a
        ``GRUParams`` holding dL/d of every parameter (W_* (D, H), U_* (H, H),
        b_* (H,)). float32 if every input is float32, else float64. T = 0 gives
        dx of shape (B, 0, D), dh0 equal to dh_T and zero parameter gradients.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a
            GRUParams; lengths not integers.
        ValueError: wrong rank or a B, T, D or H that does not match (the
            message names the argument, the expected and the received shape);
            lengths not of shape (B,) or outside 0 .. T.
    """
    reset_after = check_reset_after(reset_after)
    x, h0, dhs, dh_T, dtype = check_backward_args(x, h0, params, dhs, dh_T)
    p = _cast(params, dtype)
    x = x.astype(dtype, copy=False)
    dhs = dhs.astype(dtype, copy=False)
    B, T, D = x.shape
    lengths = check_lengths(lengths, B, T)
    # valid[t]: (B, 1), 1 where sequence b has a step t (all ones without lengths).
    valid = [np.ones((B, 1), dtype=dtype) if lengths is None else (t < lengths)[:, None].astype(dtype)
             for t in range(T)]
    if lengths is not None:
        x = np.where(np.arange(T)[None, :, None] < lengths[:, None, None], x, 0).astype(dtype)  # never read

    # Forward again, keeping what the chain rule needs at every step.
    h_prev_at, z_at, r_at, n_at, g_at = [], [], [], [], []
    h = h0.astype(dtype, copy=False)
    for t in range(T):
        x_t = x[:, t, :]
        z = sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)  # update gate
        r = sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)  # reset gate
        if reset_after:
            g = h @ p.U_n + p.b_hn  # the recurrent part of the candidate, which r scales
            n = np.tanh(x_t @ p.W_n + p.b_n + r * g)
        else:
            g = None
            n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h_prev_at.append(h)
        z_at.append(z)
        r_at.append(r)
        n_at.append(n)
        g_at.append(g)
        h_new = z * h + (1 - z) * n
        h = h_new if lengths is None else np.where(valid[t] > 0, h_new, h)  # a finished sequence keeps h

    grads = {name: np.zeros_like(a) for name, a in p.arrays().items()}
    dx = np.zeros((B, T, D), dtype=dtype)
    dh_next = dh_T.astype(dtype, copy=True)  # dL/dh_t arriving from after step t
    for t in reversed(range(T)):
        x_t, h_prev = x[:, t, :], h_prev_at[t]
        z, r, n, g = z_at[t], r_at[t], n_at[t], g_at[t]
        # dL/dh_t: this step's own loss plus all later steps'. With lengths, a padded step outputs a
        # constant zero (its dhs counts for nothing) and passes h_{t-1} on unchanged (dL/dh_{t-1} = dh_next).
        m = valid[t]
        dh = m * (dhs[:, t, :] + dh_next)

        # h_t = z * h_prev + (1 - z) * n
        dz = dh * (h_prev - n)  # dL/dz
        dn = dh * (1 - z)  # dL/dn
        dh_prev = dh * z  # dL/dh_prev through the direct path

        # n = tanh(a_n)
        da_n = dn * (1 - n ** 2)  # tanh'(a) = 1 - tanh(a)^2
        if reset_after:
            # a_n = x_t W_n + b_n + r * g,   g = h_prev U_n + b_hn
            dr = da_n * g  # dL/dr
            dg = da_n * r  # dL/dg
            grads["U_n"] += h_prev.T @ dg  # dL/dU_n
            grads["b_hn"] += dg.sum(axis=0)  # dL/db_hn: b_hn sits inside r * (...)
            dh_prev += dg @ p.U_n.T  # dL/dh_prev through g
        else:
            # a_n = x_t W_n + (r * h_prev) U_n + b_n + b_hn
            drh = da_n @ p.U_n.T  # dL/d(r * h_prev)
            dr = drh * h_prev  # dL/dr
            dh_prev += drh * r  # dL/dh_prev through r * h_prev
            grads["U_n"] += (r * h_prev).T @ da_n  # dL/dU_n
            grads["b_hn"] += da_n.sum(axis=0)  # dL/db_hn: added to b_n, same gradient
        grads["W_n"] += x_t.T @ da_n  # dL/dW_n
        grads["b_n"] += da_n.sum(axis=0)  # dL/db_n

        # z = sigmoid(a_z), r = sigmoid(a_r);  sigmoid'(a) = s * (1 - s)
        da_z = dz * z * (1 - z)  # dL/da_z
        da_r = dr * r * (1 - r)  # dL/da_r

        # a_z = x_t W_z + h_prev U_z + b_z;  a_r = x_t W_r + h_prev U_r + b_r
        grads["W_z"] += x_t.T @ da_z  # dL/dW_z
        grads["W_r"] += x_t.T @ da_r  # dL/dW_r
        grads["U_z"] += h_prev.T @ da_z  # dL/dU_z
        grads["U_r"] += h_prev.T @ da_r  # dL/dU_r
        grads["b_z"] += da_z.sum(axis=0)  # dL/db_z
        grads["b_r"] += da_r.sum(axis=0)  # dL/db_r
        dh_prev += da_z @ p.U_z.T + da_r @ p.U_r.T  # dL/dh_prev through both gates

        # every path from x_t: the two gates and the candidate
        dx[:, t, :] = da_z @ p.W_z.T + da_r @ p.W_r.T + da_n @ p.W_n.T
        dh_next = dh_prev + (1 - m) * dh_next  # padded: the gradient passes straight through

    dh0 = dh_next
    result = GRUParams(**grads)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert dh0.shape == (B, p.H) and dh0.dtype == dtype and result.dtype == dtype
    return dx, dh0, result
