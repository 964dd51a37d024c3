"""GRU cells written for CMU 11-785 (Introduction to Deep Learning) HW3P1,
``mytorch/gru_cell.py``, as public student solutions write them.

The handout fixes the interface: ``GRUCell(input_size, hidden_size)`` with
weights as attributes ``Wrx, Wzx, Wnx`` (h, d), ``Wrh, Wzh, Wnh`` (h, h) and
biases ``brx ... bnh`` (h,) (PyTorch's per-gate layout: ``Wrx`` is
``weight_ih[:h]``), ``init_weights(...)`` in that order, ``forward(x, h_prev_t)``
on ONE example (x (d,), h (h,)), and ``backward(delta)`` returning
``(dx, dh_prev_t)`` while adding into ``self.dWrx``, ..., ``self.dbnh``. The
equations are PyTorch's (reset after the recurrent product):
``h_t = (1 - z) * n + z * h_{t-1}``.

Three cells here were read in public repositories (a correct one, one that
builds the chain rule from unary/binary nodes, one that assigns instead of
accumulating); ``cmu_described.py`` holds the ones written from descriptions.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np

from gru_props.adapters import torch_layout, unbatched


class Sigmoid:
    """The handout's activation objects remember their last output."""

    def forward(self, z):
        self.A = 1.0 / (1.0 + np.exp(-z))
        return self.A

    __call__ = forward

    def derivative(self, state=None):
        a = self.A if state is None else state
        return a * (1.0 - a)


class Tanh:
    def forward(self, z):
        self.A = np.tanh(z)
        return self.A

    __call__ = forward

    def derivative(self, state=None):
        a = self.A if state is None else state
        return 1.0 - a * a


class GRUCell:
    """A correct HW3P1 cell: dot products in column-vector form, gradients added in."""

    def __init__(self, input_size, hidden_size):
        self.d, self.h = input_size, hidden_size
        h, d = hidden_size, input_size
        rng = np.random.default_rng(0)
        self.Wrx, self.Wzx, self.Wnx = (rng.standard_normal((h, d)) for _ in range(3))
        self.Wrh, self.Wzh, self.Wnh = (rng.standard_normal((h, h)) for _ in range(3))
        self.brx, self.bzx, self.bnx, self.brh, self.bzh, self.bnh = (rng.standard_normal(h) for _ in range(6))
        self.zero_grads()
        self.r_act, self.z_act, self.h_act = Sigmoid(), Sigmoid(), Tanh()

    def zero_grads(self):
        h, d = self.h, self.d
        self.dWrx, self.dWzx, self.dWnx = np.zeros((h, d)), np.zeros((h, d)), np.zeros((h, d))
        self.dWrh, self.dWzh, self.dWnh = np.zeros((h, h)), np.zeros((h, h)), np.zeros((h, h))
        self.dbrx, self.dbzx, self.dbnx = np.zeros(h), np.zeros(h), np.zeros(h)
        self.dbrh, self.dbzh, self.dbnh = np.zeros(h), np.zeros(h), np.zeros(h)

    def init_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh):
        self.Wrx, self.Wzx, self.Wnx = Wrx, Wzx, Wnx
        self.Wrh, self.Wzh, self.Wnh = Wrh, Wzh, Wnh
        self.brx, self.bzx, self.bnx = brx, bzx, bnx
        self.brh, self.bzh, self.bnh = brh, bzh, bnh

    def __call__(self, x, h_prev_t):
        return self.forward(x, h_prev_t)

    def forward(self, x, h_prev_t):
        self.x, self.hidden = x, h_prev_t
        self.r = self.r_act.forward(np.dot(self.Wrx, x) + self.brx + np.dot(self.Wrh, h_prev_t) + self.brh)
        self.z = self.z_act.forward(np.dot(self.Wzx, x) + self.bzx + np.dot(self.Wzh, h_prev_t) + self.bzh)
        self.n_rec = np.dot(self.Wnh, h_prev_t) + self.bnh
        self.n = self.h_act.forward(np.dot(self.Wnx, x) + self.bnx + self.r * self.n_rec)
        h_t = (1 - self.z) * self.n + self.z * h_prev_t
        assert h_t.shape == (self.h,)
        return h_t

    def backward(self, delta):
        """delta (h,): dL/dh_t from above plus from the next step. Returns dx (d,), dh_prev_t (h,)."""
        delta = np.reshape(delta, self.h)
        g_n = delta * (1 - self.z) * (1 - self.n ** 2)       # through tanh
        g_z = delta * (self.hidden - self.n) * self.z * (1 - self.z)
        g_r = g_n * self.n_rec * self.r * (1 - self.r)
        self.dWnx += np.outer(g_n, self.x)
        self.dbnx += g_n
        self.dWnh += np.outer(g_n * self.r, self.hidden)
        self.dbnh += g_n * self.r
        self.dWzx += np.outer(g_z, self.x)
        self.dbzx += g_z
        self.dWzh += np.outer(g_z, self.hidden)
        self.dbzh += g_z
        self.dWrx += np.outer(g_r, self.x)
        self.dbrx += g_r
        self.dWrh += np.outer(g_r, self.hidden)
        self.dbrh += g_r
        dx = self.Wnx.T @ g_n + self.Wzx.T @ g_z + self.Wrx.T @ g_r
        dh_prev_t = delta * self.z + self.Wnh.T @ (g_n * self.r) + self.Wzh.T @ g_z + self.Wrh.T @ g_r
        return dx, dh_prev_t


