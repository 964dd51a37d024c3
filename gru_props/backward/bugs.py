"""Known backward-pass bugs: a catalog of deliberately broken GRU backward passes.

The gradient counterpart of ``gru_props.forward.bugs``: the hand-written words of the backward bugs
people meet most. A bug's model is a slip of ``backward.terms`` (the chain rule as named terms);
``backward.diagnosis`` finds the combination of slips that reproduces a learner's gradients, and
``bug(name)`` gives the words of any catalogue name. Each ``GradBug`` carries:

* ``summary``: one sentence saying what the learner's code does;
* ``hints``: a nudge, the line of math that is wrong, then the fix;
* ``conventions``: the reset conventions in which the bug can exist (in the
  other one its broken backward is the reference);
* ``min_sizes``: the smallest (B, T, D, H) at which it can show, with a loss
  on every step and on the final state (random dhs and a nonzero dh_T);
  below any of these sizes its gradients equal the reference's exactly, so a
  shrinker must not go below them and a report must not claim a smaller case;
* ``min_sizes_no_dh_T``: the same with dh_T = 0 (a loss on hs only).

The loss is ``L = sum(hs * dhs) + sum(h_T * dh_T)``; the standard
interpolation ``h_t = z h_{t-1} + (1 - z) n_t`` (a Chung-form learner is
relabelled by the caller).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from gru_props.backward import terms
from gru_props.core.params import _FIELDS, GRUParams
from gru_props.engine.model import Bug

# A backward pass: (x, h0, params, dhs, dh_T, reset_after) -> (dx, dh0, grads), float64.
Backward = Callable[
    [np.ndarray, np.ndarray, GRUParams, np.ndarray, np.ndarray, bool],
    Tuple[np.ndarray, np.ndarray, GRUParams],
]


class Sizes(NamedTuple):
    """Batch B, time steps T, input features D, hidden units H."""

    B: int
    T: int
    D: int
    H: int


#: The smallest sizes a case can have (B = 0 and H = 0 carry no gradient).
SMALLEST = Sizes(B=1, T=0, D=0, H=1)


@dataclasses.dataclass(frozen=True)
class GradBug(Bug):
    """A catalogued backward bug: ``backward`` is the broken BPTT."""

    backward: Backward
    conventions: Tuple[bool, ...] = (False, True)
    min_sizes: Sizes = Sizes(B=1, T=1, D=0, H=1)
    min_sizes_no_dh_T: Optional[Sizes] = None  # None: the same as min_sizes

    def applies(self, reset_after: bool) -> bool:
        """Whether this bug can exist in the given reset convention."""
        return bool(reset_after) in self.conventions

    def can_show(self, B: int, T: int, D: int, H: int, *, dh_T: bool = True) -> bool:
        """Whether a case of these sizes can reveal the bug; ``dh_T=False``
        for a case whose dL/dh_T is zero."""
        least = self.min_sizes if dh_T or self.min_sizes_no_dh_T is None else self.min_sizes_no_dh_T
        return B >= least.B and T >= least.T and D >= least.D and H >= least.H


def reference_backward(
    x: np.ndarray, h0: np.ndarray, p: GRUParams, dhs: np.ndarray, dh_T: np.ndarray, reset_after: bool
) -> Tuple[np.ndarray, np.ndarray, GRUParams]:
    """Level 1 in float64 on any inputs: the yardstick every broken backward is measured against."""
    from gru_props.tiers import level1

    f64 = [None if a is None else np.asarray(a, dtype=np.float64) for a in (x, h0, dhs, dh_T)]
    with np.errstate(all="ignore"):
        return level1.gru_backward(f64[0], f64[1], p.astype(np.float64), f64[2], f64[3], reset_after)


def _slipped(name: str) -> Backward:
    """The broken backward of a catalogue name: the chain rule of ``backward.terms`` with that slip."""
    def backward(x: Any, h0: Any, p: GRUParams, dhs: Any, dh_T: Any, reset_after: bool) -> Any:
        return terms.backward(x, h0, p, dhs, dh_T, reset_after, (name,))

    return backward


_INTERP = "h_t = z * h_prev + (1 - z) * n"

GRAD_BUGS: Dict[str, GradBug] = {
    b.name: b
    for b in [
        GradBug(
            "dh_prev_missing_z_path",
            "dL/dh_prev gets only the paths through the gates and the candidate: the direct "
            "path z * dh of the interpolation is missing.",
            (
                "h_prev reaches h_t in more than one way; count the paths in your dh_prev.",
                f"{_INTERP}, so dh_prev = dh * z + (paths through z, r and n).",
                "Start dh_prev from dh * z and add the gate and candidate terms to it.",
            ),
            _slipped("dh_prev_missing_z_path"),
        ),
        GradBug(
            "truncated_bptt",
            "the gradient reaching h_t from later steps is dropped: each step uses only its own "
            "dL/dh_t (dhs[:, t]), so nothing flows back in time, not even dL/dh_T.",
            (
                "What does the dh of step t consist of? Only this step's loss?",
                "dL/dh_t = dhs[:, t] + dL/dh_t carried back from step t+1 (at t = T-1: dh_T).",
                "Keep dh_next = dh_T before the loop, use dh = dhs[:, t] + dh_next, and set "
                "dh_next = dh_prev at the end of each step.",
            ),
            _slipped("truncated_bptt"),
            min_sizes_no_dh_T=Sizes(B=1, T=2, D=0, H=1),
        ),
        GradBug(
            "grads_not_accumulated",
            "parameter gradients are assigned at each step (dW = ...) instead of accumulated "
            "(dW += ...): only the contribution of the last step visited, t = 0, survives.",
            (
                "The same weights are used at every time step; how many steps contribute to dW?",
                "dL/dW = sum over t of x_t^T da_t (and likewise for U and b).",
                "Initialise every parameter gradient to zeros before the loop and use += inside it.",
            ),
            _slipped("grads_not_accumulated"),
            min_sizes=Sizes(B=1, T=2, D=0, H=1),
        ),
        GradBug(
            "dz_sign_flipped",
            "dL/dz is computed as dh * (n - h_prev); with h_t = z * h_prev + (1 - z) * n it is "
            "dh * (h_prev - n) (the sign belongs to the other, Chung-form interpolation).",
            (
                "Check the sign of the update gate's gradient.",
                f"{_INTERP}, so dL/dz = dh * (h_prev - n).",
                "Use dz = dh * (h_prev - n); or, if your forward is (1 - z) * h_prev + z * n, check "
                "it with interpolation='chung'.",
            ),
            _slipped("dz_sign_flipped"),
        ),
        GradBug(
            "tanh_derivative_wrong",
            "the candidate's tanh derivative is taken of the pre-activation, 1 - a_n**2, instead "
            "of 1 - n**2 with n = tanh(a_n) (for 1 - n see tanh_derivative_missing_square).",
            (
                "Which quantity does your tanh derivative square?",
                "n = tanh(a_n), so dn/da_n = 1 - tanh(a_n)**2 = 1 - n**2.",
                "Use da_n = dn * (1 - n**2) with the stored candidate n, not its pre-activation.",
            ),
            _slipped("tanh_derivative_wrong"),
        ),
        GradBug(
            "tanh_derivative_missing_square",
            "the candidate's tanh derivative is written 1 - n instead of 1 - n**2.",
            (
                "Write out the derivative of tanh once more.",
                "dn/da_n = 1 - n**2 with n = tanh(a_n).",
                "Use da_n = dn * (1 - n**2) (or (1 - n) * (1 + n)).",
            ),
            _slipped("tanh_derivative_missing_square"),
        ),
        GradBug(
            "sigmoid_derivative_wrong",
            "the gates' sigmoid derivative is taken of the pre-activation, a * (1 - a), instead "
            "of s * (1 - s) with s = sigmoid(a).",
            (
                "Which quantity goes into your sigmoid derivative?",
                "z = sigmoid(a_z), so dz/da_z = z * (1 - z); the same for r.",
                "Use da_z = dz * z * (1 - z) and da_r = dr * r * (1 - r) with the stored gate values.",
            ),
            _slipped("sigmoid_derivative_wrong"),
        ),
        GradBug(
            "sigmoid_derivative_missing",
            "the gates' sigmoid derivative is left out: dL/dz and dL/dr are used as the "
            "gradients of the pre-activations.",
            (
                "Between dL/dz and dL/dW_z, which derivative did you skip?",
                "da_z = dz * z * (1 - z) and da_r = dr * r * (1 - r); then dW_z = x^T da_z.",
                "Multiply dz and dr by the sigmoid derivative before using them for W, U, b, x, h_prev.",
            ),
            _slipped("sigmoid_derivative_missing"),
        ),
        GradBug(
            "reset_convention_mixed",
            "the backward follows the other reset convention than the forward: it differentiates "
            "(r * h_prev) U_n where the forward computes r * (h_prev U_n + b_hn), or the reverse.",
            (
                "Is the reset gate applied before or after U_n in your forward? And in your backward?",
                "reset_after=False: a_n = x W_n + (r * h_prev) U_n + b_n + b_hn; reset_after=True: "
                "a_n = x W_n + b_n + r * (h_prev U_n + b_hn).",
                "reset_after=True: dr = da_n * (h_prev U_n + b_hn), dg = da_n * r, dU_n = h_prev^T dg, "
                "db_hn = sum(dg), dh_prev += dg U_n^T. reset_after=False: drh = da_n U_n^T, "
                "dr = drh * h_prev, dh_prev += drh * r, dU_n = (r * h_prev)^T da_n.",
            ),
            _slipped("reset_convention_mixed"),
        ),
        GradBug(
            "b_hn_not_gated",
            "db_hn is computed as sum(da_n), as if b_hn were outside the reset gate; with "
            "reset_after=True it is inside, r * (h_prev U_n + b_hn).",
            (
                "Where does b_hn sit relative to r in your forward?",
                "a_n = x W_n + b_n + r * (h_prev U_n + b_hn), so db_hn = sum over the batch of da_n * r.",
                "Use db_hn = (da_n * r).sum(axis=0), the same dg = da_n * r that gives dU_n.",
            ),
            _slipped("b_hn_not_gated"),
            conventions=(True,),
        ),
        GradBug(
            "dU_transposed",
            "the recurrent weight gradients are transposed: dU = da^T h_prev instead of "
            "h_prev^T da (the shapes agree because U is square).",
            (
                "U is (H, H), so a transposed dU has the right shape: check the order of the product.",
                "a = ... + h_prev U + ..., with h_prev (B, H) and U (H, H): dL/dU = h_prev^T @ da.",
                "Use dU = h_prev.T @ da (for U_n with reset_after=False: (r * h_prev).T @ da_n).",
            ),
            _slipped("dU_transposed"),
            min_sizes=Sizes(B=1, T=1, D=0, H=2),
        ),
        GradBug(
            "dr_missing_U_n",
            "dL/dr is computed as da_n * h_prev: the product with U_n^T is missing "
            "(reset_after=False, where r multiplies h_prev before U_n).",
            (
                "r * h_prev goes through U_n before it reaches the candidate.",
                "a_n = x W_n + (r * h_prev) U_n + ..., so dL/d(r * h_prev) = da_n U_n^T and "
                "dL/dr = (da_n U_n^T) * h_prev.",
                "Compute drh = da_n @ U_n.T once and use dr = drh * h_prev, dh_prev += drh * r.",
            ),
            _slipped("dr_missing_U_n"),
            conventions=(False,),
        ),
        GradBug(
            "dx_missing_r_path",
            "dL/dx leaves out the reset gate's path: dx = da_z W_z^T + da_n W_n^T.",
            (
                "x_t feeds three pre-activations; does your dx have three terms?",
                "dx_t = da_z W_z^T + da_r W_r^T + da_n W_n^T.",
                "Add da_r @ W_r.T to dx_t.",
            ),
            _slipped("dx_missing_r_path"),
            min_sizes=Sizes(B=1, T=1, D=1, H=1),
        ),
        GradBug(
            "h_prev_wraparound",
            "at t = 0 the backward uses hs[t - 1] = hs[-1], the last state, as h_prev instead "
            "of h0.",
            (
                "What is h_prev at the first time step in your backward?",
                "h_prev of step 0 is h0; hs[t - 1] with t = 0 is Python's hs[-1], the final state.",
                "Use h_prev = h0 if t == 0 else hs[:, t - 1] (or keep the states with h0 prepended).",
            ),
            _slipped("h_prev_wraparound"),
        ),
        GradBug(
            "dh0_missing",
            "dL/dh0 is returned as zeros, not the gradient carried back to the initial state.",
            (
                "h0 is an input like x: does its gradient come out of your loop?",
                "dL/dh0 is the dh_prev of step 0 (dh_T itself when T = 0).",
                "Return the dh_prev left after the loop over time as dh0.",
            ),
            _slipped("dh0_missing"),
            min_sizes=Sizes(B=1, T=0, D=0, H=1),
            min_sizes_no_dh_T=Sizes(B=1, T=1, D=0, H=1),
        ),
        GradBug(
            "grads_averaged_over_batch",
            "the parameter gradients are divided by the batch size B, while the loss is a sum "
            "over the batch.",
            (
                "Is your loss a sum or a mean over the batch?",
                "L = sum(hs * dhs) + sum(h_T * dh_T): dL/dW = sum over the batch, not the mean.",
                "Drop the division by B (if your training loss is a mean, divide dhs by B instead).",
            ),
            _slipped("grads_averaged_over_batch"),
            min_sizes=Sizes(B=2, T=1, D=0, H=1),
        ),
    ]
}


def _as_fields(grads: Any) -> Dict[str, np.ndarray]:
    """A GRUParams or a mapping with the GRUParams field names, as float64 arrays."""
    if isinstance(grads, GRUParams):
        items = grads.arrays()
    elif isinstance(grads, Mapping):
        items = {name: grads[name] for name in _FIELDS}
    else:
        raise TypeError(f"grads: expected a GRUParams or a mapping of its fields, got a {type(grads).__name__}")
    return {k: np.asarray(v, dtype=np.float64) for k, v in items.items()}


#: An observation: the inputs given to the learner's backward and what it returned,
#: ``(x, h0, params, dhs, dh_T, dx, dh0, grads)``; grads a GRUParams or a mapping.
GradObservation = Tuple[Any, Any, GRUParams, Any, Any, Any, Any, Any]




def bug(name: str) -> Bug:
    """The words of a catalogue name: written here, or made from the slip's description."""
    if name in GRAD_BUGS:
        return GRAD_BUGS[name]
    slip = terms.describe(name)
    if slip is None:
        raise KeyError(name)
    return Bug(name, slip.text + ".", (
        f"Look at {slip.hint}.",
        f"The chain rule: {slip.equation}; here the term {slip.term} is {slip.how}.",
        "Compare that line with gru_props.level1.gru_backward, written to be read next to the chain rule.",
    ))


def hints_for(names: Sequence[str]) -> Tuple[str, str, str]:
    """Three hints for a combination: the nudges, the equations, the fixes, each joined."""
    parts = [bug(n).hints for n in names]
    return tuple(" ".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))  # type: ignore[return-value]
