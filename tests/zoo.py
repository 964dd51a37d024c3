"""A zoo of hand-written GRUs: correct ones in several styles, and deliberately buggy ones.

Each buggy GRU differs from a correct one by one mistake a learner or a
porter makes. ``BUGGY`` maps a name to (function, keyword arguments for
check_implementation, expected failing property, expected diagnosis);
``CORRECT`` maps a name to (function, keyword arguments).
"""

import numpy as np


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def stable_sigmoid(a):
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _empty(x, h0):
    return np.zeros((x.shape[0], 0, h0.shape[1]), dtype=np.result_type(x, h0))


def _loop(x, h0, p, cell, reverse=False, sig=sigmoid):
    """Run ``cell(x_t, h, p, sig)`` over time; returns (hs, h_T)."""
    h = h0.copy()
    states = []
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in steps:
        h = cell(x[:, t, :], h, p, sig)
        states.append(h)
    return (np.stack(states, axis=1) if states else _empty(x, h0)), h


# ------------------------------------------------------------------ cells
def cell_before(x_t, h, p, sig=sigmoid):
    z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
    r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
    n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
    return z * h + (1 - z) * n


def cell_after(x_t, h, p, sig=sigmoid):
    z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
    r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
    n = np.tanh(x_t @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
    return z * h + (1 - z) * n


# ================================================================ correct
def loop_gru(x, h0, p):
    """The textbook loop, reset before U_n, warning-prone sigmoid (harmless)."""
    return _loop(x, h0, p, cell_before)


def torch_style_gru(x, h0, p):
    """PyTorch's convention with stacked [r, z, n] weights, returns hs only."""
    W = np.concatenate([p.W_r, p.W_z, p.W_n], axis=1)
    U = np.concatenate([p.U_r, p.U_z, p.U_n], axis=1)
    H = p.H
    h = h0.copy()
    hs = np.empty(x.shape[:2] + (H,), dtype=np.result_type(x, h0, W))
    for t in range(x.shape[1]):
        gi = x[:, t] @ W
        gh = h @ U
        r = stable_sigmoid(gi[:, :H] + gh[:, :H] + p.b_r)
        z = stable_sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H] + p.b_z)
        n = np.tanh(gi[:, 2 * H:] + p.b_n + r * (gh[:, 2 * H:] + p.b_hn))
        h = (1 - z) * n + z * h
        hs[:, t] = h
    return hs


def einsum_gru(x, h0, p):
    """Input projections for all steps at once with einsum, reset before U_n."""
    xz = np.einsum("btd,dh->bth", x, p.W_z) + p.b_z
    xr = np.einsum("btd,dh->bth", x, p.W_r) + p.b_r
    xn = np.einsum("btd,dh->bth", x, p.W_n) + p.b_n + p.b_hn
    h = np.array(h0, copy=True)
    out = []
    for t in range(x.shape[1]):
        z = stable_sigmoid(xz[:, t] + np.einsum("bh,hk->bk", h, p.U_z))
        r = stable_sigmoid(xr[:, t] + np.einsum("bh,hk->bk", h, p.U_r))
        n = np.tanh(xn[:, t] + np.einsum("bh,hk->bk", r * h, p.U_n))
        h = n + z * (h - n)
        out.append(h)
    return (np.stack(out, 1) if out else _empty(x, h0)), h


def float32_gru(x, h0, p):
    """Computes in float32 whatever it is given (as a GPU port might)."""
    p32 = p.astype(np.float32)
    hs, h = _loop(x.astype(np.float32), h0.astype(np.float32), p32, cell_after, sig=stable_sigmoid)
    return hs, h


def clipped_sigmoid_gru(x, h0, p):
    """Reset after, with a sigmoid protected by clipping its argument."""
    return _loop(x, h0, p, cell_after, sig=lambda a: 1.0 / (1.0 + np.exp(-np.clip(a, -500, 500))))


def step_gru(x_t, h_prev, p):
    """A correct single step (reset before), for step=True."""
    return cell_before(x_t, h_prev, p, stable_sigmoid)


