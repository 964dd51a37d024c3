"""The LSTM (gru_props.lstm): parameters, converters, forward and backward.

Both tiers (level1, readable; level3, fast) are held to independent LSTMs:
``torch.nn.LSTM`` forward and autograd (float64, 1e-10), ONNX's reference
evaluator for the LSTM operator, Keras' LSTM layer, and central finite
differences of our own float64 forward. They are also held to each other.
The framework tests skip cleanly when torch, onnx or keras is missing.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gru_props import GRUParams
from gru_props.lstm import LSTMCache, LSTMParams, level1, level3
from gru_props.lstm import lstm_backward as top_backward
from gru_props.lstm import lstm_forward as top_forward

TIERS = [level1, level3]
TIER_IDS = ["level1", "level3"]
TIER = pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)

#: float64 agreement demanded against the independent references and between tiers.
TOL64 = 1e-10

# Gate row blocks of torch.nn.LSTM's stacked (4H, .) tensors.
TORCH_ORDER = ("i", "f", "g", "o")


def max_abs_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def case(B=3, T=5, D=4, H=6, seed=0, scale=0.8, dtype=np.float64, states=True):
    """Random (x, h0, c0, params, dhs, dh_T, dc_T), D != H by default."""
    rng = np.random.default_rng(seed)
    params = LSTMParams.random(D, H, seed=rng, scale=scale, dtype=dtype)
    x = rng.normal(size=(B, T, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype) if states else None
    c0 = rng.normal(size=(B, H)).astype(dtype) if states else None
    dhs = rng.normal(size=(B, T, H)).astype(dtype)
    dh_T = rng.normal(size=(B, H)).astype(dtype)
    dc_T = rng.normal(size=(B, H)).astype(dtype)
    return x, h0, c0, params, dhs, dh_T, dc_T


def loss(hs, h_T, c_T, dhs, dh_T, dc_T):
    return float(np.sum(hs * dhs) + np.sum(h_T * dh_T) + np.sum(c_T * dc_T))


def assert_message(excinfo, *fragments):
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in message: {msg}"


def assert_grads_close(got, want, tol, what=""):
    """got, want: (dx, dh0, dc0, LSTMParams)."""
    for name, a, b in (("dx", got[0], want[0]), ("dh0", got[1], want[1]), ("dc0", got[2], want[2])):
        assert max_abs_diff(a, b) <= tol, (what, name, max_abs_diff(a, b))
    for name, a in got[3].arrays().items():
        b = getattr(want[3], name)
        assert max_abs_diff(a, b) <= tol, (what, name, max_abs_diff(a, b))


# ------------------------------------------------------------------ LSTMParams


def test_params_copies_into_one_read_only_dtype():
    p = LSTMParams.random(3, 4, seed=0)
    fields = {k: v.copy() for k, v in p.arrays().items()}
    fields["b_o"] = fields["b_o"].astype(np.float32)  # a mix: float64 wins
    fields["W_i"] = (fields["W_i"] * 10).astype(np.int64)  # integers promote
    q = LSTMParams(**fields)
    assert q.dtype == np.float64 and (q.D, q.H) == (3, 4)
    assert list(q.arrays()) == ["W_i", "W_f", "W_g", "W_o", "U_i", "U_f", "U_g", "U_o",
                                "b_i", "b_f", "b_g", "b_o"]
    for name, arr in q.arrays().items():
        assert arr.dtype == np.float64 and not arr.flags.writeable, name
        assert not np.shares_memory(arr, fields[name]), name
    fields["U_g"][0, 0] = 123.0  # the caller's array changes; q does not
    assert q.U_g[0, 0] != 123.0
    with pytest.raises(ValueError):
        q.U_g[0, 0] = 1.0
    assert repr(q) == "LSTMParams(D=3, H=4, dtype=float64)"


def test_params_float32_stays_float32_and_astype():
    p = LSTMParams.random(2, 3, seed=1, dtype=np.float32)
    assert p.dtype == np.float32
    q = p.astype(np.float64)
    assert q.dtype == np.float64 and p.dtype == np.float32
    np.testing.assert_array_equal(q.U_f, p.U_f.astype(np.float64))
    with pytest.raises(TypeError) as e:
        p.astype(np.int32)
    assert_message(e, "dtype", "floating", "int32")


@pytest.mark.parametrize("field, shape, expected", [
    ("W_f", (3, 5), "(D, H) = (3, 4)"),
    ("U_o", (4, 3), "(H, H) = (4, 4)"),
    ("b_g", (5,), "(H,) = (4,)"),
    ("b_i", (1, 4), "(H,) = (4,)"),
])
def test_params_shape_errors_name_field_expected_and_received(field, shape, expected):
    fields = LSTMParams.random(3, 4, seed=0).arrays()
    fields[field] = np.zeros(shape)
    with pytest.raises(ValueError) as e:
        LSTMParams(**fields)
    assert_message(e, f"LSTMParams.{field}", expected, str(shape))


def test_params_type_errors():
    fields = LSTMParams.random(3, 4, seed=0).arrays()
    with pytest.raises(TypeError) as e:
        LSTMParams(**{**fields, "U_i": fields["U_i"].astype(complex)})
    assert_message(e, "LSTMParams.U_i", "complex")
    with pytest.raises(TypeError) as e:
        LSTMParams(**{**fields, "b_f": fields["b_f"] > 0})
    assert_message(e, "LSTMParams.b_f", "boolean")
    with pytest.raises(ValueError) as e:
        LSTMParams(**{**fields, "W_i": np.zeros(4)})
    assert_message(e, "LSTMParams.W_i", "2-D", "(D, H)")
    with pytest.raises(ValueError) as e:
        LSTMParams(**{**fields, "W_i": np.zeros((3, 0))})
    assert_message(e, "H >= 1")


def test_params_replace():
    p = LSTMParams.random(3, 4, seed=0)
    q = p.replace(b_f=p.b_f + 1.0)
    np.testing.assert_array_equal(q.b_f, p.b_f + 1.0)
    np.testing.assert_array_equal(q.W_i, p.W_i)
    with pytest.raises(TypeError) as e:
        p.replace(b_forget=p.b_f)
    assert_message(e, "b_forget", "W_i")
    with pytest.raises(ValueError) as e:
        p.replace(U_g=np.zeros((3, 3)))
    assert_message(e, "U_g", "(H, H) = (4, 4)", "(3, 3)")


def test_random_is_seeded_bounded_and_torch_scaled():
    a, b = LSTMParams.random(5, 16, seed=3), LSTMParams.random(5, 16, seed=3)
    c = LSTMParams.random(5, 16, seed=4)
    for name in a.arrays():
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.U_g, c.U_g)
    values = np.concatenate([v.ravel() for v in a.arrays().values()])
    bound = 1 / np.sqrt(16)  # PyTorch: U(-1/sqrt(H), 1/sqrt(H))
    assert np.all(np.abs(values) <= bound) and np.max(np.abs(values)) > 0.9 * bound
    wide = LSTMParams.random(2, 3, seed=0, scale=3.0)
    assert np.max(np.abs(np.concatenate([v.ravel() for v in wide.arrays().values()]))) > 1.0
    z = LSTMParams.zeros(2, 3, dtype=np.float32)
    assert z.dtype == np.float32 and all(not v.any() for v in z.arrays().values())
    assert LSTMParams.random(0, 2, seed=0).D == 0


@pytest.mark.parametrize("kwargs, exc, fragment", [
    (dict(D=-1, H=2), ValueError, "D"),
    (dict(D=2, H=0), ValueError, "H"),
    (dict(D=2.0, H=2), TypeError, "D"),
    (dict(D=2, H=2, scale=-1.0), ValueError, "scale"),
    (dict(D=2, H=2, scale=float("nan")), ValueError, "scale"),
    (dict(D=2, H=2, dtype=np.int64), TypeError, "dtype"),
])
def test_random_rejects_bad_arguments(kwargs, exc, fragment):
    D, H = kwargs.pop("D"), kwargs.pop("H")
    with pytest.raises(exc) as e:
        LSTMParams.random(D, H, **kwargs)
    assert_message(e, fragment)


# ----------------------------------------------------------- layout converters


def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def onnx_lstm_equations(x, h0, c0, W, R, B):
    """The ONNX LSTM schema's equations on its own layout: rows [i, o, f, c], x W^T."""
    H = R.shape[-1]
    W, R, B = W[0], R[0], B[0]
    bias = B[:4 * H] + B[4 * H:]
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        a = x[:, t] @ W.T + h @ R.T + bias
        i, o, f, g = (a[:, k * H:(k + 1) * H] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1), h, c


