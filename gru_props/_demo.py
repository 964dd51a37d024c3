"""The GRU a learner might write, twice: with the classic bug, and fixed.

``gru-props demo`` checks both. The only difference is the last line of the
loop: the buggy one interpolates the update gate the wrong way round, which
still gives plausible numbers (every state stays in [-1, 1]).
"""

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def buggy_gru(x, h0, params):
    """x (B, T, D), h0 (B, H) or None -> (hs (B, T, H), h_T (B, H)); reset gate before U_n."""
    p = params
    h = np.zeros((x.shape[0], p.H), dtype=x.dtype) if h0 is None else h0.copy()
    states = []
    for t in range(x.shape[1]):
        x_t = x[:, t, :]
        z = _sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = _sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = (1 - z) * h + z * n  # the bug: should be z * h + (1 - z) * n
        states.append(h)
    hs = np.stack(states, axis=1) if states else np.zeros(x.shape[:2] + h.shape[1:], dtype=h.dtype)
    return hs, h


def fixed_gru(x, h0, params):
    """The same GRU with the interpolation the right way round."""
    p = params
    h = np.zeros((x.shape[0], p.H), dtype=x.dtype) if h0 is None else h0.copy()
    states = []
    for t in range(x.shape[1]):
        x_t = x[:, t, :]
        z = _sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = _sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = z * h + (1 - z) * n
        states.append(h)
    hs = np.stack(states, axis=1) if states else np.zeros(x.shape[:2] + h.shape[1:], dtype=h.dtype)
    return hs, h
