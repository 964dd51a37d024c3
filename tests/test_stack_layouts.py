"""The layout adapters in the stack form: torch_layout hands a stack ``torch.nn.GRU``'s state_dict names,
keras_layout a stack of Keras ``Bidirectional(GRU)`` layers' weights list, initial states and mask, and
named_weights a list of per-layer weights; both checks run through them, and reports speak those names."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before anything imports keras

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gru_props import (  # noqa: E402
    GRUParams,
    ImplementationError,
    check_gradients,
    check_implementation,
    level1,
)
from gru_props.adapters import keras_layout, maps, named_weights, time_major, torch_layout  # noqa: E402

STACK = dict(num_layers=2, bidirectional=True, lengths=True, profile="ci")

# Keras' own NumPy conversions trip NumPy 2's __array__(copy=...) deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _case(B=3, T=5, D=2, H=4, L=2, nd=2, seed=0):
    rng = np.random.default_rng(seed)
    layers = [GRUParams.random(D if i < nd else nd * H, H, seed=seed + i, scale=0.8) for i in range(L * nd)]
    x, h0 = rng.normal(size=(B, T, D)), rng.normal(size=(L * nd, B, H))
    lengths = np.array([T, 2, 0][:B])
    return x, h0, layers, lengths


# ------------------------------------------------------------------ a NumPy port of nn.GRU from its state_dict
def _torch_cell(x_t, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[-1]
    gi, gh = x_t @ w_ih.T + b_ih, h @ w_hh.T + b_hh  # rows r, z, n
    r, z = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    return (1 - z) * np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:]) + z * h


def torch_port(x, h0, weights, lengths, *, reverse_suffix="_reverse", reverse_from_end=False):
    """What an engineer writes to run a trained nn.GRU in NumPy: weights = {k: v.numpy() for k, v in
    gru.state_dict().items()}."""
    nd = 2 if any(k.endswith("_reverse") for k in weights) else 1
    L = len(weights) // (4 * nd)
    B, T, _ = x.shape
    H = weights["weight_hh_l0"].shape[1]
    h0 = np.zeros((L * nd, B, H)) if h0 is None else h0
    inp, h_n = x, []
    for k in range(L):
        halves = []
        for d in range(nd):
            sfx = f"_l{k}" + (reverse_suffix if d else "")
            w = [weights[n + sfx] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, out = h0[k * nd + d], np.zeros((B, T, H))
            for t in (range(T) if d == 0 else reversed(range(T))):
                m = np.ones((B, 1)) if (d and reverse_from_end) else (t < lengths)[:, None] * 1.0
                h = m * _torch_cell(inp[:, t], h, *w) + (1 - m) * h
                out[:, t] = m * h if not (d and reverse_from_end) else h * (t < lengths)[:, None]
            halves.append(out)
            h_n.append(h)
        inp = np.concatenate(halves, axis=2)
    return inp, np.stack(h_n)


def test_torch_layout_hands_a_stack_the_state_dict_of_torch_nn_gru():
    x, h0, layers, lengths = _case()
    seen = {}

    def spy(x, h0, weights, lengths):
        seen.update(weights)
        return torch_port(x, h0, weights, lengths)

    out, h_n = torch_layout(spy)(x, h0, layers, lengths, bidirectional=True)
    want = GRUParams.stack_to_torch(layers, bidirectional=True)  # the converter torch_module loads modules with
    assert list(seen) == list(want)
    for k in want:  # weights exactly; b_r and b_z may be split between the two biases in any way, b_n never
        if k.startswith("weight"):
            np.testing.assert_array_equal(seen[k], np.asarray(want[k]))
        elif k.startswith("bias_ih"):
            other = k.replace("bias_ih", "bias_hh")
            np.testing.assert_allclose(seen[k] + seen[other], np.asarray(want[k]) + np.asarray(want[other]),
                                       atol=1e-15)
            np.testing.assert_array_equal(seen[k][8:], np.asarray(want[k])[8:])
            np.testing.assert_array_equal(seen[other][8:], np.asarray(want[other])[8:])
    ref_out, ref_h = level1.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=True)
    np.testing.assert_allclose(out, ref_out, atol=1e-14)
    np.testing.assert_allclose(h_n, ref_h, atol=1e-14)


def test_torch_layout_names_agree_with_torch_itself():
    torch = pytest.importorskip("torch")
    gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    layers = GRUParams.stack_from_torch(gru)
    seen = {}
    torch_layout(lambda x, h0, w: (seen.update(w), torch_port(x, h0, w, np.full(2, 5)))[1])(
        np.ones((2, 5, 3)), np.zeros((4, 2, 4)), layers, bidirectional=True)
    state = gru.state_dict()
    assert list(seen) == list(state)
    for k, v in state.items():
        if k.startswith("weight"):
            np.testing.assert_allclose(seen[k], v.numpy(), atol=1e-15)


def test_a_numpy_port_of_nn_gru_passes_through_torch_layout():
    report = check_implementation(torch_layout(torch_port), **STACK)
    assert "padding_never_leaks" in report.passed or "padded_outputs" in report.passed, report.passed


def test_a_port_whose_reverse_reads_the_padding_is_caught_and_named_in_torch_names():
    with pytest.raises(ImplementationError) as info:
        check_implementation(torch_layout(lambda x, h0, w, n: torch_port(x, h0, w, n, reverse_from_end=True)),
                             **STACK)
    err = info.value
    assert "reverse_includes_padding" in (err.diagnoses or (err.diagnosis,)), (err.diagnoses, err.diagnosis)
    assert "w['weight_ih_l0']" in str(err) or "weight_ih_l0" in str(err)  # shown as the port received it


def test_a_port_that_never_uses_the_reverse_weights_is_caught():
    with pytest.raises(ImplementationError) as info:
        check_implementation(torch_layout(lambda x, h0, w, n: torch_port(x, h0, w, n, reverse_suffix="")),
                             properties=["matches_reference"], **STACK)
    assert info.value.property == "matches_reference"


# ------------------------------------------------------------------ the backward in PyTorch's names
def _to_torch_grads(grads, nd):
    out = {}
    for i, g in enumerate(grads):
        sfx = f"_l{i // nd}" + ("_reverse" if i % nd else "")
        out["weight_ih" + sfx] = np.concatenate([g.W_r, g.W_z, g.W_n], axis=1).T
        out["weight_hh" + sfx] = np.concatenate([g.U_r, g.U_z, g.U_n], axis=1).T
        out["bias_ih" + sfx] = np.concatenate([g.b_r, g.b_z, g.b_n])
        out["bias_hh" + sfx] = np.concatenate([g.b_r, g.b_z, g.b_hn])
    return out


def _from_torch(weights, nd):
    n = len(weights) // 4
    layers = []
    for i in range(n):
        sfx = f"_l{i // nd}" + ("_reverse" if i % nd else "")
        layers.append(GRUParams.from_torch({k[:-len(sfx)] if k.endswith(sfx) else k: v
                                            for k, v in weights.items() if k.endswith(sfx) and
                                            (i % nd or not k.endswith("_reverse"))}))
    return layers


def torch_port_backward(x, h0, weights, lengths, dout, dh_n, *, halve=None):
    nd = 2 if any(k.endswith("_reverse") for k in weights) else 1
    layers = _from_torch(weights, nd)
    dx, dh0, grads = level1.stack_backward(x, h0, layers, dout, dh_n, bidirectional=nd == 2, lengths=lengths,
                                           reset_after=True)
    g = _to_torch_grads(grads, nd)
    if halve:
        g[halve] = g[halve] * 0.5
    return dx, dh0, {"d" + k: v for k, v in g.items()}


def test_the_port_itself_is_right():
    x, h0, layers, lengths = _case()
    w = {k: np.asarray(v) for k, v in GRUParams.stack_to_torch(layers, bidirectional=True).items()}
    for got, want in zip(_from_torch(w, 2), layers):
        for k, v in want.arrays().items():
            np.testing.assert_allclose(getattr(got, k), v, atol=1e-15)


def test_a_backward_in_torch_names_passes_check_gradients():
    report = check_gradients(torch_layout(torch_port_backward), **STACK)
    assert report.passed


def test_a_backward_with_a_wrong_reverse_gradient_is_reported_under_its_torch_name():
    with pytest.raises(ImplementationError) as info:
        check_gradients(torch_layout(lambda *a: torch_port_backward(*a, halve="weight_hh_l1_reverse")),
                        properties=["gradients_match_reference"], **STACK)
    text = str(info.value)
    assert "In your function's layout that is the gradient for weight_hh_l1_reverse[" in text, text[:3000]
    assert "level1.stack_backward" in text or info.value.diagnoses


def test_split_bias_gradients_that_disagree_are_refused_by_name():
    with pytest.raises(ImplementationError) as info:
        check_gradients(torch_layout(lambda *a: torch_port_backward(*a, halve="bias_hh_l0_reverse")), **STACK)
    assert "bias_hh" in str(info.value) and "bias_ih" in str(info.value)


# ------------------------------------------------------------------ Keras: Bidirectional(GRU) layers
def _keras_cell(x_t, h, kernel, recurrent_kernel, bias):
    H = h.shape[-1]
    mx, mh = x_t @ kernel + bias[0], h @ recurrent_kernel + bias[1]  # columns z, r, h
    z, r = sigmoid(mx[:, :H] + mh[:, :H]), sigmoid(mx[:, H:2 * H] + mh[:, H:2 * H])
    return z * h + (1 - z) * np.tanh(mx[:, 2 * H:] + r * mh[:, 2 * H:])


def keras_port(x, initial_state, weights, mask, *, hold=False, unmasked_backward=False):
    """A NumPy port of a stack of Bidirectional(GRU(return_sequences=True)) layers, from model.get_weights()
    and the mask Keras propagates; masked steps keep the state, as Keras does."""
    L = len(weights) // 6
    B, T, _ = x.shape
    H = weights[1].shape[0]
    states = [np.zeros((B, H))] * (2 * L) if initial_state is None else initial_state
    y, finals = x, []
    for k in range(L):
        halves = []
        for d in range(2):
            kernel, rk, bias = weights[6 * k + 3 * d: 6 * k + 3 * d + 3]
            h, out = states[2 * k + d], np.zeros((B, T, H))
            for t in (range(T) if d == 0 else reversed(range(T))):  # go_backwards
                m = np.ones((B, 1), bool) if (d and unmasked_backward) else mask[:, t:t + 1]
                h = np.where(m, _keras_cell(y[:, t], h, kernel, rk, bias), h)
                out[:, t] = h if hold else np.where(mask[:, t:t + 1], h, 0.0)
            halves.append(out)
            finals.append(h)
        y = np.concatenate(halves, axis=2)
    return y, finals


def test_keras_layout_hands_a_stack_keras_weights_states_and_mask():
    x, h0, layers, lengths = _case()
    seen = {}

    def spy(x, initial_state, weights, mask):
        seen.update(states=initial_state, weights=weights, mask=mask)
        return keras_port(x, initial_state, weights, mask)

    out, h_n = keras_layout(spy)(x, h0, layers, lengths, bidirectional=True)
    assert len(seen["weights"]) == 12 and len(seen["states"]) == 4
    for i, p in enumerate(layers):  # per layer and direction: kernel, recurrent_kernel, bias, as to_keras gives
        (k, rk, b), (wk, wrk, wb) = seen["weights"][3 * i: 3 * i + 3], p.to_keras(reset_after=True)
        np.testing.assert_array_equal(k, wk)
        np.testing.assert_array_equal(rk, wrk)  # the bias rows may split b_z and b_r in any way, never b_n, b_hn
        np.testing.assert_allclose(b.sum(0)[:8], wb.sum(0)[:8], atol=1e-15)
        np.testing.assert_array_equal(b[:, 8:], wb[:, 8:])
        np.testing.assert_array_equal(seen["states"][i], h0[i])
    np.testing.assert_array_equal(seen["mask"], np.arange(5)[None] < lengths[:, None])
    ref_out, ref_h = level1.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=True)
    np.testing.assert_allclose(out, ref_out, atol=1e-14)
    np.testing.assert_allclose(h_n, ref_h, atol=1e-14)


def test_keras_bidirectional_itself_agrees_through_keras_layout():
    """Keras' own Bidirectional(GRU) stack with a mask: zeros at masked steps (Bidirectional sets
    zero_output_for_mask), each direction's final state at its own last valid step, h0 kept at length 0."""
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras on the torch backend only")
    x, h0, layers, lengths = _case()
    H, L = 4, 2

    def keras_stack(x, initial_state, weights, mask):
        inp, ms = keras.Input((None, x.shape[2]), dtype="float64"), keras.Input((None,), dtype="bool")
        st = [keras.Input((H,), dtype="float64") for _ in range(2 * L)]
        y, states = inp, []
        for k in range(L):
            layer = keras.layers.Bidirectional(
                keras.layers.GRU(H, return_sequences=True, return_state=True, dtype="float64"), dtype="float64")
            y, f, b = layer(y, mask=ms, initial_state=st[2 * k:2 * k + 2])
            states += [f, b]
        model = keras.Model([inp, ms] + st, [y] + states)
        model.set_weights(weights)
        return [keras.ops.convert_to_numpy(r) for r in model([x, mask] + list(initial_state))]

    out, h_n = keras_layout(keras_stack)(x, h0, layers, lengths, bidirectional=True)  # (out, *states)
    ref_out, ref_h = level1.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=True)
    # 1e-6: Keras 3 multiplies float64 matrices in float32 on its masked path (see test_keras.py's module doc)
    np.testing.assert_allclose(out, ref_out, atol=1e-6)
    np.testing.assert_allclose(h_n, ref_h, atol=1e-6)
    assert np.all(out[2] == 0) and np.allclose(h_n[:, 2], h0[:, 2])


