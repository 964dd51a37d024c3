"""Adapters: check a GRU written in your course's or framework's layout.

``check_implementation`` calls ``fn(x, h0, params)`` with x (B, T, D), h0 (B, H)
and a ``GRUParams`` (``W_*`` (D, H), ``U_*`` (H, H), ``b_*`` (H,)), or, with
``step=True``, ``fn(x_t, h_prev, params)`` with x_t (B, D). Learners write
against other layouts. An adapter wraps such a function into that canonical
form in one line; adapters compose, the outermost one is applied first:

==========================================  ==================================================
you write                                   your function receives
==========================================  ==================================================
``torch_layout(fn)``                        ``fn(x, h0, weight_ih, weight_hh, bias_ih, bias_hh)``:
                                            weight_ih (3H, D), weight_hh (3H, H), biases (3H,),
                                            rows in gate order r, z, n, as ``nn.GRU`` /
                                            ``nn.GRUCell`` store them; x and h0 unchanged
``keras_layout(fn)``                        ``fn(x, h0, kernel, recurrent_kernel, bias)``: kernel
                                            (D, 3H), recurrent_kernel (H, 3H), columns z, r, h;
                                            bias (2, 3H) (input row, recurrent row)
``keras_layout(fn, reset_after=False)``     the same with bias (3H,), whose h part holds
                                            b_n + b_hn (so the check demands reset_after=False)
``onnx_layout(fn)``                         ``fn(x, h0, W, R, B)``: W (3H, D), R (3H, H), B (6H,)
                                            = [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h], rows z, r, h;
                                            ``num_directions_axis=True`` adds ONNX's leading
                                            axis: (1, 3H, D), (1, 3H, H), (1, 6H)
``concat_layout(fn)``                       ``fn(x, h0, params)`` with ``params.W_z, W_r, W_n``
                                            (H + D, H) acting on ``[h, x]`` (colah, d2l style;
                                            ``order="xh"`` for ``[x, h]``) and ``b_z, b_r, b_n``
                                            (H,), b_n holding b_n + b_hn (demands
                                            reset_after=False)
``transposed_weights(fn)``                  ``fn(x, h0, params)`` with every weight matrix
                                            transposed: ``W_*`` (H, D), ``U_*`` (H, H), as in
                                            ``z = sigmoid(W_z x + U_z h + b_z)``; same names
``unbatched(fn)``                           one example at a time: x (T, D), h0 (H,), returning
                                            hs (T, H) or (hs, h_T); step form x_t (D,),
                                            h_prev (H,) returning h_t (H,)
``time_major(fn)``                          x (T, B, D), returning hs (T, B, H) or (hs, h_T)
``torch_function(fn)``                      torch tensors instead of NumPy arrays (same shapes,
                                            same dtype), returning tensors; goes innermost:
                                            ``torch_layout(torch_function(fn))``
``torch_cell(MyCell)``                      a step function: ``MyCell(D, H)`` is built, the
                                            weights are loaded into its parameters by name, and
                                            ``cell(x_t, h_prev)`` is called with tensors (check
                                            it with ``step=True``)
==========================================  ==================================================

Options can also be given first, as a decorator: ``@keras_layout(reset_after=False)``.
``describe(fn)`` spells out how a function was wrapped, e.g.
``keras_layout(reset_after=False)(unbatched(my_gru))``, which rebuilds it.

Backward passes go through the same adapters. A call with more positional
arguments than ``(x, h0, params)`` is a backward call: ``fn(x, h0, params,
dhs, dh_T)`` (step form ``fn(x_t, h_prev, params, dh_t)``) returning
``(dx, dh0, grads)``. The extra arguments reach your function converted like
x (time-major, one example, tensors); your gradients come back converted from
your layout to a mapping with ``GRUParams`` field names (per-example gradients
summed, transposed ones transposed back, stacked ones split by gate). Where
your layout has two parameters for one field (PyTorch's ``bias_ih[z]`` and
``bias_hh[z]`` both feed ``b_z``), their gradients must agree, or
``TiedGradientError`` says which two differ and why they cannot.

Each wrapper is made with ``functools.wraps``: ``__wrapped__`` is what it
wraps, and it carries ``__gru_props_adapter__`` (how it was applied, e.g.
``"keras_layout(reset_after=False)"``) and ``__gru_props_requires__`` (the
check arguments its layout implies, merged over those of the adapters inside
it, e.g. ``{"reset_after": False}``).

What your function gets is built afresh on every call from read-only
parameters; write into it if you like. Views are used where the layout allows
(transposes, one example of a batch), so an in-place write reaches the arrays
the checker passed, as it would without the adapter; where the layout needs
new arrays (stacked gates), a write into them is copied back into writable
parameters, so the checker's mutation test sees it either way.

Example: a PyTorch-layout GRU, checked in one line.

>>> import numpy as np
>>> from gru_props import check_implementation
>>> from gru_props.adapters import torch_layout
>>> def my_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
...     H = weight_hh.shape[1]
...     h = h0
...     hs = np.zeros(x.shape[:2] + (H,), dtype=np.result_type(x, h0, weight_ih))
...     for t in range(x.shape[1]):
...         gi = x[:, t] @ weight_ih.T + bias_ih        # (B, 3H), gates r, z, n
...         gh = h @ weight_hh.T + bias_hh
...         r = 0.5 * np.tanh(0.5 * (gi[:, :H] + gh[:, :H])) + 0.5
...         z = 0.5 * np.tanh(0.5 * (gi[:, H:2 * H] + gh[:, H:2 * H])) + 0.5
...         n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
...         h = (1 - z) * n + z * h
...         hs[:, t] = h
...     return hs, h
>>> report = check_implementation(torch_layout(my_gru), max_examples=5, profile="ci")
>>> report.reset_after
True
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props._params import _BIASES, _FIELDS, _RECURRENT, _WEIGHTS, GRUParams

__all__ = [
    "LayoutParams",
    "TiedGradientError",
    "cache_backward",
    "concat_layout",
    "describe",
    "keras_layout",
    "onnx_layout",
    "time_major",
    "torch_cell",
    "torch_function",
    "torch_layout",
    "transposed_weights",
    "unbatched",
]

ADAPTER_ATTR = "__gru_props_adapter__"
REQUIRES_ATTR = "__gru_props_requires__"
_INFO_ATTR = "__gru_props_info__"


def _canonical(x: Any, h0: Any, params: Any, *rest: Any) -> None:
    """The calling convention of every wrapper."""


_SIGNATURE = inspect.signature(_canonical)


# ====================================================================== types


class LayoutParams:
    """GRU parameters in an adapter's layout: read-only arrays as attributes, plus ``D`` and ``H``.

    ``transposed_weights`` and ``concat_layout`` hand one of these to your
    function in place of a ``GRUParams`` (which cannot hold a (H, D) ``W_z``);
    ``torch_function`` one holding tensors. Read ``params.W_z``, ``params.D``;
    ``params.arrays()`` gives every field by name.

    Raises:
        AttributeError: reading a field the layout does not have (the message
            lists those it has), or assigning to any attribute.
    """

    __slots__ = ("_layout", "_arrays", "_D", "_H")

    def __init__(self, layout: str, arrays: Mapping[str, Any], D: int, H: int) -> None:
        object.__setattr__(self, "_layout", layout)
        object.__setattr__(self, "_arrays", dict(arrays))
        object.__setattr__(self, "_D", int(D))
        object.__setattr__(self, "_H", int(H))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        arrays = object.__getattribute__(self, "_arrays")
        if name in arrays:
            return arrays[name]
        layout = object.__getattribute__(self, "_layout")
        raise AttributeError(
            f"{layout} has no field {name!r}; its fields are {', '.join(arrays)} (and D, H)."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{self._layout} is read-only: to change {name}, work on a copy "
            f"({name} = params.{name}.copy()) rather than assigning to the parameters."
        )

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (LayoutParams, (self._layout, self._arrays, self._D, self._H))

    def __dir__(self) -> List[str]:
        return sorted(set(self._arrays) | {"D", "H", "dtype", "arrays"})

    @property
    def D(self) -> int:
        """Input features D."""
        return self._D

    @property
    def H(self) -> int:
        """Hidden units H."""
        return self._H

    @property
    def dtype(self) -> Any:
        """The dtype of the arrays (a NumPy or torch dtype)."""
        return next(iter(self._arrays.values())).dtype

    def arrays(self) -> Dict[str, Any]:
        """Every field by name."""
        return dict(self._arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in self._arrays.items())
        return f"{self._layout}(D={self._D}, H={self._H}: {shapes})"


class TiedGradientError(ValueError):
    """Two gradients that must be equal are not.

    Raised when a layout has two parameters feeding one ``GRUParams`` field
    (PyTorch's ``bias_ih[z]`` and ``bias_hh[z]`` both feed ``b_z``) and the
    gradients returned for them disagree beyond float tolerance: they are both
    the gradient of one pre-activation, so a difference is a bug in the
    backward pass, not a choice to make.

    Attributes:
        parameter: the ``GRUParams`` field, e.g. ``"b_z"``.
        names: the two parameters in the adapter's layout, e.g.
            ``("bias_ih[z]", "bias_hh[z]")``.
        index: the element where they differ most, a tuple.
        values: the two gradients' values there.
    """

    def __init__(self, message: str, parameter: str, names: Tuple[str, str],
                 index: Tuple[int, ...], values: Tuple[float, float]) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.names = names
        self.index = index
        self.values = values


@dataclasses.dataclass(frozen=True)
class _Info:
    """What a wrapper is: its name, its role in a composition, its structured call."""

    name: str
    role: str  # "layout" | "transposed" | "data" | "torch"
    kind: str  # the adapter function's name, e.g. "keras_layout"
    call: Callable[[Any, Any, Tuple[Any, ...], Tuple[Any, ...]], Any]
    wrapper: Any


def _info(fn: Any) -> Optional[_Info]:
    info = getattr(fn, _INFO_ATTR, None)
    if isinstance(info, _Info) and info.wrapper is fn:
        return info
    return None


def _chain(fn: Any) -> List[_Info]:
    """The adapters ``fn`` is made of, outermost first."""
    out = []
    info = _info(fn)
    while info is not None:
        out.append(info)
        fn = fn.__wrapped__
        info = _info(fn)
    return out


def _innermost(fn: Any) -> Any:
    for _ in _chain(fn):
        fn = fn.__wrapped__
    return fn


def describe(fn: Any, name: Optional[str] = None) -> str:
    """How ``fn`` was wrapped, as the Python expression that rebuilds it.

    Args:
        fn: a function, wrapped by adapters or not.
        name: what to call the innermost function (default: its ``__name__``).

    Returns:
        e.g. ``"keras_layout(reset_after=False)(unbatched(my_gru))"``; a plain
        function gives its name.

    >>> from gru_props.adapters import describe, keras_layout, unbatched
    >>> def my_gru(x, h0, kernel, recurrent_kernel, bias): ...
    >>> describe(keras_layout(unbatched(my_gru), reset_after=False))
    'keras_layout(reset_after=False)(unbatched(my_gru))'
    """
    names = [info.name for info in _chain(fn)]
    inner = _innermost(fn)
    text = name if name is not None else _callable_name(inner)
    for n in reversed(names):
        text = f"{n}({text})"
    return text


def _callable_name(fn: Any) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_callable_name(fn.func)})"
    name = getattr(fn, "__name__", None) or getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__name__


# ================================================================ construction


def _check_fn(adapter: str, fn: Any, options: str = "") -> None:
    if isinstance(fn, (bool, np.bool_)) and options:
        raise TypeError(
            f"{adapter}: expected your GRU function as fn; got {fn!r}. Options are keywords: "
            f"{adapter}(fn{options}) or, as a decorator, @{adapter}({options.lstrip(', ')})."
        )
    if not callable(fn):
        raise TypeError(
            f"{adapter}: expected your GRU function (a callable) as fn; got {fn!r:.60} "
            f"(type {type(fn).__name__}). Write {adapter}(my_gru)."
        )


def _check_bool(adapter: str, name: str, value: Any, meaning: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{adapter}: {name}: expected True or False ({meaning}); got {value!r}.")
    return bool(value)


def _check_composition(kind: str, role: str, fn: Any) -> None:
    """Refuse compositions whose inner adapter could not understand what the outer one passes."""
    chain = _chain(fn)
    if not chain:
        return
    expr = describe(fn)
    if role == "torch":
        raise ValueError(
            f"torch_function: {expr} is already wrapped by {chain[0].kind}. torch_function "
            f"converts what your own function receives, so it goes innermost: write "
            f"{describe(fn, name='torch_function(' + _callable_name(_innermost(fn)) + ')')}."
        )
    for info in chain:
        clash = None
        if info.role == "torch":
            continue
        if role == "layout" and info.role == "layout":
            clash = f"{info.kind} already decides the parameters' layout: use one layout adapter"
        elif role == "layout" and info.role == "transposed" and kind != "concat_layout":
            clash = (f"{kind} hands your function separate arrays, which {info.kind} cannot "
                     f"transpose; {kind}'s weights are what they are")
        elif role == "transposed" and info.role == "transposed":
            clash = "transposing twice gives back the original layout"
        elif role == "transposed" and info.kind == "concat_layout":
            clash = (f"to hand your function transposed concatenated weights, transpose inside: "
                     f"concat_layout(transposed_weights({_callable_name(_innermost(fn))}))")
        elif role == "transposed" and info.role == "layout":
            clash = f"{info.kind} hands your function its own arrays, which {kind} cannot transpose"
        elif role == "data" and info.role == "data":
            if info.kind == kind:
                clash = f"{kind} is applied twice"
            else:
                clash = ("an unbatched function has no batch axis to put after the time axis: use "
                         "unbatched alone (it takes x (T, D))")
        if clash:
            raise ValueError(f"{kind}: cannot wrap {expr}: {clash}.")


def _merge_requires(kind: str, fn: Any, own: Mapping[str, Any]) -> Dict[str, Any]:
    inner = dict(getattr(fn, REQUIRES_ATTR, {}) or {}) if _info(fn) else {}
    for key, value in own.items():
        if key in inner and inner[key] != value:
            raise ValueError(
                f"{kind}: cannot wrap {describe(fn)}: it needs {key}={inner[key]!r}, "
                f"{kind} needs {key}={value!r}."
            )
    return {**inner, **own}


def _wrap(fn: Any, *, name: str, kind: str, role: str,
          call: Callable[[Any, Any, Tuple[Any, ...], Tuple[Any, ...]], Any],
          requires: Optional[Mapping[str, Any]] = None) -> Callable[..., Any]:
    _check_composition(kind, role, fn)
    merged = _merge_requires(kind, fn, requires or {})

    @functools.wraps(fn, updated=() if isinstance(fn, type) else functools.WRAPPER_UPDATES)
    def wrapper(x: Any, h0: Any, params: Any, *rest: Any) -> Any:
        return call(x, h0, (params,), rest)

    if not hasattr(fn, "__name__"):  # a functools.partial or a callable instance
        wrapper.__name__ = wrapper.__qualname__ = _callable_name(fn)
    setattr(wrapper, ADAPTER_ATTR, name)
    setattr(wrapper, REQUIRES_ATTR, merged)
    setattr(wrapper, "__signature__", _SIGNATURE)
    setattr(wrapper, _INFO_ATTR, _Info(name, role, kind, call, wrapper))
    return wrapper


def _invoke(inner: Any, x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
    """Call the next layer in: an adapter's structured call, or the user's function."""
    info = _info(inner)
    if info is not None:
        return info.call(x, h0, pargs, bargs)
    return inner(x, h0, *pargs, *bargs)


# =============================================================== shared parts


def _params_arrays(expr: str, pargs: Tuple[Any, ...]) -> Tuple[Any, Dict[str, np.ndarray]]:
    """The one params object an adapter received and its canonical fields."""
    if len(pargs) != 1:
        raise TypeError(f"{expr}: expected one params argument; got {len(pargs)}.")
    params = pargs[0]
    if isinstance(params, (GRUParams, LayoutParams)):
        return params, params.arrays()
    try:
        return params, {name: getattr(params, name) for name in _FIELDS}
    except AttributeError:
        raise TypeError(
            f"{expr}: expected params, a gru_props.GRUParams (fields {', '.join(_FIELDS)}); "
            f"got a {type(params).__name__}."
        ) from None


def _dims(fields: Mapping[str, Any]) -> Tuple[int, int]:
    D, H = fields["W_z"].shape
    return int(D), int(H)


def _gates(H: int) -> Dict[str, slice]:
    return {"z": slice(0, H), "r": slice(H, 2 * H), "n": slice(2 * H, 3 * H)}


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().resolve_conj().resolve_neg().numpy()
    return value


def _describe_value(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"a {type(value).__name__} of shape {tuple(shape)}"
    return f"a {type(value).__name__}"


def _grad_array(expr: str, what: str, value: Any, shape: Tuple[int, ...], like: str) -> np.ndarray:
    """A returned gradient as a float array of ``shape``, or an error saying what was expected back."""
    value = _to_numpy(value)
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{expr}: expected the gradient for {what} as an array of shape {shape}, "
                        f"{like}; got {value!r}.")
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{expr}: expected the gradient for {what} as a float array of shape "
                        f"{shape}; got dtype {arr.dtype}.")
    if arr.shape != shape:
        hint = ""
        if arr.ndim == 2 and arr.shape == shape[::-1]:
            hint = " It looks transposed: return it in the same layout as the weight you received."
        raise ValueError(f"{expr}: expected the gradient for {what} of shape {shape}, {like}; "
                         f"got {arr.shape}.{hint}")
    return arr


def _named(expr: str, grads: Any, names: Sequence[str], optional: Sequence[str],
           layout: str) -> Dict[str, Any]:
    """Gradients returned as a mapping with ``names`` or a sequence in that order -> a dict."""
    required = [n for n in names if n not in optional]
    expected = (f"a mapping with keys {', '.join(names)} (or a tuple in that order; "
                f"{', '.join(optional)} may be left out together)") if optional else (
                f"a mapping with keys {', '.join(names)} or a tuple in that order")
    if isinstance(grads, GRUParams):
        raise TypeError(
            f"{expr}: expected the gradients in {layout} as {expected}; got a GRUParams. "
            f"If your function already returns gradients in gru_props' layout (GRUParams "
            f"field names), it needs no layout adapter."
        )
    if isinstance(grads, Mapping):
        items = {str(k).removesuffix("_l0"): v for k, v in grads.items()}
        unknown = sorted(set(items) - set(names))
        missing = [n for n in required if n not in items]
        partial = [n for n in optional if n in items] and [n for n in optional if n not in items]
        if unknown or missing or partial:
            problems = []
            if missing or partial:
                problems.append(f"missing {missing + list(partial or [])}")
            if unknown:
                problems.append(f"unknown {unknown}")
            raise ValueError(f"{expr}: expected the gradients in {layout} as {expected}; got a "
                             f"mapping with keys {sorted(map(str, grads))} ({'; '.join(problems)}).")
        return items
    if isinstance(grads, (tuple, list)):
        if len(grads) not in (len(names), len(required)):
            raise ValueError(f"{expr}: expected the gradients in {layout} as {expected}; got a "
                             f"{type(grads).__name__} of {len(grads)} items.")
        return dict(zip(names, grads))
    raise TypeError(f"{expr}: expected the gradients in {layout} as {expected}; "
                    f"got {_describe_value(grads)}.")


def _fields_of(expr: str, grads: Any, names: Sequence[str], layout: str) -> Dict[str, Any]:
    """Gradients returned as a mapping, a GRUParams-like object or an object with attributes."""
    if isinstance(grads, Mapping):
        items = {str(k): v for k, v in grads.items()}
    elif isinstance(grads, (GRUParams, LayoutParams)):
        items = grads.arrays()
    elif hasattr(grads, "__dict__") and not isinstance(grads, (np.ndarray, tuple, list)):
        items = {k: v for k, v in vars(grads).items() if k in names}
    else:
        raise TypeError(f"{expr}: expected the gradients as a mapping (or an object) with the "
                        f"field names of {layout}: {', '.join(names)}; got {_describe_value(grads)}.")
    unknown = sorted(set(items) - set(names))
    missing = [n for n in names if n not in items]
    if unknown or missing:
        raise ValueError(f"{expr}: expected gradients for the fields of {layout}: "
                         f"{', '.join(names)}; got {sorted(items)}"
                         f"{' (missing ' + ', '.join(missing) + ')' if missing else ''}"
                         f"{' (unknown ' + ', '.join(unknown) + ')' if unknown else ''}.")
    return items


def _tolerance(*arrays: np.ndarray) -> Tuple[float, float]:
    """(rtol, atol) for two gradients of one quantity, by their least precise dtype."""
    if any(a.dtype.itemsize < 8 for a in arrays):
        return 1e-4, 1e-5
    return 1e-7, 1e-9


def _tied(expr: str, field: str, a_name: str, a: np.ndarray, b_name: str, b: np.ndarray,
          why: str) -> np.ndarray:
    """The common value of two gradients that must be equal, or ``TiedGradientError``."""
    rtol, atol = _tolerance(a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    allowed = atol + rtol * np.maximum(np.abs(a64), np.abs(b64))
    if np.all(diff <= allowed):
        return 0.5 * (a + b)
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff - allowed)), diff.shape))
    at = ", ".join(map(str, worst))
    raise TiedGradientError(
        f"{expr}: the gradients for {a_name} and {b_name} disagree: at [{at}] {a_name} is "
        f"{a64[worst]:.8g} and {b_name} is {b64[worst]:.8g} (largest difference "
        f"{float(np.max(diff)):.3g}). {why} They must be equal: gru_props holds them as one "
        f"field, {field}.",
        parameter=field, names=(a_name, b_name), index=worst,
        values=(float(a64[worst]), float(b64[worst])),
    )


def _bias_why(gate: str, first: str, second: str) -> str:
    label = {"z": "update gate z", "r": "reset gate r"}[gate]
    return (f"Both are added to the {label}'s pre-activation ({first} + {second} + the two "
            f"matrix products), so each gradient is dL/d(that pre-activation) summed over the "
            f"batch and time.")


def _backward_triple(expr: str, out: Any) -> Tuple[Any, Any, Any]:
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise TypeError(f"{expr}: a backward call (given dL/dhs) must return (dx, dh0, grads); "
                        f"got {_describe_value(out)}"
                        f"{' of ' + str(len(out)) + ' items' if isinstance(out, (tuple, list)) else ''}.")
    return out[0], out[1], out[2]


def _any_writable(fields: Mapping[str, Any]) -> bool:
    return any(isinstance(a, np.ndarray) and a.flags.writeable for a in fields.values())


def _write_back(fields: Mapping[str, np.ndarray], before: Mapping[str, np.ndarray],
                after: Mapping[str, np.ndarray]) -> None:
    """Copy edits your function made to its private arrays back into writable parameters.

    ``before`` and ``after`` are the fields read back from the arrays as they
    were handed over and as the function left them (both through the same
    arithmetic, so an untouched field compares equal bit for bit). Only
    writable parameters are touched (the checker's mutation test passes such
    a copy); read-only ones, the usual case, are left alone.
    """
    for name, new in after.items():
        old = fields.get(name)
        if (isinstance(old, np.ndarray) and old.flags.writeable
                and not np.array_equal(before[name], new, equal_nan=True)):
            old[...] = new


def _fresh(a: np.ndarray) -> np.ndarray:
    return np.array(a, copy=True)


# ================================================================= PyTorch


def _torch_arrays(f: Mapping[str, np.ndarray]) -> Tuple[np.ndarray, ...]:
    """(weight_ih (3H, D), weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,)), rows r, z, n.

    b_z and b_r are split in halves between bias_ih and bias_hh (exact in
    binary floating point), so a function that forgets either vector shows it.
    """
    w_ih = np.ascontiguousarray(np.concatenate([f["W_r"], f["W_z"], f["W_n"]], axis=1).T)
    w_hh = np.ascontiguousarray(np.concatenate([f["U_r"], f["U_z"], f["U_n"]], axis=1).T)
    half_r, half_z = 0.5 * f["b_r"], 0.5 * f["b_z"]
    b_ih = np.concatenate([f["b_r"] - half_r, f["b_z"] - half_z, f["b_n"]])
    b_hh = np.concatenate([half_r, half_z, f["b_hn"]])
    return w_ih, w_hh, b_ih, b_hh


def _torch_values(H: int, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> Dict[str, np.ndarray]:
    """The GRUParams fields that torch-layout arrays stand for (the inverse of _torch_arrays)."""
    r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    out = {"W_r": w_ih[r].T, "W_z": w_ih[z].T, "W_n": w_ih[n].T,
           "U_r": w_hh[r].T, "U_z": w_hh[z].T, "U_n": w_hh[n].T}
    if b_ih is not None:
        out.update(b_r=b_ih[r] + b_hh[r], b_z=b_ih[z] + b_hh[z], b_n=b_ih[n], b_hn=b_hh[n])
    return out


_TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _torch_grads(expr: str, grads: Any, D: int, H: int) -> Dict[str, np.ndarray]:
    items = _named(expr, grads, _TORCH_NAMES, ("bias_ih", "bias_hh"), "the PyTorch layout")
    w_ih = _grad_array(expr, "weight_ih", items["weight_ih"], (3 * H, D), "like weight_ih (3H, D)")
    w_hh = _grad_array(expr, "weight_hh", items["weight_hh"], (3 * H, H), "like weight_hh (3H, H)")
    out = _torch_values(H, w_ih, w_hh, None, None)
    if "bias_ih" in items:
        b_ih = _grad_array(expr, "bias_ih", items["bias_ih"], (3 * H,), "like bias_ih (3H,)")
        b_hh = _grad_array(expr, "bias_hh", items["bias_hh"], (3 * H,), "like bias_hh (3H,)")
        g = {"r": slice(0, H), "z": slice(H, 2 * H)}
        for gate, sl in g.items():
            out[f"b_{gate}"] = _tied(expr, f"b_{gate}", f"bias_ih[{gate}]", b_ih[sl],
                                     f"bias_hh[{gate}]", b_hh[sl],
                                     _bias_why(gate, f"b_i{gate}", f"b_h{gate}"))
        out["b_n"] = b_ih[2 * H:]
        out["b_hn"] = b_hh[2 * H:]
    return out


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
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        user = _torch_arrays(f)
        out = _invoke(fn, x, h0, user, bargs)
        if _any_writable(f):
            _write_back(f, _torch_values(H, *_torch_arrays(f)), _torch_values(H, *user))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        return dx, dh0, _torch_grads(expr, grads, D, H)

    wrapper = _wrap(fn, name="torch_layout", kind="torch_layout", role="layout", call=call)
    expr = describe(wrapper)
    return wrapper


# =================================================================== Keras


def _keras_arrays(f: Mapping[str, np.ndarray], reset_after: bool) -> Tuple[np.ndarray, ...]:
    kernel = np.concatenate([f["W_z"], f["W_r"], f["W_n"]], axis=1)
    recurrent = np.concatenate([f["U_z"], f["U_r"], f["U_n"]], axis=1)
    if reset_after:
        half_z, half_r = 0.5 * f["b_z"], 0.5 * f["b_r"]
        bias = np.stack([np.concatenate([f["b_z"] - half_z, f["b_r"] - half_r, f["b_n"]]),
                         np.concatenate([half_z, half_r, f["b_hn"]])])
    else:
        bias = np.concatenate([f["b_z"], f["b_r"], f["b_n"] + f["b_hn"]])
    return kernel, recurrent, bias


def _keras_values(H: int, reset_after: bool, kernel: Any, recurrent: Any, bias: Any,
                  b_hn: np.ndarray) -> Dict[str, np.ndarray]:
    g = _gates(H)
    out = {f"W_{k}": kernel[:, s] for k, s in g.items()}
    out.update({f"U_{k}": recurrent[:, s] for k, s in g.items()})
    if reset_after:
        out.update(b_z=bias[0, g["z"]] + bias[1, g["z"]], b_r=bias[0, g["r"]] + bias[1, g["r"]],
                   b_n=bias[0, g["n"]], b_hn=bias[1, g["n"]])
    else:
        out.update(b_z=bias[g["z"]], b_r=bias[g["r"]], b_n=bias[g["n"]] - b_hn)
    return out


def _keras_grads(expr: str, grads: Any, D: int, H: int, reset_after: bool) -> Dict[str, np.ndarray]:
    items = _named(expr, grads, ("kernel", "recurrent_kernel", "bias"), ("bias",), "the Keras layout")
    g = _gates(H)
    kernel = _grad_array(expr, "kernel", items["kernel"], (D, 3 * H), "like kernel (D, 3H)")
    recurrent = _grad_array(expr, "recurrent_kernel", items["recurrent_kernel"], (H, 3 * H),
                            "like recurrent_kernel (H, 3H)")
    out = {f"W_{k}": kernel[:, s] for k, s in g.items()}
    out.update({f"U_{k}": recurrent[:, s] for k, s in g.items()})
    if "bias" not in items:
        return out
    if reset_after:
        bias = _grad_array(expr, "bias", items["bias"], (2, 3 * H), "like bias (2, 3H)")
        for gate in ("z", "r"):
            out[f"b_{gate}"] = _tied(expr, f"b_{gate}", f"bias[0, {gate}]", bias[0, g[gate]],
                                     f"bias[1, {gate}]", bias[1, g[gate]],
                                     _bias_why(gate, "the input bias", "the recurrent bias"))
        out.update(b_n=bias[0, g["n"]], b_hn=bias[1, g["n"]])
    else:
        bias = _grad_array(expr, "bias", items["bias"], (3 * H,), "like bias (3H,)")
        # One candidate bias stands for b_n + b_hn: both get its gradient.
        out.update(b_z=bias[g["z"]], b_r=bias[g["r"]], b_n=bias[g["n"]], b_hn=bias[g["n"]].copy())
    return out


def keras_layout(fn: Optional[Callable[..., Any]] = None, *, reset_after: bool = True) -> Any:
    """Wrap a GRU written against Keras 3's weights into ``fn(x, h0, params)``.

    Your function receives ``fn(x, h0, kernel, recurrent_kernel, bias)``:
    kernel (D, 3H) and recurrent_kernel (H, 3H) with columns in Keras' gate
    order z, r, h, used as ``x @ kernel``. With ``reset_after=True`` (Keras 3's
    default) bias is (2, 3H): row 0 the input bias, row 1 the recurrent bias
    (b_z and b_r split in halves between the rows, b_hn in row 1's h part);
    the layout holds either convention. With ``reset_after=False`` bias is
    (3H,), its h part b_n + b_hn, which is exact only in that convention: the
    wrapper requires ``reset_after=False`` of the check.

    ``keras_layout(reset_after=False)`` without ``fn`` returns a decorator.

    Backward: ``fn(x, h0, kernel, recurrent_kernel, bias, dhs, dh_T)`` returns
    ``(dx, dh0, grads)``, grads a mapping with keys kernel, recurrent_kernel,
    bias or a tuple in that order (bias may be left out).

    Raises:
        TypeError: ``fn`` is not callable; ``reset_after`` is not a bool.
        ValueError: ``fn`` already has a parameter layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import keras_layout
    >>> def cell(x_t, h, kernel, recurrent_kernel, bias):
    ...     H = h.shape[1]
    ...     xz, xr, xh = np.split(x_t @ kernel + bias, 3, axis=1)
    ...     z = 1 / (1 + np.exp(-(xz + h @ recurrent_kernel[:, :H])))
    ...     r = 1 / (1 + np.exp(-(xr + h @ recurrent_kernel[:, H:2 * H])))
    ...     hh = np.tanh(xh + (r * h) @ recurrent_kernel[:, 2 * H:])
    ...     return z * h + (1 - z) * hh
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.full((2, 4), 0.5)
    >>> h1 = keras_layout(cell, reset_after=False)(x, h0, params)
    >>> np.allclose(h1, gru_forward(x[:, None], h0, params, reset_after=False)[1])
    True
    """
    reset_after = _check_bool("keras_layout", "reset_after", reset_after,
                              "True: bias (2, 3H), Keras 3's default; False: bias (3H,)")
    if fn is None:
        return functools.partial(keras_layout, reset_after=reset_after)
    _check_fn("keras_layout", fn, ", reset_after=False")
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        user = _keras_arrays(f, reset_after)
        out = _invoke(fn, x, h0, user, bargs)
        if _any_writable(f):
            _write_back(f, _keras_values(H, reset_after, *_keras_arrays(f, reset_after), b_hn=f["b_hn"]),
                        _keras_values(H, reset_after, *user, b_hn=f["b_hn"]))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        return dx, dh0, _keras_grads(expr, grads, D, H, reset_after)

    name = "keras_layout" if reset_after else "keras_layout(reset_after=False)"
    wrapper = _wrap(fn, name=name, kind="keras_layout", role="layout", call=call,
                    requires={} if reset_after else {"reset_after": False})
    expr = describe(wrapper)
    return wrapper


# ==================================================================== ONNX


def _onnx_arrays(f: Mapping[str, np.ndarray], axis: bool) -> Tuple[np.ndarray, ...]:
    W = np.ascontiguousarray(np.concatenate([f["W_z"], f["W_r"], f["W_n"]], axis=1).T)
    R = np.ascontiguousarray(np.concatenate([f["U_z"], f["U_r"], f["U_n"]], axis=1).T)
    half_z, half_r = 0.5 * f["b_z"], 0.5 * f["b_r"]
    B = np.concatenate([f["b_z"] - half_z, f["b_r"] - half_r, f["b_n"], half_z, half_r, f["b_hn"]])
    return (W[None], R[None], B[None]) if axis else (W, R, B)


def _onnx_values(H: int, W: Any, R: Any, B: Any, axis: bool) -> Dict[str, np.ndarray]:
    if axis:
        W, R, B = W[0], R[0], B[0]
    g = _gates(H)
    out = {f"W_{k}": W[s].T for k, s in g.items()}
    out.update({f"U_{k}": R[s].T for k, s in g.items()})
    out.update(b_z=B[g["z"]] + B[3 * H:4 * H], b_r=B[g["r"]] + B[4 * H:5 * H], b_n=B[g["n"]],
               b_hn=B[5 * H:])
    return out


def _onnx_grads(expr: str, grads: Any, D: int, H: int) -> Dict[str, np.ndarray]:
    items = _named(expr, grads, ("W", "R", "B"), ("B",), "the ONNX layout")

    def arr(name: str, shape: Tuple[int, ...]) -> np.ndarray:
        value = _to_numpy(items[name])
        if getattr(value, "shape", None) == (1,) + shape:  # with the num_directions axis
            value = value[0]
        return _grad_array(expr, name, value, shape, f"like {name} {shape} (or (1,) + that)")

    g = _gates(H)
    W, R = arr("W", (3 * H, D)), arr("R", (3 * H, H))
    out = {f"W_{k}": W[s].T for k, s in g.items()}
    out.update({f"U_{k}": R[s].T for k, s in g.items()})
    if "B" in items:
        B = arr("B", (6 * H,))
        for gate, k in (("z", 0), ("r", 1)):
            out[f"b_{gate}"] = _tied(expr, f"b_{gate}", f"Wb_{gate}", B[k * H:(k + 1) * H],
                                     f"Rb_{gate}", B[(k + 3) * H:(k + 4) * H],
                                     _bias_why(gate, f"Wb_{gate}", f"Rb_{gate}"))
        out.update(b_n=B[2 * H:3 * H], b_hn=B[5 * H:])
    return out


def onnx_layout(fn: Optional[Callable[..., Any]] = None, *, num_directions_axis: bool = False) -> Any:
    """Wrap a GRU written against the ONNX ``GRU`` operator's weights into ``fn(x, h0, params)``.

    Your function receives ``fn(x, h0, W, R, B)``: W (3H, D), R (3H, H) with
    rows in ONNX's gate order z, r, h, used as ``x @ W.T``; B (6H,) =
    [Wb_z, Wb_r, Wb_h, Rb_z, Rb_r, Rb_h] (b_z and b_r split in halves between
    Wb and Rb, Rb_h = b_hn). With ``num_directions_axis=True`` they keep the
    operator's leading axis: (1, 3H, D), (1, 3H, H), (1, 6H). x and h0 are
    unchanged (batch-first); for the operator's default layout=0 add
    ``time_major``. The layout holds either convention (the operator's
    ``linear_before_reset``).

    Backward: grads a mapping with keys W, R, B or a tuple in that order (B
    may be left out), each with or without the leading axis.

    Raises:
        TypeError: ``fn`` is not callable; ``num_directions_axis`` is not a bool.
        ValueError: ``fn`` already has a parameter layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import onnx_layout, time_major
    >>> def onnx_gru(X, h0, W, R, B):          # X (T, B, D), as the operator's layout=0
    ...     H = R.shape[-1]
    ...     Wz, Wr, Wh = np.split(W[0], 3)
    ...     Rz, Rr, Rh = np.split(R[0], 3)
    ...     Wbz, Wbr, Wbh, Rbz, Rbr, Rbh = np.split(B[0], 6)
    ...     h, Y = h0, []
    ...     for x_t in X:
    ...         z = 1 / (1 + np.exp(-(x_t @ Wz.T + h @ Rz.T + Wbz + Rbz)))
    ...         r = 1 / (1 + np.exp(-(x_t @ Wr.T + h @ Rr.T + Wbr + Rbr)))
    ...         hh = np.tanh(x_t @ Wh.T + (r * h) @ Rh.T + Rbh + Wbh)
    ...         h = (1 - z) * hh + z * h
    ...         Y.append(h)
    ...     return np.stack(Y), h
    >>> fn = time_major(onnx_layout(onnx_gru, num_directions_axis=True))
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3))
    >>> hs, h_T = fn(x, np.zeros((2, 4)), params)
    >>> np.allclose(hs, gru_forward(x, None, params, reset_after=False)[0])
    True
    """
    num_directions_axis = _check_bool("onnx_layout", "num_directions_axis", num_directions_axis,
                                      "True: W (1, 3H, D) as the operator's inputs; False: (3H, D)")
    if fn is None:
        return functools.partial(onnx_layout, num_directions_axis=num_directions_axis)
    _check_fn("onnx_layout", fn, ", num_directions_axis=True")
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        user = _onnx_arrays(f, num_directions_axis)
        out = _invoke(fn, x, h0, user, bargs)
        if _any_writable(f):
            _write_back(f, _onnx_values(H, *_onnx_arrays(f, num_directions_axis), axis=num_directions_axis),
                        _onnx_values(H, *user, axis=num_directions_axis))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        return dx, dh0, _onnx_grads(expr, grads, D, H)

    name = "onnx_layout(num_directions_axis=True)" if num_directions_axis else "onnx_layout"
    wrapper = _wrap(fn, name=name, kind="onnx_layout", role="layout", call=call)
    expr = describe(wrapper)
    return wrapper


# ======================================================= concatenated [h, x]


_CONCAT_FIELDS = ("W_z", "W_r", "W_n", "b_z", "b_r", "b_n")


def concat_layout(fn: Optional[Callable[..., Any]] = None, *, order: str = "hx") -> Any:
    """Wrap a GRU whose gates act on the concatenation ``[h_{t-1}, x_t]`` into ``fn(x, h0, params)``.

    The colah / d2l-style cell: ``z = sigmoid([h, x] @ W_z + b_z)``,
    ``r = sigmoid([h, x] @ W_r + b_r)``, ``n = tanh([r * h, x] @ W_n + b_n)``.
    Your function receives ``fn(x, h0, params)`` with ``params`` a read-only
    ``LayoutParams`` holding ``W_z, W_r, W_n`` (H + D, H) (the rows for h
    first; ``order="xh"`` puts x's D rows first) and ``b_z, b_r, b_n`` (H,),
    b_n holding b_n + b_hn: exact only with the reset gate applied before the
    matrix product, so the wrapper requires ``reset_after=False`` of the check.
    For column vectors (``W_z @ concat(h, x)``, W_z (H, H + D)) write
    ``concat_layout(transposed_weights(fn))``.

    Backward: grads a mapping (or an object) with those six field names.

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``order`` is not "hx" or "xh"; ``fn`` already has a layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import concat_layout
    >>> def cell(x_t, h, p):
    ...     hx = np.concatenate([h, x_t], axis=1)
    ...     z = 1 / (1 + np.exp(-(hx @ p.W_z + p.b_z)))
    ...     r = 1 / (1 + np.exp(-(hx @ p.W_r + p.b_r)))
    ...     n = np.tanh(np.concatenate([r * h, x_t], axis=1) @ p.W_n + p.b_n)
    ...     return z * h + (1 - z) * n
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.full((2, 4), 0.5)
    >>> h1 = concat_layout(cell)(x, h0, params)
    >>> np.allclose(h1, gru_forward(x[:, None], h0, params, reset_after=False)[1])
    True
    """
    if order not in ("hx", "xh"):
        raise ValueError(f"concat_layout: order: expected 'hx' (rows for h_(t-1) first, as in "
                         f"W . [h, x]) or 'xh' (rows for x_t first); got {order!r}.")
    if fn is None:
        return functools.partial(concat_layout, order=order)
    _check_fn("concat_layout", fn, ", order='xh'")
    expr = ""
    layout = "ConcatParams"

    def user_params(f: Mapping[str, np.ndarray], D: int, H: int) -> LayoutParams:
        def cat(W: np.ndarray, U: np.ndarray) -> np.ndarray:
            return np.concatenate([U, W] if order == "hx" else [W, U], axis=0)

        arrays = {f"W_{g}": cat(f[f"W_{g}"], f[f"U_{g}"]) for g in "zrn"}
        arrays.update(b_z=_fresh(f["b_z"]), b_r=_fresh(f["b_r"]), b_n=f["b_n"] + f["b_hn"])
        return LayoutParams(layout, arrays, D, H)

    def split(W: np.ndarray, D: int, H: int) -> Tuple[np.ndarray, np.ndarray]:
        return (W[H:], W[:H]) if order == "hx" else (W[:D], W[D:])

    def values(p: LayoutParams, f: Mapping[str, np.ndarray], D: int, H: int) -> Dict[str, np.ndarray]:
        out = {}
        for g in "zrn":
            out[f"W_{g}"], out[f"U_{g}"] = split(p.arrays()[f"W_{g}"], D, H)
        out.update(b_z=p.b_z, b_r=p.b_r, b_n=p.b_n - f["b_hn"])
        return out

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        _, f = _params_arrays(expr, pargs)
        D, H = _dims(f)
        p = user_params(f, D, H)
        out = _invoke(fn, x, h0, (p,), bargs)
        if _any_writable(f):
            _write_back(f, values(user_params(f, D, H), f, D, H), values(p, f, D, H))
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        items = _fields_of(expr, grads, _CONCAT_FIELDS, layout)
        result: Dict[str, np.ndarray] = {}
        for g in "zrn":
            W = _grad_array(expr, f"W_{g}", items[f"W_{g}"], (H + D, H), f"like W_{g} (H + D, H)")
            result[f"W_{g}"], result[f"U_{g}"] = split(W, D, H)
            result[f"b_{g}"] = _grad_array(expr, f"b_{g}", items[f"b_{g}"], (H,), "like b_* (H,)")
        result["b_hn"] = result["b_n"].copy()  # one bias stands for b_n + b_hn
        return dx, dh0, result

    name = "concat_layout" if order == "hx" else "concat_layout(order='xh')"
    wrapper = _wrap(fn, name=name, kind="concat_layout", role="layout", call=call,
                    requires={"reset_after": False})
    expr = describe(wrapper)
    return wrapper


# ============================================================== transposed


def transposed_weights(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GRU written with column vectors into ``fn(x, h0, params)``.

    Your function receives ``fn(x, h0, params)`` with every weight matrix
    transposed, as in ``z = sigmoid(W_z x + U_z h + b_z)``: ``params`` is a
    read-only ``LayoutParams`` with the same field names, ``W_*`` (H, D),
    ``U_*`` (H, H), ``b_*`` (H,), plus ``D`` and ``H``. (With batches of row
    vectors such code computes ``x @ params.W_z.T``.) Inside ``concat_layout``
    it transposes the concatenated weights to (H, H + D).

    Backward: grads a mapping (or an object, e.g. a ``LayoutParams``) with
    the field names, the matrices transposed like the weights received.

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``fn`` already has a parameter layout adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import transposed_weights, unbatched
    >>> def cell(x, h, p):                      # one example: x (D,), h (H,)
    ...     z = 1 / (1 + np.exp(-(p.W_z @ x + p.U_z @ h + p.b_z)))
    ...     r = 1 / (1 + np.exp(-(p.W_r @ x + p.U_r @ h + p.b_r)))
    ...     n = np.tanh(p.W_n @ x + p.b_n + r * (p.U_n @ h + p.b_hn))
    ...     return z * h + (1 - z) * n
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x, h0 = np.ones((2, 3)), np.full((2, 4), 0.5)
    >>> h1 = unbatched(transposed_weights(cell))(x, h0, params)
    >>> np.allclose(h1, gru_forward(x[:, None], h0, params, reset_after=True)[1])
    True
    """
    _check_fn("transposed_weights", fn)
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        params, f = _params_arrays(expr, pargs)
        D, H = (params.D, params.H) if hasattr(params, "D") else _dims(f)
        source = getattr(params, "_layout", "GRUParams") if isinstance(params, LayoutParams) else "GRUParams"
        layout = "TransposedParams" if source == "GRUParams" else f"Transposed{source}"
        user = LayoutParams(layout, {k: (v.T if v.ndim == 2 else v) for k, v in f.items()}, D, H)
        out = _invoke(fn, x, h0, (user,), bargs)
        if not bargs:
            return out
        dx, dh0, grads = _backward_triple(expr, out)
        items = _fields_of(expr, grads, tuple(f), layout)
        result = {}
        for k, v in f.items():
            shape = tuple(v.shape[::-1]) if v.ndim == 2 else tuple(v.shape)
            g = _grad_array(expr, k, items[k], shape, f"like {k} {shape} as your function received it")
            result[k] = g.T if g.ndim == 2 else g
        return dx, dh0, result

    wrapper = _wrap(fn, name="transposed_weights", kind="transposed_weights", role="transposed",
                    call=call)
    expr = describe(wrapper)
    return wrapper


# ========================================================== data layouts


def _array_out(expr: str, what: str, value: Any, ndim: int, expected: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{expr}: expected {what} as a NumPy array {expected}; got "
                        f"{_describe_value(value)}.")
    if value.ndim != ndim:
        raise ValueError(f"{expr}: expected {what} {expected}; got shape {value.shape}.")
    return value


def _stack(expr: str, what: str, items: List[Any], ndim: int, expected: str) -> np.ndarray:
    arrays = []
    for b, value in enumerate(items):
        if isinstance(value, np.ndarray) and value.ndim == ndim + 1 and value.shape[0] == 1:
            raise ValueError(
                f"{expr}: expected {what} for one example {expected}; example {b} gave shape "
                f"{value.shape}, with a batch axis of 1: your function takes batches already, "
                f"so drop unbatched."
            )
        arrays.append(_array_out(expr, f"{what} for one example", value, ndim, expected))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{expr}: the examples returned {what} of different shapes "
                         f"{sorted(shapes)}; expected {expected} for each.")
    return np.stack(arrays, axis=0)


