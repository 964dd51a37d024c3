"""gru_props.adapters: learners' layouts wrapped into the canonical fn(x, h0, params).

For each adapter a correct GRU written natively in that layout (loops, its own
sigmoid, its framework's gate order) passes ``check_implementation`` and its
reversed-interpolation twin is caught and named; backward passes written in
each layout (with torch autograd, in that layout) come back as the gradients
of ``level1.gru_backward``; compositions, the wrapper protocol and bad use.
"""

from __future__ import annotations

import copy
import doctest
import functools
import types

import numpy as np
import pytest

from gru_props import GRUParams, check_implementation, level1
from gru_props import adapters
from gru_props._params import _writable_copy
from gru_props.adapters import (
    LayoutParams,
    TiedGradientError,
    concat_layout,
    describe,
    keras_layout,
    onnx_layout,
    time_major,
    torch_cell,
    torch_function,
    torch_layout,
    transposed_weights,
    unbatched,
)

torch = pytest.importorskip("torch")

CHECK = dict(profile="ci", max_examples=8)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def blend(z, h, n, reverse):
    """The interpolation: correct, or Chung et al.'s reversed form (the bug)."""
    return (1 - z) * h + z * n if reverse else z * h + (1 - z) * n


def params(D=3, H=4, seed=0, dtype=np.float64):
    return GRUParams.random(D, H, seed=seed, scale=1.0, dtype=dtype)


def inputs(B=2, T=5, D=3, H=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(100 + seed)
    return rng.normal(size=(B, T, D)).astype(dtype), rng.uniform(-1, 1, (B, H)).astype(dtype)


def assert_reversed_is_caught(fn, **kwargs):
    with pytest.raises(AssertionError) as e:
        check_implementation(fn, **CHECK, **kwargs)
    assert e.value.diagnosis == "reversed_interpolation", str(e.value)


# ============================================ learner GRUs, one per layout


def torch_layout_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse=False):
    """As a PyTorch user writes it: stacked [r, z, n] rows, x_t @ W.T, reset after."""
    B, T, _ = x.shape
    H = weight_hh.shape[1]
    h = h0
    out = np.zeros((B, T, H), dtype=np.result_type(x, weight_ih))
    for t in range(T):
        gi = x[:, t] @ weight_ih.T + bias_ih
        gh = h @ weight_hh.T + bias_hh
        i_r, i_z, i_n = gi[:, :H], gi[:, H:2 * H], gi[:, 2 * H:]
        h_r, h_z, h_n = gh[:, :H], gh[:, H:2 * H], gh[:, 2 * H:]
        r = sigmoid(i_r + h_r)
        z = sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        h = blend(z, h, n, reverse)
        out[:, t] = h
    return out, h


def keras_gru(x, h0, kernel, recurrent_kernel, bias, reset_after=True, reverse=False):
    """keras.layers.GRU's cell: columns [z, r, h], x @ kernel."""
    H = recurrent_kernel.shape[0]
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros_like(bias))
    h = h0
    hs = []
    for t in range(x.shape[1]):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + b_in, 3, axis=-1)
        if reset_after:
            r_z, r_r, r_h = np.split(h @ recurrent_kernel + b_rec, 3, axis=-1)
            z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
            hh = np.tanh(x_h + r * r_h)
        else:
            z = sigmoid(x_z + h @ recurrent_kernel[:, :H])
            r = sigmoid(x_r + h @ recurrent_kernel[:, H:2 * H])
            hh = np.tanh(x_h + (r * h) @ recurrent_kernel[:, 2 * H:])
        h = blend(z, h, hh, reverse)
        hs.append(h)
    hs = np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (H,), dtype=np.result_type(x, kernel))
    return hs, h


def onnx_gru(X, initial_h, W, R, B, reverse=False):
    """The ONNX GRU operator as its spec reads: X (seq, batch, D), W (1, 3H, D), rows z, r, h."""
    H = R.shape[-1]
    W, R, B = W[0], R[0], B[0]
    Wz, Wr, Wh = W[:H], W[H:2 * H], W[2 * H:]
    Rz, Rr, Rh = R[:H], R[H:2 * H], R[2 * H:]
    Wbz, Wbr, Wbh, Rbz, Rbr, Rbh = (B[k * H:(k + 1) * H] for k in range(6))
    h = initial_h
    Y = np.zeros((X.shape[0],) + initial_h.shape, dtype=np.result_type(X, W))
    for t in range(X.shape[0]):
        z = sigmoid(X[t] @ Wz.T + h @ Rz.T + Wbz + Rbz)
        r = sigmoid(X[t] @ Wr.T + h @ Rr.T + Wbr + Rbr)
        hh = np.tanh(X[t] @ Wh.T + (r * h) @ Rh.T + Rbh + Wbh)  # linear_before_reset=0
        h = (1 - z) * hh + z * h if not reverse else z * hh + (1 - z) * h
        Y[t] = h
    return Y, h


def colah_gru(x, h0, p, reverse=False):
    """colah's blog / d2l: gates on the concatenation [h, x], one bias per gate."""
    h = h0
    hs = np.zeros(x.shape[:2] + (h0.shape[1],), dtype=np.result_type(x, p.W_z))
    for t in range(x.shape[1]):
        hx = np.concatenate([h, x[:, t]], axis=1)
        z = sigmoid(hx @ p.W_z + p.b_z)
        r = sigmoid(hx @ p.W_r + p.b_r)
        n = np.tanh(np.concatenate([r * h, x[:, t]], axis=1) @ p.W_n + p.b_n)
        h = blend(z, h, n, reverse)
        hs[:, t] = h
    return hs


