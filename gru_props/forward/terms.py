"""The forward equations as sums of named terms, and the slips a hand-written GRU makes in them.

::

    a_z = x_t W_z + h_{t-1} U_z + b_z            z_t = sigmoid(a_z)
    a_r = x_t W_r + h_{t-1} U_r + b_r            r_t = sigmoid(a_r)
    a_n = x_t W_n + b_n + (r_t * h_{t-1}) U_n + b_hn          (reset before U_n)
        = x_t W_n + b_n + r_t * (h_{t-1} U_n + b_hn)          (reset after U_n)
    n_t = tanh(a_n)
    h_t = z_t * h_{t-1} + (1 - z_t) * n_t

A *slip* changes one site of these equations in one way (a term missing,
negated, scaled, transposed, taken from the wrong quantity, or added where
it does not belong); ``forward(x, h0, params, conv, slips)`` computes the GRU
of ``conv`` with a set of slips applied, so a combination of slips is a
model of a buggy function that can be run and compared with it. Each slip
is also a name of the catalogue (``SLIPS``); ``forward.bugs`` adds the
behaviour findings.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, FrozenSet, Iterable, NamedTuple, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams, in_float64
from gru_props.engine import explain
from gru_props.engine.conventions import Convention


@dataclasses.dataclass(frozen=True)
class Slip:
    """One wrong term: its catalogue ``name``, the ``site`` it changes (one slip per site), the ``term`` as the
    equations write it, ``how`` it is wrong, the ``equation`` it breaks, what the code does (``text``), where to
    look in the user's code (``hint``)."""

    name: str
    site: str
    term: str
    how: str
    equation: str
    text: str
    hint: str


EQ_Z = "z_t = sigmoid(x_t W_z + h_{t-1} U_z + b_z)"
EQ_R = "r_t = sigmoid(x_t W_r + h_{t-1} U_r + b_r)"
EQ_N = "n_t = tanh(x_t W_n + b_n + (r_t * h_{t-1}) U_n + b_hn)  (reset_after: ... + r_t * (h_{t-1} U_n + b_hn))"
EQ_H = "h_t = z_t * h_{t-1} + (1 - z_t) * n_t"
EQ_SEQ = "hs[:, t] = h_t, the state after reading x[:, t], for t = 0 .. T-1, from h_{-1} = h0"

_GATE = {"z": ("update gate", EQ_Z, "update_gate"), "r": ("reset gate", EQ_R, "reset_gate")}


