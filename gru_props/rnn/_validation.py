"""Argument checks of the tanh RNN's functions, in the style of ``gru_props.lstm._validation``.

Every message names the argument, the shape expected in B/T/D/H terms and the
shape received, and says what to do when a common mistake is recognisable
(PyTorch's (num_layers, B, H) state, time-major x, a one-example array).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Tuple

import numpy as np

from gru_props.core.arrays import as_real_array, check_batch_state, check_sequence, check_upstream, compute_dtype
from gru_props.core.arrays import describe_value as _describe

if TYPE_CHECKING:  # pragma: no cover
    from gru_props.rnn._params import RNNParams


def check_params(params: Any) -> None:
    """Raise ``TypeError`` unless ``params`` is an ``RNNParams``."""
    from gru_props.rnn._params import RNNParams

    if not isinstance(params, RNNParams):
        hint = ""
        kind = type(params).__name__
        if kind == "GRUParams":
            hint = " A GRUParams holds a GRU's weights: use gru_props.gru_forward for it."
        elif kind == "LSTMParams":
            hint = " An LSTMParams holds an LSTM's weights: use gru_props.lstm.lstm_forward for it."
        raise TypeError(
            f"params: expected a gru_props.rnn.RNNParams, got {_describe(params)}. Build one "
            f"with RNNParams(W=..., U=..., b=...), RNNParams.random(D, H, seed=0), or "
            f"RNNParams.from_torch(rnn).{hint}"
        )


def _check_state(name: str, value: Any, x: np.ndarray, H: int) -> Optional[np.ndarray]:
    """A (B, H) array with B from x; None stays None (the caller makes zeros)."""
    if value is None:
        return None
    return check_batch_state(name, as_real_array(name, value), x, H, "RNN")


def check_rnn_forward_args(x: Any, h0: Any, params: "RNNParams") -> Tuple[np.ndarray, np.ndarray, np.dtype]:
    """Validate ``rnn_forward`` arguments.

    Returns ``(x, h0, dtype)``: x (B, T, D), h0 (B, H) (zeros of ``dtype``
    for None) and the dtype of the computation (float32 when every array is
    float32, float64 otherwise). Nothing is copied or written to.

    Raises:
        TypeError: ``params`` not an ``RNNParams``; an array that is not real
            and numeric.
        ValueError: wrong rank or a B, D or H that does not match.
    """
    check_params(params)
    x = check_sequence(x, params.D, params.H, "params.W")
    h = _check_state("h0", h0, x, params.H)
    dtype = compute_dtype(x.dtype, params.dtype, *(() if h is None else (h.dtype,)))
    if h is None:
        h = np.zeros((x.shape[0], params.H), dtype=dtype)
    return x, h, dtype


def check_rnn_backward_args(
    x: Any, h0: Any, params: "RNNParams", dhs: Any, dh_T: Any
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Validate ``rnn_backward`` arguments.

    Returns ``(x, h0, dhs, dh_T, dtype)`` with dhs (B, T, H) and dh_T (B, H)
    (zeros for None); ``dtype`` is float32 when every array (the upstream
    gradients included) is float32, float64 otherwise.

    Raises:
        TypeError / ValueError: as ``check_rnn_forward_args``, and for dhs or
            dh_T of the wrong kind or shape.
    """
    x, h0, dtype = check_rnn_forward_args(x, h0, params)
    B, T, _ = x.shape
    H = params.H
    dhs_arr = check_upstream(dhs, x, H)
    dh = _check_state("dh_T", dh_T, x, H)
    dtype = compute_dtype(dtype, dhs_arr.dtype, *(() if dh is None else (dh.dtype,)))
    if dh is None:
        dh = np.zeros((B, H), dtype=dtype)
    return x, h0, dhs_arr, dh, dtype
