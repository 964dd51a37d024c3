"""``LSTMParams``: the per-gate LSTM weights, and converters to and from frameworks.

Gate names follow PyTorch: i (input), f (forget), g (cell candidate, Keras'
"c"), o (output). Row-vector convention, as for the GRU: ``x_t @ W_i`` with
``W_i`` of shape (D, H).

Framework layouts (one layer, one direction; verified against each
framework in ``tests/test_lstm.py``):

=========  ==========  ===============================  ===========================
framework  gate order  weights                          biases
=========  ==========  ===============================  ===========================
PyTorch    i, f, g, o  weight_ih (4H, D), hh (4H, H)    bias_ih, bias_hh (4H,)
Keras      i, f, c, o  kernel (D, 4H), recurrent (H,4H)  bias (4H,)
ONNX       i, o, f, c  W (1, 4H, D), R (1, 4H, H)       B (1, 8H) = [Wb, Rb]
=========  ==========  ===============================  ===========================

Every bias of an LSTM adds to its gate's pre-activation, so the two biases
PyTorch and ONNX keep per gate fold into one ``b_*`` exactly. ONNX's
peephole weights ``P`` have no counterpart here (PyTorch and Keras have none).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, NamedTuple, Tuple

import numpy as np

from gru_props.core.arrays import as_real_array, compute_dtype
from gru_props.core.params import (
    _bias_or_zeros,
    _drop_direction_axis,
    _GateParams,
    _import_optional,
    _onnx_bias,
    _split_gates,
    _to_numpy,
)

__all__ = ["LSTMParams"]

GATES = ("i", "f", "g", "o")
_WEIGHTS = tuple(f"W_{g}" for g in GATES)
_RECURRENT = tuple(f"U_{g}" for g in GATES)
_BIASES = tuple(f"b_{g}" for g in GATES)
FIELDS = _WEIGHTS + _RECURRENT + _BIASES


class _Layout(NamedTuple):
    """A framework's gate-stacked weights, seen with the gates in rows: their order, names and shapes."""

    order: Tuple[str, ...]  # the gates along the stacked (4H) axis
    w: str  # the input weights' name, e.g. "weight_ih_l0"
    w_shape: str  # their shape in words, e.g. "(4H, D)"
    w_that_is: str  # that shape for a known H, "{}" standing for 4H
    r: str  # the recurrent weights' name
    r_shape: str  # their shape in words


_TORCH = _Layout(("i", "f", "g", "o"), "weight_ih_l0", "(4H, D)", "({}, D)",
                 "weight_hh_l0", "(4H, H) with H >= 1")
# Keras stacks in columns (transposed before the check) and calls the candidate "c".
_KERAS = _Layout(("i", "f", "g", "o"), "kernel", "(D, 4H)", "(D, {})",
                 "recurrent_kernel", "(H, 4H) with H >= 1")
