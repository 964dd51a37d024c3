"""The slips added for learner-style code: each written by hand, as a learner writes it, gets exactly its name,
and its model reproduces the code on 50 fresh cases.

The functions here are independent of gru_props' own models (``forward.terms``, ``backward.terms``): a
model that computed its slip differently from the way the code makes it would fail these tests.
"""

import functools

import numpy as np
import pytest

from gru_props import GRUParams, ImplementationError, check_gradients, check_implementation
from gru_props.backward import bugs as backward_bugs
from gru_props.backward import terms as backward_terms
from gru_props.forward import bugs as forward_bugs
from gru_props.forward import terms as forward_terms


def _fresh(n=50, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        B, T, D, H = (int(v) for v in rng.integers(1, 5, size=4))
        p = GRUParams.random(D, H, seed=rng, scale=float(rng.choice([0.5, 1.0, 2.0])))
        yield (rng.standard_normal((B, T, D)), rng.uniform(-1, 1, (B, H)), p, rng.standard_normal((B, T, H)),
               rng.standard_normal((B, H)))


def _same(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-6, atol=1e-8, equal_nan=True)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ------------------------------------------------------------------ forward
def _forward_learner(x, h0, p, slip=""):
    """A reset-before GRU loop with one slip at the interpolation or in what is stored and returned."""
    B, T, _ = x.shape
    hs = np.zeros((B, T, p.H))
    h = h0
    n = h0
    for t in range(T):
        z = _sigmoid(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)
        z = 1.0 ** z if slip == "z_is_one" else z
        r = _sigmoid(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x[:, t] @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        if slip == "one_minus_r":
            h = z * h + (1 - r) * n
        elif slip == "r_weighs_state":
            h = r * h + (1 - z) * n
        elif slip == "z_weighs_candidate":
            h = z * h + z * n
        elif slip == "h_for_n":
            h = z * h + (1 - z) * h
        elif slip == "times":
            h = z * h * ((1 - z) * n)
        else:
            h = z * h + (1 - z) * n
        hs[:, t] = n if slip == "store_n" else h
    return hs, (n if slip == "return_n" else h)


FORWARD = [
    ("one_minus_r", "interpolation_candidate_uses_r"),
    ("r_weighs_state", "interpolation_state_uses_r"),
    ("z_weighs_candidate", "interpolation_candidate_uses_z"),
    ("h_for_n", "state_never_updated"),
    ("z_is_one", "state_never_updated"),
    ("times", "interpolation_terms_multiplied"),
    ("store_n", "states_are_candidates"),
    ("return_n", "final_state_is_candidate"),
]


@pytest.mark.parametrize("slip, name", FORWARD, ids=[s for s, _ in FORWARD])
def test_a_forward_slip_written_by_hand_gets_its_name_and_a_model_that_reproduces_it(slip, name):
    fn = functools.partial(_forward_learner, slip=slip)
    with pytest.raises(ImplementationError) as info:
        check_implementation(fn, reset_after=False, profile="ci", properties=["matches_reference"])
    err = info.value
    assert err.diagnoses == (name,), (err.diagnoses, str(err)[:1500])
    for x, h0, p, _, _ in _fresh():
        got, mine = fn(x, h0, p), err.bug_model(x, h0, p)
        assert _same(got[0], mine[0]) and _same(got[1], mine[1]), (name, x.shape)
    assert forward_terms.SLIPS[name].hint in str(err)


# ------------------------------------------------------------------ backward
def _backward_learner(x, h0, p, dhs, dh_T, slip="", reset_after=False):
    """A learner's BPTT that computes its own forward (caching x_t, h_prev, z, r, n, the recurrent candidate
    term) and then walks back in time, with one slip in either."""
    def sig(a):
        return np.tanh(a) if slip == "fwd_tanh" else 1.0 / (1.0 + np.exp(-a))

    B, T, D = x.shape
    cache = []
    h = h0
    for t in range(T):
        xt = x[:, t - 1] if slip == "fwd_x_prev" else x[:, t]
        U_z = p.U_z.T if slip == "fwd_Uz_T" else p.U_z
        z = sig(xt @ p.W_z + h @ U_z + p.b_z)
        z = -z if slip == "fwd_minus_z" else z
        r = sig(xt @ p.W_r + h @ p.U_r + p.b_r)
        hn = h @ p.U_n + (0.0 if slip == "fwd_no_b_hn" else p.b_hn)
        if reset_after:
            n = np.tanh(xt @ p.W_n + p.b_n + r * hn)
        else:
            n = np.tanh(xt @ p.W_n + (r * h) @ p.U_n + p.b_n + (0.0 if slip == "fwd_no_b_hn" else p.b_hn))
        cache.append((xt, h, z, r, n, hn))
        h = z * h if slip == "fwd_state_only" else z * h + (1 - z) * n
    g = {k: np.zeros_like(v) for k, v in p.arrays().items()}
    dx = np.zeros_like(x)
    dh_next = dh_T
    dh = dh_T
    for t in (range(T) if slip == "loop_forward" else reversed(range(T))):
        xt, h_prev, z, r, n, hn = cache[t]
        dh = dhs[:, t] + dh_next
        dz = np.zeros_like(dh) if slip == "dz_zero" else dh * (h_prev - n)
        dn = dh * (1 - r) if slip == "dn_r" else dh * (1 - z)
        da_n = dn * (1 - n ** 2)
        da_z = dz * z if slip == "sig_no_one_minus" else dz * z * (1 - z)
        if reset_after:
            dr = da_n * hn
            dg = da_n * r
            g["U_n"] += h_prev.T @ dg
            g["b_hn"] += dg.sum(0)
            through_n = dg @ p.U_n.T
        else:
            drh = da_n @ p.U_n.T
            dr = drh * h_prev
            g["U_n"] += (r * h_prev).T @ da_n
            g["b_hn"] += da_n.sum(0)
            through_n = drh * r
        da_r = dr * r if slip in ("sig_r_no_one_minus", "sig_no_one_minus") else dr * r * (1 - r)
        g["W_z"] += xt.T @ (da_r if slip == "dW_z_from_r" else da_z)
        g["W_r"] += xt.T @ da_r
        g["W_n"] += xt.T @ da_n
        g["U_z"] += h_prev.T @ (da_r if slip == "dU_z_from_r" else da_z)
        g["U_r"] += h_prev.T @ da_r
        g["b_z"] += da_z.sum(0)
        g["b_r"] += (da_z if slip == "db_r_from_z" else da_r).sum(0)
        g["b_n"] += da_n.sum(0)
        dx[:, t] = da_z @ p.W_z.T + da_r @ p.W_r.T + da_n @ p.W_n.T
        dh_next = dh * z + through_n + da_z @ p.U_z.T + da_r @ p.U_r.T
    return dx, (dh if slip == "return_dh" else dh_next), g


BACKWARD = [
    ("fwd_minus_z", False, ("forward_update_gate_negated",)),
    ("fwd_tanh", True, ("forward_gates_tanh",)),
    ("fwd_no_b_hn", True, ("forward_b_hn_ignored",)),
    ("fwd_x_prev", False, ("forward_input_shifted",)),
    ("fwd_state_only", False, ("forward_interpolation_candidate_missing",)),
    ("fwd_Uz_T", True, ("forward_update_gate_recurrent_transposed",)),
    ("loop_forward", False, ("backward_loop_forward_in_time",)),
    ("return_dh", True, ("dh0_is_first_state_gradient",)),
    ("dn_r", False, ("dn_uses_r",)),
    ("dz_zero", True, ("dz_missing",)),
    ("sig_r_no_one_minus", False, ("reset_gate_sigmoid_derivative_missing_one_minus",)),
    ("sig_no_one_minus", True, ("sigmoid_derivative_missing_one_minus",)),
    ("dW_z_from_r", False, ("W_z_gradient_from_r",)),
    ("dU_z_from_r", True, ("U_z_gradient_from_r",)),
    ("db_r_from_z", False, ("b_r_gradient_from_z",)),
]


@pytest.mark.parametrize("slip, reset_after, names", BACKWARD, ids=[n[0] for _, _, n in BACKWARD])
def test_a_backward_slip_written_by_hand_gets_its_name_and_a_model_that_reproduces_it(slip, reset_after, names):
    fn = functools.partial(_backward_learner, slip=slip, reset_after=reset_after)
    with pytest.raises(ImplementationError) as info:
        check_gradients(fn, reset_after=reset_after, profile="ci", properties=["gradients_match_reference"])
    err = info.value
    assert err.diagnoses == names, (err.diagnoses, str(err)[:1500])
    for x, h0, p, dhs, dh_T in _fresh(seed=1):
        got, mine = fn(x, h0, p, dhs, dh_T), err.bug_model(x, h0, p, dhs, dh_T)
        assert _same(got[0], mine[0]) and _same(got[1], mine[1]), (names, x.shape)
        for k, v in mine[2].arrays().items():
            assert _same(got[2][k], v), (names, k, x.shape)


def test_the_unslipped_learners_here_are_correct():
    from gru_props import level1

    for x, h0, p, dhs, dh_T in _fresh(10, seed=2):
        for ra in (False, True):
            dx, dh0, g = _backward_learner(x, h0, p, dhs, dh_T, reset_after=ra)
            ref = level1.gru_backward(x, h0, p, dhs, dh_T, reset_after=ra)
            assert _same(dx, ref[0]) and _same(dh0, ref[1])
            assert all(_same(g[k], v) for k, v in ref[2].arrays().items())
        hs, h_T = _forward_learner(x, h0, p)
        ref_hs, ref_h_T = level1.gru_forward(x, h0, p, reset_after=False)
        assert _same(hs, ref_hs) and _same(h_T, ref_h_T)


# ------------------------------------------------------------------ words
def test_every_slip_and_named_combination_has_its_words():
    for slip in forward_terms.SLIPS_LIST + backward_terms.SLIPS_LIST:
        assert all(getattr(slip, f) for f in ("name", "site", "term", "how", "equation", "text", "hint")), slip
    for name in list(backward_terms.SLIPS) + list(backward_terms.COMBINATIONS):
        words = backward_bugs.bug(name)
        assert words.summary and len(words.hints) == 3, name
    for name in list(forward_terms.SLIPS) + list(forward_terms.COMBINATIONS):
        assert forward_bugs.bug(name).summary, name


def test_a_recomputed_forward_slip_is_the_forward_slip_inside_the_backward():
    slip = backward_terms.SLIPS["forward_update_gate_negated"]
    assert forward_terms.SLIPS["update_gate_negated"].text in slip.text
    assert slip.site.startswith("fwd.") and "forward pass" in slip.hint
    assert "forward_wrong_reset_convention" not in backward_terms.SLIPS  # that one is reset_convention_mixed
