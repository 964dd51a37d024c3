"""Regression: the tiers reproduce golden outputs stored in tests/data/golden.json.

The goldens were written once by tests/data/make_golden.py (from level1, after
confirming them against ONNX's reference evaluator and torch.nn.GRU). This file
only reads them: nothing here recomputes an expected value from a reference.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from gru_props import GRUParams, level1, level2, level3

TIERS = [level1, level2, level3]
TIER_IDS = ["level1", "level2", "level3"]
GOLDEN = pathlib.Path(__file__).parent / "data" / "golden.json"
#: Stored values came from float64/float32 runs on one machine; allow BLAS
#: summation-order differences elsewhere, nothing more.
ATOL = {"float64": 1e-12, "float32": 2e-6}


def _load():
    doc = json.loads(GOLDEN.read_text())
    return doc["cases"]


CASES = _load()


def _case_id(c):
    return f"{c['dtype']}-seed{c['seed']}"


def _arrays(c):
    dt = np.dtype(c["dtype"])
    x = np.array(c["x"], dtype=dt)
    h0 = np.array(c["h0"], dtype=dt)
    params = GRUParams(**{k: np.array(v, dtype=dt) for k, v in c["params"].items()})
    return x, h0, params


def test_golden_file_covers_both_conventions_and_dtypes():
    assert {c["dtype"] for c in CASES} == {"float64", "float32"}
    for c in CASES:
        assert set(c["outputs"]) == {"reset_before", "reset_after"}
        x, h0, p = _arrays(c)
        assert x.shape == (c["B"], c["T"], c["D"]) and h0.shape == (c["B"], c["H"])
        assert (p.D, p.H) == (c["D"], c["H"])
        # The stored outputs are not degenerate: the conventions differ, states move.
        a = np.array(c["outputs"]["reset_before"]["hs"])
        b = np.array(c["outputs"]["reset_after"]["hs"])
        assert np.max(np.abs(a - b)) > 1e-3
        assert np.max(np.abs(a[:, -1] - h0)) > 1e-2


@pytest.mark.parametrize("c", CASES, ids=_case_id)
def test_seeded_inputs_are_reproducible(c):
    """The stored inputs are still what the seed gives: GRUParams.random and the recipe are stable."""
    dt = np.dtype(c["dtype"])
    rng = np.random.default_rng(c["seed"])
    params = GRUParams.random(c["D"], c["H"], seed=rng, scale=1.5, dtype=dt)
    x = rng.normal(size=(c["B"], c["T"], c["D"])).astype(dt)
    h0 = rng.uniform(-1, 1, (c["B"], c["H"])).astype(dt)
    sx, sh0, sp = _arrays(c)
    np.testing.assert_array_equal(x, sx)
    np.testing.assert_array_equal(h0, sh0)
    for name, arr in params.arrays().items():
        np.testing.assert_array_equal(arr, getattr(sp, name), err_msg=name)


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
@pytest.mark.parametrize("convention", ["reset_before", "reset_after"])
@pytest.mark.parametrize("c", CASES, ids=_case_id)
def test_tier_reproduces_golden_outputs(tier, convention, c):
    x, h0, params = _arrays(c)
    want = c["outputs"][convention]
    hs, h_T = tier.gru_forward(x, h0, params, reset_after=convention == "reset_after")
    assert hs.dtype == np.dtype(c["dtype"]) and h_T.dtype == np.dtype(c["dtype"])
    np.testing.assert_allclose(hs, np.array(want["hs"]), rtol=0, atol=ATOL[c["dtype"]])
    np.testing.assert_allclose(h_T, np.array(want["h_T"]), rtol=0, atol=ATOL[c["dtype"]])
    h1 = tier.gru_step(x[:, 0], h0, params, reset_after=convention == "reset_after")
    np.testing.assert_allclose(h1, np.array(want["hs"])[:, 0], rtol=0, atol=ATOL[c["dtype"]])