def column_vector_example(x, h0, p, reverse=False):
    """A course's one-example GRU with column vectors: W_z (H, D) @ x_t, returns (hs, h_T)."""
    h = h0
    hs = np.zeros((x.shape[0], h0.shape[0]), dtype=np.result_type(x, p.W_z))
    for t in range(x.shape[0]):
        z = sigmoid(p.W_z @ x[t] + p.U_z @ h + p.b_z)
        r = sigmoid(p.W_r @ x[t] + p.U_r @ h + p.b_r)
        n = np.tanh(p.W_n @ x[t] + p.b_n + r * (p.U_n @ h + p.b_hn))
        h = blend(z, h, n, reverse)
        hs[t] = h
    return hs, h


def one_example_step(x_t, h_prev, p, reverse=False):
    """A step on one example: x_t (D,), h_prev (H,), reset before."""
    z = sigmoid(x_t @ p.W_z + h_prev @ p.U_z + p.b_z)
    r = sigmoid(x_t @ p.W_r + h_prev @ p.U_r + p.b_r)
    n = np.tanh(x_t @ p.W_n + (r * h_prev) @ p.U_n + p.b_n + p.b_hn)
    return blend(z, h_prev, n, reverse)


def seq_first_gru(x, h0, p, reverse=False):
    """Time-major, as nn.GRU's default: x (T, B, D) -> hs (T, B, H)."""
    h = h0
    hs = np.zeros(x.shape[:2] + (p.H,), dtype=np.result_type(x, p.W_z))
    for t, x_t in enumerate(x):
        z = sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = blend(z, h, n, reverse)
        hs[t] = h
    return hs, h


def torch_tensor_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse=False):
    """Written with torch ops on tensors, PyTorch's weight layout."""
    h = h0
    out = torch.zeros(x.shape[0], x.shape[1], weight_hh.shape[1], dtype=x.dtype)
    for t in range(x.shape[1]):
        i_r, i_z, i_n = (x[:, t] @ weight_ih.T + bias_ih).chunk(3, dim=1)
        h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = blend(z, h, n, reverse)
        out[:, t] = h
    return out, h


class X2HCell(torch.nn.Module):
    """The widely copied from-scratch nn.GRUCell: two Linear(., 3H), rows r, z, n."""

    reverse = False

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.x2h = torch.nn.Linear(input_size, 3 * hidden_size)
        self.h2h = torch.nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x, hidden=None):
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.hidden_size)
        i_r, i_i, i_n = self.x2h(x).chunk(3, 1)
        h_r, h_i, h_n = self.h2h(hidden).chunk(3, 1)
        resetgate = torch.sigmoid(i_r + h_r)
        inputgate = torch.sigmoid(i_i + h_i)
        newgate = torch.tanh(i_n + resetgate * h_n)
        if self.reverse:
            return hidden + inputgate * (newgate - hidden)
        return newgate + inputgate * (hidden - newgate)


class ReversedX2HCell(X2HCell):
    reverse = True


class GateParamCell(torch.nn.Module):
    """Per-gate parameters named like gru_props' fields, column vectors, one candidate bias."""

    def __init__(self, D, H):
        super().__init__()
        for g in "zrn":
            setattr(self, f"W_{g}", torch.nn.Parameter(torch.randn(H, D)))
            setattr(self, f"U_{g}", torch.nn.Parameter(torch.randn(H, H)))
            setattr(self, f"b_{g}", torch.nn.Parameter(torch.zeros(H)))

    def forward(self, x, h):
        z = torch.sigmoid(x @ self.W_z.T + h @ self.U_z.T + self.b_z)
        r = torch.sigmoid(x @ self.W_r.T + h @ self.U_r.T + self.b_r)
        n = torch.tanh(x @ self.W_n.T + (r * h) @ self.U_n.T + self.b_n)
        return z * h + (1 - z) * n


