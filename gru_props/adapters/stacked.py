"""The layout adapters in the stack form: ``fn(x, h0, layers[, lengths])`` with every layer and direction's
weights in the layout's own names.

The stack checks (``check_implementation(fn, num_layers=..., bidirectional=..., lengths=...)``) call
``fn(x, h0, layers[, lengths])`` with ``layers`` a list of ``GRUParams`` in PyTorch's order (layer 0
forward, layer 0 reverse, layer 1 forward, ...). Wrapped by a layout adapter, your function gets what
that framework's multi-layer, bidirectional GRU holds instead (a *scheme*):

==================  ==========================================================================================
layout              what your stack function receives and returns
==================  ==========================================================================================
``torch_layout``    ``fn(x, h0, weights[, lengths])``: ``weights`` a dict with ``torch.nn.GRU``'s
                    ``state_dict`` names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
                    ``weight_ih_l0_reverse``, ..., ``bias_hh_l1``); x (B, T, D), h0 (L * nd, B, H) and
                    lengths (B,) unchanged; returns ``(out, h_n)``. Backward ``fn(x, h0, weights[, lengths],
                    dout, dh_n)`` returns ``(dx, dh0, grads)``, grads a dict with the same names
                    (``d`` + name accepted).
``keras_layout``    ``fn(x, initial_state, weights[, mask])``, as a stack of
                    ``Bidirectional(GRU(..., return_sequences=True))`` layers holds them:
                    ``initial_state`` a list of L * nd arrays (B, H) (per layer: forward, then backward;
                    None when the check passes h0=None), ``weights`` the flat list of ``model.get_weights()``
                    (per layer and direction: kernel, recurrent_kernel, bias), ``mask`` a bool (B, T) array,
                    True at valid steps. Returns ``(out, states)``, states a list of L * nd arrays (B, H) (or
                    one (L * nd, B, H) array, or ``out, *states``). Backward ``fn(x, initial_state, weights[,
                    mask], dout, d_states)`` (d_states a list like initial_state) returns ``(dx,
                    d_initial_state, grads)``, grads a list like weights.
``named_weights``   ``fn(x, h0, layers[, lengths])`` with ``layers`` a list of L * nd entries, each your
(and the others)    weights as ``pass_as`` says (a dict, a list, an object; a tuple for ``"args"``, as for
                    ``onnx_layout``'s (W, R, B) and ``concat_layout``); gradients a list like it.
==================  ==========================================================================================

Keras' ``Bidirectional(GRU(..., return_sequences=True))`` writes zeros at masked steps (it sets
``zero_output_for_mask``), which is ``padding="zeros"``; a GRU layer alone, or a masked update ``h = m *
h_new + (1 - m) * h`` that outputs the held state, is ``padding="hold"``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props.adapters.base import (
    _any_writable,
    _backward_triple,
    _describe_value,
    _dims,
    _info,
    _params_arrays,
    _to_numpy,
    _write_back,
    call_user,
)
from gru_props.adapters.names import NameMap

_LAYER = re.compile(r"^layers\[(\d+)\]\.(\w+)$")


def infer_bidirectional(layers: Sequence[Any]) -> bool:
    """Whether ``layers`` are in pairs (forward, reverse), read off the input sizes (for a call outside a check;
    the checks say it). Two layers with D = H read as one bidirectional layer."""
    n = len(layers)
    D, H = layers[0].W_z.shape
    if n % 2 or layers[1].W_z.shape[0] != D:
        return False
    return n == 2 or layers[2].W_z.shape[0] == 2 * H


def _directions(layers: Sequence[Any], bidirectional: Optional[bool], expr: str) -> int:
    nd = 2 if (infer_bidirectional(layers) if bidirectional is None else bidirectional) else 1
    if len(layers) % nd:
        raise ValueError(f"{expr}: {len(layers)} parameter sets cannot be a bidirectional stack (one per layer and "
                         f"direction: an even number).")
    return nd


# =================================================================== schemes


class Scheme:
    """How one layout hands a stack to your function (subclasses: PyTorch's, Keras', a plain list)."""

    label = "a stack"

    def weights(self, m: NameMap, per_layer: List[Tuple[Dict[str, np.ndarray], int, int]], nd: int) -> Any:
        """Each layer's arrays by your names (with its D and H) -> what your function receives."""
        raise NotImplementedError

    def layer_grads(self, expr: str, m: NameMap, grads: Any, n: int, nd: int) -> List[Any]:
        """Your gradients -> one item per layer and direction, each for ``named._grad_items``."""
        if not isinstance(grads, (list, tuple)) or len(grads) != n:
            raise TypeError(f"{expr}: grads: expected {n} gradients, one per layer and direction in the order of "
                            f"the weights; got {_describe_value(grads)}"
                            f"{' of ' + str(len(grads)) if isinstance(grads, (list, tuple)) else ''}.")
        return list(grads)

    def state_in(self, h0: Any) -> Any:
        return h0

    def state_out(self, expr: str, value: Any, what: str) -> Any:
        return value

    def lengths_in(self, lengths: Any, T: int) -> Any:
        return lengths

    def outputs(self, expr: str, value: Any, n: int) -> Tuple[Any, Any]:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TypeError(f"{expr}: the stack form returns (out, h_n); got {_describe_value(value)}"
                            f"{' of ' + str(len(value)) + ' items' if isinstance(value, (tuple, list)) else ''}.")
        return value[0], self.state_out(expr, value[1], "h_n")

    #: The names of your function's arguments, for a report (``lengths`` only when the check passes them).
    labels: Tuple[str, ...] = ("x", "h0", "layers", "lengths", "dout", "dh_n")

    def names(self, m: NameMap, n: int, nd: int) -> List[str]:
        """What a report calls each weight array your function receives (for the element names of a list)."""
        return []

    def place(self, m: NameMap, i: int, nd: int, places: List[Tuple[str, Tuple[int, ...]]]
              ) -> List[Tuple[str, Tuple[int, ...]]]:
        """Where layer ``i``'s element (at ``places`` within that layer's own arrays) is in what you receive."""
        return [(f"layers[{i}].{name}" if name else f"layers[{i}]", idx) for name, idx in places]


