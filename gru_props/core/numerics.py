"""Elementwise functions shared by the tiers."""

from __future__ import annotations

from typing import Optional

import numpy as np


def sigmoid(a: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-a))`` that never overflows or warns.

    Computed as ``0.5 * tanh(0.5 * a) + 0.5``, which is the same function
    (``tanh(a/2) = (1 - e^-a) / (1 + e^-a)``) but bounded at every step: no
    ``exp`` of a large number, so ``a = -1e4`` gives 0.0 with no
    RuntimeWarning, in float32 and float64 alike. The absolute error is at most
    a couple of ulps of 1.

    ``out`` may be ``a`` itself for an in-place update; the dtype follows ``a``.
    """
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out
