"""Level 1 with the sigmoid written the textbook way, ``1 / (1 + exp(-a))``: another correct rounding.

The tiers compute the sigmoid as ``0.5 * tanh(0.5 * a) + 0.5`` (``core.numerics``), which in float32
happens to round a saturated gate well: ``sigmoid(13.5)`` is 0.99999863, so ``1 - z`` is 1.3709e-6, 0.02 %
from the exact 1.37097e-6. PyTorch, and most hand-written GRUs, compute ``1 / (1 + exp(-a))``, which
rounds the same gate one unit lower (0.99999857), and ``1 - z`` becomes 1.4305e-6, 4.3 % off. Both are
correct float32; a gradient proportional to ``1 - z`` (dW_n at a saturated update gate) inherits the
difference. The tolerance estimate (``engine.tolerance.estimate``) takes the largest drift of several
float32 computations, so it includes this one: ``textbook.gru_forward`` / ``textbook.gru_backward`` are
Level 1's functions, the same code, with only the sigmoid exchanged (``stack_textbook``: the readable
stack over them).
"""

from __future__ import annotations

import types
from typing import Any, Dict

import numpy as np

from gru_props.tiers import level1
from gru_props.tiers import stack as _stack


def textbook_sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` in the dtype of ``a`` (overflow of exp gives the right limit, 0)."""
    with np.errstate(over="ignore"):
        return np.asarray(1 / (1 + np.exp(-a)), dtype=np.asarray(a).dtype)


def _rebound(module: types.ModuleType, **names: Any) -> types.SimpleNamespace:
    """The module's functions with ``names`` exchanged in their globals (a copy: the module is untouched, so
    other threads calling it are not affected)."""
    env: Dict[str, Any] = dict(vars(module))
    env.update(names)
    for key, value in list(env.items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            fn = types.FunctionType(value.__code__, env, value.__name__, value.__defaults__, value.__closure__)
            fn.__kwdefaults__ = value.__kwdefaults__
            fn.__doc__ = value.__doc__
            env[key] = fn
    return types.SimpleNamespace(**{k: v for k, v in env.items() if not k.startswith("__")})


#: Level 1 with the textbook sigmoid: ``textbook.gru_forward``, ``textbook.gru_backward``, ``textbook.gru_step``.
textbook = _rebound(level1, sigmoid=textbook_sigmoid)
#: The readable stack over it: ``stack_textbook.readable_forward``, ``stack_textbook.readable_backward``.
stack_textbook = _rebound(_stack, level1=textbook)

__all__ = ["stack_textbook", "textbook", "textbook_sigmoid"]
