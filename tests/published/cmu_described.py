"""CMU 11-785 HW3P1 ``GRUCell`` backward passes written from the descriptions
in the project's round-3 notes ("How published learner GRUs are written"),
not from code read here: the interface is the handout's (see
``cmu_hw3p1.py``, whose forward they share), the slips are the combinations
the notes report seeing together in published solutions.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np

from gru_props.adapters import torch_layout, unbatched

from .cmu_hw3p1 import GRUCell


class GRUCellPreactivation(GRUCell):
    """The derivative formulas of tanh and sigmoid written for their outputs,
    ``1 - a**2`` and ``a * (1 - a)``, applied to the pre-activations a."""

    def forward(self, x, h_prev_t):
        self.x, self.hidden = x, h_prev_t
        self.a_r = self.Wrx @ x + self.brx + self.Wrh @ h_prev_t + self.brh
        self.a_z = self.Wzx @ x + self.bzx + self.Wzh @ h_prev_t + self.bzh
        self.r, self.z = self.r_act(self.a_r), self.z_act(self.a_z)
        self.n_rec = self.Wnh @ h_prev_t + self.bnh
        self.a_n = self.Wnx @ x + self.bnx + self.r * self.n_rec
        self.n = self.h_act(self.a_n)
        return (1 - self.z) * self.n + self.z * h_prev_t

    def backward(self, delta):
        delta = np.reshape(delta, self.h)
        g_n = delta * (1 - self.z) * (1 - self.a_n ** 2)
        g_z = delta * (self.hidden - self.n) * self.a_z * (1 - self.a_z)
        g_r = g_n * self.n_rec * self.a_r * (1 - self.a_r)
        return self._accumulate(delta, g_n, g_z, g_r)

    def _accumulate(self, delta, g_n, g_z, g_r, keep_z_path=True):
        self.dWnx += np.outer(g_n, self.x)
        self.dbnx += g_n
        self.dWnh += np.outer(g_n * self.r, self.hidden)
        self.dbnh += g_n * self.r
        for g, dWx, dWh, dbx, dbh in ((g_z, self.dWzx, self.dWzh, self.dbzx, self.dbzh),
                                      (g_r, self.dWrx, self.dWrh, self.dbrx, self.dbrh)):
            dWx += np.outer(g, self.x)
            dWh += np.outer(g, self.hidden)
            dbx += g
            dbh += g
        dx = self.Wnx.T @ g_n + self.Wzx.T @ g_z + self.Wrx.T @ g_r
        dh = self.Wnh.T @ (g_n * self.r) + self.Wzh.T @ g_z + self.Wrh.T @ g_r
        if keep_z_path:
            dh = dh + delta * self.z
        return dx, dh


class GRUCellNoCarry(GRUCellPreactivation):
    """Three slips together: dh_prev_t lacks the direct term ``delta * z``
    (the path h_{t-1} -> h_t through the interpolation); the update gate's
    gradient lacks sigmoid' (``delta * (h - n)`` is used as the gradient of
    its pre-activation); and tanh' is computed as ``1 - tanh(n)**2`` from n,
    which is already tanh of the pre-activation (tanh applied twice)."""

    def backward(self, delta):
        delta = np.reshape(delta, self.h)
        g_n = delta * (1 - self.z) * (1 - np.tanh(self.n) ** 2)
        g_z = delta * (self.hidden - self.n)
        g_r = g_n * self.n_rec * self.r * (1 - self.r)
        return self._accumulate(delta, g_n, g_z, g_r, keep_z_path=False)


class GRUCellHiddenBiasAssigned(GRUCell):
    """Everything right except the recurrent biases' gradients, which are
    stored with ``=`` (``self.dbrh = ...``) while every other gradient is
    added in: over a sequence run with one cell only the last step processed
    (t = 0) survives in ``dbrh, dbzh, dbnh``."""

    def backward(self, delta):
        delta = np.reshape(delta, self.h)
        g_n = delta * (1 - self.z) * (1 - self.n ** 2)
        g_z = delta * (self.hidden - self.n) * self.z * (1 - self.z)
        g_r = g_n * self.n_rec * self.r * (1 - self.r)
        self.dWnx += np.outer(g_n, self.x)
        self.dWnh += np.outer(g_n * self.r, self.hidden)
        self.dWzx += np.outer(g_z, self.x)
        self.dWzh += np.outer(g_z, self.hidden)
        self.dWrx += np.outer(g_r, self.x)
        self.dWrh += np.outer(g_r, self.hidden)
        self.dbnx += g_n
        self.dbzx += g_z
        self.dbrx += g_r
        self.dbnh = g_n * self.r
        self.dbzh = g_z
        self.dbrh = g_r
        dx = self.Wnx.T @ g_n + self.Wzx.T @ g_z + self.Wrx.T @ g_r
        dh_prev_t = delta * self.z + self.Wnh.T @ (g_n * self.r) + self.Wzh.T @ g_z + self.Wrh.T @ g_r
        return dx, dh_prev_t


def make_preactivation():
    return GRUCellPreactivation(3, 4)


def make_no_carry():
    return GRUCellNoCarry(3, 4)


def make_hidden_bias_assigned():
    return GRUCellHiddenBiasAssigned(3, 4)


# glue: cmu_described_preactivation_backward
def _preact_step_backward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh_t):
    cell = GRUCellPreactivation(x_t.shape[0], h_prev.shape[0])
    cell.init_weights(*np.split(weight_ih, 3), *np.split(weight_hh, 3), *np.split(bias_ih, 3), *np.split(bias_hh, 3))
    cell.forward(x_t, h_prev)
    dx, dh_prev = cell.backward(dh_t)
    c = cell
    return np.ravel(dx), np.ravel(dh_prev), {
        "weight_ih": np.vstack([c.dWrx, c.dWzx, c.dWnx]), "weight_hh": np.vstack([c.dWrh, c.dWzh, c.dWnh]),
        "bias_ih": np.hstack([c.dbrx, c.dbzx, c.dbnx]), "bias_hh": np.hstack([c.dbrh, c.dbzh, c.dbnh])}


preactivation_backward_glue = torch_layout(unbatched(_preact_step_backward))
# end glue


# glue: cmu_described_no_carry_backward
def _no_carry_step_backward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh_t):
    cell = GRUCellNoCarry(x_t.shape[0], h_prev.shape[0])
    cell.init_weights(*np.split(weight_ih, 3), *np.split(weight_hh, 3), *np.split(bias_ih, 3), *np.split(bias_hh, 3))
    cell.forward(x_t, h_prev)
    dx, dh_prev = cell.backward(dh_t)
    c = cell
    return np.ravel(dx), np.ravel(dh_prev), {
        "weight_ih": np.vstack([c.dWrx, c.dWzx, c.dWnx]), "weight_hh": np.vstack([c.dWrh, c.dWzh, c.dWnh]),
        "bias_ih": np.hstack([c.dbrx, c.dbzx, c.dbnx]), "bias_hh": np.hstack([c.dbrh, c.dbzh, c.dbnh])}


no_carry_backward_glue = torch_layout(unbatched(_no_carry_step_backward))
# end glue


# glue: cmu_described_hidden_bias_backward
def _hidden_bias_seq_backward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, dhs, dh_T):
    cell = GRUCellHiddenBiasAssigned(x.shape[1], h0.shape[0])
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


hidden_bias_backward_glue = torch_layout(unbatched(_hidden_bias_seq_backward))
# end glue
