"""A GRU written as a ``torch.autograd.Function`` with a hand-written backward,
after the Python stage of a public PyTorch C++-extension GRU tutorial
(``GRUFunction`` / ``GRUCell`` with ``x2h_weights`` (3H, D), ``h2h_weights``
(3H, H), ``x2h_bias`` / ``h2h_bias`` (1, 3H); PyTorch's gate order r, z, n,
reset after the product, ``hy = n + z * (h - n)``). Public GitHub code; the
repository is not named in the index.

This stage has the slip that its later stages fix: both gates use ``tanh``
where a GRU has the sigmoid (and its backward takes ``1 - g**2`` for them,
consistently). ``gate.squeeze()`` after the two linear maps also drops the
batch axis when B = 1, so a batch of one raises. The backward never computes
dL/dx (it returns None for the input). Only the forward is in the zoo.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import Function

from gru_props.adapters import torch_function, torch_layout


def _tanh_grad(t):
    return 1 - t * t


class GRUFunction(Function):
    @staticmethod
    def forward(ctx, input, x2h_w, h2h_w, x2h_b, h2h_b, old_h):
        x = input.view(-1, input.size(1))
        pre_x = F.linear(x, x2h_w, x2h_b).squeeze()
        pre_h = F.linear(old_h, h2h_w, h2h_b).squeeze()
        x_r, x_z, x_n = pre_x.chunk(3, 1)
        h_r, h_z, h_n = pre_h.chunk(3, 1)
        rst = torch.tanh(x_r + h_r)
        upd = torch.tanh(x_z + h_z)
        cand = torch.tanh(x_n + rst * h_n)
        new_h = cand + upd * (old_h - cand)
        ctx.save_for_backward(rst, upd, cand, h_n, old_h, x, x2h_w, h2h_w)
        return new_h

    @staticmethod
    def backward(ctx, grad_h):
        rst, upd, cand, h_n, old_h, x, x2h_w, h2h_w = ctx.saved_tensors
        g_upd = _tanh_grad(upd) * grad_h * (old_h - cand)
        g_cand = _tanh_grad(cand) * grad_h * (1 - upd)
        g_rst = _tanh_grad(rst) * g_cand * h_n
        g_in = torch.cat([g_rst, g_upd, g_cand], dim=1)
        g_rec = torch.cat([g_rst, g_upd, g_cand * rst], dim=1)
        grad_old_h = grad_h * upd + g_rec.mm(h2h_w)
        return (None, g_in.t().mm(x), g_rec.t().mm(old_h), g_in.sum(0, keepdim=True),
                g_rec.sum(0, keepdim=True), grad_old_h)


class GRUCell(nn.Module):
    def __init__(self, input_features, state_size):
        super().__init__()
        self.input_features, self.state_size = input_features, state_size
        self.x2h_weights = nn.Parameter(torch.empty(3 * state_size, input_features))
        self.h2h_weights = nn.Parameter(torch.empty(3 * state_size, state_size))
        self.x2h_bias = nn.Parameter(torch.empty(1, 3 * state_size))
        self.h2h_bias = nn.Parameter(torch.empty(1, 3 * state_size))
        std = 1.0 / math.sqrt(state_size)
        for w in self.parameters():
            w.data.uniform_(-std, std)

    def forward(self, input, state):
        return GRUFunction.apply(input, self.x2h_weights, self.h2h_weights, self.x2h_bias, self.h2h_bias, state)


def make_cell():
    return GRUCell(3, 4)


# glue: torch_function_tanh_gates
def _tanh_gates_step(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return GRUFunction.apply(x_t, weight_ih, weight_hh, bias_ih[None], bias_hh[None], h_prev)


tanh_gates_glue = torch_layout(torch_function(_tanh_gates_step))
# end glue
