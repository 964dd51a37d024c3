"""A learner's forward GRU with slips that can come together, written as learners write them.

``learner_forward(x, h0, p, slips={...})`` makes each named slip the way a
learner's code makes it (not through gru_props' own models), so that tests
of the explanations compare the checker's model with independent code.
``FORWARD_SLIPS`` are the names; ``compatible`` says which can come together
(one per line of the cell).
"""

import itertools

import numpy as np


def _sig(a):
    return 1.0 / (1.0 + np.exp(-np.clip(a, -60, 60)))


#: name -> the line of the cell it changes
FORWARD_SLIPS = {
    "reversed_interpolation": "h",
    "update_gate_ignored": "h",
    "gates_swapped": "gates",
    "reset_gate_ignored": "r_in_n",
    "b_hn_ignored": "b_hn",
    "candidate_bias_missing": "b_n",
    "update_gate_input_missing": "a_z_x",
    "reset_gate_recurrent_missing": "a_r_h",
    "update_gate_tanh": "z_act",
    "candidate_sigmoid": "n_act",
    "initial_state_ignored": "h0",
    "time_reversed": "order",
}


def learner_forward(x, h0, p, slips=frozenset()):
    """A reset-before GRU loop (standard interpolation) with ``slips``; returns (hs, h_T)."""
    s = set(slips)
    Wz, Uz, bz, Wr, Ur, br = p.W_z, p.U_z, p.b_z, p.W_r, p.U_r, p.b_r
    if "gates_swapped" in s:  # unpacked the stacked weights in the wrong gate order
        Wz, Uz, bz, Wr, Ur, br = Wr, Ur, br, Wz, Uz, bz
    h = np.zeros_like(h0) if "initial_state_ignored" in s else h0
    steps = range(x.shape[1] - 1, -1, -1) if "time_reversed" in s else range(x.shape[1])
    hs = []
    for t in steps:
        xt = x[:, t]
        a_z = (0 if "update_gate_input_missing" in s else xt @ Wz) + h @ Uz + bz
        a_r = xt @ Wr + (0 if "reset_gate_recurrent_missing" in s else h @ Ur) + br
        z = np.tanh(a_z) if "update_gate_tanh" in s else _sig(a_z)
        r = _sig(a_r)
        gated = h if "reset_gate_ignored" in s else r * h
        a_n = xt @ p.W_n + gated @ p.U_n
        if "candidate_bias_missing" not in s:
            a_n = a_n + p.b_n
        if "b_hn_ignored" not in s:
            a_n = a_n + p.b_hn
        n = _sig(a_n) if "candidate_sigmoid" in s else np.tanh(a_n)
        if "reversed_interpolation" in s:
            h = (1 - z) * h + z * n
        elif "update_gate_ignored" in s:
            h = n
        else:
            h = z * h + (1 - z) * n
        hs.append(h)
    return (np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (p.H,), x.dtype)), h


def compatible(names):
    """Whether the slips change different lines of the cell (two on one line are one other slip)."""
    lines = [FORWARD_SLIPS[n] for n in names]
    return len(set(lines)) == len(lines)


def forward_combinations(k):
    return [c for c in itertools.combinations(sorted(FORWARD_SLIPS), k) if compatible(c)]


#: Backward slips of grads_zoo.learner_backward that can come together (one per line of the chain rule).
BACKWARD_SLIPS = {
    "truncated_bptt": "dh",
    "dz_sign_flipped": "dz",
    "dh_prev_missing_z_path": "dh_prev",
    "tanh_derivative_wrong": "tanh",
    "tanh_derivative_missing_square": "tanh",
    "sigmoid_derivative_wrong": "sigmoid",
    "dU_transposed": "dU",
    "grads_not_accumulated": "accumulate",
    "dh0_missing": "dh0",
    "grads_averaged_over_batch": "batch",
}


def backward_combinations(k):
    return [c for c in itertools.combinations(sorted(BACKWARD_SLIPS), k)
            if len({BACKWARD_SLIPS[n] for n in c}) == k
            # dh0 carries what truncation and accumulation leave: both with dh0 missing say little more
            and not {"grads_not_accumulated", "truncated_bptt"} <= set(c)]