_ONNX = _Layout(("i", "o", "f", "g"), "W", "(1, 4H, D)", "(1, {}, D)",  # ONNX's "iofc"
                "R", "(1, 4H, H)")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class LSTMParams(_GateParams):
    """The parameters of a single-layer, one-direction LSTM, one array per gate.

    ::

        i = sigmoid(x_t W_i + h U_i + b_i)    f = sigmoid(x_t W_f + h U_f + b_f)
        g = tanh(x_t W_g + h U_g + b_g)       o = sigmoid(x_t W_o + h U_o + b_o)
        c_t = f * c_{t-1} + i * g             h_t = o * tanh(c_t)

    ========================  ======  ==========================================
    field                     shape   role
    ========================  ======  ==========================================
    ``W_i, W_f, W_g, W_o``    (D, H)  input weights (input, forget, cell, output)
    ``U_i, U_f, U_g, U_o``    (H, H)  recurrent weights
    ``b_i, b_f, b_g, b_o``    (H,)    biases (input and recurrent biases folded)
    ========================  ======  ==========================================

    Construction copies every array into one common floating dtype (float32
    stays float32, float64 stays float64, integers become float64) and makes
    the copies read-only, so an ``LSTMParams`` never changes after it is built
    and never aliases the caller's arrays. The copies sit in immutable memory:
    ``arr.setflags(write=True)`` raises ``ValueError``. ``copy.copy``,
    ``copy.deepcopy`` and pickling give a new ``LSTMParams`` with read-only
    arrays again. To change a field, build a new one: ``params.replace(b_f=...)``.

    Raises:
        TypeError: a field is not a real numeric array (complex, boolean,
            strings, objects).
        ValueError: a field has the wrong rank or a shape inconsistent with
            ``W_i``'s (D, H); the message names the field, the expected shape
            and the shape received.
    """

    W_i: np.ndarray
    W_f: np.ndarray
    W_g: np.ndarray
    W_o: np.ndarray
    U_i: np.ndarray
    U_f: np.ndarray
    U_g: np.ndarray
    U_o: np.ndarray
    b_i: np.ndarray
    b_f: np.ndarray
    b_g: np.ndarray
    b_o: np.ndarray

    _KIND = "LSTMParams"
    _WEIGHTS = _WEIGHTS
    _RECURRENT = _RECURRENT
    _BIASES = _BIASES
    _FIELDS = FIELDS

    # ----------------------------------------------------------------- PyTorch
    @classmethod
    def from_torch(cls, lstm: Any) -> "LSTMParams":
        """From a ``torch.nn.LSTM`` (one layer, one direction) or its ``state_dict()``.

        PyTorch stacks gates in the order i, f, g, o: ``weight_ih_l0`` is
        (4H, D), ``weight_hh_l0`` is (4H, H), ``bias_ih_l0`` and ``bias_hh_l0``
        are (4H,) and add up into ``b_*`` (a layer built with ``bias=False``
        has none: zeros). The dtype of the tensors is kept.

        Raises:
            TypeError: neither a module with ``state_dict()`` nor a mapping.
            ValueError: more than one layer, bidirectional, a projection
                (``proj_size > 0``), missing weights, or shapes that do not
                stack four gates.
        """
        if hasattr(lstm, "state_dict") and callable(lstm.state_dict):
            layers = getattr(lstm, "num_layers", 1)
            bidirectional = getattr(lstm, "bidirectional", False)
            if layers != 1 or bidirectional:
                raise ValueError(
                    f"lstm: expected a single-layer, one-direction torch.nn.LSTM; got "
                    f"num_layers={layers}, bidirectional={bidirectional}. Convert each "
                    f"layer/direction separately from its state_dict entries."
                )
            if getattr(lstm, "proj_size", 0):
                raise ValueError(
                    f"lstm: expected a torch.nn.LSTM without projection; got proj_size="
                    f"{lstm.proj_size}. LSTMParams has no projection matrix (weight_hr_l0)."
                )
            state = lstm.state_dict()
        elif isinstance(lstm, Mapping):
            state = lstm
        else:
            raise TypeError(
                f"lstm: expected a torch.nn.LSTM or its state_dict(); got a {type(lstm).__name__}."
            )
        known = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
        extra = sorted(set(state) - known)
        if extra:
            raise ValueError(
                f"lstm: expected the state_dict of a single-layer, one-direction LSTM without "
                f"projection (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0); it also "
                f"holds {extra}."
            )
        for key in ("weight_ih_l0", "weight_hh_l0"):
            if key not in state:
                raise ValueError(f"lstm: the state_dict has no {key!r}; keys are {sorted(state)}.")
        w_ih = _to_numpy("weight_ih_l0", state["weight_ih_l0"])
        w_hh = _to_numpy("weight_hh_l0", state["weight_hh_l0"])
        H = _four_gates(_TORCH, w_ih, w_hh, w_ih.shape, w_hh.shape)
        b_ih = _bias_or_zeros(state, "bias_ih_l0", 4, H, w_ih.dtype)
        b_hh = _bias_or_zeros(state, "bias_hh_l0", 4, H, w_ih.dtype)
        return cls(**_split_gates(_TORCH.order, w_ih, w_hh, b_ih + b_hh))

    def to_torch(self) -> Dict[str, Any]:
        """A ``state_dict`` for ``torch.nn.LSTM(D, H)``: load it with ``lstm.load_state_dict``.

        The folded biases go to ``bias_ih_l0``; ``bias_hh_l0`` is zeros.
        Tensors keep this object's dtype (call ``lstm.double()`` for float64).

        Raises:
            ImportError: torch is not installed (the ``reference`` extra).
        """
        torch = _import_optional("torch", "LSTMParams.to_torch")
        w_ih, w_hh, b = self._stacked(_TORCH.order)
        return {
            k: torch.from_numpy(np.ascontiguousarray(v))
            for k, v in (("weight_ih_l0", w_ih.T), ("weight_hh_l0", w_hh.T),
                         ("bias_ih_l0", b), ("bias_hh_l0", np.zeros_like(b)))
        }

    # ------------------------------------------------------------------- Keras
    @classmethod
    def from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None) -> "LSTMParams":
        """From a Keras ``LSTM`` layer's weights (``layer.get_weights()``).

        Keras stacks gates in columns in the order i, f, c, o (c is the
        candidate, ``g`` here): ``kernel`` is (D, 4H), ``recurrent_kernel``
        (H, 4H), ``bias`` (4H,). ``bias=None`` means ``use_bias=False``.

        Raises:
            TypeError: an argument is not a real numeric array.
            ValueError: shapes that do not stack four gates or do not agree.
        """
        k = as_real_array("kernel", kernel)
        rk = as_real_array("recurrent_kernel", recurrent_kernel)
        H = _four_gates(_KERAS, k.T, rk.T, k.shape, rk.shape)
        if bias is None:
            b = np.zeros(4 * H, dtype=compute_dtype(k.dtype, rk.dtype))
        else:
            b = as_real_array("bias", bias)
            if b.shape != (4 * H,):
                raise ValueError(f"bias: expected shape (4H,) = ({4 * H},); got {b.shape}.")
        return cls(**_split_gates(_KERAS.order, k.T, rk.T, b))

    def to_keras(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(kernel, recurrent_kernel, bias)`` for ``keras.layers.LSTM(H)``:
        (D, 4H), (H, 4H), (4H,); pass them to ``layer.set_weights``."""
        return self._stacked(_KERAS.order)

    # -------------------------------------------------------------------- ONNX
    @classmethod
    def from_onnx(cls, W: Any, R: Any, B: Any = None) -> "LSTMParams":
        """From the inputs of an ONNX ``LSTM`` node (one direction, no peepholes).

        ONNX stacks gates in rows in the order i, o, f, c: ``W`` is (1, 4H, D),
        ``R`` (1, 4H, H), ``B`` (1, 8H) = [Wb_iofc, Rb_iofc] (the two halves add
        up). The leading num_directions axis may be omitted; ``B=None`` means
        zeros. A node with peephole weights ``P`` computes another function:
        it cannot be converted.

        Raises:
            TypeError: an argument is not a real numeric array.
            ValueError: num_directions other than 1, or inconsistent shapes.
        """
        W_in, R_in = as_real_array("W", W), as_real_array("R", R)
        R2 = _drop_direction_axis("R", R_in, "(1, 4H, H)", 2, "LSTMParams")
        W2 = _drop_direction_axis("W", W_in, "(1, 4H, D)", 2, "LSTMParams")
        H = _four_gates(_ONNX, W2, R2, W_in.shape, R_in.shape)
        Wb, Rb = _onnx_bias(B, 4, H, compute_dtype(W2.dtype, R2.dtype), "LSTMParams")
        return cls(**_split_gates(_ONNX.order, W2, R2, Wb + Rb))

    def to_onnx(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W, R, B)`` for an ONNX ``LSTM`` node: (1, 4H, D), (1, 4H, H), (1, 8H).

        The folded biases go to ``Wb``; ``Rb`` is zeros.
        """
        w, r, b = self._stacked(_ONNX.order)
        B = np.concatenate([b, np.zeros_like(b)])[None]
        return np.ascontiguousarray(w.T[None]), np.ascontiguousarray(r.T[None]), B


def _four_gates(layout: _Layout, w: np.ndarray, r: np.ndarray,
                w_got: Tuple[int, ...], r_got: Tuple[int, ...]) -> int:
    """H, from recurrent weights ``r`` (4H, H), once they and the input weights ``w``
    (4H, D) are seen to stack four gates (gates in rows; ``w_got`` and ``r_got`` are the
    shapes as the caller passed them, for the messages).

    Raises:
        ValueError: ``r`` or ``w`` of another shape, in ``layout``'s names and shapes.
    """
    if r.ndim != 2 or r.shape[1] < 1 or r.shape[0] != 4 * r.shape[1]:
        raise ValueError(f"{layout.r}: expected shape {layout.r_shape} (four stacked gates); got {r_got}.")
    H = r.shape[1]
    if w.ndim != 2 or w.shape[0] != 4 * H:
        raise ValueError(
            f"{layout.w}: expected shape {layout.w_shape} with H = {H} (from {layout.r}), that "
            f"is {layout.w_that_is.format(4 * H)}; got {w_got}."
        )
    return H
