"""The chain rule of a GRU as sums of named terms, and the slips a hand-written backward pass makes in them.

For ``L = sum(hs * dhs) + sum(h_T * dh_T)``, step t, going back in time::

    dh      = dhs[:, t] + dh_next                    (dh_next = dL/dh_t carried from t+1; dh_T at T-1)
    dz      = dh * (h_{t-1} - n)                      dn = dh * (1 - z)
    da_n    = dn * (1 - n**2)
    reset before U_n:  drh = da_n U_n^T,  dr = drh * h_{t-1},  dU_n += (r * h_{t-1})^T da_n,  db_hn += sum(da_n)
    reset after U_n:   dr = da_n * (h_{t-1} U_n + b_hn),  dg = da_n * r,  dU_n += h_{t-1}^T dg,  db_hn += sum(dg)
    da_z    = dz * z (1 - z)                          da_r = dr * r (1 - r)
    dW_g   += x_t^T da_g,   dU_g += h_{t-1}^T da_g,   db_g += sum(da_g)          (g = z, r; W_n, b_n from da_n)
    dh_prev = dh * z  +  (drh * r  or  dg U_n^T)  +  da_z U_z^T  +  da_r U_r^T
    dx_t    = da_z W_z^T + da_r W_r^T + da_n W_n^T
    dh0     = dh_prev of step 0

A *slip* changes one term (missing, negated, scaled, transposed, taken from
the wrong quantity, added where it does not belong); ``backward(..., slips)``
is this BPTT with a set of slips applied: a model of a buggy backward that
can be run and compared with it. With no slip it is the reference (it agrees
with Level 1 to rounding). A backward pass usually computes its own forward
to cache the gates: every step slip of ``forward.terms`` is also a slip here,
``forward_<name>``, whose model evaluates the right chain rule at the values
of that wrong forward. The standard interpolation; a Chung-form function
is relabelled by the caller (z -> 1 - z, its z gradients negated).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

import numpy as np

from gru_props.core.params import _FIELDS, GRUParams
from gru_props.engine import explain
from gru_props.forward import terms as fterms


@dataclasses.dataclass(frozen=True)
class Slip:
    """One wrong term of the chain rule (see ``forward.terms.Slip``); ``conventions`` are the reset
    conventions in which it can exist, ``min_sizes`` the smallest (B, T, D, H) that can show it."""

    name: str
    site: str
    term: str
    how: str
    equation: str
    text: str
    hint: str
    conventions: Tuple[bool, ...] = (False, True)
    min_sizes: Tuple[int, int, int, int] = (1, 1, 0, 1)
    #: the only outputs (``dx``, ``dh0``, parameter names) the slip can change; empty: any of them
    outputs: Tuple[str, ...] = ()


E_DH = "dL/dh_t = dhs[:, t] + dL/dh_t carried back from step t+1 (dh_T at the last step)"
E_DZ = "dL/dz = dh * (h_{t-1} - n)"
E_DN = "dL/dn = dh * (1 - z)"
E_TANH = "dL/da_n = dL/dn * (1 - n**2), n = tanh(a_n)"
E_SIG = "dL/da_z = dL/dz * z (1 - z), dL/da_r = dL/dr * r (1 - r)"
E_DR = "reset before U_n: dL/dr = (da_n U_n^T) * h_{t-1}; reset after: dL/dr = da_n * (h_{t-1} U_n + b_hn)"
E_PREV = "dL/dh_{t-1} = dh * z + (path through n) + da_z U_z^T + da_r U_r^T"
E_DX = "dL/dx_t = da_z W_z^T + da_r W_r^T + da_n W_n^T"
E_PARAM = "dL/dW = sum over t of x_t^T da_t; dL/dU = sum over t of h_{t-1}^T da_t; dL/db = sum over t, b of da_t"
E_DH0 = "dL/dh0 = dL/dh_{-1}, the dh_prev of step 0"
E_LOSS = "L = sum(hs * dhs) + sum(h_T * dh_T): a sum over the batch"

_GATE_LABEL = {"z": "update gate z", "r": "reset gate r", "n": "candidate n"}

SLIPS_LIST: Tuple[Slip, ...] = (
    Slip("truncated_bptt", "dh.next", "dL/dh_t carried from step t+1", "missing", E_DH,
         "the gradient reaching h_t from later steps is dropped: each step uses only its own dhs[:, t], so "
         "nothing flows back in time, not even dh_T", "what your dh of step t consists of",
         min_sizes=(1, 1, 0, 1)),
    Slip("dh_from_dhs_missing", "dh.dhs", "dhs[:, t]", "missing", E_DH,
         "each step's own dL/dhs[:, t] is left out of dh: only dh_T and what is carried back reach the cell",
         "what your dh of step t consists of"),
    Slip("dz_sign_flipped", "dz", "dh * (h_{t-1} - n)", "negated", E_DZ,
         "dL/dz is computed as dh * (n - h_prev); with h_t = z h_prev + (1 - z) n it is dh * (h_prev - n) "
         "(the sign of the other, Chung-form interpolation)", "the sign of your dz"),
    Slip("dz_missing_candidate_term", "dz", "- dh * n", "missing", E_DZ,
         "dL/dz is dh * h_prev: the term -dh * n from (1 - z) * n is missing (it went to the (1 - z) node)",
         "your dz: both z * h_prev and (1 - z) * n depend on z"),
    Slip("dz_missing_state_term", "dz", "dh * h_{t-1}", "missing", E_DZ,
         "dL/dz is -dh * n: the term dh * h_prev from z * h_prev is missing", "your dz"),
    Slip("dn_uses_z", "dn", "dh * (1 - z)", "wrong quantity", E_DN,
         "dL/dn is dh * z instead of dh * (1 - z)", "your dn"),
    Slip("dn_product_rule_swapped", "dn", "dh * (1 - z)", "wrong quantity", E_DN,
         "dL/dn is dh * n, the candidate's own value, instead of dh * (1 - z): the product rule is swapped "
         "at (1 - z) * n", "the product (1 - z) * n in your backward"),
    Slip("tanh_derivative_wrong", "tanh'", "1 - n**2", "wrong quantity", E_TANH,
         "the candidate's tanh derivative is taken of the pre-activation, 1 - a_n**2, instead of 1 - n**2 "
         "with n = tanh(a_n)", "which quantity your tanh derivative squares"),
    Slip("tanh_derivative_missing_square", "tanh'", "1 - n**2", "wrong quantity", E_TANH,
         "the candidate's tanh derivative is written 1 - n instead of 1 - n**2", "your tanh derivative"),
    Slip("tanh_derivative_missing", "tanh'", "1 - n**2", "missing", E_TANH,
         "the candidate's tanh derivative is left out: dL/dn is used as dL/da_n", "between your dn and da_n"),
    Slip("tanh_applied_twice", "tanh'", "1 - n**2", "wrong quantity", E_TANH,
         "the tanh derivative is 1 - tanh(n)**2, with n already tanh(a_n): tanh is applied twice",
         "your tanh derivative takes tanh of n, which already is one"),
    Slip("update_gate_sigmoid_derivative_wrong", "sigma'_z", "z (1 - z)", "wrong quantity", E_SIG,
         "the update gate's sigmoid derivative is taken of the pre-activation, a_z (1 - a_z), instead of "
         "z (1 - z)", "your da_z"),
    Slip("update_gate_sigmoid_derivative_missing", "sigma'_z", "z (1 - z)", "missing", E_SIG,
         "the update gate's sigmoid derivative is left out: dL/dz is used as dL/da_z", "between your dz and da_z"),
    Slip("reset_gate_sigmoid_derivative_wrong", "sigma'_r", "r (1 - r)", "wrong quantity", E_SIG,
         "the reset gate's sigmoid derivative is taken of the pre-activation, a_r (1 - a_r), instead of "
         "r (1 - r)", "your da_r"),
    Slip("reset_gate_sigmoid_derivative_missing", "sigma'_r", "r (1 - r)", "missing", E_SIG,
         "the reset gate's sigmoid derivative is left out: dL/dr is used as dL/da_r", "between your dr and da_r"),
    Slip("reset_gate_gradient_is_forward_value", "sigma'_r", "dL/da_r", "wrong quantity", E_SIG,
         "the reset gate's pre-activation a_r, a forward value, is propagated in place of its gradient da_r "
         "(into W_r, U_r, b_r, dx and dh_prev)", "what your backward uses as da_r"),
    Slip("reset_convention_mixed", "dr", "the chain rule of r", "wrong quantity", E_DR,
         "the backward follows the other reset convention than the forward: it differentiates (r * h_prev) U_n "
         "where the forward computes r * (h_prev U_n + b_hn), or the reverse", "where r sits in your backward"),
    Slip("dr_missing_U_n", "dr", "(da_n U_n^T) * h_{t-1}", "missing", E_DR,
         "dL/dr is da_n * h_prev: the product with U_n^T is missing", "your dr", conventions=(False,)),
    Slip("reset_product_rule_swapped", "dr", "(da_n U_n^T) * h_{t-1}", "wrong quantity", E_DR,
         "the product rule is swapped at r * h_prev: dL/dr is (da_n U_n^T) * r and the path to h_prev uses "
         "h_prev instead of r", "the product r * h_prev in your backward", conventions=(False,)),
    Slip("b_hn_not_gated", "db_hn", "sum(da_n * r)", "wrong quantity", E_PARAM,
         "db_hn is computed as sum(da_n), as if b_hn were outside the reset gate; with reset_after=True it is "
         "inside, r * (h_prev U_n + b_hn)", "your db_hn", conventions=(True,), outputs=("b_hn",)),
    Slip("dh_prev_missing_z_path", "prev.z", "dh * z", "missing", E_PREV,
         "dL/dh_prev gets only the paths through the gates and the candidate: the direct path z * dh of the "
         "interpolation is missing", "the term z * dh in your dh_prev"),
    Slip("dh_prev_missing_candidate_path", "prev.n", "the path through n", "missing", E_PREV,
         "dL/dh_prev misses the path through the candidate (drh * r, or dg U_n^T after the reset gate)",
         "the candidate's term in your dh_prev"),
    Slip("dh_prev_missing_update_gate_path", "prev.uz", "da_z U_z^T", "missing", E_PREV,
         "dL/dh_prev misses the path through the update gate, da_z U_z^T", "the da_z @ U_z.T in your dh_prev"),
    Slip("dh_prev_missing_reset_gate_path", "prev.ur", "da_r U_r^T", "missing", E_PREV,
         "dL/dh_prev misses the path through the reset gate, da_r U_r^T", "the da_r @ U_r.T in your dh_prev"),
    Slip("dx_missing_z_path", "dx.z", "da_z W_z^T", "missing", E_DX,
         "dL/dx leaves out the update gate's path da_z W_z^T", "your dx_t", min_sizes=(1, 1, 1, 1),
         outputs=("dx",)),
    Slip("dx_missing_r_path", "dx.r", "da_r W_r^T", "missing", E_DX,
         "dL/dx leaves out the reset gate's path: dx = da_z W_z^T + da_n W_n^T", "your dx_t",
         min_sizes=(1, 1, 1, 1), outputs=("dx",)),
    Slip("dx_missing_n_path", "dx.n", "da_n W_n^T", "missing", E_DX,
         "dL/dx leaves out the candidate's path da_n W_n^T", "your dx_t", min_sizes=(1, 1, 1, 1),
         outputs=("dx",)),
    Slip("dx_missing", "dx", "dL/dx", "missing", E_DX,
         "dL/dx is not returned: zeros come back (it is computed into an array that is never stored)",
         "where your dx ends up", min_sizes=(1, 1, 1, 1), outputs=("dx",)),
    Slip("dU_transposed", "dU", "h_{t-1}^T da", "transposed", E_PARAM,
         "the recurrent weight gradients are transposed: dU = da^T h_prev instead of h_prev^T da (the shapes "
         "agree because U is square)", "the order of the product in your dU", min_sizes=(1, 1, 0, 2),
         outputs=("U_z", "U_r", "U_n")),
    Slip("grads_not_accumulated", "accumulate", "sum over t", "missing", E_PARAM,
         "parameter gradients are assigned at each step (dW = ...) instead of accumulated (dW += ...): only "
         "the contribution of the last step visited, t = 0, survives", "the = where your dW needs +=",
         min_sizes=(1, 2, 0, 1), outputs=_FIELDS),
    Slip("grads_averaged_over_batch", "batch", "the sum over the batch", "scaled", E_LOSS,
         "the parameter gradients are divided by the batch size B, while the loss is a sum over the batch",
         "a division by B in your backward", min_sizes=(2, 1, 0, 1), outputs=_FIELDS),
    Slip("h_prev_wraparound", "h0.wrap", "h_{-1} = h0", "wrong quantity", E_DH0,
         "at t = 0 the backward uses hs[t - 1] = hs[-1], the last state, as h_prev instead of h0 (what the "
         "forward cached, r * h_prev, stays right)", "your h_prev at the first step"),
    Slip("h_prev_zero_at_start", "h0.wrap", "h_{-1} = h0", "missing", E_DH0,
         "at t = 0 the backward takes h_prev as zeros instead of h0 (in dz, dr and the weight gradients; what "
         "the forward cached, r * h_prev, stays right)", "your h_prev at the first step"),
    Slip("dh0_missing", "dh0", "dL/dh0", "missing", E_DH0,
         "dL/dh0 is returned as zeros, not the gradient carried back to the initial state",
         "what your backward returns as dh0", min_sizes=(1, 0, 0, 1), outputs=("dh0",)),
    Slip("dh0_is_first_state_gradient", "dh0", "dL/dh0", "wrong quantity", E_DH0,
         "dL/dh0 is returned as dL/dh_0, the gradient at the state after the first step (dhs[:, 0] plus what "
         "is carried back to it), instead of the dh_prev of step 0", "which variable your backward returns as dh0",
         outputs=("dh0",)),
    Slip("backward_loop_forward_in_time", "order", "t = T-1 .. 0", "wrong quantity", E_DH,
         "the backward loop visits t = 0 .. T-1 instead of T-1 .. 0: the gradient carried from one step goes to "
         "the next one in time instead of the previous one (dh_T reaches step 0)",
         "the order of the loop over time in your backward", min_sizes=(1, 2, 0, 1)),
    Slip("dn_uses_r", "dn", "dh * (1 - z)", "wrong quantity", E_DN,
         "dL/dn is dh * (1 - r), with the reset gate, instead of dh * (1 - z)", "which gate your dn uses"),
    Slip("dz_missing", "dz", "dh * (h_{t-1} - n)", "missing", E_DZ,
         "dL/dz is zero: nothing of dh * (h_prev - n) survives (both terms missing, or n written h_prev there), "
         "so the update gate's parameters get no gradient", "your dz"),
    Slip("update_gate_sigmoid_derivative_missing_one_minus", "sigma'_z", "z (1 - z)", "wrong quantity", E_SIG,
         "the update gate's sigmoid derivative is written z instead of z (1 - z): the factor (1 - z) is missing",
         "your da_z"),
    Slip("reset_gate_sigmoid_derivative_missing_one_minus", "sigma'_r", "r (1 - r)", "wrong quantity", E_SIG,
         "the reset gate's sigmoid derivative is written r instead of r (1 - r): the factor (1 - r) is missing",
         "your da_r"),
)
# A gate's parameter gradient accumulated from the other gate's pre-activation gradient (z and r confused).
_OTHER_GATE = {"z": "r", "r": "z"}
SLIPS_LIST += tuple(
    Slip(f"{kind}_{g}_gradient_from_{o}", f"from.{kind}_{g}", f"d{kind}_{g}", "wrong quantity", E_PARAM,
         f"d{kind}_{g} is accumulated from da_{o}, the {_GATE_LABEL[o]}'s pre-activation gradient, instead of "
         f"da_{g}", f"which gradient your d{kind}_{g} is accumulated from",
         outputs=(f"{kind}_{g}",))
    for g, o in _OTHER_GATE.items() for kind in ("W", "U", "b")
)
# Per-parameter accumulation: one parameter's gradient assigned instead of accumulated.
SLIPS_LIST += tuple(
    Slip(f"{field}_not_accumulated", f"accumulate.{field}", f"the sum over t of d{field}", "missing", E_PARAM,
         f"d{field} is assigned at each step instead of accumulated: only the contribution of t = 0 survives",
         f"the = where your d{field} needs +=", min_sizes=(1, 2, 0, 1), outputs=(field,))
    for field in _FIELDS
)

# Per-parameter sign: one gradient accumulated with -= (or returned negated).
SLIPS_LIST += tuple(
    Slip(f"{field}_gradient_negated", f"sign.{field}", f"d{field}", "negated", E_PARAM,
         f"d{field} has the wrong sign: accumulated with -= (or returned negated)",
         f"the sign where your d{field} is accumulated", outputs=(field,))
    for field in _FIELDS
)

#: The recomputed forward: a backward pass that computes its own forward (to cache the gates) can have any slip
#: of a step of ``forward.terms`` there, or read x or h0 wrongly; its chain rule is then the correct GRU's,
#: evaluated at the values that forward computes (every cached value, x_t included). Not here: the slips of
#: what a forward returns (a backward returns no states), NaN-only ones, and the two conventions' slips (a
#: forward of the other convention is ``reset_convention_mixed``, or the Chung relabelling).
FORWARD_PREFIX = "forward_"
_NOT_RECOMPUTED = frozenset({"time_reversed", "time_reversed_output", "states_shifted", "time_major_output",
                             "states_are_candidates", "final_state_is_candidate", "wrong_reset_convention",
                             "reversed_interpolation", "update_gate_sigmoid_exp_ratio",
                             "reset_gate_sigmoid_exp_ratio", "candidate_tanh_exp_ratio"})
E_FWD = "the backward's chain rule is evaluated at the values of the forward it computes"
SLIPS_LIST += tuple(
    Slip(f"{FORWARD_PREFIX}{f.name}", f"fwd.{f.site}", f.term, f.how, f"{f.equation} ({E_FWD})",
         f"the forward pass the backward computes for itself has a slip: {f.text}; the chain rule is the "
         "correct GRU's, evaluated at the values that wrong forward computes",
         f"the forward pass inside your backward: {f.hint}",
         min_sizes=(1, 2, 0, 1) if f.name == "input_shifted" else (1, 1, 0, 1))
    for f in fterms.SLIPS_LIST if f.name not in _NOT_RECOMPUTED
)

SLIPS: Dict[str, Slip] = {s.name: s for s in SLIPS_LIST}
#: Named combinations of single slips (the catalogue's names for bugs that come together).
COMBINATIONS: Dict[str, FrozenSet[str]] = {
    "sigmoid_derivative_wrong": frozenset({"update_gate_sigmoid_derivative_wrong",
                                           "reset_gate_sigmoid_derivative_wrong"}),
    "sigmoid_derivative_missing": frozenset({"update_gate_sigmoid_derivative_missing",
                                             "reset_gate_sigmoid_derivative_missing"}),
    "sigmoid_derivative_missing_one_minus": frozenset({"update_gate_sigmoid_derivative_missing_one_minus",
                                                       "reset_gate_sigmoid_derivative_missing_one_minus"}),
}
# One sigmoid written once and used by both gates, in the recomputed forward.
COMBINATIONS.update({
    f"{FORWARD_PREFIX}{name}": frozenset(f"{FORWARD_PREFIX}{n}" for n in parts)
    for name, parts in fterms.COMBINATIONS.items()
    if all(f"{FORWARD_PREFIX}{n}" in SLIPS for n in parts)
})
#: The words of the named combinations of the recomputed forward (the others are ``bugs.GRAD_BUGS``).
COMBINED: Dict[str, Slip] = {
    f"{FORWARD_PREFIX}{name}": Slip(
        f"{FORWARD_PREFIX}{name}", f"fwd.{c.site}", c.term, c.how, f"{c.equation} ({E_FWD})",
        f"the forward pass the backward computes for itself has a slip: {c.text}; the chain rule is the correct "
        "GRU's, evaluated at the values that wrong forward computes", f"the forward pass inside your backward: "
        f"{c.hint}")
    for name, c in fterms.COMBINED.items() if f"{FORWARD_PREFIX}{name}" in COMBINATIONS
}
COMBINED["sigmoid_derivative_missing_one_minus"] = Slip(
    "sigmoid_derivative_missing_one_minus", "sigma'", "z (1 - z) and r (1 - r)", "wrong quantity", E_SIG,
    "the gates' sigmoid derivative is written s instead of s (1 - s): the factor (1 - s) is missing",
    "your sigmoid derivative")


def describe(name: str) -> Optional[Slip]:
    """The term-level words of a catalogue name: a single slip or a named combination (None otherwise)."""
    return SLIPS.get(name) or COMBINED.get(name)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5


def expand(slips: Iterable[str]) -> FrozenSet[str]:
    """Named combinations replaced by their single slips."""
    return explain.expand(slips, COMBINATIONS)


def backward(x: np.ndarray, h0: Optional[np.ndarray], p: GRUParams, dhs: Optional[np.ndarray],
             dh_T: Optional[np.ndarray], reset_after: bool, slips: Iterable[str] = ()
             ) -> Tuple[np.ndarray, np.ndarray, GRUParams]:
    """(dx, dh0, grads) of the standard-interpolation GRU in float64 with ``slips`` (h0, dhs, dh_T None: 0)."""
    s = expand(slips)
    x = np.asarray(x, dtype=np.float64)
    p = p.astype(np.float64)
    B, T, D = x.shape
    H = p.H
    h0 = np.zeros((B, H)) if h0 is None else np.asarray(h0, dtype=np.float64)
    dhs = np.zeros((B, T, H)) if dhs is None else np.asarray(dhs, dtype=np.float64)
    dh_T = np.zeros((B, H)) if dh_T is None else np.asarray(dh_T, dtype=np.float64)
    chain_after = (not reset_after) if "reset_convention_mixed" in s else reset_after

    fwd = frozenset(n[len(FORWARD_PREFIX):] for n in s if n.startswith(FORWARD_PREFIX))
    if "input_shifted" in fwd:  # the forward reads x[:, t - 1] at step t, and the backward uses what it read
        x = np.roll(x, 1, axis=1)
    step_slips = fwd - fterms.SEQUENCE_SLIPS

    keep = []
    h = np.zeros_like(h0) if "initial_state_ignored" in fwd else h0
    with np.errstate(all="ignore"):
        for t in range(T):
            if step_slips:
                v = fterms.values(x[:, t, :], h, p, reset_after, step_slips)
                keep.append((h, v.a_z, v.a_r, v.a_n, v.z, v.r, v.n, v.g))
                h = v.h
                continue
            x_t = x[:, t, :]
            a_z = x_t @ p.W_z + h @ p.U_z + p.b_z
            a_r = x_t @ p.W_r + h @ p.U_r + p.b_r
            z, r = _sigmoid(a_z), _sigmoid(a_r)
            g = h @ p.U_n + p.b_hn
            a_n = x_t @ p.W_n + p.b_n + r * g if reset_after else x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn
            n = np.tanh(a_n)
            keep.append((h, a_z, a_r, a_n, z, r, n, g))
            h = z * h + (1 - z) * n
    h_T = h
    grads = {name: np.zeros_like(a) for name, a in p.arrays().items()}
    assign_all = "grads_not_accumulated" in s

    def put(name: str, value: np.ndarray) -> None:
        if assign_all or f"{name}_not_accumulated" in s:
            grads[name] = value  # dW = ...: the last step visited (t = 0) survives
        else:
            grads[name] = grads[name] + value

    def outer(a: np.ndarray, da: np.ndarray) -> np.ndarray:
        return da.T @ a if "dU_transposed" in s else a.T @ da

    dx = np.zeros((B, T, D))
    dh_next = dh_T.copy()
    dh_first = dh_next
    order = range(T) if "backward_loop_forward_in_time" in s else reversed(range(T))
    with np.errstate(all="ignore"):
        for t in order:
            h_prev, a_z, a_r, a_n, z, r, n, g = keep[t]
            rh = r * h_prev  # what the forward computed (and caches): right whatever h_prev the backward uses
            if t == 0 and "h_prev_wraparound" in s:
                h_prev = h_T  # hs[t - 1] with t = 0 is hs[-1]; the cached gates stay right
            if t == 0 and "h_prev_zero_at_start" in s:
                h_prev = np.zeros_like(h_prev)
            x_t = x[:, t, :]
            own = np.zeros_like(dh_next) if "dh_from_dhs_missing" in s else dhs[:, t, :]
            dh = own if "truncated_bptt" in s else own + dh_next
            if t == 0:
                dh_first = dh
            if "dz_missing" in s:
                dz = np.zeros_like(dh)
            elif "dz_missing_candidate_term" in s:
                dz = dh * h_prev
            elif "dz_missing_state_term" in s:
                dz = -dh * n
            else:
                dz = dh * (h_prev - n)
            if "dz_sign_flipped" in s:
                dz = -dz
            if "dn_uses_z" in s:
                dn = dh * z
            elif "dn_product_rule_swapped" in s:
                dn = dh * n
            elif "dn_uses_r" in s:
                dn = dh * (1 - r)
            else:
                dn = dh * (1 - z)
            dh_prev = np.zeros_like(dh) if "dh_prev_missing_z_path" in s else dh * z
            if "tanh_derivative_wrong" in s:
                da_n = dn * (1 - a_n ** 2)
            elif "tanh_derivative_missing_square" in s:
                da_n = dn * (1 - n)
            elif "tanh_derivative_missing" in s:
                da_n = dn
            elif "tanh_applied_twice" in s:
                da_n = dn * (1 - np.tanh(n) ** 2)
            else:
                da_n = dn * (1 - n ** 2)
            if chain_after:
                dr = da_n * g
                dg = da_n * r
                put("U_n", outer(h_prev, dg))
                put("b_hn", da_n.sum(axis=0) if "b_hn_not_gated" in s else dg.sum(axis=0))
                through_n = dg @ p.U_n.T
            else:
                drh = da_n @ p.U_n.T
                if "dr_missing_U_n" in s:
                    dr = da_n * h_prev
                elif "reset_product_rule_swapped" in s:
                    dr = drh * r
                else:
                    dr = drh * h_prev
                through_n = drh * (h_prev if "reset_product_rule_swapped" in s else r)
                put("U_n", outer(rh, da_n))
                put("b_hn", da_n.sum(axis=0))
            if "dh_prev_missing_candidate_path" not in s:
                dh_prev = dh_prev + through_n
            put("W_n", x_t.T @ da_n)
            put("b_n", da_n.sum(axis=0))
            if "update_gate_sigmoid_derivative_wrong" in s:
                da_z = dz * a_z * (1 - a_z)
            elif "update_gate_sigmoid_derivative_missing" in s:
                da_z = dz
            elif "update_gate_sigmoid_derivative_missing_one_minus" in s:
                da_z = dz * z
            else:
                da_z = dz * z * (1 - z)
            if "reset_gate_sigmoid_derivative_wrong" in s:
                da_r = dr * a_r * (1 - a_r)
            elif "reset_gate_sigmoid_derivative_missing" in s:
                da_r = dr
            elif "reset_gate_sigmoid_derivative_missing_one_minus" in s:
                da_r = dr * r
            elif "reset_gate_gradient_is_forward_value" in s:
                da_r = a_r
            else:
                da_r = dr * r * (1 - r)
            da = {"z": da_z, "r": da_r}
            put("W_z", x_t.T @ _of(da, "W_z", "z", s))
            put("W_r", x_t.T @ _of(da, "W_r", "r", s))
            put("U_z", outer(h_prev, _of(da, "U_z", "z", s)))
            put("U_r", outer(h_prev, _of(da, "U_r", "r", s)))
            put("b_z", _of(da, "b_z", "z", s).sum(axis=0))
            put("b_r", _of(da, "b_r", "r", s).sum(axis=0))
            if "dh_prev_missing_update_gate_path" not in s:
                dh_prev = dh_prev + da_z @ p.U_z.T
            if "dh_prev_missing_reset_gate_path" not in s:
                dh_prev = dh_prev + da_r @ p.U_r.T
            dx_t = np.zeros((B, D))
            if "dx_missing_z_path" not in s:
                dx_t = dx_t + da_z @ p.W_z.T
            if "dx_missing_r_path" not in s:
                dx_t = dx_t + da_r @ p.W_r.T
            if "dx_missing_n_path" not in s:
                dx_t = dx_t + da_n @ p.W_n.T
            dx[:, t, :] = 0.0 if "dx_missing" in s else dx_t
            dh_next = dh_prev
    if "grads_averaged_over_batch" in s and B:
        grads = {k: v / B for k, v in grads.items()}
    grads = {k: -v if f"{k}_gradient_negated" in s else v for k, v in grads.items()}
    dh0 = np.zeros((B, H)) if "dh0_missing" in s else dh_first if "dh0_is_first_state_gradient" in s else dh_next
    return dx, dh0, GRUParams(**grads)


def _of(da: Dict[str, np.ndarray], name: str, gate: str, s: FrozenSet[str]) -> np.ndarray:
    """The pre-activation gradient parameter ``name`` of ``gate`` is accumulated from (the other gate's with a
    ``*_gradient_from_*`` slip)."""
    other = _OTHER_GATE[gate]
    return da[other] if f"{name}_gradient_from_{other}" in s else da[gate]


def applies(name: str, reset_after: bool) -> bool:
    """Whether a slip can exist in ``reset_after``'s convention (elsewhere its model is the reference)."""
    slip = SLIPS.get(name)
    if slip is not None:
        return reset_after in slip.conventions
    return all(applies(n, reset_after) for n in COMBINATIONS.get(name, ()))


__all__ = ["COMBINATIONS", "COMBINED", "FORWARD_PREFIX", "SLIPS", "SLIPS_LIST", "Slip", "applies", "backward",
           "describe", "expand"]
