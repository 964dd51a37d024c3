"""ONNX's layout: ``onnx_layout`` (W, R, B of the GRU operator; gates z, r, h)."""

from __future__ import annotations

import functools
from typing import Any

from gru_props.adapters import maps
from gru_props.adapters.base import AS_DECORATOR, _check_bool, _check_fn
from gru_props.adapters.named import map_adapter
from gru_props.adapters.names import NameMap

_ONNX = {True: NameMap(maps.ONNX, "the ONNX layout"), False: NameMap(maps.ONNX_2D, "the ONNX layout")}


def onnx_layout(fn: Any = AS_DECORATOR, *, num_directions_axis: bool = False) -> Any:
    """Wrap a GRU written against the ONNX ``GRU`` operator's weights into ``fn(x, h0, params)``.

    Your function receives ``fn(x, h0, W, R, B)``: W (3H, D), R (3H, H) with
    rows in ONNX's gate order z, r, h, used as ``x @ W.T``; B (6H,) =
    [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h] (b_z and b_r split in halves between
    Wb and Rb, Rb_h = b_hn). With ``num_directions_axis=True`` they keep the
    operator's leading axis: (1, 3H, D), (1, 3H, H), (1, 6H). x and h0 are
    unchanged (batch-first); for the operator's default layout=0 add
    ``time_major``. The layout holds either convention (the operator's
    ``linear_before_reset``).

    Backward: grads a mapping with keys W, R, B or a tuple in that order (B
    may be left out), each with or without the leading axis.

    Raises:
        TypeError: ``fn`` is not callable; ``num_directions_axis`` is not a bool.
        ValueError: ``fn`` already has a parameter layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import onnx_layout, time_major
    >>> def onnx_gru(X, h0, W, R, B):          # X (T, B, D), as the operator's layout=0
    ...     H = R.shape[-1]
    ...     Wz, Wr, Wh = np.split(W[0], 3)
    ...     Rz, Rr, Rh = np.split(R[0], 3)
    ...     Wbz, Wbr, Wbh, Rbz, Rbr, Rbh = np.split(B[0], 6)
    ...     h, Y = h0, []
    ...     for x_t in X:
    ...         z = 1 / (1 + np.exp(-(x_t @ Wz.T + h @ Rz.T + Wbz + Rbz)))
    ...         r = 1 / (1 + np.exp(-(x_t @ Wr.T + h @ Rr.T + Wbr + Rbr)))
    ...         hh = np.tanh(x_t @ Wh.T + (r * h) @ Rh.T + Rbh + Wbh)
    ...         h = (1 - z) * hh + z * h
    ...         Y.append(h)
    ...     return np.stack(Y), h
    >>> fn = time_major(onnx_layout(onnx_gru, num_directions_axis=True))
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3))
    >>> hs, h_T = fn(x, np.zeros((2, 4)), params)
    >>> np.allclose(hs, gru_forward(x, None, params, reset_after=False)[0])
    True
    """
    num_directions_axis = _check_bool("onnx_layout", "num_directions_axis", num_directions_axis,
                                      "True: W (1, 3H, D) as the operator's inputs; False: (3H, D)")
    if fn is AS_DECORATOR:
        return functools.partial(onnx_layout, num_directions_axis=num_directions_axis)
    _check_fn("onnx_layout", fn, ", num_directions_axis=True")
    name = "onnx_layout(num_directions_axis=True)" if num_directions_axis else "onnx_layout"
    return map_adapter(fn, _ONNX[num_directions_axis], pass_as="args", name=name, kind="onnx_layout")
