"""The converters: from_torch/to_torch, from_keras/to_keras, from_onnx/to_onnx.

Each is checked two ways: round trips, and numerically against the framework's
own equations written here from its documented layout (Keras is not installed
and not needed; PyTorch tests skip without torch).
"""

from __future__ import annotations

import numpy as np
import pytest

from gru_props import GRUParams, level1

CONVENTIONS = pytest.mark.parametrize("reset_after", [False, True], ids=["reset_before", "reset_after"])


def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def params(D=3, H=4, seed=0, dtype=np.float64):
    return GRUParams.random(D, H, seed=seed, scale=1.0, dtype=dtype)


def inputs(B=2, T=5, D=3, H=4, seed=0):
    rng = np.random.default_rng(100 + seed)
    return rng.normal(size=(B, T, D)), rng.uniform(-1, 1, (B, H))


def assert_same_params(a, b, exact=True):
    assert (a.D, a.H) == (b.D, b.H)
    for name in a.arrays():
        if exact:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        else:
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-15,
                                       err_msg=name)


def assert_message(excinfo, *fragments):
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in message: {msg}"


# --------------------------------------------------------------------- Keras


def keras_gru(x, h0, kernel, recurrent_kernel, bias, reset_after):
    """keras.layers.GRU's equations on its own layout: columns [z, r, h], x @ kernel."""
    H = recurrent_kernel.shape[0]
    if bias is None:
        b_in, b_rec = np.zeros(3 * H), np.zeros(3 * H)
    elif reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, None
    h = h0
    hs = []
    for t in range(x.shape[1]):
        xk = x[:, t] @ kernel + b_in  # (B, 3H)
        if reset_after:
            hk = h @ recurrent_kernel + b_rec
            z = _sigmoid(xk[:, :H] + hk[:, :H])
            r = _sigmoid(xk[:, H:2 * H] + hk[:, H:2 * H])
            hh = np.tanh(xk[:, 2 * H:] + r * hk[:, 2 * H:])
        else:
            z = _sigmoid(xk[:, :H] + h @ recurrent_kernel[:, :H])
            r = _sigmoid(xk[:, H:2 * H] + h @ recurrent_kernel[:, H:2 * H])
            hh = np.tanh(xk[:, 2 * H:] + (r * h) @ recurrent_kernel[:, 2 * H:])
        h = z * h + (1 - z) * hh
        hs.append(h)
    return np.stack(hs, axis=1), h