class NoBiasCell(torch.nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.weight_ih = torch.nn.Parameter(torch.randn(3 * H, D))
        self.weight_hh = torch.nn.Parameter(torch.randn(3 * H, H))

    def forward(self, x, h):
        return torch._VF.gru_cell(x, h, self.weight_ih, self.weight_hh, None, None)


# Each: (wrapped correct GRU, wrapped reversed twin, check kwargs, convention it follows).
LEARNERS = {
    "torch_layout": (torch_layout(torch_layout_gru),
                     torch_layout(functools.partial(torch_layout_gru, reverse=True)), {}, True),
    "keras_layout": (keras_layout(keras_gru),
                     keras_layout(functools.partial(keras_gru, reverse=True)), {}, True),
    "keras_layout(reset_after=False)": (
        keras_layout(functools.partial(keras_gru, reset_after=False), reset_after=False),
        keras_layout(functools.partial(keras_gru, reset_after=False, reverse=True), reset_after=False),
        {}, False),
    "time_major(onnx_layout)": (
        time_major(onnx_layout(onnx_gru, num_directions_axis=True)),
        time_major(onnx_layout(functools.partial(onnx_gru, reverse=True), num_directions_axis=True)),
        {}, False),
    "concat_layout": (concat_layout(colah_gru),
                      concat_layout(functools.partial(colah_gru, reverse=True)), {}, False),
    "unbatched(transposed_weights)": (
        unbatched(transposed_weights(column_vector_example)),
        unbatched(transposed_weights(functools.partial(column_vector_example, reverse=True))),
        {}, True),
    "unbatched step": (unbatched(one_example_step),
                       unbatched(functools.partial(one_example_step, reverse=True)),
                       {"step": True}, False),
    "time_major": (time_major(seq_first_gru),
                   time_major(functools.partial(seq_first_gru, reverse=True)), {}, False),
    "torch_layout(torch_function)": (
        torch_layout(torch_function(torch_tensor_gru)),
        torch_layout(torch_function(functools.partial(torch_tensor_gru, reverse=True))), {}, True),
    "torch_cell": (torch_cell(X2HCell), torch_cell(ReversedX2HCell), {"step": True}, True),
}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_correct_learner_gru_passes_and_its_reversed_twin_is_named(name):
    good, bad, kwargs, reset_after = LEARNERS[name]
    report = check_implementation(good, **CHECK, **kwargs)
    assert report.reset_after is reset_after
    assert_reversed_is_caught(bad, **kwargs)


def test_the_real_torch_gru_cell_passes_through_torch_cell():
    report = check_implementation(torch_cell(torch.nn.GRUCell), step=True, **CHECK)
    assert report.reset_after is True


def test_a_keras_step_function_checks_with_step_true():
    def keras_step(x_t, h, kernel, recurrent_kernel, bias):
        return keras_gru(x_t[:, None], h, kernel, recurrent_kernel, bias)[1]

    report = check_implementation(keras_layout(keras_step), step=True, reset_after=True, **CHECK)
    assert report.step


# ============================================== what the function receives


def _recorder(store, result):
    def fn(*args):
        store.append(args)
        return result(*args)
    return fn


def test_torch_layout_hands_over_pytorch_s_arrays():
    p = params()
    x, h0 = inputs()
    seen = []
    hs, h_T = torch_layout(_recorder(seen, torch_layout_gru))(x, h0, p)
    (x_in, h0_in, w_ih, w_hh, b_ih, b_hh), = seen
    assert x_in is x and h0_in is h0
    assert w_ih.shape == (12, 3) and w_hh.shape == (12, 4) and b_ih.shape == b_hh.shape == (12,)
    np.testing.assert_array_equal(w_ih[4:8], p.W_z.T)  # rows r, z, n
    np.testing.assert_array_equal(w_hh[:4], p.U_r.T)
    np.testing.assert_array_equal(b_ih[4:8] + b_hh[4:8], p.b_z)  # split between both vectors
    assert np.all(b_hh[4:8] != 0) and np.all(b_ih[4:8] != 0)
    np.testing.assert_array_equal(b_hh[8:], p.b_hn)
    # the same arrays nn.GRU gets from GRUParams.to_torch compute the same GRU
    gru = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    gru.load_state_dict(p.to_torch())
    with torch.no_grad():
        want, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(hs, want.numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_layout_hands_over_keras_arrays(reset_after):
    p = params()
    seen = []
    x, h0 = inputs()
    keras_layout(_recorder(seen, lambda *a: None), reset_after=reset_after)(x, h0, p)
    (_, _, kernel, recurrent, bias), = seen
    assert kernel.shape == (3, 12) and recurrent.shape == (4, 12)
    np.testing.assert_array_equal(kernel[:, 4:8], p.W_r)  # columns z, r, h
    np.testing.assert_array_equal(recurrent[:, 8:], p.U_n)
    if reset_after:
        assert bias.shape == (2, 12)
        np.testing.assert_array_equal(bias[0, :4] + bias[1, :4], p.b_z)
        np.testing.assert_array_equal(bias[1, 8:], p.b_hn)
    else:
        assert bias.shape == (12,)
        np.testing.assert_array_equal(bias[8:], p.b_n + p.b_hn)
    # GRUParams.from_keras reads them back (b_hn folded in when reset_after=False)
    back = GRUParams.from_keras(kernel, recurrent, bias)
    want = level1.gru_forward(x, h0, p, reset_after=reset_after)[0]
    np.testing.assert_allclose(level1.gru_forward(x, h0, back, reset_after=reset_after)[0], want,
                               rtol=0, atol=1e-14)


@pytest.mark.parametrize("axis", [False, True])
def test_onnx_layout_hands_over_onnx_arrays(axis):
    p = params()
    seen = []
    onnx_layout(_recorder(seen, lambda *a: None), num_directions_axis=axis)(*inputs(), p)
    (_, _, W, R, B), = seen
    lead = (1,) if axis else ()
    assert W.shape == lead + (12, 3) and R.shape == lead + (12, 4) and B.shape == lead + (24,)
    back = GRUParams.from_onnx(W, R, B)
    for name, arr in p.arrays().items():
        np.testing.assert_allclose(getattr(back, name), arr, rtol=0, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("order", ["hx", "xh"])
def test_concat_layout_hands_over_concatenated_weights(order):
    p = params(D=3, H=4)
    seen = []
    concat_layout(_recorder(seen, lambda *a: None), order=order)(*inputs(), p)
    (_, _, cp), = seen
    assert isinstance(cp, LayoutParams) and (cp.D, cp.H) == (3, 4)
    assert cp.W_z.shape == (7, 4)
    first, second = (p.U_z, p.W_z) if order == "hx" else (p.W_z, p.U_z)
    np.testing.assert_array_equal(cp.W_z, np.concatenate([first, second]))
    np.testing.assert_array_equal(cp.b_n, p.b_n + p.b_hn)
    with pytest.raises(AttributeError, match="U_z"):
        cp.U_z  # folded into W_z
    with pytest.raises(AttributeError, match="read-only"):
        cp.W_z = None


def test_transposed_weights_hands_over_transposed_read_only_views():
    p = params(D=3, H=4)
    seen = []
    transposed_weights(_recorder(seen, lambda *a: None))(*inputs(), p)
    (_, _, tp), = seen
    assert tp.W_z.shape == (4, 3) and tp.U_r.shape == (4, 4) and tp.b_hn.shape == (4,)
    np.testing.assert_array_equal(tp.U_r, p.U_r.T)
    assert np.shares_memory(tp.W_n, p.W_n)  # views: no copy
    assert not tp.W_n.flags.writeable
    assert sorted(tp.arrays()) == sorted(p.arrays())
    assert "TransposedParams(D=3, H=4" in repr(tp)
    assert copy.deepcopy(tp).W_z.shape == (4, 3)


def test_unbatched_and_time_major_hand_over_views_of_the_batch():
    p = params()
    x, h0 = inputs(B=3)
    seen = []
    unbatched(_recorder(seen, lambda x, h0, p: np.zeros((x.shape[0], 4))))(x, h0, p)
    assert [a[0].shape for a in seen] == [(5, 3)] * 3 and [a[1].shape for a in seen] == [(4,)] * 3
    assert all(np.shares_memory(a[0], x) for a in seen)
    seen.clear()
    unbatched(_recorder(seen, lambda x, h0, p: np.zeros((x.shape[0], 4))))(x, None, p)
    assert all(a[1] is None for a in seen)
    seen.clear()
    time_major(_recorder(seen, lambda x, h0, p: np.zeros(x.shape[:2] + (4,))))(x, h0, p)
    (xt, h0_in, _), = seen
    assert xt.shape == (5, 3, 3) and np.shares_memory(xt, x) and h0_in is h0


def test_torch_function_converts_arrays_and_params_and_back():
    p = params(dtype=np.float32)
    x, h0 = inputs(dtype=np.float32)
    seen = []

    def fn(x, h0, p):
        seen.append((x, h0, p))
        return (x[:, :, :1] * p.W_z.sum()).expand(-1, -1, 4).clone().requires_grad_(True), None

    hs, h_T = torch_function(fn)(x, h0, p)
    (xt, ht, pt), = seen
    assert isinstance(xt, torch.Tensor) and xt.dtype == torch.float32 and tuple(xt.shape) == x.shape
    assert isinstance(pt.W_z, torch.Tensor) and pt.W_z.dtype == torch.float32 and pt.D == 3
    assert isinstance(hs, np.ndarray) and hs.dtype == np.float32 and hs.shape == (2, 5, 4)
    assert h_T is None
    np.testing.assert_array_equal(pt.U_n.numpy(), p.U_n)


# ================================================================ compositions


def canonical_reference(x, h0, p, reset_after):
    return level1.gru_forward(x, h0, p, reset_after=reset_after)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compositions_compute_the_reference(dtype):
    p = params(dtype=dtype)
    x, h0 = inputs(dtype=dtype)
    tol = dict(rtol=0, atol=1e-12 if dtype == np.float64 else 2e-6)
    after, _ = canonical_reference(x, h0, p, True)
    before, _ = canonical_reference(x, h0, p, False)

    def torch_tm(x, h0, *w):  # torch layout, time-major
        hs, h = torch_layout_gru(x.transpose(1, 0, 2), h0, *w)
        return hs.transpose(1, 0, 2), h

    for fn, want in [
        (torch_layout(time_major(torch_tm)), after),
        (time_major(torch_layout(torch_tm)), after),
        (unbatched(keras_layout(lambda x, h0, *w: keras_gru(x[None], h0[None], *w)[0][0])), after),
        (keras_layout(unbatched(lambda x, h0, *w: keras_gru(x[None], h0[None], *w)[0][0])), after),
        (concat_layout(transposed_weights(
            lambda x, h0, p: colah_gru(x, h0, types.SimpleNamespace(**{
                k: (v.T if v.ndim == 2 else v) for k, v in p.arrays().items()})))), before),
        (unbatched(torch_layout(torch_function(
            lambda x, h0, *w: torch_tensor_gru(x[None], h0[None], *w)[0][0]))), after),
    ]:
        out = fn(x, h0, p)
        hs = out[0] if isinstance(out, tuple) else out
        assert hs.dtype == dtype, describe(fn)
        np.testing.assert_allclose(hs, want, **tol, err_msg=describe(fn))


def test_unbatched_step_through_torch_cell():
    fn = unbatched(torch_cell(torch.nn.GRUCell))
    p = params()
    x, h0 = inputs()
    want = level1.gru_step(x[:, 0], h0, p, reset_after=True)
    np.testing.assert_allclose(fn(x[:, 0], h0, p), want, rtol=0, atol=1e-13)
    assert fn.__gru_props_requires__ == {"step": True}


# ======================================================= the wrapper protocol


def test_wrappers_carry_name_doc_wrapped_and_how_they_were_applied():
    def my_gru(x, h0, kernel, recurrent_kernel, bias):
        """My GRU."""

    inner = unbatched(my_gru)
    outer = keras_layout(inner, reset_after=False)
    assert outer.__wrapped__ is inner and inner.__wrapped__ is my_gru
    assert outer.__name__ == "my_gru" and outer.__doc__ == "My GRU."
    assert inner.__gru_props_adapter__ == "unbatched"
    assert outer.__gru_props_adapter__ == "keras_layout(reset_after=False)"
    assert keras_layout(my_gru).__gru_props_adapter__ == "keras_layout"
    assert outer.__gru_props_requires__ == {"reset_after": False}
    assert inner.__gru_props_requires__ == {}
    assert time_major(torch_layout(my_gru)).__gru_props_requires__ == {"step": False}
    assert concat_layout(my_gru).__gru_props_requires__ == {"reset_after": False}
    assert describe(outer) == "keras_layout(reset_after=False)(unbatched(my_gru))"
    assert describe(outer, name="f") == "keras_layout(reset_after=False)(unbatched(f))"
    assert describe(my_gru) == "my_gru"
    import inspect
    assert list(inspect.signature(outer).parameters) == ["x", "h0", "params", "rest"]


def test_describe_rebuilds_the_same_function():
    namespace = {**{n: getattr(adapters, n) for n in adapters.__all__},
                 "seq_first_gru": seq_first_gru, "keras_gru": keras_gru, "X2HCell": X2HCell}
    p = params()
    x, h0 = inputs()
    for fn in [time_major(seq_first_gru), keras_layout(reset_after=False)(unbatched(
               lambda x, h0, *w: keras_gru(x[None], h0[None], *w, reset_after=False)[0][0])),
               onnx_layout(num_directions_axis=True)(time_major(seq_first_gru)),
               concat_layout(order="xh")(seq_first_gru), torch_cell(X2HCell)]:
        text = describe(fn, name="INNER")
        rebuilt = eval(text, {**namespace, "INNER": _innermost(fn)})
        assert describe(rebuilt, name="INNER") == text
        assert rebuilt.__gru_props_requires__ == fn.__gru_props_requires__
        if "onnx" in text or "concat" in text:
            continue  # those two wrap a GRUParams GRU here only to test the spelling
        step = "torch_cell" in text
        args = (x[:, 0], h0, p) if step else (x, h0, p)
        a, b = fn(*args), rebuilt(*args)
        np.testing.assert_array_equal(a[0] if isinstance(a, tuple) else a,
                                      b[0] if isinstance(b, tuple) else b)


def _innermost(fn):
    while hasattr(fn, "__gru_props_adapter__"):
        fn = fn.__wrapped__
    return fn


def test_decorator_form():
    @keras_layout(reset_after=False)
    def my_gru(x, h0, kernel, recurrent_kernel, bias):
        return keras_gru(x, h0, kernel, recurrent_kernel, bias, reset_after=False)

    p = params()
    x, h0 = inputs()
    np.testing.assert_allclose(my_gru(x, h0, p)[0], canonical_reference(x, h0, p, False)[0],
                               rtol=0, atol=1e-13)
    assert my_gru.__gru_props_adapter__ == "keras_layout(reset_after=False)"


# ============================================ read-only in, fresh every call


@pytest.mark.parametrize("wrap", [torch_layout, keras_layout, onnx_layout, concat_layout,
                                  transposed_weights])
def test_a_function_writing_into_what_it_gets_cannot_reach_the_params(wrap):
    """Fresh arrays every call: a scribbling function gets the same inputs each time."""
    got = []

    def scribble(x, h0, *weights):
        arrays = weights if len(weights) > 1 else list(weights[0].arrays().values())
        got.append([np.array(a, copy=True) for a in arrays])
        for a in arrays:
            if a.flags.writeable:
                a[...] = 7.0
        return np.zeros(x.shape[:2] + (4,))

    p = params()
    before = {k: v.copy() for k, v in p.arrays().items()}
    fn = wrap(scribble)
    fn(*inputs(), p)
    fn(*inputs(), p)
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)
    for k, v in p.arrays().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


@pytest.mark.parametrize("wrap", [
    torch_layout, keras_layout, onnx_layout, concat_layout, transposed_weights,
    lambda f: torch_layout(torch_function(f)),
])
def test_writes_reach_writable_params_so_the_mutation_check_sees_them(wrap):
    """With writable params (the checker's mutation test), an in-place write shows up in them."""
    def writes_first_weight(x, h0, *weights):
        w = weights[0] if len(weights) > 1 else weights[0].W_z
        w[0, 0] += 1.0  # works on a NumPy array and on a tensor
        return np.zeros(x.shape[:2] + (4,))

    p = params()
    w = _writable_copy(p)
    wrap(writes_first_weight)(*inputs(), w)
    changed = [k for k in p.arrays() if not np.array_equal(getattr(w, k), getattr(p, k))]
    assert changed, "the write did not reach the params"
    with pytest.raises(ValueError, match="read-only"):  # read-only params: the write fails or is private
        transposed_weights(writes_first_weight)(*inputs(), p)
    torch_layout(writes_first_weight)(*inputs(), p)  # a private copy: allowed, and harmless
    np.testing.assert_array_equal(p.W_r, params().W_r)


def test_torch_cell_builds_a_fresh_module_every_call():
    built = []

    class Counting(X2HCell):
        def __init__(self, D, H):
            super().__init__(D, H)
            built.append(self)

        def forward(self, x, h):
            out = super().forward(x, h)
            with torch.no_grad():
                self.x2h.weight.mul_(2)  # state a reused module would carry over
            return out

    fn = torch_cell(Counting)
    p = params()
    x, h0 = inputs()
    a, b = fn(x[:, 0], h0, p), fn(x[:, 0], h0, p)
    np.testing.assert_array_equal(a, b)
    assert len(built) == 3  # the probe at wrapping, then one per call
    w = _writable_copy(p)
    fn(x[:, 0], h0, w)  # the module scaled its input weights: the mutation shows
    np.testing.assert_allclose(w.W_z, 2 * p.W_z)


# ======================================================================= backward


def autograd_backward(forward, structure):
    """A learner's backward pass in their own layout, computed by torch autograd.

    ``forward(x, h0, *layout_tensors)`` returns hs (or (hs, h_T)); the result is
    ``backward(x, h0, *layout_arrays, dhs, dh_T) -> (dx, dh0, grads)`` with grads
    packed by ``structure(list_of_grad_arrays)``.
    """
    def backward(x, h0, *rest):
        *layout, dhs, dh_T = rest
        tx = torch.tensor(x, requires_grad=True)
        th = torch.tensor(h0, requires_grad=True)
        tl = [torch.tensor(np.asarray(a), requires_grad=True) for a in layout]
        out = forward(tx, th, *tl)
        hs, h_T = out if isinstance(out, tuple) else (out, None)
        loss = (hs * torch.tensor(dhs)).sum()
        if dh_T is not None:
            loss = loss + (h_T * torch.tensor(dh_T)).sum()
        loss.backward()
        return tx.grad.numpy(), th.grad.numpy(), structure([t.grad.numpy() for t in tl])
    return backward


def _torch_gru_t(x, h0, w_ih, w_hh, b_ih, b_hh):
    return torch_tensor_gru(x, h0, w_ih, w_hh, b_ih, b_hh)


def _keras_t(reset_after):
    def fwd(x, h0, kernel, recurrent, bias):
        H = recurrent.shape[0]
        b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, None)
        h, hs = h0, []
        for t in range(x.shape[1]):
            xz, xr, xh = (x[:, t] @ kernel + b_in).chunk(3, 1)
            if reset_after:
                rz, rr, rh = (h @ recurrent + b_rec).chunk(3, 1)
                z, r = torch.sigmoid(xz + rz), torch.sigmoid(xr + rr)
                hh = torch.tanh(xh + r * rh)
            else:
                z = torch.sigmoid(xz + h @ recurrent[:, :H])
                r = torch.sigmoid(xr + h @ recurrent[:, H:2 * H])
                hh = torch.tanh(xh + (r * h) @ recurrent[:, 2 * H:])
            h = z * h + (1 - z) * hh
            hs.append(h)
        return torch.stack(hs, 1), h
    return fwd


def _onnx_t(x, h0, W, R, B):  # batch-first x, W (3H, D), R (3H, H), B (6H,), linear_before_reset=1
    H = R.shape[1]
    Wb, Rb = B[:3 * H], B[3 * H:]
    h, hs = h0, []
    for t in range(x.shape[1]):
        gz, gr, gh = (x[:, t] @ W.T + Wb).chunk(3, 1)
        hz, hr, hh = (h @ R.T + Rb).chunk(3, 1)
        z, r = torch.sigmoid(gz + hz), torch.sigmoid(gr + hr)
        n = torch.tanh(gh + r * hh)
        h = (1 - z) * n + z * h
        hs.append(h)
    return torch.stack(hs, 1), h


def _canonical_t(reset_after, transposed=False):
    def fwd(x, h0, *fields):
        f = dict(zip(GRUParams.__dataclass_fields__, fields))
        if transposed:
            f = {k: (v.T if v.ndim == 2 else v) for k, v in f.items()}
        h, hs = h0, []
        for t in range(x.shape[-2]):
            x_t = x[..., t, :]
            z = torch.sigmoid(x_t @ f["W_z"] + h @ f["U_z"] + f["b_z"])
            r = torch.sigmoid(x_t @ f["W_r"] + h @ f["U_r"] + f["b_r"])
            if reset_after:
                n = torch.tanh(x_t @ f["W_n"] + f["b_n"] + r * (h @ f["U_n"] + f["b_hn"]))
            else:
                n = torch.tanh(x_t @ f["W_n"] + (r * h) @ f["U_n"] + f["b_n"] + f["b_hn"])
            h = z * h + (1 - z) * n
            hs.append(h)
        return torch.stack(hs, -2), h
    return fwd


def _fields_structure(arrays):
    return dict(zip(GRUParams.__dataclass_fields__, arrays))


def _params_backward(forward):
    """autograd_backward for functions taking one params object (its fields in order)."""
    inner = autograd_backward(forward, _fields_structure)

    def backward(x, h0, p, dhs, dh_T):
        return inner(x, h0, *[getattr(p, k) for k in GRUParams.__dataclass_fields__], dhs, dh_T)
    return backward


def _concat_t(x, h0, W_z, W_r, W_n, b_z, b_r, b_n):
    h, hs = h0, []
    for t in range(x.shape[1]):
        hx = torch.cat([h, x[:, t]], 1)
        z, r = torch.sigmoid(hx @ W_z + b_z), torch.sigmoid(hx @ W_r + b_r)
        n = torch.tanh(torch.cat([r * h, x[:, t]], 1) @ W_n + b_n)
        h = z * h + (1 - z) * n
        hs.append(h)
    return torch.stack(hs, 1), h


def _concat_backward(x, h0, cp, dhs, dh_T):
    names = ("W_z", "W_r", "W_n", "b_z", "b_r", "b_n")
    inner = autograd_backward(_concat_t, lambda g: types.SimpleNamespace(**dict(zip(names, g))))
    return inner(x, h0, *[getattr(cp, n) for n in names], dhs, dh_T)


BACKWARDS = {
    "torch_layout, dict": (torch_layout(autograd_backward(
        _torch_gru_t, lambda g: dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), g)))), True),
    "torch_layout, tuple": (torch_layout(autograd_backward(_torch_gru_t, tuple)), True),
    "keras_layout": (keras_layout(autograd_backward(_keras_t(True), tuple)), True),
    "keras_layout(reset_after=False)": (keras_layout(autograd_backward(
        _keras_t(False), lambda g: dict(zip(("kernel", "recurrent_kernel", "bias"), g))),
        reset_after=False), False),
    "onnx_layout": (onnx_layout(autograd_backward(
        _onnx_t, lambda g: {"W": g[0][None], "R": g[1], "B": g[2]})), True),
    "concat_layout": (concat_layout(_concat_backward), False),
    "transposed_weights": (transposed_weights(_params_backward(_canonical_t(True, transposed=True))), True),
    "unbatched": (unbatched(_params_backward(_canonical_t(False))), False),
    "time_major": (time_major(lambda x, h0, p, dhs, dh_T: (lambda r: (r[0].transpose(1, 0, 2),) + r[1:])(
        _params_backward(_canonical_t(True))(x.transpose(1, 0, 2), h0, p, dhs.transpose(1, 0, 2), dh_T))),
        True),
}


