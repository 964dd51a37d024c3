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

The backward pass (``gru_backward``) runs a forward that keeps its work in a
``GRUCache`` (time-major x with its column of ones, the gates, n_t and
every state), then walks back over time:

* the derivative factors that do not depend on dL/dh (``(1-z)(1-n^2)``,
  ``(h_{t-1}-n) z (1-z) = (h_{t-1}-h_t) z``, ...) are computed a cache-sized
  block of time steps at a time, ten ufunc calls per block, not per step;
* a step is then one broadcast multiply giving every pre-activation
  gradient (n, z, r and the gated recurrent term) at once, one stacked matrix
  product back through the recurrent weights and one reduction (reset_after
  =False adds one matrix product for (r * h) U_n and two multiplies);
* the pre-activation gradients of all steps land in one (gates, T·B, H)
  buffer, so after the loop the input-weight and bias gradients of all steps
  are one matrix product with the stored x (its column of ones gives the
  biases), the recurrent ones one more with the stored states, and dx one
  stacked product and a reduction;
* a training step that needs both passes runs the forward once:
  ``gru_forward(..., cache=cache)`` then ``gru_backward(..., cache=cache)``.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Tuple

import numpy as np

from gru_props.core.arrays import check_positive_int
from gru_props.core.params import GRUParams
from gru_props.core.validation import (
    check_backward_args,
    check_forward_args,
    check_reset_after,
    check_step_args,
)

__all__ = ["gru_step", "gru_forward", "gru_backward", "GRUCache"]

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
    cache: Optional["GRUCache"] = None,
    lengths: Optional[np.ndarray] = None,
) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """Run the GRU over x (B, T, D) from h0 (B, H) or None.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.
        return_sequences: True (default) returns every state; False returns
            ``(None, h_T)`` without ever holding (B, T, H) or (B, T, 3H)
            (except inside a cache, which holds them by design).
        chunk_size: time steps per input-projection chunk. Default: about
            2048 / B (the whole sequence when that is shorter). Ignored with
            a cache, which keeps the projection of the whole sequence.
        cache: a ``GRUCache`` to keep this forward's work in, for a
            ``gru_backward(..., cache=cache)`` of the same arguments; None
            (the default) keeps nothing.
        lengths: None, or integers (B,) with 0 <= lengths[b] <= T: sequence b
            is its first lengths[b] steps and the rest of x[b] is never read;
            hs[b, t] is zero for t >= lengths[b] and h_T[b] is the state after
            step lengths[b] - 1 (h0[b] when lengths[b] == 0). The batch is
            sorted by length and run as a packed sequence: one pass over
            time in which step t works on the sequences still active only
            (``tiers.packed``), padding never projected nor stepped.

    Returns:
        ``(hs, h_T)``: hs (B, T, H) (or None), h_T (B, H); float32 if every
        input is float32, else float64. Never views of the cache.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a
            GRUParams; ``cache`` not a GRUCache.
        ValueError: wrong rank or a B, D or H that does not match; chunk_size < 1;
            ``cache`` given with ``lengths``; lengths not of shape (B,) or
            outside 0 .. T.
    """
    reset_after = check_reset_after(reset_after)
    x, h0, dtype = check_forward_args(x, h0, params)
    B, T, _ = x.shape
    if lengths is not None:
        from gru_props.tiers import packed

        if cache is not None:
            raise ValueError(_NO_CACHE_WITH_LENGTHS)
        if chunk_size is not None:
            check_positive_int("chunk_size", chunk_size)
        run = packed.Packed(sys.modules[__name__], x, h0, params, dtype, reset_after, lengths, keep=False,
                            sequences=return_sequences)
        return run.hs, run.h_T
    if cache is not None:
        if not isinstance(cache, GRUCache):
            raise TypeError(
                f"cache: expected a gru_props.level3.GRUCache or None; got a "
                f"{type(cache).__name__}. Create one with GRUCache() and pass the same "
                f"object to gru_backward."
            )
        if chunk_size is not None:
            check_positive_int("chunk_size", chunk_size)
        _forward_cached(x, h0, params, dtype, reset_after, cache)
        hs = np.ascontiguousarray(cache.h[1:].transpose(1, 0, 2)) if return_sequences else None
        return hs, cache.h[T].copy()
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
    half = np.array(0.5, dtype=dtype)  # 0-d: no scalar conversion per call
    bufs = [_step_buffers(B, H, dtype, reset_after, gates)]
    mm = np.matmul if gates else np.dot

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
            prevs = [h] + outs[:-1]
        else:
            outs = prevs = [h] * c
        _steps(reset_after, mm, U1, U2, half, p_add, p_x, prevs, outs, bufs * c)
        h = outs[-1]

    # In the final-state mode h is this call's own buffer; otherwise copy it
    # out of the states so that h_T does not alias hs.
    h_T = h.copy() if return_sequences else h
    assert h_T.shape == (B, H) and h_T.dtype == dtype
    if not return_sequences:
        return None, h_T
    assert hs.shape == (B, T, H) and hs.dtype == dtype
    return hs, h_T


