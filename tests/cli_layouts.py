"""A correct GRU in the layout of every ``--layout`` name, for the command-line tests (``test_cli_layouts.py``):
``gru-props check cli_layouts.py:<NAME> --layout <name>``. Each is written against its layout's arrays and
computes through gru_props' Level 1, so a failure can only come from the layout being misread.
"""

import numpy as np
from published import cmu_hw3p1, cmu_old, d2l, dlfs2

from gru_props import GRUParams, level1
from gru_props.adapters import maps
from gru_props.adapters.names import NameMap


def _from_arrays(names, reset_after):
    m = NameMap(names)

    def params(x, h0, arrays):
        H, D = m.hidden_size(arrays), np.shape(x)[-1]
        fields = m.values_from_user(arrays, {"b_hn": np.zeros(H)}, D, H)
        fields.setdefault("b_hn", np.zeros(H))
        for b in ("b_z", "b_r", "b_n"):
            fields.setdefault(b, np.zeros(H))
        return GRUParams(**fields)

    def forward(x, h0, *arrays):
        p = params(x, h0, dict(zip(m.names, arrays)))
        return level1.gru_forward(x, h0, p, reset_after=reset_after)

    def backward(x, h0, *rest):
        arrays, (dhs, dh_T) = rest[:-2], rest[-2:]
        p = params(x, h0, dict(zip(m.names, arrays)))
        dx, dh0, g = level1.gru_backward(x, h0, p, dhs, dh_T, reset_after)
        return dx, dh0, m.grads_to_user(g.arrays(), p.D, p.H)

    return forward, backward


torch, torch_backward = _from_arrays(maps.TORCH, True)
keras, _ = _from_arrays(maps.KERAS, True)
keras_reset_before, _ = _from_arrays(maps.KERAS_RESET_BEFORE, False)
onnx, _ = _from_arrays(maps.ONNX_2D, False)
onnx_axis, _ = _from_arrays(maps.ONNX, True)
concat_1xh_cell, _ = _from_arrays(maps.CONCAT_1XH, False)


def torch_buggy_backward(x, h0, *rest):
    """The torch-layout backward with weight_hh's gradient halved."""
    dx, dh0, grads = torch_backward(x, h0, *rest)
    grads = dict(grads)
    grads["weight_hh"] = grads["weight_hh"] * 0.5
    return dx, dh0, grads


def concat(x, h0, p, order="hx"):
    H = p.H
    split = (lambda W: (W[H:], W[:H])) if order == "hx" else (lambda W: (W[:-H], W[-H:]))
    f = {}
    for g in "zrn":
        f[f"W_{g}"], f[f"U_{g}"] = split(getattr(p, f"W_{g}"))
    params = GRUParams(**f, b_z=p.b_z, b_r=p.b_r, b_n=p.b_n, b_hn=np.zeros(H))
    return level1.gru_forward(x, h0, params, reset_after=False)


def concat_xh(x, h0, p):
    return concat(x, h0, p, order="xh")


def dlfs2_params(x, h0, params):
    Wx, Wh, b = params
    return _from_arrays(maps.DLFS2, False)[0](x, h0, Wx, Wh, b)


def transposed(x, h0, p):
    f = {k: (v.T if v.ndim == 2 else v) for k, v in p.arrays().items()}
    return level1.gru_forward(x, h0, GRUParams(**f))


def unbatched(x, h0, p):
    hs, h = level1.gru_forward(x[None], h0[None], p)
    return hs[0], h[0]


def time_major(x, h0, p):
    hs, h = level1.gru_forward(np.swapaxes(x, 0, 1), h0, p)
    return np.swapaxes(hs, 0, 1), h


def no_h0(x, p):
    return level1.gru_forward(x, None, p)


def torch_function(x, h0, p):
    import torch

    hs, h = level1.gru_forward(x.numpy(), h0.numpy(), GRUParams(**{k: v.numpy() for k, v in p.arrays().items()}))
    return torch.from_numpy(hs), torch.from_numpy(h)


def _torch_cell():
    import torch

    return torch.nn.GRUCell


d2l_gru = d2l.gru


def d2l_numpy(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (h,) = state
    p = GRUParams(W_z=W_xz, U_z=W_hz, b_z=b_z, W_r=W_xr, U_r=W_hr, b_r=b_r, W_n=W_xh, U_n=W_hh, b_n=b_h,
                  b_hn=np.zeros_like(b_h))
    hs, h = level1.gru_forward(np.swapaxes(inputs, 0, 1), h, p)
    ys = np.swapaxes(hs, 0, 1) @ W_hq + b_q
    return ys.reshape(-1, ys.shape[-1]), (h,)


CMUCell = cmu_hw3p1.GRUCell
CMUAssigned = cmu_hw3p1.GRUCellAssigned
CMUOldCell = cmu_old.GRU_Cell
TimeGRU = dlfs2.TimeGRU

#: --layout name -> (function in this module, extra command-line flags)
CASES = {
    "torch": ("torch", []),
    "keras": ("keras", []),
    "keras-reset-before": ("keras_reset_before", []),
    "onnx": ("onnx", []),
    "onnx-axis": ("onnx_axis", []),
    "concat": ("concat", []),
    "concat-xh": ("concat_xh", []),
    "concat-1xh": ("concat_1xh_cell", []),
    "d2l": ("d2l_gru", []),
    "d2l-numpy": ("d2l_numpy", []),
    "dlfs2-params": ("dlfs2_params", []),
    "transposed": ("transposed", []),
    "unbatched": ("unbatched", []),
    "time-major": ("time_major", []),
    "no-h0": ("no_h0", []),
    "torch-function": ("torch_function", []),
    "torch-cell": ("TorchCellClass", []),
    "torch-module": ("torch_gru_module", ["--num-layers", "2", "--bidirectional", "--lengths"]),
    "cmu-11785": ("CMUCell", []),
    "cmu-11785-old": ("CMUOldCell", ["--interpolation", "chung"]),
    "dlfs2": ("TimeGRU", ["--interpolation", "chung"]),
}


def torch_gru_module(D, H, L, bidirectional):
    import torch

    return torch.nn.GRU(D, H, L, batch_first=True, bidirectional=bidirectional)


from stack_zoo import halves_swapped, loop_with_flips  # noqa: E402,F401  (the stack form from the shell)


def __getattr__(name):
    if name == "TorchCellClass":
        return _torch_cell()
    raise AttributeError(name)
