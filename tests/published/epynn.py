"""A GRU layer written after EpyNN (Synthaze/EpyNN, ``epynn/gru/models.py``,
``forward.py``, ``backward.py``, ``parameters.py``, and the activations of
``epynn/commons/maths.py``): a layer object with dicts ``p`` (parameters
``Uz, Ur, Uhh`` (D, H) on x, ``Vz, Vr, Vhh`` (H, H) on h, ``bz, br, bhh``
(1, H)), ``fc`` / ``bc`` (forward and backward caches, (N, T, H) arrays),
``g`` (gradients ``dUz, ...``), ``d`` (dimensions) and ``fs`` (shapes).
``forward(A)`` takes x (N, T, D) and returns every state (``sequences=True``)
or the last; ``backward(dA)`` returns dL/dx and leaves dL/dh_{t-1} in
``bc['dh']``; ``compute_gradients()`` fills ``g``. Standard interpolation
``h = z * hp + (1 - z) * hh``, reset before the product.

Two properties of the original, reproduced: there is no initial-state
argument (the state always starts from zeros), and ``tanh`` is computed as
``(e^x - e^-x) / (e^x + e^-x)``, which is inf / inf = NaN once |x| > ~710
(the derivative, ``1 - tanh(x)**2`` of the pre-activation, inherits it). The
sigmoid evaluates both branches of ``np.where``, so it warns about overflow
but returns the right values. Caches are indexed at step 0 before the loop,
so T = 0 raises IndexError.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import numpy as np


def sigmoid(x, deriv=False):
    if not deriv:
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    return sigmoid(x) * (1 - sigmoid(x))


def tanh(x, deriv=False):
    if not deriv:
        return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
    return 1 - tanh(x) ** 2


class GRU:
    def __init__(self, unit_cells=1, activate=tanh, activate_update=sigmoid, activate_reset=sigmoid,
                 sequences=False):
        self.d, self.fs, self.p, self.fc, self.bc, self.g = {'u': unit_cells}, {}, {}, {}, {}, {}
        self.activate, self.activate_update, self.activate_reset = activate, activate_update, activate_reset
        self.sequences = sequences

    def compute_shapes(self, A):
        self.fs['X'] = A.shape
        self.d['m'], self.d['s'], self.d['e'] = A.shape
        self.fs['h'] = (self.d['m'], self.d['s'], self.d['u'])

    def initialize_parameters(self, rng=None):
        rng = np.random.default_rng(0) if rng is None else rng
        e, u = self.d['e'], self.d['u']
        for gate in ('z', 'r', 'hh'):
            self.p['U' + gate] = rng.normal(size=(e, u)) / np.sqrt(e)
            self.p['V' + gate] = rng.normal(size=(u, u)) / np.sqrt(u)
            self.p['b' + gate] = np.zeros((1, u))

    def forward(self, A):
        self.compute_shapes(A)
        self.fc['X'] = A
        for key in ('h', 'hp', 'hh_', 'hh', 'z', 'z_', 'r', 'r_'):
            self.fc[key] = np.zeros(self.fs['h'])
        h = self.fc['h'][:, 0]
        p = self.p
        for s in range(self.d['s']):
            x = A[:, s]
            hp = self.fc['hp'][:, s] = h
            r = self.fc['r'][:, s] = self.activate_reset(
                self._store('r_', s, x @ p['Ur'] + hp @ p['Vr'] + p['br']))
            z = self.fc['z'][:, s] = self.activate_update(
                self._store('z_', s, x @ p['Uz'] + hp @ p['Vz'] + p['bz']))
            hh = self.fc['hh'][:, s] = self.activate(
                self._store('hh_', s, x @ p['Uhh'] + (r * hp) @ p['Vhh'] + p['bhh']))
            h = self.fc['h'][:, s] = z * hp + (1 - z) * hh
        return self.fc['h'] if self.sequences else self.fc['h'][:, -1]

    def _store(self, key, s, value):
        self.fc[key][:, s] = value
        return value

    def backward(self, dX):
        if self.sequences:
            dA = dX
        else:
            dA = np.zeros(self.fs['h'])
            dA[:, -1] = dX
        for key in ('dh_', 'dh', 'dhn', 'dhh_', 'dz_', 'dr_'):
            self.bc[key] = np.zeros(self.fs['h'])
        self.bc['dA'], self.bc['dX'] = dA, np.zeros(self.fs['X'])
        dh = self.bc['dh'][:, 0]
        fc, bc, p = self.fc, self.bc, self.p
        for s in reversed(range(self.d['s'])):
            dhn = bc['dhn'][:, s] = dh
            g = bc['dh_'][:, s] = dA[:, s] + dhn
            g_hh = bc['dhh_'][:, s] = g * (1 - fc['z'][:, s]) * self.activate(fc['hh_'][:, s], deriv=True)
            g_z = bc['dz_'][:, s] = g * (fc['hp'][:, s] - fc['hh'][:, s]) * self.activate_update(
                fc['z_'][:, s], deriv=True)
            back_rh = g_hh @ p['Vhh'].T
            g_r = bc['dr_'][:, s] = back_rh * fc['hp'][:, s] * self.activate_reset(fc['r_'][:, s], deriv=True)
            dh = bc['dh'][:, s] = back_rh * fc['r'][:, s] + g_z @ p['Vz'].T + g * fc['z'][:, s] + g_r @ p['Vr'].T
            bc['dX'][:, s] = g_hh @ p['Uhh'].T + g_z @ p['Uz'].T + g_r @ p['Ur'].T
        return bc['dX']

    def compute_gradients(self):
        for name in self.p:
            self.g['d' + name] = np.zeros_like(self.p[name])
        fc, bc, g = self.fc, self.bc, self.g
        for s in reversed(range(self.d['s'])):
            x, hp = fc['X'][:, s], fc['hp'][:, s]
            for gate, inp in (('hh', fc['r'][:, s] * hp), ('z', hp), ('r', hp)):
                grad = bc['d' + gate + '_'][:, s]
                g['dU' + gate] += x.T @ grad
                g['dV' + gate] += inp.T @ grad
                g['db' + gate] += grad.sum(axis=0)


def make_layer():
    return GRU(unit_cells=4, sequences=True)


# glue: epynn_gru
def epynn_forward_glue(x, h0, p):
    layer = GRU(unit_cells=p.H, sequences=True)
    layer.p.update(Uz=p.W_z, Vz=p.U_z, bz=p.b_z[None], Ur=p.W_r, Vr=p.U_r, br=p.b_r[None],
                   Uhh=p.W_n, Vhh=p.U_n, bhh=(p.b_n + p.b_hn)[None])
    hs = layer.forward(x)
    return hs, hs[:, -1]
# end glue


# glue: epynn_gru_backward
def epynn_backward_glue(x, h0, p, dhs, dh_T):
    layer = GRU(unit_cells=p.H, sequences=True)
    layer.p.update(Uz=p.W_z, Vz=p.U_z, bz=p.b_z[None], Ur=p.W_r, Vr=p.U_r, br=p.b_r[None],
                   Uhh=p.W_n, Vhh=p.U_n, bhh=(p.b_n + p.b_hn)[None])
    layer.forward(x)
    dA = dhs.copy()
    dA[:, -1] += dh_T
    dx = layer.backward(dA)
    layer.compute_gradients()
    g = layer.g
    return dx, layer.bc['dh'][:, 0], dict(W_z=g['dUz'], U_z=g['dVz'], b_z=g['dbz'][0], W_r=g['dUr'], U_r=g['dVr'],
                                          b_r=g['dbr'][0], W_n=g['dUhh'], U_n=g['dVhh'], b_n=g['dbhh'][0],
                                          b_hn=g['dbhh'][0])
# end glue