class ListScheme(Scheme):
    """``named_weights``: a list with one entry per layer and direction, each as ``pass_as`` hands it."""

    def __init__(self, passed: Callable[[Dict[str, np.ndarray], int, int], Tuple[Any, ...]], pass_as: str) -> None:
        self.passed, self.pass_as = passed, pass_as

    def weights(self, m: NameMap, per_layer: List[Tuple[Dict[str, np.ndarray], int, int]], nd: int) -> Any:
        out = []
        for arrays, D, H in per_layer:
            got = self.passed(arrays, D, H)
            out.append(got if self.pass_as == "args" else got[0])
        return out


def _torch_suffix(i: int, nd: int) -> str:
    layer, d = divmod(i, nd)
    return f"_l{layer}" + ("_reverse" if d else "")


class TorchScheme(Scheme):
    """``torch.nn.GRU``'s ``state_dict``: ``weight_ih_l0``, ..., ``bias_hh_l1_reverse``."""

    label = "torch.nn.GRU's state_dict"
    labels = ("x", "h0", "weights", "lengths", "dout", "dh_n")

    def weights(self, m: NameMap, per_layer: List[Tuple[Dict[str, np.ndarray], int, int]], nd: int) -> Any:
        return {f"{name}{_torch_suffix(i, nd)}": a for i, (arrays, _, _) in enumerate(per_layer)
                for name, a in arrays.items()}

    def layer_grads(self, expr: str, m: NameMap, grads: Any, n: int, nd: int) -> List[Any]:
        if not isinstance(grads, Mapping):
            raise TypeError(f"{expr}: grads: expected a dict keyed like torch.nn.GRU's state_dict (weight_ih_l0, "
                            f"..., the names your function received); got {_describe_value(grads)}.")
        keys = {str(k): v for k, v in grads.items()}
        wanted = {f"{name}{_torch_suffix(i, nd)}" for i in range(n) for name in m.names}
        unknown = [k for k in keys if k not in wanted and not (k.startswith("d") and k[1:] in wanted)]
        if unknown:
            raise ValueError(f"{expr}: grads: unknown key(s) {', '.join(map(repr, unknown))}; the weights are "
                             f"{', '.join(sorted(wanted))}.")
        out = []
        for i in range(n):
            sub = {}
            for name in m.names:
                full = f"{name}{_torch_suffix(i, nd)}"
                for key in (full, "d" + full):
                    if key in keys:
                        sub[name] = keys[key]
            out.append(sub)
        return out

    def place(self, m: NameMap, i: int, nd: int, places: List[Tuple[str, Tuple[int, ...]]]
              ) -> List[Tuple[str, Tuple[int, ...]]]:
        return [(f"{name}{_torch_suffix(i, nd)}", idx) for name, idx in places]


