"""TeMP's custom GRU cell (JiapengWu/TeMP, ``baselines/custom_gru.py``): an
``nn.Module`` in PyTorch's layout and gate order (r, z, n, reset after the
product, ``hy = n + z * (h - n)``), stepped with ``cell(input, hidden)`` on a
batch (B, D), (B, H).

The same file has a functional ``gru_cell(input, hidden, w_ih, w_hh, b_ih,
b_hh)`` that is right; the module is not: its ``weight_ih`` is (H, D) and
``bias_ih`` (H,), feeding the candidate only, so the update and reset gates
are computed from the hidden state alone.

Glue blocks are delimited by ``# glue: <name>`` / ``# end glue``.
"""

import torch
from torch.nn import Module, Parameter

from gru_props.adapters import torch_function, torch_layout


class GRUCell(Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = Parameter(torch.randn(hidden_size, input_size))
        self.weight_hh = Parameter(torch.randn(3 * hidden_size, hidden_size))
        self.bias_ih = Parameter(torch.randn(hidden_size))
        self.bias_hh = Parameter(torch.randn(3 * hidden_size))

    def forward(self, input, hidden):
        cand_in = input @ self.weight_ih.t() + self.bias_ih
        rec = hidden @ self.weight_hh.t() + self.bias_hh
        rec_r, rec_z, rec_n = rec.chunk(3, 1)
        rst = torch.sigmoid(rec_r)
        upd = torch.sigmoid(rec_z)
        cand = torch.tanh(cand_in + rst * rec_n)
        return cand + upd * (hidden - cand)


def make_cell():
    return GRUCell(3, 4)


# glue: temp_gru_cell
def _temp_step(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    H = h_prev.shape[1]
    cell = GRUCell(x_t.shape[1], H).to(x_t.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(weight_ih[2 * H:])
        cell.bias_ih.copy_(bias_ih[2 * H:])
        cell.weight_hh.copy_(weight_hh)
        cell.bias_hh.copy_(bias_hh)
        return cell(x_t, h_prev)


temp_glue = torch_layout(torch_function(_temp_step))
# end glue