def _step_buffers(B: int, H: int, dtype: np.dtype, reset_after: bool, gates: bool,
                  store: Optional[np.ndarray] = None) -> Tuple[Any, ...]:
    """A step's work buffers ``(g, g_n, g_zr, z, r, n, d, rh)`` for B rows (g_n None for reset_after=False, rh
    None for True); ``store`` (flat, at least 6·B·H long) makes them views of its start, so that buffers for
    fewer rows reuse the same (cache-resident) memory."""
    ng = 3 if reset_after else 2
    if store is None:
        store = np.empty((ng + 3) * B * H, dtype=dtype)
    a, b = ng * B * H, (ng + 1) * B * H
    n = store[a:b].reshape(B, H)
    d = store[b:b + B * H].reshape(B, H)
    rh = None if reset_after else store[b + B * H:b + 2 * B * H].reshape(B, H)
    g: np.ndarray
    if gates:
        g = store[:a].reshape(ng, B, H)
        if reset_after:
            return g, g[0], g[1:], g[1], g[2], n, d, rh
        return g, None, g, g[0], g[1], n, d, rh
    g = store[:a].reshape(B, ng * H)
    if reset_after:
        return g, g[:, :H], g[:, H:], g[:, H:2 * H], g[:, 2 * H:], n, d, rh
    return g, None, g, g[:, :H], g[:, H:], n, d, rh


def _steps(reset_after: bool, mm: Any, U1: np.ndarray, U2: Optional[np.ndarray], half: np.ndarray,
           p_add: List[np.ndarray], p_x: List[np.ndarray], prevs: List[np.ndarray], outs: List[np.ndarray],
           bufs: List[Tuple[Any, ...]]) -> None:
    """The recurrence over the steps of one chunk: step i reads h_{t-1} = ``prevs[i]`` and its input
    projection (``p_add[i]``: the blocks added to h U, ``p_x[i]``: the candidate's x W_n + b), works in
    ``bufs[i]`` (``_step_buffers``) and writes h_t into ``outs[i]``, which may be ``prevs[i]`` itself: h_{t-1}
    is read only before the last call writes h_t. Every list has one entry per step, all of one step's
    arrays the same number of rows."""
    add, mul, sub, tanh, dot = np.add, np.multiply, np.subtract, np.tanh, np.dot
    if reset_after:
        for pa, px, h, out, (g, g_n, g_zr, z, r, n, d, _) in zip(p_add, p_x, prevs, outs, bufs):
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
    else:
        assert U2 is not None  # U_n, for reset_after=False
        for pa, px, h, out, (g, _, g_zr, z, r, n, d, rh) in zip(p_add, p_x, prevs, outs, bufs):
            mm(h, U1, g)  # (h U_z/2, h U_r/2)
            add(g, pa, g)  # + (x W_z/2 + b_z/2, x W_r/2 + b_r/2)
            tanh(g_zr, g_zr)
            mul(g_zr, half, g_zr)
            add(g_zr, half, g_zr)  # z, r = sigmoid(...)
            mul(r, h, rh)
            dot(rh, U2, n)  # (r * h) U_n
            add(n, px, n)  # + x W_n + b_n + b_hn
            tanh(n, n)
            sub(h, n, d)
            mul(d, z, d)
            add(n, d, out)  # h_t = n + z * (h - n)


# ------------------------------------------------------------------ backward

# Elements (time steps x B x H) per block of the backward's derivative
# factors: a block's arrays stay in cache between the passes over it.
_FACTOR_ELEMS = 1 << 15


