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
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from gru_props._case import GRUCase, seeded_inputs
from gru_props._compare import compare
from gru_props._conventions import Convention, reference_forward, vote
from gru_props._engine import Context, Failure
from gru_props._params import GRUParams

# A broken GRU: (x, h0, params, convention) -> (hs (B, T, H), h_T (B, H)), float64.
Forward = Callable[[np.ndarray, np.ndarray, GRUParams, Convention], Tuple[np.ndarray, np.ndarray]]


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
    from gru_props._properties import max_magnitude

    big = case is None or max_magnitude(case) >= 50.0
    if big:
        bug = BUGS["non_finite_output"]
        return bug.summary, bug.hints
    m = max_magnitude(case)
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


# ------------------------------------------------------------- seeded cases
def _seeded(seeds: Tuple[int, ...], B: int, T: int, D: int, H: int, scale: float, x_scale: float,
            bias: bool) -> List[GRUCase]:
    return [GRUCase(*seeded_inputs(seed, B, T, D, H, scale=scale, x_scale=x_scale, bias=bias)[1:])
            for seed in seeds]


def detection_cases(bias: bool = True) -> List[GRUCase]:
    """Cases on which the conventions differ clearly: three small, one of ordinary size."""
    return (_seeded((11, 12, 13), 2, 3, 3, 4, 1.5, 1.0, bias)
            + _seeded((14,), 5, 17, 8, 9, 1.0, 1.0, bias))


def confirmation_cases(bias: bool = True) -> List[GRUCase]:
    """Seeded cases, ordinary and extreme, on which a diagnosis must also hold.

    One has B == T, so that a layout mistake that only has the right shape
    there (a time-major hs) can be confirmed too.
    """
    return (detection_cases(bias) + _seeded((21, 22), 2, 3, 3, 4, 1e3, 1e3, bias)
            + _seeded((23,), 3, 3, 2, 4, 1.0, 1.0, bias))


# ------------------------------------------------------------------ detect
def detect(ctx: Context) -> Dict[Convention, float]:
    """Set ``ctx.primary`` to the convention ``ctx.subject`` most likely follows.

    The candidates' references and their known buggy variants are compared
    with the function's outputs on a few discriminating cases; each case
    votes for the convention of the closest (the reference preferred on
    ties), so a buggy GRU is judged in its own convention (``vote``). A case on which the function raises is skipped. Returns
    each candidate's largest distance from the function (inf if unknown).
    """
    from gru_props._properties import run

    distances: Dict[Convention, float] = {c: 0.0 for c in ctx.candidates}
    per_case: List[Dict[Tuple[Convention, str], float]] = []
    forwards: Dict[str, Forward] = {"reference": lambda x, h0, p, conv: reference_forward(x, h0, p, conv)}
    forwards.update({n: BUGS[n].forward for n in NUMERIC_BUGS  # type: ignore[misc]
                     if n not in ("wrong_reset_convention", "reversed_interpolation")})
    seen = 0
    for case in detection_cases(ctx.bias):
        out = run(ctx, case)
        if out.error is not None:
            continue
        seen += 1
        got = out.hs.astype(np.float64)
        best: Dict[Tuple[Convention, str], float] = {}
        per_case.append(best)
        for conv in ctx.candidates:
            for name, forward in forwards.items():
                with np.errstate(all="ignore"):
                    theirs = forward(case.x, case.h0, case.params, conv)[0]
                    if theirs.shape != got.shape:
                        continue
                    err = float(np.max(np.abs(got - theirs), initial=0.0))
                err = err if np.isfinite(err) else np.inf
                best[(conv, name)] = err
                if name == "reference":
                    distances[conv] = max(distances[conv], err)
    if not seen:
        return {c: np.inf for c in ctx.candidates}
    ctx.primary = vote(per_case, ctx.candidates)
    return distances


# ---------------------------------------------------------------- diagnose
def diagnose(ctx: Context, failure: Failure) -> None:
    """Name the catalogued bug behind ``failure`` (sets ``failure.diagnosis``, maybe its text)."""
    from gru_props._properties import _deterministic, _inputs_unchanged, run

    if failure.diagnosis == "non_finite_output":
        failure.summary, failure.hints = non_finite_text(failure.case)
    if failure.diagnosis is not None or failure.kind not in ("value",):
        return
    if failure.got is not None and not np.all(np.isfinite(np.asarray(failure.got, dtype=np.float64))):
        failure.diagnosis = "non_finite_output"
        failure.summary, failure.hints = non_finite_text(failure.case)
        return
    # Behaviour first: a function that writes into its inputs or keeps state
    # between calls fails agreement too, but that is not its bug's name.
    behaviour = _deterministic(ctx, failure.case) or _inputs_unchanged(ctx, failure.case)
    if behaviour is not None and behaviour.diagnosis is not None:
        failure.diagnosis = behaviour.diagnosis
        return
    first = failure.case
    refs_of = lambda c: [reference_forward(c.x, c.h0, c.params, conv) for conv in ctx.candidates]  # noqa: E731
    for alt in failure.extra.get("diagnosis_cases", ()):
        # A property that compares two runs (e.g. two initial states): diagnose on
        # the run that differs from every reference.
        out = run(ctx, alt)
        if out.hs is not None and all(
                compare("hs", out.hs.astype(np.float64), ref[0], 1e-5, 1e-5) is not None for ref in refs_of(alt)):
            first = alt
            break
    observations = []
    for case in [first] + confirmation_cases(ctx.bias):
        out = run(ctx, case)
        if out.hs is None:
            if not observations:
                return
            continue
        observations.append((case, out))
    first_case, first_out = observations[0]
    dtypes = (first_case.dtype,) + tuple(first_out.dtypes)
    rtol, atol = ctx.tolerance(*dtypes)
    rtol, atol = max(rtol, 1e-5), max(atol, 1e-5)

    def same(a: Tuple[np.ndarray, np.ndarray], hs: np.ndarray, h_T: Optional[np.ndarray]) -> bool:
        if a[0].shape != np.shape(hs) or compare("hs", np.asarray(hs, dtype=np.float64), a[0], rtol, atol):
            return False
        return h_T is None or compare("h_T", np.asarray(h_T, dtype=np.float64), a[1], rtol, atol) is None

    refs = refs_of(first_case)
    for conv in ctx.conventions():
        for name in NUMERIC_BUGS:
            forward = BUGS[name].forward
            assert forward is not None
            try:
                mutant = forward(first_case.x, first_case.h0, first_case.params, conv)
                if any(same(mutant, ref[0], ref[1]) for ref in refs):
                    continue  # indistinguishable from a correct GRU here: it explains nothing
                if not same(mutant, first_out.hs, first_out.h_T):
                    continue
                if all(same(forward(c.x, c.h0, c.params, conv), o.hs, o.h_T) for c, o in observations[1:]):
                    failure.diagnosis = name
                    failure.convention = conv
                    if name == "reversed_interpolation" and conv.chung:
                        failure.summary = (
                            "h_t is computed as z * h_{t-1} + (1 - z) * n_t, the standard form, but "
                            "Chung's interpolation (1 - z) * h_{t-1} + z * n_t was asked for "
                            "(interpolation='chung'). Pass interpolation='standard' (or None to "
                            "detect it) if the standard form is what you meant."
                        )
                    return
            except Exception:  # pragma: no cover - a broken GRU that cannot run on this case
                continue
