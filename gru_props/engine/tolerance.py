"""How far a correct implementation may be from the float64 reference, element by element.

A flat tolerance cannot be right for every case: float32 rounding errors grow
with T and H and with how strongly the recurrence amplifies them, and a
chaotic case (large weights, many units) amplifies a change in the last bit of
x into a different answer altogether, in float64 too. So the tolerance of
every comparison follows the computation on the very case compared:

* an **error estimate** per element, the largest of how far our own tiers
  drift from the float64 reference when they compute in the function's
  precision (Level 1 and Level 3 in float32 for a float32 function, and Level
  1 with the textbook sigmoid ``1 / (1 + exp(-a))``, which rounds a saturated
  gate one unit differently, as PyTorch does: ``tiers.variants``; Level 3 in
  float64 for a float64 one: other summation orders, other roundings), of the
  rounding of the output itself, and, in float32, of how far the reference
  moves when every input is moved by sqrt(D + H + 1) units of rounding
  (``dot_rounding``: what a GEMM's rounding of a pre-activation can do where
  our own summation happens to round luckily, as PyTorch's did on a thorough
  run at weights near 1e2);
* smoothed over what one rounding error reaches (each (b, t) row of hs or dx,
  each row of h_T or dh0, each whole parameter gradient), since another
  implementation rounds elsewhere but errors of the same size;
* ``allowed = atol + rtol * |expected| + SAFETY * estimate``, with the flat
  (rtol, atol) of the least precise dtype involved (``FLAT``);
* an element whose ``SAFETY * estimate`` exceeds ``UNJUDGEABLE`` of its scale
  (1 for states, the gradient's largest magnitude for gradients) cannot tell
  a bug from rounding at that precision: it is not judged, and a case with no
  judged element says nothing (the property is not applicable there).

``SAFETY = 8``: measured on correct float32 GRUs (PyTorch's nn.GRU forward and
autograd, learner-style NumPy loops) at B, T, D, H up to 8, 200, 32, 256 and
weight scales 1/sqrt(H) to 2.5, the worst error was 2.6 estimates (gradients)
and 1.9 (states) wherever the case was judged; every catalogued bug is off by
1e-2 to 1 of the scale, orders of magnitude above.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams

#: Flat (rtol, atol) by the least precise dtype involved, under the error estimate.
#: float64's is far above its rounding (1e-16) yet far below float32's (1e-7), so that a float64 answer
#: computed in float32 is told apart (a warning), while the estimate gives ill-conditioned cases their room.
FLAT: Dict[np.dtype, Tuple[float, float]] = {
    np.dtype(np.float64): (1e-10, 1e-11),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float16): (2e-3, 2e-3),
}
#: Flat (rtol, atol) of gradients; atol is scaled by each gradient's largest magnitude.
GRAD_FLAT: Dict[np.dtype, Tuple[float, float]] = {
    np.dtype(np.float64): (1e-10, 1e-11),
    np.dtype(np.float32): (1e-4, 1e-5),
    np.dtype(np.float16): (2e-2, 2e-3),
}
SAFETY = 8.0
UNJUDGEABLE = 0.1


def precision_of(*dtypes: Any) -> np.dtype:
    """The least precise floating dtype among ``dtypes`` (float64, float32 or float16)."""
    low = min((np.dtype(d) for d in dtypes if d is not None), key=lambda d: d.itemsize,
              default=np.dtype(np.float64))
    if low.itemsize >= 8:
        return np.dtype(np.float64)
    return np.dtype(np.float16) if low.itemsize <= 2 else np.dtype(np.float32)


def unit_roundoff(precision: Any) -> float:
    return float(np.finfo(np.dtype(precision)).eps) / 2


def flat(precision: Any, gradients: bool = False) -> Tuple[float, float]:
    table = GRAD_FLAT if gradients else FLAT
    return table[precision_of(precision)]


@dataclasses.dataclass(frozen=True)
class Allowed:
    """What a comparison allows, element by element: ``atol + rtol * |expected| + slack``, judged where
    ``judged`` is True (None: everywhere). ``estimate`` is the smoothed error estimate behind ``slack``."""

    rtol: float
    atol: float
    slack: Optional[np.ndarray] = None
    judged: Optional[np.ndarray] = None
    estimate: Optional[np.ndarray] = None

    def scaled(self, factor: float) -> "Allowed":
        """The same with the slack multiplied (a comparison of two runs, each with its own rounding)."""
        slack = None if self.slack is None else self.slack * factor
        return dataclasses.replace(self, slack=slack)

    def part(self, index: Any) -> "Allowed":
        """The same for ``expected[index]`` (e.g. the last step of hs for h_T)."""
        def pick(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
            return None if a is None else a[index]

        return Allowed(self.rtol, self.atol, pick(self.slack), pick(self.judged), pick(self.estimate))


def _perturbed(a: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a * (1.0 + eps * rng.choice((-1.0, 1.0), a.shape))


def _perturbed_params(p: GRUParams, eps: float, rng: np.random.Generator) -> GRUParams:
    return GRUParams(**{k: _perturbed(v, eps, rng) for k, v in p.arrays().items()})


def _smooth(e: np.ndarray, axes: Tuple[int, ...]) -> np.ndarray:
    if e.size == 0:
        return e
    if not axes:
        return np.full_like(e, np.max(e))
    return np.broadcast_to(np.max(e, axis=axes, keepdims=True), e.shape).copy()


def _finite(e: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(e), e, np.inf)


def estimate(reference: Callable[..., Dict[str, np.ndarray]], inputs: Dict[str, Any],
             tiers: Iterable[Callable[..., Dict[str, np.ndarray]]], precision: Any, seed: int = 0,
             smoothing: Optional[Dict[str, Tuple[int, ...]]] = None, perturb: float = 0.0,
             samples: int = 2) -> Dict[str, np.ndarray]:
    """The smoothed error estimate of every output, for a computation in ``precision``.

    ``reference(**inputs)`` gives the float64 outputs by name; each of ``tiers``
    is called the same way and computes in ``precision`` (it casts);
    ``smoothing`` names the axes each output is smoothed over (default: its
    last axis). With ``perturb`` > 0, the reference on inputs each moved by
    ``perturb`` units of rounding of ``precision``, with random signs (seeded,
    so reproducible), gives ``samples`` more drifts: what the rounding of a dot
    product of n terms does (about sqrt(n) units of each term's size) where the
    tiers' own summation happens to round luckily. PyTorch's float32 GEMM
    rounds a pre-activation of ten terms near 1e4 ten times worse than NumPy's
    on some cases: a drift no other tier shows.
    """
    eps = unit_roundoff(precision)
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        exact = reference(**inputs)
        drifts = [{k: np.abs(np.asarray(v, dtype=np.float64) - exact[k]) for k, v in tier(**inputs).items()}
                  for tier in tiers]
        for _ in range(samples if perturb > 0 else 0):
            moved_inputs = {k: (v if v is None or isinstance(v, (bool, np.bool_)) else
                                _perturbed_params(v, perturb * eps, rng) if isinstance(v, GRUParams) else
                                _perturbed(v, perturb * eps, rng) if isinstance(v, np.ndarray) else v)
                            for k, v in inputs.items()}
            moved = reference(**moved_inputs)
            drifts.append({k: np.abs(v - exact[k]) for k, v in moved.items()})
        out = {}
        for name, value in exact.items():
            e = np.zeros(value.shape)
            for d in drifts:
                e = np.maximum(e, d[name])
            e = np.maximum(_finite(e), np.abs(value) * eps)
            axes = (smoothing or {}).get(name, (value.ndim - 1,) if value.ndim else ())
            out[name] = _smooth(_finite(e), axes)
    return out


def allowed_for(expected: np.ndarray, estimate_: Optional[np.ndarray], precision: Any, scale: float = 1.0,
                gradients: bool = False, rtol: Optional[float] = None, atol: Optional[float] = None) -> Allowed:
    """The ``Allowed`` of one comparison: flat tolerance of ``precision`` (or the user's ``rtol``/``atol``),
    plus ``SAFETY`` times the estimate, judged where that slack stays below ``UNJUDGEABLE * scale``."""
    frtol, fatol = flat(precision, gradients)
    rtol = frtol if rtol is None else rtol
    atol = (fatol * scale if gradients else fatol) if atol is None else atol
    if estimate_ is None:
        return Allowed(rtol, atol)
    slack = SAFETY * estimate_
    judged = slack <= UNJUDGEABLE * max(scale, 1.0)
    return Allowed(rtol, atol, slack, None if judged.all() else judged, estimate_)


def dot_rounding(case: Any, precision: Any) -> float:
    """How many units of rounding to move each input by in ``estimate``: sqrt(D + H + 1), the typical
    rounding of the pre-activations' dot products, for a float32 (or lower) computation; 0 in float64,
    whose own drift the tiers measure well."""
    if precision_of(precision).itemsize >= 8:
        return 0.0
    return float(np.sqrt(case.D + case.H + 1))


def rounding_only(allowed: Allowed, scale: float = 1.0) -> Allowed:
    """``allowed`` (a float32 comparison's) without float32's flat tolerance: what float32 rounding alone
    explains on the case, ``SAFETY`` times its estimate plus eight units of float32 roundoff (relative, and
    absolute at ``scale``). A float64 answer off by more than this is not "computed in float32": a bug
    with a small effect on the case is, and must not be passed off as precision."""
    u = 8 * unit_roundoff(np.float32)
    return dataclasses.replace(allowed, rtol=u, atol=u * max(scale, 1e-300))


__all__ = ["Allowed", "FLAT", "GRAD_FLAT", "SAFETY", "UNJUDGEABLE", "allowed_for", "dot_rounding", "estimate", "flat",
           "precision_of", "rounding_only", "unit_roundoff"]
