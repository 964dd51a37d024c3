"""ONNX's layout: ``onnx_layout`` (W, R, B of the GRU operator; gates z, r, h)."""

from __future__ import annotations

import functools
from typing import Any, Dict, Mapping, Tuple

import numpy as np

from gru_props.adapters.base import (
    AS_DECORATOR,
    _any_writable,
    _backward_triple,
    _bias_why,
    _check_bool,
    _check_fn,
    _dims,
    _gates,
    _grad_array,
    _invoke,
    _named,
    _params_arrays,
    _tied,
    _to_numpy,
    _wrap,
    _write_back,
    describe,
)


def _onnx_arrays(f: Mapping[str, np.ndarray], axis: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    W = np.ascontiguousarray(np.concatenate([f["W_z"], f["W_r"], f["W_n"]], axis=1).T)
    R = np.ascontiguousarray(np.concatenate([f["U_z"], f["U_r"], f["U_n"]], axis=1).T)
    half_z, half_r = 0.5 * f["b_z"], 0.5 * f["b_r"]
    B = np.concatenate([f["b_z"] - half_z, f["b_r"] - half_r, f["b_n"], half_z, half_r, f["b_hn"]])
    return (W[None], R[None], B[None]) if axis else (W, R, B)


def _onnx_values(H: int, W: Any, R: Any, B: Any, axis: bool) -> Dict[str, np.ndarray]:
    if axis:
        W, R, B = W[0], R[0], B[0]
    g = _gates(H)
    out = {f"W_{k}": W[s].T for k, s in g.items()}
    out.update({f"U_{k}": R[s].T for k, s in g.items()})
    out.update(b_z=B[g["z"]] + B[3 * H:4 * H], b_r=B[g["r"]] + B[4 * H:5 * H], b_n=B[g["n"]],
               b_hn=B[5 * H:])
    return out


def _onnx_grads(expr: str, grads: Any, D: int, H: int) -> Dict[str, np.ndarray]:
    items = _named(expr, grads, ("W", "R", "B"), ("B",), "the ONNX layout")

    def arr(name: str, shape: Tuple[int, ...]) -> np.ndarray:
        value = _to_numpy(items[name])
        if getattr(value, "shape", None) == (1,) + shape:  # with the num_directions axis
            value = value[0]
        return _grad_array(expr, name, value, shape, f"like {name} {shape} (or (1,) + that)")

    g = _gates(H)
    W, R = arr("W", (3 * H, D)), arr("R", (3 * H, H))
    out = {f"W_{k}": W[s].T for k, s in g.items()}
    out.update({f"U_{k}": R[s].T for k, s in g.items()})
    if "B" in items:
        B = arr("B", (6 * H,))
        for gate, k in (("z", 0), ("r", 1)):
            out[f"b_{gate}"] = _tied(expr, f"b_{gate}", f"Wb_{gate}", B[k * H:(k + 1) * H],
                                     f"Rb_{gate}", B[(k + 3) * H:(k + 4) * H],
                                     _bias_why(gate, f"Wb_{gate}", f"Rb_{gate}"))
        out.update(b_n=B[2 * H:3 * H], b_hn=B[5 * H:])
    return out


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
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        user = _onnx_arrays(f, num_directions_axis)
        out = _invoke(fn, x, h0, user, bargs)
        if _any_writable(f):
            _write_back(f, _onnx_values(H, *_onnx_arrays(f, num_directions_axis), axis=num_directions_axis),
                        _onnx_values(H, user[0], user[1], user[2], axis=num_directions_axis))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        return dx, dh0, _onnx_grads(expr, grads, D, H)

    name = "onnx_layout(num_directions_axis=True)" if num_directions_axis else "onnx_layout"
    wrapper = _wrap(fn, name=name, kind="onnx_layout", role="layout", call=call)
    expr = describe(wrapper)
    return wrapper


# ======================================================= concatenated [h, x]
