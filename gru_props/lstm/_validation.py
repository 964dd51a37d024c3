"""Argument checks of the LSTM functions, in the style of ``gru_props.core.validation``.

Every message names the argument, the shape expected in B/T/D/H terms and the
shape received, and says what to do when a common mistake is recognisable
(PyTorch's ``(h0, c0)`` tuple, its (num_layers, B, H) states, time-major x).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from gru_props.core.arrays import (
    as_real_array,
    check_batch_state,
    check_sequence,
    check_upstream,
    compute_dtype,
    describe_value,
)

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
    if arr is None:
        return np.zeros((x.shape[0], H), dtype=dtype)
    return check_batch_state(name, arr, x, H, "LSTM")


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
    x = check_sequence(x, params.D, params.H, "params.W_i")
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
    dhs_arr = check_upstream(dhs, x, H)
    dh_arr, dc_arr = _as_state("dh_T", dh_T), _as_state("dc_T", dc_T)
    dtype = compute_dtype(dtype, dhs_arr.dtype, *(a.dtype for a in (dh_arr, dc_arr) if a is not None))
    dh_arr = _check_state("dh_T", dh_arr, x, H, dtype)
    dc_arr = _check_state("dc_T", dc_arr, x, H, dtype)
    return x, h0, c0, dhs_arr, dh_arr, dc_arr, dtype
