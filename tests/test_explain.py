"""Explanations: combinations of slips whose model reproduces the function, and nothing else.

Each explanation is held to the SPEC's promise: ``err.bug_model`` has the
checked function's own contract and returns what the function returns, on
the counterexample and on 50 fresh cases.
"""

import functools

import combos
import grad_zoo as gz
import numpy as np
import pytest
import zoo

from gru_props import GRUParams, ImplementationError, check_gradients, check_implementation
from gru_props.adapters import torch_layout


def _fresh(n=50, seed=0, bias=True, step=False):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        B, T, D, H = (int(v) for v in rng.integers(2, 5, size=4))  # B >= 2: a published cell needs it
        T = 1 if step else T
        p = GRUParams.random(D, H, seed=rng, scale=float(rng.choice([0.5, 1.0, 2.0])))
        if not bias:
            p = p.replace(**{k: np.zeros(H) for k in ("b_z", "b_r", "b_n", "b_hn")})
        yield (rng.standard_normal((B, T, D)), rng.uniform(-1, 1, (B, H)), p, rng.standard_normal((B, T, H)),
               rng.standard_normal((B, H)))


def _same(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-8, equal_nan=True)


def _forward_reproduced(err, fn, n=50, bias=True):
    for x, h0, p, _, _ in _fresh(n, bias=bias):
        got, mine = fn(x, h0, p), err.bug_model(x, h0, p)
        got = got if isinstance(got, tuple) else (got,)
        assert _same(got[0], mine[0]), (err.diagnoses, x.shape)
        if len(got) == 2:
            assert _same(got[1], mine[1]), (err.diagnoses, x.shape)


def _backward_reproduced(err, fn, n=50):
    for x, h0, p, dhs, dh_T in _fresh(n, seed=1):
        got, mine = fn(x, h0, p, dhs, dh_T), err.bug_model(x, h0, p, dhs, dh_T)
        assert _same(got[0], mine[0]) and _same(got[1], mine[1]), (err.diagnoses, x.shape)
        grads = got[2] if isinstance(got[2], dict) else got[2].arrays()
        for k, v in mine[2].arrays().items():
            assert _same(grads[k], v), (err.diagnoses, k, x.shape)


def _fails(fn, check=check_implementation, **kw):
    with pytest.raises(ImplementationError) as info:
        check(fn, profile="ci", **kw)
    return info.value


# ------------------------------------------------------------------ combinations
FORWARD_PAIRS = combos.forward_combinations(2)[::7][:6]
FORWARD_TRIPLES = combos.forward_combinations(3)[::37][:4]


@pytest.mark.parametrize("slips", FORWARD_PAIRS + FORWARD_TRIPLES, ids="+".join)
def test_forward_slips_that_come_together_are_each_named_and_their_model_reproduces_the_function(slips):
    fn = functools.partial(combos.learner_forward, slips=frozenset(slips))
    err = _fails(fn, reset_after=False, properties=["matches_reference"])
    assert set(err.diagnoses) == set(slips), str(err)
    assert err.diagnosis == (slips[0] if len(slips) == 1 else None)
    _forward_reproduced(err, fn)
    text = str(err)
    assert all(name in text for name in slips) and "err.bug_model" in text


BACKWARD_PAIRS = combos.backward_combinations(2)[::5][:5]
BACKWARD_TRIPLES = combos.backward_combinations(3)[::23][:3]


@pytest.mark.parametrize("slips", BACKWARD_PAIRS + BACKWARD_TRIPLES, ids="+".join)
def test_backward_slips_that_come_together_are_each_named_and_their_model_reproduces_the_function(slips):
    fn = functools.partial(gz.learner_backward, bug=frozenset(slips))
    err = _fails(fn, check_gradients, reset_after=False, properties=["gradients_match_reference"])
    assert set(err.diagnoses) == set(slips), str(err)
    _backward_reproduced(err, fn)


