"""Adapters made from a name map: ``named_weights`` (a function taking its weights under your own names)
and the machinery the framework layouts (``torch_layout``, ``keras_layout``, ``onnx_layout``,
``concat_layout``) are built on: each is a name map (``adapters.maps``) and a way of passing it."""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from gru_props.adapters.base import (
    AS_DECORATOR,
    DATA_NAMES,
    LayoutParams,
    _any_writable,
    _backward_triple,
    _check_fn,
    _describe_value,
    _dims,
    _invoke,
    _named,
    _params_arrays,
    _wrap,
    _write_back,
    describe,
)
from gru_props.adapters.names import NameMap
from gru_props.adapters.stacked import ListScheme, Scheme, stack_call, stack_locate, stack_names
from gru_props.core.params import GRUParams

#: How the arrays reach your function: positional arguments, one dict, one list, one object with attributes.
PASS_AS = ("args", "dict", "list", "object")


def as_name_map(names: Union[NameMap, Mapping[str, str]], kind: str) -> NameMap:
    """A ``NameMap`` from a mapping (validated now, so a bad map fails where it is written)."""
    if isinstance(names, NameMap):
        return names
    if not isinstance(names, Mapping):
        raise TypeError(f"{kind}: names: expected a mapping from your names to expressions such as "
                        f"{{'Wz': 'W_z', 'Uz': 'U_z', 'bz': 'b_z', ...}} (see gru_props.adapters.maps for "
                        f"ready-made ones); got {_describe_value(names)}.")
    return NameMap(names)


def _passed(arrays: Dict[str, np.ndarray], pass_as: str, label: str, D: int, H: int) -> Tuple[Any, ...]:
    if pass_as == "args":
        return tuple(arrays.values())
    if pass_as == "dict":
        return (dict(arrays),)
    if pass_as == "list":
        return (list(arrays.values()),)
    return (LayoutParams(label, arrays, D, H),)


def _grad_items(expr: str, grads: Any, m: NameMap) -> Dict[str, Any]:
    """Your gradients by your names: a mapping (keys ``name`` or ``dname``), a sequence in the map's order
    (with or without the constant entries), or an object with those attributes."""
    names = [e.name for e in m.entries if not e.is_constant()]
    consts = [e.name for e in m.entries if e.is_constant()]
    optional = [e.name for e in m.entries if e.is_bias()]
    if isinstance(grads, Mapping):
        items = {}
        for k, v in grads.items():
            key = str(k)
            if key not in m.names and key.startswith("d") and key[1:] in m.names:
                key = key[1:]
            if key not in consts:
                items[key] = v
        grads = items
    elif isinstance(grads, (tuple, list)) and consts and len(grads) == len(m.names):
        grads = [g for e, g in zip(m.entries, grads) if not e.is_constant()]
    elif isinstance(grads, LayoutParams) or (
            hasattr(grads, "__dict__") and not isinstance(grads, (np.ndarray, GRUParams))):
        found = {}
        for n in names:
            for attr in (n, "d" + n):
                if attr in dir(grads):
                    found[n] = getattr(grads, attr)
                    break
        grads = found
    return _named(expr, grads, names, optional if len(optional) < len(names) else (), m.label)