def test_onnx_layout_round_trip_and_equations():
    x, h0, c0, p, *_ = case(seed=2)
    W, R, B = p.to_onnx()
    H, D = p.H, p.D
    assert W.shape == (1, 4 * H, D) and R.shape == (1, 4 * H, H) and B.shape == (1, 8 * H)
    q = LSTMParams.from_onnx(W, R, B)
    for name in p.arrays():
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name), err_msg=name)
    # A bias split between Wb and Rb folds exactly; the num_directions axis may be omitted.
    rng = np.random.default_rng(0)
    B2 = rng.uniform(-1, 1, (1, 8 * H))
    want = onnx_lstm_equations(x, h0, c0, W, R, B2)
    for p2 in (LSTMParams.from_onnx(W, R, B2), LSTMParams.from_onnx(W[0], R[0], B2[0])):
        got = level1.lstm_forward(x, h0, c0, p2)
        assert max(max_abs_diff(a, b) for a, b in zip(got, want)) <= 1e-12
    none = LSTMParams.from_onnx(W, R)
    assert all(not getattr(none, f"b_{g}").any() for g in "ifgo")


def test_onnx_converter_errors():
    W, R, B = LSTMParams.random(3, 4, seed=0).to_onnx()
    with pytest.raises(ValueError) as e:
        LSTMParams.from_onnx(np.concatenate([W, W]), np.concatenate([R, R]), B)
    assert_message(e, "R", "num_directions = 1", "(2, 16, 4)")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_onnx(W, R[:, :12], B)
    assert_message(e, "R", "(1, 4H, H)", "(1, 12, 4)")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_onnx(W[:, :12], R, B)
    assert_message(e, "W", "(1, 16, D)", "(1, 12, 3)")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_onnx(W, R, B[:, :16])
    assert_message(e, "B", "(1, 8H) = (1, 32)", "(1, 16)")