def make_cell():
    return GRUCell(3, 4)


# glue: cmu_hw3p1_gru_cell
def _cmu_step(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    cell = GRUCell(x_t.shape[0], h_prev.shape[0])
    cell.init_weights(*np.split(weight_ih, 3), *np.split(weight_hh, 3), *np.split(bias_ih, 3), *np.split(bias_hh, 3))
    return cell.forward(x_t, h_prev)


cmu_forward_glue = torch_layout(unbatched(_cmu_step))
# end glue


# glue: cmu_hw3p1_gru_cell_backward
def _cmu_step_backward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh_t):
    cell = GRUCell(x_t.shape[0], h_prev.shape[0])
    cell.init_weights(*np.split(weight_ih, 3), *np.split(weight_hh, 3), *np.split(bias_ih, 3), *np.split(bias_hh, 3))
    cell.forward(x_t, h_prev)
    dx, dh_prev = cell.backward(dh_t)
    c = cell
    return np.ravel(dx), np.ravel(dh_prev), {
        "weight_ih": np.vstack([c.dWrx, c.dWzx, c.dWnx]), "weight_hh": np.vstack([c.dWrh, c.dWzh, c.dWnh]),
        "bias_ih": np.hstack([c.dbrx, c.dbzx, c.dbnx]), "bias_hh": np.hstack([c.dbrh, c.dbzh, c.dbnh])}


cmu_backward_glue = torch_layout(unbatched(_cmu_step_backward))
# end glue


# ------------------------------------------------- the unary/binary-node cell