def _prepared_backward(params: GRUParams, dtype: np.dtype, reset_after: bool):
    """Transposed weights for the backward, cached like ``_prepared``.

    Returns ``(WbT, UbT, UnT)``:

    * ``WbT`` (3, H, D): W_n^T, W_z^T, W_r^T, the order of the pre-activation
      gradient blocks (n, z, r) that carry the gradient back to x;
    * ``UbT``: reset_after=True: (3, H, H) U_z^T, U_r^T, U_n^T for the blocks
      (z, r, g = the gated h U_n + b_hn); False: (2, H, H) U_z^T, U_r^T;
    * ``UnT``: U_n^T (H, H) for reset_after=False, else None.
    """
    key = ("backward", dtype.str, reset_after)
    cache = params._cache  # type: ignore[attr-defined]
    if key in cache:
        return cache[key]
    p = params if params.dtype == dtype else params.astype(dtype)
    WbT = np.stack([p.W_n.T, p.W_z.T, p.W_r.T])
    if reset_after:
        UbT, UnT = np.stack([p.U_z.T, p.U_r.T, p.U_n.T]), None
    else:
        UbT, UnT = np.stack([p.U_z.T, p.U_r.T]), p.U_n.T
    prepared = tuple(
        None if a is None else np.ascontiguousarray(a, dtype=dtype) for a in (WbT, UbT, UnT)
    )
    for a in prepared:
        if a is not None:
            a.setflags(write=False)
    cache[key] = prepared
    return prepared


class GRUCache:
    """What ``gru_forward`` computed, kept for ``gru_backward`` (Level 3).

    A training step that would otherwise run the forward twice (once for the
    loss, once inside the backward) runs it once::

        import numpy as np
        from gru_props import GRUParams
        from gru_props.level3 import GRUCache, gru_backward, gru_forward

        params = GRUParams.random(D=3, H=4, seed=0)
        x, h0 = np.ones((2, 5, 3)), np.zeros((2, 4))
        cache = GRUCache()                       # once, before the loop
        for step in range(3):
            hs, h_T = gru_forward(x, h0, params, True, cache=cache)
            dhs = hs - 0.5                       # the loss's gradient (here of 0.5 * |hs - 0.5|^2)
            dx, dh0, grads = gru_backward(x, h0, params, dhs, None, True, cache=cache)
            params = GRUParams(**{k: v - 0.1 * getattr(grads, k)
                                  for k, v in params.arrays().items()})

    Each forward given the cache overwrites it, reusing its buffers while B,
    T, D, H, the dtype and the convention stay the same (so a loop allocates
    them once). ``gru_backward`` checks that its x, h0, params and
    reset_after are the forward's (the same ``GRUParams`` object, equal
    arrays) and raises ``ValueError`` otherwise: a stale cache never gives
    silently wrong gradients. One forward serves any number of backward calls
    (different dhs). It holds about T·B·(D + 9·H) numbers until the next
    forward or ``clear()``. The arrays a forward or backward returns are the
    caller's own, never the cache's.
    """

    def __init__(self) -> None:
        self._key: Optional[Tuple[Any, ...]] = None
        self._params: Optional[GRUParams] = None
        self._filled = False

    def clear(self) -> None:
        """Drop the buffers (the memory is freed when nothing else holds them)."""
        self.__init__()  # type: ignore[misc]

    def __repr__(self) -> str:
        if not self._filled:
            return "GRUCache(empty)"
        B, T, D, H, dt, ra = self._key  # type: ignore[misc]
        return f"GRUCache(B={B}, T={T}, D={D}, H={H}, dtype={np.dtype(dt)}, reset_after={ra})"

    def _allocate(self, B: int, T: int, D: int, H: int, dtype: np.dtype, reset_after: bool) -> None:
        key = (B, T, D, H, dtype.str, reset_after)
        self._filled = False
        self._params = None
        if key == self._key:
            return
        self._key = key
        ng = 3 if reset_after else 2
        self.x = np.empty((T, B, D + 1), dtype=dtype)  # time-major x with a column of ones
        self.x[:, :, D] = 1
        # The input projection, gate-major: reset_after=True (b_hn, z, r, n), else
        # (z, r, n); z and r halved. Once the forward is done, the backward reuses
        # it for dL/d(pre-activation): (n, z, r, g) or (n, z, r).
        self.proj = np.empty((ng + 1, T, B, H), dtype=dtype)
        self.gates = np.empty((T, ng, B, H), dtype=dtype)  # (h U_n + b_hn, z, r) or (z, r)
        self.n = np.empty((T, B, H), dtype=dtype)  # candidates n_t
        self.rh = None if reset_after else np.empty((T, B, H), dtype=dtype)  # r_t * h_{t-1}
        self.h = np.empty((T + 1, B, H), dtype=dtype)  # h_0 .. h_T