@pytest.mark.parametrize("bias_kind", ["(2, 3H)", "(3H,)", "None"])
def test_from_keras_matches_keras_equations(bias_kind):
    D, H = 3, 4
    rng = np.random.default_rng(1)
    kernel = rng.uniform(-1, 1, (D, 3 * H))
    recurrent = rng.uniform(-1, 1, (H, 3 * H))
    bias = {"(2, 3H)": rng.uniform(-1, 1, (2, 3 * H)), "(3H,)": rng.uniform(-1, 1, 3 * H),
            "None": None}[bias_kind]
    reset_after = bias_kind != "(3H,)"  # Keras: (2, 3H) only with reset_after=True
    p = GRUParams.from_keras(kernel, recurrent, bias)
    x, h0 = inputs(D=D, H=H)
    want_hs, want_h = keras_gru(x, h0, kernel, recurrent, bias, reset_after)
    hs, h_T = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=1e-13)
    # The layout, gate by gate: columns z, r, h.
    np.testing.assert_array_equal(p.W_r, kernel[:, H:2 * H])
    np.testing.assert_array_equal(p.U_n, recurrent[:, 2 * H:])
    if bias is None:
        for name in ("b_z", "b_r", "b_n", "b_hn"):
            np.testing.assert_array_equal(getattr(p, name), np.zeros(H))
        # Without bias the conventions differ only in the reset placement.
        keras_other, _ = keras_gru(x, h0, kernel, recurrent, None, False)
        np.testing.assert_allclose(level1.gru_forward(x, h0, p, reset_after=False)[0], keras_other,
                                   rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_keras_reset_after_round_trip(dtype):
    p = params(dtype=dtype)
    kernel, recurrent, bias = p.to_keras(reset_after=True)
    assert kernel.shape == (3, 12) and recurrent.shape == (4, 12) and bias.shape == (2, 12)
    assert kernel.dtype == dtype
    assert_same_params(GRUParams.from_keras(kernel, recurrent, bias), p)
    x, h0 = inputs()
    want, _ = level1.gru_forward(x, h0, p, reset_after=True)
    got, _ = keras_gru(x, h0, kernel.astype(float), recurrent.astype(float), bias.astype(float), True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 if dtype == np.float64 else 1e-6)


def test_to_keras_reset_before_folds_b_hn():
    """Keras reset_after=False has one bias: b_hn folds into the candidate's, exactly."""
    p = params()
    kernel, recurrent, bias = p.to_keras(reset_after=False)
    assert bias.shape == (12,)
    np.testing.assert_array_equal(bias[8:], p.b_n + p.b_hn)
    x, h0 = inputs()
    want, _ = level1.gru_forward(x, h0, p, reset_after=False)
    got, _ = keras_gru(x, h0, kernel, recurrent, bias, False)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    back = GRUParams.from_keras(kernel, recurrent, bias)
    np.testing.assert_array_equal(back.b_hn, np.zeros(4))
    np.testing.assert_allclose(level1.gru_forward(x, h0, back, reset_after=False)[0], want,
                               rtol=0, atol=1e-13)
    # The fold is not valid in the other convention (r multiplies b_hn there).
    other, _ = level1.gru_forward(x, h0, back, reset_after=True)
    assert np.max(np.abs(other - level1.gru_forward(x, h0, p, reset_after=True)[0])) > 1e-6


@pytest.mark.parametrize("args,name", [
    ((np.zeros((3, 11)), np.zeros((4, 12)), None), "kernel"),
    ((np.zeros((3, 12, 1)), np.zeros((4, 12)), None), "kernel"),
    ((np.zeros((3, 12)), np.zeros((4, 13)), None), "recurrent_kernel"),
    ((np.zeros((3, 12)), np.zeros((12, 4)), None), "recurrent_kernel"),
    ((np.zeros((3, 12)), np.zeros((4, 12)), np.zeros(13)), "bias"),
    ((np.zeros((3, 12)), np.zeros((4, 12)), np.zeros((3, 12))), "bias"),
    ((np.zeros((3, 12)), np.zeros((4, 12)), np.zeros((2, 11))), "bias"),
])
def test_from_keras_bad_shapes(args, name):
    with pytest.raises(ValueError) as e:
        GRUParams.from_keras(*args)
    bad = args[["kernel", "recurrent_kernel", "bias"].index(name)]
    assert_message(e, name, "3H", str(bad.shape))


def test_from_keras_bad_dtype():
    with pytest.raises(TypeError, match="kernel"):
        GRUParams.from_keras(np.zeros((3, 12), complex), np.zeros((4, 12)))
    with pytest.raises(TypeError, match="bias"):
        GRUParams.from_keras(np.zeros((3, 12)), np.zeros((4, 12)), np.zeros(12, bool))


# ---------------------------------------------------------------------- ONNX


def onnx_gru(X, W, R, B, lbr):
    """The ONNX GRU operator's equations (forward, layout 0): rows [z, r, h], X_t W^T."""
    H = R.shape[-1]
    W, R = W.reshape(3 * H, -1), R.reshape(3 * H, H)
    B = np.zeros(6 * H) if B is None else B.reshape(6 * H)
    Wb, Rb = B[:3 * H], B[3 * H:]
    g = lambda a, k: a[k * H:(k + 1) * H]  # noqa: E731
    h = np.zeros((X.shape[1], H))
    ys = []
    for x_t in X:
        z = _sigmoid(x_t @ g(W, 0).T + h @ g(R, 0).T + g(Wb, 0) + g(Rb, 0))
        r = _sigmoid(x_t @ g(W, 1).T + h @ g(R, 1).T + g(Wb, 1) + g(Rb, 1))
        if lbr:
            hh = np.tanh(x_t @ g(W, 2).T + r * (h @ g(R, 2).T + g(Rb, 2)) + g(Wb, 2))
        else:
            hh = np.tanh(x_t @ g(W, 2).T + (r * h) @ g(R, 2).T + g(Rb, 2) + g(Wb, 2))
        h = (1 - z) * hh + z * h
        ys.append(h)
    return np.stack(ys)  # (T, B, H)


@CONVENTIONS
@pytest.mark.parametrize("direction_axis", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_from_onnx_matches_onnx_equations(reset_after, direction_axis, with_bias):
    D, H = 3, 4
    rng = np.random.default_rng(2)
    W = rng.uniform(-1, 1, (1, 3 * H, D))
    R = rng.uniform(-1, 1, (1, 3 * H, H))
    B = rng.uniform(-1, 1, (1, 6 * H)) if with_bias else None
    args = (W, R, B) if direction_axis else (W[0], R[0], None if B is None else B[0])
    p = GRUParams.from_onnx(*args)
    x, _ = inputs(D=D, H=H)
    want = onnx_gru(x.transpose(1, 0, 2), W, R, B, reset_after).transpose(1, 0, 2)
    hs, _ = level1.gru_forward(x, None, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want, rtol=0, atol=1e-13)
    if not with_bias:
        for name in ("b_z", "b_r", "b_n", "b_hn"):
            np.testing.assert_array_equal(getattr(p, name), np.zeros(H))
    else:  # recurrent z/r biases fold; Rb_h stays b_hn
        np.testing.assert_array_equal(p.b_z, B[0, :H] + B[0, 3 * H:4 * H])
        np.testing.assert_array_equal(p.b_hn, B[0, 5 * H:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_onnx_round_trip(dtype):
    p = params(dtype=dtype)
    W, R, B = p.to_onnx()
    assert W.shape == (1, 12, 3) and R.shape == (1, 12, 4) and B.shape == (1, 24)
    assert W.dtype == R.dtype == B.dtype == dtype
    assert_same_params(GRUParams.from_onnx(W, R, B), p)
    assert_same_params(GRUParams.from_onnx(W[0], R[0], B[0]), p)
    x, _ = inputs()
    for lbr in (0, 1):
        want = onnx_gru(x.transpose(1, 0, 2), W.astype(float), R.astype(float), B.astype(float), lbr)
        hs, _ = level1.gru_forward(x, None, p, reset_after=bool(lbr))
        np.testing.assert_allclose(hs, want.transpose(1, 0, 2), rtol=0,
                                   atol=1e-13 if dtype == np.float64 else 1e-6)


def test_from_onnx_keeps_dtype():
    W, R, B = params(dtype=np.float32).to_onnx()
    assert GRUParams.from_onnx(W, R, B).dtype == np.float32
    assert GRUParams.from_onnx(W, R).dtype == np.float32
    assert GRUParams.from_onnx(W.astype(np.float64), R).dtype == np.float64


@pytest.mark.parametrize("which,bad", [
    ("W", np.zeros((1, 13, 3))), ("W", np.zeros((1, 9, 3))), ("W", np.zeros((1, 1, 12, 3))),
    ("R", np.zeros((1, 12, 5))), ("R", np.zeros((1, 13, 4))), ("R", np.zeros((12,))),
    ("B", np.zeros((1, 25))), ("B", np.zeros((1, 12))), ("B", np.zeros((24, 1))),
])
def test_from_onnx_bad_shapes(which, bad):
    """The message names the argument, the expected shape, and the shape as it was passed."""
    args = dict(zip("WRB", params().to_onnx()))
    args[which] = bad
    with pytest.raises(ValueError) as e:
        GRUParams.from_onnx(args["W"], args["R"], args["B"])
    assert_message(e, which, "3H" if which != "B" else "6H", str(bad.shape))


@pytest.mark.parametrize("which", ["W", "R", "B"])
def test_from_onnx_two_directions_is_refused(which):
    args = dict(zip("WRB", params().to_onnx()))
    args[which] = np.concatenate([args[which], args[which]])
    with pytest.raises(ValueError) as e:
        GRUParams.from_onnx(args["W"], args["R"], args["B"])
    assert_message(e, which, "num_directions")


# ------------------------------------------------------------------- PyTorch


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _torch_gru(torch, D, H, seed=0, **kwargs):
    torch.manual_seed(seed)
    gru = torch.nn.GRU(D, H, batch_first=True, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        for p in gru.parameters():
            p.uniform_(-1, 1)
    return gru


def _run_torch(torch, gru, x, h0):
    with torch.no_grad():
        out, h_n = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    return out.numpy(), h_n[0].numpy()


@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_module_and_state_dict(torch, bias):
    D, H = 3, 4
    gru = _torch_gru(torch, D, H, bias=bias)
    p_mod = GRUParams.from_torch(gru)
    p_sd = GRUParams.from_torch(gru.state_dict())
    assert_same_params(p_mod, p_sd)
    sd = {k: v.numpy() for k, v in gru.state_dict().items()}
    # Layout, gate by gate: rows r, z, n; recurrent z/r biases fold, b_hn stays.
    np.testing.assert_array_equal(p_mod.W_r, sd["weight_ih_l0"][:H].T)
    np.testing.assert_array_equal(p_mod.W_z, sd["weight_ih_l0"][H:2 * H].T)
    np.testing.assert_array_equal(p_mod.U_n, sd["weight_hh_l0"][2 * H:].T)
    if bias:
        np.testing.assert_array_equal(p_mod.b_z, sd["bias_ih_l0"][H:2 * H] + sd["bias_hh_l0"][H:2 * H])
        np.testing.assert_array_equal(p_mod.b_n, sd["bias_ih_l0"][2 * H:])
        np.testing.assert_array_equal(p_mod.b_hn, sd["bias_hh_l0"][2 * H:])
    else:
        for name in ("b_z", "b_r", "b_n", "b_hn"):
            np.testing.assert_array_equal(getattr(p_mod, name), np.zeros(H))
    x, h0 = inputs(D=D, H=H)
    want_hs, want_h = _run_torch(torch, gru, x, h0)
    hs, h_T = level1.gru_forward(x, h0, p_mod, reset_after=True)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=1e-13)


def test_to_torch_round_trip(torch):
    p = params()
    state = p.to_torch()
    assert set(state) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    assert tuple(state["weight_ih_l0"].shape) == (12, 3)
    assert tuple(state["weight_hh_l0"].shape) == (12, 4)
    assert_same_params(GRUParams.from_torch(state), p)
    gru = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    gru.load_state_dict(state)
    assert_same_params(GRUParams.from_torch(gru), p)
    x, h0 = inputs()
    want_hs, _ = _run_torch(torch, gru, x, h0)
    hs, _ = level1.gru_forward(x, h0, p, reset_after=True)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=1e-13)


def test_torch_module_survives_a_round_trip(torch):
    gru = _torch_gru(torch, 3, 4, seed=4)
    again = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    again.load_state_dict(GRUParams.from_torch(gru).to_torch())
    x, h0 = inputs()
    np.testing.assert_allclose(_run_torch(torch, again, x, h0)[0], _run_torch(torch, gru, x, h0)[0],
                               rtol=0, atol=1e-14)


def test_from_torch_keeps_float32(torch):
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4)
    p = GRUParams.from_torch(gru)
    assert p.dtype == np.float32
    assert p.to_torch()["weight_ih_l0"].dtype == torch.float32


@pytest.mark.parametrize("kwargs", [dict(num_layers=2), dict(bidirectional=True),
                                    dict(num_layers=2, bidirectional=True)])
def test_from_torch_refuses_multi_layer_or_bidirectional(torch, kwargs):
    gru = torch.nn.GRU(3, 4, **kwargs)
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch(gru)
    assert_message(e, "gru", "single-layer")
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch(gru.state_dict())
    assert_message(e, "gru")


def test_from_torch_bad_state_dicts(torch):
    good = GRUParams.random(3, 4).to_torch()
    cases = {
        "weight_hh_l0": torch.zeros(12, 5),
        "weight_ih_l0": torch.zeros(13, 3),
        "bias_ih_l0": torch.zeros(13),
        "bias_hh_l0": torch.zeros(2, 12),
    }
    for key, bad in cases.items():
        with pytest.raises(ValueError) as e:
            GRUParams.from_torch({**good, key: bad})
        assert_message(e, key, "3H", str(tuple(bad.shape)))
    missing = {k: v for k, v in good.items() if k != "weight_hh_l0"}
    with pytest.raises(ValueError, match="weight_hh_l0"):
        GRUParams.from_torch(missing)
    with pytest.raises(TypeError, match="gru"):
        GRUParams.from_torch(42)
    with pytest.raises(ValueError) as e:  # an LSTM stacks four gates
        GRUParams.from_torch(torch.nn.LSTM(3, 4).state_dict())
    assert_message(e, "weight_hh_l0", "3H", "(16, 4)")


# ------------------------------------------------------------ other helpers


def test_random_is_seeded_and_scaled():
    a, b, c = GRUParams.random(3, 4, seed=7), GRUParams.random(3, 4, seed=7), GRUParams.random(3, 4, seed=8)
    assert_same_params(a, b)
    assert not np.array_equal(a.W_z, c.W_z)
    assert max(np.max(np.abs(v)) for v in a.arrays().values()) <= 0.5  # 1/sqrt(H)
    assert GRUParams.random(3, 4, dtype=np.float32).dtype == np.float32
    z = GRUParams.zeros(3, 4)
    assert all(np.all(v == 0) for v in z.arrays().values())
    for bad in [dict(D=-1, H=4), dict(D=3, H=0), dict(D=3, H=4, scale=-1.0)]:
        with pytest.raises(ValueError):
            GRUParams.random(**bad)
    with pytest.raises(TypeError, match="dtype"):
        GRUParams.random(3, 4, dtype=np.int64)


def test_replace_and_astype():
    p = params()
    q = p.replace(b_hn=np.ones(4))
    np.testing.assert_array_equal(q.b_hn, np.ones(4))
    np.testing.assert_array_equal(q.W_z, p.W_z)
    with pytest.raises(TypeError, match="b_x"):
        p.replace(b_x=np.ones(4))
    with pytest.raises(ValueError, match="b_hn"):
        p.replace(b_hn=np.ones(5))
    assert p.astype(np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="dtype"):
        p.astype(np.int32)


# --------------------------------------------------- transposed weights


def test_one_transposed_input_weight_is_named_as_transposed():
    p = params(D=3, H=4)
    for name in ("W_z", "W_r", "W_n"):
        with pytest.raises(ValueError) as e:
            p.replace(**{name: getattr(p, name).T})
        assert_message(e, f"GRUParams.{name}", "(4, 3)", "(D, H) = (3, 4)", "transposed",
                       f"{name}.T", "transposed_weights")
        assert "look transposed too" not in str(e.value)


def test_all_transposed_input_weights_blame_w_z_not_u_z():
    p = params(D=3, H=4)
    arrays = {k: (v.T if k.startswith("W_") else v) for k, v in p.arrays().items()}
    with pytest.raises(ValueError) as e:
        GRUParams(**arrays)
    assert_message(e, "GRUParams.W_z", "transposed", "W_r, W_n look transposed too")
    assert "U_z" not in str(e.value)


def test_a_wrong_field_is_blamed_even_when_w_z_is_fine():
    """D and H come from what most fields agree on, so the odd one out is named."""
    p = params(D=3, H=4)
    with pytest.raises(ValueError) as e:
        p.replace(U_r=np.zeros((5, 5)))
    assert_message(e, "GRUParams.U_r", "(H, H) = (4, 4)", "(5, 5)")
    assert "transposed" not in str(e.value)
    with pytest.raises(ValueError) as e:  # every W_* with another D: W_z is still the one named
        GRUParams(**{**p.arrays(), "W_z": np.zeros((2, 4))})
    assert_message(e, "GRUParams.W_z", "(D, H) = (3, 4)", "(2, 4)")


# ------------------------------------------------ copies, pickles, the cache


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_and_pickles_stay_read_only_with_a_fresh_cache(how):
    import copy
    import pickle

    from gru_props import level3

    p = params()
    x, h0 = inputs()
    level3.gru_forward(x, h0, p, reset_after=True)  # fills p's prepared-weights cache
    assert p._cache
    q = {"copy": copy.copy, "deepcopy": copy.deepcopy,
         "pickle": lambda v: pickle.loads(pickle.dumps(v))}[how](p)
    assert type(q) is GRUParams and q is not p
    assert q._cache == {} and q._cache is not p._cache
    assert_same_params(q, p)
    for name, arr in q.arrays().items():
        assert not arr.flags.writeable, name
        assert not np.shares_memory(arr, getattr(p, name)), name
        with pytest.raises(ValueError):
            arr.setflags(write=True)
    np.testing.assert_array_equal(level3.gru_forward(x, h0, q, reset_after=True)[0],
                                  level3.gru_forward(x, h0, p, reset_after=True)[0])


def test_arrays_cannot_be_made_writable_so_the_cache_cannot_go_stale():
    from gru_props import level3

    p = params()
    for arr in p.arrays().values():
        with pytest.raises(ValueError):
            arr.setflags(write=True)
        with pytest.raises(ValueError):
            arr.T.setflags(write=True)  # nor through a view
    x, h0 = inputs()
    a = level3.gru_forward(x, h0, p)[0]
    np.testing.assert_array_equal(level3.gru_forward(x, h0, p)[0], a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_writable_copy_is_writable_owned_and_never_cached(dtype):
    from gru_props import level3
    from gru_props.core.params import _writable_copy

    p = params(dtype=dtype)
    w = _writable_copy(p)
    assert type(w) is GRUParams and w.dtype == dtype
    assert_same_params(w, p)
    for name, arr in w.arrays().items():
        assert arr.flags.writeable and arr.flags.owndata, name
        assert not np.shares_memory(arr, getattr(p, name)), name
    x, h0 = inputs()
    x = x.astype(dtype)
    h0 = h0.astype(dtype)
    level3.gru_forward(x, h0, w, reset_after=True)
    w.U_n[0, 0] += 1.0  # the user's function writes into its argument
    w.W_z[1, 2] -= 2.0
    got = level3.gru_forward(x, h0, w, reset_after=True)[0]
    want = level1.gru_forward(x, h0, w, reset_after=True)[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 if dtype == np.float64 else 1e-5)
    assert not np.allclose(got, level3.gru_forward(x, h0, p, reset_after=True)[0])
    np.testing.assert_array_equal(p.U_n, params(dtype=dtype).U_n)  # the original is untouched
    import copy
    again = copy.deepcopy(w)  # a copy of a writable copy is an ordinary GRUParams
    assert not again.W_z.flags.writeable
    with pytest.raises(TypeError, match="params"):
        _writable_copy(p.arrays())


# ---------------------------------------------------------- torch GRUCell


@pytest.mark.parametrize("bias", [True, False])
def test_from_torch_gru_cell(torch, bias):
    D, H = 3, 4
    torch.manual_seed(1)
    cell = torch.nn.GRUCell(D, H, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for t in cell.parameters():
            t.uniform_(-1, 1)
    p = GRUParams.from_torch(cell)
    assert_same_params(p, GRUParams.from_torch(cell.state_dict()))
    x, h0 = inputs(D=D, H=H)
    with torch.no_grad():
        want = cell(torch.from_numpy(x[:, 0]), torch.from_numpy(h0)).numpy()
    np.testing.assert_allclose(level1.gru_step(x[:, 0], h0, p, reset_after=True), want,
                               rtol=0, atol=1e-13)


def test_from_torch_names_lstms_layers_directions_and_strangers(torch):
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch(torch.nn.LSTM(3, 4))
    assert_message(e, "LSTM", "four", "LSTMParams.from_torch")
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch(torch.nn.LSTMCell(3, 4).state_dict())
    assert_message(e, "weight_hh", "(16, 4)", "LSTM")
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch(torch.nn.GRU(3, 4, num_layers=3).state_dict())
    assert_message(e, "3 layers", "_l2")
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch(torch.nn.GRU(3, 4, bidirectional=True).state_dict())
    assert_message(e, "two directions", "_reverse")
    cell = torch.nn.GRUCell(3, 4).state_dict()
    with pytest.raises(ValueError) as e:
        GRUParams.from_torch({**cell, "scale": torch.ones(1)})
    assert_message(e, "['scale']", "not GRU weights")
    with pytest.raises(TypeError) as e:
        GRUParams.from_torch(torch.nn.Linear(3, 4).weight.detach().numpy())
    assert_message(e, "GRUCell", "ndarray")
