"""Level 1: the LSTM written to be read, one equation per line.

One weight matrix per gate, a plain loop over time forward and a plain loop
backward over time, each derivative on its own line next to the rule it
applies. ``gru_props.lstm.level3`` computes the same functions fast and is
held to this file (and both to ``torch.nn.LSTM``) by the tests.

Shapes: B batch, T time steps, D input features, H hidden units. Row vectors:
``x_t`` is (B, D), ``h`` and ``c`` are (B, H), weights multiply on the right.

::

    i_t = sigmoid(x_t W_i + h_{t-1} U_i + b_i)      input gate
    f_t = sigmoid(x_t W_f + h_{t-1} U_f + b_f)      forget gate
    g_t = tanh(x_t W_g + h_{t-1} U_g + b_g)         cell candidate
    o_t = sigmoid(x_t W_o + h_{t-1} U_o + b_o)      output gate
    c_t = f_t * c_{t-1} + i_t * g_t                 cell state
    h_t = o_t * tanh(c_t)                           hidden state

The backward pass differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T) +
sum(c_T * dc_T)``: ``dhs``, ``dh_T`` and ``dc_T`` are the gradients of the
loss with respect to the outputs, as a training loop hands them down.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from gru_props.core.numerics import sigmoid
from gru_props.lstm._params import LSTMParams
from gru_props.lstm._validation import check_lstm_backward_args, check_lstm_forward_args

__all__ = ["lstm_forward", "lstm_backward"]


def _cast(p: LSTMParams, dtype: np.dtype) -> LSTMParams:
    return p if p.dtype == dtype else p.astype(dtype)


def _cell(x_t: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray,
          p: LSTMParams) -> Dict[str, np.ndarray]:
    """One LSTM step on validated arrays; returns every intermediate by name."""
    i = sigmoid(x_t @ p.W_i + h_prev @ p.U_i + p.b_i)  # input gate      (B, H)
    f = sigmoid(x_t @ p.W_f + h_prev @ p.U_f + p.b_f)  # forget gate     (B, H)
    g = np.tanh(x_t @ p.W_g + h_prev @ p.U_g + p.b_g)  # cell candidate  (B, H)
    o = sigmoid(x_t @ p.W_o + h_prev @ p.U_o + p.b_o)  # output gate     (B, H)
    c = f * c_prev + i * g  # cell state  (B, H)
    tanh_c = np.tanh(c)
    h = o * tanh_c  # hidden state (B, H)
    return {"i": i, "f": f, "g": g, "o": o, "c": c, "tanh_c": tanh_c, "h": h}


def lstm_forward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    c0: Optional[np.ndarray],
    params: LSTMParams,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the LSTM over a batch-first sequence.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        c0: initial cell state, (B, H); None means zeros.
        params: an ``LSTMParams`` with input size D and hidden size H.

    Returns:
        ``(hs, h_T, c_T)``: every hidden state (B, T, H), the last hidden state
        and the last cell state (B, H). T = 0 gives hs of shape (B, 0, H),
        h_T = h0 and c_T = c0. float32 if every input is float32, else float64.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not an
            LSTMParams; ``(h0, c0)`` passed as one tuple.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    x, h0, c0, dtype = check_lstm_forward_args(x, h0, c0, params)
    hs, h, c, _ = _forward(x, h0, c0, _cast(params, dtype), dtype)
    return hs, h, c


def _forward(x: np.ndarray, h0: np.ndarray, c0: np.ndarray, p: LSTMParams,
             dtype: np.dtype) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[Dict[str, np.ndarray]]]:
    """The forward loop; also returns each step's intermediates for the backward."""
    B, T, _ = x.shape
    h = h0.astype(dtype, copy=True)
    c = c0.astype(dtype, copy=True)
    steps = []
    for t in range(T):
        step = _cell(x[:, t, :].astype(dtype, copy=False), h, c, p)
        step["h_prev"], step["c_prev"] = h, c
        steps.append(step)
        h, c = step["h"], step["c"]
    hs = np.stack([s["h"] for s in steps], axis=1) if steps else np.zeros((B, 0, p.H), dtype=dtype)
    assert hs.shape == (B, T, p.H) and hs.dtype == dtype and h.dtype == dtype and c.dtype == dtype
    return hs, h, c, steps