def test_a_numpy_port_of_keras_bidirectional_passes_through_keras_layout():
    check_implementation(keras_layout(keras_port), **STACK)


def test_a_keras_port_that_outputs_the_held_state_passes_with_padding_hold_only():
    held = keras_layout(lambda *a: keras_port(*a, hold=True))
    check_implementation(held, padding="hold", **STACK)
    with pytest.raises(ImplementationError) as info:
        check_implementation(held, properties=["padded_outputs"], **STACK)
    err = info.value
    assert "padded_outputs" in [f.property for f in err.failures]
    assert "weights[3] (kernel, layer 0 backward)" in str(err)  # the counterexample as the port received it


def test_a_keras_port_whose_backward_layer_ignores_the_mask_is_caught():
    with pytest.raises(ImplementationError) as info:
        check_implementation(keras_layout(lambda *a: keras_port(*a, unmasked_backward=True)), **STACK)
    err = info.value
    assert "reverse_includes_padding" in (err.diagnoses or (err.diagnosis,)), (err.diagnoses, err.diagnosis)


# ------------------------------------------------------------------ named_weights, and what is refused
def test_named_weights_hands_a_stack_one_entry_per_layer():
    x, h0, layers, lengths = _case()

    def stack(x, h0, per_layer, lengths):
        assert len(per_layer) == 4 and set(per_layer[0]) == set(maps.D2L)
        return level1.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=False)

    named_weights(stack, names=maps.D2L, pass_as="dict")(x, h0, layers, lengths, bidirectional=True)