def _gate_slips(g: str) -> Tuple[Slip, ...]:
    label, eq, stem = _GATE[g]
    return (
        Slip(f"{stem}_input_missing", f"a_{g}.x", f"x_t W_{g}", "missing", eq,
             f"the {label}'s pre-activation has no input term x_t W_{g}: the gate never sees x",
             f"the x @ W_{g} in your {g}"),
        Slip(f"{stem}_input_side_missing", f"a_{g}.x", f"x_t W_{g} and the input half of b_{g}", "missing", eq,
             f"the {label}'s pre-activation has neither its input term x_t W_{g} nor its input-side bias "
             f"(PyTorch's bias_ih part of b_{g}): the gate sees only h_(t-1)",
             f"the input part (x @ W_i{g} + b_i{g}) of your {g}"),
        Slip(f"{stem}_recurrent_missing", f"a_{g}.h", f"h_{{t-1}} U_{g}", "missing", eq,
             f"the {label}'s pre-activation has no recurrent term h_(t-1) U_{g}",
             f"the h @ U_{g} in your {g}"),
        Slip(f"{stem}_recurrent_transposed", f"a_{g}.h", f"h_{{t-1}} U_{g}", "transposed", eq,
             f"the {label}'s recurrent term is h_(t-1) U_{g}^T: U_{g} is used transposed (its shape allows it)",
             f"the order of the product with U_{g} in your {g} (h @ U vs U @ h)"),
        Slip(f"{stem}_bias_missing", f"a_{g}.b", f"b_{g}", "missing", eq,
             f"the {label}'s bias b_{g} is missing", f"the + b_{g} of your {g}"),
        Slip(f"{stem}_bias_halved", f"a_{g}.b", f"b_{g}", "scaled", eq,
             f"only half of the {label}'s bias b_{g} is added: with two biases per gate (PyTorch's bias_ih and "
             "bias_hh), one of them is missing", f"the biases added into your {g}"),
        Slip(f"{stem}_tanh", f"{g}.act", f"sigmoid(a_{g})", "wrong quantity", eq,
             f"the {label} is tanh(a_{g}) instead of sigmoid(a_{g}): it ranges over (-1, 1), not (0, 1)",
             f"the activation of your {g}"),
        Slip(f"{stem}_activation_missing", f"{g}.act", f"sigmoid(a_{g})", "missing", eq,
             f"the {label} is its pre-activation a_{g}: the sigmoid is missing", f"the activation of your {g}"),
        Slip(f"{stem}_sigmoid_exp_ratio", f"{g}.act", f"sigmoid(a_{g})", "wrong quantity", eq,
             f"the {label}'s sigmoid is written exp(a) / (1 + exp(a)), which is inf / inf = NaN once exp(a) "
             "overflows", f"the sigmoid of your {g}"),
        Slip(f"{stem}_input_negated", f"a_{g}.x", f"x_t W_{g}", "negated", eq,
             f"the {label}'s input term enters with a minus sign: - x_t W_{g}",
             f"the sign before x @ W_{g} in your {g}"),
        Slip(f"{stem}_recurrent_negated", f"a_{g}.h", f"h_{{t-1}} U_{g}", "negated", eq,
             f"the {label}'s recurrent term enters with a minus sign: - h_(t-1) U_{g}",
             f"the sign before h @ U_{g} in your {g}"),
        Slip(f"{stem}_bias_negated", f"a_{g}.b", f"b_{g}", "negated", eq,
             f"the {label}'s bias enters with a minus sign: - b_{g}", f"the sign before b_{g} in your {g}"),
        Slip(f"{stem}_negated", f"{g}.sign", f"sigmoid(a_{g})", "negated", eq,
             f"the {label} is - sigmoid(a_{g}): a minus sign in front of the gate", f"the sign of your {g}"),
    ) + _weight_swaps(g, stem, label, eq)


_OTHER = {"z": "update gate", "r": "reset gate", "n": "candidate"}


def _weight_swaps(g: str, stem: str, label: str, eq: str) -> Tuple[Slip, ...]:
    """Gate (or candidate) ``g``'s input or recurrent weights taken from one of the other two."""
    return tuple(
        Slip(f"{stem}_{kind}_from_{o}", f"a_{g}.{part}", f"{mat}_{g}", "wrong quantity", eq,
             f"the {label}'s {kind} term uses {mat}_{o} (the {_OTHER[o]}'s weights) instead of {mat}_{g}",
             f"which weight multiplies {'x' if part == 'x' else 'h'} in your {g}")
        for kind, part, mat in (("input", "x", "W"), ("recurrent", "h", "U")) for o in "zrn" if o != g
    )