def lstm_backward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    c0: Optional[np.ndarray],
    params: LSTMParams,
    dhs: np.ndarray,
    dh_T: Optional[np.ndarray] = None,
    dc_T: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, LSTMParams]:
    """Backpropagation through time of ``lstm_forward``.

    Differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T) + sum(c_T * dc_T)``.

    Args:
        x, h0, c0, params: as for ``lstm_forward`` (the forward is recomputed).
        dhs: dL/dhs, (B, T, H).
        dh_T: dL/dh_T, (B, H), added on top of ``dhs[:, -1]``; None means zeros.
        dc_T: dL/dc_T, (B, H); None means zeros.

    Returns:
        ``(dx, dh0, dc0, grads)``: dx (B, T, D), dh0 and dc0 (B, H), and
        ``grads``, an ``LSTMParams`` holding dL/d of each field (same shapes).
        float32 if every input is float32, else float64.

    Raises:
        TypeError / ValueError: as ``lstm_forward``, and for dhs, dh_T or dc_T
            of the wrong kind or shape.
    """
    x, h0, c0, dhs, dh_T, dc_T, dtype = check_lstm_backward_args(x, h0, c0, params, dhs, dh_T, dc_T)
    p = _cast(params, dtype)
    _, _, _, steps = _forward(x, h0, c0, p, dtype)
    B, T, D = x.shape
    H = p.H

    grads = {name: np.zeros(arr.shape, dtype=dtype) for name, arr in p.arrays().items()}
    dx = np.zeros((B, T, D), dtype=dtype)
    dh_next = dh_T.astype(dtype, copy=True)  # dL/dh_t that flows back from step t+1 (or from h_T)
    dc_next = dc_T.astype(dtype, copy=True)  # dL/dc_t that flows back from step t+1 (or from c_T)
    for t in reversed(range(T)):
        s = steps[t]
        x_t = x[:, t, :].astype(dtype, copy=False)
        i, f, g, o, tanh_c = s["i"], s["f"], s["g"], s["o"], s["tanh_c"]
        h_prev, c_prev = s["h_prev"], s["c_prev"]

        dh = dhs[:, t, :] + dh_next  # h_t feeds the loss directly and the next step
        # h_t = o * tanh(c_t)
        do = dh * tanh_c
        dc = dc_next + dh * o * (1 - tanh_c ** 2)  # c_t feeds h_t and c_{t+1}
        # c_t = f * c_{t-1} + i * g
        di = dc * g
        df = dc * c_prev
        dg = dc * i
        dc_prev = dc * f
        # gates: sigmoid'(a) = s (1 - s), tanh'(a) = 1 - tanh(a)^2
        da = {
            "i": di * i * (1 - i),
            "f": df * f * (1 - f),
            "g": dg * (1 - g ** 2),
            "o": do * o * (1 - o),
        }
        # a_k = x_t W_k + h_{t-1} U_k + b_k, for each gate k
        dh_prev = np.zeros((B, H), dtype=dtype)
        for k, da_k in da.items():
            grads[f"W_{k}"] += x_t.T @ da_k  # (D, B) @ (B, H)
            grads[f"U_{k}"] += h_prev.T @ da_k  # (H, B) @ (B, H)
            grads[f"b_{k}"] += da_k.sum(axis=0)  # the bias is broadcast over the batch
            dx[:, t, :] += da_k @ getattr(p, f"W_{k}").T  # (B, H) @ (H, D)
            dh_prev += da_k @ getattr(p, f"U_{k}").T  # (B, H) @ (H, H)
        dh_next, dc_next = dh_prev, dc_prev

    result = LSTMParams(**grads)
    assert dx.dtype == dtype and dh_next.dtype == dtype and result.dtype == dtype
    return dx, dh_next, dc_next, result
