"""Keras 3 as an independent reference: its GRU layer against the converters and the three tiers.

``keras.layers.GRU`` runs on the torch backend. Tolerances follow what Keras
actually computes: float32 everywhere, and float64 for reset_after=True only.
Keras 3 turns float64 matrix products into float32 ones on every backend but
TensorFlow (``keras/src/backend/common/dtypes.py``, "to be aligned with JAX's
default behavior"); its reset_after=True layer goes through the torch
backend's own GRU, plain torch ops in float64, while reset_after=False takes
the generic cell loop and its float32 products. So float64 with
reset_after=False is held to float32-level tolerance, and said so where used.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before anything imports keras

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gru_props import GRUParams, check_implementation, level1, level2, level3  # noqa: E402
from gru_props.adapters import keras_layout  # noqa: E402

# Keras' own NumPy conversions trip NumPy 2's __array__(copy=...) deprecation: not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

TIERS = pytest.mark.parametrize("tier", [level1, level2, level3], ids=["level1", "level2", "level3"])
CONVENTIONS = pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"these tests run Keras on the torch backend; KERAS_BACKEND is "
                    f"{keras.backend.backend()!r}")
    return keras


def tolerance(dtype, reset_after):
    """Absolute tolerance for Keras vs gru_props on states in [-1, 1]."""
    if dtype == np.float32:
        return 1e-5  # both sides round in float32, over a few steps
    if reset_after:
        return 1e-13  # Keras' torch GRU path: float64 throughout
    return 1e-6  # Keras computes this float64 layer's matrix products in float32 (see module doc)


def keras_gru(keras, reset_after, dtype, D, H, weights=None, **layer_kwargs):
    layer = keras.layers.GRU(H, return_sequences=True, return_state=True, reset_after=reset_after,
                             dtype=np.dtype(dtype).name, **layer_kwargs)
    layer.build((None, None, D))
    if weights is not None:
        layer.set_weights(list(weights))
    return layer


def run(keras, layer, x, h0):
    hs, h_T = layer(x, initial_state=None if h0 is None else [h0])
    return keras.ops.convert_to_numpy(hs), keras.ops.convert_to_numpy(h_T)


def inputs(B, T, D, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, T, D)).astype(dtype), rng.uniform(-1, 1, (B, H)).astype(dtype)


SHAPES = pytest.mark.parametrize("B,T,D,H", [(2, 6, 3, 4), (1, 1, 1, 1), (3, 4, 5, 2)])


@TIERS
@CONVENTIONS
@DTYPES
@SHAPES
def test_tiers_match_keras(keras, tier, reset_after, dtype, B, T, D, H):
    p = GRUParams.random(D, H, seed=B + T, scale=1.0, dtype=dtype)
    layer = keras_gru(keras, reset_after, dtype, D, H, p.to_keras(reset_after=reset_after))
    x, h0 = inputs(B, T, D, H, dtype)
    want_hs, want_h = run(keras, layer, x, h0)
    assert want_hs.dtype == dtype
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    assert hs.dtype == dtype
    atol = tolerance(dtype, reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=atol)
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=atol)
    np.testing.assert_allclose(tier.gru_step(x[:, 0], h0, p, reset_after=reset_after), want_hs[:, 0],
                               rtol=0, atol=atol)


@CONVENTIONS
def test_the_other_convention_is_far_from_keras(keras, reset_after):
    """The tolerances above separate the conventions by orders of magnitude."""
    p = GRUParams.random(3, 4, seed=3, scale=1.0)
    layer = keras_gru(keras, reset_after, np.float64, 3, 4, p.to_keras(reset_after=reset_after))
    x, h0 = inputs(2, 6, 3, 4, np.float64)
    want, _ = run(keras, layer, x, h0)
    other, _ = level1.gru_forward(x, h0, p, reset_after=not reset_after)
    assert np.max(np.abs(other - want)) > 1e-2


@CONVENTIONS
@DTYPES
def test_from_keras_reads_a_keras_initialised_layer(keras, reset_after, dtype):
    keras.utils.set_random_seed(7)
    layer = keras_gru(keras, reset_after, dtype, 3, 4, bias_initializer="random_uniform")
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (3, 12) and recurrent.shape == (4, 12)
    assert bias.shape == ((2, 12) if reset_after else (12,))
    assert np.all(bias != 0)
    p = GRUParams.from_keras(kernel, recurrent, bias)
    assert p.dtype == dtype
    x, h0 = inputs(2, 5, 3, 4, dtype, seed=1)
    want_hs, want_h = run(keras, layer, x, h0)
    hs, h_T = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=tolerance(dtype, reset_after))
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=tolerance(dtype, reset_after))
    # and None as h0 is Keras' zero state
    np.testing.assert_allclose(level1.gru_forward(x, None, p, reset_after=reset_after)[0],
                               run(keras, layer, x, None)[0], rtol=0, atol=tolerance(dtype, reset_after))


@CONVENTIONS
def test_to_keras_survives_keras_set_and_get(keras, reset_after):
    p = GRUParams.random(3, 4, seed=5, scale=1.0)
    layer = keras_gru(keras, reset_after, np.float64, 3, 4, p.to_keras(reset_after=reset_after))
    back = GRUParams.from_keras(*layer.get_weights())
    if reset_after:
        for name, arr in p.arrays().items():
            np.testing.assert_array_equal(getattr(back, name), arr, err_msg=name)
    else:  # one candidate bias: b_hn is folded into b_n, exactly equivalent in this convention
        np.testing.assert_array_equal(back.b_n, p.b_n + p.b_hn)
        x, h0 = inputs(2, 5, 3, 4, np.float64)
        np.testing.assert_allclose(level1.gru_forward(x, h0, back)[0], level1.gru_forward(x, h0, p)[0],
                                   rtol=0, atol=1e-14)


def _keras_as_learner(keras, reset_after):
    """A 'learner' GRU in the Keras layout that is Keras itself."""
    def fn(x, h0, kernel, recurrent_kernel, bias):
        D, H = kernel.shape[0], recurrent_kernel.shape[0]
        if x.shape[1] == 0:  # Keras' GRU cannot run zero steps
            h = np.zeros((x.shape[0], H), dtype=x.dtype) if h0 is None else h0
            return np.zeros((x.shape[0], 0, H), dtype=x.dtype), h.copy()
        dtype = np.result_type(x, kernel)
        layer = keras_gru(keras, reset_after, dtype, D, H, (kernel, recurrent_kernel, bias))
        return run(keras, layer, x.astype(dtype), None if h0 is None else h0.astype(dtype))
    return fn


@CONVENTIONS
@DTYPES
def test_keras_layout_hands_keras_what_it_expects(keras, reset_after, dtype):
    fn = keras_layout(_keras_as_learner(keras, reset_after), reset_after=reset_after)
    p = GRUParams.random(3, 4, seed=9, scale=1.0, dtype=dtype)
    x, h0 = inputs(2, 5, 3, 4, dtype)
    hs, h_T = fn(x, h0, p)
    want_hs, want_h = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=tolerance(dtype, reset_after))
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=tolerance(dtype, reset_after))


def test_keras_itself_passes_the_checker_through_keras_layout(keras):
    """reset_after=True only: the one Keras path that is float64-exact (see the module doc)."""
    report = check_implementation(keras_layout(_keras_as_learner(keras, True)), reset_after=True,
                                  profile="ci", max_examples=4)
    assert report.reset_after is True
