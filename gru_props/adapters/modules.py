"""``torch_module(factory)``: check an ``nn.Module`` written to replace ``torch.nn.GRU`` in the stack form."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gru_props.adapters.base import _check_fn, _describe_value, _to_numpy
from gru_props.adapters.stacked import infer_bidirectional
from gru_props.core.params import GRUParams


def torch_module(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a module factory into the stack form ``fn(x, h0, layers, lengths)`` -> ``(out, h_n)``.

    On each call ``factory(input_size, hidden_size, num_layers, bidirectional)`` builds the module (for
    ``torch.nn.GRU`` itself: ``lambda D, H, L, bi: torch.nn.GRU(D, H, L, batch_first=True,
    bidirectional=bi)``), it is put in the computation's dtype, its ``state_dict`` is loaded from
    ``GRUParams.stack_to_torch(layers)`` (PyTorch's names: ``weight_ih_l0``, ``weight_hh_l0_reverse``...),
    and it is called like ``torch.nn.GRU(..., batch_first=True)``: ``module(x, h0)`` with tensors x (B, T,
    D) and h0 (num_layers * num_directions, B, H), or, when the check passes ``lengths``, with a
    ``PackedSequence`` (``pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)``,
    sequences of length 0 left out, since PyTorch refuses them: their out is zero and h_n their h0). It
    must return ``(output, h_n)``, output a tensor (B, T, num_directions * H) or a ``PackedSequence``.
    Use it with ``check_implementation(torch_module(factory), num_layers=..., bidirectional=...,
    lengths=...)``; the module runs under ``torch.no_grad()``.

    Raises:
        ImportError: torch is not installed.
        TypeError: ``factory`` is not callable, or builds something that is not an ``nn.Module``.
    """
    _check_fn("torch_module", factory)
    try:
        import torch
        from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
    except ImportError:
        raise ImportError("torch_module needs torch, which is not installed. Install the reference extra: "
                          "pip install 'gru_props[reference]'.") from None
    name = getattr(factory, "__name__", type(factory).__name__)

    def stack(x: Any, h0: Any, layers: Any, lengths: Any = None, *, bidirectional: Any = None) -> Any:
        layers = list(layers)
        H, D = layers[0].H, layers[0].D
        if bidirectional is None:  # called outside a check: read it off the shapes where they tell
            bidirectional = infer_bidirectional(layers)
        nd = 2 if bidirectional else 1
        L = len(layers) // nd
        arrays = [np.asarray(x)] + [p.W_z for p in layers] + ([] if h0 is None else [np.asarray(h0)])
        dtype = np.float32 if all(np.asarray(a).dtype == np.float32 for a in arrays) else np.float64
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        module = factory(D, H, L, nd == 2)
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"torch_module: {name}({D}, {H}, {L}, {nd == 2}) gave {_describe_value(module)}; "
                            f"expected a torch.nn.Module.")
        module = module.to(tdtype)
        state = GRUParams.stack_to_torch([p.astype(dtype) for p in layers], bidirectional=nd == 2)
        module.load_state_dict(state)
        xt = torch.tensor(np.asarray(x, dtype=dtype))
        B, T = xt.shape[0], xt.shape[1]
        ht = None if h0 is None else torch.tensor(np.asarray(h0, dtype=dtype))
        with torch.no_grad():
            if lengths is None:
                out, h_n = module(xt, ht)
                return _to_numpy(out), _to_numpy(h_n)
            lens = np.asarray(lengths)
            keep = np.flatnonzero(lens > 0)
            out_full = np.zeros((B, T, nd * H), dtype=dtype)
            h_full = np.zeros((L * nd, B, H), dtype=dtype) if h0 is None else np.array(h0, dtype=dtype)
            if keep.size:
                packed = pack_padded_sequence(xt[keep], torch.tensor(lens[keep]), batch_first=True,
                                              enforce_sorted=False)
                out, h_n = module(packed, None if ht is None else ht[:, keep].contiguous())
                if isinstance(out, PackedSequence):
                    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
                out_full[keep] = _to_numpy(out)
                h_full[:, keep] = _to_numpy(h_n)
            return out_full, h_full

    stack.__name__ = stack.__qualname__ = f"torch_module({name})"
    stack.__gru_props_adapter__ = "torch_module"  # type: ignore[attr-defined]
    stack.__wrapped__ = factory  # type: ignore[attr-defined]
    stack.__gru_props_stack_aware__ = True  # type: ignore[attr-defined]  # the check passes bidirectional=
    return stack
