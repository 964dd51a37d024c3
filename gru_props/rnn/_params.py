"""``RNNParams``: the weights of a tanh RNN, and converters to and from PyTorch.

One "gate" only: the state itself. Row-vector convention, as for the GRU and
the LSTM: ``x_t @ W`` with ``W`` of shape (D, H).

=========  ===================================  ===============================
framework  weights                              biases
=========  ===================================  ===============================
PyTorch    weight_ih_l0 (H, D), hh (H, H)       bias_ih_l0, bias_hh_l0 (H,)
=========  ===================================  ===============================

Both PyTorch biases add to the same pre-activation, so they fold into one
``b`` exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping

import numpy as np

from gru_props.core.params import _bias_or_zeros, _GateParams, _import_optional, _to_numpy

__all__ = ["RNNParams"]

FIELDS = ("W", "U", "b")
_KNOWN = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class RNNParams(_GateParams):
    """The parameters of a single-layer, one-direction tanh RNN.

    ``h_t = tanh(x_t W + h_{t-1} U + b)``

    =========  ======  ==========================================
    field      shape   role
    =========  ======  ==========================================
    ``W``      (D, H)  input weights
    ``U``      (H, H)  recurrent weights
    ``b``      (H,)    bias (PyTorch's input and recurrent biases folded)
    =========  ======  ==========================================

    As ``GRUParams`` and ``LSTMParams``: construction copies every array into
    one common floating dtype and makes the copies read-only (immutable
    memory); ``replace``, ``astype``, ``arrays``, ``random`` (PyTorch's
    uniform(±1/√H) by default) and ``zeros`` behave the same.

    Raises:
        TypeError: a field is not a real numeric array (complex, boolean,
            strings, objects).
        ValueError: a field has the wrong rank or a shape inconsistent with
            ``W``'s (D, H); the message names the field, the expected shape
            and the shape received.
    """

    W: np.ndarray
    U: np.ndarray
    b: np.ndarray

    _KIND = "RNNParams"
    _WEIGHTS = ("W",)
    _RECURRENT = ("U",)
    _BIASES = ("b",)
    _FIELDS = FIELDS

    @classmethod
    def from_torch(cls, rnn: Any) -> "RNNParams":
        """From a ``torch.nn.RNN`` (one layer, one direction, tanh) or its ``state_dict()``.

        ``weight_ih_l0`` is (H, D), ``weight_hh_l0`` (H, H), ``bias_ih_l0`` and
        ``bias_hh_l0`` (H,) add up into ``b`` (a layer built with
        ``bias=False`` has none: zeros). The dtype of the tensors is kept.

        Raises:
            TypeError: neither a module with ``state_dict()`` nor a mapping.
            ValueError: a GRU or LSTM module, ``nonlinearity="relu"``, more
                than one layer, bidirectional, missing or unknown weights, or
                shapes that do not agree.
        """
        if hasattr(rnn, "state_dict") and callable(rnn.state_dict):
            kind = type(rnn).__name__
            if "GRU" in kind or "LSTM" in kind:
                raise ValueError(
                    f"rnn: got a torch.nn.{kind}; RNNParams holds a tanh RNN. Use "
                    f"GRUParams.from_torch or gru_props.lstm.LSTMParams.from_torch for it."
                )
            nonlinearity = getattr(rnn, "nonlinearity", "tanh")
            if nonlinearity != "tanh":
                raise ValueError(
                    f"rnn: expected a torch.nn.RNN with nonlinearity='tanh'; got "
                    f"nonlinearity={nonlinearity!r}. RNNParams computes tanh(x W + h U + b) only."
                )
            layers = getattr(rnn, "num_layers", 1)
            bidirectional = getattr(rnn, "bidirectional", False)
            if layers != 1 or bidirectional:
                raise ValueError(
                    f"rnn: expected a single-layer, one-direction torch.nn.RNN; got "
                    f"num_layers={layers}, bidirectional={bidirectional}. Convert each "
                    f"layer/direction separately from its state_dict entries."
                )
            state = rnn.state_dict()
        elif isinstance(rnn, Mapping):
            state = rnn
        else:
            raise TypeError(
                f"rnn: expected a torch.nn.RNN or its state_dict(); got a {type(rnn).__name__}."
            )
        extra = sorted(set(state) - set(_KNOWN))
        if extra:
            raise ValueError(
                f"rnn: expected the state_dict of a single-layer, one-direction RNN "
                f"({', '.join(_KNOWN)}); it also holds {extra}."
            )
        for key in ("weight_ih_l0", "weight_hh_l0"):
            if key not in state:
                raise ValueError(f"rnn: the state_dict has no {key!r}; keys are {sorted(state)}.")
        w_ih = _to_numpy("weight_ih_l0", state["weight_ih_l0"])
        w_hh = _to_numpy("weight_hh_l0", state["weight_hh_l0"])
        if w_hh.ndim != 2 or w_hh.shape[0] != w_hh.shape[1] or w_hh.shape[0] < 1:
            raise ValueError(f"weight_hh_l0: expected shape (H, H) with H >= 1; got {w_hh.shape}.")
        H = w_hh.shape[0]
        if w_ih.ndim != 2 or w_ih.shape[0] != H:
            raise ValueError(
                f"weight_ih_l0: expected shape (H, D) with H = {H} (from weight_hh_l0); got {w_ih.shape}."
            )
        b = _bias_or_zeros(state, "bias_ih_l0", 1, H, w_ih.dtype) + _bias_or_zeros(
            state, "bias_hh_l0", 1, H, w_ih.dtype)
        return cls(W=w_ih.T, U=w_hh.T, b=b)

    def to_torch(self) -> Dict[str, Any]:
        """A ``state_dict`` for ``torch.nn.RNN(D, H)``: load it with ``rnn.load_state_dict``.

        The folded bias goes to ``bias_ih_l0``; ``bias_hh_l0`` is zeros.
        Tensors keep this object's dtype (call ``rnn.double()`` for float64).

        Raises:
            ImportError: torch is not installed (the ``reference`` extra).
        """
        torch = _import_optional("torch", "RNNParams.to_torch")
        return {
            k: torch.from_numpy(np.array(v, order="C", copy=True))  # writable copies for torch
            for k, v in (("weight_ih_l0", self.W.T), ("weight_hh_l0", self.U.T),
                         ("bias_ih_l0", self.b), ("bias_hh_l0", np.zeros_like(self.b)))
        }