SLIPS_LIST: Tuple[Slip, ...] = _gate_slips("z") + _gate_slips("r") + (
    Slip("gates_swapped", "gates", "z and r", "wrong quantity", f"{EQ_Z}; {EQ_R}",
         "the update gate z and the reset gate r are exchanged: z is computed with W_r, U_r, b_r and r with "
         "W_z, U_z, b_z", "which parameters feed which gate (PyTorch stacks r, z, n; ONNX and Keras z, r, n)"),
    Slip("saturating_sigmoid_guard", "sigmoid", "sigmoid(a)", "wrong quantity", f"{EQ_Z}; {EQ_R}",
         "the sigmoid returns 0.5 for large |a| (an overflow guard that gives the wrong value)",
         "the guard in your sigmoid"),
    Slip("reset_gate_ignored", "n.r", "r_t", "missing", EQ_N,
         "the reset gate has no effect: the candidate uses h_(t-1) as if r were 1", "where r enters your n"),
    Slip("candidate_input_missing", "a_n.x", "x_t W_n", "missing", EQ_N,
         "the candidate's pre-activation has no input term x_t W_n", "the x @ W_n in your n"),
    Slip("candidate_bias_missing", "a_n.b", "b_n", "missing", EQ_N,
         "the candidate's input bias b_n is missing", "the biases of your n"),
    Slip("b_hn_ignored", "a_n.bhn", "b_hn", "missing", EQ_N,
         "the recurrent candidate bias b_hn is missing", "the biases of your n"),
    Slip("candidate_recurrent_missing", "a_n.h", "the recurrent term of a_n", "missing", EQ_N,
         "the candidate's pre-activation has no recurrent term: it never sees h_(t-1)", "your n's h term"),
    Slip("candidate_recurrent_transposed", "a_n.h", "U_n", "transposed", EQ_N,
         "U_n is used transposed in the candidate (its shape allows it)", "the order of the product with U_n"),
    Slip("wrong_reset_convention", "a_n.h", "(r_t * h_{t-1}) U_n", "wrong quantity", EQ_N,
         "the implementation follows the other reset convention: it applies the reset gate before the recurrent "
         "matrix product where after was asked for, or the reverse", "where r multiplies in your n"),
    Slip("b_hn_outside_reset_gate", "a_n.h", "r_t * (h_{t-1} U_n + b_hn)", "wrong quantity", EQ_N,
         "the reset gate multiplies h_(t-1) U_n but b_hn stays outside it, r * (h U_n) + b_hn: neither "
         "convention (before U_n: (r * h) U_n; after: r * (h U_n + b_hn))", "where r multiplies in your n"),
    Slip("candidate_sigmoid", "n.act", "tanh(a_n)", "wrong quantity", EQ_N,
         "the candidate is sigmoid(a_n) instead of tanh(a_n)", "the activation of your n"),
    Slip("candidate_activation_missing", "n.act", "tanh(a_n)", "missing", EQ_N,
         "the candidate is its pre-activation a_n: the tanh is missing", "the activation of your n"),
    Slip("candidate_tanh_exp_ratio", "n.act", "tanh(a_n)", "wrong quantity", EQ_N,
         "the candidate's tanh is written (exp(a) - exp(-a)) / (exp(a) + exp(-a)), inf / inf = NaN once exp "
         "overflows (|a_n| > 709.8 in float64)", "the tanh of your n"),
    Slip("candidate_input_negated", "a_n.x", "x_t W_n", "negated", EQ_N,
         "the candidate's input term enters with a minus sign: - x_t W_n", "the sign before x @ W_n in your n"),
    Slip("candidate_bias_negated", "a_n.b", "b_n", "negated", EQ_N,
         "the candidate's input bias enters with a minus sign: - b_n", "the sign before b_n in your n"),
    Slip("b_hn_negated", "a_n.bhn", "b_hn", "negated", EQ_N,
         "the recurrent candidate bias enters with a minus sign: - b_hn", "the sign before b_hn in your n"),
    Slip("candidate_recurrent_negated", "a_n.h", "the recurrent term of a_n", "negated", EQ_N,
         "the candidate's recurrent term enters with a minus sign", "the sign before the h term of your n"),
    Slip("candidate_negated", "n.sign", "tanh(a_n)", "negated", EQ_N,
         "the candidate is - tanh(a_n): a minus sign in front of it", "the sign of your n"),
) + _weight_swaps("n", "candidate", "candidate", EQ_N) + (
    Slip("reversed_interpolation", "h", "z_t * h_{t-1} + (1 - z_t) * n_t", "wrong quantity", EQ_H,
         "h_t is computed as (1 - z) * h_{t-1} + z * n_t, the form Chung et al. (2014) wrote; this contract "
         "(PyTorch, ONNX, Keras, Cho et al. 2014) is z * h_{t-1} + (1 - z) * n_t: z -> 1 keeps the previous "
         "state. If Chung's form is your course's convention, check with interpolation='chung' (or None)",
         "the last line of your cell, where the new state mixes h_prev and the candidate"),
    Slip("update_gate_ignored", "h", "z_t * h_{t-1}", "wrong quantity", EQ_H,
         "h_t is the candidate n_t at every step: the state term z * h_(t-1) is missing or taken from the "
         "candidate (z * n + (1 - z) * n = n)", "the last line of your cell"),
    Slip("interpolation_candidate_missing", "h", "(1 - z_t) * n_t", "missing", EQ_H,
         "h_t = z * h_(t-1): the candidate term (1 - z) * n_t is missing", "the last line of your cell"),
    Slip("interpolation_one_minus_missing", "h", "(1 - z_t) * n_t", "scaled", EQ_H,
         "h_t = z * h_(t-1) + n_t: the candidate is not weighted by (1 - z)", "the last line of your cell"),
    Slip("interpolation_state_negated", "h", "z_t * h_{t-1}", "negated", EQ_H,
         "h_t = - z * h_(t-1) + (1 - z) * n_t: the state term enters with a minus sign",
         "the signs on the last line of your cell"),
    Slip("interpolation_candidate_negated", "h", "(1 - z_t) * n_t", "negated", EQ_H,
         "h_t = z * h_(t-1) - (1 - z) * n_t: the candidate term enters with a minus sign",
         "the signs on the last line of your cell"),
    Slip("interpolation_uses_r", "h", "z_t", "wrong quantity", EQ_H,
         "the new state mixes h_(t-1) and n_t with the reset gate r instead of the update gate z",
         "which gate the last line of your cell uses"),
    Slip("interpolation_state_uses_r", "h", "z_t * h_{t-1}", "wrong quantity", EQ_H,
         "h_t = r * h_(t-1) + (1 - z) * n_t: the state term is weighted by the reset gate r instead of z",
         "which gate weighs h_prev on the last line of your cell"),
    Slip("interpolation_candidate_uses_r", "h", "(1 - z_t) * n_t", "wrong quantity", EQ_H,
         "h_t = z * h_(t-1) + (1 - r) * n_t: the candidate term is weighted by 1 - r, the reset gate, instead "
         "of 1 - z", "which gate weighs the candidate on the last line of your cell"),
    Slip("interpolation_candidate_uses_z", "h", "(1 - z_t) * n_t", "wrong quantity", EQ_H,
         "h_t = z * h_(t-1) + z * n_t: the candidate is weighted by z instead of (1 - z)",
         "the weight of the candidate on the last line of your cell"),
    Slip("state_never_updated", "h", "(1 - z_t) * n_t", "wrong quantity", EQ_H,
         "h_t = h_(t-1) at every step, so the state never changes from h0: the candidate term uses the previous "
         "state instead of n_t (z * h + (1 - z) * h = h), or the update gate is 1 everywhere (a sigmoid that "
         "returns 1)", "the candidate term of the last line of your cell, and the sigmoid of your z"),
    Slip("interpolation_terms_multiplied", "h", "z_t * h_{t-1} + (1 - z_t) * n_t", "wrong quantity", EQ_H,
         "h_t = (z * h_(t-1)) * ((1 - z) * n_t): the two terms of the interpolation are multiplied instead of "
         "added", "the operator between the two terms on the last line of your cell"),
    Slip("initial_state_ignored", "h0", "h_{-1} = h0", "missing", EQ_SEQ,
         "the given h0 is not used: the recurrence starts from zeros", "what h is before your loop"),
    Slip("time_reversed", "x", "x[:, t]", "wrong quantity", EQ_SEQ,
         "the sequence is processed from the last time step to the first", "the order of your loop"),
    Slip("input_shifted", "x", "x[:, t]", "wrong quantity", EQ_SEQ,
         "step t reads x[:, t - 1]: the input is off by one step (step 0 reads x[:, -1], the last one)",
         "the index of x in your loop"),
    Slip("time_reversed_output", "hs", "hs[:, t]", "wrong quantity", EQ_SEQ,
         "the states are right but stored in reverse time order", "where you store h_t"),
    Slip("states_shifted", "hs", "hs[:, t]", "wrong quantity", EQ_SEQ,
         "hs is off by one step: hs[:, t] holds h_{t-1} (h0 first, the last state missing)",
         "whether you store h before or after updating it"),
    Slip("states_are_candidates", "hs.value", "hs[:, t] = h_t", "wrong quantity", EQ_SEQ,
         "hs[:, t] holds the candidate n_t instead of the new state h_t (the recurrence and h_T are right)",
         "which variable you store into hs"),
    Slip("final_state_is_candidate", "h_T", "h_T = h_{T-1}", "wrong quantity", EQ_SEQ,
         "the returned final state is the last candidate n_(T-1) instead of the last state h_(T-1) (hs is "
         "right)", "which variable you return as the final state"),
    Slip("time_major_output", "hs", "hs[:, t]", "transposed", EQ_SEQ,
         "hs is returned time-major, (T, B, H), where the contract is batch-first (B, T, H); it only has the "
         "right shape when B == T", "the axis you stack the states on"),
)

