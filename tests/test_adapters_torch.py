"""gru_props.adapters with torch: torch_function, torch_cell, and backward passes.

Correct torch-written GRUs (tensor code, nn.Module cells, nn.GRUCell itself)
pass the checker and their reversed twins are named; backward passes written
in each layout with torch autograd (in that layout, independent of the
adapters' conversions) come back as ``level1.gru_backward``'s gradients by
field name; tied bias gradients that disagree raise ``TiedGradientError``;
and every docstring example in the module runs.
"""

from __future__ import annotations

import doctest
import functools
import types

import numpy as np
import pytest
from learners import blend, inputs, params

from gru_props import GRUParams, adapters, check_implementation, level1
from gru_props.adapters import (
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
from gru_props.core.params import _writable_copy

torch = pytest.importorskip("torch")

CHECK = dict(profile="ci", max_examples=8)


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


LEARNERS = {
    "torch_layout(torch_function)": (
        torch_layout(torch_function(torch_tensor_gru)),
        torch_layout(torch_function(functools.partial(torch_tensor_gru, reverse=True))), {}, True),
    "torch_cell": (torch_cell(X2HCell), torch_cell(ReversedX2HCell), {"step": True}, True),
}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_correct_torch_gru_passes_and_its_reversed_twin_is_named(name):
    good, bad, kwargs, reset_after = LEARNERS[name]
    report = check_implementation(good, **CHECK, **kwargs)
    assert report.reset_after is reset_after
    with pytest.raises(AssertionError) as e:
        check_implementation(bad, **CHECK, **kwargs)
    assert e.value.diagnosis == "reversed_interpolation", str(e.value)


def test_the_real_torch_gru_cell_passes_through_torch_cell():
    report = check_implementation(torch_cell(torch.nn.GRUCell), step=True, **CHECK)
    assert report.reset_after is True


def test_torch_layout_arrays_run_in_nn_gru():
    """What torch_layout hands over is what nn.GRU computes with."""
    seen = []

    def fn(x, h0, *weights):
        seen.append(weights)
        return np.zeros(x.shape[:2] + (4,))

    p = params()
    x, h0 = inputs()
    torch_layout(fn)(x, h0, p)
    gru = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    gru.load_state_dict({f"{k}_l0": torch.from_numpy(v) for k, v in
                         zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), seen[0])})
    with torch.no_grad():
        want, _ = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
    np.testing.assert_allclose(want.numpy(), level1.gru_forward(x, h0, p, reset_after=True)[0],
                               rtol=0, atol=1e-13)


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


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_compositions_compute_the_reference(dtype):
    p = params(dtype=dtype)
    x, h0 = inputs(dtype=dtype)
    want, _ = level1.gru_forward(x, h0, p, reset_after=True)
    fn = unbatched(torch_layout(torch_function(
        lambda x, h0, *w: torch_tensor_gru(x[None], h0[None], *w)[0][0])))
    hs = fn(x, h0, p)
    assert hs.dtype == dtype
    np.testing.assert_allclose(hs, want, rtol=0, atol=1e-12 if dtype == np.float64 else 2e-6)


def test_unbatched_step_through_torch_cell():
    fn = unbatched(torch_cell(torch.nn.GRUCell))
    p = params()
    x, h0 = inputs()
    want = level1.gru_step(x[:, 0], h0, p, reset_after=True)
    np.testing.assert_allclose(fn(x[:, 0], h0, p), want, rtol=0, atol=1e-13)
    assert fn.__gru_props_requires__ == {"step": True}


def test_describe_rebuilds_torch_cell():
    fn = torch_cell(X2HCell)
    assert describe(fn) == "torch_cell(X2HCell)"
    rebuilt = eval(describe(fn), {"torch_cell": torch_cell, "X2HCell": X2HCell})
    p = params()
    x, h0 = inputs()
    np.testing.assert_array_equal(rebuilt(x[:, 0], h0, p), fn(x[:, 0], h0, p))
    names = {"x2h.weight": "weight_ih", "h2h.weight": "weight_hh", "x2h.bias": "bias_ih",
             "h2h.bias": "bias_hh"}
    assert describe(torch_cell(X2HCell, names=names)) == f"torch_cell(names={names!r})(X2HCell)"
    assert eval(describe(torch_cell(names=names)(X2HCell)),
                {"torch_cell": torch_cell, "X2HCell": X2HCell}).__gru_props_requires__ == {"step": True}


def test_writes_through_torch_tensors_reach_writable_params():
    def writes(x, h0, w_ih, *rest):
        w_ih[0, 0] += 1.0  # in place, on a tensor
        return torch.zeros(x.shape[0], x.shape[1], 4, dtype=x.dtype)

    p = params()
    w = _writable_copy(p)
    torch_layout(torch_function(writes))(*inputs(), w)
    assert w.W_r[0, 0] == p.W_r[0, 0] + 1.0
    torch_layout(torch_function(writes))(*inputs(), p)  # read-only params: a private copy is written
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


def _dummy(x, h0, *args):
    return np.zeros(x.shape[:2] + (4,))


@pytest.mark.parametrize("make,exc,fragments", [
    (lambda: torch_function(torch_layout(_dummy)), ValueError,
     ["innermost", "torch_layout(torch_function(_dummy))"]),
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
def test_bad_use_of_torch_adapters_names_the_argument(make, exc, fragments):
    with pytest.raises(exc) as e:
        make()
    for f in fragments:
        assert f in str(e.value), str(e.value)


def test_torch_cell_says_it_is_a_step_function():
    x, h0 = inputs()
    with pytest.raises(ValueError) as e:
        torch_cell(X2HCell)(x, h0, params())
    assert "step function" in str(e.value) and "step=True" in str(e.value)


# ====================================================================== docs


def test_docstring_examples_run():
    import importlib
    import pkgutil

    attempted = 0
    for info in pkgutil.iter_modules(adapters.__path__, "gru_props.adapters."):
        result = doctest.testmod(importlib.import_module(info.name), optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, info.name
        attempted += result.attempted
    result = doctest.testmod(adapters, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert attempted + result.attempted > 40


def test_check_gradients_runs_through_the_layout_adapters():
    from gru_props import ImplementationError, check_gradients

    fn, reset_after = BACKWARDS["torch_layout, dict"]
    # (autograd_backward above returns None gradients at T = 0: not the point here)
    every_step = ["output_contract", "gradients_match_reference", "gradients_with_loss_on_last_state",
                  "inputs_unchanged", "deterministic"]
    report = check_gradients(fn, profile="ci", max_examples=8, properties=every_step)
    assert report.reset_after is reset_after and report.kind == "gradients"
    # the same learner's backward of a Chung-form forward is not the contract's gradient
    wrong = torch_layout(autograd_backward(
        lambda *a: torch_tensor_gru(*a, reverse=True),
        lambda g: dict(zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), g))))
    with pytest.raises(ImplementationError) as info:
        check_gradients(wrong, profile="ci", max_examples=8, properties=["gradients_match_reference"])
    assert info.value.parameter is not None and "torch_layout(" in str(info.value)
