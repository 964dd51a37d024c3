"""The stack as named terms, and the slips a hand-written stacked, bidirectional, variable-length GRU makes.

::

    layer k, direction d (i = k * nd + d, PyTorch's layer-major order):
        input_k   = x (k = 0)  or  out_{k-1} = [forward | reverse] of layer k - 1
        forward:  hs, h_n[i] = GRU(input_k, h0[i]) over each sequence's first lengths[b] steps
        reverse:  hs, h_n[i] = flip(GRU(flip(input_k), h0[i]))   flip: reversed within each length
        padded steps (t >= lengths[b]): never read; outputs zero ("zeros") or the last state ("hold")
    out = out_{L-1},  h_n = (h_n[0], h_n[1], ...)  layer-major

A *slip* changes one site of this (see ``forward.terms``): the seven catalogue names of the SPEC, each
possibly several slips (``directions_swapped`` is out's halves exchanged, or h_n's direction order),
plus the single-layer slips of ``forward.terms`` applied in every layer and direction, so a stack that
is wrong inside its cell and in its plumbing is explained by one combination. ``forward(...)`` runs the
stack with a set of slips (float64); ``backward(...)`` gives the gradients of that model for the
structural slips (the cell's own slips have no backward model here).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.core.params import GRUParams, in_float64
from gru_props.engine.conventions import Convention
from gru_props.forward import terms as cell_terms
from gru_props.tiers import level1
from gru_props.tiers.stack import flip

EQ_REV = "reverse: hs, h_n = flip(GRU(flip(input_k))), flip reversing each sequence within its own length"
EQ_OUT = "out = [forward | reverse] of the last layer, forward half first; layer k + 1 reads the same"
EQ_STATE = "h0[i], h_n[i] with i = layer * num_directions + direction (layer-major, as PyTorch)"
EQ_PAD = "steps t >= lengths[b] are padding: never read, outputs zero (or held), h_n at step lengths[b] - 1"
EQ_IN = "input of layer k > 0 = out of layer k - 1, both halves (num_directions * H features)"


@dataclasses.dataclass(frozen=True)
class Slip:
    """One wrong term of the stack: ``key`` (unique), the catalogue ``name`` it is reported under, its ``site``,
    the ``term`` and ``how`` it is wrong, the ``equation``, what the code does (``text``) and where to look."""

    key: str
    name: str
    site: str
    term: str
    how: str
    equation: str
    text: str
    hint: str
    needs: Tuple[str, ...] = ()  # "lengths", "bidirectional", "layers": what a case must have to show it


STACK_SLIPS: Tuple[Slip, ...] = (
    Slip("reverse_includes_padding", "reverse_includes_padding", "rev.start", "flip(input_k)", "wrong quantity",
         EQ_REV, "the reverse direction starts at step T - 1, reading the padding, instead of at each sequence's "
         "last valid step (the padded tensor reversed whole, x[:, ::-1], rather than each sequence within its "
         "length)", "how you reverse the sequences for the reverse direction", ("lengths", "bidirectional")),
    Slip("final_state_at_padding", "final_state_at_padding", "h_n.fwd", "h_n at step lengths[b] - 1", "wrong quantity",
         EQ_PAD, "h_n of the forward direction is taken at step T - 1 (out[:, -1]), which is padding for a shorter "
         "sequence, instead of at its last valid step", "where you take h_n from", ("lengths",)),
    Slip("padding_leaks", "padding_leaks", "fwd.pad", "the steps t < lengths[b]", "added where it does not belong",
         EQ_PAD, "the forward recurrence runs through the padded steps as if they were data: they change the state "
         "(and h_n) of every shorter sequence", "the mask of your recurrence (h = m * h_new + (1 - m) * h)",
         ("lengths",)),
    Slip("out_halves_swapped", "directions_swapped", "out.dirs", "[forward | reverse]", "wrong quantity", EQ_OUT,
         "out's halves are exchanged: the reverse direction's states come first, [reverse | forward] (and the next "
         "layer reads them that way)", "the order of your concatenation of the two directions", ("bidirectional",)),
    Slip("h_n_directions_swapped", "directions_swapped", "h_n.dirs", "h_n[layer * 2 + direction]", "wrong quantity",
         EQ_STATE, "h_n's two directions are exchanged in every layer: the reverse state first", "the order in which "
         "you collect each layer's final states", ("bidirectional",)),
    Slip("reverse_output_not_realigned", "reverse_output_not_realigned", "rev.align", "flip(GRU(...))", "missing",
         EQ_REV, "the reverse direction's outputs are left in the order they were computed (the state after reading "
         "the last valid step first): they are not reversed back into time order", "what you do with the reverse "
         "pass's outputs", ("bidirectional",)),
    Slip("layer_input_x", "layer_input_wrong", "layer.input", "input of layer k > 0", "wrong quantity", EQ_IN,
         "layer k > 0 is fed x instead of layer k - 1's output (it only runs when D = num_directions * H)",
         "what your loop over layers feeds the next layer", ("layers",)),
    Slip("layer_input_forward_only", "layer_input_wrong", "layer.input", "input of layer k > 0", "wrong quantity",
         EQ_IN, "layer k > 0 is fed only the forward half of layer k - 1's output (its reverse-half weights see "
         "zeros)", "what your loop over layers feeds the next layer", ("layers", "bidirectional")),
    Slip("h0_direction_major", "state_order_mixed", "h0.order", "h0[layer * num_directions + direction]",
         "transposed", EQ_STATE, "h0 is read direction-major, h0[direction * num_layers + layer], instead of "
         "layer-major", "how you index h0", ("layers", "bidirectional")),
    Slip("h_n_direction_major", "state_order_mixed", "h_n.order", "h_n[layer * num_directions + direction]",
         "transposed", EQ_STATE, "h_n is written direction-major, h_n[direction * num_layers + layer], instead of "
         "layer-major", "the order in which you stack h_n", ("layers", "bidirectional")),
    Slip("padded_outputs_not_zeroed", "padded_outputs_not_zeroed", "out.pad", "out at t >= lengths[b]", "missing",
         EQ_PAD, "the outputs at padded steps are left as the recurrence computed them instead of zeros",
         "what you write at padded steps", ("lengths",)),
    Slip("initial_state_ignored", "initial_state_ignored", "h0", "h0", "missing", EQ_STATE,
         "the given h0 is not used: every layer and direction starts from zeros", "what h is before your loops"),
)
#: Single-layer slips of ``forward.terms`` that a stack's cell can have, in every layer and direction.
CELL_SLIPS: Tuple[str, ...] = (
    "reversed_interpolation", "gates_swapped", "reset_gate_ignored", "update_gate_ignored", "b_hn_ignored",
    "wrong_reset_convention", "candidate_recurrent_transposed", "update_gate_recurrent_transposed",
    "reset_gate_recurrent_transposed", "candidate_input_missing", "b_hn_outside_reset_gate",
)
SLIPS: Dict[str, Slip] = {s.key: s for s in STACK_SLIPS}
#: Slips with a backward model (the structural ones; outputs left unzeroed at padding are a forward finding).
GRADIENT_SLIPS: Tuple[str, ...] = tuple(s.key for s in STACK_SLIPS if s.key != "padded_outputs_not_zeroed")
NAMES: Tuple[str, ...] = tuple(dict.fromkeys(s.name for s in STACK_SLIPS))


def site(key: str) -> str:
    return SLIPS[key].site if key in SLIPS else cell_terms.SLIPS[key].site


def names_of(keys: Sequence[str]) -> Tuple[str, ...]:
    """The catalogue names of a set of slips, each once, in the order of the slips."""
    return tuple(dict.fromkeys(SLIPS[k].name if k in SLIPS else k for k in keys))


def applies(key: str, lengths: bool, bidirectional: bool, num_layers: int) -> bool:
    needs = SLIPS[key].needs if key in SLIPS else ()
    return all({"lengths": lengths, "bidirectional": bidirectional, "layers": num_layers > 1}[n] for n in needs)


def _valid(lengths: Optional[np.ndarray], B: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.ones((B, T), dtype=bool)
    return np.arange(T)[None, :] < lengths[:, None]


def _run(x: np.ndarray, h0: np.ndarray, p: GRUParams, reset_after: bool, cell: FrozenSet[str],
         lengths: Optional[np.ndarray], masked: bool) -> Tuple[np.ndarray, np.ndarray]:
    """One direction: states at every step (held through padding when ``masked``) and the final state."""
    B, T, _ = x.shape
    valid = _valid(lengths if masked else None, B, T)
    hs = np.zeros((B, T, p.H))
    h = h0
    with np.errstate(all="ignore"):
        for t in range(T):
            m = valid[:, t:t + 1]
            h_new = cell_terms.cell(np.where(m, x[:, t], 0.0), h, p, reset_after, cell)
            h = np.where(m, h_new, h)
            hs[:, t] = h
    return hs, h


def _order(L: int, nd: int) -> List[int]:
    """Direction-major position of each layer-major index: direction-major[i] is h0[d * L + k] for i = k*nd+d."""
    return [d * L + k for k in range(L) for d in range(nd)]


def forward(x: Any, h0: Any, layers: Sequence[GRUParams], lengths: Optional[np.ndarray], bidirectional: bool,
            conv: Convention, slips: Iterable[str] = (), padding: str = "zeros") -> Tuple[np.ndarray, np.ndarray]:
    """(out, h_n) of the stack in ``conv`` with ``slips`` applied, float64 (NaN where a slip cannot run)."""
    s = frozenset(cell_terms.expand(slips))
    cell = frozenset(n for n in s if n not in SLIPS)
    x = np.asarray(x, dtype=np.float64)
    nd = 2 if bidirectional else 1
    L = len(layers) // nd
    B, T, D = x.shape
    H = layers[0].H
    h0 = np.zeros((L * nd, B, H)) if h0 is None else np.asarray(h0, dtype=np.float64)
    if "initial_state_ignored" in s:
        h0 = np.zeros_like(h0)
    if "h0_direction_major" in s:
        h0 = h0[_order(L, nd)]
    valid = _valid(lengths, B, T)
    layer_input, hn, fwd_half = x, [], x
    for k in range(L):
        inp = layer_input
        if k and "layer_input_x" in s:
            if D != nd * H:
                nan = np.full((B, T, nd * H), np.nan)
                return nan, np.full((L * nd, B, H), np.nan)
            inp = x
        elif k and "layer_input_forward_only" in s and nd == 2:
            inp = np.concatenate([fwd_half, np.zeros_like(fwd_half)], axis=2)
        halves = []
        for d in range(nd):
            i = k * nd + d
            p = conv.standard_params(in_float64(layers[i]))
            if d == 0:
                hs, h_T = _run(inp, h0[i], p, conv.reset_after, cell, lengths, "padding_leaks" not in s)
            elif "reverse_includes_padding" in s:
                hs_r, h_T = _run(inp[:, ::-1], h0[i], p, conv.reset_after, cell, lengths, False)
                hs = hs_r if "reverse_output_not_realigned" in s else hs_r[:, ::-1]
            else:
                hs_r, h_T = _run(flip(inp, lengths), h0[i], p, conv.reset_after, cell, lengths, True)
                hs = hs_r if "reverse_output_not_realigned" in s else flip(hs_r, lengths)
            if "padded_outputs_not_zeroed" not in s and not (padding == "hold" and d == 0):
                hs = np.where(valid[:, :, None], hs, 0.0)
            if d == 0 and "final_state_at_padding" in s and lengths is not None and T:
                h_T = hs[:, T - 1]
            halves.append(hs)
            hn.append(h_T)
        fwd_half = halves[0]
        if "out_halves_swapped" in s and nd == 2:
            halves = halves[::-1]
        layer_input = np.concatenate(halves, axis=2)
    if "h_n_directions_swapped" in s and nd == 2:
        hn = [hn[i ^ 1] for i in range(len(hn))]
    h_n = np.stack(hn)
    if "h_n_direction_major" in s:
        out_hn = np.empty_like(h_n)
        out_hn[_order(L, nd)] = h_n
        h_n = out_hn
    return layer_input, h_n


def backward(x: Any, h0: Any, layers: Sequence[GRUParams], lengths: Optional[np.ndarray], bidirectional: bool,
             conv: Convention, dout: Any, dh_n: Any, slips: Iterable[str] = ()
             ) -> Tuple[np.ndarray, np.ndarray, Tuple[GRUParams, ...]]:
    """(dx, dh0, grads) of ``sum(out * dout) + sum(h_n * dh_n)`` through ``forward(..., slips)`` ("zeros"
    padding), for the structural slips; float64. Padded outputs are zero, so dout there reaches nothing
    (unless ``padded_outputs_not_zeroed``)."""
    s = frozenset(slips)
    x = np.asarray(x, dtype=np.float64)
    nd = 2 if bidirectional else 1
    L = len(layers) // nd
    B, T, D = x.shape
    H = layers[0].H
    h0 = np.zeros((L * nd, B, H)) if h0 is None else np.asarray(h0, dtype=np.float64)
    dout = np.asarray(dout, dtype=np.float64)
    dh_n = np.asarray(dh_n, dtype=np.float64)
    ps = [conv.standard_params(in_float64(p)) for p in layers]
    used_h0 = np.zeros_like(h0) if "initial_state_ignored" in s else (h0[_order(L, nd)] if "h0_direction_major" in s
                                                                      else h0)
    if "h_n_direction_major" in s:
        dh_n = dh_n[_order(L, nd)]
    if "h_n_directions_swapped" in s and nd == 2:
        dh_n = dh_n[[i ^ 1 for i in range(L * nd)]]
    valid = _valid(lengths, B, T)[:, :, None]
    mask_out = "padded_outputs_not_zeroed" not in s
    # Forward again: each layer's input (as it is fed).
    inputs: List[np.ndarray] = []
    outs: List[np.ndarray] = []
    layer_input = x
    for k in range(L):
        inp = layer_input
        if k and "layer_input_x" in s:
            if D != nd * H:
                return (np.full(x.shape, np.nan), np.full(h0.shape, np.nan),
                        tuple(GRUParams(**{f: np.full(a.shape, np.nan) for f, a in p.arrays().items()})
                              for p in layers))
            inp = x
        elif k and "layer_input_forward_only" in s and nd == 2:
            inp = np.concatenate([outs[-1][:, :, :H], np.zeros((B, T, H))], axis=2)
        inputs.append(inp)
        sub = forward(inp, used_h0[k * nd:(k + 1) * nd], layers[k * nd:(k + 1) * nd], lengths, bidirectional, conv,
                      [n for n in s if n in ("reverse_includes_padding", "padding_leaks",
                                             "reverse_output_not_realigned", "padded_outputs_not_zeroed")])[0]
        outs.append(sub)  # [forward | reverse]
        layer_input = np.concatenate([sub[:, :, H:], sub[:, :, :H]], axis=2) if (
            "out_halves_swapped" in s and nd == 2) else sub  # as fed to the next layer and returned
    dh0 = np.zeros_like(h0)
    grads: List[Any] = [None] * (L * nd)
    dx_total = np.zeros((B, T, D))
    d_above = dout
    for k in reversed(range(L)):
        d_input = np.zeros(inputs[k].shape)
        halves = [d_above[:, :, :H], d_above[:, :, H:]] if nd == 2 else [d_above]
        if "out_halves_swapped" in s and nd == 2:
            halves = halves[::-1]
        for d in range(nd):
            i = k * nd + d
            dh = halves[d] * valid if mask_out else halves[d]
            dh_T = dh_n[i]
            if d == 0:
                if "final_state_at_padding" in s and lengths is not None and T:
                    dh = dh.copy()
                    dh[:, T - 1] += dh_n[i]
                    dh_T = np.zeros_like(dh_n[i])
                run_len = None if "padding_leaks" in s else lengths
                dx, dh0[i], grads[i] = level1.gru_backward(inputs[k], used_h0[i], ps[i], dh, dh_T, conv.reset_after,
                                                           lengths=run_len)
            elif "reverse_includes_padding" in s:
                dh_r = dh if "reverse_output_not_realigned" in s else dh[:, ::-1]
                dx, dh0[i], grads[i] = level1.gru_backward(inputs[k][:, ::-1], used_h0[i], ps[i], dh_r, dh_T,
                                                           conv.reset_after)
                dx = dx[:, ::-1]
            else:
                dh_r = dh if "reverse_output_not_realigned" in s else flip(dh, lengths)
                dx, dh0[i], grads[i] = level1.gru_backward(flip(inputs[k], lengths), used_h0[i], ps[i], dh_r, dh_T,
                                                           conv.reset_after, lengths=lengths)
                dx = flip(dx, lengths)
            d_input += dx
        if k and "layer_input_x" in s:
            dx_total += d_input
            d_above = np.zeros((B, T, nd * H))
        elif k and "layer_input_forward_only" in s and nd == 2:  # only the forward half was fed
            d_fwd, zero = d_input[:, :, :H], np.zeros((B, T, H))
            d_above = np.concatenate([zero, d_fwd] if "out_halves_swapped" in s else [d_fwd, zero], axis=2)
        else:
            d_above = d_input
    dx_total += d_above
    if "initial_state_ignored" in s:
        dh0 = np.zeros_like(dh0)
    elif "h0_direction_major" in s:
        back = np.empty_like(dh0)
        back[_order(L, nd)] = dh0
        dh0 = back
    out_grads = []
    for g in grads:
        arrays = g.arrays()
        if conv.chung:  # the model ran with z negated: its z gradients map back negated
            arrays = {f: (-v if f in ("W_z", "U_z", "b_z") else v) for f, v in arrays.items()}
        out_grads.append(GRUParams(**arrays))
    return dx_total, dh0, tuple(out_grads)


__all__ = ["CELL_SLIPS", "GRADIENT_SLIPS", "NAMES", "SLIPS", "STACK_SLIPS", "Slip", "applies", "backward", "forward",
           "names_of", "site"]
