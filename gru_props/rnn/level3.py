"""Level 3: the fast tanh RNN, forward and backward.

Same equations and contract as ``gru_props.rnn.level1`` (read that file for
the math); what changes is the cost, with the tricks of the LSTM's Level 3:

* each step's previous state, its input and a constant 1 sit side by side in
  one row [h_{t-1}, x_t, 1] of a (T+1, B, H+D+1) buffer (x copied in,
  time-major, once per call; each h_t written straight into the next row),
  so one matrix product against [U; W; b] gives the pre-activation, bias
  included, and one ``tanh`` writes the state in place: two calls per step.
  With wide inputs (D > H) the input projection of all steps runs as one
  product first and a step is three calls;
* a backward step is four in-place ufunc calls and one (B, H) @ (H, H)
  product; the pre-activation gradients of all steps land in one (T·B, H)
  buffer, from which every weight and bias gradient comes in one matrix
  product with the stored rows, and dx in one more;
* float32 stays float32 end to end; neither pass allocates per step.

A training step needs the forward and the backward of the same inputs:
``rnn_forward(..., cache=cache)`` keeps what the backward needs in an
``RNNCache`` and ``rnn_backward(..., cache=cache)`` uses it instead of
running the forward again.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from gru_props.core.rows import RowCache
from gru_props.rnn._params import RNNParams
from gru_props.rnn._validation import check_rnn_backward_args, check_rnn_forward_args

__all__ = ["RNNCache", "rnn_forward", "rnn_backward"]


def _prepared(params: RNNParams, dtype: np.dtype) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Wz, WT, UT)``, cached on the (immutable) params per dtype.

    ``Wz`` (H+D+1, H): [U; W; b] stacked as rows, so a row [h_{t-1}, x_t, 1]
    times it is the pre-activation; ``WT`` (H, D) and ``UT`` (H, H): the
    transposes the backward multiplies by.
    """
    key = ("rnn.level3", dtype.str)
    cache = params._cache  # type: ignore[attr-defined]
    if key in cache:
        return cache[key]
    p = params if params.dtype == dtype else params.astype(dtype)
    Wz = np.concatenate([p.U, p.W, p.b[None, :]], axis=0)
    prepared = tuple(np.ascontiguousarray(a, dtype=dtype) for a in (Wz, p.W.T, p.U.T))
    for a in prepared:
        a.setflags(write=False)
    cache[key] = prepared
    return prepared  # type: ignore[return-value]


class RNNCache(RowCache):
    """What ``rnn_forward`` computed, kept for ``rnn_backward``.

    A training step that would otherwise run the forward twice (once for the
    loss, once inside the backward) runs it once::

        import numpy as np
        from gru_props.rnn import RNNCache, RNNParams, rnn_backward, rnn_forward

        params = RNNParams.random(D=3, H=4, seed=0)
        x, h0 = np.ones((2, 5, 3)), np.zeros((2, 4))
        cache = RNNCache()                       # once, before the loop
        for step in range(3):
            hs, h_T = rnn_forward(x, h0, params, cache=cache)
            dhs = hs - 0.5                       # the loss's gradient (here of 0.5 * |hs - 0.5|^2)
            dx, dh0, grads = rnn_backward(x, h0, params, dhs, None, cache=cache)

    Each forward given the cache overwrites it, reusing its buffers while B,
    T, D, H and the dtype stay the same. ``rnn_backward`` checks that its x,
    h0 and params are the forward's (the same ``RNNParams`` object, equal
    arrays) and raises ``ValueError`` otherwise: a stale cache never gives
    silently wrong gradients. It holds about T·B·(2H + D + 1) numbers until
    the next forward or ``clear()``. The arrays a forward returns are the
    caller's own, never the cache's.
    """

    forward_call = "rnn_forward(x, h0, params, cache=cache)"
    params_kind = "RNNParams"
    upstream = "dhs or dh_T"

    def _allocate(self, B: int, T: int, D: int, H: int, dtype: np.dtype) -> None:
        if self._reuse(B, T, D, H, dtype):
            return
        self.da = np.empty((T * B, H), dtype=dtype)  # the backward's dL/d(pre-activation)


def rnn_forward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: RNNParams,
    *,
    cache: Optional[RNNCache] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Run the tanh RNN over a batch-first sequence (fast).

    Args:
        x: inputs, (B, T, D).
        h0: initial state, (B, H); None means zeros.
        params: an ``RNNParams`` with input size D and hidden size H.
        cache: an ``RNNCache`` to keep this forward's work in, for an
            ``rnn_backward(..., cache=cache)`` of the same inputs; None (the
            default) keeps nothing.

    Returns:
        ``(hs, h_T)``: every state (B, T, H) and the last one (B, H). T = 0
        gives hs of shape (B, 0, H) and h_T = h0 (a copy). float32 if every
        input is float32, else float64.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not an
            RNNParams; ``cache`` not an RNNCache.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    x, h0, dtype = check_rnn_forward_args(x, h0, params)
    if cache is not None and not isinstance(cache, RNNCache):
        raise TypeError(
            f"cache: expected a gru_props.rnn.RNNCache or None; got a {type(cache).__name__}. "
            f"Create one with RNNCache() and pass the same object to rnn_backward."
        )
    tape = cache if cache is not None else RNNCache()
    _forward(x, h0, params, dtype, tape)
    T, H = x.shape[1], params.H
    z = tape.z
    hs = np.ascontiguousarray(z[1:, :, :H].transpose(1, 0, 2))
    h_T = z[T, :, :H].copy()
    return hs, h_T