def test_keras_layout_round_trip_and_errors():
    p = LSTMParams.random(3, 4, seed=5)
    kernel, recurrent, bias = p.to_keras()
    assert kernel.shape == (3, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    # Keras' column order is i, f, c, o.
    np.testing.assert_array_equal(kernel[:, 8:12], p.W_g)
    np.testing.assert_array_equal(recurrent[:, 12:], p.U_o)
    q = LSTMParams.from_keras(kernel, recurrent, bias)
    for name in p.arrays():
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name), err_msg=name)
    assert not LSTMParams.from_keras(kernel, recurrent, None).b_f.any()
    with pytest.raises(ValueError) as e:
        LSTMParams.from_keras(kernel, recurrent[:, :12], bias)
    assert_message(e, "recurrent_kernel", "(H, 4H)", "(4, 12)")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_keras(kernel[:, :12], recurrent, bias)
    assert_message(e, "kernel", "(D, 16)", "(3, 12)")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_keras(kernel, recurrent, np.stack([bias, bias]))
    assert_message(e, "bias", "(4H,) = (16,)", "(2, 16)")


# ----------------------------------------------------------------- torch.nn.LSTM


def _torch_lstm(torch, params):
    lstm = torch.nn.LSTM(params.D, params.H, batch_first=True).double()
    lstm.load_state_dict({k: v.double() for k, v in params.to_torch().items()})
    return lstm


def _torch_forward_backward(torch, lstm, x, h0, c0, dhs, dh_T, dc_T):
    """torch's outputs and autograd gradients, mapped to our layout."""
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    c0t = torch.tensor(c0[None], requires_grad=True)
    lstm.zero_grad()
    hs, (h_n, c_n) = lstm(xt, (h0t, c0t))
    L = (hs * torch.tensor(dhs)).sum() + (h_n[0] * torch.tensor(dh_T)).sum() \
        + (c_n[0] * torch.tensor(dc_T)).sum()
    L.backward()
    H = lstm.hidden_size
    g_ih, g_hh = lstm.weight_ih_l0.grad.numpy(), lstm.weight_hh_l0.grad.numpy()
    gb_ih, gb_hh = lstm.bias_ih_l0.grad.numpy(), lstm.bias_hh_l0.grad.numpy()
    # Both torch biases add into b_k, so dL/db_k equals each of their gradients.
    np.testing.assert_allclose(gb_ih, gb_hh, rtol=0, atol=1e-14)
    fields = {}
    for k, gate in enumerate(TORCH_ORDER):
        rows = slice(k * H, (k + 1) * H)
        fields[f"W_{gate}"] = g_ih[rows].T
        fields[f"U_{gate}"] = g_hh[rows].T
        fields[f"b_{gate}"] = gb_ih[rows]
    outputs = (hs.detach().numpy(), h_n[0].detach().numpy(), c_n[0].detach().numpy())
    grads = (xt.grad.numpy(), h0t.grad[0].numpy(), c0t.grad[0].numpy(), LSTMParams(**fields))
    return outputs, grads


@TIER
# D <= H and D > H: level 3 takes a different input path for wide inputs.
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (1, 1, 1, 1), (2, 9, 5, 3), (4, 3, 1, 2)],
                         ids=lambda s: "B{}T{}D{}H{}".format(*s))
