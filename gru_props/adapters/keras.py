"""Keras' layout: ``keras_layout`` (kernel, recurrent_kernel, bias; gates z, r, h)."""

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
    _wrap,
    _write_back,
    describe,
)


def _keras_arrays(f: Mapping[str, np.ndarray], reset_after: bool) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    kernel = np.concatenate([f["W_z"], f["W_r"], f["W_n"]], axis=1)
    recurrent = np.concatenate([f["U_z"], f["U_r"], f["U_n"]], axis=1)
    if reset_after:
        half_z, half_r = 0.5 * f["b_z"], 0.5 * f["b_r"]
        bias = np.stack([np.concatenate([f["b_z"] - half_z, f["b_r"] - half_r, f["b_n"]]),
                         np.concatenate([half_z, half_r, f["b_hn"]])])
    else:
        bias = np.concatenate([f["b_z"], f["b_r"], f["b_n"] + f["b_hn"]])
    return kernel, recurrent, bias


def _keras_values(H: int, reset_after: bool, kernel: Any, recurrent: Any, bias: Any,
                  b_hn: np.ndarray) -> Dict[str, np.ndarray]:
    g = _gates(H)
    out = {f"W_{k}": kernel[:, s] for k, s in g.items()}
    out.update({f"U_{k}": recurrent[:, s] for k, s in g.items()})
    if reset_after:
        out.update(b_z=bias[0, g["z"]] + bias[1, g["z"]], b_r=bias[0, g["r"]] + bias[1, g["r"]],
                   b_n=bias[0, g["n"]], b_hn=bias[1, g["n"]])
    else:
        out.update(b_z=bias[g["z"]], b_r=bias[g["r"]], b_n=bias[g["n"]] - b_hn)
    return out


def _keras_grads(expr: str, grads: Any, D: int, H: int, reset_after: bool) -> Dict[str, np.ndarray]:
    items = _named(expr, grads, ("kernel", "recurrent_kernel", "bias"), ("bias",), "the Keras layout")
    g = _gates(H)
    kernel = _grad_array(expr, "kernel", items["kernel"], (D, 3 * H), "like kernel (D, 3H)")
    recurrent = _grad_array(expr, "recurrent_kernel", items["recurrent_kernel"], (H, 3 * H),
                            "like recurrent_kernel (H, 3H)")
    out = {f"W_{k}": kernel[:, s] for k, s in g.items()}
    out.update({f"U_{k}": recurrent[:, s] for k, s in g.items()})
    if "bias" not in items:
        return out
    if reset_after:
        bias = _grad_array(expr, "bias", items["bias"], (2, 3 * H), "like bias (2, 3H)")
        for gate in ("z", "r"):
            out[f"b_{gate}"] = _tied(expr, f"b_{gate}", f"bias[0, {gate}]", bias[0, g[gate]],
                                     f"bias[1, {gate}]", bias[1, g[gate]],
                                     _bias_why(gate, "the input bias", "the recurrent bias"))
        out.update(b_n=bias[0, g["n"]], b_hn=bias[1, g["n"]])
    else:
        bias = _grad_array(expr, "bias", items["bias"], (3 * H,), "like bias (3H,)")
        # One candidate bias stands for b_n + b_hn: both get its gradient.
        out.update(b_z=bias[g["z"]], b_r=bias[g["r"]], b_n=bias[g["n"]], b_hn=bias[g["n"]].copy())
    return out


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
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        user = _keras_arrays(f, reset_after)
        out = _invoke(fn, x, h0, user, bargs)
        if _any_writable(f):
            _write_back(f, _keras_values(H, reset_after, *_keras_arrays(f, reset_after), b_hn=f["b_hn"]),
                        _keras_values(H, reset_after, user[0], user[1], user[2], b_hn=f["b_hn"]))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        return dx, dh0, _keras_grads(expr, grads, D, H, reset_after)

    name = "keras_layout" if reset_after else "keras_layout(reset_after=False)"
    wrapper = _wrap(fn, name=name, kind="keras_layout", role="layout", call=call,
                    requires={} if reset_after else {"reset_after": False})
    expr = describe(wrapper)
    return wrapper


# ==================================================================== ONNX
