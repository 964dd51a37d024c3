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
``no_initial_state(fn)``                    ``fn(x, params)``: no h0 (the check uses h0 = 0 only);
                                            backward ``fn(x, params, dhs, dh_T)`` -> (dx, grads)
``torch_function(fn)``                      torch tensors instead of NumPy arrays (same shapes,
                                            same dtype), returning tensors; goes innermost:
                                            ``torch_layout(torch_function(fn))``
``torch_cell(MyCell)``                      a step function: ``MyCell(D, H)`` is built, the
                                            weights are loaded into its parameters by name, and
                                            ``cell(x_t, h_prev)`` is called with tensors (check
                                            it with ``step=True``)
==========================================  ==================================================

Stacks (``check_implementation(fn, num_layers=..., bidirectional=..., lengths=...)``):
``torch_layout``, ``keras_layout`` and ``named_weights`` also take the stack form
``fn(x, h0, layers[, lengths])``, handing your function ``torch.nn.GRU``'s
``state_dict`` names, a stack of Keras ``Bidirectional(GRU)`` layers' weights
list with its initial states and mask, or a list per layer
(``gru_props.adapters.stacked`` says exactly what).

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

from gru_props.adapters import maps
from gru_props.adapters.base import LayoutParams, TiedGradientError, describe
from gru_props.adapters.cached import cache_backward
from gru_props.adapters.d2l import d2l_function
from gru_props.adapters.keras import keras_layout
from gru_props.adapters.layouts import concat_layout, no_initial_state, time_major, transposed_weights, unbatched
from gru_props.adapters.modules import torch_module
from gru_props.adapters.named import named_weights
from gru_props.adapters.names import NameMapError
from gru_props.adapters.objects import CMU_11785_CELL, CMU_11785_OLD_CELL, DLFS2_TIME_GRU, Style, gru_object
from gru_props.adapters.onnx import onnx_layout
from gru_props.adapters.pytorch import torch_cell, torch_function, torch_layout

__all__ = [
    "CMU_11785_CELL",
    "CMU_11785_OLD_CELL",
    "DLFS2_TIME_GRU",
    "LayoutParams",
    "NameMapError",
    "Style",
    "TiedGradientError",
    "cache_backward",
    "concat_layout",
    "d2l_function",
    "describe",
    "gru_object",
    "keras_layout",
    "maps",
    "named_weights",
    "no_initial_state",
    "onnx_layout",
    "time_major",
    "torch_cell",
    "torch_function",
    "torch_layout",
    "torch_module",
    "transposed_weights",
    "unbatched",
]