def test_matches_torch_forward_and_autograd(tier, shape):
    torch = pytest.importorskip("torch")
    B, T, D, H = shape
    for seed in range(2):
        x, h0, c0, p, dhs, dh_T, dc_T = case(B, T, D, H, seed=seed, scale=1.0)
        lstm = _torch_lstm(torch, p)
        want_out, want_grads = _torch_forward_backward(torch, lstm, x, h0, c0, dhs, dh_T, dc_T)
        got_out = tier.lstm_forward(x, h0, c0, p)
        for name, a, b in zip(("hs", "h_T", "c_T"), got_out, want_out):
            assert max_abs_diff(a, b) <= TOL64, (name, max_abs_diff(a, b))
        got_grads = tier.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T)
        assert_grads_close(got_grads, want_grads, TOL64, f"seed {seed}")


def test_from_torch_module_and_state_dict():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, batch_first=True).double()
    p = LSTMParams.from_torch(lstm)
    assert p.dtype == np.float64 and (p.D, p.H) == (3, 5)
    q = LSTMParams.from_torch(lstm.state_dict())
    for name in p.arrays():
        np.testing.assert_array_equal(getattr(p, name), getattr(q, name), err_msg=name)
    # The four gates of torch's rows land in the right fields: b_f = b_ih[f] + b_hh[f].
    H = 5
    np.testing.assert_allclose(
        p.b_f, (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()[H:2 * H], rtol=0, atol=0)
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    with torch.no_grad():
        hs, (h_n, c_n) = lstm(torch.tensor(x))
    got = level3.lstm_forward(x, None, None, p)
    assert max_abs_diff(got[0], hs.numpy()) <= TOL64
    assert max_abs_diff(got[2], c_n[0].numpy()) <= TOL64
    # float32 modules give float32 params; bias=False gives zero biases.
    p32 = LSTMParams.from_torch(torch.nn.LSTM(2, 3))
    assert p32.dtype == np.float32
    nb = LSTMParams.from_torch(torch.nn.LSTM(2, 3, bias=False))
    assert all(not getattr(nb, f"b_{g}").any() for g in "ifgo")


def test_from_torch_rejects_what_it_cannot_hold():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_torch(torch.nn.LSTM(2, 3, num_layers=2))
    assert_message(e, "single-layer", "num_layers=2")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_torch(torch.nn.LSTM(2, 3, bidirectional=True))
    assert_message(e, "bidirectional=True")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_torch(torch.nn.LSTM(2, 4, proj_size=2))
    assert_message(e, "proj_size=2", "projection")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_torch(torch.nn.LSTM(2, 3, num_layers=2).state_dict())
    assert_message(e, "weight_ih_l1")
    with pytest.raises(ValueError) as e:
        LSTMParams.from_torch(torch.nn.GRU(2, 3).state_dict())
    assert_message(e, "weight_hh_l0", "(4H, H)", "(9, 3)")
    with pytest.raises(TypeError) as e:
        LSTMParams.from_torch(42)
    assert_message(e, "torch.nn.LSTM", "int")


# ------------------------------------------------------------------------ ONNX


def onnx_lstm(inputs, **attrs):
    """Run a single LSTM node through ``onnx.reference.ReferenceEvaluator``."""
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    names = ["X", "W", "R", "B", "", "initial_h", "initial_c"]
    node_inputs = [n if (n in inputs or n in ("X", "W", "R")) else "" for n in names]
    while node_inputs[-1] == "":
        node_inputs.pop()
    node = onnx.helper.make_node("LSTM", node_inputs, ["Y", "Y_h", "Y_c"], **attrs)
    return ReferenceEvaluator(node).run(None, {k: v for k, v in inputs.items() if k})


@TIER
@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("layout", [0, 1])
def test_matches_onnx_reference_evaluator(tier, direction, layout):
    pytest.importorskip("onnx")
    B, T, D, H = 3, 6, 4, 5
    for seed, with_bias, with_states in [(0, True, True), (1, False, True), (2, True, False)]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(B, T, D))
        inputs = {"X": x.transpose(1, 0, 2) if layout == 0 else x,
                  "W": rng.uniform(-1, 1, (1, 4 * H, D)), "R": rng.uniform(-1, 1, (1, 4 * H, H))}
        if with_bias:
            inputs["B"] = rng.uniform(-1, 1, (1, 8 * H))
        h0 = c0 = None
        if with_states:
            h0, c0 = rng.uniform(-1, 1, (B, H)), rng.normal(size=(B, H))
            inputs["initial_h"] = h0[None] if layout == 0 else h0[:, None]
            inputs["initial_c"] = c0[None] if layout == 0 else c0[:, None]
        Y, Y_h, Y_c = onnx_lstm(inputs, hidden_size=H, direction=direction, layout=layout)
        if layout == 0:  # (T, 1, B, H), (1, B, H)
            Y, Y_h, Y_c = Y[:, 0].transpose(1, 0, 2), Y_h[0], Y_c[0]
        else:  # (B, T, 1, H), (B, 1, H)
            Y, Y_h, Y_c = Y[:, :, 0], Y_h[:, 0], Y_c[:, 0]
        p = LSTMParams.from_onnx(inputs["W"], inputs["R"], inputs.get("B"))
        xd = x if direction == "forward" else x[:, ::-1]
        hs, h_T, c_T = tier.lstm_forward(xd, h0, c0, p)
        if direction == "reverse":
            hs = hs[:, ::-1]
        for name, a, b in (("Y", hs, Y), ("Y_h", h_T, Y_h), ("Y_c", c_T, Y_c)):
            assert max_abs_diff(a, b) <= TOL64, (seed, name, max_abs_diff(a, b))


