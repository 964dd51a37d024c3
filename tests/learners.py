"""GRUs written the way learners write them, one per layout the adapters support.

Each is correct; ``reverse=True`` gives its twin with Chung et al.'s reversed
interpolation ``(1 - z) * h + z * n``, the bug the checker must name. Shared
by test_adapters.py and test_adapters_torch.py.
"""

import numpy as np

from gru_props import GRUParams


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def blend(z, h, n, reverse):
    """The interpolation: correct, or Chung et al.'s reversed form (the bug)."""
    return (1 - z) * h + z * n if reverse else z * h + (1 - z) * n


def params(D=3, H=4, seed=0, dtype=np.float64):
    return GRUParams.random(D, H, seed=seed, scale=1.0, dtype=dtype)


def inputs(B=2, T=5, D=3, H=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(100 + seed)
    return rng.normal(size=(B, T, D)).astype(dtype), rng.uniform(-1, 1, (B, H)).astype(dtype)


def torch_layout_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse=False):
    """As a PyTorch user writes it: stacked [r, z, n] rows, x_t @ W.T, reset after."""
    B, T, _ = x.shape
    H = weight_hh.shape[1]
    h = h0
    out = np.zeros((B, T, H), dtype=np.result_type(x, weight_ih))
    for t in range(T):
        gi = x[:, t] @ weight_ih.T + bias_ih
        gh = h @ weight_hh.T + bias_hh
        i_r, i_z, i_n = gi[:, :H], gi[:, H:2 * H], gi[:, 2 * H:]
        h_r, h_z, h_n = gh[:, :H], gh[:, H:2 * H], gh[:, 2 * H:]
        r = sigmoid(i_r + h_r)
        z = sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        h = blend(z, h, n, reverse)
        out[:, t] = h
    return out, h


def keras_gru(x, h0, kernel, recurrent_kernel, bias, reset_after=True, reverse=False):
    """keras.layers.GRU's cell: columns [z, r, h], x @ kernel."""
    H = recurrent_kernel.shape[0]
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
    h = h0
    hs = []
    for t in range(x.shape[1]):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + b_in, 3, axis=-1)
        if reset_after:
            r_z, r_r, r_h = np.split(h @ recurrent_kernel + b_rec, 3, axis=-1)
            z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
            hh = np.tanh(x_h + r * r_h)
        else:
            z = sigmoid(x_z + h @ recurrent_kernel[:, :H])
            r = sigmoid(x_r + h @ recurrent_kernel[:, H:2 * H])
            hh = np.tanh(x_h + (r * h) @ recurrent_kernel[:, 2 * H:])
        h = blend(z, h, hh, reverse)
        hs.append(h)
    hs = np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (H,), dtype=np.result_type(x, kernel))
    return hs, h


def onnx_gru(X, initial_h, W, R, B, reverse=False):
    """The ONNX GRU operator as its spec reads: X (seq, batch, D), W (1, 3H, D), rows z, r, h."""
    H = R.shape[-1]
    W, R, B = W[0], R[0], B[0]
    Wz, Wr, Wh = W[:H], W[H:2 * H], W[2 * H:]
    Rz, Rr, Rh = R[:H], R[H:2 * H], R[2 * H:]
    Wbz, Wbr, Wbh, Rbz, Rbr, Rbh = (B[k * H:(k + 1) * H] for k in range(6))
    h = initial_h
    Y = np.zeros((X.shape[0],) + initial_h.shape, dtype=np.result_type(X, W))
    for t in range(X.shape[0]):
        z = sigmoid(X[t] @ Wz.T + h @ Rz.T + Wbz + Rbz)
        r = sigmoid(X[t] @ Wr.T + h @ Rr.T + Wbr + Rbr)
        hh = np.tanh(X[t] @ Wh.T + (r * h) @ Rh.T + Rbh + Wbh)  # linear_before_reset=0
        h = (1 - z) * hh + z * h if not reverse else z * hh + (1 - z) * h
        Y[t] = h
    return Y, h


def colah_gru(x, h0, p, reverse=False):
    """colah's blog / d2l: gates on the concatenation [h, x], one bias per gate."""
    h = h0
    hs = np.zeros(x.shape[:2] + (h0.shape[1],), dtype=np.result_type(x, p.W_z))
    for t in range(x.shape[1]):
        hx = np.concatenate([h, x[:, t]], axis=1)
        z = sigmoid(hx @ p.W_z + p.b_z)
        r = sigmoid(hx @ p.W_r + p.b_r)
        n = np.tanh(np.concatenate([r * h, x[:, t]], axis=1) @ p.W_n + p.b_n)
        h = blend(z, h, n, reverse)
        hs[:, t] = h
    return hs


def column_vector_example(x, h0, p, reverse=False):
    """A course's one-example GRU with column vectors: W_z (H, D) @ x_t, returns (hs, h_T)."""
    h = h0
    hs = np.zeros((x.shape[0], h0.shape[0]), dtype=np.result_type(x, p.W_z))
    for t in range(x.shape[0]):
        z = sigmoid(p.W_z @ x[t] + p.U_z @ h + p.b_z)
        r = sigmoid(p.W_r @ x[t] + p.U_r @ h + p.b_r)
        n = np.tanh(p.W_n @ x[t] + p.b_n + r * (p.U_n @ h + p.b_hn))
        h = blend(z, h, n, reverse)
        hs[t] = h
    return hs, h


def one_example_step(x_t, h_prev, p, reverse=False):
    """A step on one example: x_t (D,), h_prev (H,), reset before."""
    z = sigmoid(x_t @ p.W_z + h_prev @ p.U_z + p.b_z)
    r = sigmoid(x_t @ p.W_r + h_prev @ p.U_r + p.b_r)
    n = np.tanh(x_t @ p.W_n + (r * h_prev) @ p.U_n + p.b_n + p.b_hn)
    return blend(z, h_prev, n, reverse)


def seq_first_gru(x, h0, p, reverse=False):
    """Time-major, as nn.GRU's default: x (T, B, D) -> hs (T, B, H)."""
    h = h0
    hs = np.zeros(x.shape[:2] + (p.H,), dtype=np.result_type(x, p.W_z))
    for t, x_t in enumerate(x):
        z = sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = blend(z, h, n, reverse)
        hs[t] = h
    return hs, h
