"""Known GRU bugs: a catalog of deliberately broken GRUs, and hints for each.

When a property fails, the checker runs every broken GRU here on the shrunk
counterexample; one whose output matches the user's (and the reference's
does not) names the bug. Bugs that show as behaviour rather than as numbers
(``input_mutated``, ``nondeterministic``, ``non_finite_output``) are named by
the property that catches them and have no forward function.

Each bug carries three progressive hints: a nudge, a pointer to the line of
math, then the fix.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from gru_props._params import GRUParams

# A broken GRU: (x, h0, params, reset_after) -> (hs (B, T, H), h_T (B, H)), float64.
Forward = Callable[[np.ndarray, np.ndarray, GRUParams, bool], Tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class Bug:
    name: str
    summary: str
    hints: Tuple[str, str, str]
    forward: Optional[Forward] = None


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5


def _guarded_sigmoid(a: np.ndarray) -> np.ndarray:
    """An overflow 'guard' that returns 0.5 where |a| is large: the bug."""
    return np.where(np.abs(a) > 30, 0.5, _sigmoid(a))


def _flawed_forward(
    x: np.ndarray,
    h0: np.ndarray,
    p: GRUParams,
    reset_after: bool,
    *,
    reversed_interpolation: bool = False,
    reset_gate_ignored: bool = False,
    update_gate_ignored: bool = False,
    sigmoid: Callable[[np.ndarray], np.ndarray] = _sigmoid,
) -> Tuple[np.ndarray, np.ndarray]:
    """A float64 GRU with optional flaws in the cell; returns (hs, h_T)."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h0, dtype=np.float64)
    p = p.astype(np.float64)
    out = np.empty((x.shape[0], x.shape[1], p.H))
    with np.errstate(all="ignore"):
        for t in range(x.shape[1]):
            x_t = x[:, t, :]
            z = sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
            r = np.ones_like(h) if reset_gate_ignored else sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
            if update_gate_ignored:
                z = np.zeros_like(h)
            if reset_after:
                n = np.tanh(x_t @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
            else:
                n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
            h = (1 - z) * h + z * n if reversed_interpolation else z * h + (1 - z) * n
            out[:, t, :] = h
    return out, h


def reference_forward(x: np.ndarray, h0: np.ndarray, p: GRUParams, reset_after: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Level 1 in float64 on any inputs: (hs, h_T), the yardstick every broken GRU is measured against."""
    from gru_props import level1

    with np.errstate(all="ignore"):
        return level1.gru_forward(
            np.asarray(x, dtype=np.float64), np.asarray(h0, dtype=np.float64),
            p.astype(np.float64), reset_after,
        )


def _gates_swapped(x, h0, p, reset_after):
    q = p.replace(W_z=p.W_r, W_r=p.W_z, U_z=p.U_r, U_r=p.U_z, b_z=p.b_r, b_r=p.b_z)
    return reference_forward(x, h0, q, reset_after)


def _initial_state_ignored(x, h0, p, reset_after):
    return reference_forward(x, np.zeros_like(h0), p, reset_after)


def _time_reversed(x, h0, p, reset_after):
    return reference_forward(x[:, ::-1, :], h0, p, reset_after)


def _time_reversed_output(x, h0, p, reset_after):
    hs, h_T = reference_forward(x, h0, p, reset_after)
    return hs[:, ::-1, :], h_T


def _wrong_convention(x, h0, p, reset_after):
    return reference_forward(x, h0, p, not reset_after)


def _b_hn_ignored(x, h0, p, reset_after):
    return reference_forward(x, h0, p.replace(b_hn=np.zeros_like(p.b_hn)), reset_after)


def _states_shifted(x, h0, p, reset_after):
    hs, h_T = reference_forward(x, h0, p, reset_after)
    return np.concatenate([np.asarray(h0, dtype=np.float64)[:, None, :], hs[:, :-1, :]], axis=1), h_T


_CONTRACT = "z * h_{t-1} + (1 - z) * n_t"

BUGS: Dict[str, Bug] = {
    b.name: b
    for b in [
        Bug(
            "reversed_interpolation",
            "h_t is computed as (1 - z) * h_{t-1} + z * n_t. That is the form Chung et al. (2014) "
            f"wrote; this contract (PyTorch, ONNX, Keras, Cho et al. 2014) is h_t = {_CONTRACT}: "
            "z -> 1 keeps the previous state, z -> 0 takes the candidate.",
            (
                "Look at the last line of your cell, where the new state mixes h_prev and the candidate.",
                f"SPEC: h_t = {_CONTRACT}. With z = 1 the state must not change at all.",
                "Swap the weights of the interpolation: h = z * h_prev + (1 - z) * n.",
            ),
            lambda x, h0, p, ra: _flawed_forward(x, h0, p, ra, reversed_interpolation=True),
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
            lambda x, h0, p, ra: _flawed_forward(x, h0, p, ra, reset_gate_ignored=True),
        ),
        Bug(
            "update_gate_ignored",
            "the update gate has no effect: h_t is the candidate n_t at every step.",
            (
                "Does the new state depend on h_prev other than through the candidate?",
                f"h_t = {_CONTRACT}.",
                "Return z * h_prev + (1 - z) * n instead of n.",
            ),
            lambda x, h0, p, ra: _flawed_forward(x, h0, p, ra, update_gate_ignored=True),
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
                "Pass reset_after=... to match your implementation, or change where r multiplies.",
            ),
            _wrong_convention,
        ),
        Bug(
            "b_hn_ignored",
            "the recurrent candidate bias b_hn is missing.",
            (
                "Count the biases in your candidate.",
                "n_t = tanh(x_t W_n + b_n + r_t * (h_{t-1} U_n + b_hn)) (reset_after=True) or "
                "tanh(x_t W_n + (r_t * h_{t-1}) U_n + b_n + b_hn) (reset_after=False).",
                "Add params.b_hn where the SPEC puts it.",
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
            "saturating_sigmoid_guard",
            "the sigmoid returns 0.5 for large |a| (an overflow guard that gives the wrong value); "
            "sigmoid(a) tends to 1 as a -> +inf and 0 as a -> -inf.",
            (
                "What does your sigmoid return for a = 1000 and a = -1000?",
                "sigmoid(a) = 1 / (1 + exp(-a)): 1.0 for large a, 0.0 for very negative a.",
                "Use a stable form: 0.5 * tanh(0.5 * a) + 0.5, or np.where(a >= 0, 1 / (1 + exp(-a)), "
                "exp(a) / (1 + exp(a))) evaluated on clipped arguments.",
            ),
            lambda x, h0, p, ra: _flawed_forward(x, h0, p, ra, sigmoid=_guarded_sigmoid),
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


Observation = Tuple[np.ndarray, np.ndarray, np.ndarray, Optional[np.ndarray]]


def diagnose(
    observations: Sequence[Observation],
    params: Sequence[GRUParams],
    reset_after: bool,
    matches: Callable[[np.ndarray, np.ndarray], bool],
) -> Optional[str]:
    """Name the catalogued bug that explains what the user's GRU did, or None.

    ``observations[i]`` is ``(x, h0, hs, h_T)``: inputs given to the user's
    function with ``params[i]`` and what it returned (h_T may be None). The
    first is the counterexample: the bug must explain it (its output differs
    from the reference's there and equals the user's). The rest confirm: the
    bug must reproduce the user's outputs on them too, which rules out a bug
    that agrees with the user on the counterexample only by coincidence.
    """
    first_hs = np.asarray(observations[0][2], dtype=np.float64)
    if not np.all(np.isfinite(first_hs)):
        return "non_finite_output"

    def same(a: Tuple[np.ndarray, np.ndarray], hs: np.ndarray, h_T: Optional[np.ndarray]) -> bool:
        if a[0].shape != np.shape(hs) or not matches(np.asarray(hs, dtype=np.float64), a[0]):
            return False
        return h_T is None or matches(np.asarray(h_T, dtype=np.float64), a[1])

    x, h0, hs, h_T = observations[0]
    reference = reference_forward(x, h0, params[0], reset_after)
    for name in NUMERIC_BUGS:
        forward = BUGS[name].forward
        assert forward is not None
        try:
            mutant = forward(x, h0, params[0], reset_after)
            if same(mutant, reference[0], reference[1]) or not same(mutant, hs, h_T):
                continue
            if all(
                same(forward(xc, hc, pc, reset_after), hsc, hTc)
                for (xc, hc, hsc, hTc), pc in zip(observations[1:], params[1:])
            ):
                return name
        except Exception:  # pragma: no cover - a broken GRU that cannot run on this case
            continue
    return None