def test_to_onnx_runs_in_the_reference_evaluator_float32():
    pytest.importorskip("onnx")
    x, h0, c0, p, *_ = case(B=2, T=4, D=3, H=5, seed=7, dtype=np.float32)
    W, R, B = p.to_onnx()
    assert W.dtype == R.dtype == B.dtype == np.float32
    Y, Y_h, Y_c = onnx_lstm({"X": x.transpose(1, 0, 2), "W": W, "R": R, "B": B,
                             "initial_h": h0[None], "initial_c": c0[None]}, hidden_size=5)
    hs, h_T, c_T = level3.lstm_forward(x, h0, c0, p)
    assert hs.dtype == np.float32
    assert max_abs_diff(hs, Y[:, 0].transpose(1, 0, 2)) <= 1e-6
    assert max_abs_diff(c_T, Y_c[0]) <= 1e-6


# ----------------------------------------------------------------------- Keras


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside keras
def test_matches_keras_lstm_layer():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    B, T, D, H = 2, 5, 3, 4
    x, h0, c0, p, *_ = case(B, T, D, H, seed=3, scale=0.7)
    layer = keras.layers.LSTM(H, return_sequences=True, return_state=True, dtype="float64")
    layer.build((None, T, D))
    layer.set_weights(list(p.to_keras()))
    outputs = layer(x, initial_state=[h0, c0])
    hs, h_T, c_T = (keras.ops.convert_to_numpy(o) for o in outputs)
    got = level3.lstm_forward(x, h0, c0, p)
    # keras 3 on the torch backend may compute float64 at float32 precision.
    for name, a, b in zip(("hs", "h_T", "c_T"), got, (hs, h_T, c_T)):
        assert max_abs_diff(a, b) <= 1e-6, (name, max_abs_diff(a, b))
    q = LSTMParams.from_keras(*layer.get_weights())
    for name in p.arrays():
        np.testing.assert_allclose(getattr(q, name), getattr(p, name), rtol=0, atol=1e-15)


# ------------------------------------------------------------- tiers together


shapes = st.tuples(st.integers(1, 4), st.integers(0, 6), st.integers(0, 4), st.integers(1, 5))


@settings(max_examples=25)
@given(shape=shapes, seed=st.integers(0, 2**16), scale=st.sampled_from([0.3, 1.0, 3.0]),
       states=st.booleans(), upstream=st.sampled_from(["all", "hs_only", "final_only"]))
def test_level1_and_level3_agree_both_ways(shape, seed, scale, states, upstream):
    B, T, D, H = shape
    x, h0, c0, p, dhs, dh_T, dc_T = case(B, T, D, H, seed=seed, scale=scale, states=states)
    if upstream == "hs_only":
        dh_T = dc_T = None
    elif upstream == "final_only":
        dhs = np.zeros_like(dhs)
    a, b = level1.lstm_forward(x, h0, c0, p), level3.lstm_forward(x, h0, c0, p)
    for u, v in zip(a, b):
        assert u.shape == v.shape and max_abs_diff(u, v) <= TOL64
    assert np.all(np.abs(b[0]) < 1)  # h = o * tanh(c), o in (0, 1)
    ga = level1.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T)
    gb = level3.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T)
    assert_grads_close(gb, ga, TOL64)
    cache = LSTMCache()
    level3.lstm_forward(x, h0, c0, p, cache=cache)
    gc = level3.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T, cache=cache)
    assert_grads_close(gc, gb, 0.0)


def test_top_level_names_are_level3():
    assert top_forward is level3.lstm_forward and top_backward is level3.lstm_backward


# --------------------------------------------------------- finite differences


