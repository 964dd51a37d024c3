"""Stacked, bidirectional, variable-length GRUs written the ways people write them: correct ones and buggy ones.

Each is a stack-form function ``fn(x, h0, layers, lengths)`` -> ``(out, h_n)`` (PyTorch's reset_after=True
cell, written by hand), with what the checker must say about it: ``CORRECT`` pass (with their check
arguments), ``BUGGY`` fail with the expected diagnosis (None: caught, no catalogued name).
"""

from __future__ import annotations

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def cell(x_t, h, p):
    """One step, PyTorch's convention (reset after U_n), on whatever input width W's first rows cover."""
    W = lambda name: getattr(p, name)[: x_t.shape[-1]]  # noqa: E731 - a generic cell slices W to its input
    z = sigmoid(x_t @ W("W_z") + h @ p.U_z + p.b_z)
    r = sigmoid(x_t @ W("W_r") + h @ p.U_r + p.b_r)
    n = np.tanh(x_t @ W("W_n") + p.b_n + r * (h @ p.U_n + p.b_hn))
    return z * h + (1 - z) * n


def _h0(x, h0, layers):
    B, H = x.shape[0], layers[0].H
    return np.zeros((len(layers), B, H), dtype=x.dtype) if h0 is None else h0


def run_masked(x, h, p, lengths, hold=False):
    """The masked update h = m * h_new + (1 - m) * h; outputs m * h (zeros at padding) or h (held)."""
    B, T, _ = x.shape
    out = np.zeros((B, T, p.H), dtype=np.result_type(x, h, p.W_z))
    for t in range(T):
        m = (t < lengths)[:, None].astype(out.dtype)
        h = m * cell(x[:, t], h, p) + (1 - m) * h
        out[:, t] = h if hold else m * h
    return out, h


def flip_each(a, lengths):
    """Each sequence reversed within its length (a per-sequence flip, the way people write it)."""
    out = a.copy()
    for b, n in enumerate(lengths):
        out[b, :n] = a[b, :n][::-1]
    return out


