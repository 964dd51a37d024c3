"""Argument checking shared by every tier.

Every public entry point funnels its arguments through here, so that a wrong
shape or dtype gets one kind of message everywhere: which argument, the shape
expected in B/T/D/H terms, and the shape received.
"""

from __future__ import annotations

import warnings
from typing import Any, Tuple

import numpy as np

from gru_props.core.arrays import as_real_array, compute_dtype, describe_value
from gru_props.core.params import GRUParams


def _shape_error(name: str, expected: str, got: Tuple[int, ...], hint: str = "") -> ValueError:
    msg = f"{name}: expected shape {expected}; got {got}."
    if hint:
        msg += " " + hint
    return ValueError(msg)


def check_hidden(
    name: str, h: Any, B: int, H: int, dtype: np.dtype
) -> np.ndarray:
    """Validate an initial/previous hidden state of shape (B, H); None means zeros."""
    if h is None:
        return np.zeros((B, H), dtype=dtype)
    arr = as_real_array(name, h)
    if arr.shape != (B, H):
        hint = ""
        if arr.ndim == 1 and arr.shape == (H,):
            hint = f"Add the batch axis: {name}[None, :] for B = 1."
        elif arr.ndim == 3 and arr.shape[1:] == (B, H):
            hint = (
                f"This looks like PyTorch's (num_layers, B, H) h0; pass {name}[0] "
                f"for a single-layer GRU."
            )
        raise _shape_error(name, f"(B, H) = ({B}, {H})", arr.shape, hint)
    return arr


def _check_input(name: str, value: Any, params: GRUParams, axes: str, hints: dict) -> np.ndarray:
    """A real array of shape ``axes`` (e.g. "BTD") whose last axis is params' D."""
    D, H = params.D, params.H
    arr = as_real_array(name, value)
    layout = f"({', '.join(axes)})"
    if arr.ndim != len(axes):
        raise ValueError(
            f"{name}: expected a {len(axes)}-D array of shape {layout} with D = {D}; got a "
            f"{arr.ndim}-D array of shape {arr.shape}. {hints.get(arr.ndim, '')}".rstrip()
        )
    if arr.shape[-1] != D:
        raise _shape_error(name, f"{layout} with D = {D} (params.W_z is (D, H) = ({D}, {H}))", arr.shape)
    return arr


def _state_dtype(name: str, h: Any, x: np.ndarray, params: GRUParams) -> Tuple[Any, np.dtype]:
    """The state as an array (None stays None) and the dtype of the computation."""
    if h is None:
        return None, compute_dtype(x.dtype, params.dtype)
    h = as_real_array(name, h)
    return h, compute_dtype(x.dtype, h.dtype, params.dtype)


def check_forward_args(
    x: Any, h0: Any, params: GRUParams
) -> Tuple[np.ndarray, np.ndarray, np.dtype]:
    """Validate ``gru_forward`` arguments.

    Returns ``(x, h0, dtype)`` where ``x`` is (B, T, D), ``h0`` is (B, H) (zeros
    when None was given) and ``dtype`` is the dtype of the result. Neither
    array is copied unless a cast was needed, and neither is ever written to.
    """
    _check_params(params)
    x = _check_input("x", x, params, "BTD", {2: (
        "For one time step use gru_step(x_t, h_prev, params) with x_t (B, D), "
        "or add the time axis: x[:, None, :]."
    )})
    B, T, _ = x.shape
    H = params.H
    h0, dtype = _state_dtype("h0", h0, x, params)
    if h0 is not None and h0.ndim == 2 and h0.shape[0] == T != B and h0.shape[1] == H:
        raise _shape_error(
            "h0", f"(B, H) = ({B}, {H}), B read from x of shape (B, T, D) = {x.shape}", h0.shape,
            "h0 has x's second axis as its batch: is x time-major (T, B, D)? gru_props "
            "expects batch-first x; pass x.transpose(1, 0, 2).",
        )
    h0 = check_hidden("h0", h0, B, H, dtype)
    warn_if_products_overflow(x, h0, params, dtype)
    return x, h0, dtype


