"""Level 3: the fast LSTM, forward and backward.

Same equations and contract as ``gru_props.lstm.level1`` (read that file for
the math); what changes is the cost. As in the GRU's ``gru_props.level3``,
a NumPy recurrence pays for the recurrent matrix product and for every
Python-level NumPy call around it, so this tier keeps the calls per step few
and the data contiguous:

* gates are stacked gate-major, in the order (i, f, o, g): the three sigmoid
  gates first. Their weights are halved once per parameter set, so that one
  ``tanh`` over the whole (4, B, H) block followed by ``0.5 * t + 0.5`` on its
  first three quarters gives sigmoid, sigmoid, sigmoid, tanh: the
  overflow-free sigmoid of ``gru_props.core.numerics`` at no extra call;
* each step's input, its previous state and a constant 1 sit side by side
  in one row [h_{t-1}, x_t, 1] of a (T+1, B, H+D+1) buffer (x copied in,
  time-major, once per call; each h_t written straight into the next row),
  so one stacked matrix product against [U; W; b] gives all four
  pre-activations, biases included: no separate input projection and no
  per-step addition. Measured 10-30% faster forwards than a projection of
  all steps in one product plus an addition per step while D <= H (B=64,
  H=28..128); with wider inputs (D > H) the one big projection wins (1.2-1.3x
  at D=H=128 and D=512, H=64), so that is what runs there;
* a forward step is that matrix product and eight in-place ufunc calls (one
  more with wide inputs); a
  backward step one matrix product (B, 4H) @ (4H, H) and fifteen in-place
  ufunc calls (one a copy); neither allocates;
* the backward writes each step's pre-activation gradients into one
  (T·B, 4H) buffer and, after the loop, gets every weight and bias gradient
  of all steps from one matrix product with the stored rows
  [h_{t-1}, x_t, 1], and dx from one more;
* float32 stays float32 end to end.

The derivative of each gate comes from the stored ``tanh`` values ``r`` of
the (halved) pre-activations: ``1 - r**2`` for all four gates in three calls.
For the candidate that is tanh'(a); for a sigmoid gate
``s = 0.5 tanh(a/2) + 0.5`` it is 4 · sigmoid'(a). The constant 1/4 is folded
into the weights the backward multiplies by and into the final weight
gradients, never into a per-step pass.

A training step needs the forward and the backward of the same inputs:
``lstm_forward(..., cache=cache)`` keeps what the backward needs in an
``LSTMCache`` and ``lstm_backward(..., cache=cache)`` uses it instead of
running the forward again. A cache reuses its buffers while B, T, D, H and
the dtype stay the same, so a training loop allocates them once.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from gru_props.core.rows import RowCache, rows
from gru_props.lstm._params import LSTMParams
from gru_props.lstm._validation import check_lstm_backward_args, check_lstm_forward_args

__all__ = ["LSTMCache", "lstm_forward", "lstm_backward"]

# Gate-major order of the stacked blocks: the sigmoid gates first.
_ORDER = ("i", "f", "o", "g")
# Pre-activation scale: sigmoid(a) = 0.5 * tanh(0.5 * a) + 0.5.
_PRE = (0.5, 0.5, 0.5, 1.0)
# dL/da_k = _POST[k] * dL/d(gate_k) * (1 - r_k**2): 1/4 for a sigmoid gate
# (ds/dr = 1/2, dr/da = 1/2 · (1 - r**2)), 1 for the candidate.
_POST = (0.25, 0.25, 0.25, 1.0)


def _prepared(params: LSTMParams, dtype: np.dtype):
    """Stacked weights, cached on the (immutable) params per dtype.

    Returns ``(Wz, Wb, Ub, post)``:

    * ``Wz`` (4, H+D+1, H): per gate (order ``_ORDER``) the recurrent
      weights, the input weights and the bias stacked as rows, each gate
      block multiplied by ``_PRE``: a row [h_{t-1}, x_t, 1] times it is the
      gate's (halved) pre-activation.
    * ``Wb`` (4H, D) and ``Ub`` (4H, H): the weights times ``_POST``,
      transposed and stacked gate after gate, which carry the scaled
      pre-activation gradients, a (.., 4H) row per example, back to x and
      h_{t-1} in one matrix product.
    * ``post`` (4H,): ``_POST`` per column, to scale the weight gradients.
    """
    key = ("lstm.level3", dtype.str)
    cache = params._cache  # type: ignore[attr-defined]
    if key in cache:
        return cache[key]
    p = params if params.dtype == dtype else params.astype(dtype)
    W = [getattr(p, f"W_{k}") for k in _ORDER]
    U = [getattr(p, f"U_{k}") for k in _ORDER]
    b = [getattr(p, f"b_{k}") for k in _ORDER]
    Wz = np.stack([np.concatenate([s * u, s * w, s * bb[None, :]], axis=0)
                   for s, u, w, bb in zip(_PRE, U, W, b)])
    Wb = np.concatenate([(s * w).T for s, w in zip(_POST, W)], axis=0)
    Ub = np.concatenate([(s * u).T for s, u in zip(_POST, U)], axis=0)
    post = np.repeat(np.array(_POST, dtype=dtype), p.H)
    prepared = tuple(np.ascontiguousarray(a, dtype=dtype) for a in (Wz, Wb, Ub, post))
    for a in prepared:
        a.setflags(write=False)
    cache[key] = prepared
    return prepared


class LSTMCache(RowCache):
    """What ``lstm_forward`` computed, kept for ``lstm_backward``.

    A training step that would otherwise run the forward twice (once for the
    loss, once inside the backward) runs it once::

        import numpy as np
        from gru_props.lstm import LSTMCache, LSTMParams, lstm_backward, lstm_forward

        params = LSTMParams.random(D=3, H=4, seed=0)
        x, h0, c0 = np.ones((2, 5, 3)), np.zeros((2, 4)), np.zeros((2, 4))
        cache = LSTMCache()                      # once, before the loop
        for step in range(3):
            hs, h_T, c_T = lstm_forward(x, h0, c0, params, cache=cache)
            dhs = hs - 0.5                       # the loss's gradient (here of 0.5 * |hs - 0.5|^2)
            dx, dh0, dc0, grads = lstm_backward(x, h0, c0, params, dhs, None,
                                                cache=cache)

    Each forward given the cache overwrites it, reusing its buffers while B,
    T, D, H and the dtype stay the same (so a loop allocates them once).
    ``lstm_backward`` checks that its x, h0, c0 and params are the forward's
    (the same ``LSTMParams`` object, equal arrays) and raises ``ValueError``
    otherwise: a stale cache never gives silently wrong gradients. It holds
    about 14·T·B·H + T·B·(D+1) numbers until the next forward or ``clear()``.
    The arrays a forward returns are the caller's own, never the cache's.
    """

    forward_call = "lstm_forward(x, h0, c0, params, cache=cache)"
    params_kind = "LSTMParams"
    upstream = "dhs, dh_T or dc_T"

    def _allocate(self, B: int, T: int, D: int, H: int, dtype: np.dtype) -> None:
        if self._reuse(B, T, D, H, dtype):
            return
        self.r = np.empty((T, 4, B, H), dtype=dtype)  # tanh of the (halved) pre-activations
        self.s = np.empty((T, 3, B, H), dtype=dtype)  # i, f, o
        self.c = np.empty((T + 1, B, H), dtype=dtype)  # c_0 .. c_T
        self.tc = np.empty((T, B, H), dtype=dtype)  # tanh(c_t)
        self.da = np.empty((T * B, 4 * H), dtype=dtype)  # the backward's dL/d(pre-activation)


def lstm_forward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    c0: Optional[np.ndarray],
    params: LSTMParams,
    *,
    cache: Optional[LSTMCache] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the LSTM over a batch-first sequence (fast).

    Args:
        x: inputs, (B, T, D).
        h0: initial hidden state, (B, H); None means zeros.
        c0: initial cell state, (B, H); None means zeros.
        params: an ``LSTMParams`` with input size D and hidden size H.
        cache: an ``LSTMCache`` to keep this forward's work in, for an
            ``lstm_backward(..., cache=cache)`` of the same inputs; None (the
            default) keeps nothing.

    Returns:
        ``(hs, h_T, c_T)``: every hidden state (B, T, H), the last hidden state
        and the last cell state (B, H). T = 0 gives hs of shape (B, 0, H),
        h_T = h0 and c_T = c0 (copies). float32 if every input is float32,
        else float64.

    Raises:
        TypeError: non-numeric, complex or boolean arrays; ``params`` not an
            LSTMParams; ``(h0, c0)`` passed as one tuple; ``cache`` not an
            LSTMCache.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    x, h0, c0, dtype = check_lstm_forward_args(x, h0, c0, params)
    if cache is not None and not isinstance(cache, LSTMCache):
        raise TypeError(
            f"cache: expected a gru_props.lstm.LSTMCache or None; got a {type(cache).__name__}. "
            f"Create one with LSTMCache() and pass the same object to lstm_backward."
        )
    return _forward(x, h0, c0, params, dtype, cache)


def _forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    params: LSTMParams,
    dtype: np.dtype,
    cache: Optional[LSTMCache],
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The recurrence on validated x (B, T, D), h0 and c0 (B, H), computed in
    ``dtype``; x, h0 and c0 are only read. With a cache, fills it."""
    B, T, D = x.shape
    H = params.H
    Wz, _, _, _ = _prepared(params, dtype)

    if cache is not None:
        cache._allocate(B, T, D, H, dtype)
        z = cache.z
        np.copyto(cache.c[0], c0, casting="same_kind")
        r_l, s_l, tc_l, c_l = list(cache.r), list(cache.s), list(cache.tc), list(cache.c)
    else:
        z = rows(T, B, D, H, dtype)
        r1 = np.empty((4, B, H), dtype=dtype)
        s1 = np.empty((3, B, H), dtype=dtype)
        c1 = np.array(c0, dtype=dtype, order="C", copy=True)  # never aliases the caller's c0
        tc1 = np.empty((B, H), dtype=dtype)
        r_l, s_l, tc_l = [r1] * T, [s1] * T, [tc1] * T
        c_l = [c1] * (T + 1)  # c_{t-1} and c_t share one buffer: c = f*c + i*g in place
    np.copyto(z[0, :, :H], h0, casting="same_kind")
    np.copyto(z[:T, :, H:H + D], x.transpose(1, 0, 2), casting="same_kind")

    # Per-step views, made in C once (list(array)) rather than by indexing in the loop.
    z_l = list(z)  # rows [h_{t-1}, x_t, 1]
    h_l = list(z[:, :, :H])  # h_t is written into the next step's rows
    g_l = [r[3] for r in r_l]  # the candidate g_t
    sig_l = [r[:3] for r in r_l]  # tanh(a/2) of i, f, o
    i_l, f_l, o_l = ([s[k] for s in s_l] for k in range(3))
    tmp = np.empty((B, H), dtype=dtype)
    half = np.array(0.5, dtype=dtype)  # 0-d: no scalar conversion per call
    add, mul, tanh, matmul = np.add, np.multiply, np.tanh, np.matmul
    if D <= H:  # one product per step on the rows [h_{t-1}, x_t, 1]
        p_l = None
    else:  # wide inputs: the input projection of all steps in one product
        proj = np.empty((4, T * B, H), dtype=dtype)
        np.matmul(z[:T, :, H:].reshape(T * B, D + 1), Wz[:, H:], out=proj)
        p_l = list(proj.reshape(4, T, B, H).transpose(1, 0, 2, 3))  # T views (4, B, H)
        U = Wz[:, :H]
    for t in range(T):
        r, s, c = r_l[t], s_l[t], c_l[t + 1]
        if p_l is None:
            matmul(z_l[t], Wz, r)  # (4, B, H): h_{t-1} U_k + x_t W_k + b_k (halved for i, f, o)
        else:
            matmul(h_l[t], U, r)  # h_{t-1} U_k
            add(r, p_l[t], r)  # + x_t W_k + b_k
        tanh(r, r)  # tanh(a/2) for i, f, o; g = tanh(a_g)
        mul(sig_l[t], half, s)
        add(s, half, s)  # i, f, o = sigmoid(a) = 0.5 tanh(a/2) + 0.5
        mul(f_l[t], c_l[t], c)  # f * c_{t-1}
        mul(i_l[t], g_l[t], tmp)  # i * g
        add(c, tmp, c)  # c_t
        tanh(c, tc_l[t])
        mul(o_l[t], tc_l[t], h_l[t + 1])  # h_t = o * tanh(c_t)

    hs = np.ascontiguousarray(z[1:, :, :H].transpose(1, 0, 2))
    h_T = z[T, :, :H].copy()
    c_T = c_l[T].copy() if cache is not None else c_l[T]  # without a cache, this call's own
    if cache is not None:
        cache._fill(params)
    assert hs.shape == (B, T, H) and hs.dtype == dtype
    assert h_T.shape == (B, H) and h_T.dtype == dtype and c_T.dtype == dtype
    return hs, h_T, c_T