def _perturbable(x, h0, c0, p):
    """Every input as a flat dict of float64 arrays."""
    return {"x": x, "h0": h0, "c0": c0, **p.arrays()}


def _loss_of(tier, arrays, dhs, dh_T, dc_T):
    p = LSTMParams(**{k: v for k, v in arrays.items() if k not in ("x", "h0", "c0")})
    return loss(*tier.lstm_forward(arrays["x"], arrays["h0"], arrays["c0"], p), dhs, dh_T, dc_T)


def _analytic(grads):
    dx, dh0, dc0, g = grads
    return {"x": dx, "h0": dh0, "c0": dc0, **g.arrays()}


@TIER
@settings(max_examples=15)
@given(shape=shapes.filter(lambda s: s[1] >= 1), seed=st.integers(0, 2**16))
def test_backward_matches_central_differences_along_random_directions(tier, shape, seed):
    B, T, D, H = shape
    x, h0, c0, p, dhs, dh_T, dc_T = case(B, T, D, H, seed=seed, scale=1.0)
    arrays = _perturbable(x, h0, c0, p)
    g = _analytic(tier.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T))
    rng = np.random.default_rng(seed + 1)
    eps = 1e-5
    for _ in range(3):
        v = {k: rng.normal(size=a.shape) for k, a in arrays.items()}
        plus = _loss_of(tier, {k: a + eps * v[k] for k, a in arrays.items()}, dhs, dh_T, dc_T)
        minus = _loss_of(tier, {k: a - eps * v[k] for k, a in arrays.items()}, dhs, dh_T, dc_T)
        numeric = (plus - minus) / (2 * eps)
        analytic = sum(float(np.sum(g[k] * v[k])) for k in arrays)
        assert abs(numeric - analytic) <= 1e-7 * max(1.0, abs(analytic)), (numeric, analytic)


@TIER
def test_backward_matches_central_differences_elementwise(tier):
    """Every scalar of every input on one small case (a wrong single element
    can hide in a random direction's sum; here it cannot)."""
    x, h0, c0, p, dhs, dh_T, dc_T = case(B=2, T=3, D=2, H=3, seed=11, scale=1.0)
    arrays = _perturbable(x, h0, c0, p)
    g = _analytic(tier.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T))
    eps = 1e-5
    for name, a in arrays.items():
        numeric = np.zeros(a.shape)
        for idx in np.ndindex(a.shape):
            for sign in (1, -1):
                b = a.copy()
                b[idx] += sign * eps
                numeric[idx] += sign * _loss_of(tier, {**arrays, name: b}, dhs, dh_T, dc_T)
        numeric /= 2 * eps
        scale = max(1.0, float(np.max(np.abs(numeric))))
        assert max_abs_diff(g[name], numeric) <= 1e-7 * scale, (name, max_abs_diff(g[name], numeric))


# ------------------------------------------------------------- dtypes, edges


@TIER
def test_float32_stays_float32_and_is_close_to_float64(tier):
    x, h0, c0, p, dhs, dh_T, dc_T = case(B=4, T=7, D=3, H=5, seed=1, scale=1.0)
    f32 = [a.astype(np.float32) for a in (x, h0, c0, dhs, dh_T, dc_T)]
    p32 = p.astype(np.float32)
    out32 = tier.lstm_forward(f32[0], f32[1], f32[2], p32)
    out64 = tier.lstm_forward(*(a.astype(np.float64) for a in f32[:3]), p32.astype(np.float64))
    for a, b in zip(out32, out64):
        assert a.dtype == np.float32 and max_abs_diff(a, b) <= 1e-5
    g32 = tier.lstm_backward(f32[0], f32[1], f32[2], p32, *f32[3:])
    g64 = tier.lstm_backward(*(a.astype(np.float64) for a in f32[:3]), p32.astype(np.float64),
                             *(a.astype(np.float64) for a in f32[3:]))
    assert all(a.dtype == np.float32 for a in g32[:3]) and g32[3].dtype == np.float32
    assert_grads_close(g32, g64, 1e-4)
    # One float64 array among float32 ones makes the computation float64.
    assert tier.lstm_forward(f32[0], h0, f32[2], p32)[0].dtype == np.float64
    assert tier.lstm_backward(f32[0], f32[1], f32[2], p32, dhs)[0].dtype == np.float64
    # Integers are promoted to float64.
    xi = np.arange(2 * 3 * 3).reshape(2, 3, 3) % 3
    assert tier.lstm_forward(xi, None, None, p32)[0].dtype == np.float64


