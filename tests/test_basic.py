"""Correctness of the three tiers: the SPEC's equations, agreement, and structural properties.

Every test body runs on every tier (``level1``, ``level2``, ``level3``). The
oracle is ``spec_gru``, written here straight from the SPEC's equations in
float64 with the textbook sigmoid, independent of the library's code.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gru_props
from gru_props import GRUParams, level1, level2, level3
from gru_props import strategies as gst

TIERS = [level1, level2, level3]
TIER_IDS = ["level1", "level2", "level3"]
CONVENTIONS = pytest.mark.parametrize("reset_after", [False, True], ids=["reset_before", "reset_after"])
TIER = pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)

#: Absolute tolerance against the float64 oracle, per computation dtype. float32
#: rounding of pre-activations up to ~100 is ~1e-5 and can grow over a few steps.
ATOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 2e-4}


def _sigmoid(a):
    # The textbook form, evaluated where it cannot overflow.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def spec_gru(x, h0, p, reset_after):
    """The SPEC's equations, literally, in float64. x (B, T, D), h0 (B, H) -> hs, h_T."""
    x = np.asarray(x, dtype=np.float64)
    h = np.asarray(h0, dtype=np.float64)
    q = {k: np.asarray(v, dtype=np.float64) for k, v in p.arrays().items()}
    hs = []
    for t in range(x.shape[1]):
        x_t = x[:, t, :]
        z = _sigmoid(x_t @ q["W_z"] + h @ q["U_z"] + q["b_z"])
        r = _sigmoid(x_t @ q["W_r"] + h @ q["U_r"] + q["b_r"])
        if reset_after:
            n = np.tanh(x_t @ q["W_n"] + q["b_n"] + r * (h @ q["U_n"] + q["b_hn"]))
        else:
            n = np.tanh(x_t @ q["W_n"] + (r * h) @ q["U_n"] + q["b_n"] + q["b_hn"])
        h = z * h + (1 - z) * n
        hs.append(h)
    hs = np.stack(hs, axis=1) if hs else np.zeros((x.shape[0], 0, h.shape[1]))
    return hs, h


def assert_close(got, want, dtype, what=""):
    got64 = np.asarray(got, dtype=np.float64)
    assert got64.shape == np.shape(want), f"{what}: shape {got64.shape} != {np.shape(want)}"
    if got64.size:
        diff = float(np.max(np.abs(got64 - want)))
        assert diff <= ATOL[np.dtype(dtype)], f"{what}: max abs diff {diff:.3g} ({dtype})"


