"""A GRU layer written after PyDL (nash911/PyDL, ``pydl/nn/gru.py``): a
layer of a small framework holding its weights in dicts, ``weights['gates']``
(H + D, 2H) acting on ``[h_{t-1}, x_t]`` with columns [z, r], and
``weights['candidate']`` (H + D, H) acting on ``[r * h_{t-1}, x_t]``; biases
``bias['gates']`` (2H,) and ``bias['candidate']`` (H,). It takes ONE sequence
(T, D) and steps it as (1, D) rows; the number of steps ``seq_len`` is fixed
when the layer is built. ``forward(inputs)`` returns an ordered dict
{t: h_t (1, H)} for t = 1..T; ``backward(inp_grad)`` takes such a dict of
dL/dh_t and returns {t: dL/dx_t (D,)}, leaving the weight gradients in
``_weights_grad`` / ``_bias_grad`` and, with ``tune_internal_states=True``,
dL/dh_0 in ``_hidden_state_grad``. The initial state is set with
``reset_internal_states(h0)``. Standard interpolation
``h = z * h_prev + (1 - z) * h~``, reset before the product. Correct.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

from collections import OrderedDict

import numpy as np

from gru_props.adapters import concat_layout, unbatched


class Sigmoid:
    def forward(self, x):
        self.output = 1.0 / (1.0 + np.exp(-x))
        return self.output

    def backward(self, inp_grad):
        return inp_grad * self.output * (1.0 - self.output)


class Tanh:
    def forward(self, x):
        self.output = np.tanh(x)
        return self.output

    def backward(self, inp_grad):
        return inp_grad * (1.0 - self.output ** 2)


class GRU:
    def __init__(self, inputs, num_neurons=None, weights=None, bias=True, seq_len=None,
                 tune_internal_states=False, name=None):
        self.name = name
        self._n_in = int(np.prod(inputs.shape[1:]))
        self._steps = seq_len
        self._tune_internal_states = tune_internal_states
        self._h0_grad_pending = True
        self._dropout = None
        if weights is not None:
            self._n_units = weights['candidate'].shape[1]
            self._weights = OrderedDict(weights)
        else:
            self._n_units = num_neurons
            n, m = num_neurons, self._n_in
            rng = np.random.default_rng(0)
            self._weights = OrderedDict(gates=rng.normal(size=(n + m, 2 * n)) / np.sqrt(n + m),
                                        candidate=rng.normal(size=(n + m, n)) / np.sqrt(n + m))
        n = self._n_units
        self._use_bias = bias is not False
        if isinstance(bias, dict):
            self._bias = OrderedDict(bias)
        else:
            self._bias = OrderedDict(gates=np.zeros(2 * n), candidate=np.zeros(n))
        self._z_acts = [Sigmoid() for _ in range(seq_len + 1)]
        self._r_acts = [Sigmoid() for _ in range(seq_len + 1)]
        self._n_acts = [Tanh() for _ in range(seq_len + 1)]
        self._h0_default = np.zeros((1, n))
        self.reset_internal_states()
        self.reset_gradients()

    @property
    def num_neurons(self):
        return self._n_units

    @property
    def gates_weights_grad(self):
        return self._weights_grad['gates']

    @property
    def candidate_weights_grad(self):
        return self._weights_grad['candidate']

    @property
    def gates_bias_grad(self):
        return self._bias_grad['gates']

    @property
    def candidate_bias_grad(self):
        return self._bias_grad['candidate']

    def reset_gradients(self):
        self._weights_grad = OrderedDict((k, np.zeros_like(v)) for k, v in self._weights.items())
        self._bias_grad = OrderedDict((k, np.zeros_like(v)) for k, v in self._bias.items())
        self._hidden_state_grad = None
        self._dx = OrderedDict()

    def reset_internal_states(self, hidden_state=None):
        self._concat_in, self._states, self._outs = OrderedDict(), OrderedDict(), OrderedDict()
        self._states[0] = self._h0_default if hidden_state is None else hidden_state
        if hidden_state is None and self._tune_internal_states:
            self._h0_grad_pending = True

    def _affine(self, inputs, w, b):
        s = inputs @ w
        return s + b if self._use_bias else s

    def forward(self, inputs, inference=False):
        n = self._n_units
        for t, row in enumerate(inputs[:, np.newaxis, :], start=1):
            hx = np.concatenate((self._states[t - 1], row), axis=-1)
            self._concat_in[t] = hx
            pre = self._affine(hx, self._weights['gates'], self._bias['gates'])
            upd = self._z_acts[t].forward(pre[:, :n])
            rst = self._r_acts[t].forward(pre[:, n:])
            mask = np.concatenate((rst, np.ones_like(row)), axis=-1)
            cand = self._n_acts[t].forward(
                self._affine(hx * mask, self._weights['candidate'], self._bias['candidate']))
            self._states[t] = upd * self._states[t - 1] + (1.0 - upd) * cand
            self._outs[t] = self._states[t]
        return self._outs

    def backward(self, inp_grad, reg_lambda=0):
        n = self._n_units
        carry = np.zeros((1, n))
        for t in reversed(range(1, self._steps + 1)):
            if t not in inp_grad:
                continue
            grad = carry + inp_grad[t]
            upd = self._z_acts[t].output
            rst = self._r_acts[t].output
            cand = self._n_acts[t].output
            g_upd = self._z_acts[t].backward((self._states[t - 1] - cand) * grad)
            g_cand = self._n_acts[t].backward((1.0 - upd) * grad)
            g_rst_in = np.sum(self._weights['candidate'][:n, :] * self._states[t - 1].reshape(-1, 1)
                              * g_cand, axis=-1)
            g_rst = self._r_acts[t].backward(g_rst_in)
            g_gates = np.concatenate((g_upd, g_rst), axis=-1)
            self._weights_grad['gates'] += self._concat_in[t].reshape(-1, 1) * g_gates
            mask = np.concatenate((rst, np.ones((1, self._n_in))), axis=-1)
            self._weights_grad['candidate'] += (self._concat_in[t] * mask).reshape(-1, 1) * g_cand
            if self._use_bias:
                self._bias_grad['gates'] += g_gates.reshape(-1)
                self._bias_grad['candidate'] += g_cand.reshape(-1)
            back = np.sum(self._weights['gates'] * g_gates, axis=-1)
            back += np.sum(self._weights['candidate'] * mask.reshape(-1, 1) * g_cand, axis=-1)
            carry = back[:n].reshape(1, -1) + upd * grad
            self._dx[t] = back[n:]
        if self._tune_internal_states and self._h0_grad_pending:
            self._hidden_state_grad = carry
            self._h0_grad_pending = False
        else:
            self._hidden_state_grad = None
        return self._dx


def make_layer():
    return GRU(np.zeros((1, 3)), num_neurons=4, seq_len=5)


# glue: pydl_gru_layer
def _pydl_one(x, h0, p):
    layer = GRU(np.zeros((1, p.D)), seq_len=len(x), weights={'gates': np.hstack([p.W_z, p.W_r]), 'candidate': p.W_n},
                bias={'gates': np.hstack([p.b_z, p.b_r]), 'candidate': p.b_n})
    layer.reset_internal_states(h0.reshape(1, -1))
    out = layer.forward(x)
    return np.concatenate([out[t] for t in out]), out[len(x)][0]


pydl_forward_glue = concat_layout(unbatched(_pydl_one))
# end glue


# glue: pydl_gru_layer_backward
def _pydl_one_backward(x, h0, p, dhs, dh_T):
    layer = GRU(np.zeros((1, p.D)), seq_len=len(x), weights={'gates': np.hstack([p.W_z, p.W_r]), 'candidate': p.W_n},
                bias={'gates': np.hstack([p.b_z, p.b_r]), 'candidate': p.b_n}, tune_internal_states=True)
    layer.reset_internal_states(h0.reshape(1, -1))
    layer.forward(x)
    grads_in = {t + 1: dhs[t][None] for t in range(len(x))}
    grads_in[len(x)] = grads_in[len(x)] + dh_T
    dxs = layer.backward(grads_in)
    gw, gb, H = layer.gates_weights_grad, layer.gates_bias_grad, p.H
    return np.stack([dxs[t + 1] for t in range(len(x))]), layer._hidden_state_grad[0], dict(
        W_z=gw[:, :H], W_r=gw[:, H:], W_n=layer.candidate_weights_grad,
        b_z=gb[:H], b_r=gb[H:], b_n=layer.candidate_bias_grad)


pydl_backward_glue = concat_layout(unbatched(_pydl_one_backward))
# end glue
