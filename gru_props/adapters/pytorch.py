"""PyTorch's layouts: ``torch_layout`` (nn.GRU / nn.GRUCell's stacked weights), ``torch_function``
(tensors instead of arrays) and ``torch_cell`` (a hand-written nn.Module cell)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props.adapters import maps
from gru_props.adapters.base import (
    AS_DECORATOR,
    DATA_NAMES,
    LayoutParams,
    _any_writable,
    _callable_name,
    _check_fn,
    _describe_value,
    _dims,
    _params_arrays,
    _to_numpy,
    _wrap,
    _write_back,
    call_user,
    describe,
)
from gru_props.adapters.named import _grad_items, map_adapter
from gru_props.adapters.names import NameMap
from gru_props.adapters.stacked import TorchScheme
from gru_props.core.params import _BIASES, _FIELDS, _RECURRENT, _WEIGHTS, GRUParams

_TORCH = NameMap(maps.TORCH, "the PyTorch layout")
_TORCH_NAMES = _TORCH.names


def _torch_grads(expr: str, grads: Any, D: int, H: int) -> Dict[str, np.ndarray]:
    return _TORCH.grads_from_user(expr, _grad_items(expr, grads, _TORCH), D, H)


def torch_layout(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GRU written against PyTorch's weights into ``fn(x, h0, params)``.

    Your function receives ``fn(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)``:
    weight_ih (3H, D), weight_hh (3H, H), bias_ih and bias_hh (3H,), rows in
    PyTorch's gate order r, z, n (``nn.GRU``'s ``weight_ih_l0`` and friends,
    ``nn.GRUCell``'s ``weight_ih``...). b_z and b_r are split in halves
    between the two bias vectors; bias_hh's n part is b_hn. x and h0 are
    unchanged: batch-first x (B, T, D) and h0 (B, H), or the step form.
    The layout holds either reset convention.

    Backward: ``fn(x, h0, weight_ih, ..., bias_hh, dhs, dh_T)`` returns
    ``(dx, dh0, grads)``, grads a mapping with keys weight_ih, weight_hh,
    bias_ih, bias_hh (``_l0`` suffixes accepted) or a 4-tuple in that order;
    both bias gradients may be left out together.

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``fn`` already has a parameter layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import torch_layout
    >>> def cell(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh):
    ...     r, z, n = np.split(x_t @ weight_ih.T + bias_ih, 3, axis=1)
    ...     hr, hz, hn = np.split(h @ weight_hh.T + bias_hh, 3, axis=1)
    ...     r, z = 1 / (1 + np.exp(-(r + hr))), 1 / (1 + np.exp(-(z + hz)))
    ...     return (1 - z) * np.tanh(n + r * hn) + z * h
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.zeros((2, 4))
    >>> h1 = torch_layout(cell)(x, h0, params)
    >>> np.allclose(h1, gru_forward(x[:, None], h0, params, reset_after=True)[1])
    True
    """
    _check_fn("torch_layout", fn)
    return map_adapter(fn, _TORCH, pass_as="args", name="torch_layout", kind="torch_layout", scheme=TorchScheme())


# =================================================================== Keras


def _import_torch(what: str) -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            f"{what} needs torch, which is not installed. Install the reference extra: "
            f"pip install 'gru_props[reference]'."
        ) from None
    return torch


