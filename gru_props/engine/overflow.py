"""Why a GRU's output is NaN or inf for finite inputs: which pre-activation could overflow an exp.

A sigmoid written ``exp(a) / (1 + exp(a))`` is inf / inf = NaN once ``a``
exceeds the dtype's overflow point of exp (709.8 in float64, 88.7 in float32);
``1 / (1 + exp(-a))`` only overflows to inf in the denominator and gives the
right 0.0, so it warns but is correct. A tanh written ``(exp(a) - exp(-a)) /
(exp(a) + exp(-a))`` is NaN once ``|a|`` passes the same point. Reading the
pre-activations of the gates and of the candidate on the very case (in
float64, step by step until the first non-finite output) says which of them
can be to blame, and when none passes that point, that it is not an overflow.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.engine.conventions import Convention

#: Where exp overflows, by dtype: log(finfo.max).
EXP_LIMIT = {np.dtype(np.float64): 709.78, np.dtype(np.float32): 88.72, np.dtype(np.float16): 11.09}

_WHAT = {"z": "the update gate's pre-activation a_z", "r": "the reset gate's pre-activation a_r",
         "n": "the candidate's pre-activation a_n"}


@dataclasses.dataclass(frozen=True)
class Overflow:
    """What the pre-activations were up to step ``t`` (the first step with a non-finite output)."""

    t: int
    limit: float
    dtype: str
    largest: Dict[str, float]  # gate -> largest |pre-activation| up to step t

    @property
    def over(self) -> Tuple[str, ...]:
        return tuple(g for g in "zrn" if self.largest[g] > self.limit)


def preactivations(x: np.ndarray, h0: np.ndarray, params: GRUParams, conv: Convention,
                   until: Optional[int] = None, states: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
    """a_z, a_r, a_n (B, T', H) of the float64 reference GRU in ``conv``, for steps 0 .. ``until``; with
    ``states`` (B, T, H), the function's own states, each step reads h_{t-1} from them instead (a buggy
    cell's states can grow far beyond the reference's, and its pre-activations with them)."""
    p = conv.standard_params(params.astype(np.float64))
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h0, dtype=np.float64)
    T = x.shape[1] if until is None else min(x.shape[1], until + 1)
    out: Dict[str, list] = {"z": [], "r": [], "n": []}
    with np.errstate(all="ignore"):
        for t in range(T):
            x_t = x[:, t]
            a_z = x_t @ p.W_z + h @ p.U_z + p.b_z
            a_r = x_t @ p.W_r + h @ p.U_r + p.b_r
            z, r = 0.5 * np.tanh(0.5 * a_z) + 0.5, 0.5 * np.tanh(0.5 * a_r) + 0.5
            if conv.reset_after:
                a_n = x_t @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn)
            else:
                a_n = x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn
            h = z * h + (1 - z) * np.tanh(a_n)
            if states is not None:
                h = np.asarray(states[:, t], dtype=np.float64)
            for g, a in (("z", a_z), ("r", a_r), ("n", a_n)):
                out[g].append(a)
    B, H = h.shape
    return {g: np.stack(v, axis=1) if v else np.zeros((B, 0, H)) for g, v in out.items()}


def overflow(x: np.ndarray, h0: np.ndarray, params: GRUParams, conv: Convention, dtype: Any,
             first_bad_step: int, states: Optional[np.ndarray] = None) -> Overflow:
    """The pre-activations up to ``first_bad_step``, against the overflow point of exp in ``dtype``: the
    reference's, and with ``states`` (the function's own states on this case) the larger of those and the
    ones the function's states give."""
    dt = np.dtype(dtype) if np.dtype(dtype) in EXP_LIMIT else np.dtype(np.float32)
    pres = [preactivations(x, h0, params, conv, until=first_bad_step)]
    if states is not None:
        pres.append(preactivations(x, h0, params, conv, until=first_bad_step, states=states))
    largest = {g: max(float(np.nan_to_num(np.max(np.abs(p[g]), initial=0.0), nan=0.0)) for p in pres)
               for g in "zrn"}
    return Overflow(first_bad_step, EXP_LIMIT[dt], str(dt), largest)


