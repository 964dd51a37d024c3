"""GRUs written the ways people write them, for the styles ``tests/published`` does not cover already: a layer
object of a small framework (weights and gradients in dicts, the state inside), a function taking its weights
as a dict under its own names, a column-vector cell, a cell over ``[1, x, h]``, a GRU without an initial
state and a torch module. Each comes with the hand-written wrapper a user would otherwise write, so the tests
can show that the adapter's verdict is the wrapper's (``tests/test_styles.py``).

Written for these tests from descriptions of the styles; no published code is copied.
"""

import numpy as np

from gru_props import GRUParams


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ---------------------------------------------------------------- a framework's layer object
class FrameworkGRU:
    """A layer of a small NumPy framework: ``self.params`` a dict {"Wz", "Uz", "bz", ...} (row vectors,
    x @ W), the state in ``self.h`` (None: zeros), ``forward(X)`` over a batch (B, T, D) returning all
    states, ``backward(dH)`` taking dL/dH (B, T, H) and returning dX, the gradients in ``self.grads``
    {"dWz", ...}, dL/dh0 in ``self.dh0``. ``slip`` plants a bug: "no_dh0" (dh0 never set: zeros), "z_swapped"
    (the forward interpolates the wrong way round)."""

    NAMES = {"Wz": "W_z", "Wr": "W_r", "Wn": "W_n", "Uz": "U_z", "Ur": "U_r", "Un": "U_n",
             "bz": "b_z", "br": "b_r", "bn": "b_n", "bhn": "b_hn"}

    def __init__(self, input_size, hidden_size, slip=None):
        self.params = {k: np.zeros((input_size if k[0] == "W" else hidden_size, hidden_size))
                       if k[0] in "WU" else np.zeros(hidden_size) for k in self.NAMES}
        self.grads = {}
        self.h = None
        self.slip = slip

    def forward(self, X):
        p = self.params
        B, T, _ = X.shape
        H = p["Uz"].shape[0]
        h = np.zeros((B, H)) if self.h is None else self.h
        self.cache = []
        out = np.zeros((B, T, H), dtype=np.result_type(X, h, p["Wz"]))
        for t in range(T):
            x = X[:, t]
            z = _sigmoid(x @ p["Wz"] + h @ p["Uz"] + p["bz"])
            r = _sigmoid(x @ p["Wr"] + h @ p["Ur"] + p["br"])
            hn = h @ p["Un"] + p["bhn"]
            n = np.tanh(x @ p["Wn"] + p["bn"] + r * hn)
            self.cache.append((x, h, z, r, n, hn))
            h = (1 - z) * h + z * n if self.slip == "z_swapped" else z * h + (1 - z) * n
            out[:, t] = h
        self.h = h
        return out

    def backward(self, dH):
        p = self.params
        g = {"d" + k: np.zeros_like(v) for k, v in p.items()}
        dX = np.zeros(dH.shape[:2] + (p["Wz"].shape[0],))
        dh = np.zeros((dH.shape[0], p["Uz"].shape[0]))
        for t in reversed(range(dH.shape[1])):
            x, h, z, r, n, hn = self.cache[t]
            dh = dh + dH[:, t]
            da_n = dh * (1 - z) * (1 - n * n)
            da_z = dh * (h - n) * z * (1 - z)
            da_r = da_n * hn * r * (1 - r)
            dhn = da_n * r
            for k, da, inp in (("z", da_z, x), ("r", da_r, x), ("n", da_n, x)):
                g["dW" + k] += inp.T @ da
            g["dUz"] += h.T @ da_z
            g["dUr"] += h.T @ da_r
            g["dUn"] += h.T @ dhn
            g["dbz"] += da_z.sum(0)
            g["dbr"] += da_r.sum(0)
            g["dbn"] += da_n.sum(0)
            g["dbhn"] += dhn.sum(0)
            dX[:, t] = da_z @ p["Wz"].T + da_r @ p["Wr"].T + da_n @ p["Wn"].T
            dh = dh * z + da_z @ p["Uz"].T + da_r @ p["Ur"].T + dhn @ p["Un"].T
        self.grads = g
        self.dh0 = np.zeros_like(dh) if self.slip == "no_dh0" else dh
        return dX


def framework_forward_by_hand(x, h0, p, slip=None):
    """The wrapper one writes without gru_object."""
    layer = FrameworkGRU(p.D, p.H, slip)
    layer.params.update({k: getattr(p, v) for k, v in FrameworkGRU.NAMES.items()})
    layer.h = h0
    hs = layer.forward(x)
    return hs, layer.h


def framework_backward_by_hand(x, h0, p, dhs, dh_T, slip=None):
    layer = FrameworkGRU(p.D, p.H, slip)
    layer.params.update({k: getattr(p, v) for k, v in FrameworkGRU.NAMES.items()})
    layer.h = h0
    layer.forward(x)
    dH = dhs.copy()
    if dH.shape[1]:
        dH[:, -1] += dh_T
    dX = layer.backward(dH)
    dh0 = layer.dh0 + (dh_T if not dH.shape[1] else 0)
    return dX, dh0, {v: layer.grads["d" + k] for k, v in FrameworkGRU.NAMES.items()}


