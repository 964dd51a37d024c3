"""Layouts of the arrays rather than of a framework: ``concat_layout`` ([h, x] concatenated
weights), ``transposed_weights`` (column vectors), ``unbatched`` (one example at a time) and
``time_major`` ((T, B, D) inputs)."""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Mapping, Sequence, Tuple

import numpy as np

from gru_props.adapters import maps
from gru_props.adapters.base import (
    AS_DECORATOR,
    DATA_NAMES,
    LayoutParams,
    _backward_triple,
    _check_fn,
    _describe_value,
    _dims,
    _fields_of,
    _grad_array,
    _invoke,
    _params_arrays,
    _to_numpy,
    _wrap,
    call_user,
    describe,
)
from gru_props.adapters.named import map_adapter
from gru_props.adapters.names import NameMap
from gru_props.core.params import GRUParams

_CONCAT = {"hx": NameMap(maps.CONCAT_HX, "ConcatParams"), "xh": NameMap(maps.CONCAT_XH, "ConcatParams")}


def concat_layout(fn: Any = AS_DECORATOR, *, order: str = "hx") -> Any:
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
    if fn is AS_DECORATOR:
        return functools.partial(concat_layout, order=order)
    _check_fn("concat_layout", fn, ", order='xh'")
    name = "concat_layout" if order == "hx" else "concat_layout(order='xh')"
    return map_adapter(fn, _CONCAT[order], pass_as="object", name=name, kind="concat_layout")


# ============================================================== transposed


def _transposed_place(name: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
    """A weight matrix's element (i, j) is at (j, i) of the matrix your function receives."""
    idx = tuple(index)
    return [(name, idx[::-1] if name not in DATA_NAMES and len(idx) == 2 else idx)]


def _example_place(name: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
    """Batch row b is example b's own call: the index loses its batch axis."""
    idx = tuple(index)
    if name in DATA_NAMES and idx:
        return [(f"example {idx[0]}'s {name}", idx[1:])]
    return [(name, idx)]


def _time_major_place(name: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
    """(b, t, .) of a sequence is (t, b, .) of the time-major arrays your function takes and returns."""
    idx = tuple(index)
    if name in ("x", "hs", "dx", "dhs") and len(idx) == 3:
        return [(name, (idx[1], idx[0], idx[2]))]
    return [(name, idx)]


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
                    call=call, locate=_transposed_place)
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

    wrapper = _wrap(fn, name="unbatched", kind="unbatched", role="data", call=call, locate=_example_place)
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
                    requires={"step": False}, locate=_time_major_place)
    expr = describe(wrapper)
    return wrapper


def no_initial_state(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a GRU that takes no initial state (it always starts from zeros) into ``fn(x, h0, params)``.

    Your function receives ``fn(x, params)`` and returns hs or ``(hs, h_T)``;
    a backward ``fn(x, params, dhs, dh_T)`` returns ``(dx, grads)`` or ``(dx,
    dh0, grads)``. The check then generates h0 = 0 only (the wrapper would
    drop any other), does not compare dh0 when none is returned, leaves out
    what needs another initial state (``reset_gate_zero``,
    ``accepts_h0_none``), and says so in its report. It goes innermost,
    around your own function: ``unbatched(no_initial_state(layer_fn))``.

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``fn`` is already wrapped by an adapter.

    >>> import numpy as np
    >>> from gru_props import GRUParams, gru_forward
    >>> from gru_props.adapters import no_initial_state
    >>> fn = no_initial_state(lambda x, p: gru_forward(x, None, p))
    >>> params = GRUParams.random(D=3, H=4, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3))
    >>> np.allclose(fn(x, np.zeros((2, 4)), params)[0], gru_forward(x, None, params)[0])
    True
    """
    _check_fn("no_initial_state", fn)

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        if not bargs:
            return call_user(fn, x, *pargs)
        dhs, dh_T = (list(bargs) + [None, None])[:2]
        out = call_user(fn, x, *pargs, dhs, dh_T)
        if isinstance(out, (tuple, list)) and len(out) == 2:
            dx, grads = out
            shape = np.shape(h0) if h0 is not None else np.shape(x)[:-2] + (np.shape(dhs)[-1],)
            return dx, np.zeros(shape), grads  # no initial state, no gradient for it (not compared)
        return out

    return _wrap(fn, name="no_initial_state", kind="no_initial_state", role="state", call=call,
                 requires={"zero_h0": True})


# ================================================================= torch