class GRUCellNodes:
    """A solution that writes every equation as a chain of unary and binary
    nodes (``self.z1 = Wrx @ x``, ``self.z2 = Wrh @ h``, ...) and backpropagates
    node by node through one helper, with the biases named after PyTorch
    (``bir, biz, bin, bhr, bhz, bhn``). Every node's gradient is an attribute
    that is added to and never zeroed: correct for the one backward call per
    cell that the handout's autograder makes (and for a fresh cell per step),
    while a cell object reused for a second backward adds the first call's
    node gradients in again.
    """

    def __init__(self, in_dim, hidden_dim):
        self.d, self.h = in_dim, hidden_dim
        h, d = hidden_dim, in_dim
        self.Wrx, self.Wzx, self.Wnx = np.zeros((h, d)), np.zeros((h, d)), np.zeros((h, d))
        self.Wrh, self.Wzh, self.Wnh = np.zeros((h, h)), np.zeros((h, h)), np.zeros((h, h))
        self.bir = self.biz = self.bin = self.bhr = self.bhz = self.bhn = np.zeros(h)
        for name in ("dWrx", "dWzx", "dWnx"):
            setattr(self, name, np.zeros((h, d)))
        for name in ("dWrh", "dWzh", "dWnh"):
            setattr(self, name, np.zeros((h, h)))
        for name in ("dbir", "dbiz", "dbin", "dbhr", "dbhz", "dbhn"):
            setattr(self, name, np.zeros(h))
        self._node_grads = {}
        self.r_act, self.z_act, self.h_act = Sigmoid(), Sigmoid(), Tanh()

    def init_weights(self, Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, bir, biz, bin, bhr, bhz, bhn):
        self.Wrx, self.Wzx, self.Wnx, self.Wrh, self.Wzh, self.Wnh = Wrx, Wzx, Wnx, Wrh, Wzh, Wnh
        self.bir, self.biz, self.bin, self.bhr, self.bhz, self.bhn = bir, biz, bin, bhr, bhz, bhn

    def forward(self, x, h):
        self.x, self.hidden = x, h
        v = self._v = {}
        v["rx"], v["rh"] = self.Wrx @ x, self.Wrh @ h
        v["r_sum"] = v["rx"] + v["rh"] + self.bir + self.bhr
        self.r = self.r_act(v["r_sum"])
        v["zx"], v["zh"] = self.Wzx @ x, self.Wzh @ h
        v["z_sum"] = v["zx"] + v["zh"] + self.biz + self.bhz
        self.z = self.z_act(v["z_sum"])
        v["nx"] = self.Wnx @ x + self.bin
        v["nh"] = self.Wnh @ h + self.bhn
        v["n_gated"] = v["nh"] * self.r
        self.n = self.h_act(v["n_gated"] + v["nx"])
        v["one_minus_z"] = 1 - self.z
        self.h_t = v["one_minus_z"] * self.n + self.z * h
        return self.h_t

    def _acc(self, name, value):
        """Add into a node's gradient (never reset)."""
        self._node_grads[name] = self._node_grads.get(name, 0) + value
        return self._node_grads[name]

    @staticmethod
    def _local(grad, op, a=None, b=None):
        """Gradients of one node's inputs from the gradient of its output."""
        if op == "+":
            return grad, grad
        if op == "*":
            return grad * b, grad * a
        if op == "@":               # out = a @ b with a a matrix, b a vector
            return np.outer(grad, b), a.T @ grad
        if op == "-":
            return grad, -grad
        raise ValueError(op)

    def backward(self, delta):
        delta = np.reshape(delta, self.h)
        v, acc, loc = self._v, self._acc, self._local
        dx = np.zeros(self.d)
        left, right = loc(delta, "+")
        g_left, g_right = acc("left", left), acc("right", right)
        a, b = loc(g_right, "*", self.z, self.hidden)
        acc("z", a)
        g_hidden = acc("hidden", b)
        a, b = loc(g_left, "*", v["one_minus_z"], self.n)
        g_omz, g_n = acc("one_minus_z", a), acc("n", b)
        _, b = loc(g_omz, "-")
        g_z = acc("z", b)
        g_pre_n = acc("pre_n", g_n * self.h_act.derivative())
        a, b = loc(g_pre_n, "+")
        g_gated, g_nx = acc("n_gated", a), acc("nx", b)
        a, b = loc(g_gated, "*", v["nh"], self.r)
        g_nh, g_r = acc("nh", a), acc("r", b)
        self.dbhn = self.dbhn + g_nh
        dW, dh = loc(g_nh, "@", self.Wnh, self.hidden)
        self.dWnh = self.dWnh + dW
        g_hidden = acc("hidden", dh)
        self.dbin = self.dbin + g_nx
        dW, dxx = loc(g_nx, "@", self.Wnx, self.x)
        self.dWnx = self.dWnx + dW
        dx = dx + dxx
        g_pre_z = acc("pre_z", g_z * self.z_act.derivative())
        self.dbhz, self.dbiz = self.dbhz + g_pre_z, self.dbiz + g_pre_z
        dW, dh = loc(g_pre_z, "@", self.Wzh, self.hidden)
        self.dWzh = self.dWzh + dW
        g_hidden = acc("hidden", dh)
        dW, dxx = loc(g_pre_z, "@", self.Wzx, self.x)
        self.dWzx = self.dWzx + dW
        dx = dx + dxx
        g_pre_r = acc("pre_r", g_r * self.r_act.derivative())
        self.dbhr, self.dbir = self.dbhr + g_pre_r, self.dbir + g_pre_r
        dW, dh = loc(g_pre_r, "@", self.Wrh, self.hidden)
        self.dWrh = self.dWrh + dW
        g_hidden = acc("hidden", dh)
        dW, dxx = loc(g_pre_r, "@", self.Wrx, self.x)
        self.dWrx = self.dWrx + dW
        dx = dx + dxx
        return dx.reshape(1, self.d), g_hidden.reshape(1, self.h)


