"""Level 1: the tanh RNN written to be read, one equation per line.

A plain loop over time forward and a plain loop backward over time, each
derivative on its own line next to the rule it applies.
``gru_props.rnn.level3`` computes the same functions fast and is held to
this file (and both to ``torch.nn.RNN``) by the tests.

Shapes: B batch, T time steps, D input features, H hidden units. Row vectors:
``x_t`` is (B, D), ``h`` is (B, H), weights multiply on the right.

::

    a_t = x_t W + h_{t-1} U + b          pre-activation   (B, H)
    h_t = tanh(a_t)                      hidden state     (B, H)

The backward pass differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T)``:
``dhs`` and ``dh_T`` are the gradients of the loss with respect to the
outputs, as a training loop hands them down.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from gru_props.rnn._params import RNNParams
from gru_props.rnn._validation import check_rnn_backward_args, check_rnn_forward_args

__all__ = ["rnn_forward", "rnn_backward"]


def _cast(p: RNNParams, dtype: np.dtype) -> RNNParams:
    return p if p.dtype == dtype else p.astype(dtype)


def rnn_forward(x: np.ndarray, h0: Optional[np.ndarray], params: RNNParams) -> Tuple[np.ndarray, np.ndarray]:
    """Run the tanh RNN over a batch-first sequence.

    Args:
        x: inputs, (B, T, D).
        h0: initial state, (B, H); None means zeros.
        params: an ``RNNParams`` with input size D and hidden size H.

    Returns:
        ``(hs, h_T)``: every state (B, T, H) and the last one (B, H). T = 0
        gives hs of shape (B, 0, H) and h_T = h0. float32 if every input is
        float32, else float64.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not an
            RNNParams.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    x, h0, dtype = check_rnn_forward_args(x, h0, params)
    hs, states = _forward(x, h0, _cast(params, dtype), dtype)
    return hs, states[-1].copy()


def _forward(x: np.ndarray, h0: np.ndarray, p: RNNParams, dtype: np.dtype) -> Tuple[np.ndarray, List[np.ndarray]]:
    """The forward loop; returns hs and the states h_0 .. h_T (h_0 = h0) for the backward."""
    B, T, _ = x.shape
    h = h0.astype(dtype, copy=True)
    states = [h]
    for t in range(T):
        x_t = x[:, t, :].astype(dtype, copy=False)
        a = x_t @ p.W + h @ p.U + p.b  # pre-activation (B, H)
        h = np.tanh(a)  # new state (B, H)
        states.append(h)
    hs = np.stack(states[1:], axis=1) if T else np.zeros((B, 0, p.H), dtype=dtype)
    assert hs.shape == (B, T, p.H) and hs.dtype == dtype
    return hs, states


def rnn_backward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: RNNParams,
    dhs: np.ndarray,
    dh_T: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, RNNParams]:
    """Backpropagation through time of ``rnn_forward``.

    Differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T)``.

    Args:
        x, h0, params: as for ``rnn_forward`` (the forward is recomputed).
        dhs: dL/dhs, (B, T, H).
        dh_T: dL/dh_T, (B, H), added on top of ``dhs[:, -1]``; None means zeros.

    Returns:
        ``(dx, dh0, grads)``: dx (B, T, D), dh0 (B, H), and ``grads``, an
        ``RNNParams`` holding dL/dW, dL/dU, dL/db (same shapes). float32 if
        every input is float32, else float64.

    Raises:
        TypeError / ValueError: as ``rnn_forward``, and for dhs or dh_T of the
            wrong kind or shape.
    """
    x, h0, dhs, dh_T, dtype = check_rnn_backward_args(x, h0, params, dhs, dh_T)
    p = _cast(params, dtype)
    _, states = _forward(x, h0, p, dtype)
    B, T, D = x.shape
    dW = np.zeros(p.W.shape, dtype=dtype)
    dU = np.zeros(p.U.shape, dtype=dtype)
    db = np.zeros(p.b.shape, dtype=dtype)
    dx = np.zeros((B, T, D), dtype=dtype)
    dh_next = dh_T.astype(dtype, copy=True)  # dL/dh_t that flows back from step t+1 (or from h_T)
    for t in reversed(range(T)):
        x_t = x[:, t, :].astype(dtype, copy=False)
        h, h_prev = states[t + 1], states[t]
        dh = dhs[:, t, :] + dh_next  # h_t feeds the loss directly and the next step
        da = dh * (1 - h ** 2)  # h_t = tanh(a_t): tanh'(a) = 1 - tanh(a)^2
        # a_t = x_t W + h_{t-1} U + b
        dW += x_t.T @ da  # (D, B) @ (B, H)
        dU += h_prev.T @ da  # (H, B) @ (B, H)
        db += da.sum(axis=0)  # the bias is broadcast over the batch
        dx[:, t, :] = da @ p.W.T  # (B, H) @ (H, D)
        dh_next = da @ p.U.T  # dL/dh_{t-1}: (B, H) @ (H, H)
    grads = RNNParams(W=dW, U=dU, b=db)
    assert dx.dtype == dtype and dh_next.dtype == dtype and grads.dtype == dtype
    return dx, dh_next, grads