def per_example_gru(x, h0, p, reset_after=False):
    """One example at a time, as many course notebooks do; float64 buffers whatever x is."""
    B, T, _ = x.shape
    hs = np.zeros((B, T, p.H))  # float64: the most common learner pattern
    h_T = np.zeros((B, p.H))
    cell = cell_after if reset_after else cell_before
    for b in range(B):
        h = h0[b:b + 1].copy()
        for t in range(T):
            h = cell(x[b:b + 1, t], h, p, stable_sigmoid)
            hs[b, t] = h[0]
        h_T[b] = h[0]
    return hs, h_T


def per_example_gru_after(x, h0, p):
    return per_example_gru(x, h0, p, reset_after=True)


def stacked_float32_compute(x, h0, p, reset_after=False):
    """Stacked (D, 3H) weights, computed in the input's dtype, stored in a float64 buffer."""
    W = np.concatenate([p.W_z, p.W_r, p.W_n], axis=1)
    U = np.concatenate([p.U_z, p.U_r, p.U_n], axis=1)
    H = p.H
    hs = np.zeros((x.shape[0], x.shape[1], H))
    h = h0
    for t in range(x.shape[1]):
        gx = x[:, t] @ W
        zr = stable_sigmoid(gx[:, :2 * H] + h @ U[:, :2 * H] + np.concatenate([p.b_z, p.b_r]))
        z, r = zr[:, :H], zr[:, H:]
        if reset_after:
            n = np.tanh(gx[:, 2 * H:] + p.b_n + r * (h @ U[:, 2 * H:] + p.b_hn))
        else:
            n = np.tanh(gx[:, 2 * H:] + (r * h) @ U[:, 2 * H:] + p.b_n + p.b_hn)
        h = z * h + (1 - z) * n
        hs[:, t] = h
    return hs, h


def stacked_float32_compute_after(x, h0, p):
    return stacked_float32_compute(x, h0, p, reset_after=True)


def step_after_float64_buffer(x_t, h_prev, p):
    """A reset-after step that returns float64 whatever it is given."""
    out = np.zeros(h_prev.shape)
    out[...] = cell_after(x_t, h_prev, p, stable_sigmoid)
    return out


def chung_gru(x, h0, p):
    """Chung et al.'s interpolation, (1 - z) * h + z * n, on purpose (DLFS2 style)."""
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        return (1 - z) * h + z * n
    return _loop(x, h0, p, cell, sig=stable_sigmoid)


def bias_free_gru(x, h0, p):
    """No biases at all (checked with bias=False)."""
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z)
        r = sig(x_t @ p.W_r + h @ p.U_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n)
        return z * h + (1 - z) * n
    return _loop(x, h0, p, cell, sig=stable_sigmoid)


def none_and_empty_gru(x, h0, p):
    """Handles h0=None and T = 0 and keeps the dtype: nothing to warn about."""
    B, T, _ = x.shape
    h = np.zeros((B, p.H), dtype=x.dtype) if h0 is None else h0.copy()
    hs = np.zeros((B, T, p.H), dtype=x.dtype)
    for t in range(T):
        h = cell_before(x[:, t], h, p, stable_sigmoid)
        hs[:, t] = h
    return hs, h


def none_and_empty_gru_after(x, h0, p):
    """none_and_empty_gru in the reset-after convention."""
    B, T, _ = x.shape
    h = np.zeros((B, p.H), dtype=x.dtype) if h0 is None else h0.copy()
    hs = np.zeros((B, T, p.H), dtype=x.dtype)
    for t in range(T):
        h = cell_after(x[:, t], h, p, stable_sigmoid)
        hs[:, t] = h
    return hs, h


def float64_buffer_gru(x, h0, p):
    """Right values and h0=None handled, but the states go into a float64 buffer."""
    B, T, _ = x.shape
    h = np.zeros((B, p.H), dtype=x.dtype) if h0 is None else h0.copy()
    hs = np.zeros((B, T, p.H))
    for t in range(T):
        h = cell_before(x[:, t], h, p, stable_sigmoid)
        hs[:, t] = h
    return hs, hs[:, -1] if T else h.astype(hs.dtype)


def float64_only_at_empty(x, h0, p):
    """A float32-clean GRU whose T = 0 path builds its result with np.zeros' default float64."""
    B, T, _ = x.shape
    if T == 0:
        return np.zeros((B, 0, p.H)), np.array(h0, dtype=np.float64)
    return _loop(x, h0, p, cell_before)