def _forward_cached(
    x: np.ndarray,
    h0: np.ndarray,
    params: GRUParams,
    dtype: np.dtype,
    reset_after: bool,
    cache: GRUCache,
) -> None:
    """The recurrence on validated x (B, T, D) and h0 (B, H), keeping in
    ``cache`` every value the backward needs; x and h0 are only read."""
    B, T, D = x.shape
    H = params.H
    Wx, bhn, U1, U2 = _prepared(params, dtype, reset_after, "gates")
    cache._allocate(B, T, D, H, dtype, reset_after)
    np.copyto(cache.x[:, :, :D], x.transpose(1, 0, 2), casting="same_kind")
    np.copyto(cache.h[0], h0, casting="same_kind")
    proj = cache.proj
    if T:
        if reset_after:
            proj[0] = bhn
            np.matmul(cache.x.reshape(T * B, D + 1), Wx, out=proj[1:].reshape(3, T * B, H))
        else:
            np.matmul(cache.x.reshape(T * B, D + 1), Wx, out=proj.reshape(3, T * B, H))
    # Per-step views, made in C once: gates (3 or 2, B, H), projections, states.
    ng = 3 if reset_after else 2
    g_l = list(cache.gates)
    zr_l = list(cache.gates[:, ng - 2:])
    z_l = list(cache.gates[:, ng - 2])
    r_l = list(cache.gates[:, ng - 1])
    pa_l = list(proj[:ng].transpose(1, 0, 2, 3))  # (b_hn, x W_z', x W_r') or (x W_z', x W_r')
    px_l = list(proj[ng])  # x W_n + b_n (+ b_hn)
    n_l, h_l = list(cache.n), list(cache.h)
    d = np.empty((B, H), dtype=dtype)
    half = np.array(0.5, dtype=dtype)  # 0-d: no scalar conversion per call
    add, mul, sub, tanh, matmul, dot = np.add, np.multiply, np.subtract, np.tanh, np.matmul, np.dot
    if reset_after:
        gn_l = list(cache.gates[:, 0])
        for t in range(T):
            g, zr, z, r, n, h = g_l[t], zr_l[t], z_l[t], r_l[t], n_l[t], h_l[t]
            matmul(h, U1, g)  # (h U_n, h U_z/2, h U_r/2)
            add(g, pa_l[t], g)  # + (b_hn, x W_z/2 + b_z/2, x W_r/2 + b_r/2)
            tanh(zr, zr)
            mul(zr, half, zr)
            add(zr, half, zr)  # z, r = sigmoid(...)
            mul(r, gn_l[t], n)  # r * (h U_n + b_hn)
            add(n, px_l[t], n)  # + x W_n + b_n
            tanh(n, n)
            sub(h, n, d)
            mul(d, z, d)
            add(n, d, h_l[t + 1])  # h_t = n + z * (h - n)
    else:
        assert cache.rh is not None  # allocated for reset_after=False
        rh_l = list(cache.rh)
        for t in range(T):
            g, zr, z, r, n, h, rh = g_l[t], zr_l[t], z_l[t], r_l[t], n_l[t], h_l[t], rh_l[t]
            matmul(h, U1, g)  # (h U_z/2, h U_r/2)
            add(g, pa_l[t], g)  # + (x W_z/2 + b_z/2, x W_r/2 + b_r/2)
            tanh(zr, zr)
            mul(zr, half, zr)
            add(zr, half, zr)  # z, r = sigmoid(...)
            mul(r, h, rh)  # kept: r * h_{t-1}
            dot(rh, U2, n)  # (r * h) U_n
            add(n, px_l[t], n)  # + x W_n + b_n + b_hn
            tanh(n, n)
            sub(h, n, d)
            mul(d, z, d)
            add(n, d, h_l[t + 1])  # h_t = n + z * (h - n)
    cache._params = params
    cache._filled = True