# ---------------------------------------------------------------- weights in a dict, own names
DICT_NAMES = {"W_xz": "W_z", "W_hz": "U_z", "b_z": "b_z", "W_xr": "W_r", "W_hr": "U_r", "b_r": "b_r",
              "W_xh": "W_n", "W_hh": "U_n", "b_h": "b_n+b_hn"}


def dict_gru(x, h0, weights, slip=None):
    """A function taking its weights as one dict under its author's names (reset before U_n, one candidate
    bias). ``slip="bias_outside"`` adds b_h outside the tanh."""
    w = weights
    h, hs = h0, []
    for t in range(x.shape[1]):
        z = _sigmoid(x[:, t] @ w["W_xz"] + h @ w["W_hz"] + w["b_z"])
        r = _sigmoid(x[:, t] @ w["W_xr"] + h @ w["W_hr"] + w["b_r"])
        if slip == "bias_outside":
            n = np.tanh(x[:, t] @ w["W_xh"] + (r * h) @ w["W_hh"]) + w["b_h"]
        else:
            n = np.tanh(x[:, t] @ w["W_xh"] + (r * h) @ w["W_hh"] + w["b_h"])
        h = z * h + (1 - z) * n
        hs.append(h)
    return (np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (h0.shape[1],), dtype=x.dtype)), h


def dict_gru_by_hand(x, h0, p, slip=None):
    weights = {"W_xz": p.W_z, "W_hz": p.U_z, "b_z": p.b_z, "W_xr": p.W_r, "W_hr": p.U_r, "b_r": p.b_r,
               "W_xh": p.W_n, "W_hh": p.U_n, "b_h": p.b_n + p.b_hn}
    return dict_gru(x, h0, weights, slip)


# ---------------------------------------------------------------- a column-vector cell, one example
COLUMN_NAMES = {"Wz": "W_z.T", "Uz": "U_z.T", "bz": "b_z", "Wr": "W_r.T", "Ur": "U_r.T", "br": "b_r",
                "Wh": "W_n.T", "Uh": "U_n.T", "bh": "b_n+b_hn"}


def column_cell(x, h, Wz, Uz, bz, Wr, Ur, br, Wh, Uh, bh, slip=None):
    """z = sigmoid(Wz x + Uz h + bz) on one example, vectors (D,) and (H,), matrices (H, D) and (H, H).
    ``slip="transposed_U"``: Uz used as Uz.T."""
    Uz_used = Uz.T if slip == "transposed_U" else Uz
    z = _sigmoid(Wz @ x + Uz_used @ h + bz)
    r = _sigmoid(Wr @ x + Ur @ h + br)
    n = np.tanh(Wh @ x + Uh @ (r * h) + bh)
    return z * h + (1 - z) * n


def column_cell_by_hand(x_t, h_prev, p, slip=None):
    rows = []
    for b in range(x_t.shape[0]):
        rows.append(column_cell(x_t[b], h_prev[b], p.W_z.T, p.U_z.T, p.b_z, p.W_r.T, p.U_r.T, p.b_r,
                                p.W_n.T, p.U_n.T, p.b_n + p.b_hn, slip))
    return np.stack(rows)


# ---------------------------------------------------------------- one matrix per gate over [1, x, h]
def one_x_h_cell(x, h, Wz, Wr, W, slip=None):
    """Column vectors, each gate one (H, 1 + D + H) matrix acting on [1, x, h]; ``slip="no_one"``: the
    candidate's [1, x, r*h] forgets the 1 (its bias column is multiplied by 0)."""
    one = np.ones(1)
    z = _sigmoid(Wz @ np.concatenate([one, x, h]))
    r = _sigmoid(Wr @ np.concatenate([one, x, h]))
    lead = np.zeros(1) if slip == "no_one" else one
    n = np.tanh(W @ np.concatenate([lead, x, r * h]))
    return z * h + (1 - z) * n


def one_x_h_by_hand(x_t, h_prev, p, slip=None):
    def full(b, W, U):
        return np.concatenate([b[None], W, U], axis=0).T

    Wz, Wr, W = full(p.b_z, p.W_z, p.U_z), full(p.b_r, p.W_r, p.U_r), full(p.b_n + p.b_hn, p.W_n, p.U_n)
    return np.stack([one_x_h_cell(x_t[b], h_prev[b], Wz, Wr, W, slip) for b in range(x_t.shape[0])])


# ---------------------------------------------------------------- no initial state
def no_h0_gru(x, params, slip=None):
    """Always starts from zeros (a layer without an initial-state argument); ``slip="stale"``: the state of
    the first step is carried instead of updated at t = 1."""
    from gru_props import level1

    hs, h = level1.gru_forward(x, None, params)
    if slip == "stale" and x.shape[1] > 1:
        hs = hs.copy()
        hs[:, 1] = hs[:, 0]
    return hs, hs[:, -1] if x.shape[1] else h


def no_h0_by_hand(x, h0, p, slip=None):
    return no_h0_gru(x, p, slip)


def random_params(D, H, seed=0):
    return GRUParams.random(D, H, seed=seed)