class CallableGRU:
    """A callable instance (a learner's 'model' object)."""

    def __call__(self, x, h0, p):
        return _loop(x, h0, p, cell_before, sig=stable_sigmoid)


# ================================================================== buggy
def reversed_interpolation(x, h0, p):
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        return (1 - z) * h + z * n
    return _loop(x, h0, p, cell)


def gates_swapped(x, h0, p):
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        r = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        return z * h + (1 - z) * n
    return _loop(x, h0, p, cell)


def reset_gate_ignored(x, h0, p):
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        n = np.tanh(x_t @ p.W_n + h @ p.U_n + p.b_n + p.b_hn)
        return z * h + (1 - z) * n
    return _loop(x, h0, p, cell)


def update_gate_ignored(x, h0, p):
    def cell(x_t, h, p, sig):
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        return np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
    return _loop(x, h0, p, cell)


def initial_state_ignored(x, h0, p):
    return _loop(x, np.zeros_like(h0), p, cell_before)


def time_reversed(x, h0, p):
    return _loop(x, h0, p, cell_before, reverse=True)


def output_reversed(x, h0, p):
    hs, h = _loop(x, h0, p, cell_before)
    return hs[:, ::-1], h


def states_shifted(x, h0, p):
    h = h0.copy()
    states = []
    for t in range(x.shape[1]):
        states.append(h)  # stored before the update
        h = cell_before(x[:, t], h, p)
    return (np.stack(states, axis=1) if states else _empty(x, h0)), h


def after_instead_of_before(x, h0, p):
    """Reset-after written, checked as reset_after=False."""
    return _loop(x, h0, p, cell_after)


def b_hn_ignored(x, h0, p):
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + p.b_n + r * (h @ p.U_n))
        return z * h + (1 - z) * n
    return _loop(x, h0, p, cell)