@pytest.mark.parametrize("name", list(BACKWARDS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_gradients_come_back_as_level1_s(name, dtype):
    fn, reset_after = BACKWARDS[name]
    p = params(D=3, H=4, dtype=dtype)
    x, h0 = inputs(B=3, T=4, dtype=dtype)
    rng = np.random.default_rng(5)
    dhs, dh_T = rng.normal(size=(3, 4, 4)).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
    dx, dh0, grads = fn(x, h0, p, dhs, dh_T)
    want_dx, want_dh0, want = level1.gru_backward(x.astype(float), h0.astype(float), p.astype(np.float64),
                                                  dhs.astype(float), dh_T.astype(float),
                                                  reset_after=reset_after)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    assert set(grads) == set(want.arrays())
    for k, v in want.arrays().items():
        np.testing.assert_allclose(grads[k], v, **tol, err_msg=k)
    np.testing.assert_allclose(dx, want_dx, **tol)
    np.testing.assert_allclose(dh0, want_dh0, **tol)


@pytest.mark.parametrize("reset_after", [True, False])
def test_step_backward_through_unbatched_and_torch_cell(reset_after):
    """Step form: (x_t, h_prev, params, dh_t); per-example gradients summed."""
    p = params()
    x, h0 = inputs(B=3)
    dh = np.random.default_rng(6).normal(size=(3, 4))
    want_dx, want_dh0, want = level1.gru_backward(x[:, :1], h0, p, dh[:, None], None,
                                                  reset_after=reset_after)
    step = _canonical_t(reset_after)

    def one_example_backward(x_t, h, p, dh_t):
        bw = _params_backward(step)
        dx, dh0, g = bw(x_t[None], h, p, dh_t[None], None)
        return dx[0], dh0, g

    fns = [unbatched(one_example_backward)]
    if reset_after:
        fns.append(torch_cell(torch.nn.GRUCell))
        fns.append(unbatched(torch_cell(torch.nn.GRUCell)))
    for fn in fns:
        dx, dh_prev, grads = fn(x[:, 0], h0, p, dh)
        np.testing.assert_allclose(dx, want_dx[:, 0], rtol=1e-10, atol=1e-12, err_msg=describe(fn))
        np.testing.assert_allclose(dh_prev, want_dh0, rtol=1e-10, atol=1e-12, err_msg=describe(fn))
        for k, v in want.arrays().items():
            np.testing.assert_allclose(grads[k], v, rtol=1e-10, atol=1e-12, err_msg=f"{describe(fn)} {k}")


def test_gate_param_cell_with_one_candidate_bias():
    """gru_props names, column vectors, b_n holding b_n + b_hn: reset before only."""
    fn = torch_cell(GateParamCell)
    assert fn.__gru_props_requires__ == {"step": True, "reset_after": False}
    p = params()
    x, h0 = inputs()
    np.testing.assert_allclose(fn(x[:, 0], h0, p), level1.gru_step(x[:, 0], h0, p),
                               rtol=0, atol=1e-13)
    dh = np.ones((2, 4))
    dx, dhp, grads = fn(x[:, 0], h0, p, dh)
    _, _, want = level1.gru_backward(x[:, :1], h0, p, dh[:, None], None, reset_after=False)
    for k, v in want.arrays().items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-10, atol=1e-12, err_msg=k)
    check_implementation(fn, step=True, reset_after=False, **CHECK)


def test_bias_free_cell_requires_bias_false():
    fn = torch_cell(NoBiasCell)
    assert fn.__gru_props_requires__ == {"step": True, "bias": False}
    p = params()
    zero = p.replace(**{b: np.zeros(4) for b in ("b_z", "b_r", "b_n", "b_hn")})
    x, h0 = inputs()
    np.testing.assert_allclose(fn(x[:, 0], h0, zero), level1.gru_step(x[:, 0], h0, zero, reset_after=True),
                               rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="bias=False"):
        fn(x[:, 0], h0, p)


def test_names_map_any_module_layout():
    class Odd(torch.nn.Module):
        def __init__(self, D, H):
            super().__init__()
            self.inp = torch.nn.Parameter(torch.zeros(3 * H, D))
            self.rec = torch.nn.Parameter(torch.zeros(3 * H, H))
            self.bi = torch.nn.Parameter(torch.zeros(1, 3 * H))  # stored as a row
            self.bh = torch.nn.Parameter(torch.zeros(1, 3 * H))

        def forward(self, x, h):
            return torch._VF.gru_cell(x, h, self.inp, self.rec, self.bi[0], self.bh[0])

    with pytest.raises(ValueError) as e:
        torch_cell(Odd)
    assert "['bh', 'bi', 'inp', 'rec']" in str(e.value) and "names=" in str(e.value)
    fn = torch_cell(Odd, names={"inp": "weight_ih", "rec": "weight_hh", "bi": "bias_ih", "bh": "bias_hh"})
    assert fn.__gru_props_adapter__.startswith("torch_cell(names=")
    p = params()
    x, h0 = inputs()
    np.testing.assert_allclose(fn(x[:, 0], h0, p), level1.gru_step(x[:, 0], h0, p, reset_after=True),
                               rtol=0, atol=1e-13)


# ================================================================ tied gradients


def _torch_bw_with(change):
    base = autograd_backward(_torch_gru_t, lambda g: dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), g)))

    def bw(*args):
        dx, dh0, g = base(*args)
        change(g)
        return dx, dh0, g
    return bw