SLIPS: Dict[str, Slip] = {s.name: s for s in SLIPS_LIST}
#: Named combinations of single slips: one sigmoid (or activation) written once and used by both gates.
COMBINATIONS: Dict[str, FrozenSet[str]] = {
    "sigmoid_exp_ratio": frozenset({"update_gate_sigmoid_exp_ratio", "reset_gate_sigmoid_exp_ratio"}),
    "gates_tanh": frozenset({"update_gate_tanh", "reset_gate_tanh"}),
}
#: Their words: both gates' term, both gates' equations.
COMBINED: Dict[str, Slip] = {
    "sigmoid_exp_ratio": Slip(
        "sigmoid_exp_ratio", "gates.act", "sigmoid(a_z) and sigmoid(a_r)", "wrong quantity", f"{EQ_Z}; {EQ_R}",
        "both gates' sigmoid is written exp(a) / (1 + exp(a)), which is inf / inf = NaN once exp(a) overflows "
        "(a > 709.8 in float64, 88.7 in float32)", "your sigmoid function (1 / (1 + exp(-a)) is the same "
        "function, and finite for large a)"),
    "gates_tanh": Slip(
        "gates_tanh", "gates.act", "sigmoid(a_z) and sigmoid(a_r)", "wrong quantity", f"{EQ_Z}; {EQ_R}",
        "both gates are tanh(a) instead of sigmoid(a): they range over (-1, 1), not (0, 1)",
        "the activation of your z and r"),
}