class ProductsOverflowWarning(RuntimeWarning):
    """x W or h U can exceed the dtype's range: the pre-activations may be inf, and the output then
    depends on the order of summation rather than on the GRU."""


def warn_if_products_overflow(x: np.ndarray, h: np.ndarray, params: GRUParams, dtype: np.dtype) -> None:
    """Warn when |x| |W| D or |h| |U| H can exceed ``dtype``'s largest value (an upper bound, checked once)."""
    limit = float(np.finfo(dtype).max)

    def largest(a: np.ndarray) -> float:  # max |a| without a temporary copy of a (x may be long)
        return max(float(np.max(a)), -float(np.min(a))) if a.size else 0.0

    with np.errstate(all="ignore"):
        mx, mh = largest(x), largest(h)
        mw = max(largest(getattr(params, k)) for k in ("W_z", "W_r", "W_n"))
        mu = max(largest(getattr(params, k)) for k in ("U_z", "U_r", "U_n"))
        bound = max(mx * mw * max(params.D, 1), mh * mu * max(params.H, 1))
    if bound > limit / 4:
        warnings.warn(
            f"gru_props: x W or h U can overflow {np.dtype(dtype)} here (|x| up to {mx:.3g}, |h0| up to {mh:.3g}, "
            f"|W| up to {mw:.3g}, |U| up to {mu:.3g}): the pre-activations may be inf, and the output then "
            "depends on the order of summation, not on the GRU. Scale the inputs or the weights down.",
            ProductsOverflowWarning, stacklevel=4)


def check_step_args(
    x_t: Any, h_prev: Any, params: GRUParams
) -> Tuple[np.ndarray, np.ndarray, np.dtype]:
    """Validate ``gru_step`` arguments: ``x_t`` (B, D), ``h_prev`` (B, H) or None."""
    _check_params(params)
    x_t = _check_input("x_t", x_t, params, "BD", {
        3: "For a whole sequence (B, T, D) use gru_forward.",
        1: "Add the batch axis: x_t[None, :] for B = 1.",
    })
    h_prev, dtype = _state_dtype("h_prev", h_prev, x_t, params)
    h_prev = check_hidden("h_prev", h_prev, x_t.shape[0], params.H, dtype)
    warn_if_products_overflow(x_t, h_prev, params, dtype)
    return x_t, h_prev, dtype


def check_reset_after(reset_after: Any) -> bool:
    if not isinstance(reset_after, (bool, np.bool_)):
        raise TypeError(
            f"reset_after: expected True (PyTorch, cuDNN, Keras default, ONNX "
            f"linear_before_reset=1) or False (Cho et al., ONNX default); got "
            f"{reset_after!r}."
        )
    return bool(reset_after)


def _check_params(params: Any) -> None:
    if not isinstance(params, GRUParams):
        raise TypeError(
            f"params: expected a gru_props.GRUParams, got {describe_value(params)}. Build one "
            f"with GRUParams(W_z=..., ...), GRUParams.random(D, H, seed=0), or a "
            f"converter: GRUParams.from_torch / from_keras / from_onnx."
        )


