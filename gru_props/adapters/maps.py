"""Ready-made name maps: how frameworks and courses name a GRU's weights (``{your name: expression}``).

Each is a plain dict, in the order the code takes its weights; copy and edit
one for a layout of your own (the expressions are explained in
``gru_props.adapters.names``). Use one with ``named_weights(fn,
names=DLFS2, pass_as="list")`` or ``gru_object(MyCell, CMU_11785)``.

==================  =========================================================================
map                 whose layout
==================  =========================================================================
``TORCH``           ``nn.GRU`` / ``nn.GRUCell``: weight_ih (3H, D), weight_hh (3H, H), bias_ih,
                    bias_hh (3H,), rows r, z, n
``KERAS``           Keras 3 (reset_after=True): kernel (D, 3H), recurrent_kernel (H, 3H),
                    bias (2, 3H), columns z, r, h
``KERAS_RESET_BEFORE``  Keras with reset_after=False: bias (3H,)
``ONNX``            the ONNX GRU operator: W (1, 3H, D), R (1, 3H, H), B (1, 6H), rows z, r, h
``CMU_11785``       CMU 11-785 HW3P1 ``GRUCell.init_weights(Wrx, Wzx, Wnx, Wrh, Wzh, Wnh, brx,
                    bzx, bnx, brh, bzh, bnh)``: PyTorch's per-gate blocks, (H, D) and (H, H)
``CMU_11785_OLD``   the older CMU cell: ``init_weights(Wzh, Wrh, Wh, Wzx, Wrx, Wx)``, column
                    vectors, no biases
``DLFS2``           Deep Learning from Scratch 2's ``TimeGRU(Wx, Wh, b)``: Wx (D, 3H), Wh
                    (H, 3H), b (3H,), columns z, r, h
``D2L``             d2l.ai's ``[W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]``
                    (the output layer W_hq, b_q set to do nothing)
``EPYNN``           EpyNN's ``layer.p``: Uz, Vz, bz (1, H), Ur, Vr, br, Uhh, Vhh, bhh
``CONCAT_HX``       one matrix per gate over ``[h, x]``: W_z (H + D, H) ... (colah, d2l style)
``CONCAT_XH``       ... over ``[x, h]``
``CONCAT_1XH``      one matrix per gate over ``[1, x, h]``, column vectors: Wz (H, 1 + D + H)
==================  =========================================================================
"""

from __future__ import annotations

from typing import Dict

TORCH: Dict[str, str] = {
    "weight_ih": "(W_r,W_z,W_n).T", "weight_hh": "(U_r,U_z,U_n).T",
    "bias_ih": "b_r:x,b_z:x,b_n", "bias_hh": "b_r:h,b_z:h,b_hn",
}
KERAS: Dict[str, str] = {
    "kernel": "W_z,W_r,W_n", "recurrent_kernel": "U_z,U_r,U_n", "bias": "b_z:x,b_r:x,b_n;b_z:h,b_r:h,b_hn",
}
KERAS_RESET_BEFORE: Dict[str, str] = {
    "kernel": "W_z,W_r,W_n", "recurrent_kernel": "U_z,U_r,U_n", "bias": "b_z,b_r,b_n+b_hn",
}
ONNX: Dict[str, str] = {
    "W": "(W_z,W_r,W_n).T[None]", "R": "(U_z,U_r,U_n).T[None]", "B": "(b_z:x,b_r:x,b_n,b_z:h,b_r:h,b_hn)[None]",
}
#: ONNX's arrays without the leading num_directions axis.
ONNX_2D: Dict[str, str] = {
    "W": "(W_z,W_r,W_n).T", "R": "(U_z,U_r,U_n).T", "B": "b_z:x,b_r:x,b_n,b_z:h,b_r:h,b_hn",
}
CMU_11785: Dict[str, str] = {
    "Wrx": "W_r.T", "Wzx": "W_z.T", "Wnx": "W_n.T", "Wrh": "U_r.T", "Wzh": "U_z.T", "Wnh": "U_n.T",
    "brx": "b_r:x", "bzx": "b_z:x", "bnx": "b_n", "brh": "b_r:h", "bzh": "b_z:h", "bnh": "b_hn",
}
CMU_11785_OLD: Dict[str, str] = {
    "Wzh": "U_z.T", "Wrh": "U_r.T", "Wh": "U_n.T", "Wzx": "W_z.T", "Wrx": "W_r.T", "Wx": "W_n.T",
}
DLFS2: Dict[str, str] = {"Wx": "W_z,W_r,W_n", "Wh": "U_z,U_r,U_n", "b": "b_z,b_r,b_n+b_hn"}
D2L: Dict[str, str] = {
    "W_xz": "W_z", "W_hz": "U_z", "b_z": "b_z", "W_xr": "W_r", "W_hr": "U_r", "b_r": "b_r",
    "W_xh": "W_n", "W_hh": "U_n", "b_h": "b_n+b_hn", "W_hq": "I", "b_q": "0",
}
EPYNN: Dict[str, str] = {
    "Uz": "W_z", "Vz": "U_z", "bz": "b_z[None]", "Ur": "W_r", "Vr": "U_r", "br": "b_r[None]",
    "Uhh": "W_n", "Vhh": "U_n", "bhh": "(b_n+b_hn)[None]",
}
CONCAT_HX: Dict[str, str] = {
    "W_z": "U_z;W_z", "W_r": "U_r;W_r", "W_n": "U_n;W_n", "b_z": "b_z", "b_r": "b_r", "b_n": "b_n+b_hn",
}
CONCAT_XH: Dict[str, str] = {
    "W_z": "W_z;U_z", "W_r": "W_r;U_r", "W_n": "W_n;U_n", "b_z": "b_z", "b_r": "b_r", "b_n": "b_n+b_hn",
}
CONCAT_1XH: Dict[str, str] = {
    "Wz": "(b_z;W_z;U_z).T", "Wr": "(b_r;W_r;U_r).T", "W": "(b_n+b_hn;W_n;U_n).T",
}

__all__ = ["CMU_11785", "CMU_11785_OLD", "CONCAT_1XH", "CONCAT_HX", "CONCAT_XH", "D2L", "DLFS2", "EPYNN", "KERAS",
           "KERAS_RESET_BEFORE", "ONNX", "ONNX_2D", "TORCH"]