def describe(name: str) -> Optional[Slip]:
    """The term-level words of a catalogue name: a single slip or a named combination (None otherwise)."""
    return SLIPS.get(name) or COMBINED.get(name)


def expand(slips: Iterable[str]) -> FrozenSet[str]:
    """Named combinations replaced by their single slips."""
    return explain.expand(slips, COMBINATIONS)
#: Slips that concern the whole sequence rather than one step (a step function cannot show them).
SEQUENCE_SLIPS = frozenset({"initial_state_ignored", "time_reversed", "time_reversed_output", "states_shifted",
                            "time_major_output", "input_shifted", "states_are_candidates",
                            "final_state_is_candidate"})


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _exp_ratio_sigmoid(a: np.ndarray) -> np.ndarray:
    e = np.exp(a)
    return e / (1.0 + e)


def _exp_ratio_tanh(a: np.ndarray) -> np.ndarray:
    e, f = np.exp(a), np.exp(-a)
    return (e - f) / (e + f)


def _guarded(a: np.ndarray) -> np.ndarray:
    return np.where(np.abs(a) > 30, 0.5, _sigmoid(a))


def _activation(slips: FrozenSet[str], stem: str, default: Callable[[np.ndarray], np.ndarray]
                ) -> Callable[[np.ndarray], np.ndarray]:
    if f"{stem}_tanh" in slips:
        return np.tanh
    if f"{stem}_activation_missing" in slips:
        return lambda a: a
    if f"{stem}_sigmoid_exp_ratio" in slips:
        return _exp_ratio_sigmoid
    if "saturating_sigmoid_guard" in slips:
        return _guarded
    return default


def _weights(p: GRUParams, g: str, stem: str, slips: FrozenSet[str]) -> Tuple[np.ndarray, np.ndarray]:
    """(W, U) of gate ``g`` (z, r or n), either taken from another gate by a ``*_from_*`` slip."""
    W, U = getattr(p, f"W_{g}"), getattr(p, f"U_{g}")
    for o in "zrn":
        if f"{stem}_input_from_{o}" in slips:
            W = getattr(p, f"W_{o}")
        if f"{stem}_recurrent_from_{o}" in slips:
            U = getattr(p, f"U_{o}")
    return W, U