def lstm_backward(
    x: np.ndarray,
    h0: Optional[np.ndarray],
    c0: Optional[np.ndarray],
    params: LSTMParams,
    dhs: np.ndarray,
    dh_T: Optional[np.ndarray] = None,
    dc_T: Optional[np.ndarray] = None,
    *,
    cache: Optional[LSTMCache] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, LSTMParams]:
    """Backpropagation through time of ``lstm_forward`` (fast).

    Differentiates ``L = sum(hs * dhs) + sum(h_T * dh_T) + sum(c_T * dc_T)``.

    Args:
        x, h0, c0, params: as for ``lstm_forward``.
        dhs: dL/dhs, (B, T, H).
        dh_T: dL/dh_T, (B, H), added on top of ``dhs[:, -1]``; None means zeros.
        dc_T: dL/dc_T, (B, H); None means zeros.
        cache: the ``LSTMCache`` an ``lstm_forward(x, h0, c0, params,
            cache=cache)`` of these same arguments filled; its work is reused
            instead of running the forward again. None (the default) runs it.

    Returns:
        ``(dx, dh0, dc0, grads)``: dx (B, T, D), dh0 and dc0 (B, H), and
        ``grads``, an ``LSTMParams`` holding dL/d of each field (same shapes).
        float32 if every input is float32, else float64.

    Raises:
        TypeError / ValueError: as ``lstm_forward``, and for dhs, dh_T or dc_T
            of the wrong kind or shape.
        ValueError: ``cache`` is empty or was filled by a forward of other
            arguments or another dtype.
    """
    x, h0, c0, dhs, dh_T, dc_T, dtype = check_lstm_backward_args(x, h0, c0, params, dhs, dh_T, dc_T)
    B, T, D = x.shape
    H = params.H
    if cache is None:
        tape = LSTMCache()
        _forward(x, h0, c0, params, dtype, tape)
    else:
        _check_cache(cache, x, h0, c0, params, dtype)
        tape = cache
    _, Wb, Ub, post = _prepared(params, dtype)

    # dL/d(pre-activation) (scaled), one (B, 4H) slab per step, gate blocks in
    # _ORDER: the rows (t, b) of a (T·B, 4H) matrix for the weight gradients.
    dA = tape.da
    dA_l = list(dA.reshape(T, B, 4, H).transpose(0, 2, 1, 3))  # T views (4, B, H)
    dAw_l = list(dA.reshape(T, B, 4 * H))  # the same T slabs, (B, 4H)
    r_l, s_l, tc_l, c_l = list(tape.r), list(tape.s), list(tape.tc), list(tape.c)
    dhs_l = list(dhs.transpose(1, 0, 2))  # T views (B, H) of the caller's dhs (only read)
    g_l = [r[3] for r in r_l]
    i_l, f_l, o_l = ([s[k] for s in s_l] for k in range(3))

    dh_rec = np.array(dh_T, dtype=dtype, order="C", copy=True)  # dL/dh_t from step t+1 (or h_T)
    dc = np.array(dc_T, dtype=dtype, order="C", copy=True)  # dL/dc_t
    dh = np.empty((B, H), dtype=dtype)
    tmp = np.empty((B, H), dtype=dtype)
    tmp2 = np.empty((B, H), dtype=dtype)
    tmp4 = np.empty((4, B, H), dtype=dtype)
    # This step's gate gradients, contiguous (a ufunc over the strided (4, B, H)
    # view of dA runs several times slower); copied into dA once per step.
    da = np.empty((4, B, H), dtype=dtype)
    da_i, da_f, da_o, da_g = da
    one = np.array(1, dtype=dtype)
    add, sub, mul, dot, copyto = np.add, np.subtract, np.multiply, np.dot, np.copyto
    for t in range(T - 1, -1, -1):
        r, tc = r_l[t], tc_l[t]
        add(dhs_l[t], dh_rec, dh, casting="same_kind")  # dL/dh_t
        mul(dh, tc, da_o)  # dL/do
        mul(dh, o_l[t], tmp)  # dL/dtanh(c_t)
        mul(tc, tc, tmp2)
        sub(one, tmp2, tmp2)
        mul(tmp, tmp2, tmp)
        add(dc, tmp, dc)  # dL/dc_t = from c_{t+1} + through h_t
        mul(dc, g_l[t], da_i)  # dL/di = dc * g
        mul(dc, c_l[t], da_f)  # dL/df = dc * c_{t-1}
        mul(dc, i_l[t], da_g)  # dL/dg = dc * i
        mul(dc, f_l[t], dc)  # dL/dc_{t-1} = dc * f
        mul(r, r, tmp4)
        sub(one, tmp4, tmp4)
        mul(da, tmp4, da)  # times (1 - r**2); the 1/4 of i, f, o is in Ub, Wb, post
        copyto(dA_l[t], da)
        dot(dAw_l[t], Ub, dh_rec)  # dL/dh_{t-1} through the four gates: (B, 4H) @ (4H, H)

    # Every weight and bias gradient of all steps in one product: the rows
    # [h_{t-1}, x_t, 1] of every (t, b) against dA, (H+D+1, T·B) @ (T·B, 4H).
    K = H + D + 1
    g = np.dot(tape.z[:T].reshape(T * B, K).T, dA)
    g *= post
    dx = np.ascontiguousarray(np.dot(dA, Wb).reshape(T, B, D).transpose(1, 0, 2))
    fields = {}
    for k, gate in enumerate(_ORDER):
        cols = slice(k * H, (k + 1) * H)
        fields[f"U_{gate}"] = g[:H, cols]
        fields[f"W_{gate}"] = g[H:H + D, cols]
        fields[f"b_{gate}"] = g[H + D, cols]
    grads = LSTMParams(**fields)
    assert dx.shape == (B, T, D) and dx.dtype == dtype and grads.dtype == dtype
    return dx, dh_rec, dc, grads


def _check_cache(cache: Any, x: np.ndarray, h0: np.ndarray, c0: np.ndarray,
                 params: LSTMParams, dtype: np.dtype) -> None:
    """Raise unless ``cache`` holds the forward of exactly these arguments."""
    if not isinstance(cache, LSTMCache):
        raise TypeError(
            f"cache: expected a gru_props.lstm.LSTMCache or None; got a {type(cache).__name__}."
        )
    cache.check(x, h0, params, dtype, [("c0", c0, cache.c[0])] if cache._filled else [])