def test_an_adapter_without_a_stack_form_says_so():
    x, h0, layers, lengths = _case()
    with pytest.raises(TypeError, match="stack form"):
        time_major(lambda x, h0, p: None)(x, h0, layers, lengths)


def keras_port_backward(x, initial_state, weights, mask, dout, d_states):
    """A backward in Keras' names: gradients as a list like model.get_weights(), states as lists."""
    n = len(weights) // 3
    layers = [GRUParams.from_keras(*weights[3 * i: 3 * i + 3]) for i in range(n)]
    lengths = mask.sum(axis=1)
    h0 = None if initial_state is None else np.stack(initial_state)
    dx, dh0, grads = level1.stack_backward(x, h0, layers, dout, np.stack(d_states), bidirectional=True,
                                           lengths=lengths, reset_after=True)
    out = []
    for g in grads:
        out += [np.concatenate([g.W_z, g.W_r, g.W_n], axis=1), np.concatenate([g.U_z, g.U_r, g.U_n], axis=1),
                np.stack([np.concatenate([g.b_z, g.b_r, g.b_n]), np.concatenate([g.b_z, g.b_r, g.b_hn])])]
    return dx, list(dh0), out


def test_a_backward_in_keras_names_passes_check_gradients_and_a_wrong_one_is_located():
    check_gradients(keras_layout(keras_port_backward), **STACK)

    def wrong(*a):
        dx, dh0, g = keras_port_backward(*a)
        g[4] = g[4] * 2  # recurrent_kernel of layer 0 backward
        return dx, dh0, g

    with pytest.raises(ImplementationError) as info:
        check_gradients(keras_layout(wrong), properties=["gradients_match_reference"], **STACK)
    assert "weights[4] (recurrent_kernel, layer 0 backward)" in str(info.value), str(info.value)[:3000]