def _forward(x: np.ndarray, h0: np.ndarray, params: RNNParams, dtype: np.dtype, tape: RNNCache) -> None:
    """The recurrence on validated x (B, T, D) and h0 (B, H), computed in ``dtype``,
    into ``tape``; x and h0 are only read."""
    B, T, D = x.shape
    H = params.H
    Wz, _, _ = _prepared(params, dtype)
    tape._allocate(B, T, D, H, dtype)
    z = tape.z
    np.copyto(z[0, :, :H], h0, casting="same_kind")
    np.copyto(z[:T, :, H:H + D], x.transpose(1, 0, 2), casting="same_kind")
    z_l = list(z)  # rows [h_{t-1}, x_t, 1]
    h_l = list(z[:, :, :H])  # h_t is written into the next step's rows
    tanh, matmul, add = np.tanh, np.matmul, np.add
    if D <= H:  # one product per step on the rows [h_{t-1}, x_t, 1]
        a = np.empty((B, H), dtype=dtype)
        for t in range(T):
            matmul(z_l[t], Wz, a)  # h_{t-1} U + x_t W + b
            tanh(a, h_l[t + 1])
    else:  # wide inputs: the input projection of all steps in one product
        proj = np.empty((T, B, H), dtype=dtype)
        np.matmul(z[:T, :, H:].reshape(T * B, D + 1), Wz[H:], out=proj.reshape(T * B, H))
        U = Wz[:H]
        a = np.empty((B, H), dtype=dtype)
        for t, p_t in enumerate(proj):
            matmul(h_l[t], U, a)  # h_{t-1} U
            add(a, p_t, a)  # + x_t W + b
            tanh(a, h_l[t + 1])
    tape._fill(params)


def rnn_backward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    params: RNNParams,
    dhs: np.ndarray,
    dh_T: Optional[np.ndarray] = None,
    *,
    cache: Optional[RNNCache] = None,
) -> Tuple[np.ndarray, np.ndarray, RNNParams]:
    """Backpropagation through time of ``rnn_forward`` (fast).

    Differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T)``.

    Args:
        x, h0, params: as for ``rnn_forward``.
        dhs: dL/dhs, (B, T, H).
        dh_T: dL/dh_T, (B, H), added on top of ``dhs[:, -1]``; None means zeros.
        cache: the ``RNNCache`` an ``rnn_forward(x, h0, params, cache=cache)``
            of these same arguments filled; its work is reused instead of
            running the forward again. None (the default) runs it.

    Returns:
        ``(dx, dh0, grads)``: dx (B, T, D), dh0 (B, H), and ``grads``, an
        ``RNNParams`` holding dL/dW, dL/dU, dL/db. float32 if every input is
        float32, else float64.

    Raises:
        TypeError / ValueError: as ``rnn_forward``, and for dhs or dh_T of the
            wrong kind or shape.
        ValueError: ``cache`` is empty or was filled by a forward of other
            arguments or another dtype.
    """
    x, h0, dhs, dh_T, dtype = check_rnn_backward_args(x, h0, params, dhs, dh_T)
    B, T, D = x.shape
    H = params.H
    if cache is None:
        tape = RNNCache()
        _forward(x, h0, params, dtype, tape)
    else:
        _check_cache(cache, x, h0, params, dtype)
        tape = cache
    _, WT, UT = _prepared(params, dtype)
    dA = tape.da
    dA_l = list(dA.reshape(T, B, H))  # T slabs (B, H)
    h_l = list(tape.z[1:, :, :H])  # h_t
    dhs_l = list(dhs.transpose(1, 0, 2))  # T views (B, H) of the caller's dhs (only read)
    dh_rec = np.array(dh_T, dtype=dtype, order="C", copy=True)  # dL/dh_t from step t+1 (or h_T)
    tmp = np.empty((B, H), dtype=dtype)
    one = np.array(1, dtype=dtype)
    add, sub, mul, dot = np.add, np.subtract, np.multiply, np.dot
    for t in range(T - 1, -1, -1):
        h = h_l[t]
        add(dhs_l[t], dh_rec, dh_rec, casting="same_kind")  # dL/dh_t
        mul(h, h, tmp)
        sub(one, tmp, tmp)  # tanh'(a_t) = 1 - h_t^2
        mul(dh_rec, tmp, dA_l[t])  # dL/da_t
        dot(dA_l[t], UT, dh_rec)  # dL/dh_{t-1}: (B, H) @ (H, H)

    # Every weight and bias gradient of all steps in one product: the rows
    # [h_{t-1}, x_t, 1] of every (t, b) against dA, (H+D+1, T·B) @ (T·B, H).
    g = np.dot(tape.z[:T].reshape(T * B, H + D + 1).T, dA)
    dx = np.ascontiguousarray(np.dot(dA, WT).reshape(T, B, D).transpose(1, 0, 2))
    grads = RNNParams(W=g[H:H + D], U=g[:H], b=g[H + D])
    assert dx.shape == (B, T, D) and dx.dtype == dtype and grads.dtype == dtype
    return dx, dh_rec, grads


def _check_cache(cache: Any, x: np.ndarray, h0: np.ndarray, params: RNNParams, dtype: np.dtype) -> None:
    """Raise unless ``cache`` holds the forward of exactly these arguments."""
    if not isinstance(cache, RNNCache):
        raise TypeError(f"cache: expected a gru_props.rnn.RNNCache or None; got a {type(cache).__name__}.")
    cache.check(x, h0, params, dtype)