def test_disagreeing_torch_bias_gradients_raise_naming_both():
    H = 4

    def break_z(g):
        g["bias_hh"][H + 2] += 0.25  # bias_hh[z], unit 2

    fn = torch_layout(_torch_bw_with(break_z))
    x, h0 = inputs()
    dhs = np.ones((2, 5, 4))
    with pytest.raises(TiedGradientError) as e:
        fn(x, h0, params(), dhs, None)
    err = e.value
    assert isinstance(err, ValueError)
    assert err.parameter == "b_z" and err.names == ("bias_ih[z]", "bias_hh[z]") and err.index == (2,)
    assert abs(err.values[1] - err.values[0] - 0.25) < 1e-12
    for fragment in ("torch_layout(", "bias_ih[z]", "bias_hh[z]", "update gate", "must be equal", "b_z"):
        assert fragment in str(err), str(err)


def test_rounding_differences_between_tied_gradients_are_tolerated():
    def nudge(g):
        g["bias_hh"][:8] *= 1 + 1e-12

    x, h0 = inputs()
    _, _, grads = torch_layout(_torch_bw_with(nudge))(x, h0, params(), np.ones((2, 5, 4)), None)
    assert grads["b_r"].shape == (4,)


@pytest.mark.parametrize("wrap,broken,parameter", [
    (lambda bw: keras_layout(bw), lambda g: g[2].__setitem__((1, 5), g[2][1, 5] + 1), "b_r"),
    (lambda bw: onnx_layout(bw), lambda g: g[2].__setitem__(13, g[2][13] - 1), "b_z"),
])
def test_keras_and_onnx_tied_biases(wrap, broken, parameter):
    forward = _keras_t(True) if parameter == "b_r" else _onnx_t

    def structure(g):
        g = [np.array(a) for a in g]
        broken(g)
        return tuple(g)

    x, h0 = inputs()
    with pytest.raises(TiedGradientError) as e:
        wrap(autograd_backward(forward, structure))(x, h0, params(), np.ones((2, 5, 4)), None)
    assert e.value.parameter == parameter


