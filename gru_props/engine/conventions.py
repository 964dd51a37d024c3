"""The GRU conventions a user's function may follow, and how to compute each one.

Two choices split hand-written GRUs:

* where the reset gate acts: ``reset_after=False`` (Cho et al. 2014, ONNX
  default, d2l.ai) or ``reset_after=True`` (PyTorch, cuDNN, Keras default);
* which way the update gate interpolates: ``"standard"``,
  ``h_t = z * h_{t-1} + (1 - z) * n_t`` (PyTorch, ONNX, Keras, Cho et al.), or
  ``"chung"``, ``h_t = (1 - z) * h_{t-1} + z * n_t`` (Chung et al. 2014, Deep
  Learning from Scratch 2, several course solutions).

Chung's form is the standard GRU with the update gate relabelled z -> 1 - z:
since sigmoid(-a) = 1 - sigmoid(a), a Chung GRU with parameters p computes
exactly what the standard GRU computes with W_z, U_z and b_z negated. Every
reference here is therefore one float64 Level 1 call on (possibly
relabelled) parameters, and gradients map back by the same sign flip.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.core.params import GRUParams

INTERPOLATIONS = ("standard", "chung")


@dataclasses.dataclass(frozen=True)
class Convention:
    """One GRU convention: where r acts (``reset_after``) and which way z interpolates."""

    reset_after: bool
    interpolation: str = "standard"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation: expected 'standard' or 'chung', got {self.interpolation!r}.")

    @property
    def chung(self) -> bool:
        return self.interpolation == "chung"

    def other_reset(self) -> "Convention":
        return Convention(not self.reset_after, self.interpolation)

    def other_interpolation(self) -> "Convention":
        return Convention(self.reset_after, "standard" if self.chung else "chung")

    def standard_params(self, params: GRUParams) -> GRUParams:
        """Parameters for which the standard GRU computes what this convention computes with ``params``."""
        if not self.chung:
            return params
        return params.replace(W_z=-params.W_z, U_z=-params.U_z, b_z=-params.b_z)

    def interpolation_formula(self) -> str:
        if self.chung:
            return "h_t = (1 - z) * h_{t-1} + z * n_t"
        return "h_t = z * h_{t-1} + (1 - z) * n_t"

    def describe(self) -> str:
        """E.g. "reset_after=True (reset after U_n, as PyTorch), standard interpolation"."""
        reset = (
            "reset_after=True (r multiplies h U_n + b_hn: PyTorch, Keras default, ONNX linear_before_reset=1)"
            if self.reset_after else
            "reset_after=False (r multiplies h before U_n: Cho et al., ONNX default)"
        )
        interp = (
            "Chung interpolation (1 - z) * h + z * n" if self.chung
            else "standard interpolation z * h + (1 - z) * n"
        )
        return f"{reset}, {interp}"

    def short(self) -> str:
        text = f"reset_after={self.reset_after}"
        return text + (", interpolation='chung'" if self.chung else "")

    def keep_sign(self) -> float:
        """The sign of the z pre-activation that makes the cell keep h_{t-1} (z -> 1 standard, z -> 0 Chung)."""
        return -1.0 if self.chung else 1.0


def candidates(reset_after: Optional[bool], interpolation: Optional[str]) -> Tuple[Convention, ...]:
    """The conventions a function may follow, given what the caller demanded (None: either)."""
    resets: Iterable[bool] = (False, True) if reset_after is None else (reset_after,)
    interps: Iterable[str] = INTERPOLATIONS if interpolation is None else (interpolation,)
    return tuple(Convention(ra, it) for it in interps for ra in resets)


def reference_forward(x: np.ndarray, h0: np.ndarray, params: GRUParams,
                      convention: Convention) -> Tuple[np.ndarray, np.ndarray]:
    """(hs, h_T) of the GRU in ``convention``, computed by Level 1 in float64 on any inputs."""
    from gru_props.tiers import level1

    p = convention.standard_params(params.astype(np.float64))
    with np.errstate(all="ignore"):
        return level1.gru_forward(np.asarray(x, dtype=np.float64), np.asarray(h0, dtype=np.float64),
                                  p, convention.reset_after)


def vote(per_case: List[Dict[Tuple[Convention, str], float]], candidates: Sequence[Convention]) -> Convention:
    """The convention a function follows, from its distance to each (convention, model) on each case.

    ``per_case[i][(conv, name)]`` is how far the function was, on case i, from
    the model ``name`` ("reference" or a known bug) in ``conv``. Each case
    votes for the convention of its closest model (the reference preferred on
    ties); most votes win, then the smaller total distance. A vote per case,
    not the worst case overall: a function that is wrong only on the large
    case (a bug that needs T > 10) is still judged in the convention its
    small cases show.
    """
    order = {c: i for i, c in enumerate(candidates)}
    votes: Dict[Convention, int] = {c: 0 for c in candidates}
    total: Dict[Convention, float] = {c: 0.0 for c in candidates}
    for errors in per_case:
        if not errors:
            continue
        (conv, _), _ = min(errors.items(), key=lambda kv: (kv[1], kv[0][1] != "reference", order[kv[0][0]]))
        votes[conv] += 1
        for (c, _), err in errors.items():
            total[c] += min(err, 1e6)
    return min(candidates, key=lambda c: (-votes[c], total[c], order[c]))


def ordered(conventions: Iterable[Convention], first: Convention) -> List[Convention]:
    """``conventions`` with ``first`` moved to the front."""
    rest = [c for c in conventions if c != first]
    return [first] + rest if first in conventions else rest
