"""The tanh RNN (gru_props.rnn): parameters, converters, forward and backward.

Both tiers (level1, readable; level3, fast) are held to ``torch.nn.RNN``
forward and autograd (float64, 1e-10), to central finite differences of our
own float64 forward, and to each other. The torch tests skip cleanly when
torch is missing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gru_props import GRUParams, count_parameters
from gru_props.lstm import LSTMParams
from gru_props.rnn import RNNCache, RNNParams, level1, level3
from gru_props.rnn import rnn_backward as top_backward
from gru_props.rnn import rnn_forward as top_forward

TIERS = [level1, level3]
TIER = pytest.mark.parametrize("tier", TIERS, ids=["level1", "level3"])
TOL64 = 1e-10


def max_abs_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def case(B=3, T=5, D=4, H=6, seed=0, scale=0.8, dtype=np.float64, state=True):
    """Random (x, h0, params, dhs, dh_T), D != H by default."""
    rng = np.random.default_rng(seed)
    params = RNNParams.random(D, H, seed=rng, scale=scale, dtype=dtype)
    x = rng.normal(size=(B, T, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype) if state else None
    dhs = rng.normal(size=(B, T, H)).astype(dtype)
    dh_T = rng.normal(size=(B, H)).astype(dtype)
    return x, h0, params, dhs, dh_T


def assert_message(excinfo, *fragments):
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in message: {msg}"


def assert_grads_close(got, want, tol, what=""):
    for name, a, b in (("dx", got[0], want[0]), ("dh0", got[1], want[1])):
        assert max_abs_diff(a, b) <= tol, (what, name, max_abs_diff(a, b))
    for name, a in got[2].arrays().items():
        assert max_abs_diff(a, getattr(want[2], name)) <= tol, (what, name)


# ------------------------------------------------------------------ RNNParams


def test_params_fields_dtype_read_only_and_errors():
    p = RNNParams.random(3, 4, seed=0)
    assert list(p.arrays()) == ["W", "U", "b"] and (p.D, p.H) == (3, 4)
    assert repr(p) == "RNNParams(D=3, H=4, dtype=float64)"
    assert all(not a.flags.writeable for a in p.arrays().values())
    bound = 1 / np.sqrt(4)  # PyTorch's uniform(-1/sqrt(H), 1/sqrt(H))
    assert all(np.abs(a).max() <= bound for a in p.arrays().values())
    assert RNNParams.random(3, 4, seed=0, dtype=np.float32).dtype == np.float32
    q = p.replace(b=p.b + 1)
    np.testing.assert_array_equal(q.b, p.b + 1)
    with pytest.raises(ValueError) as e:
        RNNParams(W=p.W, U=np.zeros((3, 3)), b=p.b)
    assert_message(e, "RNNParams.U", "(H, H) = (4, 4)", "(3, 3)")
    with pytest.raises(ValueError) as e:
        RNNParams(W=p.W, U=p.U, b=np.zeros(5))
    assert_message(e, "RNNParams.b", "(H,) = (4,)", "(5,)")
    with pytest.raises(TypeError) as e:
        RNNParams(W=p.W + 0j, U=p.U, b=p.b)
    assert_message(e, "RNNParams.W", "complex")


def test_counts_of_the_tanh_rnn():
    # torch and ONNX keep two biases, Keras' SimpleRNN and RNNParams one.
    assert count_parameters("rnn", 3, 5, "torch") == 3 * 5 + 25 + 10
    assert count_parameters("rnn", 3, 5, "onnx") == 50
    assert count_parameters("rnn", 3, 5, "keras") == count_parameters("rnn", 3, 5, "gru_props") == 45
    assert count_parameters("rnn", 3, 5, "gru_props", bias=False) == 40
    assert sum(a.size for a in RNNParams.random(3, 5).arrays().values()) == 45
    torch = pytest.importorskip("torch")
    assert sum(t.numel() for t in torch.nn.RNN(3, 5).parameters()) == 50


# ----------------------------------------------------------------- torch.nn.RNN


def _torch_rnn(torch, params):
    rnn = torch.nn.RNN(params.D, params.H, batch_first=True).double()
    rnn.load_state_dict({k: v.double() for k, v in params.to_torch().items()})
    return rnn


def _torch_forward_backward(torch, rnn, x, h0, dhs, dh_T):
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    rnn.zero_grad()
    hs, h_n = rnn(xt, h0t)
    L = (hs * torch.tensor(dhs)).sum() + (h_n[0] * torch.tensor(dh_T)).sum()
    L.backward()
    g_ih, g_hh = rnn.weight_ih_l0.grad.numpy(), rnn.weight_hh_l0.grad.numpy()
    gb_ih, gb_hh = rnn.bias_ih_l0.grad.numpy(), rnn.bias_hh_l0.grad.numpy()
    np.testing.assert_allclose(gb_ih, gb_hh, rtol=0, atol=1e-14)  # both biases add into b
    grads = RNNParams(W=g_ih.T, U=g_hh.T, b=gb_ih)
    return (hs.detach().numpy(), h_n[0].detach().numpy()), (xt.grad.numpy(), h0t.grad[0].numpy(), grads)


@TIER
# D <= H and D > H: level 3 takes a different input path for wide inputs.
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (1, 1, 1, 1), (2, 9, 5, 3), (4, 3, 1, 2)],
                         ids=lambda s: "B{}T{}D{}H{}".format(*s))
def test_matches_torch_forward_and_autograd(tier, shape):
    torch = pytest.importorskip("torch")
    B, T, D, H = shape
    for seed in range(2):
        x, h0, p, dhs, dh_T = case(B, T, D, H, seed=seed, scale=1.0)
        rnn = _torch_rnn(torch, p)
        want_out, want_grads = _torch_forward_backward(torch, rnn, x, h0, dhs, dh_T)
        got_out = tier.rnn_forward(x, h0, p)
        for name, a, b in zip(("hs", "h_T"), got_out, want_out):
            assert max_abs_diff(a, b) <= TOL64, (name, max_abs_diff(a, b))
        assert_grads_close(tier.rnn_backward(x, h0, p, dhs, dh_T), want_grads, TOL64, f"seed {seed}")


def test_from_torch_module_and_state_dict_and_refusals():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 5, batch_first=True).double()
    p = RNNParams.from_torch(rnn)
    assert p.dtype == np.float64 and (p.D, p.H) == (3, 5)
    np.testing.assert_array_equal(p.b, (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy())
    q = RNNParams.from_torch(rnn.state_dict())
    for name in p.arrays():
        np.testing.assert_array_equal(getattr(p, name), getattr(q, name))
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    with torch.no_grad():
        hs, h_n = rnn(torch.tensor(x))
    got_hs, got_hT = level3.rnn_forward(x, None, p)
    assert max_abs_diff(got_hs, hs.numpy()) <= TOL64 and max_abs_diff(got_hT, h_n[0].numpy()) <= TOL64
    assert RNNParams.from_torch(torch.nn.RNN(2, 3)).dtype == np.float32
    assert not RNNParams.from_torch(torch.nn.RNN(2, 3, bias=False)).b.any()
    for module, fragments in [
        (torch.nn.RNN(2, 3, nonlinearity="relu"), ["nonlinearity='tanh'", "'relu'"]),
        (torch.nn.RNN(2, 3, num_layers=2), ["single-layer", "num_layers=2"]),
        (torch.nn.RNN(2, 3, bidirectional=True), ["bidirectional=True"]),
        (torch.nn.GRU(2, 3), ["torch.nn.GRU", "GRUParams.from_torch"]),
        (torch.nn.RNN(2, 3, num_layers=2).state_dict(), ["weight_ih_l1"]),
        (torch.nn.GRU(2, 3).state_dict(), ["weight_hh_l0", "(H, H)", "(9, 3)"]),
    ]:
        with pytest.raises(ValueError) as e:
            RNNParams.from_torch(module)
        assert_message(e, *fragments)
    with pytest.raises(TypeError) as e:
        RNNParams.from_torch(42)
    assert_message(e, "torch.nn.RNN", "int")


# ------------------------------------------------------------- tiers together

shapes = st.tuples(st.integers(1, 4), st.integers(0, 6), st.integers(0, 5), st.integers(1, 5))


@settings(max_examples=25)
@given(shape=shapes, seed=st.integers(0, 2**16), scale=st.sampled_from([0.3, 1.0, 3.0]),
       state=st.booleans(), upstream=st.sampled_from(["all", "hs_only", "final_only"]))
def test_level1_and_level3_agree_both_ways(shape, seed, scale, state, upstream):
    B, T, D, H = shape
    x, h0, p, dhs, dh_T = case(B, T, D, H, seed=seed, scale=scale, state=state)
    if upstream == "hs_only":
        dh_T = None
    elif upstream == "final_only":
        dhs = np.zeros_like(dhs)
    a, b = level1.rnn_forward(x, h0, p), level3.rnn_forward(x, h0, p)
    for u, v in zip(a, b):
        assert u.shape == v.shape and max_abs_diff(u, v) <= TOL64
    if T == 0:  # h_T is h0 (zeros for None), as a copy
        assert max_abs_diff(b[1], np.zeros((B, H)) if h0 is None else h0) == 0
    ga = level1.rnn_backward(x, h0, p, dhs, dh_T)
    gb = level3.rnn_backward(x, h0, p, dhs, dh_T)
    assert_grads_close(gb, ga, TOL64)
    cache = RNNCache()
    level3.rnn_forward(x, h0, p, cache=cache)
    assert_grads_close(level3.rnn_backward(x, h0, p, dhs, dh_T, cache=cache), gb, 0.0)


def test_top_level_names_are_level3():
    assert top_forward is level3.rnn_forward and top_backward is level3.rnn_backward


@TIER
@settings(max_examples=10)
@given(shape=shapes.filter(lambda s: s[1] >= 1), seed=st.integers(0, 2**16))
def test_backward_matches_central_differences(tier, shape, seed):
    # Along one random direction per input: (L(θ + εv) − L(θ − εv)) / 2ε = <∇L, v>.
    B, T, D, H = shape
    x, h0, p, dhs, dh_T = case(B, T, D, H, seed=seed, scale=1.0)
    dx, dh0, g = tier.rnn_backward(x, h0, p, dhs, dh_T)
    analytic = {"x": dx, "h0": dh0, **g.arrays()}
    arrays = {"x": x, "h0": h0, **p.arrays()}
    rng = np.random.default_rng(seed + 1)
    eps = 1e-5

    def L(arrs):
        hs, h_T = tier.rnn_forward(arrs["x"], arrs["h0"], RNNParams(W=arrs["W"], U=arrs["U"], b=arrs["b"]))
        return float(np.sum(hs * dhs) + np.sum(h_T * dh_T))

    for name, value in arrays.items():
        v = rng.normal(size=value.shape)
        up = L({**arrays, name: value + eps * v})
        down = L({**arrays, name: value - eps * v})
        numeric = (up - down) / (2 * eps)
        exact = float(np.sum(analytic[name] * v))
        assert abs(numeric - exact) <= 1e-6 * (1 + abs(exact)), (name, numeric, exact)


def test_float32_stays_float32_and_inputs_are_not_modified():
    x, h0, p, dhs, dh_T = case(dtype=np.float32)
    before = [a.copy() for a in (x, h0, dhs, dh_T)]
    for tier in TIERS:
        hs, h_T = tier.rnn_forward(x, h0, p)
        dx, dh0, g = tier.rnn_backward(x, h0, p, dhs, dh_T)
        assert hs.dtype == h_T.dtype == dx.dtype == dh0.dtype == g.dtype == np.float32
    for a, b in zip((x, h0, dhs, dh_T), before):
        np.testing.assert_array_equal(a, b)
    hs64 = level3.rnn_forward(x.astype(np.float64), h0, p)[0]
    assert hs64.dtype == np.float64


# ------------------------------------------------------------------- the cache


def test_stale_cache_is_refused():
    x, h0, p, dhs, dh_T = case(seed=0)
    with pytest.raises(ValueError) as e:
        level3.rnn_backward(x, h0, p, dhs, cache=RNNCache())
    assert_message(e, "cache", "no forward", "rnn_forward")
    cache = RNNCache()
    level3.rnn_forward(x, h0, p, cache=cache)
    assert repr(cache) == "RNNCache(B=3, T=5, D=4, H=6, dtype=float64)"
    x2 = x.copy()
    x2[1, 2, 3] += 1e-3
    with pytest.raises(ValueError) as e:
        level3.rnn_backward(x2, h0, p, dhs, cache=cache)
    assert_message(e, "x", "differs", "cache")
    with pytest.raises(ValueError) as e:
        level3.rnn_backward(x, None, p, dhs, cache=cache)
    assert_message(e, "h0", "differs")
    with pytest.raises(ValueError) as e:
        level3.rnn_backward(x, h0, RNNParams(**p.arrays()), dhs, cache=cache)
    assert_message(e, "another RNNParams")
    with pytest.raises(ValueError) as e:
        level3.rnn_backward(x[:2], h0[:2], p, dhs[:2], cache=cache)
    assert_message(e, "B=3", "B=2")
    with pytest.raises(TypeError) as e:
        level3.rnn_forward(x, h0, p, cache={})
    assert_message(e, "cache", "RNNCache", "dict")
    cache.clear()
    assert repr(cache) == "RNNCache(empty)"


# -------------------------------------------------------------- error messages


@TIER
def test_bad_arguments_say_what_was_expected_and_received(tier):
    x, h0, p, dhs, dh_T = case(B=3, T=5, D=4, H=6)
    f, b = tier.rnn_forward, tier.rnn_backward
    cases = [
        (lambda: f(x, h0, GRUParams.random(4, 6)), TypeError, ["params", "RNNParams", "gru_forward"]),
        (lambda: f(x, h0, LSTMParams.random(4, 6)), TypeError, ["params", "lstm_forward"]),
        (lambda: f(x[0], h0, p), ValueError, ["x", "(B, T, D)", "D = 4", "(5, 4)", "x[None]"]),
        (lambda: f(x[..., :3], h0, p), ValueError, ["x", "D = 4", "(3, 5, 3)"]),
        (lambda: f(x + 0j, h0, p), TypeError, ["x", "complex"]),
        (lambda: f(x, h0[0], p), ValueError, ["h0", "(B, H) = (3, 6)", "(6,)", "h0[None, :]"]),
        (lambda: f(x, h0[None], p), ValueError, ["h0", "(1, 3, 6)", "num_layers", "h0[0]"]),
        (lambda: f(x, np.zeros((5, 6)), p), ValueError, ["h0", "time-major", "transpose"]),
        (lambda: b(x, h0, p, dhs[:, :4]), ValueError, ["dhs", "(B, T, H) = (3, 5, 6)", "(3, 4, 6)"]),
        (lambda: b(x, h0, p, dhs.transpose(1, 0, 2)), ValueError, ["dhs", "time-major"]),
        (lambda: b(x, h0, p, dh_T), ValueError, ["dhs", "(3, 6)", "dh_T"]),
        (lambda: b(x, h0, p, dhs, dh_T[:, :2]), ValueError, ["dh_T", "(B, H) = (3, 6)", "(3, 2)"]),
    ]
    for call, exc, fragments in cases:
        with pytest.raises(exc) as e:
            call()
        assert_message(e, *fragments)
