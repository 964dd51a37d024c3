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
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from gru_props._params import _import_optional, _to_numpy
from gru_props._validation import as_real_array, check_positive_int, compute_dtype

__all__ = ["LSTMParams"]

GATES = ("i", "f", "g", "o")
_WEIGHTS = tuple(f"W_{g}" for g in GATES)
_RECURRENT = tuple(f"U_{g}" for g in GATES)
_BIASES = tuple(f"b_{g}" for g in GATES)
FIELDS = _WEIGHTS + _RECURRENT + _BIASES

# Where each gate sits in a framework's stacked (4H) axis.
_TORCH_ORDER = ("i", "f", "g", "o")
_KERAS_ORDER = ("i", "f", "g", "o")  # Keras calls the candidate "c"
_ONNX_ORDER = ("i", "o", "f", "g")  # ONNX's "iofc"; c is the candidate


@dataclasses.dataclass(frozen=True, eq=False)
class LSTMParams:
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
    and never aliases the caller's arrays.

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

    def __post_init__(self) -> None:
        arrays = {name: as_real_array(f"LSTMParams.{name}", getattr(self, name)) for name in FIELDS}
        W_i = arrays["W_i"]
        if W_i.ndim != 2:
            raise ValueError(
                f"LSTMParams.W_i: expected a 2-D array of shape (D, H); got shape {W_i.shape}."
            )
        D, H = W_i.shape
        if H < 1:
            raise ValueError(
                f"LSTMParams.W_i: expected shape (D, H) with H >= 1 hidden units; got {W_i.shape}."
            )
        expected = {}
        expected.update({n: ((D, H), f"(D, H) = ({D}, {H})") for n in _WEIGHTS})
        expected.update({n: ((H, H), f"(H, H) = ({H}, {H})") for n in _RECURRENT})
        expected.update({n: ((H,), f"(H,) = ({H},)") for n in _BIASES})
        for name, (shape, text) in expected.items():
            got = arrays[name].shape
            if got != shape:
                raise ValueError(
                    f"LSTMParams.{name}: expected shape {text}, as set by W_i of shape "
                    f"(D, H) = ({D}, {H}); got {got}."
                )
        dtype = compute_dtype(*(a.dtype for a in arrays.values()))
        for name, arr in arrays.items():
            copy = np.array(arr, dtype=dtype, copy=True)
            copy.setflags(write=False)
            object.__setattr__(self, name, copy)
        # Prepared (stacked, scaled) weights of the fast tier, per dtype: safe
        # to cache because the arrays above never change.
        object.__setattr__(self, "_cache", {})

    # ------------------------------------------------------------------ shape
    @property
    def D(self) -> int:
        """Input features D."""
        return int(self.W_i.shape[0])

    @property
    def H(self) -> int:
        """Hidden units H."""
        return int(self.W_i.shape[1])

    @property
    def dtype(self) -> np.dtype:
        """The common dtype of every array (float32 or float64, usually)."""
        return self.W_i.dtype

    def __repr__(self) -> str:
        return f"LSTMParams(D={self.D}, H={self.H}, dtype={self.dtype})"

    def arrays(self) -> Dict[str, np.ndarray]:
        """The twelve arrays by field name, in SPEC order (W_*, U_*, b_*; gates i, f, g, o)."""
        return {name: getattr(self, name) for name in FIELDS}

    def astype(self, dtype: Any) -> "LSTMParams":
        """A copy with every array cast to ``dtype`` (e.g. ``np.float32``).

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
        """
        dt = _float_dtype(dtype)
        return LSTMParams(**{k: v.astype(dt) for k, v in self.arrays().items()})

    def replace(self, **changes: Any) -> "LSTMParams":
        """A copy with the named arrays replaced (shapes are checked again).

        For example ``params.replace(b_f=params.b_f + 1.0)`` adds a forget-gate
        bias of 1 (Keras' ``unit_forget_bias``, Jozefowicz et al. 2015).

        Raises:
            TypeError: an unknown field name.
            ValueError: a replaced array of the wrong shape.
        """
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise TypeError(
                f"LSTMParams.replace: unknown field(s) {sorted(unknown)}; fields are {list(FIELDS)}."
            )
        return LSTMParams(**{**self.arrays(), **changes})

    # ------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        D: int,
        H: int,
        *,
        seed: Union[int, np.random.Generator, None] = 0,
        scale: Optional[float] = None,
        dtype: Any = np.float64,
    ) -> "LSTMParams":
        """Seeded random parameters, uniform in [-scale, scale].

        ``scale`` defaults to ``1/sqrt(H)``, PyTorch's initialisation of
        ``torch.nn.LSTM`` (every weight and bias, so the forget-gate bias
        starts near 0; add 1 with ``replace`` for Keras' ``unit_forget_bias``).
        The same ``seed`` always gives the same parameters; fields are drawn
        in SPEC order.

        Raises:
            TypeError / ValueError: ``D`` or ``H`` not an integer (D >= 0,
                H >= 1), ``scale`` negative or not finite, ``dtype`` not floating.
        """
        D = check_positive_int("D", D, minimum=0)
        H = check_positive_int("H", H, minimum=1)
        if scale is None:
            scale = 1.0 / np.sqrt(H)
        if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating)):
            raise TypeError(f"scale: expected a finite number >= 0 or None; got {scale!r}.")
        if not np.isfinite(scale) or scale < 0:
            raise ValueError(f"scale: expected a finite number >= 0; got {scale!r}.")
        dt = _float_dtype(dtype)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        shapes = {n: (D, H) for n in _WEIGHTS}
        shapes.update({n: (H, H) for n in _RECURRENT})
        shapes.update({n: (H,) for n in _BIASES})
        return cls(**{n: rng.uniform(-scale, scale, size=s).astype(dt) for n, s in shapes.items()})

    @classmethod
    def zeros(cls, D: int, H: int, *, dtype: Any = np.float64) -> "LSTMParams":
        """All-zero parameters (every gate at 0.5, candidate 0: the state decays by half)."""
        return cls.random(D, H, scale=0.0, dtype=dtype)

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
        if w_hh.ndim != 2 or w_hh.shape[1] < 1 or w_hh.shape[0] != 4 * w_hh.shape[1]:
            raise ValueError(
                f"weight_hh_l0: expected shape (4H, H) with H >= 1 (four stacked gates); "
                f"got {w_hh.shape}."
            )
        H = w_hh.shape[1]
        if w_ih.ndim != 2 or w_ih.shape[0] != 4 * H:
            raise ValueError(
                f"weight_ih_l0: expected shape (4H, D) with H = {H} (from weight_hh_l0), that "
                f"is ({4 * H}, D); got {w_ih.shape}."
            )
        b_ih = _bias_or_zeros(state, "bias_ih_l0", H, w_ih.dtype)
        b_hh = _bias_or_zeros(state, "bias_hh_l0", H, w_ih.dtype)
        return cls._from_rows(_TORCH_ORDER, w_ih, w_hh, b_ih + b_hh)

    def to_torch(self) -> Dict[str, Any]:
        """A ``state_dict`` for ``torch.nn.LSTM(D, H)``: load it with ``lstm.load_state_dict``.

        The folded biases go to ``bias_ih_l0``; ``bias_hh_l0`` is zeros.
        Tensors keep this object's dtype (call ``lstm.double()`` for float64).

        Raises:
            ImportError: torch is not installed (the ``reference`` extra).
        """
        torch = _import_optional("torch", "LSTMParams.to_torch")
        w_ih, w_hh, b = self._stacked(_TORCH_ORDER)
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
        if rk.ndim != 2 or rk.shape[0] < 1 or rk.shape[1] != 4 * rk.shape[0]:
            raise ValueError(
                f"recurrent_kernel: expected shape (H, 4H) with H >= 1 (four stacked gates); "
                f"got {rk.shape}."
            )
        H = rk.shape[0]
        if k.ndim != 2 or k.shape[1] != 4 * H:
            raise ValueError(
                f"kernel: expected shape (D, 4H) with H = {H} (from recurrent_kernel), that "
                f"is (D, {4 * H}); got {k.shape}."
            )
        if bias is None:
            b = np.zeros(4 * H, dtype=compute_dtype(k.dtype, rk.dtype))
        else:
            b = as_real_array("bias", bias)
            if b.shape != (4 * H,):
                raise ValueError(f"bias: expected shape (4H,) = ({4 * H},); got {b.shape}.")
        return cls._from_rows(_KERAS_ORDER, k.T, rk.T, b)

    def to_keras(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(kernel, recurrent_kernel, bias)`` for ``keras.layers.LSTM(H)``:
        (D, 4H), (H, 4H), (4H,); pass them to ``layer.set_weights``."""
        return self._stacked(_KERAS_ORDER)

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
        R2 = _drop_direction_axis("R", R_in, "(1, 4H, H)", 2)
        if R2.ndim != 2 or R2.shape[1] < 1 or R2.shape[0] != 4 * R2.shape[1]:
            raise ValueError(f"R: expected shape (1, 4H, H) (four stacked gates); got {R_in.shape}.")
        H = R2.shape[1]
        W2 = _drop_direction_axis("W", W_in, "(1, 4H, D)", 2)
        if W2.ndim != 2 or W2.shape[0] != 4 * H:
            raise ValueError(
                f"W: expected shape (1, 4H, D) with H = {H} (from R), that is (1, {4 * H}, D); "
                f"got {W_in.shape}."
            )
        if B is None:
            b = np.zeros(4 * H, dtype=compute_dtype(W2.dtype, R2.dtype))
        else:
            B_in = as_real_array("B", B)
            B2 = _drop_direction_axis("B", B_in, f"(1, 8H) = (1, {8 * H})", 1)
            if B2.shape != (8 * H,):
                raise ValueError(f"B: expected shape (1, 8H) = (1, {8 * H}); got {B_in.shape}.")
            b = B2[: 4 * H] + B2[4 * H:]
        return cls._from_rows(_ONNX_ORDER, W2, R2, b)

    def to_onnx(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W, R, B)`` for an ONNX ``LSTM`` node: (1, 4H, D), (1, 4H, H), (1, 8H).

        The folded biases go to ``Wb``; ``Rb`` is zeros.
        """
        w, r, b = self._stacked(_ONNX_ORDER)
        B = np.concatenate([b, np.zeros_like(b)])[None]
        return np.ascontiguousarray(w.T[None]), np.ascontiguousarray(r.T[None]), B

    # ----------------------------------------------------------------- helpers
    @classmethod
    def _from_rows(cls, order: Tuple[str, ...], w: np.ndarray, r: np.ndarray,
                   b: np.ndarray) -> "LSTMParams":
        """From gate-stacked rows: w (4H, D), r (4H, H), b (4H,) in ``order``."""
        H = r.shape[1]
        fields: Dict[str, np.ndarray] = {}
        for k, gate in enumerate(order):
            rows = slice(k * H, (k + 1) * H)
            fields[f"W_{gate}"] = w[rows].T
            fields[f"U_{gate}"] = r[rows].T
            fields[f"b_{gate}"] = b[rows]
        return cls(**fields)

    def _stacked(self, order: Tuple[str, ...]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Column-stacked (D, 4H), (H, 4H), (4H,) in ``order``."""
        return (
            np.concatenate([getattr(self, f"W_{g}") for g in order], axis=1),
            np.concatenate([getattr(self, f"U_{g}") for g in order], axis=1),
            np.concatenate([getattr(self, f"b_{g}") for g in order]),
        )


def _float_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a floating dtype such as np.float32; got {dtype!r}.") from None
    if dt.kind != "f":
        raise TypeError(f"dtype: expected a floating dtype such as np.float32; got {dt}.")
    return dt


def _bias_or_zeros(state: Mapping[str, Any], key: str, H: int, dtype: np.dtype) -> np.ndarray:
    if key not in state:  # torch.nn.LSTM(bias=False)
        return np.zeros(4 * H, dtype=dtype)
    b = _to_numpy(key, state[key])
    if b.shape != (4 * H,):
        raise ValueError(f"{key}: expected shape (4H,) = ({4 * H},); got {b.shape}.")
    return b


def _drop_direction_axis(name: str, arr: np.ndarray, expected: str, ndim: int) -> np.ndarray:
    """``arr`` without ONNX's leading num_directions axis (``ndim`` is the rank without it)."""
    if arr.ndim == ndim + 1:
        if arr.shape[0] != 1:
            raise ValueError(
                f"{name}: expected shape {expected} with num_directions = 1; got {arr.shape}. "
                f"LSTMParams holds one direction: convert {name}[0:1] (forward) and "
                f"{name}[1:2] (reverse) separately."
            )
        return arr[0]
    return arr