# ======================================================================= bad use


def _dummy(x, h0, *args):
    return np.zeros(x.shape[:2] + (4,))


@pytest.mark.parametrize("make,exc,fragments", [
    (lambda: torch_layout(42), TypeError, ["torch_layout", "fn", "int"]),
    (lambda: unbatched("gru"), TypeError, ["unbatched", "callable"]),
    (lambda: keras_layout(_dummy, reset_after="yes"), TypeError, ["keras_layout", "reset_after", "'yes'"]),
    (lambda: keras_layout(False), TypeError, ["keras_layout", "reset_after=False"]),
    (lambda: onnx_layout(_dummy, num_directions_axis=1), TypeError, ["num_directions_axis"]),
    (lambda: concat_layout(_dummy, order="yx"), ValueError, ["order", "'hx'", "'yx'"]),
    (lambda: torch_function(torch_layout(_dummy)), ValueError,
     ["innermost", "torch_layout(torch_function(_dummy))"]),
    (lambda: torch_layout(keras_layout(_dummy)), ValueError, ["torch_layout", "keras_layout", "one layout"]),
    (lambda: transposed_weights(concat_layout(_dummy)), ValueError,
     ["concat_layout(transposed_weights(_dummy))"]),
    (lambda: torch_layout(transposed_weights(_dummy)), ValueError, ["transposed_weights"]),
    (lambda: transposed_weights(transposed_weights(_dummy)), ValueError, ["twice"]),
    (lambda: time_major(unbatched(_dummy)), ValueError, ["unbatched", "batch axis"]),
    (lambda: unbatched(unbatched(_dummy)), ValueError, ["twice"]),
    (lambda: time_major(torch_cell(X2HCell)), ValueError, ["step=True", "step=False"]),
    (lambda: torch_cell(42), TypeError, ["torch_cell", "nn.Module class"]),
    (lambda: torch_cell(lambda D, H: "no module"), TypeError, ["expected a torch.nn.Module"]),
    (lambda: torch_cell(lambda: None), TypeError, ["(input_size, hidden_size)", "factory"]),
    (lambda: torch_cell(X2HCell, names=["x2h"]), TypeError, ["names"]),
    (lambda: torch_cell(X2HCell, names={"x2h.weight": "weight_ih"}), ValueError,
     ["cannot fill", "h2h.weight"]),
    (lambda: torch_cell(X2HCell, names={"x2h.weight": "W_z", "x2h.bias": "bias_ih",
                                        "h2h.weight": "weight_hh", "h2h.bias": "bias_hh"}),
     ValueError, ["not a mix"]),
])
def test_bad_use_names_the_argument(make, exc, fragments):
    with pytest.raises(exc) as e:
        make()
    for f in fragments:
        assert f in str(e.value), str(e.value)


