"""One comparison engine: tolerances per dtype and a torch-style mismatch summary.

Like ``torch.testing.assert_close`` it reports how many elements mismatch,
the greatest absolute and relative differences with their indices, and, like
``numpy.testing.assert_allclose``, the expected and received values at the
worst element. Unlike both it names indices in B/T/H terms.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import numpy as np


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
    unjudged: int = 0

    def allowed_text(self) -> str:
        """What was allowed at the worst element, in words."""
        return (f"up to {self.allowed_abs:.3g} allowed there: atol={self.atol:g} + rtol={self.rtol:g} * |expected|"
                + (" + the rounding this case itself causes" if self.allowed_abs > self.atol + self.rtol * abs(
                    self.expected_at_worst) * (1 + 1e-9) else ""))

    def format(self, axes: str = "") -> str:
        """Multi-line text in torch.testing's style; ``axes`` like "bth" names each index."""
        pct = 100.0 * self.mismatched / max(self.total, 1)
        lines = [
            f"Mismatched elements: {self.mismatched} / {self.total} ({pct:.1f}%)",
            f"Greatest absolute difference: {self.worst_abs:.6g} at "
            f"{_index(self.name, self.worst_abs_index, axes)} ({self.allowed_text()})",
            f"Greatest relative difference: {self.worst_rel:.6g} at "
            f"{_index(self.name, self.worst_rel_index, axes)}",
            f"  expected {self.name}{list(self.worst_abs_index)} = {self.expected_at_worst!r}",
            f"  got      {self.name}{list(self.worst_abs_index)} = {self.got_at_worst!r}",
        ]
        if self.unjudged:
            lines.append(f"({self.unjudged} element(s) not judged: there this case amplifies rounding so much "
                         "that a correct implementation could be anywhere)")
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
    judged: Optional[np.ndarray] = None,
    equal_nan: bool = False,
) -> Optional[Mismatch]:
    """``None`` if ``|got - expected| <= atol + rtol * |expected| + slack`` everywhere it is judged.

    ``slack`` (same shape, optional) widens the tolerance element by element
    (``engine.tolerance``: the rounding the case itself causes); ``judged``
    (a boolean mask, optional) leaves out elements that cannot be judged. A
    NaN or inf in ``got`` where ``expected`` is finite is always a mismatch;
    with ``equal_nan`` (two runs of the same function compared) NaN against
    NaN and inf against the same inf agree.
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
        if equal_nan:
            same = (np.isnan(got64) & np.isnan(exp64)) | (np.isinf(got64) & (got64 == exp64))
            diff = np.where(same, 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)
        bad = ~((diff <= allowed) | (diff == 0))  # equal values agree, whatever the tolerance (even NaN)
        unjudged = 0
        if judged is not None:
            judged = np.broadcast_to(judged, bad.shape)
            unjudged = int((~judged).sum())
            bad = bad & judged
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
        unjudged=unjudged,
    )


def compare_allowed(name: str, got: np.ndarray, expected: np.ndarray, allowed: Any,
                    equal_nan: bool = False) -> Optional[Mismatch]:
    """``compare`` with an ``engine.tolerance.Allowed``."""
    return compare(name, got, expected, allowed.rtol, allowed.atol, allowed.slack, allowed.judged, equal_nan)
