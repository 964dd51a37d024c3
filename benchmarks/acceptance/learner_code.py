"""Five GRUs written the way learners write them: the targets of the mutation harness.

Plain NumPy loops, one self-contained function each (helpers nested inside,
so that a mutant of a helper is a mutant of that function alone):

* ``textbook_gru``  - reset before U_n, per-gate weights, ``hs`` preallocated (the d2l / Cho et al. form);
* ``stacked_gru``   - reset after U_n (PyTorch), weights stacked [r, z, n] and sliced, states collected in a list;
* ``column_gru``    - reset before U_n, column vectors (``W.T @ x_t``), one example at a time;
* ``bptt_before``   - BPTT of the reset-before GRU, state list ``hs`` with h0 first, one variable per gradient;
* ``bptt_after``    - BPTT of the reset-after GRU, a cache of tuples, gradients in a dict accumulated with ``+=``.

Each is correct (``acceptance/mutants.py`` checks that they agree with
``gru_props.level1`` and pass ``check_implementation`` / ``check_gradients``
before mutating them). ``LEARNERS`` records, per function, its kind, its
reset convention and the groups of same-shape local variables that the
mutation tool may swap for one another. This module is read as *source* by
``mutate.py``: keep each learner free of anything defined outside it but ``np``.
"""

import numpy as np


def textbook_gru(x, h0, p):
    def sigmoid(a):
        return 1.0 / (1.0 + np.exp(-a))

    B, T, D = x.shape
    H = h0.shape[1]
    hs = np.zeros((B, T, H))
    h_prev = h0
    for t in range(T):
        x_t = x[:, t, :]
        z = sigmoid(x_t @ p.W_z + h_prev @ p.U_z + p.b_z)
        r = sigmoid(x_t @ p.W_r + h_prev @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h_prev) @ p.U_n + p.b_n + p.b_hn)
        h = z * h_prev + (1 - z) * n
        hs[:, t, :] = h
        h_prev = h
    return hs, h_prev


def stacked_gru(x, h0, p):
    H = p.U_n.shape[0]
    W = np.concatenate([p.W_r, p.W_z, p.W_n], axis=1)
    U = np.concatenate([p.U_r, p.U_z, p.U_n], axis=1)
    b_ih = np.concatenate([p.b_r, p.b_z, p.b_n])
    b_hh = np.concatenate([np.zeros(H), np.zeros(H), p.b_hn])
    h = h0.copy()
    outputs = []
    for t in range(x.shape[1]):
        gi = x[:, t] @ W + b_ih
        gh = h @ U + b_hh
        r = 1 / (1 + np.exp(-(gi[:, :H] + gh[:, :H])))
        z = 1 / (1 + np.exp(-(gi[:, H:2 * H] + gh[:, H:2 * H])))
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        outputs.append(h)
    if len(outputs) == 0:
        return np.zeros((x.shape[0], 0, H)), h
    return np.stack(outputs, axis=1), h


def column_gru(x, h0, p):
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    Wz, Wr, Wn = p.W_z.T, p.W_r.T, p.W_n.T
    Uz, Ur, Un = p.U_z.T, p.U_r.T, p.U_n.T
    B, T, _ = x.shape
    H = Uz.shape[0]
    hs = np.zeros((B, T, H))
    hT = np.zeros((B, H))
    for b in range(B):
        h = h0[b]
        for t in range(T):
            xt = x[b, t]
            z = sigmoid(Wz @ xt + Uz @ h + p.b_z)
            r = sigmoid(Wr @ xt + Ur @ h + p.b_r)
            hh = np.tanh(Wn @ xt + Un @ (r * h) + p.b_n + p.b_hn)
            h = (1 - z) * hh + z * h
            hs[b, t] = h
        hT[b] = h
    return hs, hT


