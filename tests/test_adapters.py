"""gru_props.adapters: learners' layouts wrapped into the canonical fn(x, h0, params).

For each NumPy layout a correct GRU written natively in it (loops, its own
sigmoid, its framework's gate order; see learners.py) passes
``check_implementation`` and its reversed-interpolation twin is caught and
named; what each adapter hands over; compositions, the wrapper protocol,
read-only inputs and bad use. The torch adapters, torch-autograd backward
passes and the docstring examples are in test_adapters_torch.py.
"""

from __future__ import annotations

import copy
import functools
import inspect
import types

import numpy as np
import pytest
from learners import (
    colah_gru,
    column_vector_example,
    inputs,
    keras_gru,
    one_example_step,
    onnx_gru,
    params,
    seq_first_gru,
    torch_layout_gru,
)

from gru_props import GRUParams, adapters, check_implementation, level1
from gru_props.adapters import (
    LayoutParams,
    concat_layout,
    describe,
    keras_layout,
    onnx_layout,
    time_major,
    torch_layout,
    transposed_weights,
    unbatched,
)
from gru_props.core.params import _writable_copy

CHECK = dict(profile="ci", max_examples=8)


def assert_reversed_is_caught(fn, **kwargs):
    with pytest.raises(AssertionError) as e:
        check_implementation(fn, **CHECK, **kwargs)
    assert e.value.diagnosis == "reversed_interpolation", str(e.value)


def _innermost(fn):
    while hasattr(fn, "__gru_props_adapter__"):
        fn = fn.__wrapped__
    return fn


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
}


@pytest.mark.parametrize("name", list(LEARNERS))
def test_correct_learner_gru_passes_and_its_reversed_twin_is_named(name):
    good, bad, kwargs, reset_after = LEARNERS[name]
    report = check_implementation(good, **CHECK, **kwargs)
    assert report.reset_after is reset_after
    assert_reversed_is_caught(bad, **kwargs)


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
    np.testing.assert_allclose(hs, level1.gru_forward(x, h0, p, reset_after=True)[0], rtol=0, atol=1e-13)


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
        _ = cp.U_z  # folded into W_z
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
    ]:
        out = fn(x, h0, p)
        hs = out[0] if isinstance(out, tuple) else out
        assert hs.dtype == dtype, describe(fn)
        np.testing.assert_allclose(hs, want, **tol, err_msg=describe(fn))


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
    assert list(inspect.signature(outer).parameters) == ["x", "h0", "params", "rest"]


def test_describe_rebuilds_the_same_function():
    namespace = {**{n: getattr(adapters, n) for n in adapters.__all__},
                 "seq_first_gru": seq_first_gru, "keras_gru": keras_gru}
    p = params()
    x, h0 = inputs()
    for fn in [time_major(seq_first_gru), keras_layout(reset_after=False)(unbatched(
               lambda x, h0, *w: keras_gru(x[None], h0[None], *w, reset_after=False)[0][0])),
               onnx_layout(num_directions_axis=True)(time_major(seq_first_gru)),
               concat_layout(order="xh")(seq_first_gru)]:
        text = describe(fn, name="INNER")
        rebuilt = eval(text, {**namespace, "INNER": _innermost(fn)})
        assert describe(rebuilt, name="INNER") == text
        assert rebuilt.__gru_props_requires__ == fn.__gru_props_requires__
        if "onnx" in text or "concat" in text:
            continue  # those two wrap a GRUParams GRU here only to test the spelling
        a, b = fn(x, h0, p), rebuilt(x, h0, p)
        np.testing.assert_array_equal(a[0] if isinstance(a, tuple) else a,
                                      b[0] if isinstance(b, tuple) else b)


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
])
def test_writes_reach_writable_params_so_the_mutation_check_sees_them(wrap):
    """With writable params (the checker's mutation test), an in-place write shows up in them."""
    def writes_first_weight(x, h0, *weights):
        w = weights[0] if len(weights) > 1 else weights[0].W_z
        w[0, 0] += 1.0
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
    (lambda: torch_layout(keras_layout(_dummy)), ValueError, ["torch_layout", "keras_layout", "one layout"]),
    (lambda: transposed_weights(concat_layout(_dummy)), ValueError,
     ["concat_layout(transposed_weights(_dummy))"]),
    (lambda: torch_layout(transposed_weights(_dummy)), ValueError, ["transposed_weights"]),
    (lambda: transposed_weights(transposed_weights(_dummy)), ValueError, ["twice"]),
    (lambda: time_major(unbatched(_dummy)), ValueError, ["unbatched", "batch axis"]),
    (lambda: unbatched(unbatched(_dummy)), ValueError, ["twice"]),
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