# ---------------------------------------------------------------- correct
def loop_with_flips(x, h0, layers, lengths, *, bidirectional=True, hold=False):
    """A loop over layers and directions; the reverse direction on each sequence flipped within its length."""
    h0 = _h0(x, h0, layers)
    nd = 2 if bidirectional else 1
    inp, h_n = x, []
    for k in range(len(layers) // nd):
        halves = []
        for d in range(nd):
            i = k * nd + d
            if d == 0:
                hs, h = run_masked(inp, h0[i], layers[i], lengths, hold)
            else:
                hs, h = run_masked(flip_each(inp, lengths), h0[i], layers[i], lengths)
                hs = flip_each(hs, lengths)
            halves.append(hs)
            h_n.append(h)
        inp = np.concatenate(halves, axis=2)
    return inp, np.stack(h_n)


def per_sequence(x, h0, layers, lengths):
    """One sequence at a time, no padding inside the loop: x[b, :lengths[b]] and its reversal."""
    h0 = _h0(x, h0, layers)
    B, T, _ = x.shape
    H, L = layers[0].H, len(layers) // 2
    out = np.zeros((B, T, 2 * H), dtype=np.result_type(x, h0, layers[0].W_z))
    h_n = np.array(h0, dtype=out.dtype, copy=True)
    for b in range(B):
        n = int(lengths[b])
        seq = x[b:b + 1, :n]
        for k in range(L):
            halves = []
            for d in range(2):
                h = h0[2 * k + d, b:b + 1]
                steps = []
                for t in (range(n) if d == 0 else reversed(range(n))):
                    h = cell(seq[:, t], h, layers[2 * k + d])
                    steps.append(h)
                if d:
                    steps = steps[::-1]
                halves.append(np.stack(steps, axis=1) if steps else np.zeros((1, 0, H)))
                h_n[2 * k + d, b] = h[0]
            seq = np.concatenate(halves, axis=2)
        out[b, :n] = seq[0]
    return out, h_n


def torch_gru_factory(D, H, L, bidirectional):
    import torch

    return torch.nn.GRU(D, H, L, batch_first=True, bidirectional=bidirectional)


# ------------------------------------------------------------------ buggy
def reverse_from_the_end(x, h0, layers, lengths):
    """The reverse direction on x[:, ::-1]: it starts at T - 1, in the padding."""
    h0 = _h0(x, h0, layers)
    B, T, _ = x.shape
    inp, h_n = x, []
    for k in range(len(layers) // 2):
        fwd, hf = run_masked(inp, h0[2 * k], layers[2 * k], lengths)
        rev, hr = run_masked(inp[:, ::-1], h0[2 * k + 1], layers[2 * k + 1], np.full(B, T))
        rev = rev[:, ::-1] * (np.arange(T)[None, :, None] < lengths[:, None, None])
        inp = np.concatenate([fwd, rev], axis=2)
        h_n += [hf, hr]
    return inp, np.stack(h_n)


def last_output_as_state(x, h0, layers, lengths):
    """h_n = out[:, -1]: for a shorter sequence that is padding (zeros)."""
    out, h_n = loop_with_flips(x, h0, layers, lengths, bidirectional=False)
    h_n = h_n.copy()
    h_n[-1] = out[:, -1]  # the top layer's state read off out
    return out, h_n


def unmasked_forward(x, h0, layers, lengths):
    """The forward recurrence runs through the padding (only the outputs are masked)."""
    h0 = _h0(x, h0, layers)
    B, T, _ = x.shape
    inp, h_n = x, []
    for i, p in enumerate(layers):
        hs, h = run_masked(inp, h0[i], p, np.full(B, T))
        hs = hs * (np.arange(T)[None, :, None] < lengths[:, None, None])
        inp = hs
        h_n.append(h)
    return inp, np.stack(h_n)


def halves_swapped(x, h0, layers, lengths):
    """torch.cat([backward, forward]): the reverse half first."""
    out, h_n = loop_with_flips(x, h0, layers, lengths)
    H = layers[0].H
    return np.concatenate([out[:, :, H:], out[:, :, :H]], axis=2), h_n


def reverse_not_flipped_back(x, h0, layers, lengths):
    """The reverse pass's outputs are concatenated in the order they were computed."""
    h0 = _h0(x, h0, layers)
    inp, h_n = x, []
    for k in range(len(layers) // 2):
        fwd, hf = run_masked(inp, h0[2 * k], layers[2 * k], lengths)
        rev, hr = run_masked(flip_each(inp, lengths), h0[2 * k + 1], layers[2 * k + 1], lengths)
        inp = np.concatenate([fwd, rev], axis=2)
        h_n += [hf, hr]
    return inp, np.stack(h_n)


def next_layer_reads_forward_half(x, h0, layers, lengths):
    """Layer 2 is fed only the forward half of layer 1's output."""
    h0 = _h0(x, h0, layers)
    inp, h_n = x, []
    H = layers[0].H
    for k in range(len(layers) // 2):
        out, hk = loop_with_flips(inp, h0[2 * k:2 * k + 2], layers[2 * k:2 * k + 2], lengths)
        h_n.append(hk)
        inp = out[:, :, :H]
    return out, np.concatenate(h_n)


def direction_major_states(x, h0, layers, lengths):
    """h0 read as h0[d * num_layers + k] and h_n stacked the same way (direction-major)."""
    h0 = _h0(x, h0, layers)
    L = len(layers) // 2
    order = [d * L + k for k in range(L) for d in range(2)]
    out, h_n = loop_with_flips(x, h0[order], layers, lengths)
    back = np.empty_like(h_n)
    back[order] = h_n
    return out, back


def chung_cell_stack(x, h0, layers, lengths):
    """A correct stack around a cell with the reversed interpolation (1 - z) * h + z * n."""
    h0 = _h0(x, h0, layers)
    global cell
    saved = cell

    def chung(x_t, h, p):
        z = sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
        return (1 - z) * h + z * n

    cell = chung
    try:
        return loop_with_flips(x, h0, layers, lengths)
    finally:
        cell = saved


def same_h0_every_layer(x, h0, layers, lengths):
    """Every layer starts from layer 0's h0 (unnamed: a state indexing bug of its own)."""
    h0 = _h0(x, h0, layers)
    return loop_with_flips(x, np.stack([h0[i % 2] for i in range(len(layers))]), layers, lengths)


def no_output_mask_and_reverse_from_end(x, h0, layers, lengths):
    """Two bugs together: the reverse pass from T - 1 and its padded outputs left unmasked."""
    h0 = _h0(x, h0, layers)
    B, T, _ = x.shape
    fwd, hf = run_masked(x, h0[0], layers[0], lengths)
    rev, hr = run_masked(x[:, ::-1], h0[1], layers[1], np.full(B, T))
    return np.concatenate([fwd, rev[:, ::-1]], axis=2), np.stack([hf, hr])


STACK = dict(num_layers=2, bidirectional=True, lengths=True)
CORRECT = [
    (loop_with_flips, STACK),
    (per_sequence, STACK),
    (lambda x, h0, layers, lengths: loop_with_flips(x, h0, layers, lengths, hold=True), {**STACK, "padding": "hold"}),
    (lambda x, h0, layers, lengths: loop_with_flips(x, h0, layers, lengths, bidirectional=False),
     dict(num_layers=3, lengths=True)),
]
#: (function, check arguments, expected diagnosis or None for caught without a name)
BUGGY = [
    (reverse_from_the_end, dict(bidirectional=True, lengths=True), "reverse_includes_padding"),
    (last_output_as_state, dict(lengths=True), "final_state_at_padding"),
    (unmasked_forward, dict(lengths=True), "padding_leaks"),
    (halves_swapped, dict(bidirectional=True, lengths=True), "directions_swapped"),
    (reverse_not_flipped_back, dict(bidirectional=True, lengths=True), "reverse_output_not_realigned"),
    (next_layer_reads_forward_half, STACK, "layer_input_wrong"),
    (direction_major_states, STACK, "state_order_mixed"),
    (chung_cell_stack, dict(bidirectional=True, lengths=True), "reversed_interpolation"),
    (same_h0_every_layer, STACK, None),
    (no_output_mask_and_reverse_from_end, dict(bidirectional=True, lengths=True), None),
]
