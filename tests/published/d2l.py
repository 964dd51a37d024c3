"""GRUs written after d2l.ai's "GRU from scratch" (the PyTorch tab of
chapter_recurrent-modern/gru.md): a function ``gru(inputs, state, params)`` on
time-major inputs (T, B, V), a 1-tuple state and a flat list of parameter
tensors, returning the output layer's values stacked over time and the new
state tuple.

``gru`` is the book's (correct); the three others reproduce slips found in
public learners' copies of it, each in its author's own interface.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue`` so the test
can count their lines.
"""

from functools import reduce

import torch

from gru_props.adapters import time_major, torch_function

# --------------------------------------------------------------- the book's

def gru(inputs, state, params):
    """d2l.ai: params = [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (h,) = state
    ys = []
    for x_t in inputs:
        upd = torch.sigmoid(x_t @ W_xz + h @ W_hz + b_z)
        rst = torch.sigmoid(x_t @ W_xr + h @ W_hr + b_r)
        cand = torch.tanh(x_t @ W_xh + (rst * h) @ W_hh + b_h)
        h = upd * h + (1 - upd) * cand
        ys.append(h @ W_hq + b_q)
    return torch.cat(ys, dim=0), (h,)


def make_gru():
    return gru


# glue: d2l_gru
def _d2l_time_major(x, h0, p):
    T, B, _ = x.shape
    head = [torch.eye(p.H, dtype=x.dtype), torch.zeros(p.H, dtype=x.dtype)]
    params = [p.W_z, p.U_z, p.b_z, p.W_r, p.U_r, p.b_r, p.W_n, p.U_n, p.b_n + p.b_hn] + head
    ys, (h_T,) = gru(x, (h0,), params)
    return ys.reshape(T, B, p.H), h_T


d2l_gru_glue = time_major(torch_function(_d2l_time_major))
# end glue


# ------------------------------- a class copy whose update ignores h_{t-1}

class GRUModelScratch:
    """A learner's class wrapper of the book's model: ``self.params`` in the
    order [W_xr, W_hr, b_r, W_xz, W_hz, b_z, W_xh, W_hh, b_h, W_hq, b_q],
    ``__call__(inputs, state)``. The original one-hot encodes token indices
    first; this look-alike takes the encoded (T, B, V) tensor, which is what
    its recurrence sees.

    Slip: the new state mixes the candidate with itself,
    ``Z * H~ + (1 - Z) * H~``, so h_{t-1} never reaches h_t except through
    the candidate.
    """

    def __init__(self, vocab_size, num_hiddens, dtype=torch.float64):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens

        def block():
            return [torch.randn(vocab_size, num_hiddens, dtype=dtype) * 0.01,
                    torch.randn(num_hiddens, num_hiddens, dtype=dtype) * 0.01,
                    torch.zeros(num_hiddens, dtype=dtype)]

        self.params = block() + block() + block() + [
            torch.randn(num_hiddens, vocab_size, dtype=dtype) * 0.01, torch.zeros(vocab_size, dtype=dtype)]

    def __call__(self, inputs, state):
        W_xr, W_hr, b_r, W_xz, W_hz, b_z, W_xh, W_hh, b_h, W_hq, b_q = self.params
        (h,) = state
        ys = []
        for x_t in inputs:
            rst = torch.sigmoid(x_t @ W_xr + h @ W_hr + b_r)
            upd = torch.sigmoid(x_t @ W_xz + h @ W_hz + b_z)
            cand = torch.tanh(x_t @ W_xh + (rst * h) @ W_hh + b_h)
            h = upd * cand + (1 - upd) * cand
            ys.append(h @ W_hq + b_q)
        return torch.cat(ys, dim=0), (h,)


def make_class_scratch():
    return GRUModelScratch(vocab_size=3, num_hiddens=4)


# glue: d2l_class_candidate_twice
def _class_time_major(x, h0, p):
    T, B, D = x.shape
    model = GRUModelScratch(D, p.H)
    model.params = [p.W_r, p.U_r, p.b_r, p.W_z, p.U_z, p.b_z, p.W_n, p.U_n, p.b_n + p.b_hn,
                    torch.eye(p.H, dtype=x.dtype), torch.zeros(p.H, dtype=x.dtype)]
    ys, (h_T,) = model(x, (h0,))
    return ys.reshape(T, B, p.H), h_T


d2l_class_glue = time_major(torch_function(_class_time_major))
# end glue


# ------------------------- a copy with matrix products for the Hadamard ones

def gru_matmul(x_batch, hidden_state, params):
    """A learner's copy, params in the order [w_xr, w_hr, b_r, w_xz, w_hz, b_z,
    w_xh, w_hh, b_h, w_hq, b_q], outputs concatenated along dim 1 (B, T * q).

    Slips: ``H @ R`` where the reset gate multiplies elementwise, and
    ``H @ Z + (1 - Z) @ H~`` where the interpolation is elementwise; it only
    runs when B == H (square (B, H) matrices). (The original also uses
    ``F.sigmoid`` without importing F; that is not reproduced.)
    """
    w_xr, w_hr, b_r, w_xz, w_hz, b_z, w_xh, w_hh, b_h, w_hq, b_q = params
    ys = []
    h = hidden_state
    for x in x_batch:
        rst = torch.sigmoid(torch.matmul(x, w_xr) + torch.matmul(h, w_hr) + b_r)
        upd = torch.sigmoid(torch.matmul(x, w_xz) + torch.matmul(h, w_hz) + b_z)
        cand = torch.tanh(torch.matmul(x, w_xh) + torch.matmul(h @ rst, w_hh) + b_h)
        h = h @ upd + (1 - upd) @ cand
        ys.append(torch.matmul(h, w_hq) + b_q)
    return torch.cat(ys, dim=1), h


def make_gru_matmul():
    return gru_matmul


# glue: d2l_matmul_for_hadamard
def _matmul_batch_first(x, h0, p):
    B, T, _ = x.shape
    params = [p.W_r, p.U_r, p.b_r, p.W_z, p.U_z, p.b_z, p.W_n, p.U_n, p.b_n + p.b_hn,
              torch.eye(p.H, dtype=x.dtype), torch.zeros(p.H, dtype=x.dtype)]
    ys, h_T = gru_matmul(x.permute(1, 0, 2), h0, params)
    return ys.reshape(B, T, p.H), h_T


d2l_matmul_glue = torch_function(_matmul_batch_first)
# end glue


# --------------------- a copy that gates the recurrent product, bias outside

def gru_gated_product(inputs, h_state, params):
    """A learner's copy, params as an ``nn.ParameterList`` in the order
    [w_xr, w_hr, b_r, w_xz, w_hz, b_z, w_xh, w_hh, b_h, w_hy, b_y], outputs
    stacked by folding ``torch.cat`` over the steps: (T, B, q).

    Slip: the candidate is ``tanh(x W_xh + r * (h W_hh) + b_h)``: the reset
    gate multiplies the recurrent product instead of h before it, while d2l's
    equation (and this code's own bias placement) is ``(r * h) W_hh``.
    """
    w_xr, w_hr, b_r, w_xz, w_hz, b_z, w_xh, w_hh, b_h, w_hy, b_y = params
    ys = []
    for x in inputs:
        rst = torch.sigmoid(torch.mm(x, w_xr) + torch.mm(h_state, w_hr) + b_r)
        upd = torch.sigmoid(torch.mm(x, w_xz) + torch.mm(h_state, w_hz) + b_z)
        cand = torch.tanh(torch.mm(x, w_xh) + rst * torch.mm(h_state, w_hh) + b_h)
        h_state = upd * h_state + (1 - upd) * cand
        ys.append((torch.mm(h_state, w_hy) + b_y).unsqueeze(0))
    return reduce(lambda a, b: torch.cat((a, b)), ys), h_state


def make_gru_gated_product():
    return gru_gated_product


# glue: d2l_reset_after_mix
def _gated_time_major(x, h0, p):
    params = [p.W_r, p.U_r, p.b_r, p.W_z, p.U_z, p.b_z, p.W_n, p.U_n, p.b_n + p.b_hn,
              torch.eye(p.H, dtype=x.dtype), torch.zeros(p.H, dtype=x.dtype)]
    return gru_gated_product(x, h0, params)


d2l_gated_glue = time_major(torch_function(_gated_time_major))
# end glue