def _sum_grads(expr: str, items: List[Any]) -> Any:
    """Per-example gradients summed, in whatever structure the inner layer returns them."""
    first = items[0]
    if isinstance(first, (Mapping, GRUParams, LayoutParams)):
        dicts = [dict(g.arrays()) if isinstance(g, (GRUParams, LayoutParams)) else dict(g)
                 for g in items]
        keys = list(dicts[0])
        if any(list(d) != keys for d in dicts):
            raise ValueError(f"{expr}: the examples returned gradients for different parameters: "
                             f"{sorted({tuple(d) for d in dicts})}.")
        return {k: sum(np.asarray(_to_numpy(d[k])) for d in dicts) for k in keys}
    if isinstance(first, (tuple, list)):
        if any(not isinstance(g, (tuple, list)) or len(g) != len(first) for g in items):
            raise ValueError(f"{expr}: the examples returned gradients of different lengths.")
        return tuple(sum(np.asarray(_to_numpy(g[i])) for g in items) for i in range(len(first)))
    if hasattr(first, "__dict__"):
        dicts = [{k: v for k, v in vars(g).items() if not k.startswith("_")} for g in items]
        return {k: sum(np.asarray(_to_numpy(d[k])) for d in dicts) for k in dicts[0]}
    raise TypeError(f"{expr}: expected each example's gradients as a mapping, a tuple or a "
                    f"params object; got {_describe_value(first)}.")