def _factors(cache: GRUCache, t0: int, t1: int, reset_after: bool) -> None:
    """Write into ``cache.proj[:, t0:t1]`` the derivative factors of steps
    t0 .. t1-1, each the pre-activation gradient per unit of dL/dh_t (or, for
    r with reset_after=False, per unit of dL/d(r * h_{t-1})).

    With ``dh = dL/dh_t``, ``h_t = z h + (1 - z) n``, ``n = tanh(a_n)``,
    ``z = sigmoid(a_z)``, ``r = sigmoid(a_r)``:

    * n:  dL/da_n = dh (1 - z) (1 - n^2)
    * z:  dL/da_z = dh (h_{t-1} - n) z (1 - z)
    * reset_after=True, g = h_{t-1} U_n + b_hn, a_n = ... + r g:
      dL/dg = dL/da_n r;  r: dL/da_r = dL/da_n g r (1 - r)
    * reset_after=False: dL/da_r = [dL/da_n U_n^T] h_{t-1} r (1 - r); the
      factor stored is h_{t-1} r (1 - r), the bracket comes in the loop.
    """
    ng = 3 if reset_after else 2
    G = cache.gates[t0:t1]
    Z, R = G[:, ng - 2], G[:, ng - 1]
    N = cache.n[t0:t1]
    F = cache.proj[:, t0:t1]
    Fn, Fz, Fr = F[0], F[1], F[2]
    sub, mul = np.subtract, np.multiply
    one = np.array(1, dtype=F.dtype)
    sub(one, Z, Fn)  # 1 - z
    mul(N, N, Fr)
    sub(one, Fr, Fr)  # 1 - n^2
    mul(Fn, Fr, Fn)  # n: (1 - z)(1 - n^2)
    sub(cache.h[t0:t1], cache.h[t0 + 1:t1 + 1], Fz)  # h_{t-1} - h_t = (h_{t-1} - n)(1 - z)
    mul(Fz, Z, Fz)  # z: (h_{t-1} - n) z (1 - z)
    sub(one, R, Fr)  # 1 - r
    if reset_after:
        Fg = F[3]
        mul(Fn, R, Fg)  # g: (1 - z)(1 - n^2) r
        mul(Fr, G[:, 0], Fr)
        mul(Fr, Fg, Fr)  # r: (1 - z)(1 - n^2) r (1 - r) g
    else:
        mul(Fr, R, Fr)
        mul(Fr, cache.h[t0:t1], Fr)  # r: h_{t-1} r (1 - r), times dL/d(r h) in the loop


def gru_backward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: GRUParams,
    dhs: Optional[np.ndarray],
    dh_T: Optional[np.ndarray] = None,
    reset_after: bool = False,
    *,
    cache: Optional[GRUCache] = None,
    lengths: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, GRUParams]:
    """Backpropagation through time of ``gru_forward`` (fast).

    Differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T)``; same results as
    ``gru_props.level1.gru_backward`` up to rounding.

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        params: a ``GRUParams`` with input size D and hidden size H.
        dhs: dL/dhs, (B, T, H); None means zeros (a loss on h_T only).
        dh_T: dL/dh_T, (B, H), added on top of ``dhs[:, -1]``; None means zeros.
        reset_after: False for Cho et al. / ONNX default, True for PyTorch / Keras.
        cache: the ``GRUCache`` a ``gru_forward(x, h0, params, reset_after,
            cache=cache)`` of these same arguments filled; its work is reused
            instead of running the forward again. None (the default) runs it.
        lengths: None, or integers (B,) in 0 .. T (as ``gru_forward``): dh_T
            reaches each sequence at its last valid step, dhs at padded steps
            is ignored and dx is zero there. Not with a cache.

    Returns:
        ``(dx, dh0, grads)``: dL/dx (B, T, D), dL/dh0 (B, H) and a
        ``GRUParams`` of dL/d each parameter (W_* (D, H), U_* (H, H), b_*
        (H,)). float32 if every input is float32, else float64. T = 0 gives
        dx of shape (B, 0, D), dh0 equal to dh_T and zero parameter gradients.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not a
            GRUParams; ``cache`` not a GRUCache.
        ValueError: wrong rank or a B, T, D or H that does not match (the
            message names the argument, the expected and the received shape);
            ``cache`` empty, or filled by a forward of other arguments, another
            dtype or the other convention; ``cache`` given with ``lengths``;
            lengths not of shape (B,) or outside 0 .. T.
    """
    reset_after = check_reset_after(reset_after)
    no_dhs = dhs is None
    x, h0, dhs, dh_T, dtype = check_backward_args(x, h0, params, dhs, dh_T)
    if lengths is not None:
        from gru_props.tiers import packed

        if cache is not None:
            raise ValueError(_NO_CACHE_WITH_LENGTHS)
        run = packed.Packed(sys.modules[__name__], x, h0, params, dtype, reset_after, lengths, keep=True)
        return run.backward(None if no_dhs else dhs, dh_T)
    if cache is None:
        cache = GRUCache()
        _forward_cached(x, h0, params, dtype, reset_after, cache)
    else:
        _check_cache(cache, x, h0, params, dtype, reset_after)
    return _backward(cache, params, dtype, reset_after, None if no_dhs else dhs, dh_T)