def _keras_label(i: int, nd: int) -> str:
    layer, d = divmod(i, nd)
    if nd == 1:
        return f"layer {layer}"
    return f"layer {layer} {'backward' if d else 'forward'}"


class KerasScheme(Scheme):
    """A stack of Keras ``Bidirectional(GRU)`` layers: a flat weights list, initial states as a list, a mask."""

    label = "Keras' get_weights() list"
    labels = ("x", "initial_state", "weights", "mask", "dout", "d_states")

    def weights(self, m: NameMap, per_layer: List[Tuple[Dict[str, np.ndarray], int, int]], nd: int) -> Any:
        return [a for arrays, _, _ in per_layer for a in arrays.values()]

    def names(self, m: NameMap, n: int, nd: int) -> List[str]:
        return [f"{name}, {_keras_label(i, nd)}" for i in range(n) for name in m.names]

    def layer_grads(self, expr: str, m: NameMap, grads: Any, n: int, nd: int) -> List[Any]:
        k = len(m.names)
        if isinstance(grads, (list, tuple)) and len(grads) == n * k:
            return [list(grads[i * k:(i + 1) * k]) for i in range(n)]
        if isinstance(grads, (list, tuple)) and len(grads) == n and all(isinstance(g, (list, tuple)) for g in grads):
            return list(grads)
        got = f"{_describe_value(grads)}" + (f" of {len(grads)}" if isinstance(grads, (list, tuple)) else "")
        raise TypeError(f"{expr}: grads: expected a list like the weights ({n * k} arrays: {', '.join(m.names)} "
                        f"for each layer and direction, as model.get_weights() orders them); got {got}.")

    def state_in(self, h0: Any) -> Any:
        return None if h0 is None else list(h0)

    def state_out(self, expr: str, value: Any, what: str) -> Any:
        if isinstance(value, (list, tuple)):
            try:
                return np.stack([np.asarray(_to_numpy(v)) for v in value])
            except ValueError as exc:
                raise ValueError(f"{expr}: {what}: expected a list of L * num_directions states (B, H); their "
                                 f"shapes differ ({exc}).") from None
        return value

    def lengths_in(self, lengths: Any, T: int) -> Any:
        return np.arange(T)[None, :] < np.asarray(lengths)[:, None]

    def outputs(self, expr: str, value: Any, n: int) -> Tuple[Any, Any]:
        if isinstance(value, (tuple, list)) and len(value) == n + 1 and n > 1:  # out, *states (return_state)
            return value[0], self.state_out(expr, list(value[1:]), "states")
        return super().outputs(expr, value, n)

    def place(self, m: NameMap, i: int, nd: int, places: List[Tuple[str, Tuple[int, ...]]]
              ) -> List[Tuple[str, Tuple[int, ...]]]:
        k = len(m.names)
        order = {name: j for j, name in enumerate(m.names)}
        return [(f"weights[{i * k + order[name]}] ({name}, {_keras_label(i, nd)})", idx) for name, idx in places]