def _to_tensor(torch: Any, value: Any) -> Any:
    """NumPy -> torch, sharing memory with writable arrays (so in-place writes stay visible)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.flags.writeable:
            try:
                return torch.from_numpy(value)
            except (TypeError, ValueError, RuntimeError):  # negative strides, odd byte order
                pass
        return torch.tensor(np.ascontiguousarray(value))
    if isinstance(value, GRUParams):
        return LayoutParams("GRUParams", {k: _to_tensor(torch, v) for k, v in value.arrays().items()},
                            value.D, value.H)
    if isinstance(value, LayoutParams):
        return LayoutParams(value._layout, {k: _to_tensor(torch, v) for k, v in value.arrays().items()},
                            value.D, value.H)
    if isinstance(value, Mapping):
        return {k: _to_tensor(torch, v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_tensor(torch, v) for v in value)
    return value


def _from_tensor(value: Any) -> Any:
    """torch -> NumPy, through tuples, lists, mappings and LayoutParams."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return _to_numpy(value)
    if isinstance(value, LayoutParams):
        return LayoutParams(value._layout, {k: _from_tensor(v) for k, v in value.arrays().items()},
                            value.D, value.H)
    if isinstance(value, Mapping):
        return {k: _from_tensor(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_from_tensor(v) for v in value)
    return value


def torch_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GRU written with torch tensors into one taking and returning NumPy arrays.

    Every array your function receives becomes a tensor of the same shape and
    dtype (sharing memory with writable arrays), and so does every array of a
    params object, read by attribute: a ``GRUParams`` arrives as a
    ``LayoutParams`` of tensors with the same field names and ``D``, ``H``.
    Returned tensors (also inside tuples, lists and mappings) become arrays,
    detached from autograd. It converts what your own function sees, so it
    goes innermost: ``torch_layout(torch_function(fn))`` hands ``fn`` the
    PyTorch layout as tensors.

    Raises:
        ImportError: torch is not installed.
        TypeError: ``fn`` is not callable.
        ValueError: ``fn`` is already wrapped by another adapter.

    >>> import numpy as np, torch
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import torch_function, torch_layout
    >>> def cell(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh):   # tensors in, a tensor out
    ...     r, z, n = (x_t @ weight_ih.T + bias_ih).chunk(3, dim=1)
    ...     hr, hz, hn = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    ...     r, z = torch.sigmoid(r + hr), torch.sigmoid(z + hz)
    ...     return (1 - z) * torch.tanh(n + r * hn) + z * h
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.zeros((2, 4))
    >>> h1 = torch_layout(torch_function(cell))(x, h0, params)
    >>> type(h1).__name__, np.allclose(h1, gru_forward(x[:, None], h0, params, reset_after=True)[1])
    ('ndarray', True)
    """
    _check_fn("torch_function", fn)
    torch = _import_torch("torch_function")

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        args = [_to_tensor(torch, a) for a in (x, h0, *pargs, *bargs)]
        return _from_tensor(call_user(fn, *args))

    return _wrap(fn, name="torch_function", kind="torch_function", role="torch", call=call)


# ============================================================ torch modules


_CELL_SCHEMES = (
    ("nn.GRUCell", {n: n for n in _TORCH_NAMES}),
    ("x2h/h2h", {"x2h.weight": "weight_ih", "h2h.weight": "weight_hh",
                 "x2h.bias": "bias_ih", "h2h.bias": "bias_hh"}),
    ("gru_props", {n: n for n in _FIELDS}),
)


@dataclasses.dataclass(frozen=True)
class _CellPlan:
    """How to fill a module's parameters: name -> (source array name, transform)."""

    scheme: str  # "torch" (sources weight_ih...) or "fields" (sources W_z...)
    entries: Tuple[Tuple[str, str, str], ...]  # (module name, source, "" | "T" | "reshape")
    biases: int  # 0, 3 (b_n holds b_n + b_hn) or 4 (fields), 0 or 2 (torch)


def _cell_source_shape(source: str, D: int, H: int) -> Tuple[int, ...]:
    if source in ("weight_ih",):
        return (3 * H, D)
    if source == "weight_hh":
        return (3 * H, H)
    if source in ("bias_ih", "bias_hh"):
        return (3 * H,)
    return {**{n: (D, H) for n in _WEIGHTS}, **{n: (H, H) for n in _RECURRENT},
            **{n: (H,) for n in _BIASES}}[source]


def _cell_plan(kind: str, cls_name: str, shapes: Mapping[str, Tuple[int, ...]],
               names: Optional[Mapping[str, str]], D: int, H: int) -> _CellPlan:
    supported = (
        "nn.GRUCell's weight_ih (3H, D), weight_hh (3H, H), bias_ih, bias_hh (3H,), rows r, z, n; "
        "two nn.Linear(., 3H) named x2h and h2h, rows r, z, n; or gru_props' field names W_z, W_r, "
        "W_n (D, H), U_z, U_r, U_n (H, H), b_z, b_r, b_n[, b_hn] (H,) as parameters"
    )
    if names is None:
        for _, mapping in _CELL_SCHEMES:
            if set(shapes) <= set(mapping):
                names = {k: v for k, v in mapping.items() if k in shapes}
                break
        else:
            raise ValueError(
                f"{kind}: {cls_name}'s parameters {sorted(shapes)} follow none of the naming "
                f"schemes gru_props knows ({supported}). Name yours with names={{'your.name': "
                f"'weight_ih', ...}} or {{'your.name': 'W_z', ...}}."
            )
    unmapped = sorted(set(shapes) - set(names))
    if unmapped:
        raise ValueError(f"{kind}: {cls_name} has parameters gru_props cannot fill: {unmapped}; "
                         f"add them to names= (values among {', '.join(_TORCH_NAMES)} or "
                         f"{', '.join(_FIELDS)}).")
    absent = sorted(set(names) - set(shapes))
    if absent:
        raise ValueError(f"{kind}: names= maps {absent}, which {cls_name} does not have; its "
                         f"parameters are {sorted(shapes)}.")
    targets = set(names.values())
    if targets <= set(_TORCH_NAMES):
        scheme, required, biases = "torch", {"weight_ih", "weight_hh"}, {"bias_ih", "bias_hh"}
    elif targets <= set(_FIELDS):
        scheme, required, biases = "fields", set(_WEIGHTS + _RECURRENT), set(_BIASES)
    else:
        raise ValueError(f"{kind}: names= must map to PyTorch's names ({', '.join(_TORCH_NAMES)}) "
                         f"or to gru_props' fields ({', '.join(_FIELDS)}), not a mix; got "
                         f"{sorted(targets)}.")
    if len(targets) != len(names):
        raise ValueError(f"{kind}: names= maps two parameters to the same array: {dict(names)}.")
    missing = sorted(required - targets)
    if missing:
        raise ValueError(f"{kind}: {cls_name} has no parameter for {missing} (found "
                         f"{sorted(shapes)}); a GRU cell needs every weight matrix.")
    have = targets & biases
    ok = {frozenset(), frozenset(biases)}
    if scheme == "fields":
        ok.add(frozenset({"b_z", "b_r", "b_n"}))
    if frozenset(have) not in ok:
        raise ValueError(f"{kind}: {cls_name} has the biases {sorted(have)}; expected all of "
                         f"{sorted(biases)}{' or b_z, b_r, b_n' if scheme == 'fields' else ''}, "
                         f"or none.")
    # The orientation of each parameter, read from a probe with D != H.
    entries = []
    column = None
    for mname, source in names.items():
        want = _cell_source_shape(source, D, H)
        got = tuple(shapes[mname])
        if got == want:
            how = ""
        elif len(want) == 2 and got == want[::-1]:
            how = "T"
        elif int(np.prod(got)) == int(np.prod(want)) and len(want) == 1:
            how = "reshape"
        else:
            raise ValueError(f"{kind}: {cls_name}({D}, {H})'s parameter {mname} has shape {got}; as "
                             f"{source} it should be {want} (or its transpose).")
        if source in _WEIGHTS:
            column = how == "T" if column is None else column
            if column != (how == "T"):
                raise ValueError(f"{kind}: {cls_name}'s input weights W_* are not all the same "
                                 f"way round: some (D, H), some (H, D).")
        entries.append((mname, source, how))
    if scheme == "fields" and column:  # U_* follow the W_*: column vectors transpose both
        entries = [(m, s, "T" if s in _RECURRENT else h) for m, s, h in entries]
    return _CellPlan(scheme, tuple(entries), len(have))


def torch_cell(cls: Any = AS_DECORATOR, *, names: Optional[Mapping[str, str]] = None) -> Any:
    """Wrap a PyTorch ``nn.Module`` GRU cell class into a step function ``fn(x_t, h_prev, params)``.

    On each call ``cls(D, H)`` is built (as ``nn.GRUCell(input_size,
    hidden_size)``; pass a factory such as ``lambda D, H: MyCell(D, H,
    bias=True)`` for other signatures), put in the computation's dtype, its
    parameters filled by name, and ``cell(x_t, h_prev)`` called with tensors
    x_t (B, D), h_prev (B, H) (None stays None); it returns h_t (B, H).
    Check it with ``step=True``: the wrapper requires it of the check.

    Parameter names understood (read once from ``cls(2, 3)`` at wrapping):

    * ``nn.GRUCell``'s: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H),
      ``bias_ih``, ``bias_hh`` (3H,), rows r, z, n (any drop-in replacement);
    * two ``nn.Linear(., 3H)`` named ``x2h`` and ``h2h`` (``x2h.weight``...),
      rows r, z, n, the widely copied from-scratch cell;
    * gru_props' field names as parameters: ``W_z, W_r, W_n`` (D, H),
      ``U_z, U_r, U_n`` (H, H), ``b_z, b_r, b_n, b_hn`` (H,); all W_* stored
      (H, D) means column vectors and the U_* are read transposed too; with
      only ``b_z, b_r, b_n`` the b_n holds b_n + b_hn and the check must use
      ``reset_after=False``;
    * anything else through ``names={"module.name": "weight_ih" or "W_z", ...}``.

    A parameter stored transposed or as (1, 3H) is filled accordingly. A cell
    without biases requires ``bias=False`` of the check.

    Backward (``fn(x_t, h_prev, params, dh_t)``): autograd through your
    module gives ``(dx_t, dh_prev, grads)``, grads by ``GRUParams`` field.

    Raises:
        ImportError: torch is not installed.
        TypeError: ``cls`` is not callable, does not build an ``nn.Module``
            from (D, H), or ``names`` is not a mapping of strings.
        ValueError: the parameters follow no known scheme, miss a weight, or
            have shapes that fit no orientation.

    >>> import numpy as np, torch
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import torch_cell
    >>> class MyCell(torch.nn.Module):
    ...     def __init__(self, input_size, hidden_size):
    ...         super().__init__()
    ...         self.x2h = torch.nn.Linear(input_size, 3 * hidden_size)
    ...         self.h2h = torch.nn.Linear(hidden_size, 3 * hidden_size)
    ...     def forward(self, x, h):
    ...         i_r, i_z, i_n = self.x2h(x).chunk(3, 1)
    ...         h_r, h_z, h_n = self.h2h(h).chunk(3, 1)
    ...         r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    ...         n = torch.tanh(i_n + r * h_n)
    ...         return n + z * (h - n)
    >>> step = torch_cell(MyCell)
    >>> step.__gru_props_requires__
    {'step': True}
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.zeros((2, 4))
    >>> np.allclose(step(x, h0, params), gru_forward(x[:, None], h0, params, reset_after=True)[1])
    True
    """
    if names is not None and (not isinstance(names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in names.items())):
        raise TypeError(f"torch_cell: names: expected a mapping from your module's parameter "
                        f"names to 'weight_ih'... or 'W_z'...; got {names!r}.")
    if cls is AS_DECORATOR:
        return functools.partial(torch_cell, names=names)
    if isinstance(cls, (bool, np.bool_)) or not callable(cls):
        raise TypeError(f"torch_cell: expected your nn.Module class (or a factory (D, H) -> "
                        f"module) as cls; got {_describe_value(cls)}. Write torch_cell(MyCell).")
    torch = _import_torch("torch_cell")
    kind = "torch_cell"
    cls_name = _callable_name(cls)

    def build(D: int, H: int) -> Any:
        try:
            module = cls(D, H)
        except Exception as exc:
            raise TypeError(f"{kind}: building {cls_name}({D}, {H}) as (input_size, hidden_size) "
                            f"raised {type(exc).__name__}: {exc}. Pass a factory instead, e.g. "
                            f"torch_cell(lambda D, H: {cls_name}(D, H, ...)).") from exc
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"{kind}: {cls_name}({D}, {H}) gave {_describe_value(module)}; "
                            f"expected a torch.nn.Module.")
        return module

    probe = build(2, 3)
    plan = _cell_plan(kind, cls_name, {k: tuple(v.shape) for k, v in probe.named_parameters()},
                      names, 2, 3)
    expr = ""

    def sources(f: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if plan.scheme == "torch":
            return _TORCH.to_user(f, *_dims(f))
        if plan.biases == 3:
            return {**f, "b_n": f["b_n"] + f["b_hn"]}
        return dict(f)

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        shape = getattr(x, "shape", ())
        if len(shape) == 3:
            raise ValueError(f"{expr} is a step function, x_t (B, D) -> h_t (B, H); it got a "
                             f"sequence x of shape {tuple(shape)}: check it with step=True.")
        if plan.biases == 0 and any(np.any(f[b] != 0) for b in _BIASES):
            raise ValueError(f"{expr}: {cls_name} has no biases, but the parameters hold "
                             f"non-zero ones: check it with bias=False.")
        arrays = [a for a in (x, h0, *f.values()) if a is not None]
        dtype = np.result_type(*arrays)
        dtype = np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        module = build(D, H).to(tdtype)
        current = dict(module.named_parameters())
        if set(current) != {e[0] for e in plan.entries}:
            raise ValueError(f"{kind}: {cls_name}({D}, {H}) has the parameters "
                             f"{sorted(current)}, unlike {cls_name}(2, 3) with "
                             f"{sorted(e[0] for e in plan.entries)}.")
        src = sources(f)
        with torch.no_grad():
            for mname, source, how in plan.entries:
                value = src[source].T if how == "T" else src[source]
                value = np.reshape(value, tuple(current[mname].shape))
                current[mname].copy_(torch.tensor(np.ascontiguousarray(value, dtype=dtype)))
        xt = torch.tensor(np.asarray(x, dtype=dtype))
        ht = None if h0 is None else torch.tensor(np.asarray(h0, dtype=dtype))
        if not bargs:
            with torch.no_grad():
                out = module(xt, ht)
            _write_back_cell(f, current, D, H)
            return _cell_output(out)
        if len(bargs) != 1:
            raise TypeError(f"{expr}: a backward call of a step function takes dh_t; got "
                            f"{len(bargs)} extra arguments.")
        if ht is None:
            ht = torch.zeros(tuple(xt.shape[:-1]) + (H,), dtype=tdtype)
        xt.requires_grad_(True)
        ht.requires_grad_(True)
        with torch.enable_grad():
            out = module(xt, ht)
            if not hasattr(out, "backward"):
                _cell_output(out)
            dh = torch.tensor(np.asarray(bargs[0], dtype=dtype))
            (out * dh).sum().backward()
        grads = {}
        for mname, source, how in plan.entries:
            g = current[mname].grad
            g = np.zeros(_cell_source_shape(source, D, H), dtype=dtype) if g is None else _to_numpy(g)
            g = g.T if how == "T" else g
            grads[source] = np.reshape(g, _cell_source_shape(source, D, H))
        dx = _to_numpy(xt.grad) if xt.grad is not None else np.zeros(tuple(xt.shape), dtype=dtype)
        dhp = _to_numpy(ht.grad) if ht.grad is not None else np.zeros(tuple(ht.shape), dtype=dtype)
        if plan.scheme == "torch":
            return dx, dhp, _torch_grads(expr, grads, D, H)
        if plan.biases == 3:
            grads["b_hn"] = grads["b_n"].copy()
        elif plan.biases == 0:
            grads.update({b: np.zeros(H, dtype=dtype) for b in _BIASES})
        return dx, dhp, grads

    def _write_back_cell(f: Mapping[str, np.ndarray], current: Mapping[str, Any], D: int, H: int) -> None:
        if not _any_writable(f):
            return
        loaded = sources(f)
        now: Dict[str, np.ndarray] = {}
        for mname, source, how in plan.entries:
            v = _to_numpy(current[mname])
            v = v.T if how == "T" else v
            now[source] = np.reshape(v, _cell_source_shape(source, D, H)).astype(loaded[source].dtype)

        def values(src: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
            if plan.scheme == "torch":
                return _TORCH.values_from_user({**loaded, **src}, f, D, H)
            out = {k: src[k] for k, _, _ in [(e[1], 0, 0) for e in plan.entries]}
            if plan.biases == 3:
                out["b_n"] = src["b_n"] - f["b_hn"]
            return out

        _write_back(f, values(loaded), values(now))

    def _cell_output(out: Any) -> np.ndarray:
        if not hasattr(out, "detach"):
            raise TypeError(f"{expr}: expected {cls_name}'s forward to return h_t as a tensor "
                            f"(B, H); got {_describe_value(out)}.")
        return _to_numpy(out)

    def locate(field: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
        """A field's element in the module's parameters (through the torch names when the module uses them)."""
        if field in DATA_NAMES:
            return [(field, tuple(index))]
        if plan.scheme == "torch":
            places = _TORCH.locate(field, index, D, H)
        else:
            places = [(field if not (plan.biases == 3 and field == "b_hn") else "b_n", tuple(index))]
        out = []
        for source, idx in places:
            for mname, src, how in plan.entries:
                if src == source:
                    out.append((mname, idx[::-1] if how == "T" and len(idx) == 2 else idx))
        return out

    requires: Dict[str, Any] = {"step": True}
    if plan.biases == 0:
        requires["bias"] = False
    if plan.biases == 3:
        requires["reset_after"] = False
    name = "torch_cell" if names is None else f"torch_cell(names={dict(names)!r})"
    wrapper = _wrap(cls, name=name, kind=kind, role="layout", call=call, requires=requires, locate=locate)
    expr = describe(wrapper)
    return wrapper


# ============================================================ cache-style backward
