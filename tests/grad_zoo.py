"""A zoo of hand-written GRU backward passes, written the way learners write them.

One learner-style BPTT (``learner_backward``: forward with a cache, then a
loop back over time, gate by gate), written independently of the checker's
catalog of broken backward passes, with each common mistake switchable at
the line where a learner makes it. ``CORRECT`` maps a name to (function,
check_gradients keyword arguments); ``BUGGY`` to (function, keyword
arguments, expected diagnosis).
"""

import functools

import numpy as np


def sig(a):
    return 1.0 / (1.0 + np.exp(-np.clip(a, -60, 60)))


def _has(bug, name):
    """``bug`` is None, one bug's name or a collection of them (several slips at once)."""
    return bug is not None and (bug == name if isinstance(bug, str) else name in bug)


def learner_backward(x, h0, p, dhs, dh_T, reset_after=False, chung=False, bug=None, dtype=None):
    """BPTT of L = sum(hs * dhs) + sum(h_T * dh_T); returns (dx, dh0, grads as a dict).

    ``bug``: None, a bug's name, or several names (a set): the slips made, each as a learner makes it."""
    if dtype is not None:
        x, h0, dhs, dh_T = (np.asarray(a, dtype=dtype) for a in (x, h0, dhs, dh_T))
        p = p.astype(dtype)
    B, T, D = x.shape
    # ---- forward, keeping what the backward needs
    cache = []
    h = h0
    for t in range(T):
        xt = x[:, t]
        a_z = xt @ p.W_z + h @ p.U_z + p.b_z
        a_r = xt @ p.W_r + h @ p.U_r + p.b_r
        z, r = sig(a_z), sig(a_r)
        if reset_after:
            hn = h @ p.U_n + p.b_hn
            a_n = xt @ p.W_n + p.b_n + r * hn
        else:
            hn = None
            a_n = xt @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn
        n = np.tanh(a_n)
        cache.append((xt, h, a_z, a_r, a_n, z, r, n, hn))
        h = (1 - z) * h + z * n if chung else z * h + (1 - z) * n
    # ---- backward
    g = {k: np.zeros_like(v) for k, v in p.arrays().items()}

    def acc(name, value):
        if _has(bug, "grads_not_accumulated"):
            g[name] = value
        else:
            g[name] += value

    def outer(a, b):
        return b.T @ a if _has(bug, "dU_transposed") else a.T @ b

    dx = np.zeros_like(x)
    dh_next = dh_T.copy()
    backward_after = (not reset_after) if _has(bug, "reset_convention_mixed") else reset_after
    for t in reversed(range(T)):
        xt, hp, a_z, a_r, a_n, z, r, n, hn = cache[t]
        if _has(bug, "reset_convention_mixed"):
            hn = hp @ p.U_n + p.b_hn
        dh = dhs[:, t] if _has(bug, "truncated_bptt") else dhs[:, t] + dh_next
        if chung:
            dz = dh * (n - hp)
            dn = dh * z
            dhp = dh * (1 - z)
        else:
            dz = dh * (n - hp) if _has(bug, "dz_sign_flipped") else dh * (hp - n)
            dn = dh * (1 - z)
            dhp = np.zeros_like(dh) if _has(bug, "dh_prev_missing_z_path") else dh * z
        if _has(bug, "tanh_derivative_wrong"):
            dan = dn * (1 - a_n * a_n)  # the derivative taken of the pre-activation
        elif _has(bug, "tanh_derivative_missing_square"):
            dan = dn * (1 - n)
        else:
            dan = dn * (1 - n * n)
        if backward_after:
            dr = dan * hn
            dhn = dan * r
            acc("U_n", outer(hp, dhn))
            acc("b_hn", dan.sum(axis=0) if _has(bug, "b_hn_not_gated") else dhn.sum(axis=0))
            dhp = dhp + dhn @ p.U_n.T
        else:
            drh = dan @ p.U_n.T
            dr = drh * hp
            dhp = dhp + drh * r
            acc("U_n", outer(r * hp, dan))
            acc("b_hn", dan.sum(axis=0))
        acc("W_n", xt.T @ dan)
        acc("b_n", dan.sum(axis=0))
        if _has(bug, "sigmoid_derivative_wrong"):
            daz, dar = dz * a_z * (1 - a_z), dr * a_r * (1 - a_r)
        else:
            daz, dar = dz * z * (1 - z), dr * r * (1 - r)
        acc("W_z", xt.T @ daz)
        acc("U_z", outer(hp, daz))
        acc("b_z", daz.sum(axis=0))
        acc("W_r", xt.T @ dar)
        acc("U_r", outer(hp, dar))
        acc("b_r", dar.sum(axis=0))
        dhp = dhp + daz @ p.U_z.T + dar @ p.U_r.T
        dx[:, t] = daz @ p.W_z.T + dar @ p.W_r.T + dan @ p.W_n.T
        dh_next = dhp
    if _has(bug, "grads_averaged_over_batch"):
        g = {k: v / B for k, v in g.items()}
    dh0 = np.zeros_like(dh_next) if _has(bug, "dh0_missing") else dh_next
    return dx, dh0, g