def make_cell_nodes():
    return GRUCellNodes(3, 4)


# glue: cmu_hw3p1_nodes_backward
def _nodes_step_backward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh_t):
    cell = GRUCellNodes(x_t.shape[0], h_prev.shape[0])
    cell.init_weights(*np.split(weight_ih, 3), *np.split(weight_hh, 3), *np.split(bias_ih, 3), *np.split(bias_hh, 3))
    cell.forward(x_t, h_prev)
    dx, dh_prev = cell.backward(dh_t)
    c = cell
    return np.ravel(dx), np.ravel(dh_prev), {
        "weight_ih": np.vstack([c.dWrx, c.dWzx, c.dWnx]), "weight_hh": np.vstack([c.dWrh, c.dWzh, c.dWnh]),
        "bias_ih": np.hstack([c.dbir, c.dbiz, c.dbin]), "bias_hh": np.hstack([c.dbhr, c.dbhz, c.dbhn])}


cmu_nodes_backward_glue = torch_layout(unbatched(_nodes_step_backward))
# end glue


# ------------------------------------------- the cell that assigns gradients

class GRUCellAssigned(GRUCell):
    """A solution whose backward is right for one call but stores every
    weight and bias gradient with ``=`` instead of ``+=``: run over a
    sequence with one cell (forward re-run at each step, as the handout's
    later GRU-inference part does), only the last step processed (t = 0)
    keeps its contribution. The handout's autograder calls backward once, so
    it passes there.
    """

    def backward(self, delta):
        delta = np.reshape(delta, self.h)
        g_z_out = (self.hidden - self.n) * delta
        g_n_out = (1 - self.z) * delta
        g_n = g_n_out * self.h_act.derivative()
        g_r_out = g_n * self.n_rec
        self.dWnx = np.outer(g_n, self.x)
        self.dbnx = g_n
        self.dWnh = np.outer(g_n * self.r, self.hidden)
        self.dbnh = g_n * self.r
        g_z = g_z_out * self.z_act.derivative()
        self.dWzx = np.outer(g_z, self.x)
        self.dbzx = g_z
        self.dWzh = np.outer(g_z, self.hidden)
        self.dbzh = g_z
        g_r = g_r_out * self.r_act.derivative()
        self.dWrx = np.outer(g_r, self.x)
        self.dbrx = g_r
        self.dWrh = np.outer(g_r, self.hidden)
        self.dbrh = g_r
        dx = self.Wnx.T @ g_n + self.Wzx.T @ g_z + self.Wrx.T @ g_r
        dh_prev_t = self.Wnh.T @ (g_n * self.r) + self.Wzh.T @ g_z + self.Wrh.T @ g_r + delta * self.z
        return dx, dh_prev_t


def make_cell_assigned():
    return GRUCellAssigned(3, 4)


# glue: cmu_hw3p1_assigned_backward
def _assigned_seq_backward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, dhs, dh_T):
    cell = GRUCellAssigned(x.shape[1], h0.shape[0])
    cell.init_weights(*np.split(weight_ih, 3), *np.split(weight_hh, 3), *np.split(bias_ih, 3), *np.split(bias_hh, 3))
    hs = [h0]
    for x_t in x:
        hs.append(cell.forward(x_t, hs[-1]))
    dx, dh = np.zeros_like(x), dh_T
    for t in reversed(range(len(x))):
        cell.forward(x[t], hs[t])
        dx[t], dh = cell.backward(dhs[t] + dh)
    c = cell
    return dx, dh, {
        "weight_ih": np.vstack([c.dWrx, c.dWzx, c.dWnx]), "weight_hh": np.vstack([c.dWrh, c.dWzh, c.dWnh]),
        "bias_ih": np.hstack([c.dbrx, c.dbzx, c.dbnx]), "bias_hh": np.hstack([c.dbrh, c.dbzh, c.dbnh])}


cmu_assigned_backward_glue = torch_layout(unbatched(_assigned_seq_backward))
# end glue
