"""The whole ``torch.nn.GRU``: stacked layers, both directions, sequences of unequal lengths.

::

    import numpy as np
    from gru_props import GRUParams, stack_forward

    B, T, D, H = 3, 5, 4, 2                      # two layers, both directions
    layers = [GRUParams.random(D, H, seed=0), GRUParams.random(D, H, seed=1),
              GRUParams.random(2 * H, H, seed=2), GRUParams.random(2 * H, H, seed=3)]
    x = np.random.default_rng(0).standard_normal((B, T, D))
    out, h_n = stack_forward(x, None, layers, bidirectional=True, lengths=np.array([5, 2, 0]))
    assert out.shape == (B, T, 2 * H) and h_n.shape == (4, B, H)
    assert not out[1, 2:].any() and not out[2].any()   # zero past each length

Shapes: B batch, T steps, D input features, H hidden units, L layers,
nd = 2 if bidirectional else 1 directions.

* ``layers``: L * nd ``GRUParams`` in PyTorch's order: layer 0 forward,
  layer 0 reverse, layer 1 forward, ... Layer 0 takes D inputs, layer k > 0
  takes nd * H: the output of layer k - 1, forward half first.
* ``h0`` and ``h_n``: (L * nd, B, H) in the same order (layer-major); h0 None
  means zeros.
* ``out``: (B, T, nd * H), the last layer's states, forward half first.
* ``lengths``: None, or integers (B,) with 0 <= lengths[b] <= T. Sequence b is
  its first lengths[b] steps; its outputs past them are zero and its final
  state is the one after step lengths[b] - 1 (h0 when lengths[b] == 0). The
  reverse direction runs each sequence from its own last valid step back to
  step 0: it is the forward GRU on the sequence reversed within its length
  (``flip``), with its outputs reversed back.

Two implementations with one contract: ``readable_forward`` /
``readable_backward`` (Level 1: a loop over layers and directions calling
``level1.gru_forward`` / ``gru_backward``, to be read next to the definition
above) and ``fast_forward`` / ``fast_backward`` (Level 3: each layer and
direction one ``tiers.packed.Packed`` pass, reusing Level 3's prepared
weights and keeping its caches for the backward, the reverse direction's
flip folded into the pass's sorting gather and scatter, outputs written
straight into the concatenated buffer). ``gru_props.level1`` and
``gru_props.level3`` export them as ``stack_forward`` / ``stack_backward``.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.core.arrays import as_real_array, compute_dtype, describe_value
from gru_props.core.params import GRUParams
from gru_props.core.validation import check_lengths, check_reset_after
from gru_props.tiers import level1, level3
from gru_props.tiers.packed import Packed

__all__ = ["flip", "readable_forward", "readable_backward", "fast_forward", "fast_backward", "check_stack_args"]


def flip(a: np.ndarray, lengths: Optional[np.ndarray]) -> np.ndarray:
    """Each sequence of ``a`` (B, T, ...) reversed in time within its own length; padding stays where it is.

    ``flip(a, None)`` is ``a[:, ::-1]``; ``flip(flip(a, L), L)`` is ``a``.
    """
    if lengths is None:
        return a[:, ::-1]
    T = a.shape[1]
    t = np.arange(T)[None, :]
    index = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return np.take_along_axis(a, index.reshape(index.shape + (1,) * (a.ndim - 2)), axis=1)


# ------------------------------------------------------------------ validation
def _check_layers(layers: Any, bidirectional: bool, D: int) -> Tuple[List[GRUParams], int, int, int]:
    """The layers as a list, with nd, L and H; raises naming the layer that does not fit."""
    nd = 2 if bidirectional else 1
    order = ("layer 0 forward, layer 0 reverse, layer 1 forward, ..." if bidirectional
             else "layer 0, layer 1, ...")
    if isinstance(layers, GRUParams):
        raise TypeError("layers: expected a sequence of GRUParams (" + order + "); got one GRUParams. For a "
                        "single layer pass [params]" + (", for both directions [forward, reverse]"
                                                        if bidirectional else "") + ".")
    try:
        items = list(layers)
    except TypeError:
        raise TypeError(f"layers: expected a sequence of GRUParams ({order}); got {describe_value(layers)}.") from None
    bad = [i for i, p in enumerate(items) if not isinstance(p, GRUParams)]
    if bad:
        raise TypeError(f"layers[{bad[0]}]: expected a gru_props.GRUParams; got {describe_value(items[bad[0]])}. "
                        f"GRUParams.stack_from_torch(gru) converts a whole torch.nn.GRU.")
    if not items or len(items) % nd:
        raise ValueError(
            f"layers: expected num_layers * num_directions GRUParams ({order}), a positive multiple of {nd} "
            f"for bidirectional={bidirectional}; got {len(items)}."
            + (" Each layer needs a forward and a reverse GRUParams." if bidirectional and items else ""))
    H = items[0].H
    for i, p in enumerate(items):
        k, d = divmod(i, nd)
        what = f"layer {k}" + ((" reverse" if d else " forward") if bidirectional else "")
        if p.H != H:
            raise ValueError(f"layers[{i}] ({what}): expected H = {H} hidden units, as layers[0]; got H = {p.H} "
                             f"(W_z of shape {p.W_z.shape}). Every layer and direction of a stack has one H.")
        want = D if k == 0 else nd * H
        if p.D != want:
            why = ("x's last axis" if k == 0 else
                   f"layer {k - 1}'s output, num_directions * H = {nd} * {H}" +
                   (", forward half first" if bidirectional else ""))
            raise ValueError(f"layers[{i}] ({what}): expected input size D = {want} ({why}); got D = {p.D} "
                             f"(W_z of shape (D, H) = {p.W_z.shape}).")
    return items, nd, len(items) // nd, H


def check_stack_args(x: Any, h0: Any, layers: Any, bidirectional: Any, lengths: Any
                     ) -> Tuple[np.ndarray, np.ndarray, List[GRUParams], int, int, Optional[np.ndarray], np.dtype]:
    """Validate a stack's arguments: ``(x, h0, layers, nd, L, lengths, dtype)``, h0 filled with zeros for None.

    Raises ``TypeError`` / ``ValueError`` naming the argument, what was expected (in B, T, D, H, L terms)
    and what was received.
    """
    if not isinstance(bidirectional, (bool, np.bool_)):
        raise TypeError(f"bidirectional: expected True or False; got {bidirectional!r}.")
    x = as_real_array("x", x)
    if x.ndim != 3:
        raise ValueError(f"x: expected a 3-D array of shape (B, T, D) (batch-first); got a {x.ndim}-D array of "
                         f"shape {x.shape}.")
    B, T, D = x.shape
    items, nd, L, H = _check_layers(layers, bool(bidirectional), D)
    dtypes = [x.dtype] + [p.dtype for p in items]
    want = (L * nd, B, H)
    if h0 is None:
        h = None
    else:
        h = as_real_array("h0", h0)
        if h.shape != want:
            hint = ""
            if h.shape == (B, H):
                hint = " A (B, H) state is one layer's and direction's: pass h0[None] for one of them."
            elif h.shape == (B, L * nd, H):
                hint = " It looks batch-first; h0 is (num_layers * num_directions, B, H) even with batch_first."
            raise ValueError(f"h0: expected shape (num_layers * num_directions, B, H) = {want} (layer-major: "
                             f"layer 0 forward, layer 0 reverse, ...); got {h.shape}.{hint}")
        dtypes.append(h.dtype)
    dtype = compute_dtype(*dtypes)
    h = np.zeros(want, dtype=dtype) if h is None else h
    return x, h, items, nd, L, check_lengths(lengths, B, T), dtype


def _check_upstream(dout: Any, dh_n: Any, B: int, T: int, nd: int, L: int, H: int, dtype: np.dtype
                    ) -> Tuple[np.ndarray, np.ndarray, np.dtype]:
    want = (B, T, nd * H)
    if dout is None:
        dout = np.zeros(want, dtype=dtype)
    else:
        dout = as_real_array("dout", dout)
        if dout.shape != want:
            raise ValueError(f"dout: expected dL/dout of shape (B, T, num_directions * H) = {want}, the shape of "
                             f"out; got {dout.shape}.")
        dtype = compute_dtype(dtype, dout.dtype)
    if dh_n is None:
        dh_n = np.zeros((L * nd, B, H), dtype=dtype)
    else:
        dh_n = as_real_array("dh_n", dh_n)
        if dh_n.shape != (L * nd, B, H):
            raise ValueError(f"dh_n: expected dL/dh_n of shape (num_layers * num_directions, B, H) = "
                             f"{(L * nd, B, H)}, the shape of h_n; got {dh_n.shape}.")
        dtype = compute_dtype(dtype, dh_n.dtype)
    return dout.astype(dtype, copy=False), dh_n.astype(dtype, copy=False), dtype


# --------------------------------------------------------------- Level 1: readable
def readable_forward(x: Any, h0: Any, layers: Sequence[GRUParams], *, bidirectional: bool = False,
                     lengths: Any = None, reset_after: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The stack, layer by layer and direction by direction, with ``level1.gru_forward``: ``(out, h_n)``."""
    reset_after = check_reset_after(reset_after)
    x, h0, layers, nd, L, lengths, dtype = check_stack_args(x, h0, layers, bidirectional, lengths)
    layer_input = x.astype(dtype, copy=False)
    h_n = []
    for k in range(L):
        halves = []
        for d in range(nd):
            i = k * nd + d  # PyTorch's order: layer-major, forward before reverse
            p, h = layers[i].astype(dtype), h0[i].astype(dtype, copy=False)
            if d == 0:
                hs, h_T = level1.gru_forward(layer_input, h, p, reset_after, lengths=lengths)
            else:  # the reverse direction: the forward GRU on each sequence reversed within its length
                hs, h_T = level1.gru_forward(flip(layer_input, lengths), h, p, reset_after, lengths=lengths)
                hs = flip(hs, lengths)  # back in time order
            halves.append(hs)
            h_n.append(h_T)
        layer_input = np.concatenate(halves, axis=2)  # layer k + 1 reads [forward | reverse]
    return layer_input, np.stack(h_n)


