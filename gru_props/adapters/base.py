"""The machinery every adapter shares: wrapping a function into the canonical contract, the
parameters a wrapped function receives (``LayoutParams``), converting gradients back from a
layout, ``TiedGradientError`` and ``describe``."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gru_props.core.params import _FIELDS, GRUParams
from gru_props.core.tied import tied_record


class _Decorator:
    """The default of an adapter's function argument: called without one, the adapter is a decorator
    (``@keras_layout(reset_after=False)``); ``None`` passed explicitly is an error, not a decorator."""

    def __repr__(self) -> str:
        return "<none: used as a decorator>"


AS_DECORATOR: Any = _Decorator()

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
    #: Where a quantity's element is in what the next function in receives or returns:
    #: ``locate(name, index, D, H) -> [(name, index), ...]`` (None: unchanged).
    locate: Optional[Callable[[str, Sequence[int], int, int], List[Tuple[str, Tuple[int, ...]]]]] = None
    #: The names of the parameter arrays it hands on positionally (a layout adapter), for reports.
    arg_names: Tuple[str, ...] = ()
    #: ... or as the elements of one list.
    element_names: Tuple[str, ...] = ()
    #: In the stack form: ``(n, nd) -> (argument names, names of the weights list's elements)``.
    stack_names: Optional[Callable[[int, int], Tuple[List[str], List[str]]]] = None


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
    if role == "state":
        inner = describe(fn, name=f"no_initial_state({_callable_name(_innermost(fn))})")
        raise ValueError(f"no_initial_state: cannot wrap {expr}: it goes innermost, around your own function "
                         f"(it drops h0 from the call): write {inner}.")
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
          requires: Optional[Mapping[str, Any]] = None,
          locate: Optional[Callable[[str, Sequence[int], int, int], List[Tuple[str, Tuple[int, ...]]]]] = None,
          arg_names: Sequence[str] = (), element_names: Sequence[str] = (),
          stack: Optional[Callable[..., Any]] = None,
          stack_locate: Optional[Callable[..., List[Tuple[str, Tuple[int, ...]]]]] = None,
          stack_names: Optional[Callable[[int, int], Tuple[List[str], List[str]]]] = None) -> Callable[..., Any]:
    """The wrapper of every adapter. ``stack``: its call in the stack form (``adapters.stacked``), when the
    layout has one: ``stack(x, h0, layers, rest, bidirectional)``; the checks pass ``bidirectional=``."""
    _check_composition(kind, role, fn)
    merged = _merge_requires(kind, fn, requires or {})

    @functools.wraps(fn, updated=() if isinstance(fn, type) else functools.WRAPPER_UPDATES)
    def wrapper(x: Any, h0: Any, params: Any, *rest: Any, bidirectional: Optional[bool] = None) -> Any:
        if is_stack_call(params):
            if stack is None:
                raise TypeError(f"{describe(wrapper)}: called with a list of {len(params)} layers (the stack form), "
                                f"which {kind} does not take: torch_layout, keras_layout and named_weights do, "
                                f"directly around your own function.")
            return stack(x, h0, list(params), rest, bidirectional)
        if bidirectional is not None:
            raise TypeError(f"{describe(wrapper)}: bidirectional= belongs to the stack form (a list of layers); "
                            f"got one {type(params).__name__}.")
        return call(x, h0, (params,), rest)

    if not hasattr(fn, "__name__"):  # a functools.partial or a callable instance
        wrapper.__name__ = wrapper.__qualname__ = _callable_name(fn)
    setattr(wrapper, ADAPTER_ATTR, name)
    setattr(wrapper, REQUIRES_ATTR, merged)
    wrapper.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
    setattr(wrapper, _INFO_ATTR, _Info(name, role, kind, call, wrapper, locate, tuple(arg_names),
                                       tuple(element_names), stack_names))
    setattr(wrapper, LOCATE_ATTR, functools.partial(_locate_in, wrapper))
    setattr(wrapper, RECEIVED_ATTR, functools.partial(received, wrapper))
    if stack is not None:
        setattr(wrapper, STACK_AWARE_ATTR, True)
        setattr(wrapper, STACK_LOCATE_ATTR, stack_locate)
    return wrapper


def is_stack_call(params: Any) -> bool:
    """Whether a wrapper was called in the stack form: a list (or tuple) of parameter objects."""
    return isinstance(params, (list, tuple)) and len(params) > 0 and all(hasattr(p, "W_z") for p in params)


#: On a wrapper that takes the stack form: the stack checks pass it ``bidirectional=``.
STACK_AWARE_ATTR = "__gru_props_stack_aware__"
#: On such a wrapper: ``locate("layers[i].U_n", index, D, H, bidirectional=...)`` in what your function receives.
STACK_LOCATE_ATTR = "__gru_props_stack_locate__"


#: On a wrapper: ``locate(name, index, D, H) -> [(name, index), ...]``, where an element of a quantity in
#: gru_props' terms (a field such as "U_n", or "hs", "dx"...) is in what your own function receives or returns.
LOCATE_ATTR = "__gru_props_locate__"
#: On a wrapper: ``received(x, h0, params, *rest) -> Received | None``, what your own function receives.
RECEIVED_ATTR = "__gru_props_received__"

#: On a wrapper whose gradients are named after the weights (``dWrx`` for ``Wrx``): ``name -> gradient's name``.
GRAD_NAME_ATTR = "__gru_props_grad_name__"

#: Quantities that are not parameters (a layout adapter leaves them alone; a data adapter moves them).
DATA_NAMES = frozenset({"x", "h0", "hs", "h_T", "dx", "dh0", "dhs", "dh_T", "x_t", "h_prev", "h_t", "dx_t",
                        "dh_prev", "dh_t"})


def _locate_in(wrapper: Any, name: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
    places = [(name, tuple(int(i) for i in index))]
    for info in _chain(wrapper):
        if info.locate is not None:
            places = [q for n, i in places for q in info.locate(n, i, D, H)]
    return places


@dataclasses.dataclass(frozen=True)
class Received:
    """What your own function was handed on its first call through the adapters (``args`` positional,
    named after its signature where it has names), converted to NumPy."""

    fn: Any
    args: Tuple[Tuple[str, Any], ...]
    #: The names of a list's elements, when the function takes its weights as one list (d2l, DLFS2).
    element_names: Tuple[str, ...] = ()


class _Captured(Exception):
    def __init__(self, fn: Any, args: Tuple[Any, ...]) -> None:
        super().__init__("captured")
        self.fn, self.args = fn, args


_capture = threading.local()


def received(wrapper: Any, *args: Any, **kwargs: Any) -> Optional[Received]:
    """Run the adapters on ``args`` up to your function's first call, and return what it would receive
    (None when the innermost adapter builds the call itself, as ``torch_cell`` does)."""
    _capture.on = True
    try:
        wrapper(*args, **kwargs)
    except _Captured as got:
        try:
            names = [p.name for p in inspect.signature(got.fn).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            names = []
        values = tuple(_to_numpy_deep(a) for a in got.args)
        chain = _chain(wrapper)
        layout = [i.arg_names for i in chain if i.arg_names]
        elements = [i.element_names for i in chain if i.element_names]
        if len(args) > 2 and is_stack_call(args[2]) and chain and chain[0].stack_names is not None:
            nd = 2 if kwargs.get("bidirectional") else 1
            labels, element_names = chain[0].stack_names(len(args[2]), nd)
            if len(values) in (3, 5):  # no lengths (the fourth slot) passed
                labels = labels[:3] + labels[4:]
            names = (names + labels[len(names):])[:len(values)] if len(names) < len(values) else names
            return Received(got.fn, tuple(zip(names, values)), tuple(element_names))
        if len(names) < len(values) and layout and len(names) <= 2:  # fn(x, h0, *weights): the layout's names
            names = (names + ["x", "h0"][len(names):]) + list(layout[-1])
        extra = {1: ["dh_t"], 2: ["dhs", "dh_T"]}.get(len(values) - len(names), [])  # a backward call's
        names += extra
        if len(names) < len(values):
            names += [f"arg{i}" for i in range(len(names), len(values))]
        return Received(got.fn, tuple(zip(names, values)), elements[-1] if elements else ())
    except Exception:
        return None
    finally:
        _capture.on = False
    return None


def _to_numpy_deep(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _to_numpy_deep(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_numpy_deep(v) for v in value)
    if isinstance(value, LayoutParams):
        return LayoutParams(value._layout, {k: _to_numpy_deep(v) for k, v in value.arrays().items()},
                            value.D, value.H)
    return _to_numpy(value)


def _invoke(inner: Any, x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
    """Call the next layer in: an adapter's structured call, or the user's function."""
    info = _info(inner)
    if info is not None:
        return info.call(x, h0, pargs, bargs)
    return call_user(inner, x, h0, *pargs, *bargs)


def call_user(fn: Any, *args: Any) -> Any:
    """Call your own function (or, while ``received`` runs, record what it would get and stop)."""
    if getattr(_capture, "on", False):
        raise _Captured(fn, args)
    return fn(*args)


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
    record = tied_record()
    if record is not None:
        record[field] = (a_name, np.array(a), b_name, np.array(b))
        return a
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
