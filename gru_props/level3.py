"""Level 3: the memory- and performance-aware GRU.

Same equations and contract as ``gru_props.level1``; what changes is the cost:

* the input projection ``x_t W + b`` of many time steps is one matrix product
  (B·c, D) @ (D, 3H), done chunk by chunk over time;
* every buffer is allocated once per call and updated with in-place ufuncs
  (``out=``), so a time step allocates nothing;
* the sigmoid is ``0.5 * tanh(a / 2) + 0.5`` with the halving folded into the
  z and r weights once per parameter set: it never overflows or warns;
* float32 stays float32 end to end (no silent upcast);
* ``return_sequences=False`` keeps only the final state: peak memory is then
  O(chunk·B·3H + B·H) and does not grow with T.

The prepared (stacked, scaled) weights are cached on the ``GRUParams``, which
is immutable, so repeated calls with the same parameters skip that work.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from gru_props._params import GRUParams
from gru_props._validation import (
    check_forward_args,
    check_positive_int,
    check_reset_after,
    check_step_args,
)

__all__ = ["gru_step", "gru_forward"]

# Rows (B·chunk) of the input-projection matrix product per chunk when only
# the final state is kept: large enough for an efficient GEMM, small enough
# that the buffer stays in cache-friendly territory.
_CHUNK_ROWS = 8192


def _prepared(params: GRUParams, dtype: np.dtype, reset_after: bool):
    """Stacked weights for the in-place step, cached per (dtype, convention).

    W (D, 3H) and b (3H,) give the input projection with the z and r columns
    halved (so that sigmoid(a) = 0.5 * tanh(W_half...) + 0.5). For
    reset_after=True, U (H, 3H) is the full recurrent matrix (z, r halved)
    and the candidate block of the projection bias is b_n. For
    reset_after=False, U_zr (H, 2H) and U_n (H, H) are separate, and the
    candidate bias is b_n + b_hn.
    """
    key = (dtype.str, reset_after)
    cache = params._cache  # type: ignore[attr-defined]
    if key in cache:
        return cache[key]
    p = params if params.dtype == dtype else params.astype(dtype)
    W = np.concatenate([0.5 * p.W_z, 0.5 * p.W_r, p.W_n], axis=1).astype(dtype)
    U = np.concatenate([0.5 * p.U_z, 0.5 * p.U_r, p.U_n], axis=1).astype(dtype)
    if reset_after:
        b = np.concatenate([0.5 * p.b_z, 0.5 * p.b_r, p.b_n]).astype(dtype)
        prepared = (W, b, U, p.b_hn.astype(dtype))
    else:
        b = np.concatenate([0.5 * p.b_z, 0.5 * p.b_r, p.b_n + p.b_hn]).astype(dtype)
        H = p.H
        prepared = (W, b, np.ascontiguousarray(U[:, : 2 * H]), np.ascontiguousarray(U[:, 2 * H:]))
    for a in prepared:
        a.setflags(write=False)
    cache[key] = prepared
    return prepared


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
    _, h_t = _run(x_t[:, None, :], h_prev, params, dtype, reset_after, False, 1)
    return h_t


def gru_forward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: GRUParams,
    reset_after: bool = False,
    *,
    return_sequences: bool = True,
    chunk_size: Optional[int] = None,
) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """Run the GRU over x (B, T, D) from h0 (B, H) or None.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.
        return_sequences: True (default) returns every state; False returns
            ``(None, h_T)`` without ever holding (B, T, H) or (B, T, 3H).
        chunk_size: time steps per input-projection chunk. Default: the whole
            sequence when ``return_sequences`` is True, else about 8192 / B.

    Returns:
        ``(hs, h_T)``: hs (B, T, H) (or None), h_T (B, H); float32 if every
        input is float32, else float64.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a GRUParams.
        ValueError: wrong rank or a B, D or H that does not match; chunk_size < 1.
    """
    reset_after = check_reset_after(reset_after)
    x, h0, dtype = check_forward_args(x, h0, params)
    B, T, _ = x.shape
    if chunk_size is None:
        chunk = T if return_sequences else max(1, _CHUNK_ROWS // max(B, 1))
    else:
        chunk = check_positive_int("chunk_size", chunk_size)
    return _run(x, h0, params, dtype, reset_after, return_sequences, chunk)


def _run(
    x: np.ndarray,
    h0: np.ndarray,
    params: GRUParams,
    dtype: np.dtype,
    reset_after: bool,
    return_sequences: bool,
    chunk: int,
) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """The recurrence on validated x (B, T, D) and h0 (B, H)."""
    B, T, D = x.shape
    H = params.H
    chunk = max(1, min(chunk, T))
    W, b, U1, U2 = _prepared(params, dtype, reset_after)

    # Buffers, allocated once. States are kept time-major (T, B, H) so that
    # every h_t is one contiguous (B, H) block for the next matrix product.
    xbuf = np.empty((chunk, B, D), dtype=dtype)
    proj = np.empty((chunk, B, 3 * H), dtype=dtype)
    xn = np.empty((chunk, B, H), dtype=dtype)
    if return_sequences:
        states = np.empty((T, B, H), dtype=dtype)
    else:
        states = np.empty((2, B, H), dtype=dtype)
    h = h0 if h0.dtype == dtype else h0.astype(dtype)
    if reset_after:
        g = np.empty((B, 3 * H), dtype=dtype)
        g_zr, g_n = g[:, : 2 * H], g[:, 2 * H:]
    else:
        g_zr = np.empty((B, 2 * H), dtype=dtype)
        rh = np.empty((B, H), dtype=dtype)
    z, r = g_zr[:, :H], g_zr[:, H:]
    n = np.empty((B, H), dtype=dtype)
    d = np.empty((B, H), dtype=dtype)

    for t0 in range(0, T, chunk):
        c = min(chunk, T - t0)
        # Input projection of c steps in one GEMM, time-major.
        np.copyto(xbuf[:c], x[:, t0:t0 + c, :].transpose(1, 0, 2), casting="same_kind")
        np.matmul(xbuf[:c].reshape(c * B, D), W, out=proj[:c].reshape(c * B, 3 * H))
        proj[:c] += b
        np.copyto(xn[:c], proj[:c, :, 2 * H:])
        if reset_after:
            proj[:c, :, 2 * H:] = U2  # b_hn: added to h U_n before the reset gate
        for j in range(c):
            t = t0 + j
            out = states[t] if return_sequences else states[t & 1]
            if reset_after:
                np.matmul(h, U1, out=g)
                g += proj[j]
                np.tanh(g_zr, out=g_zr)
                g_zr *= 0.5
                g_zr += 0.5  # z, r = sigmoid(...)
                np.multiply(r, g_n, out=n)
            else:
                np.matmul(h, U1, out=g_zr)
                g_zr += proj[j, :, : 2 * H]
                np.tanh(g_zr, out=g_zr)
                g_zr *= 0.5
                g_zr += 0.5  # z, r = sigmoid(...)
                np.multiply(r, h, out=rh)
                np.matmul(rh, U2, out=n)
            n += xn[j]
            np.tanh(n, out=n)
            np.subtract(h, n, out=d)
            d *= z
            np.add(n, d, out=out)  # h_t = n + z * (h - n) = z * h + (1 - z) * n
            h = out

    h_T = np.array(h, dtype=dtype, copy=True)
    hs = None
    if return_sequences:
        hs = np.ascontiguousarray(states.transpose(1, 0, 2))
        assert hs.shape == (B, T, H) and hs.dtype == dtype
    assert h_T.shape == (B, H) and h_T.dtype == dtype
    return hs, h_T
