"""GRUs whose gates are one matrix over a concatenated vector, as two public
NumPy codes write them (one example at a time, column vectors, Chung et
al.'s interpolation ``h = (1 - z) * h_prev + z * h~``, reset before the
product):

* ``GRULayer``: a layer of a sample-level audio model (public GitHub code
  built on karpathy's min-char-rnn gradient check; the repository is not
  named in the index): ``W, Wr, Wz`` (H, D + H + 1) acting on ``[x, h, 1]``
  (the bias is the last column), ``forward(x, initial_h)`` over a sequence
  (T, D), ``backward(dh)`` leaving ``self.dW, self.dWr, self.dWz``. The
  forward is correct; the backward has three slips (see its docstring).
* ``GRU``: a ``Module`` of a small framework (public GitHub code, repository
  not named in the index): ``W_z, W_r, W_h`` (H, H + D) acting on ``[h, x]``
  with biases ``b_z, b_r, b_h``, the state kept in ``self.h``; ``forward(x)``
  takes a batch of exactly one sequence (1, T, D) with T >= 1, updates
  ``self.h`` and returns nothing; no backward ("out of scope"). Slip: ``b_h``
  is created but never added to the candidate.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np

from gru_props.adapters import concat_layout, transposed_weights, unbatched


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


class GRULayer:
    def __init__(self, x_n, h_n):
        self.x_n, self.h_n = x_n, h_n
        rng = np.random.default_rng(0)
        self.W, self.Wr, self.Wz = (rng.normal(size=(h_n, x_n + h_n + 1)) * 0.01 for _ in range(3))

    def _with_one(self, x_t, v):
        return np.concatenate((x_t, v, np.ones(1)))

    def forward(self, x, initial_h=None):
        if initial_h is None:
            initial_h = np.zeros(self.h_n)
        self.t_n = x.shape[0]
        self.h = np.zeros((self.t_n, self.h_n))
        self.cand, self.z, self.r, self.gated_h = (np.zeros_like(self.h) for _ in range(4))
        self.x = np.copy(x)
        for t in range(self.t_n):
            prev = self.h[t - 1] if t > 0 else initial_h
            self.z[t] = sigmoid(self.Wz @ self._with_one(x[t], prev))
            self.r[t] = sigmoid(self.Wr @ self._with_one(x[t], prev))
            self.gated_h[t] = self.r[t] * prev
            self.cand[t] = np.tanh(self.W @ self._with_one(x[t], self.gated_h[t]))
            self.h[t] = (1 - self.z[t]) * prev + self.cand[t] * self.z[t]
        return self.h

    def backward(self, dh):
        """Three slips: at t = 0 the previous state is taken as zeros instead
        of ``initial_h`` (in dW, dWr, dWz and in the z gradient); dL/dx is
        accumulated in a local array that is neither stored nor returned; the
        loop stops feeding gradients back at t = 0, so no dL/dh0 exists.
        (``dh`` is also updated in place.)"""
        n = self.x_n
        dx = np.zeros((self.t_n, self.x_n))
        dW, dWr, dWz = np.zeros_like(self.W), np.zeros_like(self.Wr), np.zeros_like(self.Wz)
        for t in reversed(range(self.t_n)):
            prev = self.h[t - 1] if t > 0 else np.zeros(self.h_n)
            g_cand = dh[t] * self.z[t] * (1 - self.cand[t] ** 2)
            dW += np.outer(g_cand, self._with_one(self.x[t], self.gated_h[t]))
            back = self.W.T @ g_cand
            dx[t] += back[:n]
            g_q = back[n:-1]
            g_r = self.r[t] * (1 - self.r[t]) * (g_q * prev)
            dWr += np.outer(g_r, self._with_one(self.x[t], prev))
            back_gates = self.Wr.T @ g_r
            g_z = self.z[t] * (1 - self.z[t]) * dh[t] * (self.cand[t] - prev)
            dWz += np.outer(g_z, self._with_one(self.x[t], prev))
            back_gates += self.Wz.T @ g_z
            dx[t] += back_gates[:n]
            if t > 0:
                dh[t - 1] += dh[t] * (1 - self.z[t]) + g_q * self.r[t] + back_gates[n:-1]
        self.dW, self.dWr, self.dWz = dW, dWr, dWz


def make_layer():
    return GRULayer(3, 4)


# glue: concat_x_h_one_layer
def _xh1_one(x, h0, p):
    layer = GRULayer(p.D, p.H)
    layer.Wz, layer.Wr, layer.W = (np.hstack([W, U, b[:, None]]) for W, U, b in (
        (p.W_z, p.U_z, p.b_z), (p.W_r, p.U_r, p.b_r), (p.W_n, p.U_n, p.b_n + p.b_hn)))
    hs = layer.forward(x, initial_h=h0)
    return hs, hs[-1]


concat_xh1_forward_glue = transposed_weights(unbatched(_xh1_one))
# end glue


# glue: concat_x_h_one_layer_backward
def _xh1_one_backward(x, h0, p, dhs, dh_T):
    layer = GRULayer(p.D, p.H)
    layer.Wz, layer.Wr, layer.W = (np.hstack([W, U, b[:, None]]) for W, U, b in (
        (p.W_z, p.U_z, p.b_z), (p.W_r, p.U_r, p.b_r), (p.W_n, p.U_n, p.b_n + p.b_hn)))
    layer.forward(x, initial_h=h0)
    dh = dhs.copy()
    dh[-1] += dh_T
    layer.backward(dh)
    D, H = p.D, p.H
    grads = {}
    for g, dM in (("z", layer.dWz), ("r", layer.dWr), ("n", layer.dW)):
        grads["W_" + g], grads["U_" + g], grads["b_" + g] = dM[:, :D], dM[:, D:D + H], dM[:, -1]
    grads["b_hn"] = grads["b_n"]
    return np.zeros_like(x), np.zeros_like(h0), grads


concat_xh1_backward_glue = transposed_weights(unbatched(_xh1_one_backward))
# end glue


# ------------------------------------------------ the framework Module

class GRU:
    def __init__(self, d_in, d_out, seed=None):
        self.d_in, self.d_out = d_in, d_out
        rng = np.random.default_rng(seed)
        self.h = np.zeros(d_out)
        self.W_z, self.b_z = rng.normal(size=(d_out, d_out + d_in)), rng.normal(size=d_out)
        self.W_r, self.b_r = rng.normal(size=(d_out, d_out + d_in)), rng.normal(size=d_out)
        self.W_h, self.b_h = rng.normal(size=(d_out, d_out + d_in)), rng.normal(size=d_out)

    def _validate(self, x):
        assert x.ndim == 3
        batch, length, width = x.shape
        assert batch == 1 and length >= 1 and width == self.d_in

    def forward(self, x):
        self._validate(x)
        for x_t in x[0]:
            hx = np.hstack([self.h, x_t])
            z = sigmoid(self.W_z @ hx + self.b_z)
            r = sigmoid(self.W_r @ hx + self.b_r)
            cand = np.tanh(self.W_h @ np.hstack([r * self.h, x_t]))
            self.h = (1 - z) * self.h + z * cand

    def backward(self, x, y, lr=0.001):
        raise NotImplementedError("no backward pass")


def make_module():
    return GRU(3, 4, seed=0)


# glue: concat_module_no_candidate_bias
def _module_one(x, h0, p):
    gru = GRU(p.D, p.H)
    gru.W_z, gru.b_z, gru.W_r, gru.b_r, gru.W_h, gru.b_h = p.W_z, p.b_z, p.W_r, p.b_r, p.W_n, p.b_n
    gru.h = h0
    hs = []
    for x_t in x:
        gru.forward(x_t[None, None])
        hs.append(gru.h)
    return np.array(hs).reshape(len(x), p.H), gru.h


concat_module_glue = concat_layout(transposed_weights(unbatched(_module_one)))
# end glue
