"""GRU layers written after Deep Learning from Scratch 2 (oreilly-japan/
deep-learning-from-scratch-2, ``common/time_layers.py``): a step layer ``GRU``
and a sequence layer ``TimeGRU`` keeping ``params = [Wx, Wh, b]`` with the
gates stacked z, r, h along the columns (Wx (D, 3H)), ``grads`` a list of
arrays of the same shapes, ``forward(xs)`` over a batch (N, T, D) and
``backward(dhs)`` returning dxs; the state lives inside (``stateful``,
``set_state(h)``, the gradient reaching the first state in ``self.dh``).
Chung et al.'s interpolation ``h = (1 - z) * h_prev + z * h~``, reset before
the product. Like the book, the layer writes hs and dxs into ``dtype='f'``
(float32) buffers, while the recurrence itself runs in the parameters' dtype.

``TimeGRU`` is the book's current layer (with a bias); ``TimeGRUNoBias`` its
earlier version in the same repository (``GRU(Wx, Wh)``, no bias,
``self.dWx`` / ``self.dWh`` instead of a grads list). Both are correct.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np

from gru_props.adapters import cache_backward


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


class GRU:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        z = sigmoid(x @ Wx[:, :H] + h_prev @ Wh[:, :H] + b[:H])
        r = sigmoid(x @ Wx[:, H:2 * H] + h_prev @ Wh[:, H:2 * H] + b[H:2 * H])
        cand = np.tanh(x @ Wx[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + b[2 * H:])
        self.cache = (x, h_prev, z, r, cand)
        return (1 - z) * h_prev + z * cand

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        x, h_prev, z, r, cand = self.cache
        g_cand = dh_next * z * (1 - cand ** 2)
        g_rh = g_cand @ Wh[:, 2 * H:].T
        g_z = dh_next * (cand - h_prev) * z * (1 - z)
        g_r = g_rh * h_prev * r * (1 - r)
        gates = np.hstack([g_z, g_r, g_cand])
        dWh = np.hstack([h_prev.T @ g_z, h_prev.T @ g_r, (r * h_prev).T @ g_cand])
        self.grads[0][...] = x.T @ gates
        self.grads[1][...] = dWh
        self.grads[2][...] = gates.sum(axis=0)
        dx = gates @ Wx.T
        dh_prev = dh_next * (1 - z) + g_rh * r + g_z @ Wh[:, :H].T + g_r @ Wh[:, H:2 * H].T
        return dx, dh_prev


class TimeGRU:
    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.dh = None, None
        self.stateful = stateful

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype='f')
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype='f')
        for t in range(T):
            layer = GRU(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), dtype='f')
        dh = 0
        total = [0, 0, 0]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            for i, g in enumerate(layer.grads):
                total[i] += g
        for i, g in enumerate(total):
            self.grads[i][...] = g
        self.dh = dh
        return dxs

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


def make_time_gru(D=3, H=4):
    rng = np.random.default_rng(0)
    return TimeGRU(rng.normal(size=(D, 3 * H)), rng.normal(size=(H, 3 * H)), np.zeros(3 * H), stateful=True)


# glue: dlfs2_time_gru
def dlfs2_forward_glue(x, h0, p):
    layer = TimeGRU(np.hstack([p.W_z, p.W_r, p.W_n]), np.hstack([p.U_z, p.U_r, p.U_n]),
                    np.hstack([p.b_z, p.b_r, p.b_n + p.b_hn]), stateful=True)
    layer.set_state(h0)
    hs = layer.forward(x)
    return hs, layer.h
# end glue


# glue: dlfs2_time_gru_backward
def _dlfs2_forward(x, h0, p):
    layer = TimeGRU(np.hstack([p.W_z, p.W_r, p.W_n]), np.hstack([p.U_z, p.U_r, p.U_n]),
                    np.hstack([p.b_z, p.b_r, p.b_n + p.b_hn]), stateful=True)
    layer.set_state(h0)
    return layer.forward(x), layer


def _dlfs2_backward(dhs, layer):
    dxs = layer.backward(dhs)
    (W_z, W_r, W_n), (U_z, U_r, U_n), (b_z, b_r, b_n) = (np.split(g, 3, axis=-1) for g in layer.grads)
    grads = dict(W_z=W_z, W_r=W_r, W_n=W_n, U_z=U_z, U_r=U_r, U_n=U_n, b_z=b_z, b_r=b_r, b_n=b_n, b_hn=b_n)
    return dxs, layer.dh, grads


dlfs2_backward_glue = cache_backward(_dlfs2_backward, _dlfs2_forward)
# end glue


# ------------------------------------------ the earlier version, no bias

class GRUNoBias:
    """The book's first GRU layer: ``GRU(Wx, Wh)``, gradients in ``self.dWx``, ``self.dWh``."""

    def __init__(self, Wx, Wh):
        self.Wx, self.Wh = Wx, Wh
        self.dWx, self.dWh = None, None
        self.cache = None

    def forward(self, x, h_prev):
        H = self.Wh.shape[0]
        z = sigmoid(x @ self.Wx[:, :H] + h_prev @ self.Wh[:, :H])
        r = sigmoid(x @ self.Wx[:, H:2 * H] + h_prev @ self.Wh[:, H:2 * H])
        cand = np.tanh(x @ self.Wx[:, 2 * H:] + (r * h_prev) @ self.Wh[:, 2 * H:])
        self.cache = (x, h_prev, z, r, cand)
        return (1 - z) * h_prev + z * cand

    def backward(self, dh_next):
        H = self.Wh.shape[0]
        x, h_prev, z, r, cand = self.cache
        g_cand = dh_next * z * (1 - cand ** 2)
        g_rh = g_cand @ self.Wh[:, 2 * H:].T
        g_z = dh_next * (cand - h_prev) * z * (1 - z)
        g_r = g_rh * h_prev * r * (1 - r)
        gates = np.hstack([g_z, g_r, g_cand])
        self.dWx = x.T @ gates
        self.dWh = np.hstack([h_prev.T @ g_z, h_prev.T @ g_r, (r * h_prev).T @ g_cand])
        dh_prev = dh_next * (1 - z) + g_rh * r + g_z @ self.Wh[:, :H].T + g_r @ self.Wh[:, H:2 * H].T
        return gates @ self.Wx.T, dh_prev


