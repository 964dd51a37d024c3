"""Argument checks of the LSTM functions, in the style of ``gru_props.core.validation``.

Every message names the argument, the shape expected in B/T/D/H terms and the
shape received, and says what to do when a common mistake is recognisable
(PyTorch's ``(h0, c0)`` tuple, its (num_layers, B, H) states, time-major x).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from gru_props.core.arrays import as_real_array, compute_dtype, describe_value

if TYPE_CHECKING:  # pragma: no cover
    from gru_props.lstm._params import LSTMParams


def check_params(params: Any) -> None:
    """Raise ``TypeError`` unless ``params`` is an ``LSTMParams``."""
    from gru_props.lstm._params import LSTMParams

    if not isinstance(params, LSTMParams):
        hint = ""
        if type(params).__name__ == "GRUParams":
            hint = " A GRUParams holds a GRU's weights: use gru_props.gru_forward for it."
        raise TypeError(
            f"params: expected a gru_props.lstm.LSTMParams, got {describe_value(params)}. Build one "
            f"with LSTMParams(W_i=..., ...), LSTMParams.random(D, H, seed=0), or a converter: "
            f"LSTMParams.from_torch / from_keras / from_onnx.{hint}"
        )


def _check_x(x: Any, params: "LSTMParams") -> np.ndarray:
    D, H = params.D, params.H
    arr = as_real_array("x", x)
    if arr.ndim != 3:
        hint = ""
        if arr.ndim == 2:
            hint = " For one example add the batch axis (x[None]); for one time step add the time axis (x[:, None, :])."
        raise ValueError(
            f"x: expected a 3-D array of shape (B, T, D) with D = {D}; got a {arr.ndim}-D "
            f"array of shape {arr.shape}.{hint}"
        )
    if arr.shape[-1] != D:
        raise ValueError(
            f"x: expected shape (B, T, D) with D = {D} (params.W_i is (D, H) = ({D}, {H})); "
            f"got {arr.shape}."
        )
    return arr


def _as_state(name: str, value: Any) -> Optional[np.ndarray]:
    if value is None:
        return None
    if isinstance(value, tuple) and len(value) == 2 and name in ("h0", "c0"):
        raise TypeError(
            f"{name}: expected an array of shape (B, H) or None; got a tuple of two. PyTorch "
            f"passes the state as one tuple (h0, c0); here they are separate arguments: "
            f"lstm_forward(x, h0, c0, params)."
        )
    return as_real_array(name, value)


def _check_state(name: str, arr: Optional[np.ndarray], x: np.ndarray, H: int,
                 dtype: np.dtype) -> np.ndarray:
    """A (B, H) state with B from x; None means zeros of ``dtype``."""
    B, T, _ = x.shape
    if arr is None:
        return np.zeros((B, H), dtype=dtype)
    if arr.shape == (B, H):
        return arr
    hint = ""
    if arr.shape == (H,):
        hint = f" Add the batch axis: {name}[None, :] for B = 1."
    elif arr.ndim == 3 and arr.shape[1:] == (B, H):
        hint = (
            f" This looks like PyTorch's (num_layers, B, H) state; pass {name}[0] for a "
            f"single-layer LSTM."
        )
    elif arr.ndim == 2 and arr.shape == (T, H) and T != B:
        hint = (
            f" {name} has x's second axis as its batch: is x time-major (T, B, D)? "
            f"gru_props expects batch-first x; pass x.transpose(1, 0, 2)."
        )
    raise ValueError(
        f"{name}: expected shape (B, H) = ({B}, {H}), B read from x of shape (B, T, D) = "
        f"{x.shape}; got {arr.shape}.{hint}"
    )


def check_lstm_forward_args(
    x: Any, h0: Any, c0: Any, params: "LSTMParams"
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Validate ``lstm_forward`` arguments.

    Returns ``(x, h0, c0, dtype)``: x (B, T, D), h0 and c0 (B, H) (zeros of
    ``dtype`` for None) and the dtype of the computation (float32 when every
    array is float32, float64 otherwise). Nothing is copied or written to.

    Raises:
        TypeError: ``params`` not an ``LSTMParams``; an array that is not real
            and numeric; a ``(h0, c0)`` tuple passed as one argument.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    check_params(params)
    x = _check_x(x, params)
    h0, c0 = _as_state("h0", h0), _as_state("c0", c0)
    dtype = compute_dtype(x.dtype, params.dtype, *(a.dtype for a in (h0, c0) if a is not None))
    H = params.H
    return x, _check_state("h0", h0, x, H, dtype), _check_state("c0", c0, x, H, dtype), dtype


def check_lstm_backward_args(
    x: Any, h0: Any, c0: Any, params: "LSTMParams", dhs: Any, dh_T: Any, dc_T: Any
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Validate ``lstm_backward`` arguments.

    Returns ``(x, h0, c0, dhs, dh_T, dc_T, dtype)`` with dhs (B, T, H) and
    dh_T, dc_T (B, H) (zeros for None); ``dtype`` is float32 when every array
    (the upstream gradients included) is float32, float64 otherwise.

    Raises:
        TypeError / ValueError: as ``check_lstm_forward_args``, and for dhs,
            dh_T or dc_T of the wrong kind or shape.
    """
    x, h0, c0, dtype = check_lstm_forward_args(x, h0, c0, params)
    B, T, _ = x.shape
    H = params.H
    dhs_arr = as_real_array("dhs", dhs)
    if dhs_arr.shape != (B, T, H):
        hint = ""
        if dhs_arr.shape == (T, B, H) and T != B:
            hint = " dhs looks time-major (T, B, H); pass dhs.transpose(1, 0, 2)."
        elif dhs_arr.shape == (B, H):
            hint = (" That is the shape of a gradient of the final state: pass it as dh_T and "
                    "np.zeros((B, T, H)) as dhs.")
        raise ValueError(
            f"dhs: expected shape (B, T, H) = ({B}, {T}, {H}) (dL/dhs, the shape of hs), B and T "
            f"read from x of shape {x.shape}; got {dhs_arr.shape}.{hint}"
        )
    dh_arr, dc_arr = _as_state("dh_T", dh_T), _as_state("dc_T", dc_T)
    dtype = compute_dtype(dtype, dhs_arr.dtype, *(a.dtype for a in (dh_arr, dc_arr) if a is not None))
    dh_arr = _check_state("dh_T", dh_arr, x, H, dtype)
    dc_arr = _check_state("dc_T", dc_arr, x, H, dtype)
    return x, h0, c0, dhs_arr, dh_arr, dc_arr, dtype
