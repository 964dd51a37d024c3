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


# ------------------------------------------------ the sequence arguments of a one-layer recurrent net
def check_sequence(x: Any, D: int, H: int, weight: str) -> np.ndarray:
    """x as a real (B, T, D) array; ``weight`` names the (D, H) parameter the message cites (``params.W_i``).

    Raises:
        TypeError: x is not real and numeric.
        ValueError: x is not 3-D, or its last axis is not D.
    """
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
        raise ValueError(f"x: expected shape (B, T, D) with D = {D} ({weight} is (D, H) = ({D}, {H})); "
                         f"got {arr.shape}.")
    return arr


def check_batch_state(name: str, arr: np.ndarray, x: np.ndarray, H: int, net: str) -> np.ndarray:
    """``arr`` if it is (B, H) with B from x (B, T, D); else a ``ValueError`` naming the likely slip (a
    missing batch axis, PyTorch's (num_layers, B, H) state of a single-layer ``net``, time-major x)."""
    B, T, _ = x.shape
    if arr.shape == (B, H):
        return arr
    hint = ""
    if arr.shape == (H,):
        hint = f" Add the batch axis: {name}[None, :] for B = 1."
    elif arr.ndim == 3 and arr.shape[1:] == (B, H):
        hint = f" This looks like PyTorch's (num_layers, B, H) state; pass {name}[0] for a single-layer {net}."
    elif arr.ndim == 2 and arr.shape == (T, H) and T != B:
        hint = (f" {name} has x's second axis as its batch: is x time-major (T, B, D)? "
                f"gru_props expects batch-first x; pass x.transpose(1, 0, 2).")
    raise ValueError(
        f"{name}: expected shape (B, H) = ({B}, {H}), B read from x of shape (B, T, D) = "
        f"{x.shape}; got {arr.shape}.{hint}"
    )


def check_upstream(dhs: Any, x: np.ndarray, H: int) -> np.ndarray:
    """dL/dhs as a real (B, T, H) array, B and T from x; ``ValueError`` names time-major or a final state's
    gradient passed in its place."""
    B, T, _ = x.shape
    arr = as_real_array("dhs", dhs)
    if arr.shape != (B, T, H):
        hint = ""
        if arr.shape == (T, B, H) and T != B:
            hint = " dhs looks time-major (T, B, H); pass dhs.transpose(1, 0, 2)."
        elif arr.shape == (B, H):
            hint = (" That is the shape of a gradient of the final state: pass it as dh_T and "
                    "np.zeros((B, T, H)) as dhs.")
        raise ValueError(
            f"dhs: expected shape (B, T, H) = ({B}, {T}, {H}) (dL/dhs, the shape of hs), B and T "
            f"read from x of shape {x.shape}; got {arr.shape}.{hint}"
        )
    return arr