def unbatched(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GRU that handles one example at a time into ``fn(x, h0, params)``.

    Your function is called once per example b of the batch: with
    ``x[b]`` (T, D) and ``h0[b]`` (H,) (None stays None), returning hs (T, H)
    or ``(hs, h_T)``; step form ``fn(x_t, h_prev, params)`` with (D,), (H,)
    returning h_t (H,). The results are stacked back into a batch. It gets
    views of the batch's arrays.

    Backward: the extra arguments are split per example too (``dhs[b]``
    (T, H), ``dh_T[b]`` (H,); step form ``dh_t[b]``); dx and dh0 are stacked
    and the parameter gradients summed over the examples.

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``fn`` is already ``time_major`` or ``unbatched``.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import unbatched
    >>> def one_example(x, h0, p):               # x (T, D), h0 (H,)
    ...     h, hs = h0, []
    ...     for x_t in x:
    ...         z = 1 / (1 + np.exp(-(x_t @ p.W_z + h @ p.U_z + p.b_z)))
    ...         r = 1 / (1 + np.exp(-(x_t @ p.W_r + h @ p.U_r + p.b_r)))
    ...         n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
    ...         h = z * h + (1 - z) * n
    ...         hs.append(h)
    ...     return np.array(hs).reshape(len(x), -1)
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3))
    >>> hs = unbatched(one_example)(x, np.zeros((2, 4)), params)
    >>> hs.shape, np.allclose(hs, gru_forward(x, None, params)[0])
    ((2, 5, 4), True)
    """
    _check_fn("unbatched", fn)
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) < 2:
            raise ValueError(f"{expr}: expected a batch, x (B, T, D) or x_t (B, D); got "
                             f"{_describe_value(x)}.")
        B = shape[0]
        if B == 0:
            raise ValueError(f"{expr}: got a batch of B = 0 examples; unbatched needs at least "
                             f"one to call your function on.")
        ndim = len(shape) - 1
        outs = []
        for b in range(B):
            outs.append(_invoke(fn, x[b], None if h0 is None else h0[b], pargs,
                                tuple(None if a is None else a[b] for a in bargs)))
        seq = "(T, H)" if ndim == 2 else "(H,)"
        if bargs:
            triples = [_backward_triple(expr, o) for o in outs]
            dx = _stack(expr, "dx", [t[0] for t in triples], ndim, "(T, D)" if ndim == 2 else "(D,)")
            dh0s = [t[1] for t in triples]
            dh0 = None if all(d is None for d in dh0s) else _stack(expr, "dh0", dh0s, 1, "(H,)")
            return dx, dh0, _sum_grads(expr, [t[2] for t in triples])
        if all(isinstance(o, tuple) for o in outs):
            if any(len(o) != 2 for o in outs):
                raise ValueError(f"{expr}: expected hs {seq} or (hs, h_T) for each example; got "
                                 f"a tuple of {len(outs[0])} items.")
            return (_stack(expr, "hs", [o[0] for o in outs], ndim, seq),
                    _stack(expr, "h_T", [o[1] for o in outs], 1, "(H,)"))
        return _stack(expr, "hs" if ndim == 2 else "h_t", outs, ndim, seq)

    wrapper = _wrap(fn, name="unbatched", kind="unbatched", role="data", call=call)
    expr = describe(wrapper)
    return wrapper


def time_major(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GRU that takes time-major input into ``fn(x, h0, params)``.

    Your function receives x (T, B, D) (a transposed view) and h0 (B, H),
    and returns hs (T, B, H) or ``(hs, h_T)`` with h_T (B, H); hs is handed
    back batch-first. The sequence form only: the wrapper requires
    ``step=False`` of the check.

    Backward: ``dhs`` arrives as (T, B, H), dh_T as (B, H); dx is returned
    (T, B, D).

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``fn`` is already ``unbatched`` or ``time_major``, or is a
            step function.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward, gru_step
    >>> from gru_props.adapters import time_major
    >>> def seq_first(x, h0, p):                 # x (T, B, D)
    ...     h, hs = h0, []
    ...     for x_t in x:
    ...         h = gru_step(x_t, h, p)
    ...         hs.append(h)
    ...     return np.stack(hs), h
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3))
    >>> hs, h_T = time_major(seq_first)(x, np.zeros((2, 4)), params)
    >>> hs.shape, np.allclose(hs, gru_forward(x, None, params)[0])
    ((2, 5, 4), True)
    """
    _check_fn("time_major", fn)
    expr = ""

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) != 3:
            raise ValueError(
                f"{expr}: expected a batch of sequences x (B, T, D) to hand over as (T, B, D); got "
                f"{_describe_value(x)}. A step function has no time axis: drop time_major."
            )
        B, T = shape[0], shape[1]
        xt = x.transpose(1, 0, 2)
        rest = list(bargs)
        if rest and rest[0] is not None:
            rest[0] = rest[0].transpose(1, 0, 2)  # dhs (B, T, H) -> (T, B, H)
        out = _invoke(fn, xt, h0, pargs, tuple(rest))

        def back(what: str, value: Any, last: str) -> np.ndarray:
            arr = _array_out(expr, what, value, 3, f"(T, B, {last}) = ({T}, {B}, {last})")
            if arr.shape[:2] != (T, B):
                hint = " It looks batch-first already: drop time_major." if arr.shape[:2] == (B, T) else ""
                raise ValueError(f"{expr}: expected {what} time-major, (T, B, {last}) = "
                                 f"({T}, {B}, {last}); got {arr.shape}.{hint}")
            return arr.transpose(1, 0, 2)

        if bargs:
            dx, dh0, grads = _backward_triple(expr, out)
            return back("dx", dx, "D"), dh0, grads
        if isinstance(out, tuple) and len(out) == 2:
            return back("hs", out[0], "H"), out[1]
        return back("hs", out, "H")

    wrapper = _wrap(fn, name="time_major", kind="time_major", role="data", call=call,
                    requires={"step": False})
    expr = describe(wrapper)
    return wrapper