def bptt_before(x, h0, p, dhs, dh_T):
    def sigmoid(a):
        return 1.0 / (1.0 + np.exp(-a))

    B, T, D = x.shape
    hs = [h0]
    zs, rs, ns = [], [], []
    for t in range(T):
        h = hs[-1]
        z = sigmoid(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)
        r = sigmoid(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x[:, t] @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        hs.append(z * h + (1 - z) * n)
        zs.append(z)
        rs.append(r)
        ns.append(n)
    dW_z, dW_r, dW_n = np.zeros_like(p.W_z), np.zeros_like(p.W_r), np.zeros_like(p.W_n)
    dU_z, dU_r, dU_n = np.zeros_like(p.U_z), np.zeros_like(p.U_r), np.zeros_like(p.U_n)
    db_z, db_r, db_n, db_hn = np.zeros_like(p.b_z), np.zeros_like(p.b_r), np.zeros_like(p.b_n), np.zeros_like(p.b_hn)
    dx = np.zeros_like(x)
    dh_next = dh_T.copy()
    for t in reversed(range(T)):
        h_prev = hs[t]
        z, r, n = zs[t], rs[t], ns[t]
        dh = dhs[:, t] + dh_next
        dz = dh * (h_prev - n)
        dn = dh * (1 - z)
        da_n = dn * (1 - n ** 2)
        da_z = dz * z * (1 - z)
        drh = da_n @ p.U_n.T
        da_r = drh * h_prev * r * (1 - r)
        dW_z += x[:, t].T @ da_z
        dW_r += x[:, t].T @ da_r
        dW_n += x[:, t].T @ da_n
        dU_z += h_prev.T @ da_z
        dU_r += h_prev.T @ da_r
        dU_n += (r * h_prev).T @ da_n
        db_z += da_z.sum(axis=0)
        db_r += da_r.sum(axis=0)
        db_n += da_n.sum(axis=0)
        db_hn += da_n.sum(axis=0)
        dx[:, t] = da_z @ p.W_z.T + da_r @ p.W_r.T + da_n @ p.W_n.T
        dh_next = dh * z + drh * r + da_z @ p.U_z.T + da_r @ p.U_r.T
    grads = {"W_z": dW_z, "W_r": dW_r, "W_n": dW_n, "U_z": dU_z, "U_r": dU_r, "U_n": dU_n,
             "b_z": db_z, "b_r": db_r, "b_n": db_n, "b_hn": db_hn}
    return dx, dh_next, grads


def bptt_after(x, h0, p, dhs, dh_T):
    def sig(a):
        return 1 / (1 + np.exp(-a))

    T = x.shape[1]
    cache = []
    h = h0
    for t in range(T):
        xt = x[:, t, :]
        r = sig(xt @ p.W_r + h @ p.U_r + p.b_r)
        z = sig(xt @ p.W_z + h @ p.U_z + p.b_z)
        hn = h @ p.U_n + p.b_hn
        n = np.tanh(xt @ p.W_n + p.b_n + r * hn)
        cache.append((xt, h, r, z, n, hn))
        h = (1 - z) * n + z * h
    grads = {k: np.zeros_like(v) for k, v in p.arrays().items()}
    dx = np.zeros_like(x)
    dh = dh_T
    for t in range(T - 1, -1, -1):
        xt, h_prev, r, z, n, hn = cache[t]
        dh = dh + dhs[:, t, :]
        dn = dh * (1 - z)
        dz = dh * (h_prev - n)
        dpre_n = dn * (1 - n * n)
        dr = dpre_n * hn
        dhn = dpre_n * r
        dpre_r = dr * r * (1 - r)
        dpre_z = dz * z * (1 - z)
        grads["W_r"] += xt.T @ dpre_r
        grads["W_z"] += xt.T @ dpre_z
        grads["W_n"] += xt.T @ dpre_n
        grads["U_r"] += h_prev.T @ dpre_r
        grads["U_z"] += h_prev.T @ dpre_z
        grads["U_n"] += h_prev.T @ dhn
        grads["b_r"] += dpre_r.sum(0)
        grads["b_z"] += dpre_z.sum(0)
        grads["b_n"] += dpre_n.sum(0)
        grads["b_hn"] += dhn.sum(0)
        dx[:, t, :] = dpre_r @ p.W_r.T + dpre_z @ p.W_z.T + dpre_n @ p.W_n.T
        dh = dh * z + dhn @ p.U_n.T + dpre_r @ p.U_r.T + dpre_z @ p.U_z.T
    return dx, dh, grads


#: name -> kind ("forward" / "backward"), reset convention, pairs of same-shape locals the mutation tool swaps
LEARNERS = {
    "textbook_gru": {"kind": "forward", "reset_after": False,
                     "swap": [("z", "r"), ("h", "n"), ("h_prev", "n"), ("h_prev", "h"), ("z", "n")]},
    "stacked_gru": {"kind": "forward", "reset_after": True,
                    "swap": [("z", "r"), ("h", "n"), ("z", "n"), ("gi", "gh"), ("b_ih", "b_hh")]},
    "column_gru": {"kind": "forward", "reset_after": False,
                   "swap": [("z", "r"), ("h", "hh"), ("z", "hh"), ("Wz", "Wr"), ("Wr", "Wn"), ("Wz", "Wn"),
                            ("Uz", "Ur"), ("Ur", "Un"), ("Uz", "Un")]},
    "bptt_before": {"kind": "backward", "reset_after": False,
                    "swap": [("z", "r"), ("h", "n"), ("h_prev", "n"), ("h_prev", "h"), ("dh", "dh_next"),
                             ("dz", "dn"), ("da_z", "da_r"), ("da_n", "dn"), ("da_n", "drh")]},
    "bptt_after": {"kind": "backward", "reset_after": True,
                   "swap": [("z", "r"), ("h", "n"), ("h_prev", "n"), ("h_prev", "hn"), ("dn", "dz"),
                            ("dpre_r", "dpre_z"), ("dr", "dhn"), ("dpre_n", "dn"), ("dpre_n", "dhn")]},
}