def nan_sigmoid(x, h0, p):
    """exp(a) / (1 + exp(a)): inf / inf = NaN for a > 709."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _loop(x, h0, p, cell_before, sig=lambda a: np.exp(a) / (1 + np.exp(a)))


def guarded_sigmoid(x, h0, p):
    """An overflow 'guard' that returns 0.5 for |a| > 30."""
    return _loop(x, h0, p, cell_before,
                 sig=lambda a: np.where(np.abs(a) > 30, 0.5, stable_sigmoid(np.clip(a, -30, 30))))


def mutates_h0(x, h0, p):
    h = h0  # no copy
    states = []
    for t in range(x.shape[1]):
        h[...] = cell_before(x[:, t], h, p)
        states.append(h.copy())
    return (np.stack(states, axis=1) if states else _empty(x, h0)), h.copy()


_CARRY = {}


def keeps_state(x, h0, p):
    """Carries the last state over to the next call when shapes match."""
    start = _CARRY.get(h0.shape, h0)
    hs, h = _loop(x, start, p, cell_before)
    _CARRY[h0.shape] = h
    return hs, h


def crashes_on_empty(x, h0, p):
    h = h0.copy()
    states = []
    for t in range(x.shape[1]):
        h = cell_before(x[:, t], h, p)
        states.append(h)
    return np.stack(states, axis=1), h  # np.stack([]) raises when T = 0


def returns_list(x, h0, p):
    hs, _ = _loop(x, h0, p, cell_before)
    return [hs[:, t] for t in range(hs.shape[1])]


def time_major_output(x, h0, p):
    hs, h = _loop(x, h0, p, cell_before)
    return np.ascontiguousarray(hs.transpose(1, 0, 2)), h


def hangs(x, h0, p):
    if x.shape[1] >= 0:
        while True:
            pass


def batch_mixing(x, h0, p):
    """Normalises the candidate input over the batch: rows leak into each other."""
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        a = x_t @ p.W_n
        a = a - a.mean(axis=0, keepdims=True) + a[:1]
        n = np.tanh(a + (r * h) @ p.U_n + p.b_n + p.b_hn)
        return z * h + (1 - z) * n
    return _loop(x, h0, p, cell)


def wrong_final_state(x, h0, p):
    hs, _ = _loop(x, h0, p, cell_before)
    return hs, h0.copy()


def tanh_gates(x, h0, p):
    return _loop(x, h0, p, cell_before, sig=np.tanh)


def half_precision(x, h0, p):
    """Stores the state in float16 between steps: precision lost."""
    def cell(x_t, h, p, sig):
        return cell_before(x_t, h, p, sig).astype(np.float16).astype(h.dtype)
    return _loop(x, h0, p, cell, sig=stable_sigmoid)


def step_reversed_interpolation(x_t, h_prev, p):
    z = stable_sigmoid(x_t @ p.W_z + h_prev @ p.U_z + p.b_z)
    r = stable_sigmoid(x_t @ p.W_r + h_prev @ p.U_r + p.b_r)
    n = np.tanh(x_t @ p.W_n + (r * h_prev) @ p.U_n + p.b_n + p.b_hn)
    return (1 - z) * h_prev + z * n


def chunked_state_drop(x, h0, p):
    """Processes time in chunks of 4 and restarts from h0 at every chunk: needs T >= 5 to show."""
    outs = []
    for start in range(0, x.shape[1], 4):
        hs, _ = _loop(x[:, start:start + 4], h0, p, cell_before, sig=stable_sigmoid)
        outs.append(hs)
    hs = np.concatenate(outs, axis=1) if outs else _empty(x, h0)
    return hs, (hs[:, -1] if hs.shape[1] else h0.copy())


def wrong_from_four_units(x, h0, p):
    """Hard-codes 3 hidden units in the recurrent candidate product: wrong only when H >= 4."""
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        rec = np.zeros_like(h)
        k = min(3, h.shape[1])
        rec[:, :k] = (r * h) @ p.U_n[:, :k]
        n = np.tanh(x_t @ p.W_n + rec + p.b_n + p.b_hn)
        return z * h + (1 - z) * n
    return _loop(x, h0, p, cell, sig=stable_sigmoid)


def stack_crash_reversed(x, h0, p):
    """Reversed interpolation that also crashes at T = 0: the value bug must still be named."""
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        return (1 - z) * h + z * n
    h = h0.copy()
    states = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h, p, stable_sigmoid)
        states.append(h)
    return np.stack(states, axis=1), h


_FLAKY_CALLS = [0]


def flaky(x, h0, p):
    """Wrong on one call in 20 (a race, an uninitialised buffer): Hypothesis sees a flaky test."""
    _FLAKY_CALLS[0] += 1
    hs, h = _loop(x, h0, p, cell_before, sig=stable_sigmoid)
    if _FLAKY_CALLS[0] % 20 == 7:
        hs = hs + 0.25
    return hs, h


def clips_params_in_place(x, h0, p):
    """Clips its weights in place: fails on read-only arrays, which is a mutation, not a crash."""
    np.clip(p.U_z, -5, 5, out=p.U_z)
    return _loop(x, h0, p, cell_before, sig=stable_sigmoid)


def none_as_ones(x, h0, p):
    """Accepts h0=None but starts from ones."""
    if h0 is None:
        h0 = np.ones((x.shape[0], p.H), dtype=x.dtype)
    return _loop(x, h0, p, cell_before, sig=stable_sigmoid)


def nan_at_zero(x, h0, p):
    """Normalises the candidate input by its norm: 0/0 = NaN when x is zero."""
    def cell(x_t, h, p, sig):
        z = sig(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x_t @ p.W_r + h @ p.U_r + p.b_r)
        a = x_t @ p.W_n
        a = a / np.linalg.norm(a, axis=1, keepdims=True) * np.linalg.norm(a, axis=1, keepdims=True)
        n = np.tanh(a + (r * h) @ p.U_n + p.b_n + p.b_hn)
        return z * h + (1 - z) * n
    with np.errstate(invalid="ignore", divide="ignore"):
        return _loop(x, h0, p, cell, sig=stable_sigmoid)


def exits_process(x, h0, p):
    import sys
    sys.exit(0)


CORRECT = {
    "loop_gru": (loop_gru, {}),
    "torch_style_gru": (torch_style_gru, {}),
    "einsum_gru": (einsum_gru, {}),
    "float32_gru": (float32_gru, {}),
    "clipped_sigmoid_gru": (clipped_sigmoid_gru, {"reset_after": True}),
    "step_gru": (step_gru, {"step": True}),
    "per_example_gru": (per_example_gru, {}),
    "per_example_gru_after": (per_example_gru_after, {}),
    "stacked_float32_compute": (stacked_float32_compute, {}),
    "stacked_float32_compute_after": (stacked_float32_compute_after, {}),
    "step_after_float64_buffer": (step_after_float64_buffer, {"step": True}),
    "chung_gru": (chung_gru, {"interpolation": "chung"}),
    "chung_gru_detected": (chung_gru, {"interpolation": None}),
    "bias_free_gru": (bias_free_gru, {"bias": False}),
    "none_and_empty_gru": (none_and_empty_gru, {"strict": True}),
    "none_and_empty_gru_after": (none_and_empty_gru_after, {"strict": True}),
    "callable_instance": (CallableGRU(), {}),
    # raises at T = 0, as torch.nn.GRU does: a warning (strict=True makes it a failure)
    "crashes_on_empty": (crashes_on_empty, {}),
}

BUGGY = {
    "reversed_interpolation": (reversed_interpolation, {}, "matches_reference", "reversed_interpolation"),
    "gates_swapped": (gates_swapped, {}, "matches_reference", "gates_swapped"),
    "reset_gate_ignored": (reset_gate_ignored, {}, "matches_reference", "reset_gate_ignored"),
    "update_gate_ignored": (update_gate_ignored, {}, "matches_reference", "update_gate_ignored"),
    "initial_state_ignored": (initial_state_ignored, {}, "matches_reference", "initial_state_ignored"),
    "time_reversed": (time_reversed, {}, "matches_reference", "time_reversed"),
    "output_reversed": (output_reversed, {}, "matches_reference", "time_reversed_output"),
    "states_shifted": (states_shifted, {}, "matches_reference", "states_shifted"),
    "after_instead_of_before": (after_instead_of_before, {"reset_after": False}, "matches_reference",
                                "wrong_reset_convention"),
    "b_hn_ignored": (b_hn_ignored, {"reset_after": True}, "matches_reference", "b_hn_ignored"),
    "nan_sigmoid": (nan_sigmoid, {}, "matches_reference_at_extremes", "sigmoid_exp_ratio"),
    "guarded_sigmoid": (guarded_sigmoid, {}, "matches_reference", "saturating_sigmoid_guard"),
    "mutates_h0": (mutates_h0, {}, "inputs_unchanged", "input_mutated"),
    "keeps_state": (keeps_state, {}, "matches_reference", "nondeterministic"),
    "crashes_on_empty_strict": (crashes_on_empty, {"strict": True}, "empty_sequence", None),
    "float64_only_at_empty": (float64_only_at_empty, {}, "empty_sequence", None),
    "returns_list": (returns_list, {}, "output_contract", None),
    "time_major_output": (time_major_output, {}, "matches_reference", "time_major_output"),
    "hangs": (hangs, {"timeout": 0.2}, "output_contract", None),
    "batch_mixing": (batch_mixing, {}, "matches_reference", None),
    "wrong_final_state": (wrong_final_state, {}, "matches_reference", None),
    "tanh_gates": (tanh_gates, {}, "matches_reference", "gates_tanh"),
    "half_precision": (half_precision, {}, "matches_reference", None),
    "step_reversed_interpolation": (step_reversed_interpolation, {"step": True}, "matches_reference",
                                    "reversed_interpolation"),
    "chunked_state_drop": (chunked_state_drop, {}, "matches_reference", None),
    "wrong_from_four_units": (wrong_from_four_units, {}, "matches_reference", None),
    "stack_crash_reversed": (stack_crash_reversed, {}, "matches_reference", "reversed_interpolation"),
    "standard_when_chung_asked": (loop_gru, {"interpolation": "chung"}, "matches_reference",
                                  "reversed_interpolation"),
    "flaky": (flaky, {}, "matches_reference", "nondeterministic"),
    "clips_params_in_place": (clips_params_in_place, {}, "inputs_unchanged", "input_mutated"),
    "none_as_ones": (none_as_ones, {}, "accepts_h0_none", None),
    "nan_at_zero": (nan_at_zero, {}, "matches_reference", "non_finite_output"),
    "float64_buffer_strict": (float64_buffer_gru, {"strict": True}, "dtype_preserved", None),
    "exits_process": (exits_process, {}, "output_contract", None),
}

#: What ``err.diagnoses`` must be where it is not simply ``(diagnosis,)`` for a slip (or named combination of
#: slips) of the vocabulary: several slips at once.
EXPLAINED: dict = {}