_NO_CACHE_WITH_LENGTHS = (
    "cache: a GRUCache holds the forward of equal-length sequences; with lengths= pass cache=None (the "
    "backward then runs its own forward), or use gru_props.level3.stack_forward / stack_backward, which "
    "keep their work per layer and direction."
)


def _backward(cache: "GRUCache", params: GRUParams, dtype: np.dtype, reset_after: bool,
              dhs: Optional[np.ndarray], dh_T: np.ndarray) -> Tuple[np.ndarray, np.ndarray, GRUParams]:
    """BPTT from a filled cache: dhs (B, T, H) or None (zeros), dh_T (B, H); returns (dx, dh0, grads)."""
    T, B = cache.h.shape[0] - 1, cache.h.shape[1]
    D = cache.x.shape[2] - 1
    H = params.H
    WbT, UbT, UnT = _prepared_backward(params, dtype, reset_after)
    ng = 3 if reset_after else 2

    # dL/d(pre-activation) of every step, gate-major (n, z, r[, g]): the spent
    # projection buffer, filled block by block with the factors of _factors,
    # then multiplied in place by dL/dh_t.
    P = cache.proj
    F_l = list(P.transpose(1, 0, 2, 3))  # T views (ng + 1, B, H)
    Fb_l = list(P[1:].transpose(1, 0, 2, 3))  # (z, r[, g]): the blocks that reach h_{t-1} via U
    z_l = list(cache.gates[:, ng - 2])
    if not reset_after:
        Fnz_l, Fn_l, Fr_l = list(P[:2].transpose(1, 0, 2, 3)), list(P[0]), list(P[2])
        r_l = list(cache.gates[:, 1])
    dhs_l = None if dhs is None else list(dhs.astype(dtype, copy=False).transpose(1, 0, 2))

    dh = np.array(dh_T, dtype=dtype, order="C", copy=True)  # dL/dh_t, starting at h_T
    acc = np.empty((4, B, H), dtype=dtype)  # the paths into dL/dh_{t-1}, summed at the end
    q = np.empty((B, H), dtype=dtype)  # reset_after=False: dL/d(r * h_{t-1})
    add, mul, matmul, dot, reduce = np.add, np.multiply, np.matmul, np.dot, np.add.reduce
    block = max(1, _FACTOR_ELEMS // max(B * H, 1))
    for t1 in range(T, 0, -block):
        t0 = max(0, t1 - block)
        _factors(cache, t0, t1, reset_after)
        if reset_after:
            for t in range(t1 - 1, t0 - 1, -1):
                if dhs_l is not None:
                    add(dh, dhs_l[t], dh)  # dL/dh_t: this step's loss + the later steps'
                mul(F_l[t], dh, F_l[t])  # dL/da_n, dL/da_z, dL/da_r, dL/dg
                mul(z_l[t], dh, acc[0])  # direct path: z * dh
                matmul(Fb_l[t], UbT, acc[1:])  # da_z U_z^T, da_r U_r^T, dg U_n^T
                reduce(acc, axis=0, out=dh)  # dL/dh_{t-1}
        else:
            for t in range(t1 - 1, t0 - 1, -1):
                if dhs_l is not None:
                    add(dh, dhs_l[t], dh)
                mul(Fnz_l[t], dh, Fnz_l[t])  # dL/da_n, dL/da_z
                mul(z_l[t], dh, acc[0])  # direct path: z * dh
                dot(Fn_l[t], UnT, q)  # dL/d(r * h_{t-1}) = da_n U_n^T
                mul(q, r_l[t], acc[1])  # path through r * h_{t-1}
                mul(Fr_l[t], q, Fr_l[t])  # dL/da_r
                matmul(Fb_l[t], UbT, acc[2:])  # da_z U_z^T, da_r U_r^T
                reduce(acc, axis=0, out=dh)  # dL/dh_{t-1}

    # Parameter gradients of all steps at once: rows (t, b) of x, h_{t-1} against P.
    TB = T * B
    Pf = P.reshape(ng + 1, TB, H)
    gW = np.matmul(cache.x.reshape(TB, D + 1).T, Pf[:3])  # (3, D+1, H): n, z, r; last row: biases
    h_prev = cache.h[:T].reshape(TB, H)
    if reset_after:
        gU = np.matmul(h_prev.T, Pf[1:])  # (3, H, H): z, r, n
        U_z, U_r, U_n = gU
        b_hn = reduce(Pf[3], axis=0)
    else:
        U_z, U_r = np.matmul(h_prev.T, Pf[1:3])
        assert cache.rh is not None
        U_n = np.dot(cache.rh.reshape(TB, H).T, Pf[0])
        b_hn = gW[0, D]
    dx = np.empty((B, T, D), dtype=dtype)
    if TB and D:
        dxs = np.matmul(Pf[:3], WbT)  # (3, T·B, D): through W_n, W_z, W_r
        reduce(dxs.reshape(3, T, B, D), axis=0, out=dx.transpose(1, 0, 2))
    else:
        dx.fill(0)
    grads = GRUParams(
        W_z=gW[1, :D], W_r=gW[2, :D], W_n=gW[0, :D],
        U_z=U_z, U_r=U_r, U_n=U_n,
        b_z=gW[1, D], b_r=gW[2, D], b_n=gW[0, D], b_hn=b_hn,
    )
    assert dx.shape == (B, T, D) and dx.dtype == dtype
    assert dh.shape == (B, H) and dh.dtype == dtype and grads.dtype == dtype
    return dx, dh, grads


def _check_cache(cache: Any, x: np.ndarray, h0: np.ndarray, params: GRUParams,
                 dtype: np.dtype, reset_after: bool) -> None:
    """Raise unless ``cache`` holds the forward of exactly these arguments."""
    if not isinstance(cache, GRUCache):
        raise TypeError(
            f"cache: expected a gru_props.level3.GRUCache or None; got a {type(cache).__name__}."
        )
    if not cache._filled:
        raise ValueError(
            "cache: it holds no forward. Call gru_forward(x, h0, params, reset_after, "
            "cache=cache) first, or pass cache=None to run the forward here."
        )
    B, T, D = x.shape
    key = (B, T, D, params.H, dtype.str, reset_after)
    if cache._key != key:
        cB, cT, cD, cH, cdt, cra = cache._key  # type: ignore[misc]
        raise ValueError(
            f"cache: it holds a forward with B={cB}, T={cT}, D={cD}, H={cH} in "
            f"{np.dtype(cdt)}, reset_after={cra}; this backward has B={B}, T={T}, D={D}, "
            f"H={params.H} in {dtype}, reset_after={reset_after} (a float64 dhs or dh_T makes "
            f"a float32 backward run in float64). Pass arrays of the forward's dtype and "
            f"convention, or cache=None."
        )
    if cache._params is not params:
        raise ValueError(
            "cache: it holds a forward of another GRUParams object. Run gru_forward with "
            "these params and this cache first, or pass cache=None."
        )
    for name, got, kept in (("x", x.transpose(1, 0, 2), cache.x[:, :, :D]), ("h0", h0, cache.h[0])):
        got = np.asarray(got, dtype=dtype)
        # One pass when equal; NaNs (never equal to themselves) take the slow path.
        if not np.array_equal(got, kept) and not np.array_equal(got, kept, equal_nan=True):
            raise ValueError(
                f"{name}: differs from the {name} of the forward that filled the cache (changed "
                f"in place, or another array). Run gru_forward again with cache=cache, or pass "
                f"cache=None."
            )