def readable_backward(x: Any, h0: Any, layers: Sequence[GRUParams], dout: Any, dh_n: Any = None, *,
                      bidirectional: bool = False, lengths: Any = None, reset_after: bool = False
                      ) -> Tuple[np.ndarray, np.ndarray, Tuple[GRUParams, ...]]:
    """BPTT through the stack with ``level1.gru_backward``: ``(dx, dh0, grads)``, grads in the order of layers."""
    reset_after = check_reset_after(reset_after)
    x, h0, layers, nd, L, lengths, dtype = check_stack_args(x, h0, layers, bidirectional, lengths)
    B, T, _ = x.shape
    H = layers[0].H
    dout, dh_n, dtype = _check_upstream(dout, dh_n, B, T, nd, L, H, dtype)
    # Forward again, keeping each layer's input.
    inputs = [x.astype(dtype, copy=False)]
    for k in range(L - 1):
        sub = [p.astype(dtype) for p in layers[k * nd:(k + 1) * nd]]
        inputs.append(readable_forward(inputs[-1], h0[k * nd:(k + 1) * nd].astype(dtype), sub,
                                       bidirectional=bool(nd - 1), lengths=lengths, reset_after=reset_after)[0])
    dh0 = np.zeros((L * nd, B, H), dtype=dtype)
    grads: List[Optional[GRUParams]] = [None] * (L * nd)
    d_above = dout  # dL/d(output of layer k)
    for k in reversed(range(L)):
        d_input = np.zeros(inputs[k].shape, dtype=dtype)  # dL/d(input of layer k): both directions add up
        for d in range(nd):
            i = k * nd + d
            p, h = layers[i].astype(dtype), h0[i].astype(dtype, copy=False)
            d_half = d_above[:, :, d * H:(d + 1) * H]
            if d == 0:
                dx, dh0[i], grads[i] = level1.gru_backward(inputs[k], h, p, d_half, dh_n[i], reset_after,
                                                           lengths=lengths)
            else:
                dx, dh0[i], grads[i] = level1.gru_backward(flip(inputs[k], lengths), h, p, flip(d_half, lengths),
                                                           dh_n[i], reset_after, lengths=lengths)
                dx = flip(dx, lengths)
            d_input += dx
        d_above = d_input
    return d_above, dh0, tuple(g for g in grads if g is not None)


