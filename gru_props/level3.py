"""Level 3: the memory- and performance-aware GRU.

Same equations and contract as ``gru_props.level1``; what changes is the cost.
A NumPy GRU pays for two things per time step: the recurrent matrix product,
and the Python-level NumPy calls around it (about 0.3-0.5 µs each, plus a
single-threaded pass over (B, H)-sized arrays). This tier minimises the
second:

* the input projection ``x_t W + b`` of many time steps is one matrix product
  (B·c, D+1) @ (D+1, 3H), chunk by chunk over time; the biases ride along as
  a row of W against a column of ones appended to the (copied, time-major) x,
  so no separate pass adds them;
* every buffer is allocated once per call and updated with in-place ufuncs,
  so a time step allocates nothing; the per-step views are created in C
  (``list(array)``) once per chunk, not by indexing in the loop;
* the sigmoid is ``0.5 * tanh(a / 2) + 0.5`` with the halving folded into the
  z and r weights once per parameter set: it never overflows or warns, and
  the constants are 0-d arrays (a Python float costs a conversion per call);
* with reset_after=True the recurrent bias b_hn is added in the same call that
  adds the input projection: the projection buffer holds a constant b_hn
  block beside the gates, so a step is one matrix product and ten ufunc calls;
* gates are laid out so that every elementwise operand is contiguous (a
  strided (B, H) view of a (B, 3H) array makes a ufunc up to 4x slower):
  gate-major (3, B, H) from one stacked matmul when B > 1, row-major (B, 3H)
  from ``np.dot`` (the cheapest call) when B = 1, where the two coincide;
* each h_t is written straight into the (B, T, H) result;
* float32 stays float32 end to end (no silent upcast);
* ``return_sequences=False`` keeps only the final state: peak memory is then
  O(chunk·B·(D + 4H) + B·H) and does not grow with T.

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

# Rows (B·chunk) of the input-projection matrix product per chunk: large
# enough for an efficient GEMM, small enough that the chunk's buffers stay
# in cache (2048 measured 4-8% faster than whole-sequence chunks at the
# large and long cases) and bounded: independent of T when only the final
# state is kept.
_CHUNK_ROWS = 2048


def _layout(B: int, H: int) -> str:
    """Which buffer layout the recurrence uses.

    "gates": gate-major (3, B, H) blocks from one stacked matmul, for B > 1;
    "rows": (B, 3H) from one np.dot, for B = 1, where the gate blocks of a
    row are contiguous anyway and np.dot is the cheapest call.

    Measured (benchmarks/bench_forward.py): with B > 1, contiguous gate blocks
    beat one wide GEMM with strided gate views at every case, including
    B=64, H=512 (about 6% single-threaded), because a ufunc over a strided
    (B, H) view of a (B, 3H) array runs up to 4x slower.
    """
    return "gates" if B > 1 else "rows"


def _prepared(params: GRUParams, dtype: np.dtype, reset_after: bool, layout: str):
    """Stacked weights for the in-place step, cached per (dtype, convention, layout).

    Column / gate order is (n, z, r) for reset_after=True and (z, r, n) for
    reset_after=False; z and r weights and biases are halved (so that
    sigmoid(a) = 0.5 * tanh(a_half) + 0.5).

    Returns ``(Wx, bhn, U1, U2)``:

    * ``Wx``: input weights with the bias as an extra last row, (D+1, 3H) for
      the "rows" layout or (3, D+1, H) for "gates", in the order z, r, n
      in both conventions; the candidate bias is b_n (reset_after=True) or
      b_n + b_hn (False).
    * ``bhn``: b_hn (H,) for reset_after=True, else None.
    * ``U1``: recurrent weights: (H, 3H) / (3, H, H) in order n, z, r for
      reset_after=True; (H, 2H) / (2, H, H) in order z, r for False.
    * ``U2``: U_n (H, H) for reset_after=False, else None.
    """
    key = (dtype.str, reset_after, layout)
    cache = params._cache  # type: ignore[attr-defined]
    if key in cache:
        return cache[key]
    p = params if params.dtype == dtype else params.astype(dtype)
    half = dtype.type(0.5)

    def aug(W: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([W, b[None, :]], axis=0)

    if reset_after:
        blocks_x = [aug(half * p.W_z, half * p.b_z), aug(half * p.W_r, half * p.b_r), aug(p.W_n, p.b_n)]
        blocks_u = [p.U_n, half * p.U_z, half * p.U_r]
        bhn = p.b_hn
        U2 = None
    else:
        blocks_x = [aug(half * p.W_z, half * p.b_z), aug(half * p.W_r, half * p.b_r),
                    aug(p.W_n, p.b_n + p.b_hn)]
        blocks_u = [half * p.U_z, half * p.U_r]
        bhn = None
        U2 = p.U_n
    if layout == "gates":
        Wx = np.stack(blocks_x)
        U1 = np.stack(blocks_u)
    else:
        Wx = np.concatenate(blocks_x, axis=1)
        U1 = np.concatenate(blocks_u, axis=1)
    prepared = tuple(
        None if a is None else np.ascontiguousarray(a, dtype=dtype) for a in (Wx, bhn, U1, U2)
    )
    for a in prepared:
        if a is not None:
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
        chunk_size: time steps per input-projection chunk. Default: about
            2048 / B (the whole sequence when that is shorter).

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
        chunk = max(1, _CHUNK_ROWS // max(B, 1))
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
    """The recurrence on validated x (B, T, D) and h0 (B, H); x and h0 are only read."""
    B, T, D = x.shape
    H = params.H
    chunk = max(1, min(chunk, T))
    layout = _layout(B, H)
    gates = layout == "gates"
    Wx, bhn, U1, U2 = _prepared(params, dtype, reset_after, layout)

    # Input chunk, time-major, with a column of ones that picks up the bias row of Wx.
    xbuf = np.empty((chunk, B, D + 1), dtype=dtype)
    xbuf[:, :, D] = 1
    # Projection chunk. reset_after=True: blocks (b_hn, x W_z', x W_r', x W_n + b_n);
    # the first three are added to h U (order n, z, r) in one call, the fourth
    # (the candidate's input part) after the reset gate. reset_after=False:
    # blocks (z, r, n), biases included.
    nblk = 4 if reset_after else 3
    if gates:
        proj = np.empty((nblk, chunk, B, H), dtype=dtype)
        if reset_after:
            proj[0] = bhn
            proj_out = proj[1:]  # (3, chunk, B, H)
        else:
            proj_out = proj
    else:
        proj = np.empty((chunk, B, nblk * H), dtype=dtype)
        if reset_after:
            proj[:, :, :H] = bhn
            proj_out = proj[:, :, H:]  # (chunk, B, 3H), rows strided by 4H
        else:
            proj_out = proj

    # States go straight into hs (B, T, H): h_t is the (B, H) view hs[:, t],
    # rows strided by T·H, which BLAS and the ufuncs take as they are (no
    # final transpose pass, no second (B, T, H) buffer). A step reads h_{t-1}
    # only before its last call writes h_t, so the final-state mode
    # overwrites one buffer in place.
    h = np.array(h0, dtype=dtype, order="C", copy=True)  # never aliases the caller's h0
    if return_sequences:
        hs = np.empty((B, T, H), dtype=dtype)
        states = hs.transpose(1, 0, 2)  # (T, B, H) view: each h_t written in place
    n = np.empty((B, H), dtype=dtype)
    d = np.empty((B, H), dtype=dtype)
    half = np.array(0.5, dtype=dtype)  # 0-d: no scalar conversion per call
    if reset_after:
        if gates:
            g = np.empty((3, B, H), dtype=dtype)
            g_n, g_zr, z, r = g[0], g[1:], g[1], g[2]
        else:
            g = np.empty((B, 3 * H), dtype=dtype)
            g_n, g_zr, z, r = g[:, :H], g[:, H:], g[:, H:2 * H], g[:, 2 * H:]
    else:
        if gates:
            g = np.empty((2, B, H), dtype=dtype)
            g_zr, z, r = g, g[0], g[1]
        else:
            g = np.empty((B, 2 * H), dtype=dtype)
            g_zr, z, r = g, g[:, :H], g[:, H:]
        rh = np.empty((B, H), dtype=dtype)

    mm = np.matmul if gates else np.dot
    add, mul, sub, tanh = np.add, np.multiply, np.subtract, np.tanh

    for t0 in range(0, T, chunk):
        c = min(chunk, T - t0)
        np.copyto(xbuf[:c, :, :D], x[:, t0:t0 + c, :].transpose(1, 0, 2), casting="same_kind")
        x2 = xbuf[:c].reshape(c * B, D + 1)
        if gates:
            np.matmul(x2, Wx, out=proj_out[:, :c].reshape(3, c * B, H))
            if reset_after:
                p_add = list(proj[:3, :c].swapaxes(0, 1))  # c views (3, B, H)
                p_x = list(proj[3, :c])  # c views (B, H)
            else:
                p_add = list(proj[:2, :c].swapaxes(0, 1))  # c views (2, B, H)
                p_x = list(proj[2, :c])
        else:
            np.matmul(x2, Wx, out=proj_out[:c].reshape(c * B, 3 * H))
            if reset_after:
                p_add = list(proj[:c, :, :3 * H])  # c views (B, 3H)
                p_x = list(proj[:c, :, 3 * H:])  # c views (B, H)
            else:
                p_add = list(proj[:c, :, :2 * H])
                p_x = list(proj[:c, :, 2 * H:])
        if return_sequences:
            outs = list(states[t0:t0 + c])
        else:
            outs = [h] * c

        if reset_after:
            for pa, px, out in zip(p_add, p_x, outs):
                mm(h, U1, g)  # (h U_n, h U_z/2, h U_r/2)
                add(g, pa, g)  # + (b_hn, x W_z/2 + b_z/2, x W_r/2 + b_r/2)
                tanh(g_zr, g_zr)
                mul(g_zr, half, g_zr)
                add(g_zr, half, g_zr)  # z, r = sigmoid(...)
                mul(r, g_n, n)  # r * (h U_n + b_hn)
                add(n, px, n)  # + x W_n + b_n
                tanh(n, n)
                sub(h, n, d)
                mul(d, z, d)
                add(n, d, out)  # h_t = n + z * (h - n) = z * h + (1 - z) * n
                h = out
        else:
            for pa, px, out in zip(p_add, p_x, outs):
                mm(h, U1, g)  # (h U_z/2, h U_r/2)
                add(g, pa, g)  # + (x W_z/2 + b_z/2, x W_r/2 + b_r/2)
                tanh(g_zr, g_zr)
                mul(g_zr, half, g_zr)
                add(g_zr, half, g_zr)  # z, r = sigmoid(...)
                mul(r, h, rh)
                np.dot(rh, U2, n)  # (r * h) U_n
                add(n, px, n)  # + x W_n + b_n + b_hn
                tanh(n, n)
                sub(h, n, d)
                mul(d, z, d)
                add(n, d, out)  # h_t = n + z * (h - n)
                h = out

    # In the final-state mode h is this call's own buffer; otherwise copy it
    # out of the states so that h_T does not alias hs.
    h_T = h.copy() if return_sequences else h
    if not return_sequences:
        hs = None
    else:
        assert hs.shape == (B, T, H) and hs.dtype == dtype
    assert h_T.shape == (B, H) and h_T.dtype == dtype
    return hs, h_T