def learner_step_backward(x_t, h_prev, p, dh_t, reset_after=False, bug=None):
    """One step: (dx_t, dh_prev, grads) of L = sum(h_t * dh_t)."""
    dx, dh_prev, g = learner_backward(x_t[:, None, :], h_prev, p, dh_t[:, None, :], np.zeros_like(dh_t),
                                      reset_after=reset_after, bug=bug)
    return dx[:, 0], dh_prev, g


def learner_forward(x, h0, p, reset_after=False):
    """The learner's own forward, for the self-consistency check."""
    h = h0
    hs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = sig(xt @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(xt @ p.W_r + h @ p.U_r + p.b_r)
        if reset_after:
            n = np.tanh(xt @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
        else:
            n = np.tanh(xt @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = z * h + (1 - z) * n
        hs.append(h)
    out = np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (p.H,), x.dtype)
    return out, h


def minimal_gated_forward(x, h0, p):
    """A GRU variant with no reference (no reset gate, a 'minimal gated unit'): self-consistency only."""
    h = h0
    hs = []
    for t in range(x.shape[1]):
        z = sig(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)
        n = np.tanh(x[:, t] @ p.W_n + h @ p.U_n + p.b_n)
        h = z * h + (1 - z) * n
        hs.append(h)
    return (np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (p.H,), x.dtype)), h


def minimal_gated_backward(x, h0, p, dhs, dh_T, bug=None):
    cache = []
    h = h0
    for t in range(x.shape[1]):
        z = sig(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)
        n = np.tanh(x[:, t] @ p.W_n + h @ p.U_n + p.b_n)
        cache.append((x[:, t], h, z, n))
        h = z * h + (1 - z) * n
    g = {k: np.zeros_like(v) for k, v in p.arrays().items()}
    dx = np.zeros_like(x)
    dh_next = dh_T.copy()
    for t in reversed(range(x.shape[1])):
        xt, hp, z, n = cache[t]
        dh = dhs[:, t] + dh_next
        daz = dh * (hp - n) * z * (1 - z)
        dan = dh * (1 - z) * (1 - n * n)
        g["W_z"] += xt.T @ daz
        g["U_z"] += hp.T @ daz
        g["b_z"] += daz.sum(axis=0)
        g["W_n"] += xt.T @ dan
        g["U_n"] += (dan.T @ hp) if _has(bug, "dU_transposed") else hp.T @ dan
        g["b_n"] += dan.sum(axis=0)
        dx[:, t] = daz @ p.W_z.T + dan @ p.W_n.T
        dh_next = dh * z + daz @ p.U_z.T + dan @ p.U_n.T
    return dx, dh_next, g


def _f(**kw):
    return functools.partial(learner_backward, **kw)


CORRECT = {
    "before": (_f(), {}),
    "after": (_f(reset_after=True), {}),
    "after_demanded": (_f(reset_after=True), {"reset_after": True}),
    "float32": (_f(dtype=np.float32), {}),
    "float32_after": (_f(reset_after=True, dtype=np.float32), {}),
    "chung": (_f(chung=True), {"interpolation": "chung"}),
    "chung_detected": (_f(chung=True, reset_after=True), {"interpolation": None}),
    "step": (functools.partial(learner_step_backward), {"step": True}),
    "step_after": (functools.partial(learner_step_backward, reset_after=True), {"step": True}),
}

#: Every named backward bug of the SPEC, made in the learner's own code.
BUGGY = {
    name: (_f(bug=name, reset_after=(name == "b_hn_not_gated")), {}, name)
    for name in ("dh_prev_missing_z_path", "truncated_bptt", "grads_not_accumulated", "dz_sign_flipped",
                 "tanh_derivative_wrong", "tanh_derivative_missing_square", "sigmoid_derivative_wrong",
                 "reset_convention_mixed",
                 "b_hn_not_gated", "dU_transposed", "dh0_missing", "grads_averaged_over_batch")
}
BUGGY["reset_convention_mixed"] = (_f(bug="reset_convention_mixed"), {"reset_after": False},
                                   "reset_convention_mixed")
BUGGY["step_dz_sign_flipped"] = (functools.partial(learner_step_backward, bug="dz_sign_flipped"),
                                 {"step": True}, "dz_sign_flipped")
BUGGY["step_dU_transposed_after"] = (functools.partial(learner_step_backward, reset_after=True,
                                                       bug="dU_transposed"), {"step": True}, "dU_transposed")