# --------------------------------------------------------------- Level 3: fast
def _fast(x: Any, h0: Any, layers: Any, bidirectional: Any, lengths: Any, reset_after: Any, keep: bool) -> Any:
    reset_after = check_reset_after(reset_after)
    x, h0, layers, nd, L, lengths, dtype = check_stack_args(x, h0, layers, bidirectional, lengths)
    B, T, _ = x.shape
    H = layers[0].H
    layer_input = x
    h_n = np.empty((L * nd, B, H), dtype=dtype)
    runs: List[Packed] = []
    inputs = []
    for k in range(L):
        # Each direction writes its states straight into its half (zeros where padding stays).
        out = (np.empty if lengths is None else np.zeros)((B, T, nd * H), dtype=dtype)
        inputs.append(layer_input)
        for d in range(nd):
            i = k * nd + d
            run = Packed(level3, layer_input, h0[i].astype(dtype, copy=False), layers[i], dtype, reset_after,
                         lengths, keep, reverse=bool(d), out=out[:, :, d * H:(d + 1) * H])
            h_n[i] = run.h_T
            if keep:
                runs.append(run)
        layer_input = out
    return layer_input, h_n, runs, inputs, (nd, L, H, lengths, dtype)


def fast_forward(x: Any, h0: Any, layers: Sequence[GRUParams], *, bidirectional: bool = False,
                 lengths: Any = None, reset_after: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The stack with Level 3 passes: ``(out, h_n)``."""
    out, h_n, _, _, _ = _fast(x, h0, layers, bidirectional, lengths, reset_after, keep=False)
    return out, h_n


def fast_backward(x: Any, h0: Any, layers: Sequence[GRUParams], dout: Any, dh_n: Any = None, *,
                  bidirectional: bool = False, lengths: Any = None, reset_after: bool = False
                  ) -> Tuple[np.ndarray, np.ndarray, Tuple[GRUParams, ...]]:
    """BPTT through the stack from one forward whose Level 3 caches are kept per layer and direction."""
    _, _, runs, inputs, (nd, L, H, lengths, dtype) = _fast(x, h0, layers, bidirectional, lengths, reset_after,
                                                          keep=True)
    B, T = inputs[0].shape[:2]
    dout, dh_n, dtype2 = _check_upstream(dout, dh_n, B, T, nd, L, H, dtype)
    if dtype2 != dtype:  # a float64 dout for a float32 stack: the whole backward runs in float64
        return fast_backward(np.asarray(x, dtype=dtype2), None if h0 is None else np.asarray(h0, dtype=dtype2),
                             [p.astype(dtype2) for p in layers], dout, dh_n, bidirectional=bidirectional,
                             lengths=lengths, reset_after=reset_after)
    dh0 = np.empty((L * nd, B, H), dtype=dtype)
    grads: List[Any] = [None] * (L * nd)
    d_above = dout
    for k in reversed(range(L)):
        d_input = None
        for d in range(nd):
            i = k * nd + d
            d_half = d_above[:, :, d * H:(d + 1) * H]
            dx, dh0[i], grads[i] = runs[i].backward(d_half, dh_n[i])  # the reverse run flips inside
            d_input = dx if d_input is None else np.add(d_input, dx, out=d_input)
        d_above = d_input
    return d_above, dh0, tuple(grads)
