"""Keras' layout: ``keras_layout`` (kernel, recurrent_kernel, bias; gates z, r, h)."""

from __future__ import annotations

import functools
from typing import Any

from gru_props.adapters import maps
from gru_props.adapters.base import AS_DECORATOR, _check_bool, _check_fn
from gru_props.adapters.named import map_adapter
from gru_props.adapters.names import NameMap
from gru_props.adapters.stacked import KerasScheme

_KERAS = {True: NameMap(maps.KERAS, "the Keras layout"),
          False: NameMap(maps.KERAS_RESET_BEFORE, "the Keras layout (reset_after=False)")}


def keras_layout(fn: Any = AS_DECORATOR, *, reset_after: bool = True) -> Any:
    """Wrap a GRU written against Keras 3's weights into ``fn(x, h0, params)``.

    Your function receives ``fn(x, h0, kernel, recurrent_kernel, bias)``:
    kernel (D, 3H) and recurrent_kernel (H, 3H) with columns in Keras' gate
    order z, r, h, used as ``x @ kernel``. With ``reset_after=True`` (Keras 3's
    default) bias is (2, 3H): row 0 the input bias, row 1 the recurrent bias
    (b_z and b_r split in halves between the rows, b_hn in row 1's h part);
    the layout holds either convention. With ``reset_after=False`` bias is
    (3H,), its h part b_n + b_hn, which is exact only in that convention: the
    wrapper requires ``reset_after=False`` of the check.

    ``keras_layout(reset_after=False)`` without ``fn`` returns a decorator.

    Backward: ``fn(x, h0, kernel, recurrent_kernel, bias, dhs, dh_T)`` returns
    ``(dx, dh0, grads)``, grads a mapping with keys kernel, recurrent_kernel,
    bias or a tuple in that order (bias may be left out).

    Raises:
        TypeError: ``fn`` is not callable; ``reset_after`` is not a bool.
        ValueError: ``fn`` already has a parameter layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import keras_layout
    >>> def cell(x_t, h, kernel, recurrent_kernel, bias):
    ...     H = h.shape[1]
    ...     xz, xr, xh = np.split(x_t @ kernel + bias, 3, axis=1)
    ...     z = 1 / (1 + np.exp(-(xz + h @ recurrent_kernel[:, :H])))
    ...     r = 1 / (1 + np.exp(-(xr + h @ recurrent_kernel[:, H:2 * H])))
    ...     hh = np.tanh(xh + (r * h) @ recurrent_kernel[:, 2 * H:])
    ...     return z * h + (1 - z) * hh
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.full((2, 4), 0.5)
    >>> h1 = keras_layout(cell, reset_after=False)(x, h0, params)
    >>> np.allclose(h1, gru_forward(x[:, None], h0, params, reset_after=False)[1])
    True
    """
    reset_after = _check_bool("keras_layout", "reset_after", reset_after,
                              "True: bias (2, 3H), Keras 3's default; False: bias (3H,)")
    if fn is AS_DECORATOR:
        return functools.partial(keras_layout, reset_after=reset_after)
    _check_fn("keras_layout", fn, ", reset_after=False")
    name = "keras_layout" if reset_after else "keras_layout(reset_after=False)"
    return map_adapter(fn, _KERAS[reset_after], pass_as="args", name=name, kind="keras_layout", scheme=KerasScheme())
# ==================================================================== ONNX
