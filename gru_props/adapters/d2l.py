"""d2l.ai's from-scratch GRU, ``gru(inputs, state, params)`` with the book's parameter list (``maps.D2L``)."""

from __future__ import annotations

import functools
from typing import Any, List, Sequence, Tuple

from gru_props.adapters.base import (
    AS_DECORATOR,
    LOCATE_ATTR,
    REQUIRES_ATTR,
    _check_bool,
    _check_fn,
    _invoke,
    _wrap,
)
from gru_props.adapters.layouts import time_major
from gru_props.adapters.maps import D2L
from gru_props.adapters.named import map_adapter
from gru_props.adapters.names import NameMap
from gru_props.adapters.pytorch import torch_function


def d2l_function(fn: Any = AS_DECORATOR, *, tensors: bool = True) -> Any:
    """Wrap a GRU written as d2l.ai's from-scratch ``gru(inputs, state, params)`` into ``fn(x, h0, params)``.

    Your function receives time-major ``inputs`` (T, B, D), ``state`` the
    1-tuple ``(h0,)`` and ``params`` the book's list ``[W_xz, W_hz, b_z,
    W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]`` (``maps.D2L``: the output
    layer W_hq, b_q set to the identity and zeros, so its outputs are the
    states), and returns ``(outputs, (h,))`` with outputs stacked over time,
    (T * B, H). With ``tensors=True`` (the book's PyTorch tab) every array
    is a torch tensor. One candidate bias b_h: the check uses
    ``reset_after=False``. A forward pass only (the book's backward is autograd's).

    Raises:
        TypeError: ``fn`` is not callable; ``tensors`` is not a bool; a backward call.
        ImportError: ``tensors=True`` without torch.
    """
    tensors = _check_bool("d2l_function", "tensors", tensors, "True: torch tensors, as the book's PyTorch tab")
    if fn is AS_DECORATOR:
        return functools.partial(d2l_function, tensors=tensors)
    _check_fn("d2l_function", fn, ", tensors=False")

    def gru(inputs: Any, state: Any, params: Any, *rest: Any) -> Any:
        if rest:
            raise TypeError("d2l_function checks a forward pass (check_implementation); the book's backward "
                            "pass is autograd's.")
        outputs, new_state = fn(inputs, (state,), params)
        T, B = inputs.shape[0], inputs.shape[1]
        h = new_state[0] if isinstance(new_state, (tuple, list)) else new_state
        return outputs.reshape(T, B, -1), h

    gru.__name__ = gru.__qualname__ = getattr(fn, "__name__", "gru")
    inner = torch_function(gru) if tensors else gru
    pipeline = time_major(map_adapter(inner, NameMap(D2L, "d2l's parameter list"), pass_as="list",
                                      name="named_weights", kind="named_weights"))
    order = list(D2L)

    def call(x: Any, h0: Any, pargs: Tuple[Any, ...], bargs: Tuple[Any, ...]) -> Any:
        return _invoke(pipeline, x, h0, pargs, bargs)

    def locate(name: str, index: Sequence[int], D: int, H: int) -> List[Tuple[str, Tuple[int, ...]]]:
        places = getattr(pipeline, LOCATE_ATTR)(name, index, D, H)
        return [(f"params[{order.index(n)}] ({n})" if n in order else n, i) for n, i in places]

    return _wrap(fn, name="d2l_function" if tensors else "d2l_function(tensors=False)", kind="d2l_function",
                 role="layout", call=call, requires=dict(getattr(pipeline, REQUIRES_ATTR)), locate=locate,
                 element_names=tuple(order))


__all__ = ["d2l_function"]