def map_adapter(fn: Any, m: NameMap, *, pass_as: str, name: str, kind: str,
                requires: Optional[Mapping[str, Any]] = None, scheme: Optional[Scheme] = None) -> Callable[..., Any]:
    """Wrap ``fn``, which takes the arrays of name map ``m`` (passed as ``pass_as``), into ``fn(x, h0, params)``.

    Forward: ``fn(x, h0, <arrays>)``; backward: ``fn(x, h0, <arrays>, dhs, dh_T)`` returning
    ``(dx, dh0, grads)`` with grads by your names (see ``_grad_items``), converted back to fields. Called
    with a list of layers, the stack form as ``scheme`` hands it (``adapters.stacked``; by default a list
    with one entry per layer and direction, each as ``pass_as`` says).
    """
    expr = ""
    if scheme is None:
        scheme = ListScheme(lambda arrays, D, H: _passed(arrays, pass_as, m.label, D, H), pass_as)

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        user = m.to_user(f, D, H)
        out = _invoke(fn, x, h0, _passed(user, pass_as, m.label, D, H), bargs)
        if _any_writable(f):
            _write_back(f, m.values_from_user(m.to_user(f, D, H), f, D, H), m.values_from_user(user, f, D, H))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        return dx, dh0, m.grads_from_user(expr, _grad_items(expr, grads, m), D, H)

    def locate(field: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
        if field in DATA_NAMES:
            return [(field, tuple(index))]
        return m.locate(field, index, D, H)

    wrapper = _wrap(fn, name=name, kind=kind, role="layout", call=call,
                    requires={**m.requires(), **(requires or {})}, locate=locate,
                    arg_names=m.names if pass_as == "args" else (),
                    element_names=m.names if pass_as == "list" else (),
                    stack=stack_call(fn, m, scheme, lambda: expr, _grad_items), stack_locate=stack_locate(m, scheme),
                    stack_names=stack_names(m, scheme))
    expr = describe(wrapper)
    return wrapper


def named_weights(fn: Any = AS_DECORATOR, *, names: Union[NameMap, Mapping[str, str]],
                  pass_as: str = "args") -> Any:
    """Wrap a GRU that takes its weights under your own names into ``fn(x, h0, params)``.

    ``names`` maps each of your weights, in the order your function takes
    them, to what it is made of (an expression over ``GRUParams`` fields, see
    ``gru_props.adapters.names``; ready-made maps are in
    ``gru_props.adapters.maps``): ``{"Wz": "W_z", "Uz": "U_z", "bz": "b_z",
    ...}``, ``{"Wx": "W_z,W_r,W_n", ...}`` for stacked gates, ``{"Wz": "W_z.T",
    ...}`` for column vectors. Your function receives x and h0 unchanged and
    the arrays, as ``pass_as`` says:

    * ``"args"``: ``fn(x, h0, Wz, Uz, bz, ...)``, positionally in the map's order;
    * ``"dict"``: ``fn(x, h0, weights)`` with ``weights["Wz"]``...;
    * ``"list"``: ``fn(x, h0, [Wz, Uz, bz, ...])`` (d2l, Deep Learning from Scratch);
    * ``"object"``: ``fn(x, h0, params)`` with ``params.Wz``... (read-only).

    Backward: ``fn(x, h0, <weights>, dhs, dh_T)`` returns ``(dx, dh0,
    grads)``, grads a mapping by your names (``"Wz"`` or ``"dWz"``), a
    sequence in the map's order, or an object with those attributes. A map
    with ``b_n+b_hn`` requires ``reset_after=False`` of the check, one without
    biases ``bias=False``. Reports name your arrays (``Uz[2, 0]``) beside
    gru_props' fields.

    Raises:
        TypeError: ``fn`` is not callable, ``names`` is not a mapping.
        ValueError: ``pass_as`` is not one of args, dict, list, object; the map
            cannot describe a GRU (``NameMapError`` says which entry and why).

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import named_weights
    >>> names = {"Wz": "W_z", "Wr": "W_r", "Wh": "W_n", "Uz": "U_z", "Ur": "U_r", "Uh": "U_n",
    ...          "bz": "b_z", "br": "b_r", "bh": "b_n+b_hn"}
    >>> @named_weights(names=names, pass_as="dict")
    ... def cell(x_t, h, w):
    ...     z = 1 / (1 + np.exp(-(x_t @ w["Wz"] + h @ w["Uz"] + w["bz"])))
    ...     r = 1 / (1 + np.exp(-(x_t @ w["Wr"] + h @ w["Ur"] + w["br"])))
    ...     n = np.tanh(x_t @ w["Wh"] + (r * h) @ w["Uh"] + w["bh"])
    ...     return z * h + (1 - z) * n
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.full((2, 4), 0.5)
    >>> np.allclose(cell(x, h0, params), gru_forward(x[:, None], h0, params, reset_after=False)[1])
    True
    >>> cell.__gru_props_requires__
    {'reset_after': False}
    """
    m = as_name_map(names, "named_weights")
    if pass_as not in PASS_AS:
        raise ValueError(f"named_weights: pass_as: expected one of {', '.join(PASS_AS)} (how your function "
                         f"takes its weights); got {pass_as!r}.")
    if fn is AS_DECORATOR:
        return functools.partial(named_weights, names=m, pass_as=pass_as)
    _check_fn("named_weights", fn, ", names={...}")
    label = f"named_weights(names=..., pass_as={pass_as!r})" if pass_as != "args" else "named_weights(names=...)"
    return map_adapter(fn, m, pass_as=pass_as, name=label, kind="named_weights")


__all__ = ["PASS_AS", "as_name_map", "map_adapter", "named_weights"]