def _pre(x_t: np.ndarray, h: np.ndarray, W: np.ndarray, U: np.ndarray, b: np.ndarray, slips: FrozenSet[str],
         stem: str) -> np.ndarray:
    a = np.zeros(h.shape)
    if f"{stem}_input_side_missing" in slips:
        b = 0.5 * b
    elif f"{stem}_input_negated" in slips:
        a = a - x_t @ W
    elif f"{stem}_input_missing" not in slips:
        a = a + x_t @ W
    if f"{stem}_recurrent_transposed" in slips:
        a = a + h @ U.T
    elif f"{stem}_recurrent_negated" in slips:
        a = a - h @ U
    elif f"{stem}_recurrent_missing" not in slips:
        a = a + h @ U
    if f"{stem}_bias_halved" in slips:
        a = a + 0.5 * b
    elif f"{stem}_bias_negated" in slips:
        a = a - b
    elif f"{stem}_bias_missing" not in slips:
        a = a + b
    return a


class Values(NamedTuple):
    """What one step computes: the pre-activations, the gates and candidate as the code has them (``g`` is
    the recurrent candidate term h_{t-1} U_n + b_hn before the reset gate), and the new state ``h``."""

    a_z: np.ndarray
    a_r: np.ndarray
    a_n: np.ndarray
    z: np.ndarray
    r: np.ndarray
    n: np.ndarray
    g: np.ndarray
    h: np.ndarray


def values(x_t: np.ndarray, h: np.ndarray, p: GRUParams, reset_after: bool, slips: FrozenSet[str]) -> Values:
    """One step of the standard-interpolation GRU (float64, ``p`` already in standard form) with ``slips``,
    with what it computes on the way (a backward pass recomputing the forward uses these)."""
    (Wz, Uz), bz = _weights(p, "z", "update_gate", slips), p.b_z
    (Wr, Ur), br = _weights(p, "r", "reset_gate", slips), p.b_r
    if "gates_swapped" in slips:
        Wz, Uz, bz, Wr, Ur, br = Wr, Ur, br, Wz, Uz, bz
    a_z = _pre(x_t, h, Wz, Uz, bz, slips, "update_gate")
    a_r = _pre(x_t, h, Wr, Ur, br, slips, "reset_gate")
    z = _activation(slips, "update_gate", _sigmoid)(a_z)
    r = _activation(slips, "reset_gate", _sigmoid)(a_r)
    if "update_gate_negated" in slips:
        z = -z
    if "reset_gate_negated" in slips:
        r = -r
    r_n = np.ones_like(h) if "reset_gate_ignored" in slips else r  # r as it enters the candidate
    W_n, U_n = _weights(p, "n", "candidate", slips)
    a = np.zeros(h.shape) if "candidate_input_missing" in slips else x_t @ W_n
    if "candidate_input_negated" in slips:
        a = -a
    if "candidate_bias_negated" in slips:
        a = a - p.b_n
    elif "candidate_bias_missing" not in slips:
        a = a + p.b_n
    b_hn = (np.zeros_like(p.b_hn) if "b_hn_ignored" in slips else -p.b_hn if "b_hn_negated" in slips
            else p.b_hn)
    U_n = U_n.T if "candidate_recurrent_transposed" in slips else U_n
    after = (not reset_after) if "wrong_reset_convention" in slips else reset_after
    sign = -1.0 if "candidate_recurrent_negated" in slips else 1.0
    g = h @ U_n + b_hn
    if "candidate_recurrent_missing" in slips:
        a = a + b_hn
    elif "b_hn_outside_reset_gate" in slips:
        a = a + sign * r_n * (h @ U_n) + b_hn
    elif after:
        a = a + sign * r_n * g
    else:
        a = a + sign * (r_n * h) @ U_n + b_hn
    n = _candidate(a, slips)
    if "candidate_negated" in slips:
        n = -n
    return Values(a_z, a_r, a, z, r, n, g, _interpolation(z, r, h, n, slips))


