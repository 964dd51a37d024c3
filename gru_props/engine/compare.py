"""One comparison engine: tolerances per dtype and a torch-style mismatch summary.

Like ``torch.testing.assert_close`` it reports how many elements mismatch,
the greatest absolute and relative differences with their indices, and, like
``numpy.testing.assert_allclose``, the expected and received values at the
worst element. Unlike both it names indices in B/T/H terms.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

#: (rtol, atol) by the dtype of the output under test. float32 follows
#: torch.testing's defaults; float64 is tight enough to catch any real bug
#: while leaving room for a different summation order.
TOLERANCES = {
    np.dtype(np.float64): (1e-7, 1e-7),
    np.dtype(np.float32): (1.3e-6, 1e-5),
}


def tolerance_for(dtype: np.dtype) -> Tuple[float, float]:
    """(rtol, atol) for an output of ``dtype``; anything below float64 counts as float32."""
    dtype = np.dtype(dtype)
    if dtype in TOLERANCES:
        return TOLERANCES[dtype]
    return TOLERANCES[np.dtype(np.float32 if dtype.itemsize < 8 else np.float64)]


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """How ``got`` differs from ``expected`` (both the same shape).

    ``worst_abs_index`` and ``worst_rel_index`` are tuples into the arrays.
    """

    name: str
    shape: Tuple[int, ...]
    mismatched: int
    total: int
    worst_abs: float
    worst_abs_index: Tuple[int, ...]
    worst_rel: float
    worst_rel_index: Tuple[int, ...]
    expected_at_worst: float
    got_at_worst: float
    allowed_abs: float
    rtol: float
    atol: float

    def format(self, axes: str = "") -> str:
        """Multi-line text in torch.testing's style; ``axes`` like "bth" names each index."""
        pct = 100.0 * self.mismatched / max(self.total, 1)
        lines = [
            f"Mismatched elements: {self.mismatched} / {self.total} ({pct:.1f}%)",
            f"Greatest absolute difference: {self.worst_abs:.6g} at "
            f"{_index(self.name, self.worst_abs_index, axes)} (up to {self.allowed_abs:.3g} allowed "
            f"there: atol={self.atol:g} + rtol={self.rtol:g} * |expected|)",
            f"Greatest relative difference: {self.worst_rel:.6g} at "
            f"{_index(self.name, self.worst_rel_index, axes)}",
            f"  expected {self.name}{list(self.worst_abs_index)} = {self.expected_at_worst!r}",
            f"  got      {self.name}{list(self.worst_abs_index)} = {self.got_at_worst!r}",
        ]
        return "\n".join(lines)


def _index(name: str, idx: Tuple[int, ...], axes: str) -> str:
    text = f"{name}[{', '.join(str(i) for i in idx)}]"
    if axes and len(axes) == len(idx):
        text += " (" + ", ".join(f"{a}={i}" for a, i in zip(axes, idx)) + ")"
    return text


def compare(
    name: str,
    got: np.ndarray,
    expected: np.ndarray,
    rtol: float,
    atol: float,
    slack: Optional[np.ndarray] = None,
) -> Optional[Mismatch]:
    """``None`` if ``|got - expected| <= atol + rtol * |expected| + slack`` everywhere.

    ``slack`` (same shape, optional) widens the tolerance element by element:
    the checker sets it from how far float32 rounding moves the reference
    itself, so ill-conditioned elements do not cause false alarms. A NaN or
    inf in ``got`` where ``expected`` is finite is always a mismatch.
    """
    got64 = np.asarray(got, dtype=np.float64)
    exp64 = np.asarray(expected, dtype=np.float64)
    if got64.shape != exp64.shape:
        raise ValueError(f"{name}: shapes differ, {got64.shape} vs {exp64.shape}")
    if got64.size == 0:
        return None
    allowed = atol + rtol * np.abs(exp64)
    if slack is not None:
        allowed = allowed + slack
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(got64 - exp64)
        diff = np.where(np.isnan(diff), np.inf, diff)
        bad = ~(diff <= allowed)
        if not bad.any():
            return None
        rel = np.where(exp64 == 0, np.where(diff == 0, 0.0, np.inf), diff / np.abs(exp64))
    excess = np.where(bad, diff - allowed, -np.inf)
    i_abs = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), diff.shape)
    if not np.isfinite(excess).any():  # several inf: take the first
        i_abs = np.unravel_index(int(np.argmax(bad)), diff.shape)
    i_rel = np.unravel_index(int(np.argmax(np.where(bad, rel, -1.0))), diff.shape)
    return Mismatch(
        name=name,
        shape=tuple(got64.shape),
        mismatched=int(bad.sum()),
        total=int(bad.size),
        worst_abs=float(diff[i_abs]),
        worst_abs_index=tuple(int(i) for i in i_abs),
        worst_rel=float(rel[i_rel]),
        worst_rel_index=tuple(int(i) for i in i_rel),
        expected_at_worst=float(exp64[i_abs]),
        got_at_worst=float(np.asarray(got)[i_abs]),
        allowed_abs=float(allowed[i_abs]),
        rtol=rtol,
        atol=atol,
    )
