"""``gru_object``: check a GRU written as a class (a cell or a layer object) without writing a wrapper.

You declare, once, how your class is used: its weights' names (a name map,
see ``gru_props.adapters.names``), how it is built and given its weights,
how it gets the initial state, which methods run the passes and where the
gradients end up. ``Style`` holds those answers; ready-made styles:

===========================  ==========================================================================
style                        whose classes
===========================  ==========================================================================
``CMU_11785_CELL``           CMU 11-785 HW3P1 ``GRUCell(input_size, hidden_size)``: ``init_weights(Wrx,
                             Wzx, Wnx, Wrh, Wzh, Wnh, brx, bzx, bnx, brh, bzh, bnh)``, ``forward(x, h)``
                             on one example (1-D), ``backward(delta) -> (dx, dh_prev)`` with the
                             gradients added into ``self.dWrx``...; a step function
``CMU_11785_OLD_CELL``       the older CMU cell: ``init_weights(Wzh, Wrh, Wh, Wzx, Wrx, Wx)``, column
                             vectors, no biases, Chung's interpolation (check with ``interpolation="chung"``)
``DLFS2_TIME_GRU``           Deep Learning from Scratch 2's ``TimeGRU(Wx, Wh, b, stateful=True)``:
                             ``set_state(h0)``, ``forward(xs) -> hs``, ``backward(dhs) -> dxs``, the
                             gradients in the list ``self.grads``, dL/dh0 in ``self.dh``; Chung's
                             interpolation
===========================  ==========================================================================

For another class, give the answers yourself: ``gru_object(MyLayer,
names={"Wz": "W_z", ...}, weights="attributes", state="attribute:h",
forward="forward", grads="attributes")``. Every call of the check builds a
fresh object, so state kept inside it never leaks from one call to the next.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from gru_props.adapters import maps
from gru_props.adapters.base import (
    AS_DECORATOR,
    DATA_NAMES,
    GRAD_NAME_ATTR,
    _backward_triple,
    _callable_name,
    _describe_value,
    _dims,
    _invoke,
    _params_arrays,
    _to_numpy,
    _wrap,
    call_user,
    describe,
)
from gru_props.adapters.layouts import _example_place, unbatched
from gru_props.adapters.named import _grad_items, as_name_map
from gru_props.adapters.names import NameMap

_WAYS = {
    "build": ("dims", "weights", "none"),
    "weights": ("attributes", "method:", "list:", "dict:", "constructor"),
    "state": ("argument", "keyword:", "method:", "attribute:", "none"),
    "dh0": ("returned", "attribute:", "none"),
    "grads": ("attributes", "list:", "dict:", "returned"),
    "final_state": ("last", "attribute:", "returned"),
}


@dataclasses.dataclass(frozen=True)
class Style:
    """How a class computes a GRU (the fields' values are what ``gru_object`` takes as keywords).

    * ``names``: the name map of its weights, in the order it takes them.
    * ``build``: ``"dims"`` builds ``factory(D, H)``; ``"weights"`` builds ``factory(*weights)`` (in the
      map's order); ``"none"`` builds ``factory()``. ``build_kwargs`` are passed too.
    * ``weights``: ``"attributes"`` sets ``obj.<name> = array``; ``"method:init_weights"`` calls
      ``obj.init_weights(*weights)``; ``"list:params"`` fills the list ``obj.params`` in place;
      ``"dict:p"`` updates the dict ``obj.p``; ``"constructor"`` (with ``build="weights"``): nothing more.
    * ``state``: ``"argument"``: ``forward(x, h0)``; ``"keyword:initial_h"``: ``forward(x, initial_h=h0)``;
      ``"method:set_state"``: ``obj.set_state(h0)`` then ``forward(x)``; ``"attribute:h"``: ``obj.h = h0``;
      ``"none"``: no initial state (h0 = 0 only).
    * ``forward`` / ``backward``: the methods' names. ``step``: the object is a cell (one step, check it
      with step=True). ``sequence`` (a cell): run one object over the whole sequence instead, as a
      course's RNN layer does: forward step by step; backward from the last step to the first,
      re-running forward at each step before ``backward`` so the cell's cache is that step's, the
      gradients accumulating in the object (check it as a sequence). ``per_example``: its methods take
      one example (1-D arrays); outputs of shape (n, 1) or (1, n) are read as (n,).
    * ``final_state``: where h_T is: ``"last"`` (the last of hs, h0 when T = 0), ``"returned"`` (forward
      returns (hs, h_T)) or ``"attribute:h"``.
    * ``backward_args``: ``"dh"``: ``backward(dhs)`` with dL/dh_T added into the last step (step form:
      ``backward(dh_t)``); ``"dh, dh_T"``: ``backward(dhs, dh_T)``.
    * ``dh0``: ``"returned"`` (backward returns (dx, dh0)), ``"attribute:dh"`` or ``"none"`` (dx only).
    * ``grads``: ``"attributes"`` (``obj.<grad_prefix><name>``), ``"list:grads"`` (in the map's order),
      ``"dict:g"`` (``obj.g[<grad_prefix><name>]``) or ``"returned"`` (backward returns (dx, dh0, grads)).
    """

    names: Mapping[str, str]
    build: str = "dims"
    build_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    weights: str = "attributes"
    state: str = "argument"
    forward: str = "forward"
    backward: str = "backward"
    step: bool = False
    sequence: bool = False
    per_example: bool = False
    final_state: str = "last"
    backward_args: str = "dh"
    dh0: str = "returned"
    grads: str = "attributes"
    grad_prefix: str = "d"
    label: str = ""

    def __post_init__(self) -> None:
        for key, ways in _WAYS.items():
            value = getattr(self, key)
            if not isinstance(value, str) or not any(
                    value == w or (w.endswith(":") and value.startswith(w) and len(value) > len(w)) for w in ways):
                choices = ", ".join(w + ("NAME" if w.endswith(":") else "") for w in ways)
                raise ValueError(f"gru_object: {key}: expected one of {choices}; got {value!r}.")
        if self.backward_args not in ("dh", "dh, dh_T"):
            raise ValueError(f"gru_object: backward_args: expected 'dh' or 'dh, dh_T'; got {self.backward_args!r}.")
        if self.sequence and not self.step:
            raise ValueError("gru_object: sequence=True runs a cell (step=True) over a sequence; this style's "
                             "object already takes a whole sequence.")
        if self.weights == "constructor" and self.build != "weights":
            raise ValueError("gru_object: weights='constructor' needs build='weights' (the weights go to the "
                             "constructor).")


CMU_11785_CELL = Style(maps.CMU_11785, weights="method:init_weights", step=True, per_example=True,
                       label="CMU_11785_CELL")
CMU_11785_OLD_CELL = Style(maps.CMU_11785_OLD, weights="method:init_weights", step=True, per_example=True,
                           label="CMU_11785_OLD_CELL")
DLFS2_TIME_GRU = Style(maps.DLFS2, build="weights", build_kwargs={"stateful": True}, weights="constructor",
                       state="method:set_state", final_state="attribute:h", dh0="attribute:dh",
                       grads="list:grads", label="DLFS2_TIME_GRU")
STYLES = {s.label: s for s in (CMU_11785_CELL, CMU_11785_OLD_CELL, DLFS2_TIME_GRU)}


def _attr(way: str) -> str:
    return way.split(":", 1)[1]


def _flat(value: Any) -> Any:
    """A per-example output of shape (n, 1) or (1, n) as (n,)."""
    arr = _to_numpy(value)
    if isinstance(arr, np.ndarray) and arr.ndim == 2 and 1 in arr.shape:
        return arr.reshape(-1)
    return arr


def _seq_flat(value: Any) -> Any:
    """A per-example sequence output (T, H) given as (T, H, 1) or (T, 1, H): as (T, H)."""
    arr = _to_numpy(value)
    if isinstance(arr, np.ndarray) and arr.ndim == 3 and 1 in arr.shape[1:]:
        return arr.reshape(arr.shape[0], -1)
    return arr


class _Protocol:
    """Runs one call of the check on a fresh object, as ``style`` says (``fn(x, h0, *weights, *rest)``)."""

    def __init__(self, factory: Any, style: Style, m: NameMap, expr: Callable[[], str]) -> None:
        self.factory, self.style, self.m, self.expr = factory, style, m, expr
        self.__name__ = _callable_name(factory)

    def _method(self, obj: Any, name: str) -> Callable[..., Any]:
        method = getattr(obj, name, None)
        if not callable(method):
            raise TypeError(f"{self.expr()}: {type(obj).__name__} has no method {name}(); its methods are "
                            f"{', '.join(n for n in dir(obj) if not n.startswith('_') and callable(getattr(obj, n)))}. "
                            f"Say which one with {'forward' if name == self.style.forward else 'backward'}=...")
        return method

    def _build(self, weights: Dict[str, np.ndarray], D: int, H: int) -> Any:
        s = self.style
        kwargs = dict(s.build_kwargs)
        try:
            if s.build == "dims":
                obj = self.factory(D, H, **kwargs)
            elif s.build == "weights":
                obj = self.factory(*weights.values(), **kwargs)
            else:
                obj = self.factory(**kwargs)
        except Exception as exc:
            how = {"dims": f"({D}, {H})", "weights": f"({', '.join(weights)})", "none": "()"}[s.build]
            raise TypeError(f"{self.expr()}: building {self.__name__}{how} raised {type(exc).__name__}: {exc}. "
                            f"Say how it is built with build= ('dims', 'weights' or 'none') and build_kwargs=, "
                            f"or pass a factory (lambda D, H: {self.__name__}(...)).") from exc
        way = s.weights
        if way == "attributes":
            for k, v in weights.items():
                setattr(obj, k, v)
        elif way.startswith("method:"):
            self._method(obj, _attr(way))(*weights.values())
        elif way.startswith("list:"):
            target = getattr(obj, _attr(way))
            for i, v in enumerate(weights.values()):
                if isinstance(target[i], np.ndarray) and target[i].shape == v.shape:
                    target[i][...] = v
                else:
                    target[i] = v
        elif way.startswith("dict:"):
            getattr(obj, _attr(way)).update(weights)
        return obj

    def _forward(self, obj: Any, x: Any, h0: Any) -> Any:
        way = self.style.state
        method = self._method(obj, self.style.forward)
        if way.startswith("keyword:"):
            return method(x, **{_attr(way): h0})
        return method(x, *self._set_state(obj, h0))

    def _set_state(self, obj: Any, h0: Any) -> Tuple[Any, ...]:
        """The arguments forward takes besides x (the state, for ``state="argument"``)."""
        way = self.style.state
        if way == "argument":
            return (h0,)
        if way.startswith("method:") and h0 is not None:
            self._method(obj, _attr(way))(h0)
        elif way.startswith("attribute:") and h0 is not None:
            setattr(obj, _attr(way), h0)
        return ()

    def __call__(self, x: Any, h0: Any, *rest: Any) -> Any:
        s, n = self.style, len(self.m.names)
        arrays, bargs = rest[:n], rest[n:]
        weights = dict(zip(self.m.names, arrays))
        D = int(np.shape(x)[-1])
        H = self.m.hidden_size(weights)
        obj = self._build(weights, D, H)
        if s.sequence:
            return self._over_sequence(obj, x, h0, bargs, H)
        out = self._forward(obj, x, h0)
        if not bargs:
            return self._forward_result(obj, out, x, h0)
        return self._backward(obj, x, h0, bargs, H)

    def _step(self, obj: Any, x_t: Any, h: Any) -> Any:
        out = self._forward(obj, x_t, h)
        return _flat(out) if self.style.per_example else out

    def _over_sequence(self, obj: Any, x: Any, h0: Any, bargs: Tuple[Any, ...], H: int) -> Any:
        """One cell object run over the sequence (and back through it, for a backward call)."""
        s = self.style
        x = np.asarray(x)
        T = x.shape[-2]
        if h0 is None:
            h0 = np.zeros(x.shape[:-2] + (H,), dtype=x.dtype)
        states = [h0]
        for t in range(T):
            states.append(np.asarray(_to_numpy(self._step(obj, x[..., t, :], states[-1]))))
        if not bargs:
            dtype = np.result_type(*states[1:]) if T else np.asarray(h0).dtype
            hs = np.stack(states[1:], axis=-2) if T else np.zeros(x.shape[:-1] + (H,), dtype=dtype)
            return hs, states[-1]
        dhs = np.asarray(bargs[0])
        dh: Any = bargs[1] if len(bargs) > 1 and bargs[1] is not None else np.zeros_like(np.asarray(h0))
        back = self._method(obj, s.backward)
        dxs: List[Any] = [None] * T
        for t in reversed(range(T)):
            self._step(obj, x[..., t, :], states[t])  # the cell's cache is this step's again
            out = back(dhs[..., t, :] + dh)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise TypeError(f"{self.expr()}: expected {type(obj).__name__}.{s.backward}() to return "
                                f"(dx, dh_prev); got {_describe_value(out)}.")
            dxs[t], dh = (_flat(o) if s.per_example else o for o in out)
        dx = np.stack(dxs, axis=-2) if T else np.zeros(x.shape, dtype=x.dtype)
        return dx, dh, self._grads(obj)

    def _forward_result(self, obj: Any, out: Any, x: Any, h0: Any) -> Any:
        s = self.style
        if s.step:
            return _flat(out) if s.per_example else out
        if s.final_state == "returned":
            return out
        hs = _seq_flat(out) if s.per_example else out
        if s.final_state.startswith("attribute:"):
            h_T = getattr(obj, _attr(s.final_state))
        else:
            T = np.shape(x)[-2]
            arr = None if hs is None else np.asarray(_to_numpy(hs))
            if T == 0:  # no step: the last state is h0, in the dtype the object computes in
                h_T = h0 if arr is None or h0 is None else np.asarray(h0).astype(arr.dtype)
            else:
                h_T = None if arr is None else arr[..., -1, :]
        return hs, (_flat(h_T) if s.per_example else h_T)

    def _backward(self, obj: Any, x: Any, h0: Any, bargs: Tuple[Any, ...], H: int) -> Any:
        s = self.style
        back = self._method(obj, s.backward)
        if s.step:
            out = back(bargs[0])
        else:
            dhs = np.array(bargs[0], copy=True)
            dh_T = bargs[1] if len(bargs) > 1 else None
            if s.backward_args == "dh, dh_T":
                out = back(dhs, dh_T)
            else:
                if dh_T is not None and dhs.shape[-2] > 0:
                    dhs[..., -1, :] += dh_T
                out = back(dhs)
        grads: Any = None
        if s.grads == "returned":
            dx, dh0, grads = _backward_triple(self.expr(), out)
        elif s.dh0 == "returned":
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                raise TypeError(f"{self.expr()}: expected {type(obj).__name__}.{s.backward}() to return "
                                f"(dx, dh_prev); got {_describe_value(out)}. If it returns dx alone, say where "
                                f"dL/dh0 is with dh0='attribute:NAME' (or dh0='none').")
            dx, dh0 = out
        else:
            dx = out
            dh0 = getattr(obj, _attr(s.dh0)) if s.dh0.startswith("attribute:") else None
        if dh0 is None:
            dh0 = np.zeros(np.shape(h0) if h0 is not None else np.shape(x)[:-2] + (H,))
        if (not s.step and s.backward_args == "dh" and len(bargs) > 1 and bargs[1] is not None
                and np.shape(x)[-2] == 0):
            # no step to add dL/dh_T into: it reaches h0 directly (h_T = h0 when T = 0)
            dh0 = _to_numpy(dh0) + np.asarray(bargs[1])  # (a Python 0 keeps dh_T's dtype)
        if grads is None:
            grads = self._grads(obj)
        if s.per_example:
            dx = _flat(dx) if s.step else _seq_flat(dx)
            dh0 = _flat(dh0)
        return dx, dh0, grads

    def _grads(self, obj: Any) -> Dict[str, Any]:
        s = self.style
        names = [e.name for e in self.m.entries if not e.is_constant()]
        if s.grads.startswith("list:"):
            values = list(getattr(obj, _attr(s.grads)))
            return dict(zip(names, values))
        if s.grads.startswith("dict:"):
            store = getattr(obj, _attr(s.grads))
            out = {}
            for n in names:
                key = s.grad_prefix + n if s.grad_prefix + n in store else n
                if key in store:
                    out[n] = store[key]
            return out
        out = {}
        for n in names:
            attr = s.grad_prefix + n
            if hasattr(obj, attr):
                out[n] = getattr(obj, attr)
        missing = [n for n in names if n not in out and not self.m.entry(n).is_bias()]
        if missing:
            raise TypeError(f"{self.expr()}: after {s.backward}(), {type(obj).__name__} has no gradient "
                            f"attribute{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(s.grad_prefix + n for n in missing)}. Say where the gradients are "
                            f"with grads= ('attributes' with grad_prefix=, 'list:NAME', 'dict:NAME', 'returned').")
        return out


def gru_object(factory: Any = AS_DECORATOR, style: Union[Style, Mapping[str, str], None] = None,
               **options: Any) -> Any:
    """Wrap a GRU class (a cell or a layer object) into ``fn(x, h0, params)`` for the checks.

    ``style`` is a ``Style`` (ready-made: ``CMU_11785_CELL``, ``CMU_11785_OLD_CELL``,
    ``DLFS2_TIME_GRU``) or a name map ``{your name: expression}``; ``options`` override its fields
    (``build``, ``weights``, ``state``, ``forward``, ``backward``, ``step``, ``per_example``,
    ``final_state``, ``backward_args``, ``dh0``, ``grads``, ``grad_prefix``, ``build_kwargs``: see
    ``Style``). Each call builds a fresh object with ``factory``, gives it the weights (under your
    names), the initial state, runs ``forward`` (and for the gradient check ``backward``), and reads
    the results back. A ``step`` style requires ``step=True`` of the check (and is applied per
    example when ``per_example``); a map with ``b_n+b_hn`` requires ``reset_after=False``, one without
    biases ``bias=False``, ``state="none"`` checks with h0 = 0 only. Reports name your arrays and
    gradients (``Wrx``, ``dWrx``).

    Raises:
        TypeError: ``factory`` is not callable, ``style`` is neither a Style nor a mapping, an unknown
            option.
        ValueError: an option with a value it cannot take; a name map that cannot describe a GRU.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import gru_object
    >>> class Cell:
    ...     def forward(self, x, h):                 # weights set as attributes Wz, Uz, ...
    ...         z = 1 / (1 + np.exp(-(x @ self.Wz + h @ self.Uz + self.bz)))
    ...         r = 1 / (1 + np.exp(-(x @ self.Wr + h @ self.Ur + self.br)))
    ...         n = np.tanh(x @ self.Wn + (r * h) @ self.Un + self.bn)
    ...         return z * h + (1 - z) * n
    >>> names = {"Wz": "W_z", "Wr": "W_r", "Wn": "W_n", "Uz": "U_z", "Ur": "U_r", "Un": "U_n",
    ...          "bz": "b_z", "br": "b_r", "bn": "b_n+b_hn"}
    >>> step = gru_object(Cell, names, build="none", step=True)
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.full((2, 4), 0.5)
    >>> np.allclose(step(x, h0, params), gru_forward(x[:, None], h0, params, reset_after=False)[1])
    True
    >>> sorted(step.__gru_props_requires__.items())
    [('reset_after', False), ('step', True)]
    """
    if factory is AS_DECORATOR:
        return functools.partial(gru_object, style=style, **options)
    if isinstance(factory, (bool, np.bool_)) or not callable(factory):
        raise TypeError(f"gru_object: expected your class (or a factory building the object) as factory; got "
                        f"{_describe_value(factory)}. Write gru_object(MyCell, CMU_11785_CELL).")
    if isinstance(style, Style):
        base = style
    elif isinstance(style, Mapping):
        base = Style(dict(style))
    else:
        raise TypeError(f"gru_object: style: expected a Style (e.g. gru_props.adapters.CMU_11785_CELL) or a "
                        f"name map {{your name: expression}}; got {_describe_value(style)}.")
    fields = {f.name for f in dataclasses.fields(Style)} - {"label"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"gru_object: unknown option(s) {', '.join(unknown)}; the options are "
                        f"{', '.join(sorted(fields - {'names'}))}.")
    s = dataclasses.replace(base, **options) if options else base
    m = _own_names(factory, s, as_name_map(s.names, "gru_object"))
    holder: Dict[str, str] = {"expr": "gru_object"}
    protocol = _Protocol(factory, s, m, lambda: holder["expr"])
    inner: Any = unbatched(protocol) if s.per_example else protocol

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(holder["expr"], pargs)
        D, H = _dims(f)
        user = m.to_user(f, D, H)
        if s.per_example:
            out = _invoke(inner, x, h0, tuple(user.values()), bargs)
        else:
            out = call_user(protocol, x, h0, *user.values(), *bargs)
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(holder["expr"], out)
        return dx, dh0, m.grads_from_user(holder["expr"], _grad_items(holder["expr"], grads, m), D, H)

    def locate(name: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
        if name in DATA_NAMES:
            return _example_place(name, index, D, H) if s.per_example else [(name, tuple(index))]
        return m.locate(name, index, D, H)

    requires: Dict[str, Any] = dict(m.requires())
    if s.step and not s.sequence:
        requires["step"] = True
    if s.state == "none":
        requires["zero_h0"] = True
    wrapper = _wrap(factory, name=_name(base, style, options), kind="gru_object", role="layout", call=call,
                    requires=requires, locate=locate, arg_names=m.names)
    if s.grads in ("attributes",) or s.grads.startswith("dict:"):
        setattr(wrapper, GRAD_NAME_ATTR, lambda n: s.grad_prefix + n)
    holder["expr"] = describe(wrapper)
    return wrapper


def _own_names(factory: Any, s: Style, m: NameMap) -> NameMap:
    """The map under the object's own names when it takes its weights through a method (or its constructor)
    whose parameters name them: ``init_weights(self, Wrx, ..., bir, ...)`` names the gradients ``dbir``."""
    target: Any
    if s.weights.startswith("method:"):
        target = getattr(factory, _attr(s.weights), None) if isinstance(factory, type) else None
    elif s.build == "weights" and isinstance(factory, type):
        target = getattr(factory, "__init__")  # noqa: B009 (mypy: __init__ read off a class)
    else:
        return m
    try:
        params = [p for p in inspect.signature(target).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]  # (self)
    except (TypeError, ValueError):
        return m
    own = [p.name for p in params[:len(m.names)]]
    if len(own) != len(m.names) or own == list(m.names):
        return m
    return NameMap({n: e.expression for n, e in zip(own, m.entries)}, m.label)


def _name(base: Style, style: Any, options: Mapping[str, Any]) -> str:
    """How the wrapper is written: ``gru_object(style=CMU_11785_CELL, sequence=True)`` (Python that rebuilds it)."""
    first = base.label if (isinstance(style, Style) and base.label) else repr(dict(style))
    rest = "".join(f", {k}={v!r}" for k, v in options.items())
    return f"gru_object(style={first}{rest})"


__all__ = ["CMU_11785_CELL", "CMU_11785_OLD_CELL", "DLFS2_TIME_GRU", "STYLES", "Style", "gru_object"]
