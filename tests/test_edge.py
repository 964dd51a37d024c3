"""Boundaries, saturated gates, bad input, immutability, and Level 3's options.

Every test body runs on every tier. The saturated-gate properties are written
as plain check functions so that ``test_reversed_interpolation_is_caught`` can
show they reject the high-risk bug ``(1 - z) * h + z * n``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gru_props import GRUParams, level1, level2, level3

TIERS = [level1, level2, level3]
TIER_IDS = ["level1", "level2", "level3"]
TIER = pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
CONVENTIONS = pytest.mark.parametrize("reset_after", [False, True], ids=["reset_before", "reset_after"])

BIG = 60.0  # sigmoid(+-60) is 1 or 0 to float64 precision


def case(B=2, T=4, D=3, H=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = GRUParams.random(D, H, seed=rng, scale=1.0, dtype=dtype)
    x = rng.normal(size=(B, T, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
    return x, h0, p


def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


# ------------------------------------------------------------------ shapes


@TIER
@CONVENTIONS
@pytest.mark.parametrize("B,T,D,H", [(1, 3, 2, 4), (4, 1, 3, 3), (2, 5, 7, 2), (2, 3, 2, 9),
                                     (3, 2, 1, 1), (1, 1, 1, 1)])
def test_small_and_unequal_dims(tier, reset_after, B, T, D, H):
    x, h0, p = case(B, T, D, H)
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    assert hs.shape == (B, T, H) and h_T.shape == (B, H)
    hs1, _ = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, hs1, rtol=0, atol=1e-13)
    h_step = tier.gru_step(x[:, 0], h0, p, reset_after=reset_after)
    assert h_step.shape == (B, H)
    np.testing.assert_allclose(h_step, hs1[:, 0], rtol=0, atol=1e-13)


@TIER
@CONVENTIONS
def test_empty_sequence(tier, reset_after):
    x, h0, p = case(B=3, T=0, D=2, H=4)
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    assert hs.shape == (3, 0, 4) and hs.dtype == np.float64
    np.testing.assert_array_equal(h_T, h0)
    assert h_T.dtype == np.float64
    assert not np.shares_memory(h_T, h0), "h_T must not alias the caller's h0"
    hs, h_T = tier.gru_forward(x, None, p, reset_after=reset_after)
    assert hs.shape == (3, 0, 4)
    np.testing.assert_array_equal(h_T, np.zeros((3, 4)))


@TIER
@CONVENTIONS
def test_empty_batch(tier, reset_after):
    x, h0, p = case(B=0, T=3, D=2, H=4)
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    assert hs.shape == (0, 3, 4) and h_T.shape == (0, 4)
    assert tier.gru_step(x[:, 0], h0, p, reset_after=reset_after).shape == (0, 4)
    hs, h_T = tier.gru_forward(np.zeros((0, 0, 2)), None, p, reset_after=reset_after)
    assert hs.shape == (0, 0, 4) and h_T.shape == (0, 4)


@TIER
@CONVENTIONS
def test_no_input_features(tier, reset_after):
    """D = 0: the GRU is driven by its biases and recurrence alone."""
    _, h0, p = case(B=2, T=3, D=0, H=3)
    x = np.zeros((2, 3, 0))
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    # Same as D = 1 with a zero input.
    p1 = p.replace(W_z=np.zeros((1, 3)), W_r=np.zeros((1, 3)), W_n=np.zeros((1, 3)))
    want, _ = level1.gru_forward(np.zeros((2, 3, 1)), h0, p1, reset_after=reset_after)
    np.testing.assert_allclose(hs, want, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(hs[:, -1], h_T)


# ------------------------------------------------------------------ dtypes


@TIER
@CONVENTIONS
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(tier, reset_after, dtype):
    x, h0, p = case(dtype=dtype)
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    assert hs.dtype == dtype and h_T.dtype == dtype
    assert tier.gru_step(x[:, 0], h0, p, reset_after=reset_after).dtype == dtype
    hs, h_T = tier.gru_forward(x, None, p, reset_after=reset_after)
    assert hs.dtype == dtype and h_T.dtype == dtype


@TIER
def test_mixed_float_dtypes_compute_in_float64(tier):
    x, h0, p = case(dtype=np.float64)
    hs, _ = tier.gru_forward(x.astype(np.float32), h0, p)
    assert hs.dtype == np.float64
    hs, _ = tier.gru_forward(x, h0, p.astype(np.float32))
    assert hs.dtype == np.float64
    want, _ = level1.gru_forward(x.astype(np.float32).astype(np.float64), h0, p)
    np.testing.assert_allclose(tier.gru_forward(x.astype(np.float32), h0, p)[0], want,
                               rtol=0, atol=1e-13)


@TIER
@CONVENTIONS
def test_integer_input_promotes_to_float64(tier, reset_after):
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, size=(2, 3, 2))
    h0 = rng.integers(-1, 2, size=(2, 4))
    p_int = GRUParams(**{k: np.rint(2 * v).astype(np.int64) for k, v in case(D=2, H=4)[2].arrays().items()})
    assert p_int.dtype == np.float64
    hs, h_T = tier.gru_forward(x, h0, p_int, reset_after=reset_after)
    assert hs.dtype == np.float64 and h_T.dtype == np.float64
    want, _ = level1.gru_forward(x.astype(float), h0.astype(float), p_int, reset_after=reset_after)
    np.testing.assert_allclose(hs, want, rtol=0, atol=1e-13)
    h1 = tier.gru_step(x[:, 0], h0, p_int, reset_after=reset_after)
    assert h1.dtype == np.float64


@TIER
@CONVENTIONS
def test_h0_none_means_zeros(tier, reset_after):
    x, h0, p = case()
    a = tier.gru_forward(x, None, p, reset_after=reset_after)
    b = tier.gru_forward(x, np.zeros_like(h0), p, reset_after=reset_after)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(tier.gru_step(x[:, 0], None, p, reset_after=reset_after),
                                  tier.gru_step(x[:, 0], np.zeros_like(h0), p, reset_after=reset_after))
    # ...and h0 matters when given (the initial state is not ignored).
    c = tier.gru_forward(x, h0, p, reset_after=reset_after)
    assert np.max(np.abs(c[1] - a[1])) > 1e-6


# ----------------------------------------------------------- saturated gates


def check_update_gate_one_keeps_state(fn, reset_after=False):
    """z -> 1: every state equals h0, whatever the candidate."""
    x, h0, p = case(T=5, seed=4)
    p = p.replace(b_z=np.full(p.H, BIG))
    hs, h_T = fn(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, np.broadcast_to(h0[:, None, :], hs.shape), rtol=0, atol=1e-14,
                               err_msg="z -> 1 must keep h_prev")
    np.testing.assert_allclose(h_T, h0, rtol=0, atol=1e-14)


def check_update_gate_zero_takes_candidate(fn, reset_after=False):
    """z -> 0: h_1 is the candidate n_1, computed here by hand."""
    x, h0, p = case(T=3, seed=5)
    p = p.replace(b_z=np.full(p.H, -BIG))
    hs, _ = fn(x, h0, p, reset_after=reset_after)
    x0 = x[:, 0]
    r = _sigmoid(x0 @ p.W_r + h0 @ p.U_r + p.b_r)
    if reset_after:
        n = np.tanh(x0 @ p.W_n + p.b_n + r * (h0 @ p.U_n + p.b_hn))
    else:
        n = np.tanh(x0 @ p.W_n + (r * h0) @ p.U_n + p.b_n + p.b_hn)
    np.testing.assert_allclose(hs[:, 0], n, rtol=0, atol=1e-14, err_msg="z -> 0 must take n_t")


def check_reset_gate_zero_drops_state_from_candidate(fn, reset_after=False):
    """r -> 0 (with z -> 0 to expose n): the candidate no longer sees h_prev."""
    x, h0, p = case(T=1, seed=6)
    p = p.replace(b_z=np.full(p.H, -BIG), b_r=np.full(p.H, -BIG))
    _, a = fn(x, h0, p, reset_after=reset_after)
    _, b = fn(x, -h0, p, reset_after=reset_after)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14, err_msg="r -> 0 must remove h_prev")
    bias = p.b_n if reset_after else p.b_n + p.b_hn  # reset_after: r also multiplies b_hn
    np.testing.assert_allclose(a, np.tanh(x[:, 0] @ p.W_n + bias), rtol=0, atol=1e-14)


@TIER
@CONVENTIONS
def test_update_gate_one_keeps_state(tier, reset_after):
    check_update_gate_one_keeps_state(tier.gru_forward, reset_after)


@TIER
@CONVENTIONS
def test_update_gate_zero_takes_candidate(tier, reset_after):
    check_update_gate_zero_takes_candidate(tier.gru_forward, reset_after)


@TIER
@CONVENTIONS
def test_reset_gate_zero_drops_state_from_candidate(tier, reset_after):
    check_reset_gate_zero_drops_state_from_candidate(tier.gru_forward, reset_after)


@TIER
@CONVENTIONS
def test_saturating_weights_do_not_warn(tier, reset_after):
    x, h0, p = case(seed=8)
    p = GRUParams(**{k: 1e4 * v for k, v in p.arrays().items()})
    with np.errstate(all="raise"):
        hs, _ = tier.gru_forward(1e4 * x, h0, p, reset_after=reset_after)
    assert np.all(np.isfinite(hs)) and np.all(np.abs(hs) <= 1)


# ------------------------------------------------ the high-risk bug is caught


def reversed_interpolation_gru(x, h0, p, reset_after=False):
    """A GRU with Chung et al.'s update ``(1 - z) * h + z * n``: the bug to catch."""
    h = np.zeros((x.shape[0], p.H)) if h0 is None else np.asarray(h0, dtype=np.float64)
    hs = []
    for t in range(x.shape[1]):
        x_t = x[:, t]
        z = _sigmoid(x_t @ p.W_z + h @ p.U_z + p.b_z)
        r = _sigmoid(x_t @ p.W_r + h @ p.U_r + p.b_r)
        if reset_after:
            n = np.tanh(x_t @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
        else:
            n = np.tanh(x_t @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
        h = (1 - z) * h + z * n
        hs.append(h)
    return np.stack(hs, axis=1), h


def check_agrees_with_level1(fn, reset_after=False):
    x, h0, p = case(B=2, T=3, D=2, H=3, seed=9)
    hs, h_T = fn(x, h0, p, reset_after=reset_after)
    want_hs, want_h = level1.gru_forward(x, h0, p, reset_after=reset_after)
    np.testing.assert_allclose(hs, want_hs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_T, want_h, rtol=0, atol=1e-10)


@CONVENTIONS
def test_reversed_interpolation_is_caught(reset_after):
    # The checks pass on every tier...
    for tier in TIERS:
        check_agrees_with_level1(tier.gru_forward, reset_after)
        check_update_gate_one_keeps_state(tier.gru_forward, reset_after)
        check_update_gate_zero_takes_candidate(tier.gru_forward, reset_after)
    # ...and each one alone rejects the reversed interpolation.
    with pytest.raises(AssertionError):
        check_agrees_with_level1(reversed_interpolation_gru, reset_after)
    with pytest.raises(AssertionError, match="z -> 1 must keep h_prev"):
        check_update_gate_one_keeps_state(reversed_interpolation_gru, reset_after)
    with pytest.raises(AssertionError, match="z -> 0 must take n_t"):
        check_update_gate_zero_takes_candidate(reversed_interpolation_gru, reset_after)


def test_reversed_interpolation_differs_from_correct_gru_by_a_lot():
    x, h0, p = case(seed=10)
    _, bad = reversed_interpolation_gru(x, h0, p)
    _, good = level1.gru_forward(x, h0, p)
    assert np.max(np.abs(bad - good)) > 0.05


# --------------------------------------------------------------- bad input


def assert_message(excinfo, *fragments):
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in message: {msg}"


@TIER
def test_x_of_wrong_rank(tier):
    x, h0, p = case(B=2, T=3, D=4, H=5)
    with pytest.raises(ValueError) as e:
        tier.gru_forward(x[0], h0, p)
    assert_message(e, "x", "(B, T, D)", "(3, 4)")
    with pytest.raises(ValueError) as e:
        tier.gru_forward(x[..., None], h0, p)
    assert_message(e, "x", "(B, T, D)", "(2, 3, 4, 1)")
    with pytest.raises(ValueError) as e:
        tier.gru_step(x, h0, p)
    assert_message(e, "x_t", "(B, D)", "(2, 3, 4)")
    with pytest.raises(ValueError) as e:
        tier.gru_step(x[0, 0], h0, p)
    assert_message(e, "x_t", "(B, D)", "(4,)")


@TIER
def test_mismatched_D(tier):
    x, h0, p = case(B=2, T=3, D=4, H=5)
    with pytest.raises(ValueError) as e:
        tier.gru_forward(np.zeros((2, 3, 6)), h0, p)
    assert_message(e, "x", "(B, T, D)", "D = 4", "(2, 3, 6)")
    with pytest.raises(ValueError) as e:
        tier.gru_step(np.zeros((2, 6)), h0, p)
    assert_message(e, "x_t", "(B, D)", "D = 4", "(2, 6)")


@TIER
def test_mismatched_H_and_B_of_the_state(tier):
    x, h0, p = case(B=2, T=3, D=4, H=5)
    for bad in [np.zeros((2, 6)), np.zeros((3, 5)), np.zeros(5), np.zeros((1, 2, 5))]:
        with pytest.raises(ValueError) as e:
            tier.gru_forward(x, bad, p)
        assert_message(e, "h0", "(B, H) = (2, 5)", str(bad.shape))
        with pytest.raises(ValueError) as e:
            tier.gru_step(x[:, 0], bad, p)
        assert_message(e, "h_prev", "(B, H) = (2, 5)", str(bad.shape))


@TIER
def test_time_major_input_gets_a_hint(tier):
    """x passed time-major (T, B, D) with its (B, H) state: the error says so."""
    x, h0, p = case(B=2, T=3, D=4, H=5)
    with pytest.raises(ValueError) as e:
        tier.gru_forward(x.transpose(1, 0, 2), h0, p)
    assert_message(e, "h0", "(2, 5)")
    assert "time-major" in str(e.value), f"no time-major hint in: {e.value}"


@TIER
@pytest.mark.parametrize("dtype", [np.complex128, np.bool_, np.str_, object])
def test_non_real_dtypes_are_rejected(tier, dtype):
    x, h0, p = case(B=2, T=3, D=4, H=5)
    with pytest.raises(TypeError) as e:
        tier.gru_forward(x.astype(dtype), h0, p)
    assert_message(e, "x", "(2, 3, 4)")
    with pytest.raises(TypeError) as e:
        tier.gru_forward(x, h0.astype(dtype), p)
    assert_message(e, "h0", "(2, 5)")
    with pytest.raises(TypeError) as e:
        tier.gru_step(x[:, 0].astype(dtype), h0, p)
    assert_message(e, "x_t", "(2, 4)")
    with pytest.raises(TypeError) as e:
        tier.gru_step(x[:, 0], h0.astype(dtype), p)
    assert_message(e, "h_prev", "(2, 5)")


@TIER
def test_params_must_be_gru_params(tier):
    x, h0, p = case()
    for bad in [p.arrays(), list(p.arrays().values()), None, "params"]:
        with pytest.raises(TypeError) as e:
            tier.gru_forward(x, h0, bad)
        assert_message(e, "params", "GRUParams")
        with pytest.raises(TypeError) as e:
            tier.gru_step(x[:, 0], h0, bad)
        assert_message(e, "params", "GRUParams")


@TIER
@pytest.mark.parametrize("bad", [None, 1, "yes", 0.0])
def test_reset_after_must_be_a_bool(tier, bad):
    x, h0, p = case()
    with pytest.raises(TypeError, match="reset_after"):
        tier.gru_forward(x, h0, p, reset_after=bad)
    with pytest.raises(TypeError, match="reset_after"):
        tier.gru_step(x[:, 0], h0, p, reset_after=bad)


@pytest.mark.parametrize("field,shape,expected", [
    ("W_r", (3, 4), "(D, H) = (3, 5)"), ("W_n", (5, 5), "(D, H) = (3, 5)"),
    ("U_z", (5, 4), "(H, H) = (5, 5)"), ("U_n", (3, 5), "(H, H) = (5, 5)"),
    ("b_z", (4,), "(H,) = (5,)"), ("b_hn", (1, 5), "(H,) = (5,)"), ("b_r", (), "(H,) = (5,)"),
])
def test_inconsistent_gru_params_do_not_construct(field, shape, expected):
    arrays = case(D=3, H=5)[2].arrays()
    arrays[field] = np.zeros(shape)
    with pytest.raises(ValueError) as e:
        GRUParams(**arrays)
    assert_message(e, field, expected, str(shape))


def test_gru_params_rejects_bad_w_z_and_dtypes():
    arrays = case(D=3, H=5)[2].arrays()
    with pytest.raises(ValueError) as e:
        GRUParams(**{**arrays, "W_z": np.zeros((3, 5, 1))})
    assert_message(e, "W_z", "(D, H)", "(3, 5, 1)")
    with pytest.raises(ValueError) as e:
        GRUParams(**{**arrays, "W_z": np.zeros((3, 0))})
    assert_message(e, "W_z", "H >= 1", "(3, 0)")
    for dtype in [np.complex64, np.bool_, object]:
        with pytest.raises(TypeError) as e:
            GRUParams(**{**arrays, "U_r": arrays["U_r"].astype(dtype)})
        assert_message(e, "U_r", "(5, 5)")


# ------------------------------------------------------------- immutability


def _snapshot(*arrays):
    return [(a.shape, a.dtype, a.tobytes()) for a in arrays]


@TIER
@CONVENTIONS
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_are_never_modified(tier, reset_after, dtype):
    x, h0, p = case(dtype=dtype)
    before = _snapshot(x, h0, *p.arrays().values())
    hs, h_T = tier.gru_forward(x, h0, p, reset_after=reset_after)
    tier.gru_step(x[:, 0], h0, p, reset_after=reset_after)
    tier.gru_forward(x[:, :0], h0, p, reset_after=reset_after)
    if tier is level3:
        tier.gru_forward(x, h0, p, reset_after=reset_after, return_sequences=False, chunk_size=1)
    assert _snapshot(x, h0, *p.arrays().values()) == before
    # Outputs are fresh arrays: writing to them cannot reach the inputs.
    for out in (hs, h_T):
        assert not np.shares_memory(out, x) and not np.shares_memory(out, h0)
    h_T[...] = 7
    hs[...] = 7
    assert _snapshot(x, h0, *p.arrays().values()) == before


@TIER
def test_repeated_calls_give_identical_results(tier):
    x, h0, p = case()
    a = tier.gru_forward(x, h0, p, reset_after=True)
    tier.gru_forward(x, h0, p, reset_after=False)
    b = tier.gru_forward(x, h0, p, reset_after=True)
    np.testing.assert_array_equal(a[0], b[0])


def test_gru_params_arrays_are_read_only_copies():
    src = {k: v.copy() for k, v in case()[2].arrays().items()}
    p = GRUParams(**src)
    for name, arr in p.arrays().items():
        assert not arr.flags.writeable, name
        assert not np.shares_memory(arr, src[name]), name
        with pytest.raises(ValueError):
            arr[...] = 0
    kept = {k: v.copy() for k, v in p.arrays().items()}
    for v in src.values():
        v[...] = 123.0  # the caller changes its arrays afterwards
    for name, arr in p.arrays().items():
        np.testing.assert_array_equal(arr, kept[name])
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.W_z = np.zeros((3, 5))  # frozen dataclass


# ----------------------------------------------------- Level 3 options


@CONVENTIONS
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_level3_return_sequences_false_and_chunks_give_the_same_final_state(reset_after, dtype):
    x, h0, p = case(B=3, T=11, D=4, H=5, dtype=dtype)
    hs_full, h_full = level3.gru_forward(x, h0, p, reset_after=reset_after)
    tol = 1e-13 if dtype == np.float64 else 1e-6
    none, h = level3.gru_forward(x, h0, p, reset_after=reset_after, return_sequences=False)
    assert none is None
    assert h.dtype == dtype and h.shape == (3, 5)
    np.testing.assert_allclose(h, h_full, rtol=0, atol=tol)
    for chunk in [1, 2, 3, 5, 11, 50]:
        none, h = level3.gru_forward(x, h0, p, reset_after=reset_after, return_sequences=False,
                                     chunk_size=chunk)
        assert none is None
        np.testing.assert_allclose(h, h_full, rtol=0, atol=tol, err_msg=f"chunk_size={chunk}")
        hs, h = level3.gru_forward(x, h0, p, reset_after=reset_after, chunk_size=chunk)
        np.testing.assert_allclose(hs, hs_full, rtol=0, atol=tol, err_msg=f"chunk_size={chunk}")
        np.testing.assert_allclose(h, h_full, rtol=0, atol=tol)
    none, h = level3.gru_forward(x[:, :0], h0, p, reset_after=reset_after, return_sequences=False)
    assert none is None
    np.testing.assert_array_equal(h, h0)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                       ("4", TypeError)])
def test_level3_bad_chunk_size(bad, error):
    x, h0, p = case()
    with pytest.raises(error, match="chunk_size"):
        level3.gru_forward(x, h0, p, chunk_size=bad)