# ------------------------------------------------------------------ no false explanations
def test_a_slip_outside_the_vocabulary_is_not_explained_and_the_report_says_no_more():
    def scaled_candidate(x, h0, p):  # the candidate weighted 1.1 times: no slip of the vocabulary
        h, hs = h0, []
        for t in range(x.shape[1]):
            z = 1 / (1 + np.exp(-(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)))
            r = 1 / (1 + np.exp(-(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)))
            n = np.tanh(x[:, t] @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
            h = z * h + 1.1 * (1 - z) * n
            hs.append(h)
        return np.stack(hs, axis=1), h

    err = _fails(scaled_candidate, reset_after=False, properties=["matches_reference"])
    assert err.diagnoses == () and err.bug_model is None and err.diagnosis is None
    assert "not one of the known bugs" in str(err)


def test_a_correct_function_is_never_diagnosed():
    report = check_implementation(zoo.loop_gru, profile="ci", max_examples=20)
    assert report.complete and not report.warnings or all("dtype" in w or "h0" in w for w in report.warnings)


# ------------------------------------------------------------------ the model's contract
def test_the_model_of_a_step_function_is_a_step_function():
    err = _fails(zoo.step_reversed_interpolation, step=True, properties=["matches_reference"])
    x_t, h = np.ones((2, 3)), np.zeros((2, err.counterexample.H))
    p = GRUParams.random(3, err.counterexample.H, seed=3)
    assert _same(err.bug_model(x_t, h, p), zoo.step_reversed_interpolation(x_t, h, p))


def test_the_model_through_an_adapter_has_the_checked_functions_contract():
    def torch_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):  # z and r exchanged
        H = weight_hh.shape[1]
        h, hs = h0, []
        for t in range(x.shape[1]):
            gi, gh = x[:, t] @ weight_ih.T + bias_ih, h @ weight_hh.T + bias_hh
            z = 1 / (1 + np.exp(-(gi[:, :H] + gh[:, :H])))             # rows r used for z
            r = 1 / (1 + np.exp(-(gi[:, H:2 * H] + gh[:, H:2 * H])))
            n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            h = z * h + (1 - z) * n
            hs.append(h)
        return np.stack(hs, axis=1), h

    checked = torch_layout(torch_gru)
    err = _fails(checked, properties=["matches_reference"])
    assert err.diagnoses == ("gates_swapped",) and err.reset_after is True
    _forward_reproduced(err, checked)


def test_the_model_of_a_chung_form_and_of_a_bias_free_function_follows_it():
    err = _fails(zoo.loop_gru, interpolation="chung", properties=["matches_reference"])
    assert err.diagnoses == ("reversed_interpolation",)
    _forward_reproduced(err, zoo.loop_gru)

    def bias_free_no_reset(x, h0, p):
        return combos.learner_forward(x, h0, p, slips={"reset_gate_ignored"})

    err = _fails(bias_free_no_reset, bias=False, reset_after=False, properties=["matches_reference"])
    assert err.diagnoses == ("reset_gate_ignored",)
    _forward_reproduced(err, bias_free_no_reset, bias=False)


def test_the_backward_model_of_a_step_function_is_a_step_backward():
    fn = gz.BUGGY["step_dz_sign_flipped"][0]
    err = _fails(fn, check_gradients, step=True, reset_after=False, properties=["gradients_match_reference"])
    assert err.diagnoses == ("dz_sign_flipped",)
    rng = np.random.default_rng(4)
    p = GRUParams.random(3, 4, seed=4)
    x_t, h, dh = rng.standard_normal((2, 3)), rng.uniform(-1, 1, (2, 4)), rng.standard_normal((2, 4))
    got, mine = fn(x_t, h, p, dh), err.bug_model(x_t, h, p, dh)
    assert _same(got[0], mine[0]) and _same(got[1], mine[1])


# ------------------------------------------------------------------ published patterns
UNEXPLAINED = {
    "d2l_matmul_for_hadamard": "a matrix product for an elementwise one: its shape depends on B == H",
    "cmu_old_nodes_backward": "the product rule swapped at three products at once, in a node graph",
    "cmu_described_hidden_bias_backward": "bias_hh not accumulated: in gru_props' terms half of each of b_z, "
                                          "b_r, whose two gradients then disagree",
}