def explain(o: Overflow) -> Tuple[str, Tuple[str, str, str]]:
    """(summary, hints) for a non-finite output, from what overflowed."""
    sizes = ", ".join(f"|a_{g}| up to {o.largest[g]:.4g}" for g in "zrn")
    if not o.over:
        return (
            f"the output is NaN or inf although no exp can overflow here: up to step t={o.t}, where it first "
            f"goes wrong, {sizes}, all below {o.limit:g} (where exp overflows in {o.dtype}). So it is not an "
            "overflow: usually 0/0 or x/0 (dividing by a sum, a norm or (1 - z) that is zero), x % 0, "
            "np.log(0) or np.sqrt of a negative number, or a buffer made with np.empty and read before it is "
            "written.",
            ("Which of your operations is undefined at zero? Try the counterexample below.",
             "A GRU needs only products, sums, sigmoid and tanh: none of them makes a NaN from finite inputs "
             "of this size.",
             "Remove the division, modulo, log or sqrt from the cell (or guard it), and initialise buffers "
             "with np.zeros rather than np.empty."),
        )
    gates = [g for g in o.over if g in "zr"]
    over = " and ".join(_WHAT[g] for g in o.over)
    forms = []
    if gates:
        forms.append("a sigmoid written as exp(a) / (1 + exp(a))")
    if "n" in o.over:
        forms.append("a tanh written as (exp(a) - exp(-a)) / (exp(a) + exp(-a))")
    calm = [g for g in "zrn" if g not in o.over]
    calm_text = (f"; {' and '.join(_WHAT[g] for g in calm)} stay{'s' if len(calm) == 1 else ''} below it"
                 if calm else "")
    fixes = []
    if gates:
        fixes.append("compute the sigmoid as 0.5 * tanh(0.5 * a) + 0.5")
    if "n" in o.over:
        fixes.append("use np.tanh (or torch.tanh), which is bounded for every a")
    # A fact about the case, not a guess about the code: a model of an exp-ratio activation that reproduced
    # the function would have been named instead (sigmoid_exp_ratio, candidate_tanh_exp_ratio).
    return (
        f"the output is NaN or inf for finite inputs: by step t={o.t}, where it first goes wrong, {over} "
        f"reach{'es' if len(o.over) == 1 else ''} {max(o.largest[g] for g in o.over):.4g}, past {o.limit:g} "
        f"where exp overflows in {o.dtype}{calm_text}. An exp of it is inf, and inf / inf, inf - inf or 0 * inf "
        f"is NaN: {' or '.join(forms)} does this, and so does any other use of exp there.",
        (f"Which function of yours takes exp of {' or of '.join(_WHAT[g] for g in o.over)}?",
         f"exp({o.limit:.0f}) is already inf in {o.dtype}; exp(a) / (1 + exp(a)) and exp ratios for tanh are "
         "then inf / inf.",
         "Bounded forms: " + "; ".join(fixes) + "."),
    )


def explain_gradients(o: Overflow) -> Tuple[str, Tuple[str, str, str]]:
    """(summary, hints) for non-finite gradients, from what the forward's pre-activations reach."""
    sizes = ", ".join(f"|a_{g}| up to {o.largest[g]:.4g}" for g in "zrn")
    if not o.over:
        return (
            f"the gradients contain NaN or inf although no exp can overflow on this case ({sizes}, all below "
            f"{o.limit:g}, where exp overflows in {o.dtype}): not an overflow, but 0/0 or x/0, np.log(0), "
            "np.sqrt of a negative number, or a buffer made with np.empty and read before it is written.",
            ("Which operation of your backward is undefined at zero?",
             "The chain rule of a GRU needs only products and sums of the forward's values: none makes a NaN "
             "from finite inputs of this size.",
             "Remove the division (or guard it) and initialise gradient buffers with np.zeros."),
        )
    which = " and ".join(_WHAT[g] for g in o.over)
    return (
        f"the gradients contain NaN or inf for finite inputs: {which} reach{'es' if len(o.over) == 1 else ''} "
        f"{max(o.largest[g] for g in o.over):.4g}, beyond {o.limit:g} where exp overflows in {o.dtype}; a "
        "derivative computed through exp there (e.g. exp(-a) / (1 + exp(-a))**2, or a tanh' from exp ratios) is "
        "inf / inf = NaN.",
        ("Which derivative of yours is computed from the pre-activation through exp?",
         "sigmoid'(a) = s * (1 - s) and tanh'(a) = 1 - n**2, from the forward's outputs s and n, never from "
         "exp(a).",
         "Reuse the forward's gate values: ds = s * (1 - s), dn = 1 - n * n."),
    )
