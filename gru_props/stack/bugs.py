"""The stack catalogue's words: what each of the SPEC's seven names means, with three progressive hints.

A name's model is a set of slips of ``stack.terms`` (``directions_swapped``, ``layer_input_wrong`` and
``state_order_mixed`` cover two slips each); a single-layer name found in a stack has the words of
``forward.bugs``.
"""

from __future__ import annotations

from typing import Dict, Tuple

from gru_props.engine.model import Bug
from gru_props.forward import bugs as forward_bugs
from gru_props.stack import terms

BUGS: Dict[str, Bug] = {b.name: b for b in [
    Bug("reverse_includes_padding",
        "the reverse direction starts at step T - 1 instead of at each sequence's last valid step: it reads the "
        "padding first, so every shorter sequence's reverse states (and h_n) are wrong.",
        ("How do you reverse a padded batch for the reverse direction?",
         "reverse: hs = flip(GRU(flip(x))) where flip reverses each sequence within its own length: step t of "
         "sequence b is x[b, lengths[b] - 1 - t]; x[:, ::-1] puts the padding first.",
         "Reverse per sequence (torch.flip of x[b, :lengths[b]], or an index lengths[b] - 1 - t), or pack the "
         "batch (pack_padded_sequence) so the reverse pass starts at each sequence's end.")),
    Bug("final_state_at_padding",
        "h_n is taken at step T - 1 (out[:, -1]), which is padding for every shorter sequence, instead of at each "
        "sequence's last valid step.",
        ("Where does h_n come from for a sequence shorter than T?",
         "h_n[b] is the state after step lengths[b] - 1 (h0 when lengths[b] == 0); out[b, t] is zero past it.",
         "Keep the state in the loop with a masked update (h = m * h_new + (1 - m) * h) and return that h, or "
         "gather out[b, lengths[b] - 1].")),
    Bug("padding_leaks",
        "the padded steps are processed as data: they change the state of every shorter sequence, so its h_n "
        "(and what later layers read) depends on the padding.",
        ("What happens to a sequence's state after its last valid step?",
         "Padding is never read: past lengths[b] the state stays h_{lengths[b]-1} (packed sequences stop there).",
         "Mask the update: h = m_t * h_new + (1 - m_t) * h with m_t = (t < lengths)[:, None].")),
    Bug("directions_swapped",
        "the two directions are exchanged in out (the reverse half first) or in h_n (the reverse state first).",
        ("Which direction comes first in your concatenation and in h_n?",
         "out = [forward | reverse] (out.view(B, T, 2, H)[..., 0, :] is forward); h_n[2 * k] is layer k's "
         "forward state, h_n[2 * k + 1] its reverse.",
         "Concatenate (forward, reverse) and append each layer's forward state before its reverse one.")),
    Bug("reverse_output_not_realigned",
        "the reverse direction's outputs are left in the order they were computed: out[:, t, H:] holds the state "
        "after reading step lengths[b] - 1 - t, not step t.",
        ("You reversed the sequence for the reverse pass: did you reverse its outputs back?",
         "reverse: hs = flip(GRU(flip(x))): out[b, t, H:] is the reverse state after reading x[b, t].",
         "Flip the reverse pass's outputs back within each length before concatenating.")),
    Bug("layer_input_wrong",
        "layer k > 0 is not fed layer k - 1's whole output: it reads x, or only the forward half.",
        ("What does your loop over layers feed the next layer?",
         "input of layer k > 0 = out of layer k - 1, [forward | reverse] (num_directions * H features).",
         "Set the next layer's input to the concatenated output of the layer just computed.")),
    Bug("state_order_mixed",
        "h0 is read, or h_n written, direction-major (index direction * num_layers + layer) instead of "
        "layer-major (layer * num_directions + direction), as torch.nn.GRU orders them.",
        ("In which order do your layers and directions index h0 and h_n?",
         "h0[i], h_n[i] with i = layer * num_directions + direction: layer 0 forward, layer 0 reverse, layer 1 "
         "forward, ...",
         "Index with k * num_directions + d, or reshape as h0.view(num_layers, num_directions, B, H).")),
    Bug("padded_outputs_not_zeroed",
        "the outputs at padded steps are left as the recurrence computed them instead of zeros.",
        ("What do you write at padded steps?",
         "padding='zeros': out[b, t] = 0 for t >= lengths[b] (pad_packed_sequence, ONNX Runtime).",
         "Multiply the outputs by the mask, or check with padding='hold' / 'any' if that is your contract.")),
]}


def bug(name: str) -> Bug:
    if name in BUGS:
        return BUGS[name]
    for s in terms.STACK_SLIPS:
        if s.name == name:
            return Bug(name, s.text + ".", (f"Look at {s.hint}.", f"{s.equation}: here {s.term} is {s.how}.",
                                            "Compare with gru_props.level1.stack_forward."))
    return forward_bugs.bug(name)


def hints_for(names: Tuple[str, ...]) -> Tuple[str, str, str]:
    parts = [bug(n).hints for n in names]
    return tuple(" ".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))  # type: ignore[return-value]