@TIER
def test_empty_sequence(tier):
    x, h0, c0, p, dhs, dh_T, dc_T = case(B=2, T=0, D=3, H=4)
    hs, h_T, c_T = tier.lstm_forward(x, h0, c0, p)
    assert hs.shape == (2, 0, 4)
    np.testing.assert_array_equal(h_T, h0)
    np.testing.assert_array_equal(c_T, c0)
    assert not np.shares_memory(h_T, h0) and not np.shares_memory(c_T, c0)
    dx, dh0, dc0, g = tier.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T)
    assert dx.shape == (2, 0, 3)
    np.testing.assert_array_equal(dh0, dh_T)
    np.testing.assert_array_equal(dc0, dc_T)
    assert all(a.shape == getattr(p, k).shape and not a.any() for k, a in g.arrays().items())
    _, h_T, c_T = tier.lstm_forward(x, None, None, p)
    assert not h_T.any() and not c_T.any() and h_T.shape == (2, 4)


@TIER
def test_none_means_zeros(tier):
    x, _, _, p, dhs, *_ = case(B=2, T=4, D=3, H=4, seed=4)
    z = np.zeros((2, 4))
    for a, b in zip(tier.lstm_forward(x, None, None, p), tier.lstm_forward(x, z, z, p)):
        np.testing.assert_array_equal(a, b)
    assert_grads_close(tier.lstm_backward(x, None, None, p, dhs, None, None),
                       tier.lstm_backward(x, z, z, p, dhs, z, z), 0.0)


@TIER
def test_inputs_are_never_modified(tier):
    x, h0, c0, p, dhs, dh_T, dc_T = case(seed=6)
    before = [a.copy() for a in (x, h0, c0, dhs, dh_T, dc_T)]
    params_before = {k: v.copy() for k, v in p.arrays().items()}
    hs, h_T, c_T = tier.lstm_forward(x, h0, c0, p)
    tier.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T)
    for a, b in zip((x, h0, c0, dhs, dh_T, dc_T), before):
        np.testing.assert_array_equal(a, b)
    for k, v in p.arrays().items():
        np.testing.assert_array_equal(v, params_before[k])
    for out in (hs, h_T, c_T):
        assert not any(np.shares_memory(out, a) for a in (x, h0, c0))


@TIER
def test_saturating_gates_neither_warn_nor_overflow(tier):
    x, h0, c0, p, dhs, dh_T, dc_T = case(B=2, T=6, D=3, H=4, seed=9)
    big = LSTMParams(**{k: v * 1e4 for k, v in p.arrays().items()})
    with np.errstate(all="raise"):
        hs, h_T, c_T = tier.lstm_forward(x * 100, h0, c0, big)
        grads = tier.lstm_backward(x * 100, h0, c0, big, dhs, dh_T, dc_T)
    assert np.all(np.isfinite(hs)) and np.all(np.abs(hs) <= 1)
    assert all(np.all(np.isfinite(a)) for a in grads[:3])


def test_level3_outputs_are_fresh_arrays():
    """A returned hs is the caller's own: writing to it cannot corrupt a later backward."""
    x, h0, c0, p, dhs, dh_T, dc_T = case(seed=12)
    want = level1.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T)
    cache = LSTMCache()
    hs, h_T, c_T = level3.lstm_forward(x, h0, c0, p, cache=cache)
    hs[...] = 7.0
    h_T[...] = 7.0
    c_T[...] = 7.0
    assert_grads_close(level3.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T, cache=cache), want, TOL64)


# ------------------------------------------------------------------- the cache


def test_cache_is_reused_across_steps_and_shapes():
    cache = LSTMCache()
    assert repr(cache) == "LSTMCache(empty)"
    for seed, shape in enumerate([(3, 5, 4, 6), (3, 5, 4, 6), (2, 7, 1, 3), (3, 5, 4, 6)]):
        x, h0, c0, p, dhs, dh_T, dc_T = case(*shape, seed=seed)
        out = level3.lstm_forward(x, h0, c0, p, cache=cache)
        for a, b in zip(out, level1.lstm_forward(x, h0, c0, p)):
            assert max_abs_diff(a, b) <= TOL64
        got = level3.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T, cache=cache)
        assert_grads_close(got, level1.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T), TOL64)
        # The backward can run again on the same cache (another dhs, same forward).
        again = level3.lstm_backward(x, h0, c0, p, 2 * dhs, 2 * dh_T, 2 * dc_T, cache=cache)
        assert max_abs_diff(again[0], 2 * got[0]) <= TOL64
    assert repr(cache) == "LSTMCache(B=3, T=5, D=4, H=6, dtype=float64)"
    cache.clear()
    assert repr(cache) == "LSTMCache(empty)"