# ================================================================= torch


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
        return _from_tensor(fn(*args))

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


def torch_cell(cls: Any = None, *, names: Optional[Mapping[str, str]] = None) -> Any:
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
    if cls is None:
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
            return dict(zip(_TORCH_NAMES, _torch_arrays(f)))
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
                biases = (src["bias_ih"], src["bias_hh"]) if plan.biases else (None, None)
                return _torch_values(H, src["weight_ih"], src["weight_hh"], *biases)
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

    requires: Dict[str, Any] = {"step": True}
    if plan.biases == 0:
        requires["bias"] = False
    if plan.biases == 3:
        requires["reset_after"] = False
    name = "torch_cell" if names is None else f"torch_cell(names={dict(names)!r})"
    wrapper = _wrap(cls, name=name, kind=kind, role="layout", call=call, requires=requires)
    expr = describe(wrapper)
    return wrapper


# ============================================================ cache-style backward
def cache_backward(backward: Callable[..., Any], forward: Callable[..., Any]) -> Callable[..., Any]:
    """A backward pass written CS231n-style, ``forward`` returning a cache and ``backward(dout, cache)``.

    ``forward(x, h0, *weights) -> (hs, cache)`` and ``backward(dhs, cache) ->
    (dx, dh0, grads)``, with x (B, T, D), hs and dhs (B, T, H): the wrapper is
    the canonical ``backward_fn(x, h0, *weights, dhs, dh_T)`` that
    ``check_gradients`` calls. It runs your forward, folds dL/dh_T into the last
    step's dL/dh (``dhs[:, -1] += dh_T``, since h_T is hs[:, -1]) and calls your
    backward; with T = 0 (no step) it adds dh_T to the dh0 your backward returns.
    ``*weights`` is what the check passes (a ``GRUParams``) or, under a layout
    adapter, that layout's arrays: ``torch_layout(cache_backward(bwd, fwd))``.

    >>> import numpy as np
    >>> from gru_props import check_gradients, level3
    >>> def my_forward(x, h0, params):                 # keeps what the backward needs
    ...     hs, _ = level3.gru_forward(x, h0, params)
    ...     return hs, (x, h0, params)
    >>> def my_backward(dhs, cache):
    ...     x, h0, params = cache
    ...     return level3.gru_backward(x, h0, params, dhs)
    >>> report = check_gradients(cache_backward(my_backward, my_forward), reset_after=False,
    ...                          profile="ci", max_examples=5)
    >>> report.kind
    'gradients'
    """
    if not callable(backward):
        raise TypeError(f"cache_backward: expected your backward(dhs, cache) as the first argument, got "
                        f"{backward!r}.")
    if not callable(forward):
        raise TypeError(f"cache_backward: expected your forward(x, h0, ...) -> (hs, cache) as the second "
                        f"argument, got {forward!r}.")

    @functools.wraps(backward)
    def wrapper(x: Any, h0: Any, *rest: Any) -> Any:
        if len(rest) < 3:
            raise TypeError(
                f"cache_backward({_callable_name(backward)}): expected a backward call (x, h0, params, dhs, "
                f"dh_T); got {2 + len(rest)} arguments. It wraps a backward pass: check it with "
                "check_gradients, not check_implementation."
            )
        *weights, dhs, dh_T = rest
        out = forward(x, h0, *weights)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"cache_backward: {_callable_name(forward)} must return (hs, cache); it returned "
                            f"{_describe_value(out)}.")
        _, cache = out
        T = np.shape(x)[1]
        dout = np.array(dhs, copy=True)
        if dh_T is not None and T:
            dout[:, -1] = dout[:, -1] + np.asarray(dh_T)
        result = backward(dout, cache)
        if dh_T is not None and not T and isinstance(result, tuple) and len(result) == 3:
            result = (result[0], np.asarray(result[1]) + np.asarray(dh_T), result[2])
        return result

    setattr(wrapper, ADAPTER_ATTR, f"cache_backward(forward={_callable_name(forward)})")
    setattr(wrapper, REQUIRES_ATTR, {"step": False})
    return wrapper
