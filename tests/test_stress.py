"""Stress: long sequences, wide layers, huge magnitudes.

Every result must be finite, obey |h_t| <= max(|h0|, 1) elementwise, raise no
RuntimeWarning (overflow in a naive exp would), and the tiers must still agree.
Sizes are chosen so the whole file runs in a few seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gru_props import GRUParams, level1, level2, level3

TIERS = [level1, level2, level3]
TIER_IDS = ["level1", "level2", "level3"]
TIER = pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
CONVENTIONS = pytest.mark.parametrize("reset_after", [False, True], ids=["reset_before", "reset_after"])


def run_strict(tier, *args, **kwargs):
    """Call a tier with every warning an error and every floating-point error raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            return tier.gru_forward(*args, **kwargs)


def assert_bounded(hs, h_T, h0):
    bound = np.maximum(np.abs(np.asarray(h0, dtype=np.float64)), 1.0)
    assert np.all(np.isfinite(hs)) and np.all(np.isfinite(h_T))
    excess = np.abs(hs) - bound[:, None, :]
    assert np.all(excess <= 0), f"|h| exceeds max(|h0|, 1) by {excess.max():.3g}"
    assert np.all(np.abs(h_T) <= bound)


def make(B, T, D, H, *, seed, w_scale, x_scale, h0_scale=1.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = GRUParams.random(D, H, seed=rng, scale=w_scale, dtype=dtype)
    x = (x_scale * rng.normal(size=(B, T, D))).astype(dtype)
    h0 = rng.uniform(-h0_scale, h0_scale, (B, H)).astype(dtype)
    return x, h0, p


@pytest.fixture(scope="module")
def long_case():
    return make(2, 10_000, 3, 4, seed=1, w_scale=1.5, x_scale=1.0)


@pytest.fixture(scope="module")
def long_reference(long_case):
    x, h0, p = long_case
    return {ra: level1.gru_forward(x, h0, p, reset_after=ra) for ra in (False, True)}


@TIER
@CONVENTIONS
def test_long_sequence(tier, reset_after, long_case, long_reference):
    x, h0, p = long_case
    hs, h_T = run_strict(tier, x, h0, p, reset_after=reset_after)
    assert hs.shape == (2, 10_000, 4)
    assert_bounded(hs, h_T, h0)
    want_hs, want_h = long_reference[reset_after]
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=1e-10)


@CONVENTIONS
def test_long_sequence_level3_final_state_only(reset_after, long_case, long_reference):
    x, h0, p = long_case
    for chunk in (None, 1, 999):
        none, h_T = run_strict(level3, x, h0, p, reset_after=reset_after,
                               return_sequences=False, chunk_size=chunk)
        assert none is None
        np.testing.assert_allclose(h_T, long_reference[reset_after][1], rtol=0, atol=1e-10)


@TIER
@CONVENTIONS
def test_wide_layer(tier, reset_after):
    x, h0, p = make(4, 20, 32, 256, seed=2, w_scale=None, x_scale=1.0)
    hs, h_T = run_strict(tier, x, h0, p, reset_after=reset_after)
    assert hs.shape == (4, 20, 256)
    assert_bounded(hs, h_T, h0)
    want_hs, want_h = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=1e-10)


@TIER
@CONVENTIONS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_magnitudes(tier, reset_after, dtype):
    """Weights and inputs of magnitude 1e4 saturate every gate; nothing overflows or warns."""
    x, h0, p = make(3, 200, 5, 8, seed=3, w_scale=1e4, x_scale=1e4, dtype=dtype)
    hs, h_T = run_strict(tier, x, h0, p, reset_after=reset_after)
    assert hs.dtype == dtype
    assert_bounded(hs, h_T, h0)
    want_hs, _ = level1.gru_forward(x, h0, p, reset_after=reset_after)
    atol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=atol)
    h1 = tier.gru_step(x[:, 0], h0, p, reset_after=reset_after)
    np.testing.assert_allclose(h1, want_hs[:, 0], rtol=0, atol=atol)


@TIER
@CONVENTIONS
def test_large_initial_state_decays_within_its_bound(tier, reset_after):
    """|h0| up to 50: the bound is max(|h0|, 1), and the state never grows past it."""
    x, h0, p = make(3, 300, 4, 6, seed=4, w_scale=2.0, x_scale=3.0, h0_scale=50.0)
    hs, h_T = run_strict(tier, x, h0, p, reset_after=reset_after)
    assert_bounded(hs, h_T, h0)
    want_hs, _ = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=1e-12, atol=1e-10)


@TIER
@CONVENTIONS
def test_mixed_extreme_magnitudes(tier, reset_after):
    """Per-gate magnitudes from 1e-4 to 1e4 in one parameter set, float64 and float32."""
    rng = np.random.default_rng(5)
    D, H = 4, 5
    scales = [1e-4, 1e4, 1.0, 1e3, 1e-2, 1e4, 50.0, 1e2, 1e4, 1e-3]
    arrays = {k: s * v for (k, v), s in zip(GRUParams.random(D, H, seed=rng).arrays().items(), scales)}
    for dtype in (np.float64, np.float32):
        p = GRUParams(**{k: v.astype(dtype) for k, v in arrays.items()})
        x = (rng.choice([-1e4, -1.0, 1e-3, 1.0, 1e4], size=(2, 50, D))).astype(dtype)
        h0 = rng.uniform(-1, 1, (2, H)).astype(dtype)
        hs, h_T = run_strict(tier, x, h0, p, reset_after=reset_after)
        assert hs.dtype == dtype
        assert_bounded(hs, h_T, h0)