class TimeGRUNoBias:
    def __init__(self, Wx, Wh, stateful=False):
        self.Wx, self.Wh = Wx, Wh
        self.dWx, self.dWh = None, None
        self.layers = None
        self.h, self.dh = None, None
        self.stateful = stateful

    def forward(self, xs):
        N, T, D = xs.shape
        H = self.Wh.shape[0]
        self.layers = []
        hs = np.empty((N, T, H), dtype='f')
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H), dtype='f')
        for t in range(T):
            layer = GRUNoBias(self.Wx, self.Wh)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        N, T, H = dhs.shape
        dxs = np.empty((N, T, self.Wx.shape[0]), dtype='f')
        self.dWx, self.dWh = 0, 0
        dh = 0
        for t in reversed(range(T)):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs[:, t, :] = dx
            self.dWx += layer.dWx
            self.dWh += layer.dWh
        self.dh = dh
        return dxs

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None


def make_time_gru_no_bias(D=3, H=4):
    rng = np.random.default_rng(0)
    return TimeGRUNoBias(rng.normal(size=(D, 3 * H)), rng.normal(size=(H, 3 * H)), stateful=True)


# glue: dlfs2_no_bias_backward
def _nobias_forward(x, h0, p):
    layer = TimeGRUNoBias(np.hstack([p.W_z, p.W_r, p.W_n]), np.hstack([p.U_z, p.U_r, p.U_n]), stateful=True)
    layer.set_state(h0)
    return layer.forward(x), layer


def _nobias_backward(dhs, layer):
    dxs = layer.backward(dhs)
    (W_z, W_r, W_n), (U_z, U_r, U_n) = np.split(layer.dWx, 3, axis=1), np.split(layer.dWh, 3, axis=1)
    return dxs, layer.dh, dict(W_z=W_z, W_r=W_r, W_n=W_n, U_z=U_z, U_r=U_r, U_n=U_n)


dlfs2_no_bias_backward_glue = cache_backward(_nobias_backward, _nobias_forward)
# end glue
