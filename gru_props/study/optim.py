"""Adam and gradient-norm clipping on dicts of NumPy arrays, as PyTorch does them.

Both work on ``Dict[str, np.ndarray]`` (parameter name -> array) and update
in place. The arithmetic follows ``torch.optim.Adam`` (bias-corrected moments,
``eps`` added to the corrected square root) and
``torch.nn.utils.clip_grad_norm_`` (one global L2 norm over every gradient,
scale ``max_norm / (norm + 1e-6)`` applied only when below 1), so a run here
and the same run in torch take the same steps up to rounding.

Both are sign-equivariant elementwise: negating a parameter block and its
gradients negates Adam's first moment and leaves the second unchanged, so the
update of the block is negated exactly (IEEE rounding is symmetric), and the
global norm is unchanged. The reversed-interpolation experiment relies on it.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Tuple

import numpy as np

__all__ = ["Adam", "clip_grad_norm", "global_norm"]


def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """The L2 norm of all gradients taken together (float64 accumulation)."""
    total = 0.0
    for g in grads.values():
        g64 = np.asarray(g, dtype=np.float64).ravel()
        total += float(np.dot(g64, g64))
    return math.sqrt(total)


def clip_grad_norm(grads: Dict[str, np.ndarray], max_norm: float) -> float:
    """Scale every gradient in place so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (like ``torch.nn.utils.clip_grad_norm_``).
    A non-finite norm leaves the gradients unchanged (the caller decides).

    Raises:
        ValueError: ``max_norm`` not a positive finite number.
    """
    if not (isinstance(max_norm, (int, float)) and math.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm: expected a positive finite number such as 1.0; got {max_norm!r}.")
    norm = global_norm(grads)
    if not math.isfinite(norm):
        return norm
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g *= g.dtype.type(coef)
    return norm


class Adam:
    """Adam (Kingma & Ba 2015) with PyTorch's defaults and arithmetic.

    ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)``; ``step(params,
    grads)`` updates every array of ``params`` in place from the gradient of
    the same name. Moments are kept in each parameter's dtype.

    Raises:
        ValueError: a non-positive or non-finite ``lr``/``eps``, betas outside
            [0, 1), or ``step`` given gradients whose names or shapes do not
            match the parameters.
    """

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr: expected a positive learning rate such as 1e-3; got {lr!r}.")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas: expected two numbers in [0, 1), e.g. (0.9, 0.999); got {betas!r}.")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps: expected a small positive number such as 1e-8; got {eps!r}.")
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.t = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: Dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """One update of every parameter, in place."""
        if set(grads) != set(self.m):
            raise ValueError(
                f"grads: expected gradients for exactly {sorted(self.m)}; got {sorted(grads)}."
            )
        self.t += 1
        b1, b2 = self.betas
        c1 = 1.0 - b1 ** self.t
        c2 = 1.0 - b2 ** self.t
        sqrt_c2 = math.sqrt(c2)
        for name, p in params.items():
            g = grads[name]
            if g.shape != p.shape:
                raise ValueError(f"grads[{name!r}]: expected shape {p.shape}; got {g.shape}.")
            m, v = self.m[name], self.v[name]
            dt = p.dtype.type
            m *= dt(b1)
            m += dt(1.0 - b1) * g
            v *= dt(b2)
            v += dt(1.0 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= dt(sqrt_c2)
            denom += dt(self.eps)
            p -= dt(self.lr / c1) * (m / denom)