def seeded_case(seed, B=3, T=5, D=4, H=6, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    params = GRUParams.random(D, H, seed=rng, scale=scale, dtype=dtype)
    x = rng.normal(size=(B, T, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
    return x, h0, params


# ------------------------------------------------------------ fixed examples


@TIER
@CONVENTIONS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_matches_spec_equations(tier, reset_after, dtype):
    for seed in range(4):
        x, h0, p = seeded_case(seed, dtype=dtype, scale=1.5)
        hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
        want_hs, want_h = spec_gru(x, h0, p, reset_after)
        assert hs.dtype == dtype and h_T.dtype == dtype
        assert_close(hs, want_hs, dtype, "hs")
        assert_close(h_T, want_h, dtype, "h_T")


@TIER
@CONVENTIONS
def test_tiers_agree_with_each_other(tier, reset_after):
    for seed in range(4):
        x, h0, p = seeded_case(seed, B=4, T=9, D=3, H=7, scale=2.0)
        hs1, h1 = level1.gru_forward(x, h0, p, reset_after=reset_after)
        hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
        np.testing.assert_allclose(hs, hs1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_T, h1, rtol=0, atol=1e-12)


@CONVENTIONS
def test_conventions_differ(reset_after):
    """The two conventions are different functions (so the tests above can tell them apart)."""
    x, h0, p = seeded_case(0, scale=1.5)
    _, a = level1.gru_forward(x, h0, p, reset_after=reset_after)
    _, b = level1.gru_forward(x, h0, p, reset_after=not reset_after)
    assert np.max(np.abs(a - b)) > 1e-3


def test_conventions_coincide_without_reset_effect():
    """With U_n = 0 and b_hn = 0 the reset gate has nothing to act on: both conventions agree."""
    x, h0, p = seeded_case(1)
    p = p.replace(U_n=np.zeros_like(p.U_n), b_hn=np.zeros_like(p.b_hn))
    for tier in TIERS:
        _, a = tier.gru_forward(x, h0, p, reset_after=False)
        _, b = tier.gru_forward(x, h0, p, reset_after=True)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


def test_top_level_functions_are_level3():
    assert gru_props.gru_forward is level3.gru_forward
    assert gru_props.gru_step is level3.gru_step
    assert gru_props.GRUParams is GRUParams


# ------------------------------------------------------- Hypothesis properties


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(dtype=gst.float_dtypes()))
def test_property_matches_spec(tier, reset_after, case):
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    want_hs, want_h = spec_gru(case.x, case.h0, case.params, reset_after)
    assert hs.shape == (case.B, case.T, case.H) and h_T.shape == (case.B, case.H)
    assert hs.dtype == case.dtype and h_T.dtype == case.dtype
    assert_close(hs, want_hs, case.dtype, "hs")
    assert_close(h_T, want_h, case.dtype, "h_T")


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(dtype=gst.float_dtypes()))
def test_property_agrees_with_level1(tier, reset_after, case):
    hs1, h1 = level1.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    atol = 1e-12 if case.dtype == np.float64 else 1e-4
    np.testing.assert_allclose(hs, hs1, rtol=0, atol=atol)
    np.testing.assert_allclose(h_T, h1, rtol=0, atol=atol)


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(gst.dims(min_time=1), dtype=gst.float_dtypes()))
def test_property_last_state_is_last_output(tier, reset_after, case):
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    np.testing.assert_array_equal(hs[:, -1, :], h_T)


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(gst.dims(min_time=1), dtype=gst.float_dtypes()))
def test_property_step_is_one_step_of_forward(tier, reset_after, case):
    h1 = tier.gru_step(case.x[:, 0, :], case.h0, case.params, reset_after=reset_after)
    hs, h_T = tier.gru_forward(case.x[:, :1, :], case.h0, case.params, reset_after=reset_after)
    assert h1.shape == (case.B, case.H) and h1.dtype == case.dtype
    tol = 1e-13 if case.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(h1, h_T, rtol=0, atol=tol)
    np.testing.assert_allclose(h1, hs[:, 0, :], rtol=0, atol=tol)


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(dtype=gst.float_dtypes()))
def test_property_forward_is_fold_of_step(tier, reset_after, case):
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    h = case.h0
    tol = 1e-12 if case.dtype == np.float64 else 1e-4
    for t in range(case.T):
        h = tier.gru_step(case.x[:, t, :], h, case.params, reset_after=reset_after)
        np.testing.assert_allclose(hs[:, t, :], h, rtol=0, atol=tol, err_msg=f"t={t}")
    np.testing.assert_allclose(h_T, h, rtol=0, atol=tol)


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(gst.dims(min_time=2, max_time=6)), split=st.integers(0, 6))
def test_property_state_passing(tier, reset_after, case, split):
    """Running x[:, :k] and then x[:, k:] from the state reached is the full run."""
    k = min(split, case.T)
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    hs_a, h_a = tier.gru_forward(case.x[:, :k], case.h0, case.params, reset_after=reset_after)
    hs_b, h_b = tier.gru_forward(case.x[:, k:], h_a, case.params, reset_after=reset_after)
    np.testing.assert_allclose(np.concatenate([hs_a, hs_b], axis=1), hs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_b, h_T, rtol=0, atol=1e-12)


@TIER
@CONVENTIONS
@given(case=gst.gru_cases(gst.dims(min_batch=2, max_batch=4)))
def test_property_batch_rows_are_independent(tier, reset_after, case):
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    for b in range(case.B):
        hs_b, h_b = tier.gru_forward(case.x[b:b + 1], case.h0[b:b + 1], case.params,
                                     reset_after=reset_after)
        np.testing.assert_allclose(hs_b[0], hs[b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_b[0], h_T[b], rtol=0, atol=1e-12)


@TIER
@CONVENTIONS
@given(case=gst.extreme_gru_cases(dtype=gst.float_dtypes()))
def test_property_state_stays_bounded(tier, reset_after, case):
    """|h_t| <= max(|h0|, 1) for any weights, even ones that saturate every gate."""
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    bound = np.maximum(np.abs(case.h0), 1)
    assert np.all(np.isfinite(hs)) and np.all(np.isfinite(h_T))
    assert np.all(np.abs(hs) <= bound[:, None, :])
    assert np.all(np.abs(h_T) <= bound)


@TIER
@CONVENTIONS
@given(case=gst.seeded_gru_cases(gst.dims(max_batch=8, max_time=12, max_input=16, max_hidden=32,
                                          max_elements=None),
                                 dtype=gst.float_dtypes()))
def test_property_larger_seeded_cases_match_spec(tier, reset_after, case):
    hs, h_T = tier.gru_forward(case.x, case.h0, case.params, reset_after=reset_after)
    want_hs, want_h = spec_gru(case.x, case.h0, case.params, reset_after)
    assert_close(hs, want_hs, case.dtype, "hs")
    assert_close(h_T, want_h, case.dtype, "h_T")