# =================================================================== the call


def stack_call(fn: Any, m: NameMap, scheme: Scheme, expr: Callable[[], str],
               grad_items: Callable[[str, Any, NameMap], Dict[str, Any]]) -> Callable[..., Any]:
    """The stack form of a layout adapter built on name map ``m``: ``call(x, h0, layers, rest, bidirectional)``
    with ``rest`` = () / (lengths,) forward, (dout, dh_n) / (lengths, dout, dh_n) backward; ``grad_items``
    reads one layer's gradients by your names (``named._grad_items``)."""

    def call(x: Any, h0: Any, layers: Sequence[Any], rest: Tuple[Any, ...], bidirectional: Optional[bool]) -> Any:
        e = expr()
        inner = _info(fn)
        if inner is not None:
            raise TypeError(f"{e}: in the stack form (a list of layers) the layout adapter goes directly around your "
                            f"own function; {inner.kind} inside it takes one layer's parameters.")
        if len(rest) > 3:
            raise TypeError(f"{e}: the stack form is fn(x, h0, layers[, lengths]) (backward: ... dout, dh_n); got "
                            f"{3 + len(rest)} arguments.")
        nd = _directions(layers, bidirectional, e)
        fields, per_layer = [], []
        for p in layers:
            _, f = _params_arrays(e, (p,))
            D, H = _dims(f)
            fields.append((f, D, H))
            per_layer.append((m.to_user(f, D, H), D, H))
        lengths, bargs = ((rest[0],), rest[1:]) if len(rest) in (1, 3) else ((), rest)
        T = np.shape(x)[1]
        args: List[Any] = [x, scheme.state_in(h0), scheme.weights(m, per_layer, nd)]
        args += [scheme.lengths_in(v, T) for v in lengths]
        if bargs:
            args += [bargs[0], scheme.state_in(bargs[1])]
        out = call_user(fn, *args)
        for (f, D, H), (user, _, _) in zip(fields, per_layer):
            if _any_writable(f):
                _write_back(f, m.values_from_user(m.to_user(f, D, H), f, D, H), m.values_from_user(user, f, D, H))
        if not bargs:
            return scheme.outputs(e, out, len(layers))
        dx, dh0, grads = _backward_triple(e, out)
        items = scheme.layer_grads(e, m, grads, len(layers), nd)
        return dx, scheme.state_out(e, dh0, "dh0"), [
            m.grads_from_user(f"{e}: layers[{i}]", grad_items(e, g, m), D, H)
            for i, (g, (_, D, H)) in enumerate(zip(items, fields))]

    return call


def stack_locate(m: NameMap, scheme: Scheme) -> Callable[..., List[Tuple[str, Tuple[int, ...]]]]:
    """``locate("layers[i].U_n", index, D, H, bidirectional=...)``: where that element is in what you receive."""

    def locate(name: str, index: Sequence[int], D: int, H: int, bidirectional: Optional[bool] = None
               ) -> List[Tuple[str, Tuple[int, ...]]]:
        hit = _LAYER.match(name)
        if hit is None or bidirectional is None:
            return [(name, tuple(index))]
        i, field = int(hit.group(1)), hit.group(2)
        nd = 2 if bidirectional else 1
        D_i = D if i < nd else nd * H
        return scheme.place(m, i, nd, m.locate(field, index, D_i, H))

    return locate


def stack_names(m: NameMap, scheme: Scheme) -> Callable[[int, int], Tuple[List[str], List[str]]]:
    """For a report: your stack function's argument names and the names of its weights list's elements."""
    return lambda n, nd: (list(scheme.labels), scheme.names(m, n, nd))


__all__ = ["KerasScheme", "ListScheme", "Scheme", "TorchScheme", "infer_bidirectional",
           "stack_call", "stack_locate", "stack_names"]