def _interpolation(z: np.ndarray, r: np.ndarray, h: np.ndarray, n: np.ndarray, slips: FrozenSet[str]
                   ) -> np.ndarray:
    if "interpolation_uses_r" in slips:
        z = r
    if "reversed_interpolation" in slips:
        return (1 - z) * h + z * n
    if "update_gate_ignored" in slips:
        return n
    if "interpolation_candidate_missing" in slips:
        return z * h
    if "interpolation_one_minus_missing" in slips:
        return z * h + n
    if "interpolation_state_negated" in slips:
        return -z * h + (1 - z) * n
    if "interpolation_candidate_negated" in slips:
        return z * h - (1 - z) * n
    if "interpolation_state_uses_r" in slips:
        return r * h + (1 - z) * n
    if "interpolation_candidate_uses_r" in slips:
        return z * h + (1 - r) * n
    if "interpolation_candidate_uses_z" in slips:
        return z * h + z * n
    if "state_never_updated" in slips:
        return z * h + (1 - z) * h
    if "interpolation_terms_multiplied" in slips:
        return (z * h) * ((1 - z) * n)
    return z * h + (1 - z) * n


def cell(x_t: np.ndarray, h: np.ndarray, p: GRUParams, reset_after: bool, slips: FrozenSet[str]) -> np.ndarray:
    """One step of the standard-interpolation GRU (float64, ``p`` already in standard form) with ``slips``."""
    return values(x_t, h, p, reset_after, slips).h


def _candidate(a: np.ndarray, slips: FrozenSet[str]) -> np.ndarray:
    if "candidate_sigmoid" in slips:
        return _sigmoid(a)
    if "candidate_activation_missing" in slips:
        return a
    if "candidate_tanh_exp_ratio" in slips:
        return _exp_ratio_tanh(a)
    return np.tanh(a)


def forward(x: np.ndarray, h0: np.ndarray, params: GRUParams, conv: Convention,
            slips: Iterable[str] = ()) -> Tuple[np.ndarray, np.ndarray]:
    """(hs, h_T) of the GRU in ``conv`` with ``slips`` applied, in float64 (NaN where the slips make it)."""
    s = expand(slips)
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h0, dtype=np.float64)
    p = conv.standard_params(in_float64(params))
    if "initial_state_ignored" in s:
        h = np.zeros_like(h)
    if "time_reversed" in s:
        x = x[:, ::-1, :]
    elif "input_shifted" in s:
        x = np.roll(x, 1, axis=1)  # step t reads x[:, t - 1]; step 0 reads x[:, -1] (Python's wraparound)
    B, T, _ = x.shape
    hs = np.empty((B, T, p.H))
    h_T = h
    with np.errstate(all="ignore"):
        for t in range(T):
            v = values(x[:, t, :], h, p, conv.reset_after, s)
            h = v.h
            hs[:, t, :] = v.n if "states_are_candidates" in s else h
            h_T = v.n if "final_state_is_candidate" in s else h
    if "time_reversed_output" in s:
        hs = hs[:, ::-1, :]
    if "states_shifted" in s:
        hs = np.concatenate([np.asarray(h0, dtype=np.float64)[:, None, :], hs[:, :-1, :]], axis=1)
    if "time_major_output" in s:
        hs = np.ascontiguousarray(hs.transpose(1, 0, 2))
    return hs, h_T


def step(x_t: np.ndarray, h_prev: np.ndarray, params: GRUParams, conv: Convention,
         slips: Iterable[str] = ()) -> np.ndarray:
    """h_t of one step with ``slips`` (whole-sequence slips do not apply to a step)."""
    s = expand(slips) - SEQUENCE_SLIPS
    p = conv.standard_params(in_float64(params))
    with np.errstate(all="ignore"):
        return cell(np.asarray(x_t, dtype=np.float64), np.asarray(h_prev, dtype=np.float64), p,
                    conv.reset_after, s)


def applies(name: str, conv: Convention, step_form: bool) -> bool:
    """Whether a slip can exist for a function of ``conv`` (its model differs from the reference there)."""
    if step_form and name in SEQUENCE_SLIPS:
        return False
    if name == "b_hn_outside_reset_gate":
        return True
    return True


__all__ = ["COMBINATIONS", "COMBINED", "SLIPS", "SLIPS_LIST", "SEQUENCE_SLIPS", "Slip", "Values", "applies", "cell",
           "describe", "expand", "forward", "step", "values"]
