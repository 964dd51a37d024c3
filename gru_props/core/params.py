"""``GRUParams``: the per-gate GRU weights, and converters to and from frameworks.

Gate names: z (update), r (reset), n (candidate, "h tilde").
Row-vector convention: ``x_t @ W_z`` with ``W_z`` of shape (D, H).

Framework layouts (see ``shared/notes/gru-conventions.md``):

=========  ==========  ==============================  =========================
framework  gate order  weights                         biases
=========  ==========  ==============================  =========================
PyTorch    r, z, n     weight_ih (3H, D), hh (3H, H)   bias_ih, bias_hh (3H,)
Keras      z, r, h     kernel (D, 3H), recurrent (H,3H) (3H,) or (2, 3H)
ONNX       z, r, h     W (1, 3H, D), R (1, 3H, H)      B (1, 6H) = [Wb, Rb]
=========  ==========  ==============================  =========================

Recurrent biases of z and r fold into ``b_z`` and ``b_r``; the recurrent bias
of the candidate is ``b_hn`` (the one bias that cannot be folded when the reset
gate is applied after the recurrent matrix product).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

import numpy as np

from gru_props.core.arrays import as_real_array, check_positive_int, compute_dtype

__all__ = ["GRUParams", "in_float64"]

_WEIGHTS = ("W_z", "W_r", "W_n")
_RECURRENT = ("U_z", "U_r", "U_n")
_BIASES = ("b_z", "b_r", "b_n", "b_hn")
_FIELDS = _WEIGHTS + _RECURRENT + _BIASES

_P = TypeVar("_P", bound="_GateParams")


class _GateParams:
    """What ``GRUParams`` and ``gru_props.lstm.LSTMParams`` share: frozen per-gate arrays.

    A subclass is a frozen dataclass (``eq=False, repr=False``) whose fields
    are the arrays. It names them in class attributes: ``_KIND`` (its name in
    messages), ``_WEIGHTS`` (input weights, (D, H)), ``_RECURRENT`` (recurrent
    weights, (H, H)), ``_BIASES`` ((H,)) and ``_FIELDS`` (all of them in field
    order); the first input weight gives D and H. It may override ``_dims``
    and ``_shape_message`` to infer D and H, and to word a wrong shape, its own way.
    """

    _KIND: ClassVar[str]
    _WEIGHTS: ClassVar[Tuple[str, ...]]
    _RECURRENT: ClassVar[Tuple[str, ...]]
    _BIASES: ClassVar[Tuple[str, ...]]
    _FIELDS: ClassVar[Tuple[str, ...]]

    def __post_init__(self) -> None:
        kind, first = self._KIND, self._WEIGHTS[0]
        arrays = {name: as_real_array(f"{kind}.{name}", getattr(self, name)) for name in self._FIELDS}
        W = arrays[first]
        if W.ndim != 2:
            raise ValueError(f"{kind}.{first}: expected a 2-D array of shape (D, H); got shape {W.shape}.")
        if W.shape[1] < 1:
            raise ValueError(
                f"{kind}.{first}: expected shape (D, H) with H >= 1 hidden units; got {W.shape}."
            )
        D, H = self._dims(arrays)
        for name, (shape, text) in self._shapes(D, H).items():
            got = arrays[name].shape
            if got != shape:
                raise ValueError(self._shape_message(name, got, text, arrays, D, H))
        dtype = compute_dtype(*(a.dtype for a in arrays.values()))
        for name, arr in arrays.items():
            object.__setattr__(self, name, _immutable(arr, dtype))
        object.__setattr__(self, "_cache", {})

    @classmethod
    def _dims(cls, arrays: Mapping[str, np.ndarray]) -> Tuple[int, int]:
        """D and H of the fields (the first input weight's (D, H), checked to be 2-D with H >= 1)."""
        D, H = arrays[cls._WEIGHTS[0]].shape
        return D, H

    @classmethod
    def _shape_message(cls, name: str, got: Tuple[int, ...], text: str,
                       arrays: Mapping[str, np.ndarray], D: int, H: int) -> str:
        """The message for field ``name`` of shape ``got`` where ``text`` (e.g. "(H, H) = (4, 4)") was expected."""
        return (
            f"{cls._KIND}.{name}: expected shape {text}, as set by {cls._WEIGHTS[0]} of shape "
            f"(D, H) = ({D}, {H}); got {got}."
        )

    @classmethod
    def _shapes(cls, D: int, H: int) -> Dict[str, Tuple[Tuple[int, ...], str]]:
        """Each field's shape for input size D and hidden size H, with that shape in words, in field order."""
        shapes: Dict[str, Tuple[Tuple[int, ...], str]] = {}
        shapes.update({n: ((D, H), f"(D, H) = ({D}, {H})") for n in cls._WEIGHTS})
        shapes.update({n: ((H, H), f"(H, H) = ({H}, {H})") for n in cls._RECURRENT})
        shapes.update({n: ((H,), f"(H,) = ({H},)") for n in cls._BIASES})
        return shapes

    # ------------------------------------------------------ copies and pickles
    # The parameters never change, so the fast tiers cache arrays prepared
    # from them in ``_cache``. Their arrays live in immutable ``bytes`` (see
    # _immutable), so no one can edit them behind the cache's back. Copies and
    # pickles are rebuilt through the constructor: read-only arrays again and
    # a fresh, empty cache (the default protocols would copy ``_cache`` along
    # and hand out writable arrays).

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (_rebuild, (type(self), self.arrays()))

    def __copy__(self: _P) -> _P:
        return type(self)(**self.arrays())

    def __deepcopy__(self: _P, memo: Dict[int, Any]) -> _P:
        return type(self)(**self.arrays())

    # ------------------------------------------------------------------ shape
    @property
    def D(self) -> int:
        """Input features D."""
        return int(getattr(self, self._WEIGHTS[0]).shape[0])

    @property
    def H(self) -> int:
        """Hidden units H."""
        return int(getattr(self, self._WEIGHTS[0]).shape[1])

    @property
    def dtype(self) -> np.dtype:
        """The common dtype of every array (float32 or float64, usually)."""
        return getattr(self, self._WEIGHTS[0]).dtype

    def __repr__(self) -> str:
        return f"{self._KIND}(D={self.D}, H={self.H}, dtype={self.dtype})"

    def arrays(self) -> Dict[str, np.ndarray]:
        """Every array by field name, in field order: W_*, U_*, then b_*.

        Ten for a ``GRUParams`` (``b_hn`` last), twelve for an ``LSTMParams``
        (gates i, f, g, o).
        """
        return {name: getattr(self, name) for name in self._FIELDS}

    def astype(self: _P, dtype: Any) -> _P:
        """A copy with every array cast to ``dtype`` (e.g. ``np.float32``).

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
        """
        dt = _float_dtype(dtype)
        return type(self)(**{k: v.astype(dt) for k, v in self.arrays().items()})

    def replace(self: _P, **changes: Any) -> _P:
        """A copy with the named arrays replaced (shapes are checked again).

        For example ``params.replace(b_f=params.b_f + 1.0)`` gives an LSTM a
        forget-gate bias of 1 more (Keras' ``unit_forget_bias``, Jozefowicz et
        al. 2015).

        Raises:
            TypeError: an unknown field name.
            ValueError: a replaced array of the wrong shape.
        """
        unknown = set(changes) - set(self._FIELDS)
        if unknown:
            raise TypeError(
                f"{self._KIND}.replace: unknown field(s) {sorted(unknown)}; fields are {list(self._FIELDS)}."
            )
        return type(self)(**{**self.arrays(), **changes})

    # ------------------------------------------------------------ construction
    @classmethod
    def random(
        cls: Type[_P],
        D: int,
        H: int,
        *,
        seed: Union[int, np.random.Generator, None] = 0,
        scale: Optional[float] = None,
        dtype: Any = np.float64,
    ) -> _P:
        """Seeded random parameters, uniform in [-scale, scale].

        ``scale`` defaults to ``1/sqrt(H)``, PyTorch's initialisation of
        ``torch.nn.GRU`` and ``torch.nn.LSTM`` (every weight and bias, so an
        LSTM's forget-gate bias starts near 0; add 1 with ``replace`` for Keras'
        ``unit_forget_bias``). The same ``seed`` always gives the same
        parameters; fields are drawn in field order.

        Raises:
            TypeError / ValueError: ``D`` or ``H`` not an integer (D >= 0,
                H >= 1), ``scale`` not a number, negative or not finite,
                ``dtype`` not floating.
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
        return cls(**{n: rng.uniform(-scale, scale, size=s).astype(dt)
                      for n, (s, _) in cls._shapes(D, H).items()})

    @classmethod
    def zeros(cls: Type[_P], D: int, H: int, *, dtype: Any = np.float64) -> _P:
        """All-zero parameters (every gate at 0.5, candidate 0: the state decays by half a step)."""
        return cls.random(D, H, scale=0.0, dtype=dtype)

    # ---------------------------------------------------------- layout helper
    def _stacked(self, order: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """W_*, U_* and b_* of the gates in ``order``, stacked in columns: (D, nH), (H, nH), (nH,)."""
        return (
            np.concatenate([getattr(self, f"W_{g}") for g in order], axis=1),
            np.concatenate([getattr(self, f"U_{g}") for g in order], axis=1),
            np.concatenate([getattr(self, f"b_{g}") for g in order]),
        )


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GRUParams(_GateParams):
    """The parameters of a single-layer, one-direction GRU, one array per gate.

    ====================  ======  =====================================
    field                 shape   role
    ====================  ======  =====================================
    ``W_z, W_r, W_n``     (D, H)  input weights (update, reset, candidate)
    ``U_z, U_r, U_n``     (H, H)  recurrent weights
    ``b_z, b_r, b_n``     (H,)    biases (recurrent z/r biases folded in)
    ``b_hn``              (H,)    recurrent bias of the candidate
    ====================  ======  =====================================

    Construction copies every array into one common floating dtype (float32
    stays float32, float64 stays float64, integers become float64) and makes
    the copies read-only, so a ``GRUParams`` never changes after it is built
    and never aliases the caller's arrays. The copies sit in immutable memory:
    ``arr.setflags(write=True)`` raises ``ValueError``. ``copy.copy``,
    ``copy.deepcopy`` and pickling give a new ``GRUParams`` with read-only
    arrays again. To change a field, build a new one: ``params.replace(W_z=...)``.

    Raises:
        TypeError: a field is not a real numeric array (complex, boolean,
            strings, objects).
        ValueError: a field has the wrong rank or a shape inconsistent with
            the D and H the other fields agree on; the message names the
            field, the expected shape and the shape received, and says when
            a weight matrix looks transposed.
    """

    W_z: np.ndarray
    W_r: np.ndarray
    W_n: np.ndarray
    U_z: np.ndarray
    U_r: np.ndarray
    U_n: np.ndarray
    b_z: np.ndarray
    b_r: np.ndarray
    b_n: np.ndarray
    b_hn: np.ndarray

    _KIND = "GRUParams"
    _WEIGHTS = _WEIGHTS
    _RECURRENT = _RECURRENT
    _BIASES = _BIASES
    _FIELDS = _FIELDS

    @classmethod
    def _dims(cls, arrays: Mapping[str, np.ndarray]) -> Tuple[int, int]:
        """D and H as most fields agree on them (see ``_infer_dims``)."""
        return _infer_dims(arrays)

    @classmethod
    def _shape_message(cls, name: str, got: Tuple[int, ...], text: str,
                       arrays: Mapping[str, np.ndarray], D: int, H: int) -> str:
        """Says "looks transposed" (and which other weights do too) when ``got`` is the expected shape reversed."""
        shapes = {n: s for n, (s, _) in cls._shapes(D, H).items()}
        if len(got) == 2 and got == shapes[name][::-1] != shapes[name]:
            also = [n for n in _WEIGHTS + _RECURRENT
                    if n != name and arrays[n].shape == shapes[n][::-1] != shapes[n]]
            more = f" ({', '.join(also)} look transposed too)" if also else ""
            return (
                f"GRUParams.{name}: got {got}, expected {text}: it looks transposed{more}; pass "
                f"{name}.T (or wrap your function with gru_props.adapters.transposed_weights, "
                f"which hands it W_* as (H, D) and U_* as (H, H))."
            )
        return (
            f"GRUParams.{name}: expected shape {text}, as the other fields agree on D = {D} "
            f"and H = {H}; got {got}."
        )

    # ----------------------------------------------------------------- PyTorch
    @classmethod
    def from_torch(cls, gru: Any) -> "GRUParams":
        """From a ``torch.nn.GRU`` (one layer, one direction), a ``torch.nn.GRUCell``, or their ``state_dict()``.

        PyTorch stacks gates in the order r, z, n: ``weight_ih_l0`` is (3H, D),
        ``weight_hh_l0`` is (3H, H), ``bias_ih_l0`` and ``bias_hh_l0`` are (3H,);
        a ``GRUCell`` names them ``weight_ih``, ``weight_hh``, ``bias_ih``,
        ``bias_hh``. PyTorch's GRU is the ``reset_after=True`` convention. The
        dtype of the tensors is kept.

        Raises:
            TypeError: ``gru`` is neither a module nor a mapping.
            ValueError: an LSTM, several layers or both directions, missing
                weights, unknown keys, or shapes that do not stack three gates.
        """
        if hasattr(gru, "state_dict") and callable(gru.state_dict):
            kind = type(gru).__name__
            if "LSTM" in kind:
                raise ValueError(
                    f"gru: got a torch.nn.{kind}; GRUParams holds a GRU (three gates r, z, n), "
                    f"an LSTM has four. Use gru_props.lstm.LSTMParams.from_torch for it."
                )
            layers = getattr(gru, "num_layers", 1)
            if layers != 1 or getattr(gru, "bidirectional", False):
                raise ValueError(
                    f"gru: expected a single-layer, one-direction torch.nn.GRU; got "
                    f"num_layers={layers}, bidirectional={getattr(gru, 'bidirectional', False)}. "
                    f"Convert each layer/direction separately from its state_dict entries."
                )
            state = gru.state_dict()
        elif isinstance(gru, Mapping):
            state = gru
        else:
            raise TypeError(
                f"gru: expected a torch.nn.GRU, a torch.nn.GRUCell or the state_dict() of "
                f"one; got a {type(gru).__name__}."
            )
        suffix = _torch_suffix(state)
        w_ih_key, w_hh_key = f"weight_ih{suffix}", f"weight_hh{suffix}"
        b_ih_key, b_hh_key = f"bias_ih{suffix}", f"bias_hh{suffix}"
        for key in (w_ih_key, w_hh_key):
            if key not in state:
                raise ValueError(f"gru: the state_dict has no {key!r}; keys are {sorted(state)}.")
        w_ih = _to_numpy(w_ih_key, state[w_ih_key])
        w_hh = _to_numpy(w_hh_key, state[w_hh_key])
        if w_hh.ndim == 2 and w_hh.shape[0] == 4 * w_hh.shape[1] != 0:
            raise ValueError(
                f"{w_hh_key}: expected shape (3H, H) (three stacked gates r, z, n); got "
                f"{w_hh.shape}: four stacked gates, an LSTM's. Use "
                f"gru_props.lstm.LSTMParams.from_torch for an LSTM."
            )
        H = _three_gates(w_hh_key, w_hh, "(3H, H)")
        _three_gates(w_ih_key, w_ih, "(3H, D)", H)
        if w_hh.shape != (3 * H, H):
            raise ValueError(f"{w_hh_key}: expected shape (3H, H) = ({3 * H}, {H}); got {w_hh.shape}.")
        b_ih = _bias_or_zeros(state, b_ih_key, 3, H, w_ih.dtype)
        b_hh = _bias_or_zeros(state, b_hh_key, 3, H, w_ih.dtype)
        return cls._from_rows("rzn", w_ih, w_hh, b_ih, b_hh)

    def to_torch(self) -> Dict[str, Any]:
        """A ``state_dict`` for ``torch.nn.GRU(D, H)``: load it with ``gru.load_state_dict``.

        Folded biases go to ``bias_ih_l0``; ``bias_hh_l0`` holds only ``b_hn``.
        Requires torch (the ``reference`` extra).
        """
        torch = _import_optional("torch", "to_torch")
        w_ih, w_hh, b_ih = self._stacked("rzn")
        b_hh = np.concatenate([np.zeros_like(self.b_r), np.zeros_like(self.b_z), self.b_hn])
        return {
            k: torch.from_numpy(np.ascontiguousarray(v))
            for k, v in (("weight_ih_l0", w_ih.T), ("weight_hh_l0", w_hh.T),
                         ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh))
        }

    @classmethod
    def stack_from_torch(cls, gru: Any) -> Tuple["GRUParams", ...]:
        """Every layer and direction of a ``torch.nn.GRU`` (or its ``state_dict()``), in PyTorch's order.

        Returns ``num_layers * num_directions`` ``GRUParams``: layer 0 forward,
        layer 0 reverse (``weight_ih_l0_reverse``...), layer 1 forward, ... as
        ``stack_forward(x, h0, layers, bidirectional=...)`` takes them. Layer
        k > 0 has D = num_directions * H. ``bias=False`` layers get zero biases.

        Raises:
            TypeError: ``gru`` is neither a module nor a mapping.
            ValueError: an LSTM, a missing layer or direction (the keys must run
                _l0 .. _l{L-1}, each with or, for every layer, without _reverse),
                unknown keys, or shapes that do not stack three gates.
        """
        if hasattr(gru, "state_dict") and callable(gru.state_dict):
            if "LSTM" in type(gru).__name__:
                raise ValueError(f"gru: got a torch.nn.{type(gru).__name__}; GRUParams holds GRUs. Use "
                                 f"gru_props.lstm.LSTMParams for an LSTM.")
            state = gru.state_dict()
        elif isinstance(gru, Mapping):
            state = gru
        else:
            raise TypeError(f"gru: expected a torch.nn.GRU or its state_dict(); got a {type(gru).__name__}.")
        pattern = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?")
        found: Dict[Tuple[int, int], Dict[str, Any]] = {}
        unknown = []
        for key, value in state.items():
            m = pattern.fullmatch(str(key))
            if m is None:
                unknown.append(str(key))
                continue
            found.setdefault((int(m.group(2)), 1 if m.group(3) else 0), {})[f"{m.group(1)}_l0"] = value
        if unknown:
            raise ValueError(f"gru: expected the state_dict of a torch.nn.GRU (weight_ih_l0, weight_hh_l0, "
                             f"bias_ih_l0, bias_hh_l0, ..._reverse); it also holds {sorted(unknown)}.")
        if not found:
            raise ValueError("gru: the state_dict holds no GRU weights (weight_ih_l0, ...).")
        L = 1 + max(k for k, _ in found)
        nd = 2 if any(d for _, d in found) else 1
        missing = [f"_l{k}" + ("_reverse" if d else "") for k in range(L) for d in range(nd) if (k, d) not in found]
        if missing:
            raise ValueError(f"gru: the state_dict has no weights for {', '.join(missing)}: a torch.nn.GRU with "
                             f"{L} layer(s){' and two directions' if nd == 2 else ''} has every one of them.")
        layers = []
        for k in range(L):
            for d in range(nd):
                try:
                    layers.append(cls.from_torch(found[(k, d)]))
                except ValueError as exc:
                    where = f"_l{k}" + ("_reverse" if d else "")
                    raise ValueError(f"gru: the weights ending in {where}: {exc}".replace("_l0", where)) from None
        return tuple(layers)

    @staticmethod
    def stack_to_torch(layers: Sequence["GRUParams"], *, bidirectional: bool = False) -> Dict[str, Any]:
        """A ``state_dict`` for ``torch.nn.GRU(D, H, num_layers, bidirectional=...)`` from ``layers`` in
        PyTorch's order (layer 0 forward, layer 0 reverse, ...): load it with ``gru.load_state_dict``.

        Raises:
            TypeError: ``layers`` is not a sequence of GRUParams, ``bidirectional`` not a bool.
            ValueError: a number of layers that is not a multiple of num_directions, or shapes that do
                not chain (layer k > 0 must have D = num_directions * H).
        """
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional: expected True or False; got {bidirectional!r}.")
        if isinstance(layers, GRUParams):
            raise TypeError("layers: expected a sequence of GRUParams; got one GRUParams (pass [params]).")
        items = list(layers)
        nd = 2 if bidirectional else 1
        if not items or len(items) % nd or not all(isinstance(p, GRUParams) for p in items):
            raise ValueError(f"layers: expected num_layers * num_directions GRUParams, a positive multiple of {nd} "
                             f"for bidirectional={bool(bidirectional)}; got {len(items)} item(s).")
        H = items[0].H
        state: Dict[str, Any] = {}
        for i, p in enumerate(items):
            k, d = divmod(i, nd)
            if p.H != H or (k > 0 and p.D != nd * H) or (k == 0 and p.D != items[0].D):
                raise ValueError(f"layers[{i}]: expected D = {items[0].D if k == 0 else nd * H}, H = {H} (layer "
                                 f"{k} of a torch.nn.GRU); got D = {p.D}, H = {p.H}.")
            suffix = f"_l{k}" + ("_reverse" if d else "")
            state.update({key.replace("_l0", suffix): v for key, v in p.to_torch().items()})
        return state

    # ------------------------------------------------------------------- Keras
    @classmethod
    def from_keras(cls, kernel: Any, recurrent_kernel: Any, bias: Any = None) -> "GRUParams":
        """From a Keras ``GRU`` layer's weights (``layer.get_weights()``).

        Keras stacks gates in columns in the order z, r, h: ``kernel`` is
        (D, 3H), ``recurrent_kernel`` (H, 3H), ``bias`` (3H,) when
        ``reset_after=False`` or (2, 3H) (input row, recurrent row) when
        ``reset_after=True`` (Keras' default). ``bias=None`` means
        ``use_bias=False``.

        Raises:
            ValueError: shapes that do not stack three gates or do not agree.
        """
        k = as_real_array("kernel", kernel)
        rk = as_real_array("recurrent_kernel", recurrent_kernel)
        if rk.ndim != 2 or rk.shape[0] < 1 or rk.shape[0] * 3 != rk.shape[1]:
            raise ValueError(f"recurrent_kernel: expected shape (H, 3H) with H >= 1; got {rk.shape}.")
        H = rk.shape[0]
        if k.ndim != 2 or k.shape[1] != 3 * H:
            raise ValueError(f"kernel: expected shape (D, 3H) with H = {H}; got {k.shape}.")
        dt = compute_dtype(k.dtype, rk.dtype)
        if bias is None:
            b_in = b_rec = np.zeros(3 * H, dtype=dt)
        else:
            b = as_real_array("bias", bias)
            if b.shape == (3 * H,):
                b_in, b_rec = b, np.zeros(3 * H, dtype=b.dtype)
            elif b.shape == (2, 3 * H):
                b_in, b_rec = b[0], b[1]
            else:
                raise ValueError(
                    f"bias: expected shape (3H,) = ({3 * H},) for reset_after=False or "
                    f"(2, 3H) = (2, {3 * H}) for reset_after=True; got {b.shape}."
                )
        return cls._from_rows("zrn", k.T, rk.T, b_in, b_rec)

    def to_keras(self, reset_after: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(kernel, recurrent_kernel, bias)`` for ``keras.layers.GRU(H, reset_after=...)``.

        With ``reset_after=False`` Keras has no recurrent bias, so ``b_hn`` is
        folded into the candidate bias (exact in that convention).
        """
        kernel, recurrent, b = self._stacked("zrn")
        if reset_after:
            b_rec = np.concatenate([np.zeros_like(self.b_z), np.zeros_like(self.b_r), self.b_hn])
            bias = np.stack([b, b_rec])
        else:
            bias = np.concatenate([self.b_z, self.b_r, self.b_n + self.b_hn])
        return kernel, recurrent, bias

    # -------------------------------------------------------------------- ONNX
    @classmethod
    def from_onnx(cls, W: Any, R: Any, B: Any = None) -> "GRUParams":
        """From the inputs of an ONNX ``GRU`` node (one direction).

        ONNX stacks gates in rows in the order z, r, h: ``W`` is (1, 3H, D),
        ``R`` (1, 3H, H), ``B`` (1, 6H) = [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h].
        The leading num_directions axis may be omitted. ``B=None`` means zeros.
        Which convention applies is the node's ``linear_before_reset``
        attribute: 1 is ``reset_after=True``, 0 (default) ``reset_after=False``.

        Raises:
            ValueError: num_directions other than 1, or inconsistent shapes.
        """
        W_in, R_in = as_real_array("W", W), as_real_array("R", R)
        R = _drop_direction_axis("R", R_in, "(1, 3H, H)", 2, "GRUParams")
        if R.ndim != 2 or R.shape[0] % 3 or R.shape[0] != 3 * R.shape[1]:
            raise ValueError(f"R: expected shape (1, 3H, H) (three stacked gates); got {R_in.shape}.")
        H = R.shape[1]
        W = _drop_direction_axis("W", W_in, "(1, 3H, D)", 2, "GRUParams")
        if W.ndim != 2 or W.shape[0] != 3 * H:
            raise ValueError(
                f"W: expected shape (1, 3H, D) with H = {H} (from R), that is (1, {3 * H}, D); "
                f"got {W_in.shape}."
            )
        Wb, Rb = _onnx_bias(B, 3, H, compute_dtype(W.dtype, R.dtype), "GRUParams")
        return cls._from_rows("zrn", W, R, Wb, Rb)

    def to_onnx(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W, R, B)`` for an ONNX ``GRU`` node: (1, 3H, D), (1, 3H, H), (1, 6H)."""
        W, R, b = self._stacked("zrn")
        zero = np.zeros_like(self.b_z)
        B = np.concatenate([b, zero, zero, self.b_hn])[None]
        return np.ascontiguousarray(W.T[None]), np.ascontiguousarray(R.T[None]), B

    @classmethod
    def _from_rows(cls, order: str, w: np.ndarray, r: np.ndarray,
                   b_in: np.ndarray, b_rec: np.ndarray) -> "GRUParams":
        """From gate-stacked rows w (3H, D), r (3H, H), input and recurrent biases (3H,), in ``order``.

        The biases add up per gate, except the candidate's recurrent one: that is ``b_hn``.
        """
        n = _gate_rows(order, r.shape[1])["n"]
        fields = _split_gates(order, w, r, b_in + b_rec)
        return cls(**{**fields, "b_n": b_in[n], "b_hn": b_rec[n]})


_TORCH_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _torch_suffix(state: Mapping[str, Any]) -> str:
    """``"_l0"`` for an ``nn.GRU`` state_dict, ``""`` for an ``nn.GRUCell``'s; refuses anything else.

    The message says what the keys show: several layers, two directions, an
    LSTM's projection, or keys of no GRU at all.
    """
    keys = set(state)
    layers = sorted({int(m.group(1)) for k in keys
                     for m in [re.fullmatch(r"(?:weight|bias)_(?:ih|hh|hr)_l(\d+)(?:_reverse)?", str(k))] if m})
    reverse = sorted(k for k in keys if str(k).endswith("_reverse"))
    if len(layers) > 1 or reverse:
        what = []
        if len(layers) > 1:
            what.append(f"{len(layers)} layers (keys ending in {', '.join(f'_l{i}' for i in layers)})")
        if reverse:
            what.append(f"two directions (keys such as {reverse[0]!r})")
        raise ValueError(
            f"gru: expected the state_dict of a single-layer, one-direction GRU; this one holds "
            f"{' and '.join(what)}. GRUParams holds one layer and one direction: convert each "
            f"separately, e.g. GRUParams.from_torch({{k: v for k, v in state.items() if "
            f"k.endswith('_l0')}}) for the first layer, forward direction."
        )
    if any(str(k).startswith("weight_hr") for k in keys):
        raise ValueError(
            f"gru: the state_dict holds {sorted(k for k in keys if str(k).startswith('weight_hr'))}, "
            f"an LSTM's projection (proj_size > 0); GRUParams holds a GRU."
        )
    cell = {k for k in keys if k in _TORCH_KEYS}
    layer = {k for k in keys if k in {f"{n}_l0" for n in _TORCH_KEYS}}
    suffix = "" if cell and not layer else "_l0"
    unknown = sorted(keys - {f"{n}{suffix}" for n in _TORCH_KEYS})
    if unknown:
        expected = ", ".join(f"{n}{suffix}" for n in _TORCH_KEYS)
        raise ValueError(
            f"gru: expected the state_dict of a torch.nn.GRU (weight_ih_l0, weight_hh_l0, "
            f"bias_ih_l0, bias_hh_l0) or of a torch.nn.GRUCell (weight_ih, weight_hh, bias_ih, "
            f"bias_hh); besides {expected} it holds {unknown}, which are not GRU weights."
        )
    return suffix


def _to_numpy(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return as_real_array(name, value)


def _three_gates(name: str, arr: np.ndarray, expected: str, H: Optional[int] = None) -> int:
    if arr.ndim != 2 or arr.shape[0] < 3 or arr.shape[0] % 3 or (H is not None and arr.shape[0] != 3 * H):
        h_text = f" with H = {H}" if H is not None else ""
        raise ValueError(f"{name}: expected shape {expected}{h_text} (three stacked gates); got {arr.shape}.")
    return arr.shape[0] // 3


def _drop_direction_axis(name: str, arr: np.ndarray, expected: str, ndim: int, kind: str) -> np.ndarray:
    """``arr`` without ONNX's leading num_directions axis (``ndim`` is the rank without it).

    ``kind`` (``"GRUParams"``, ``"LSTMParams"``) names the class in the message.
    """
    if arr.ndim == ndim + 1:
        if arr.shape[0] != 1:
            raise ValueError(
                f"{name}: expected shape {expected} with num_directions = 1; got {arr.shape}. "
                f"{kind} holds one direction: convert {name}[0:1] (forward) and {name}[1:2] "
                f"(reverse) separately."
            )
        return arr[0]
    return arr


def _onnx_bias(B: Any, gates: int, H: int, dtype: np.dtype, kind: str) -> Tuple[np.ndarray, np.ndarray]:
    """ONNX's ``B`` (1, 2nH) for n = ``gates`` as its halves (Wb, Rb), each (nH,); ``None`` gives zeros of ``dtype``."""
    if B is None:
        zeros = np.zeros(gates * H, dtype=dtype)
        return zeros, zeros
    B_in = as_real_array("B", B)
    width = f"(1, {2 * gates}H) = (1, {2 * gates * H})"
    B = _drop_direction_axis("B", B_in, width, 1, kind)
    if B.shape != (2 * gates * H,):
        raise ValueError(f"B: expected shape {width}; got {B_in.shape}.")
    return B[: gates * H], B[gates * H:]


def _bias_or_zeros(state: Mapping[str, Any], key: str, gates: int, H: int, dtype: np.dtype) -> np.ndarray:
    """The (nH,) bias ``state[key]`` for n = ``gates``, or zeros of ``dtype`` when a layer has none (``bias=False``)."""
    if key not in state:
        return np.zeros(gates * H, dtype=dtype)
    b = _to_numpy(key, state[key])
    if b.shape != (gates * H,):
        raise ValueError(f"{key}: expected shape ({gates}H,) = ({gates * H},); got {b.shape}.")
    return b


def _gate_rows(order: Sequence[str], H: int) -> Dict[str, slice]:
    """Where each gate of ``order`` sits along a gate-stacked (nH) axis."""
    return {gate: slice(k * H, (k + 1) * H) for k, gate in enumerate(order)}


def _split_gates(order: Sequence[str], w: np.ndarray, r: np.ndarray, b: np.ndarray) -> Dict[str, np.ndarray]:
    """Fields ``W_g`` (D, H), ``U_g`` (H, H), ``b_g`` (H,) of each gate g from the gate-stacked
    rows w (nH, D), r (nH, H) and b (nH,), gates in ``order``."""
    fields: Dict[str, np.ndarray] = {}
    for gate, rows in _gate_rows(order, r.shape[1]).items():
        fields[f"W_{gate}"] = w[rows].T
        fields[f"U_{gate}"] = r[rows].T
        fields[f"b_{gate}"] = b[rows]
    return fields


def _float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy floating dtype; ``TypeError`` for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a floating dtype such as np.float32; got {dtype!r}.") from None
    if dt.kind != "f":
        raise TypeError(f"dtype: expected a floating dtype such as np.float32; got {dt}.")
    return dt


def _import_optional(module: str, what: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(
            f"{what} needs {module}, which is not installed. Install the reference extra: "
            f"pip install 'gru_props[reference]'."
        ) from None


# ------------------------------------------------------------- construction


def _most_common(values: Sequence[int], prefer: int) -> int:
    """The most frequent value; ``prefer`` wins a tie it takes part in."""
    counts = Counter(values)
    best = max(counts.values())
    return prefer if counts.get(prefer) == best else next(v for v in values if counts[v] == best)


def _infer_dims(arrays: Mapping[str, np.ndarray]) -> Tuple[int, int]:
    """D and H as most fields agree on them, so that one bad field gets the blame.

    H comes from the square recurrent weights and the biases (their shapes do
    not depend on orientation), D from the input weights read either way
    round; ties go to ``W_z``. A wholly transposed set of W_* is then blamed
    as transposed, not as a mismatch of U_z. ``W_z`` is already known to be
    2-D with at least one column.
    """
    W_z = arrays["W_z"]
    votes = [a.shape[0] for n in _RECURRENT for a in [arrays[n]] if a.ndim == 2 and a.shape[0] == a.shape[1]]
    votes += [a.shape[0] for n in _BIASES for a in [arrays[n]] if a.ndim == 1]
    H = _most_common(votes, prefer=W_z.shape[1]) if votes else W_z.shape[1]
    if H < 1:
        raise ValueError(
            f"GRUParams: expected H >= 1 hidden units; the recurrent weights and biases have H = {H}."
        )
    d_votes = []
    for n in _WEIGHTS:
        a = arrays[n]
        if a.ndim == 2 and a.shape[1] == H:
            d_votes.append(a.shape[0])
        elif a.ndim == 2 and a.shape[0] == H:
            d_votes.append(a.shape[1])  # transposed; blamed below
    W_z_D = W_z.shape[0] if W_z.shape[1] == H else W_z.shape[1]
    D = _most_common(d_votes, prefer=W_z_D) if d_votes else W_z.shape[0]
    return D, H


def _immutable(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A copy of ``arr`` in ``dtype`` backed by ``bytes``: read-only for good.

    NumPy refuses ``setflags(write=True)`` on an array (or any view of it)
    whose memory belongs to an immutable ``bytes`` object, so nothing can
    change a ``GRUParams`` (or an ``LSTMParams``) behind the back of the
    fast tiers' prepared-weights cache. Measured (benchmarks/bench_adapters.py): construction costs the
    same as a plain copy within noise (+0.2 us per array), and the tiers run
    at the same speed on such arrays.
    """
    data = np.ascontiguousarray(arr, dtype=dtype)
    return np.frombuffer(data.tobytes(), dtype=dtype).reshape(arr.shape)


def _rebuild(cls: Type[_P], arrays: Dict[str, np.ndarray]) -> _P:
    return cls(**arrays)


class _NoCache(Dict[Any, Any]):
    """A cache that keeps nothing: for parameters whose arrays may change."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        pass


def _writable_copy(params: GRUParams) -> GRUParams:
    """A ``GRUParams`` whose arrays are writable copies of ``params``' (its own, with no cache).

    The checker hands such a copy to a user's function to see whether the
    function writes into its arguments. Level 3 caches nothing for it, so an
    edited copy never meets results prepared from its old values. Copying or
    pickling it gives an ordinary, read-only ``GRUParams``.

    Raises:
        TypeError: ``params`` is not a ``GRUParams``.
    """
    if not isinstance(params, GRUParams):
        raise TypeError(f"params: expected a gru_props.GRUParams; got a {type(params).__name__}.")
    copy = object.__new__(type(params))
    for name, arr in params.arrays().items():
        object.__setattr__(copy, name, np.array(arr, copy=True))
    object.__setattr__(copy, "_cache", _NoCache())
    return copy


def in_float64(p: _P) -> _P:
    """``p`` itself when every array is already float64, else ``p.astype(np.float64)``: for the models the
    explanation searches run thousands of times (parameters are never written to there)."""
    if all(a.dtype == np.float64 for a in p.arrays().values()):
        return p
    return p.astype(np.float64)

