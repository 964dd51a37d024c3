"""Level 3's final-state-only mode keeps peak memory independent of T.

``tracemalloc`` sees every NumPy buffer allocation and is deterministic, so
these are exact byte counts, not timings: a regression that holds (B, T, 3H)
or (B, T, H) in the final-state mode fails here on any machine.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

from gru_props import GRUParams, level1, level3

B, D, H = 8, 64, 64


def _peak_bytes(fn):
    """Peak bytes allocated (above the level at the start) while ``fn`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base, result


@pytest.fixture(scope="module")
def params():
    p = GRUParams.random(D, H, seed=0, dtype=np.float32)
    for reset_after in (False, True):  # prepare and cache the stacked weights up front
        level3.gru_forward(np.zeros((B, 1, D), np.float32), None, p, reset_after)
    return p


def _x(T):
    return np.random.default_rng(T).uniform(-1, 1, (B, T, D)).astype(np.float32)


@pytest.mark.parametrize("reset_after", [False, True])
def test_final_state_peak_memory_does_not_grow_with_T(params, reset_after):
    x_short, x_long = _x(1_000), _x(10_000)
    short, _ = _peak_bytes(
        lambda: level3.gru_forward(x_short, None, params, reset_after, return_sequences=False)
    )
    long, (hs, h_T) = _peak_bytes(
        lambda: level3.gru_forward(x_long, None, params, reset_after, return_sequences=False)
    )
    assert hs is None and h_T.shape == (B, H)
    assert long <= 1.1 * short, (short, long)
    # Far below one copy of the per-step projections of the long input, (T, B, 3H).
    assert long < x_long.shape[1] * B * 3 * H * 4 / 4, long


@pytest.mark.parametrize("reset_after", [False, True])
def test_full_sequence_mode_does_grow_with_T(params, reset_after):
    x_short, x_long = _x(1_000), _x(10_000)
    short, (hs_short, _) = _peak_bytes(lambda: level3.gru_forward(x_short, None, params, reset_after))
    long, (hs, _) = _peak_bytes(lambda: level3.gru_forward(x_long, None, params, reset_after))
    assert hs.shape == (B, 10_000, H)
    assert long >= hs.nbytes  # it has to hold the (B, T, H) result
    # ...so it grows at least as fast as the result does.
    assert long - short >= hs.nbytes - hs_short.nbytes, (short, long)


def test_small_chunks_bound_memory_further(params):
    x = _x(2_000)
    default, (_, h_default) = _peak_bytes(
        lambda: level3.gru_forward(x, None, params, True, return_sequences=False)
    )
    small, (_, h_small) = _peak_bytes(
        lambda: level3.gru_forward(x, None, params, True, return_sequences=False, chunk_size=16)
    )
    assert small < default / 10, (small, default)
    np.testing.assert_allclose(h_small, h_default, rtol=0, atol=1e-5)
    np.testing.assert_allclose(h_small, level1.gru_forward(x, None, params, True)[1], rtol=0, atol=1e-5)