@pytest.mark.parametrize("fn,args_of,fragments", [
    (time_major(lambda x, h0, p: np.zeros((x.shape[1], x.shape[0], 4))),  # batch-first answer
     lambda x, h0, p: (x, h0, p), ["time_major(<lambda>)", "(T, B, H) = (5, 2, H)", "(2, 5, 4)",
                                   "batch-first already"]),
    (unbatched(lambda x, h0, p: np.zeros((1, x.shape[0], 4))),
     lambda x, h0, p: (x, h0, p), ["unbatched(<lambda>)", "(T, H)", "(1, 5, 4)", "drop unbatched"]),
    (unbatched(lambda x, h0, p: [np.zeros(4)] * x.shape[0]),
     lambda x, h0, p: (x, h0, p), ["NumPy array", "list"]),
    (time_major(_dummy), lambda x, h0, p: (x[:, 0], h0, p), ["step function", "drop time_major"]),
    (torch_cell(X2HCell), lambda x, h0, p: (x, h0, p), ["step function", "step=True"]),
    (torch_layout(lambda *a: (a[0], a[1], GRUParams.random(3, 4))),
     lambda x, h0, p: (x, h0, p, np.ones((2, 5, 4)), None), ["GRUParams", "needs no layout adapter"]),
    (torch_layout(lambda x, h0, wi, wh, bi, bh, dhs, dh_T: (x, h0, (wi.T, wh, bi, bh))),
     lambda x, h0, p: (x, h0, p, np.ones((2, 5, 4)), None), ["weight_ih", "(12, 3)", "(3, 12)", "transposed"]),
    (keras_layout(lambda x, h0, k, r, b, dhs, dh_T: (x, h0)),
     lambda x, h0, p: (x, h0, p, np.ones((2, 5, 4)), None), ["(dx, dh0, grads)"]),
    (keras_layout(lambda x, h0, k, r, b, dhs, dh_T: (x, h0, {"kernel": k, "bias": b})),
     lambda x, h0, p: (x, h0, p, np.ones((2, 5, 4)), None), ["recurrent_kernel", "missing"]),
])
def test_wrong_layout_back_says_what_was_expected(fn, args_of, fragments):
    p = params()
    x, h0 = inputs()
    with pytest.raises((TypeError, ValueError)) as e:
        fn(*args_of(x, h0, p))
    msg = str(e.value)
    for f in fragments:
        assert f in msg, msg


# ====================================================================== docs


def test_docstring_examples_run():
    result = doctest.testmod(adapters, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 40 and result.failed == 0
