"""GRU cells of the older CMU 11-785 handout (``GRU_Cell``), as public student
solutions write them: column-vector weights ``Wzh, Wrh, Wh`` (h, h) and
``Wzx, Wrx, Wx`` (h, d) set by ``init_weights(Wzh, Wrh, Wh, Wzx, Wrx, Wx)``,
no biases, one example at a time, and Chung et al.'s interpolation
``h_t = (1 - z) * h_{t-1} + z * h~`` with the reset gate applied before the
product (``Wh @ (r * h)``). ``backward(delta)`` returns ``(dx, dh)`` as
(1, d) and (1, h) and leaves the weight gradients in ``self.dW*``.

``GRU_Cell`` is a correct solution; ``GRU_CellNodes`` the one published as
nianiaele/gru-cell-in-numpy (``gru.py``), whose backward has three slips.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np

from gru_props.adapters import transposed_weights, unbatched


class Sigmoid:
    def forward(self, x):
        self.res = 1.0 / (1.0 + np.exp(-x))
        return self.res

    __call__ = forward

    def derivative(self, state=None):
        s = self.res if state is None else state
        return s * (1.0 - s)

    def backward(self):
        return self.res * (1.0 - self.res)


class Tanh:
    def forward(self, x):
        self.res = np.tanh(x)
        return self.res

    __call__ = forward

    def derivative(self, state=None):
        t = self.res if state is None else state
        return 1.0 - t ** 2

    def backward(self):
        return 1.0 - self.res ** 2


class GRU_Cell:
    """A correct solution: row-vector products with transposed weights, gradients added in."""

    def __init__(self, in_dim, hidden_dim):
        self.d, self.h = in_dim, hidden_dim
        h, d = hidden_dim, in_dim
        self.Wzh, self.Wrh, self.Wh = np.zeros((h, h)), np.zeros((h, h)), np.zeros((h, h))
        self.Wzx, self.Wrx, self.Wx = np.zeros((h, d)), np.zeros((h, d)), np.zeros((h, d))
        self.dWzh, self.dWrh, self.dWh = np.zeros((h, h)), np.zeros((h, h)), np.zeros((h, h))
        self.dWzx, self.dWrx, self.dWx = np.zeros((h, d)), np.zeros((h, d)), np.zeros((h, d))
        self.z_act, self.r_act, self.h_act = Sigmoid(), Sigmoid(), Tanh()

    def init_weights(self, Wzh, Wrh, Wh, Wzx, Wrx, Wx):
        self.Wzh, self.Wrh, self.Wh = Wzh, Wrh, Wh
        self.Wzx, self.Wrx, self.Wx = Wzx, Wrx, Wx

    def __call__(self, x, h):
        return self.forward(x, h)

    def forward(self, x, h):
        self.x, self.hidden = x, h
        self.z = self.z_act(np.dot(x, self.Wzx.T) + np.dot(h, self.Wzh.T))
        self.r = self.r_act(np.dot(x, self.Wrx.T) + np.dot(h, self.Wrh.T))
        self.h_tilda = self.h_act(np.dot(x, self.Wx.T) + np.dot(self.r * h, self.Wh.T))
        return (1 - self.z) * h + self.z * self.h_tilda

    def backward(self, delta):
        delta = np.reshape(delta, (1, self.h))
        dx = np.zeros((1, self.d))
        dh = delta * (1 - self.z)
        g_cand = delta * self.z * self.h_act.derivative(state=self.h_tilda)
        g_z = delta * (self.h_tilda - self.hidden) * self.z_act.derivative(state=self.z)
        self.dWx += g_cand.T @ self.x.reshape(1, self.d)
        self.dWh += g_cand.T @ (self.r * self.hidden).reshape(1, self.h)
        dx += g_cand @ self.Wx
        g_rh = g_cand @ self.Wh
        dh += g_rh * self.r
        g_r = g_rh * self.hidden * self.r_act.derivative(state=self.r)
        for g, Wx_, Wh_, dWx_, dWh_ in ((g_z, self.Wzx, self.Wzh, self.dWzx, self.dWzh),
                                         (g_r, self.Wrx, self.Wrh, self.dWrx, self.dWrh)):
            dx += g @ Wx_
            dh += g @ Wh_
            dWx_ += g.T @ self.x.reshape(1, self.d)
            dWh_ += g.T @ self.hidden.reshape(1, self.h)
        return dx, dh


def make_cell():
    return GRU_Cell(3, 4)


# glue: cmu_old_gru_cell
def _old_step(x_t, h_prev, p):
    cell = GRU_Cell(p.D, p.H)
    cell.init_weights(p.U_z, p.U_r, p.U_n, p.W_z, p.W_r, p.W_n)
    return cell.forward(x_t, h_prev)


cmu_old_forward_glue = transposed_weights(unbatched(_old_step))
# end glue


# glue: cmu_old_gru_cell_backward
def _old_step_backward(x_t, h_prev, p, dh_t):
    cell = GRU_Cell(p.D, p.H)
    cell.init_weights(p.U_z, p.U_r, p.U_n, p.W_z, p.W_r, p.W_n)
    cell.forward(x_t, h_prev)
    dx, dh = cell.backward(dh_t)
    zeros = np.zeros(p.H)
    return dx[0], dh[0], {"W_z": cell.dWzx, "W_r": cell.dWrx, "W_n": cell.dWx, "U_z": cell.dWzh, "U_r": cell.dWrh,
                          "U_n": cell.dWh, "b_z": zeros, "b_r": zeros, "b_n": zeros, "b_hn": zeros}


cmu_old_backward_glue = transposed_weights(unbatched(_old_step_backward))
# end glue


# ------------------------------------------ the node-by-node cell (published)

class GRU_CellNodes(GRU_Cell):
    """After nianiaele/gru-cell-in-numpy: the forward is a chain of named
    nodes on column vectors (x (d, 1), h (h, 1)), returning h_t raveled;
    ``backward(delta)`` zeroes every node and weight gradient, then walks the
    chain through one helper ``_local(grad, op, a, b)``. Three slips:

    * its product rule hands each factor its own value: for c = a * b it
      gives a the gradient grad * a and b the gradient grad * b (swapped);
    * the gradient of ``1 - z`` with respect to z is added to the ``1 - z``
      node's own gradient (already used) instead of to z's;
    * the reset gate's pre-activation sum is passed on as if it were that
      sum's gradient (a forward value used as a gradient).
    """

    def forward(self, x, h):
        x, h = np.reshape(x, (-1, 1)), np.reshape(h, (-1, 1))
        self.x, self.hidden = x, h
        n = self._n = {}
        n["zh"], n["zx"] = self.Wzh @ h, self.Wzx @ x
        n["z_sum"] = n["zh"] + n["zx"]
        self.z = self.z_act(n["z_sum"])
        n["rh"], n["rx"] = self.Wrh @ h, self.Wrx @ x
        n["r_sum"] = n["rh"] + n["rx"]
        self.r = self.r_act(n["r_sum"])
        n["rhid"] = self.r * h
        n["cand_h"], n["cand_x"] = self.Wh @ n["rhid"], self.Wx @ x
        n["cand_sum"] = n["cand_h"] + n["cand_x"]
        self.h_tilda = self.h_act(n["cand_sum"])
        n["keep"] = 1 - self.z
        n["kept"], n["taken"] = n["keep"] * h, self.z * self.h_tilda
        return np.ravel(n["kept"] + n["taken"])

    @staticmethod
    def _local(grad, op, a=None, b=None, act=None):
        if op == "+":
            return grad, grad
        if op == "-":
            return grad, -grad
        if op == "*":
            return grad * a, grad * b
        if op == "@":
            return grad @ b.T, a.T @ grad
        if op == "act":
            return grad * act.backward()
        raise ValueError(op)

    def backward(self, delta):
        n, loc = self._n, self._local
        delta = np.reshape(delta, (1, -1)).T
        g = {k: np.zeros_like(v) for k, v in n.items()}
        g.update(z=np.zeros_like(self.z), h_tilda=np.zeros_like(self.h_tilda), r=np.zeros_like(self.r))
        dh, dx = np.zeros_like(self.hidden), np.zeros_like(self.x)
        h, d = self.h, self.d
        self.dWzh, self.dWrh, self.dWh = np.zeros((h, h)), np.zeros((h, h)), np.zeros((h, h))
        self.dWzx, self.dWrx, self.dWx = np.zeros((h, d)), np.zeros((h, d)), np.zeros((h, d))
        a, b = loc(delta, "+")
        g["kept"] += a
        g["taken"] += b
        a, b = loc(g["taken"], "*", self.z, self.h_tilda)
        g["z"] += a
        g["h_tilda"] += b
        a, b = loc(g["kept"], "*", n["keep"], self.hidden)
        g["keep"] += a
        dh += b
        _, b = loc(g["keep"], "-")
        g["keep"] += b
        g["cand_sum"] += loc(g["h_tilda"], "act", act=self.h_act)
        a, b = loc(g["cand_sum"], "+")
        g["cand_h"] += a
        g["cand_x"] += b
        a, b = loc(g["cand_x"], "@", self.Wx, self.x)
        self.dWx += a
        dx += b
        a, b = loc(g["cand_h"], "@", self.Wh, n["rhid"])
        self.dWh += a
        g["rhid"] += b
        a, b = loc(g["rhid"], "*", self.r, self.hidden)
        g["r"] += a
        dh += b
        g["r_sum"] += loc(g["r"], "act", act=self.r_act)
        a, b = loc(n["r_sum"], "+")
        g["rh"] += a
        g["rx"] += b
        a, b = loc(g["rx"], "@", self.Wrx, self.x)
        self.dWrx += a
        dx += b
        a, b = loc(g["rh"], "@", self.Wrh, self.hidden)
        self.dWrh += a
        dh += b
        g["z_sum"] += loc(g["z"], "act", act=self.z_act)
        a, b = loc(g["z_sum"], "+")
        g["zh"] += a
        g["zx"] += b
        a, b = loc(g["zx"], "@", self.Wzx, self.x)
        self.dWzx += a
        dx += b
        a, b = loc(g["zh"], "@", self.Wzh, self.hidden)
        self.dWzh += a
        dh += b
        return dx.T, dh.T


def make_cell_nodes():
    return GRU_CellNodes(3, 4)


# glue: cmu_old_nodes_backward
def _nodes_step_backward(x_t, h_prev, p, dh_t):
    cell = GRU_CellNodes(p.D, p.H)
    cell.init_weights(p.U_z, p.U_r, p.U_n, p.W_z, p.W_r, p.W_n)
    cell.forward(x_t, h_prev)
    dx, dh = cell.backward(dh_t)
    zeros = np.zeros(p.H)
    return dx[0], dh[0], {"W_z": cell.dWzx, "W_r": cell.dWrx, "W_n": cell.dWx, "U_z": cell.dWzh, "U_r": cell.dWrh,
                          "U_n": cell.dWh, "b_z": zeros, "b_r": zeros, "b_n": zeros, "b_hn": zeros}


cmu_old_nodes_backward_glue = transposed_weights(unbatched(_nodes_step_backward))
# end glue
