"""The forward catalogue: the named bugs' words (what the code does, three progressive hints).

A bug's *model* is a set of slips of ``forward.terms`` (every slip is a catalogue name, and
``forward.diagnosis`` finds the combination of them that reproduces a function); this module keeps the
hand-written explanation of the names people meet most, and of the findings that are behaviour rather
than numbers (``input_mutated``, ``nondeterministic``, ``non_finite_output``). ``bug(name)`` gives the
words of any name, from the slip's own description when none is written here.

Each bug carries three progressive hints: a nudge, a pointer to the line of math, then the fix.
"""

from __future__ import annotations

from typing import Dict, Tuple

from gru_props.engine.model import Bug
from gru_props.forward.terms import describe

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
                f"The update: h_t = {_CONTRACT}. With z = 1 the state must not change at all.",
                "Swap the weights of the interpolation: h = z * h_prev + (1 - z) * n; or, if your "
                "course uses Chung's form on purpose, pass interpolation='chung'.",
            ),
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
        ),
        Bug(
            "update_gate_ignored",
            "the update gate has no effect: h_t is the candidate n_t at every step.",
            (
                "Does the new state depend on h_prev other than through the candidate?",
                f"h_t = {_CONTRACT}.",
                "Return z * h_prev + (1 - z) * n instead of n.",
            ),
        ),
        Bug(
            "initial_state_ignored",
            "the given h0 is not used: the recurrence starts from zeros.",
            (
                "What is h before the first step?",
                "h_0 is the h0 argument; only h0=None means zeros.",
                "Initialise the loop with h = h0 (a copy, so the caller's array is not modified).",
            ),
        ),
        Bug(
            "time_reversed",
            "the sequence is processed from the last time step to the first.",
            (
                "In which order does your loop visit the time steps?",
                "h_t depends on x_1 .. x_t; x is batch-first (B, T, D), so step t is x[:, t, :].",
                "Loop for t in range(T) and store h_t at hs[:, t, :].",
            ),
        ),
        Bug(
            "time_reversed_output",
            "the states are right but stored in reverse time order.",
            (
                "Where does the state of step t end up in hs?",
                "hs[:, t, :] must be h_t, the state after reading x[:, t, :].",
                "Store with hs[:, t] = h (or append and stack along axis 1 without reversing).",
            ),
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
        ),
        Bug(
            "b_hn_ignored",
            "the recurrent candidate bias b_hn is missing.",
            (
                "Count the biases in your candidate.",
                "n_t = tanh(x_t W_n + b_n + r_t * (h_{t-1} U_n + b_hn)) (reset_after=True) or "
                "tanh(x_t W_n + (r_t * h_{t-1}) U_n + b_n + b_hn) (reset_after=False).",
                "Add params.b_hn where the equations put it (with one candidate bias, as in Keras' "
                "reset_after=False layout, wrap your function with gru_props.adapters.keras_layout).",
            ),
        ),
        Bug(
            "states_shifted",
            "hs is off by one step: hs[:, t] holds h_{t-1} (h0 first, the last state missing).",
            (
                "Do you store h before or after updating it?",
                "hs[:, t, :] = h_t, the state after step t; h0 is not part of hs.",
                "Update h first, then store it.",
            ),
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



def bug(name: str) -> Bug:
    """The words of a catalogue name: written here, or made from the slip's description."""
    if name in BUGS:
        return BUGS[name]
    slip = describe(name)
    if slip is None:
        raise KeyError(name)
    return Bug(name, slip.text + ".", (
        f"Look at {slip.hint}.",
        f"The equation: {slip.equation}; here the term {slip.term} is {slip.how}.",
        "Compare that line with gru_props.level1.gru_forward, the reference written to be read.",
    ))


def hints_for(names: Tuple[str, ...]) -> Tuple[str, str, str]:
    """Three hints for a combination: the nudges, the equations, the fixes, each joined."""
    parts = [bug(n).hints for n in names]
    return tuple(" ".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))  # type: ignore[return-value]
