"""Known forward-GRU bugs: a catalog of deliberately broken GRUs, convention detection, naming.

When a property fails, the checker runs every broken GRU here, in every
convention the function may follow, on the shrunk counterexample; one whose
output matches the user's there (while no correct GRU's does) and on seeded
confirmation cases names the bug. Bugs that show as behaviour rather than
as numbers (``input_mutated``, ``nondeterministic``, ``non_finite_output``)
are named by the property that catches them and have no forward function.

Each bug carries three progressive hints: a nudge, a pointer to the line of
math, then the fix.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.engine.conventions import Convention, reference_forward
from gru_props.engine.model import Bug as NamedBug
from gru_props.forward.case import GRUCase

# A broken GRU: (x, h0, params, convention) -> (hs (B, T, H), h_T (B, H)), float64.
Forward = Callable[[np.ndarray, np.ndarray, GRUParams, Convention], Tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Bug(NamedBug):
    """A catalogued forward bug; ``forward`` is the broken GRU (None: named by the property that catches it)."""

    forward: Optional[Forward] = None


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _guarded_sigmoid(a: np.ndarray) -> np.ndarray:
    """An overflow 'guard' that returns 0.5 where |a| is large: the bug."""
    return np.where(np.abs(a) > 30, 0.5, _sigmoid(a))


def _flawed_forward(
    x: np.ndarray,
    h0: np.ndarray,
    params: GRUParams,
    conv: Convention,
    *,
    reset_gate_ignored: bool = False,
    update_gate_ignored: bool = False,
    sigmoid: Callable[[np.ndarray], np.ndarray] = _sigmoid,
) -> Tuple[np.ndarray, np.ndarray]:
    """A float64 GRU in ``conv`` with optional flaws in the cell; returns (hs, h_T).

    The flaws are symmetric in z, so they commute with Chung's relabelling.
    """
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h0, dtype=np.float64)
    p = conv.standard_params(params.astype(np.float64))
    out = np.empty((x.shape[0], x.shape[1], p.H))
    with np.errstate(all="ignore"):
        for t in range(x.shape[1]):
            x_t = x[:, t, :]
            z = sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
            r = np.ones_like(h) if reset_gate_ignored else sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
            if update_gate_ignored:
                z = np.zeros_like(h)
            if conv.reset_after:
                n = np.tanh(x_t @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
            else:
                n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
            h = z * h + (1 - z) * n
            out[:, t, :] = h
    return out, h


def _gates_swapped(x, h0, p, conv):
    q = p.replace(W_z=p.W_r, W_r=p.W_z, U_z=p.U_r, U_r=p.U_z, b_z=p.b_r, b_r=p.b_z)
    return reference_forward(x, h0, q, conv)


def _initial_state_ignored(x, h0, p, conv):
    return reference_forward(x, np.zeros_like(h0), p, conv)


def _time_reversed(x, h0, p, conv):
    return reference_forward(x[:, ::-1, :], h0, p, conv)


def _time_reversed_output(x, h0, p, conv):
    hs, h_T = reference_forward(x, h0, p, conv)
    return hs[:, ::-1, :], h_T


def _b_hn_ignored(x, h0, p, conv):
    return reference_forward(x, h0, p.replace(b_hn=np.zeros_like(p.b_hn)), conv)


def _time_major_output(x, h0, p, conv):
    hs, h_T = reference_forward(x, h0, p, conv)
    return np.ascontiguousarray(hs.transpose(1, 0, 2)), h_T


def _states_shifted(x, h0, p, conv):
    hs, h_T = reference_forward(x, h0, p, conv)
    return np.concatenate([np.asarray(h0, dtype=np.float64)[:, None, :], hs[:, :-1, :]], axis=1), h_T


_CONTRACT = "z * h_{t-1} + (1 - z) * n_t"

BUGS: Dict[str, Bug] = {
    b.name: b
    for b in [
        Bug(
            "reversed_interpolation",
            "h_t is computed as (1 - z) * h_{t-1} + z * n_t. That is the form Chung et al. (2014) "
            f"wrote; this contract (PyTorch, ONNX, Keras, Cho et al. 2014) is h_t = {_CONTRACT}: "
            "z -> 1 keeps the previous state, z -> 0 takes the candidate. If Chung's form is your "
            "course's convention, check with interpolation='chung' (or None to detect it).",
            (
                "Look at the last line of your cell, where the new state mixes h_prev and the candidate.",
                f"SPEC: h_t = {_CONTRACT}. With z = 1 the state must not change at all.",
                "Swap the weights of the interpolation: h = z * h_prev + (1 - z) * n; or, if your "
                "course uses Chung's form on purpose, pass interpolation='chung'.",
            ),
            lambda x, h0, p, conv: reference_forward(x, h0, p, conv.other_interpolation()),
        ),
        Bug(
            "gates_swapped",
            "the update gate z and the reset gate r are exchanged: z is computed with "
            "W_r, U_r, b_r and r with W_z, U_z, b_z.",
            (
                "Check which parameters feed which gate.",
                "z_t = sigmoid(x_t W_z + h_{t-1} U_z + b_z) and r_t = sigmoid(x_t W_r + h_{t-1} U_r + b_r). "
                "If you unpacked stacked weights, mind the gate order: PyTorch stacks r, z, n; "
                "ONNX and Keras stack z, r, n.",
                "Use params.W_z, params.U_z, params.b_z for the gate that interpolates, and the "
                "_r parameters for the gate inside the candidate.",
            ),
            _gates_swapped,
        ),
        Bug(
            "reset_gate_ignored",
            "the reset gate has no effect: the candidate uses h_{t-1} as if r were 1.",
            (
                "Is r used anywhere after you compute it?",
                "reset_after=False: n_t = tanh(x_t W_n + (r_t * h_{t-1}) U_n + b_n + b_hn); "
                "reset_after=True: n_t = tanh(x_t W_n + b_n + r_t * (h_{t-1} U_n + b_hn)).",
                "Multiply by r in the candidate: (r * h_prev) @ U_n, or r * (h_prev @ U_n + b_hn).",
            ),
            lambda x, h0, p, conv: _flawed_forward(x, h0, p, conv, reset_gate_ignored=True),
        ),
        Bug(
            "update_gate_ignored",
            "the update gate has no effect: h_t is the candidate n_t at every step.",
            (
                "Does the new state depend on h_prev other than through the candidate?",
                f"h_t = {_CONTRACT}.",
                "Return z * h_prev + (1 - z) * n instead of n.",
            ),
            lambda x, h0, p, conv: _flawed_forward(x, h0, p, conv, update_gate_ignored=True),
        ),
        Bug(
            "initial_state_ignored",
            "the given h0 is not used: the recurrence starts from zeros.",
            (
                "What is h before the first step?",
                "h_0 is the h0 argument; only h0=None means zeros.",
                "Initialise the loop with h = h0 (a copy, so the caller's array is not modified).",
            ),
            _initial_state_ignored,
        ),
        Bug(
            "time_reversed",
            "the sequence is processed from the last time step to the first.",
            (
                "In which order does your loop visit the time steps?",
                "h_t depends on x_1 .. x_t; x is batch-first (B, T, D), so step t is x[:, t, :].",
                "Loop for t in range(T) and store h_t at hs[:, t, :].",
            ),
            _time_reversed,
        ),
        Bug(
            "time_reversed_output",
            "the states are right but stored in reverse time order.",
            (
                "Where does the state of step t end up in hs?",
                "hs[:, t, :] must be h_t, the state after reading x[:, t, :].",
                "Store with hs[:, t] = h (or append and stack along axis 1 without reversing).",
            ),
            _time_reversed_output,
        ),
        Bug(
            "wrong_reset_convention",
            "the implementation follows the other reset convention: it applies the reset gate "
            "before the recurrent matrix product where after was asked for, or the reverse.",
            (
                "There are two GRUs in the wild; which one did you write?",
                "reset_after=False (Cho et al., ONNX default): (r * h_prev) @ U_n. reset_after=True "
                "(PyTorch, Keras default): r * (h_prev @ U_n + b_hn).",
                "Pass reset_after=... to match your implementation (or None to detect it), or change "
                "where r multiplies.",
            ),
            lambda x, h0, p, conv: reference_forward(x, h0, p, conv.other_reset()),
        ),
        Bug(
            "b_hn_ignored",
            "the recurrent candidate bias b_hn is missing.",
            (
                "Count the biases in your candidate.",
                "n_t = tanh(x_t W_n + b_n + r_t * (h_{t-1} U_n + b_hn)) (reset_after=True) or "
                "tanh(x_t W_n + (r_t * h_{t-1}) U_n + b_n + b_hn) (reset_after=False).",
                "Add params.b_hn where the SPEC puts it (with one candidate bias, as in Keras' "
                "reset_after=False layout, wrap your function with gru_props.adapters.keras_layout).",
            ),
            _b_hn_ignored,
        ),
        Bug(
            "states_shifted",
            "hs is off by one step: hs[:, t] holds h_{t-1} (h0 first, the last state missing).",
            (
                "Do you store h before or after updating it?",
                "hs[:, t, :] = h_t, the state after step t; h0 is not part of hs.",
                "Update h first, then store it.",
            ),
            _states_shifted,
        ),
        Bug(
            "time_major_output",
            "hs is returned time-major, (T, B, H), where the contract is batch-first (B, T, H); "
            "it only has the right shape when B == T.",
            (
                "Which axis of hs is time?",
                "hs[:, t, :] must be h_t: the batch axis first, then time (B, T, H).",
                "Stack the states along axis 1 (np.stack(states, axis=1)), or transpose a time-major "
                "result with hs.transpose(1, 0, 2); if your whole function is time-major, wrap it "
                "with gru_props.adapters.time_major.",
            ),
            _time_major_output,
        ),
        Bug(
            "saturating_sigmoid_guard",
            "the sigmoid returns 0.5 for large |a| (an overflow guard that gives the wrong value); "
            "sigmoid(a) tends to 1 as a -> +inf and 0 as a -> -inf.",
            (
                "What does your sigmoid return for a = 1000 and a = -1000?",
                "sigmoid(a) = 1 / (1 + exp(-a)): 1.0 for large a, 0.0 for very negative a.",
                "Use a stable form: 0.5 * tanh(0.5 * a) + 0.5, or np.where(a >= 0, 1 / (1 + exp(-a)), "
                "exp(a) / (1 + exp(a))) evaluated on clipped arguments.",
            ),
            lambda x, h0, p, conv: _flawed_forward(x, h0, p, conv, sigmoid=_guarded_sigmoid),
        ),
        Bug(
            "non_finite_output",
            "the output contains NaN or inf although every input is finite; usually exp(a) "
            "overflowing in a sigmoid written as exp(a) / (1 + exp(a)) (inf / inf = NaN).",
            (
                "Which of your functions can overflow for inputs around ±1e4?",
                "exp(710) is inf in float64 (exp(89) in float32); exp(a) / (1 + exp(a)) is then NaN.",
                "Compute the sigmoid as 0.5 * tanh(0.5 * a) + 0.5, which is bounded for every a.",
            ),
        ),
        Bug(
            "input_mutated",
            "the implementation writes into an argument (x, h0 or a parameter array).",
            (
                "Which of your operations work in place (+=, out=, slice assignment)?",
                "The caller's arrays must be unchanged after the call: h = h0 aliases h0.",
                "Start from h = h0.copy() (or h0 + 0) and never assign into x or params.",
            ),
        ),
        Bug(
            "nondeterministic",
            "two calls with the same inputs give different results: state is kept between "
            "calls, or randomness is used.",
            (
                "Does your function remember anything between calls?",
                "A GRU forward pass is a pure function of (x, h0, params).",
                "Remove global/module-level state and caches keyed on anything but the inputs.",
            ),
        ),
    ]
}

#: Bugs whose broken GRU is run on a counterexample, in order of preference.
NUMERIC_BUGS = tuple(name for name, bug in BUGS.items() if bug.forward is not None)


def non_finite_text(case: Optional[GRUCase]) -> Tuple[str, Tuple[str, str, str]]:
    """What a NaN or inf means on this case: an overflow at large inputs, something else at small ones."""
    from gru_props.forward.properties import max_magnitude

    m = None if case is None else max_magnitude(case)
    if m is None or m >= 50.0:
        bug = BUGS["non_finite_output"]
        return bug.summary, bug.hints
    size = "every input is zero" if m == 0 else f"no input is larger than {m:g} in magnitude"
    return (
        f"the output contains NaN or inf although {size}: that "
        "is not an overflow. Usually 0/0 or x/0 (dividing by a sum, a norm or (1 - z) that is "
        "zero), x % 0, np.log(0) or np.sqrt of a negative number, or a buffer made with np.empty "
        "and read before it is written.",
        (
            "Which of your operations is undefined at zero? Try the counterexample below: its inputs "
            "are mostly zeros.",
            "A GRU needs only products, sums, sigmoid and tanh: none of them can make a NaN from finite "
            "inputs of this size.",
            "Remove the division, modulo, log or sqrt from the cell (or guard it), and initialise "
            "buffers with np.zeros rather than np.empty.",
        ),
    )


