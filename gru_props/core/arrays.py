"""Turning what a caller passed into real NumPy arrays, and the dtype a computation runs in.

The first layer of every check of arguments (``gru_props.core.validation`` for the GRU tiers,
``gru_props.lstm`` for the LSTM, ``GRUParams`` for its fields): one kind of message everywhere.
Imports nothing from gru_props.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def describe_value(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def as_real_array(name: str, value: Any) -> np.ndarray:
    """Return ``value`` as a real numeric ndarray (no copy when possible).

    Raises ``TypeError`` naming ``name`` for complex, boolean, string, object
    or otherwise non-numeric input.
    """
    if value is None:
        raise TypeError(f"{name}: expected an array of real numbers, got None.")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"{name}: expected an array of real numbers, got {describe_value(value)} "
            f"that NumPy cannot turn into an array ({exc})."
        ) from None
    kind = arr.dtype.kind
    if kind == "b":
        raise TypeError(
            f"{name}: expected real numbers, got a boolean array of shape {arr.shape}; "
            f"convert it with .astype(float) if the values are meant as 0.0 and 1.0."
        )
    if kind == "c":
        raise TypeError(
            f"{name}: expected real numbers, got a complex array (dtype {arr.dtype}) of "
            f"shape {arr.shape}; a GRU is defined on real inputs, pass the real part explicitly."
        )
    if kind not in "fiu":
        raise TypeError(
            f"{name}: expected a numeric array (float32 or float64), got dtype "
            f"{arr.dtype} from {describe_value(value)}."
        )
    return arr


def compute_dtype(*dtypes: np.dtype) -> np.dtype:
    """The floating dtype a computation runs in.

    float32 stays float32 and float64 stays float64; mixing them gives float64.
    Integers are promoted to float64 and float16 to float32 (NumPy has no fast
    half-precision matrix product).
    """
    dt = np.result_type(*dtypes)
    if dt.kind in "iu":
        return np.dtype(np.float64)
    if dt == np.float16:
        return np.dtype(np.float32)
    return dt


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}.")
    return int(value)
