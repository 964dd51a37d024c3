"""``cache_backward``: a CS231n-style backward pass that needs its forward's cache."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from gru_props.adapters.base import ADAPTER_ATTR, REQUIRES_ATTR, _callable_name, _describe_value


def cache_backward(backward: Callable[..., Any], forward: Callable[..., Any]) -> Callable[..., Any]:
    """A backward pass written CS231n-style, ``forward`` returning a cache and ``backward(dout, cache)``.

    ``forward(x, h0, *weights) -> (hs, cache)`` and ``backward(dhs, cache) ->
    (dx, dh0, grads)``, with x (B, T, D), hs and dhs (B, T, H): the wrapper is
    the canonical ``backward_fn(x, h0, *weights, dhs, dh_T)`` that
    ``check_gradients`` calls. It runs your forward, folds dL/dh_T into the last
    step's dL/dh (``dhs[:, -1] += dh_T``, since h_T is hs[:, -1]) and calls your
    backward; with T = 0 (no step) it adds dh_T to the dh0 your backward returns.
    ``*weights`` is what the check passes (a ``GRUParams``) or, under a layout
    adapter, that layout's arrays: ``torch_layout(cache_backward(bwd, fwd))``.

    >>> import numpy as np
    >>> from gru_props import check_gradients, level3
    >>> def my_forward(x, h0, params):                 # keeps what the backward needs
    ...     hs, _ = level3.gru_forward(x, h0, params)
    ...     return hs, (x, h0, params)
    >>> def my_backward(dhs, cache):
    ...     x, h0, params = cache
    ...     return level3.gru_backward(x, h0, params, dhs)
    >>> report = check_gradients(cache_backward(my_backward, my_forward), reset_after=False,
    ...                          profile="ci", max_examples=5)
    >>> report.kind
    'gradients'
    """
    if not callable(backward):
        raise TypeError(f"cache_backward: expected your backward(dhs, cache) as the first argument, got "
                        f"{backward!r}.")
    if not callable(forward):
        raise TypeError(f"cache_backward: expected your forward(x, h0, ...) -> (hs, cache) as the second "
                        f"argument, got {forward!r}.")

    @functools.wraps(backward)
    def wrapper(x: Any, h0: Any, *rest: Any) -> Any:
        if len(rest) < 3:
            raise TypeError(
                f"cache_backward({_callable_name(backward)}): expected a backward call (x, h0, params, dhs, "
                f"dh_T); got {2 + len(rest)} arguments. It wraps a backward pass: check it with "
                "check_gradients, not check_implementation."
            )
        *weights, dhs, dh_T = rest
        out = forward(x, h0, *weights)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"cache_backward: {_callable_name(forward)} must return (hs, cache); it returned "
                            f"{_describe_value(out)}.")
        _, cache = out
        T = np.shape(x)[1]
        dout = np.array(dhs, copy=True)
        if dh_T is not None and T:
            dout[:, -1] = dout[:, -1] + np.asarray(dh_T)
        result = backward(dout, cache)
        if dh_T is not None and not T and isinstance(result, tuple) and len(result) == 3:
            d = result[1]  # often the Python 0 a loop that never ran leaves: it must keep dh_T's dtype
            result = (result[0], np.asarray(dh_T) + (d if isinstance(d, (int, float)) else np.asarray(d)), result[2])
        return result

    setattr(wrapper, ADAPTER_ATTR, f"cache_backward(forward={_callable_name(forward)})")
    setattr(wrapper, REQUIRES_ATTR, {"step": False})
    return wrapper