def _published():
    from published import ENTRIES

    return [pytest.param(e, id=e.name) for e in ENTRIES if not e.correct and e.name not in UNEXPLAINED]


@pytest.mark.parametrize("entry", _published())
def test_published_bug_patterns_are_explained_by_a_model_that_reproduces_them(entry):
    check = check_implementation if entry.kind == "forward" else check_gradients
    err = _fails(entry.glue, check, **entry.check_kwargs)
    assert err.diagnoses and err.bug_model is not None, str(err)
    args = dict(bias=entry.check_kwargs.get("bias", True), step=entry.check_kwargs.get("step", False))
    checked = entry.glue
    for x, h0, p, dhs, dh_T in _fresh(10, seed=7, **args):
        if args["step"]:
            x, dhs = x[:, 0], dhs[:, 0]
        if entry.kind == "forward":
            got, mine = checked(x, h0, p), err.bug_model(x, h0, p)
            got = got if isinstance(got, tuple) else (got,)
            mine = mine if isinstance(mine, tuple) else (mine,)
            assert _same(got[0], mine[0]), (entry.name, err.diagnoses)
        else:
            got = checked(x, h0, p, dhs) if args["step"] else checked(x, h0, p, dhs, dh_T)
            mine = err.bug_model(x, h0, p, dhs) if args["step"] else err.bug_model(x, h0, p, dhs, dh_T)
            grads = got[2] if isinstance(got[2], dict) else got[2].arrays()
            compared = [k for k in mine[2].arrays() if args["bias"] or not k.startswith("b_")]
            assert all(_same(grads[k], mine[2].arrays()[k]) for k in compared), (entry.name, err.diagnoses)


def _signed_learner(x, h0, p, slip=""):
    """A learner's loop (reset before U_n) with one sign, weight or index slip of the kind mutants make."""
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    B, T, _ = x.shape
    hs = np.zeros((B, T, p.H))
    h = h0
    for t in range(T):
        x_t = x[:, t - 1] if slip == "x_prev" else x[:, t]
        U_z = p.U_r if slip == "U_r_in_z" else p.U_z
        b_z = -p.b_z if slip == "minus_b_z" else p.b_z
        z = sigmoid(x_t @ p.W_z + h @ U_z + b_z)
        z = -z if slip == "minus_z" else z
        r = sigmoid(x_t @ p.W_r + (-1 if slip == "minus_hU_r" else 1) * (h @ p.U_r) + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = (-z * h if slip == "minus_state" else z * h) + (1 - z) * n
        hs[:, t] = h
    return hs, h


@pytest.mark.parametrize("slip, names", [
    ("x_prev", ("input_shifted",)),
    ("U_r_in_z", ("update_gate_recurrent_from_r",)),
    ("minus_b_z", ("update_gate_bias_negated",)),
    ("minus_z", ("update_gate_negated",)),
    ("minus_hU_r", ("reset_gate_recurrent_negated",)),
    ("minus_state", ("interpolation_state_negated",)),
])
def test_signs_other_gates_weights_and_shifted_inputs_are_named_with_true_models(slip, names):
    fn = functools.partial(_signed_learner, slip=slip)
    with pytest.raises(ImplementationError) as info:
        check_implementation(fn, reset_after=False, profile="ci")
    err = info.value
    assert err.diagnoses == names, (err.diagnoses, str(err)[:1500])
    _forward_reproduced(err, fn)
    assert "negated" in str(err) or "wrong quantity" in str(err)


def test_a_gradient_accumulated_with_minus_equals_is_named_with_a_true_model():
    from gru_props import level1

    def minus_equals(x, h0, p, dhs, dh_T):  # dU_r -= h_prev.T @ da_r: that one gradient negated
        dx, dh0, grads = level1.gru_backward(x, h0, p, dhs, dh_T)
        g = grads.arrays()
        g["U_r"] = -g["U_r"]
        return dx, dh0, g

    err = _fails(minus_equals, check=check_gradients, reset_after=False)
    assert err.diagnoses == ("U_r_gradient_negated",) and err.parameter == "U_r", str(err)[:1500]
    _backward_reproduced(err, minus_equals)
    assert "negated" in str(err)
