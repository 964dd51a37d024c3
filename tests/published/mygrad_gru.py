"""A GRU written after MyGrad's ``gru`` (rsokl/MyGrad,
``src/mygrad/nnet/layers/gru.py``): a function of a small autograd library,
``gru(X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh, s0=None)`` with X time-major
(T, N, C), ``U*`` (C, D) on the input, ``W*`` (D, D) on the state (MyGrad's
names: U for input weights, W for recurrent ones, D the hidden size),
returning a tensor of shape (T + 1, N, D) whose row 0 is s0. Standard
interpolation ``S_t = (1 - Z_t) * H_t + Z_t * S_{t-1}``, reset before the
product. Calling ``.backward(grad)`` on the result fills ``.grad`` of every
tensor argument.

The forward is correct. The backward never produces a gradient for ``s0``
(s0 is not one of the operation's variables, and the gradient arriving at
row 0 of the output is dropped): dL/dh0 is missing. This look-alike carries
its own minimal ``Tensor``.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np

from gru_props.adapters import time_major


class Tensor:
    """Just enough of an autograd tensor: data, grad, and the op that made it."""

    def __init__(self, data, constant=False, _op=None):
        self.data = np.asarray(data)
        self.grad = None
        self.constant = constant
        self._op = _op

    @property
    def shape(self):
        return self.data.shape

    def backward(self, grad=None):
        grad = np.ones_like(self.data) if grad is None else np.asarray(grad)
        self.grad = grad
        if self._op is not None:
            self._op.backward(grad)


def _sig(a):
    return 1 / (1 + np.exp(-a))


def _dot(a, b):
    return np.tensordot(a, b, axes=([-1], [0]))


def _add_grad(var, grad):
    if not var.constant:
        var.grad = grad if var.grad is None else var.grad + grad


class GRUnit:
    def __call__(self, X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh, s0=None):
        self.X, self.Uz, self.Wz, self.bz, self.Ur, self.Wr, self.br, self.Uh, self.Wh, self.bh = (
            X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh)
        T, N, _ = X.shape
        D = bz.shape[0]
        out = np.zeros((T + 1, N, D), dtype=np.result_type(X.data, Uz.data))
        if s0 is not None:
            out[0] = s0.data if isinstance(s0, Tensor) else s0
        z = _dot(X.data, Uz.data) + bz.data
        r = _dot(X.data, Ur.data) + br.data
        h = _dot(X.data, Uh.data) + bh.data
        for t in range(T):
            z[t] = _sig(z[t] + out[t] @ Wz.data)
            r[t] = _sig(r[t] + out[t] @ Wr.data)
            h[t] = np.tanh(h[t] + (r[t] * out[t]) @ Wh.data)
            out[t + 1] = (1 - z[t]) * h[t] + z[t] * out[t]
        self._s, self._z, self._r, self._h = out, z, r, h
        return out

    def backward(self, grad):
        s, z, r, h = self._s[:-1], self._z, self._r, self._h
        Wz, Wr, Wh = self.Wz.data, self.Wr.data, self.Wh.data
        g_states = np.array(grad[1:], dtype=s.dtype)       # what reached row 0 (s0) is dropped
        dh_pre = 1 - h ** 2
        dz_pre, dr_pre = z * (1 - z), r * (1 - r)
        for t in reversed(range(1, len(g_states))):
            g = g_states[t]
            through_h = ((g * (1 - z[t]) * dh_pre[t]) @ Wh.T)
            g_states[t - 1] += (z[t] * g + ((g * (s[t] - h[t]) * dz_pre[t]) @ Wz.T) + through_h * r[t]
                            + ((through_h * s[t] * dr_pre[t]) @ Wr.T))
        dz = g_states * (s - h) * dz_pre
        dh = g_states * (1 - z) * dh_pre
        dr = _dot(dh, Wh.T) * s * dr_pre
        axes = ([0, 1], [0, 1])
        _add_grad(self.Wz, np.tensordot(s, dz, axes))
        _add_grad(self.bz, dz.sum(axis=(0, 1)))
        _add_grad(self.Uz, np.tensordot(self.X.data, dz, axes))
        _add_grad(self.Wr, np.tensordot(s, dr, axes))
        _add_grad(self.br, dr.sum(axis=(0, 1)))
        _add_grad(self.Ur, np.tensordot(self.X.data, dr, axes))
        _add_grad(self.Wh, np.tensordot(s * r, dh, axes))
        _add_grad(self.bh, dh.sum(axis=(0, 1)))
        _add_grad(self.Uh, np.tensordot(self.X.data, dh, axes))
        _add_grad(self.X, _dot(dz, self.Uz.data.T) + _dot(dh, self.Uh.data.T) + _dot(dr, self.Ur.data.T))


def gru(X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh, s0=None, constant=False):
    args = [a if isinstance(a, Tensor) else Tensor(a) for a in (X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh)]
    op = GRUnit()
    return Tensor(op(*args, s0=s0), constant=constant, _op=op)


def make_gru():
    return gru


# glue: mygrad_gru
def _mygrad_time_major(x, h0, p):
    s = gru(x, p.W_z, p.U_z, p.b_z, p.W_r, p.U_r, p.b_r, p.W_n, p.U_n, p.b_n + p.b_hn, s0=h0)
    return s.data[1:], s.data[-1]


mygrad_forward_glue = time_major(_mygrad_time_major)
# end glue


# glue: mygrad_gru_backward
def _mygrad_time_major_backward(x, h0, p, dhs, dh_T):
    X, s0 = Tensor(x), Tensor(h0)
    Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh = (Tensor(a) for a in (p.W_z, p.U_z, p.b_z, p.W_r, p.U_r, p.b_r,
                                                               p.W_n, p.U_n, p.b_n + p.b_hn))
    s = gru(X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh, s0=s0)
    grad = np.zeros(s.shape)
    grad[1:] = dhs
    grad[-1] += dh_T
    s.backward(grad)
    dh0 = s0.grad if s0.grad is not None else np.zeros_like(h0)
    return X.grad, dh0, dict(W_z=Uz.grad, U_z=Wz.grad, b_z=bz.grad, W_r=Ur.grad, U_r=Wr.grad, b_r=br.grad,
                             W_n=Uh.grad, U_n=Wh.grad, b_n=bh.grad, b_hn=bh.grad)


mygrad_backward_glue = time_major(_mygrad_time_major_backward)
# end glue
