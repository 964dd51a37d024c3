"""Every adapter by a short name, for the command line (``gru-props check FILE.py:fn --layout torch,unbatched``).

``apply_layouts(target, "torch,unbatched")`` is ``torch_layout(unbatched(target))``: names are
applied outermost first, as they read. Object styles (``cmu-11785``, ``dlfs2``...) take a class as
the target.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

from gru_props.adapters import maps
from gru_props.adapters.d2l import d2l_function
from gru_props.adapters.keras import keras_layout
from gru_props.adapters.layouts import concat_layout, no_initial_state, time_major, transposed_weights, unbatched
from gru_props.adapters.modules import torch_module
from gru_props.adapters.named import named_weights
from gru_props.adapters.objects import CMU_11785_CELL, CMU_11785_OLD_CELL, DLFS2_TIME_GRU, gru_object
from gru_props.adapters.onnx import onnx_layout
from gru_props.adapters.pytorch import torch_cell, torch_function, torch_layout

#: name -> (what your function takes, the adapter).
LAYOUTS: Dict[str, Tuple[str, Callable[[Any], Any]]] = {
    "torch": ("fn(x, h0, weight_ih, weight_hh, bias_ih, bias_hh), nn.GRU's weights (rows r, z, n)", torch_layout),
    "keras": ("fn(x, h0, kernel, recurrent_kernel, bias), Keras 3 (bias (2, 3H))", keras_layout),
    "keras-reset-before": ("the same with bias (3H,) (Keras reset_after=False)",
                           lambda fn: keras_layout(fn, reset_after=False)),
    "onnx": ("fn(x, h0, W, R, B), the ONNX GRU operator's (3H, D) ... arrays", onnx_layout),
    "onnx-axis": ("the same with the operator's leading axis: (1, 3H, D) ...",
                  lambda fn: onnx_layout(fn, num_directions_axis=True)),
    "concat": ("fn(x, h0, params) with params.W_z (H + D, H) acting on [h, x]", concat_layout),
    "concat-xh": ("... acting on [x, h]", lambda fn: concat_layout(fn, order="xh")),
    "concat-1xh": ("fn(x, h0, Wz, Wr, W): column vectors, one matrix per gate over [1, x, h]",
                   lambda fn: named_weights(fn, names=maps.CONCAT_1XH)),
    "d2l": ("gru(inputs, state, params): d2l.ai's from-scratch GRU (time-major, torch tensors, a list of 11)",
            d2l_function),
    "d2l-numpy": ("the same with NumPy arrays", lambda fn: d2l_function(fn, tensors=False)),
    "dlfs2-params": ("fn(x, h0, [Wx, Wh, b]): Deep Learning from Scratch 2's params list",
                     lambda fn: named_weights(fn, names=maps.DLFS2, pass_as="list")),
    "transposed": ("every weight matrix transposed: column vectors, W_z (H, D)", transposed_weights),
    "unbatched": ("one example at a time: x (T, D), h0 (H,)", unbatched),
    "time-major": ("x (T, B, D), returning (T, B, H)", time_major),
    "no-h0": ("fn(x, params): no initial state (checked from zeros)", no_initial_state),
    "torch-function": ("torch tensors in and out (goes innermost: torch,torch-function)", torch_function),
    "torch-cell": ("an nn.Module cell class, built as Cell(D, H), called cell(x_t, h_prev)", torch_cell),
    "torch-module": ("factory(D, H, num_layers, bidirectional) -> an nn.Module called like nn.GRU(batch_first"
                     "=True) (the stack form: with --num-layers/--bidirectional/--lengths)", torch_module),
    "cmu-11785": ("a CMU 11-785 HW3P1 GRUCell class", lambda cls: gru_object(cls, CMU_11785_CELL)),
    "cmu-11785-old": ("the older CMU 11-785 GRU_Cell class (column vectors, no biases)",
                      lambda cls: gru_object(cls, CMU_11785_OLD_CELL)),
    "dlfs2": ("a Deep Learning from Scratch 2 TimeGRU class", lambda cls: gru_object(cls, DLFS2_TIME_GRU)),
}


def apply_layouts(target: Any, spec: str) -> Any:
    """``target`` wrapped by the comma-separated adapters of ``spec``, the first one outermost.

    Raises:
        ValueError: an unknown name (the message lists the known ones), or adapters that do not compose.
    """
    names = [n.strip().lower().replace("_", "-") for n in spec.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--layout: expected adapter names such as torch,unbatched; got {spec!r}.")
    unknown = [n for n in names if n not in LAYOUTS]
    if unknown:
        raise ValueError(f"--layout: unknown {', '.join(map(repr, unknown))}; the layouts are "
                         f"{', '.join(LAYOUTS)} (gru-props layouts lists them).")
    fn = target
    for name in reversed(names):
        fn = LAYOUTS[name][1](fn)
    return fn


__all__ = ["LAYOUTS", "apply_layouts"]