def check_backward_args(
    x: Any, h0: Any, params: GRUParams, dhs: Any, dh_T: Any
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.dtype]:
    """Validate ``gru_backward`` arguments.

    ``x`` (B, T, D) and ``h0`` (B, H) or None are checked as for the forward;
    ``dhs`` = dL/dhs must be (B, T, H) with B and T read from x and H from
    params (None means zeros: a loss on the final state only); ``dh_T`` =
    dL/dh_T must be (B, H) or None (zeros).

    Returns ``(x, h0, dhs, dh_T, dtype)`` with ``h0``, ``dhs`` and ``dh_T``
    filled with zeros where None was given, and ``dtype`` the dtype of the
    computation and of every result: float32 only if every array is float32,
    float64 when they mix, float64 for integers. No array is copied unless a
    cast or a zero fill was needed, and none is ever written to.
    """
    x, h0, dtype = check_forward_args(x, h0, params)
    B, T, D = x.shape
    H = params.H
    expected = (
        f"(B, T, H) = ({B}, {T}, {H}), B and T read from x of shape (B, T, D) = {x.shape} "
        f"and H from params"
    )
    if dhs is None:
        dhs = np.zeros((B, T, H), dtype=dtype)
    else:
        dhs = as_real_array("dhs", dhs)
        if dhs.shape != (B, T, H):
            hint = ""
            if dhs.shape == (B, H):
                hint = (
                    "A (B, H) array is the gradient of one state: pass the gradient of the "
                    "final state as dh_T=..., and dhs=None for a loss on h_T only."
                )
            elif dhs.shape == (T, B, H) and T != B:
                hint = "dhs looks time-major (T, B, H); pass dhs.transpose(1, 0, 2)."
            elif dhs.ndim == 3 and dhs.shape[:2] == (B, T):
                hint = "The last axis must be H, the hidden size of params (gradients of hs, not of x)."
            if dhs.ndim != 3:
                msg = (
                    f"dhs: expected a 3-D array of shape {expected}; got a {dhs.ndim}-D "
                    f"array of shape {dhs.shape}."
                )
                raise ValueError(f"{msg} {hint}".rstrip())
            raise _shape_error("dhs", expected, dhs.shape, hint)
    dtype = compute_dtype(dtype, dhs.dtype)
    if dh_T is not None:
        dh_T = as_real_array("dh_T", dh_T)
        dtype = compute_dtype(dtype, dh_T.dtype)
    dh_T = check_hidden("dh_T", dh_T, B, H, dtype)
    return x, h0, dhs, dh_T, dtype


def check_lengths(lengths: Any, B: int, T: int) -> Any:
    """Validate ``lengths``: None, or integers of shape (B,) with 0 <= lengths[b] <= T.

    Returns None or an int64 array (B,), a copy (the caller's array is never kept or written).
    Raises ``TypeError`` for non-integers (floats with integral values included: a length is a count)
    and ``ValueError`` for the wrong shape or a length out of range, naming what was expected.
    """
    if lengths is None:
        return None
    if hasattr(lengths, "detach") and hasattr(lengths, "cpu"):  # a torch tensor
        lengths = lengths.detach().cpu().numpy()
    try:
        arr = np.asarray(lengths)
    except Exception as exc:
        raise TypeError(f"lengths: expected integers of shape (B,) = ({B},), got {describe_value(lengths)} "
                        f"that NumPy cannot turn into an array ({exc}).") from None
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"lengths: expected an integer array of shape (B,) = ({B},), each sequence's number of valid steps; "
            f"got dtype {arr.dtype}. Pass e.g. np.array([...], dtype=np.int64)"
            + (" (booleans are not lengths: a mask m (B, T) gives lengths m.sum(axis=1))" if arr.dtype.kind == "b"
               else "") + "."
        )
    if arr.shape != (B,):
        raise ValueError(
            f"lengths: expected shape (B,) = ({B},), B read from x; got {arr.shape}."
            + (" This looks like a mask (B, T): pass mask.sum(axis=1)." if arr.ndim == 2 else "")
        )
    bad = np.flatnonzero((arr < 0) | (arr > T))
    if bad.size:
        b = int(bad[0])
        raise ValueError(
            f"lengths: expected 0 <= lengths[b] <= T = {T} (T read from x of shape (B, T, D)); got "
            f"lengths[{b}] = {int(arr[b])}. A sequence cannot be longer than x: pad x to the longest length, "
            f"or clip the lengths."
        )
    return arr.astype(np.int64)