def test_stale_cache_is_refused():
    x, h0, c0, p, dhs, dh_T, dc_T = case(seed=0)
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x, h0, c0, p, dhs, cache=LSTMCache())
    assert_message(e, "cache", "no forward", "lstm_forward")
    cache = LSTMCache()
    level3.lstm_forward(x, h0, c0, p, cache=cache)
    x2 = x.copy()
    x2[1, 2, 3] += 1e-3
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x2, h0, c0, p, dhs, cache=cache)
    assert_message(e, "x", "differs", "cache")
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x, None, c0, p, dhs, cache=cache)
    assert_message(e, "h0", "differs")
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x, h0, c0 + 1, p, dhs, cache=cache)
    assert_message(e, "c0", "differs")
    same_values = LSTMParams(**p.arrays())
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x, h0, c0, same_values, dhs, cache=cache)
    assert_message(e, "another LSTMParams")
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x[:2], h0[:2], c0[:2], p, dhs[:2], cache=cache)
    assert_message(e, "B=3", "B=2")
    with pytest.raises(TypeError) as e:
        level3.lstm_forward(x, h0, c0, p, cache={})
    assert_message(e, "cache", "LSTMCache", "dict")


def test_cache_refuses_a_backward_in_another_dtype():
    x, h0, c0, p, dhs, dh_T, dc_T = case(seed=0, dtype=np.float32)
    cache = LSTMCache()
    level3.lstm_forward(x, h0, c0, p, cache=cache)
    with pytest.raises(ValueError) as e:
        level3.lstm_backward(x, h0, c0, p, dhs.astype(np.float64), cache=cache)
    assert_message(e, "float32", "float64", "dtype")
    g = level3.lstm_backward(x, h0, c0, p, dhs, dh_T, dc_T, cache=cache)
    assert g[0].dtype == np.float32


# -------------------------------------------------------------- error messages


@TIER
def test_bad_arguments_say_what_was_expected_and_received(tier):
    x, h0, c0, p, dhs, dh_T, dc_T = case(B=3, T=5, D=4, H=6)
    f, b = tier.lstm_forward, tier.lstm_backward
    cases = [
        (lambda: f(x, h0, c0, GRUParams.random(4, 6)), TypeError,
         ["params", "LSTMParams", "GRUParams", "gru_forward"]),
        (lambda: f(x, h0, c0, p.arrays()), TypeError, ["params", "LSTMParams.random"]),
        (lambda: f(x[0], h0, c0, p), ValueError, ["x", "(B, T, D)", "D = 4", "(5, 4)", "x[None]"]),
        (lambda: f(x[..., :3], h0, c0, p), ValueError, ["x", "D = 4", "(3, 5, 3)"]),
        (lambda: f(x + 0j, h0, c0, p), TypeError, ["x", "complex"]),
        (lambda: f(x > 0, h0, c0, p), TypeError, ["x", "boolean"]),
        (lambda: f(x.astype(str), h0, c0, p), TypeError, ["x", "numeric"]),
        (lambda: f(x, h0[0], c0, p), ValueError, ["h0", "(B, H) = (3, 6)", "(6,)", "h0[None, :]"]),
        (lambda: f(x, h0, c0[None], p), ValueError, ["c0", "(1, 3, 6)", "num_layers", "c0[0]"]),
        (lambda: f(x, (h0, c0), None, p), TypeError, ["h0", "tuple", "lstm_forward(x, h0, c0, params)"]),
        (lambda: f(x, h0, c0[:, :5], p), ValueError, ["c0", "(B, H) = (3, 6)", "(3, 5)"]),
        (lambda: f(x, np.zeros((5, 6)), c0, p), ValueError, ["h0", "time-major", "transpose"]),
        (lambda: b(x, h0, c0, p, dhs[:, :4]), ValueError, ["dhs", "(B, T, H) = (3, 5, 6)", "(3, 4, 6)"]),
        (lambda: b(x, h0, c0, p, dhs.transpose(1, 0, 2)), ValueError, ["dhs", "time-major"]),
        (lambda: b(x, h0, c0, p, dh_T), ValueError, ["dhs", "(3, 6)", "dh_T"]),
        (lambda: b(x, h0, c0, p, dhs, dh_T[:, :2]), ValueError, ["dh_T", "(B, H) = (3, 6)", "(3, 2)"]),
        (lambda: b(x, h0, c0, p, dhs, dh_T, dc_T[None]), ValueError, ["dc_T", "(1, 3, 6)"]),
        (lambda: b(x, h0, c0, p, dhs + 0j), TypeError, ["dhs", "complex"]),
    ]
    for call, exc, fragments in cases:
        with pytest.raises(exc) as e:
            call()
        assert_message(e, *fragments)
