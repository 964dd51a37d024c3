"""The backward pass (BPTT) of Level 1 and Level 3: gradients, dtypes, edges, errors, the cache.

The oracles, each independent of the code under test:

* central finite differences of Level 1's float64 forward (every scalar of
  x, h0 and the parameters), as a Hypothesis property over shapes with D != H;
* ``torch.autograd`` through ``torch.nn.GRU`` loaded with ``GRUParams.to_torch``
  (reset_after=True) and through a direct torch transcription of the SPEC's
  equations (reset_after=False, which torch has no module for);
* Level 1 and Level 3 against each other.

The loss is ``L = sum(hs * dhs) + sum(h_T * dh_T)`` throughout.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gru_props import GRUParams, level1, level3
from gru_props import strategies as gst
from gru_props.core.params import _FIELDS
from gru_props.tiers import level3 as tiers_level3

TIERS = [level1, level3]
TIER = pytest.mark.parametrize("tier", TIERS, ids=["level1", "level3"])
CONVENTIONS = pytest.mark.parametrize("reset_after", [False, True], ids=["reset_before", "reset_after"])


def random_case(seed, B=2, T=4, D=3, H=5, dtype=np.float64, scale=1.0):
    """x, h0, params, dhs, dh_T drawn from one seed; U_* non-symmetric, D != H by default."""
    rng = np.random.default_rng(seed)
    params = GRUParams.random(D, H, seed=rng, scale=scale, dtype=dtype)
    x = rng.normal(size=(B, T, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
    dhs = rng.normal(size=(B, T, H)).astype(dtype)
    dh_T = rng.normal(size=(B, H)).astype(dtype)
    return x, h0, params, dhs, dh_T


def loss(x, h0, params, dhs, dh_T, reset_after):
    hs, h_T = level1.gru_forward(x, h0, params, reset_after)
    return float(np.sum(hs * dhs) + np.sum(h_T * dh_T))


def flat(dx, dh0, grads):
    """Every gradient by name: dx, dh0 and the ten parameter fields."""
    out = {"dx": np.asarray(dx), "dh0": np.asarray(dh0)}
    out.update(grads.arrays())
    return out


def assert_grads_close(got, want, atol, what=""):
    g, w = flat(*got), flat(*want)
    for name in w:
        assert g[name].shape == w[name].shape, f"{what} {name}: shape {g[name].shape} != {w[name].shape}"
        if w[name].size:
            err = float(np.max(np.abs(g[name].astype(np.float64) - w[name])))
            assert err <= atol, f"{what} {name}: max abs diff {err:.3g} > {atol:g}"


# ------------------------------------------------------------------ finite differences


def finite_differences(x, h0, params, dhs, dh_T, reset_after, eps=1e-5):
    """Central differences of Level 1's float64 forward for every scalar input."""
    def central(f, a):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = f()
            a[idx] = old - eps
            down = f()
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        return g

    x, h0 = x.copy(), h0.copy()
    arrays = {k: v.copy() for k, v in params.arrays().items()}
    dx = central(lambda: loss(x, h0, params, dhs, dh_T, reset_after), x)
    dh0 = central(lambda: loss(x, h0, params, dhs, dh_T, reset_after), h0)
    grads = {}
    for name in _FIELDS:
        a = arrays[name]
        grads[name] = central(lambda: loss(x, h0, GRUParams(**arrays), dhs, dh_T, reset_after), a)
    return dx, dh0, GRUParams(**grads)


@TIER
@CONVENTIONS
@settings(max_examples=12)
@given(
    case=gst.seeded_gru_cases(gst.dims(min_input=0, max_input=4, max_hidden=4, max_time=3)),
    seed=st.integers(0, 2**16),
)
def test_backward_matches_finite_differences(tier, reset_after, case, seed):
    rng = np.random.default_rng(seed)
    B, T, _ = case.x.shape
    H = case.params.H
    dhs, dh_T = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))
    got = tier.gru_backward(case.x, case.h0, case.params, dhs, dh_T, reset_after)
    num = finite_differences(case.x, case.h0, case.params, dhs, dh_T, reset_after)
    g, n = flat(*got), flat(*num)
    scale = max(float(np.max(np.abs(a), initial=0.0)) for a in n.values())
    for name in n:
        # round2.md 1.2: a correct float64 backward is within ~1e-10 of central
        # differences at eps=1e-5; every known bug is off by 0.5-2 relative.
        bad = np.abs(g[name] - n[name]) > 1e-7 * scale + 1e-5 * np.abs(n[name])
        assert not bad.any(), (
            f"{name}: analytic {g[name][bad][:3]} vs numerical {n[name][bad][:3]} (B, T, D, H = "
            f"{case.x.shape + (H,)}, reset_after={reset_after})"
        )


# ------------------------------------------------------------------ torch autograd


def _torch_gradients(torch, x, h0, params, dhs, dh_T, reset_after):
    """dx, dh0, grads from torch.autograd, float64.

    reset_after=True: ``torch.nn.GRU`` with ``params.to_torch()``; the folded
    biases b_z, b_r get torch's bias_ih gradient (equal to bias_hh's, checked).
    reset_after=False: the SPEC's equations transcribed into torch ops.
    """
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0, requires_grad=True)
    gt, gTt = torch.tensor(dhs), torch.tensor(dh_T)
    B, T, D = x.shape
    H = params.H
    if reset_after:
        gru = torch.nn.GRU(D, H, batch_first=True, dtype=torch.float64)
        gru.load_state_dict(params.to_torch())
        out, hn = gru(xt, h0t[None])
        torch.autograd.backward([out, hn[0]], [gt, gTt])
        w_ih, w_hh = gru.weight_ih_l0.grad.numpy(), gru.weight_hh_l0.grad.numpy()
        b_ih, b_hh = gru.bias_ih_l0.grad.numpy(), gru.bias_hh_l0.grad.numpy()
        r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
        np.testing.assert_allclose(b_ih[:2 * H], b_hh[:2 * H], rtol=1e-12, atol=1e-14)
        grads = GRUParams(
            W_z=w_ih[z].T, W_r=w_ih[r].T, W_n=w_ih[n].T,
            U_z=w_hh[z].T, U_r=w_hh[r].T, U_n=w_hh[n].T,
            b_z=b_ih[z], b_r=b_ih[r], b_n=b_ih[n], b_hn=b_hh[n],
        )
        return xt.grad.numpy(), h0t.grad.numpy(), grads
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.arrays().items()}
    h = h0t
    total = torch.zeros((), dtype=torch.float64)
    for t in range(T):
        x_t = xt[:, t, :]
        zg = torch.sigmoid(x_t @ p["W_z"] + h @ p["U_z"] + p["b_z"])
        rg = torch.sigmoid(x_t @ p["W_r"] + h @ p["U_r"] + p["b_r"])
        ng = torch.tanh(x_t @ p["W_n"] + (rg * h) @ p["U_n"] + p["b_n"] + p["b_hn"])
        h = zg * h + (1 - zg) * ng
        total = total + (h * gt[:, t, :]).sum()
    total = total + (h * gTt).sum()
    total.backward()
    zeros = {k: np.zeros(v.shape) for k, v in params.arrays().items()}
    grads = GRUParams(**{k: (v.grad.numpy() if v.grad is not None else zeros[k]) for k, v in p.items()})
    dh0 = h0t.grad.numpy() if h0t.grad is not None else np.zeros_like(h0)
    return xt.grad.numpy(), dh0, grads


@TIER
@CONVENTIONS
@pytest.mark.parametrize("shape", [(2, 4, 3, 5), (3, 6, 5, 2), (1, 1, 1, 1), (4, 3, 0, 3)],
                         ids=lambda s: "B{}T{}D{}H{}".format(*s))
def test_backward_matches_torch_autograd(tier, reset_after, shape):
    torch = pytest.importorskip("torch")
    B, T, D, H = shape
    if D == 0 and reset_after:
        pytest.skip("torch.nn.GRU needs input_size >= 1 (the transcription covers D = 0)")
    for seed in range(2):
        x, h0, p, dhs, dh_T = random_case(seed, B, T, D, H, scale=1.5)
        want = _torch_gradients(torch, x, h0, p, dhs, dh_T, reset_after)
        got = tier.gru_backward(x, h0, p, dhs, dh_T, reset_after)
        assert_grads_close(got, want, 1e-10, f"{tier.__name__} vs torch, seed {seed}:")


# ------------------------------------------------------------------ tiers agree


@CONVENTIONS
@pytest.mark.parametrize("shape", [(2, 5, 3, 4), (1, 9, 4, 2), (5, 3, 2, 7), (3, 2, 6, 6)],
                         ids=lambda s: "B{}T{}D{}H{}".format(*s))
def test_level3_agrees_with_level1(reset_after, shape):
    for seed in range(3):
        case = random_case(seed, *shape, scale=2.0)
        want = level1.gru_backward(*case, reset_after)
        got = level3.gru_backward(*case, reset_after)
        assert_grads_close(got, want, 1e-10, f"seed {seed}:")


@CONVENTIONS
def test_level3_factor_blocks_agree_with_one_block(reset_after, monkeypatch):
    """The derivative factors are computed a block of time steps at a time;
    block boundaries (one step per block, an uneven last block) change nothing."""
    case = random_case(3, B=2, T=7, D=3, H=4)
    want = level1.gru_backward(*case, reset_after)
    for elems in (1, 2 * 4 * 3, 10 ** 9):  # 1 step, 3 steps (7 = 3 + 3 + 1), all steps per block
        monkeypatch.setattr(tiers_level3, "_FACTOR_ELEMS", elems)  # the module the code lives in
        assert_grads_close(level3.gru_backward(*case, reset_after), want, 1e-12, f"block {elems}:")


@TIER
@CONVENTIONS
def test_float32_stays_float32_and_is_close(tier, reset_after):
    case64 = random_case(5, B=3, T=6, D=4, H=5)
    case32 = tuple(a.astype(np.float32) for a in case64)
    want = tier.gru_backward(*case64, reset_after)
    got = tier.gru_backward(*case32, reset_after)
    for name, a in flat(*got).items():
        assert a.dtype == np.float32, f"{name} is {a.dtype}"
    scale = max(float(np.max(np.abs(a))) for a in flat(*want).values())
    assert_grads_close(got, want, 2e-5 * scale, "float32 vs float64:")


@TIER
def test_mixed_and_integer_inputs_compute_in_float64(tier):
    x, h0, p, dhs, dh_T = random_case(6)
    p32 = p.astype(np.float32)
    for args in [
        (x.astype(np.float32), h0.astype(np.float32), p32, dhs, dh_T.astype(np.float32)),  # float64 dhs
        (x.astype(np.float32), h0.astype(np.float32), p32, dhs.astype(np.float32), dh_T),  # float64 dh_T
        (np.round(x).astype(np.int64), h0, p, dhs, dh_T),  # integer x
    ]:
        dx, dh0, g = tier.gru_backward(*args, True)
        assert dx.dtype == dh0.dtype == g.dtype == np.float64
        want = level1.gru_backward(*(np.asarray(a, np.float64) if isinstance(a, np.ndarray) else
                                     a.astype(np.float64) for a in args), True)
        assert_grads_close((dx, dh0, g), want, 1e-12)


# ------------------------------------------------------------------ edges


@TIER
@CONVENTIONS
def test_empty_sequence(tier, reset_after):
    _, h0, p, _, dh_T = random_case(7, B=3, T=0, D=2, H=4)
    x = np.zeros((3, 0, 2))
    dx, dh0, g = tier.gru_backward(x, h0, p, np.zeros((3, 0, 4)), dh_T, reset_after)
    assert dx.shape == (3, 0, 2)
    np.testing.assert_array_equal(dh0, dh_T)
    assert dh0 is not dh_T and not np.shares_memory(dh0, dh_T)
    for name, a in g.arrays().items():
        assert a.shape == getattr(p, name).shape and not a.any(), name
    _, dh0, g = tier.gru_backward(x, h0, p, None, None, reset_after)
    assert dh0.shape == (3, 4) and not dh0.any()


@TIER
@CONVENTIONS
@pytest.mark.parametrize("shape", [(1, 4, 3, 2), (3, 4, 2, 1), (1, 1, 1, 1), (2, 3, 0, 2), (0, 3, 2, 2)],
                         ids=["B1", "H1", "all1", "D0", "B0"])
def test_small_sizes(tier, reset_after, shape):
    case = random_case(8, *shape)
    other = level3 if tier is level1 else level1
    got = tier.gru_backward(*case, reset_after)
    assert_grads_close(got, other.gru_backward(*case, reset_after), 1e-12)
    B, T, D, H = shape
    assert got[0].shape == (B, T, D) and got[1].shape == (B, H)


@TIER
@CONVENTIONS
def test_none_means_zeros(tier, reset_after):
    x, h0, p, dhs, dh_T = random_case(9)
    assert_grads_close(tier.gru_backward(x, None, p, dhs, dh_T, reset_after),
                       tier.gru_backward(x, np.zeros_like(h0), p, dhs, dh_T, reset_after), 0.0, "h0:")
    assert_grads_close(tier.gru_backward(x, h0, p, dhs, None, reset_after),
                       tier.gru_backward(x, h0, p, dhs, np.zeros_like(dh_T), reset_after), 0.0, "dh_T:")
    assert_grads_close(tier.gru_backward(x, h0, p, None, dh_T, reset_after),
                       tier.gru_backward(x, h0, p, np.zeros_like(dhs), dh_T, reset_after), 0.0, "dhs:")


@TIER
@CONVENTIONS
def test_dh_T_is_the_last_steps_gradient(tier, reset_after):
    """dL/dh_T and dL/dhs[:, -1] reach the same state, so moving one into the other changes nothing."""
    x, h0, p, dhs, dh_T = random_case(10)
    moved = dhs.copy()
    moved[:, -1] += dh_T
    assert_grads_close(tier.gru_backward(x, h0, p, moved, None, reset_after),
                       tier.gru_backward(x, h0, p, dhs, dh_T, reset_after), 1e-12)


@TIER
@CONVENTIONS
def test_inputs_unchanged(tier, reset_after):
    case = random_case(11)
    copies = [a.copy() for a in case[:2] + case[3:]]
    before = {k: v.copy() for k, v in case[2].arrays().items()}
    dx, dh0, g = tier.gru_backward(*case, reset_after)
    for a, b in zip(case[:2] + case[3:], copies):
        np.testing.assert_array_equal(a, b)
    for k, v in case[2].arrays().items():
        np.testing.assert_array_equal(v, before[k])
    for a in case[:2] + case[3:]:
        assert not np.shares_memory(dx, a) and not np.shares_memory(dh0, a)


# ------------------------------------------------------------------ bad input


@TIER
def test_bad_dhs_names_the_argument(tier):
    x, h0, p, dhs, dh_T = random_case(12, B=2, T=4, D=3, H=5)
    with pytest.raises(ValueError, match=r"dhs: expected shape \(B, T, H\) = \(2, 4, 5\).*got \(2, 4, 3\)"):
        tier.gru_backward(x, h0, p, np.zeros((2, 4, 3)), dh_T)
    with pytest.raises(ValueError, match=r"dhs.*time-major.*transpose\(1, 0, 2\)"):
        tier.gru_backward(x, h0, p, dhs.transpose(1, 0, 2), dh_T)
    with pytest.raises(ValueError, match=r"dhs: expected a 3-D array.*got a 2-D array of shape \(2, 5\).*dh_T"):
        tier.gru_backward(x, h0, p, dh_T, None)
    with pytest.raises(TypeError, match=r"dhs: expected real numbers, got a complex"):
        tier.gru_backward(x, h0, p, dhs.astype(complex), dh_T)


@TIER
def test_bad_dh_T_names_the_argument(tier):
    x, h0, p, dhs, dh_T = random_case(13, B=2, T=4, D=3, H=5)
    with pytest.raises(ValueError, match=r"dh_T: expected shape \(B, H\) = \(2, 5\); got \(5,\)"):
        tier.gru_backward(x, h0, p, dhs, dh_T[0])
    with pytest.raises(ValueError, match=r"dh_T: expected shape \(B, H\) = \(2, 5\); got \(2, 4\)"):
        tier.gru_backward(x, h0, p, dhs, np.zeros((2, 4)))
    with pytest.raises(TypeError, match=r"dh_T: expected real numbers, got a boolean"):
        tier.gru_backward(x, h0, p, dhs, dh_T > 0)


@TIER
def test_bad_params_and_convention(tier):
    x, h0, p, dhs, dh_T = random_case(14)
    with pytest.raises(TypeError, match=r"params: expected a gru_props.GRUParams, got a dict"):
        tier.gru_backward(x, h0, p.arrays(), dhs, dh_T)
    with pytest.raises(TypeError, match=r"reset_after: expected True"):
        tier.gru_backward(x, h0, p, dhs, dh_T, "after")
    with pytest.raises(ValueError, match=r"^x: "):
        tier.gru_backward(x[:, :, :2], h0, p, dhs, dh_T)
    with pytest.raises(ValueError, match=r"^h0: "):
        tier.gru_backward(x, h0[:, :2], p, dhs, dh_T)


# ------------------------------------------------------------------ Level 3's cache


@CONVENTIONS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cache_gives_the_same_forward_and_backward(reset_after, dtype):
    x, h0, p, dhs, dh_T = random_case(15, B=3, T=5, D=2, H=4, dtype=dtype)
    cache = level3.GRUCache()
    assert "empty" in repr(cache)
    hs, h_T = level3.gru_forward(x, h0, p, reset_after, cache=cache)
    hs_plain, h_T_plain = level3.gru_forward(x, h0, p, reset_after)
    np.testing.assert_allclose(hs, hs_plain, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_allclose(h_T, h_T_plain, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-15)
    assert hs.dtype == dtype and not np.shares_memory(hs, cache.h) and not np.shares_memory(h_T, cache.h)
    assert "B=3, T=5, D=2, H=4" in repr(cache)
    want = level3.gru_backward(x, h0, p, dhs, dh_T, reset_after)
    hs[:] = 7.0  # the caller's arrays are the caller's own
    first = level3.gru_backward(x, h0, p, dhs, dh_T, reset_after, cache=cache)
    second = level3.gru_backward(x, h0, p, 2 * dhs, 2 * dh_T, reset_after, cache=cache)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert_grads_close(first, want, tol, "cache:")
    doubled = tuple(2 * a for a in first[:2]) + (GRUParams(**{k: 2 * v for k, v in first[2].arrays().items()}),)
    assert_grads_close(second, doubled, 2 * tol, "second backward on one cache:")
    _, h_T_only = level3.gru_forward(x, h0, p, reset_after, return_sequences=False, cache=cache)
    np.testing.assert_array_equal(h_T_only, h_T_plain if dtype == np.float64 else h_T_only)


def test_cache_is_refilled_for_new_shapes_and_params():
    cache = level3.GRUCache()
    for seed, shape in enumerate([(2, 3, 2, 3), (2, 3, 2, 3), (1, 6, 4, 2)]):
        case = random_case(20 + seed, *shape)
        level3.gru_forward(*case[:3], True, cache=cache)
        assert_grads_close(level3.gru_backward(*case, True, cache=cache),
                           level1.gru_backward(*case, True), 1e-12, f"shape {shape}:")
    cache.clear()
    assert "empty" in repr(cache)


def test_stale_cache_raises():
    x, h0, p, dhs, dh_T = random_case(16)
    cache = level3.GRUCache()
    with pytest.raises(ValueError, match="cache: it holds no forward"):
        level3.gru_backward(x, h0, p, dhs, dh_T, True, cache=cache)
    level3.gru_forward(x, h0, p, True, cache=cache)
    with pytest.raises(ValueError, match="another GRUParams object"):
        level3.gru_backward(x, h0, p.astype(np.float64), dhs, dh_T, True, cache=cache)
    with pytest.raises(ValueError, match="reset_after=True; this backward has .* reset_after=False"):
        level3.gru_backward(x, h0, p, dhs, dh_T, False, cache=cache)
    x2 = x.copy()
    x2[0, 0, 0] += 1
    with pytest.raises(ValueError, match=r"^x: differs from the x of the forward"):
        level3.gru_backward(x2, h0, p, dhs, dh_T, True, cache=cache)
    with pytest.raises(ValueError, match=r"^h0: differs"):
        level3.gru_backward(x, None, p, dhs, dh_T, True, cache=cache)
    with pytest.raises(TypeError, match="cache: expected a gru_props.level3.GRUCache"):
        level3.gru_backward(x, h0, p, dhs, dh_T, True, cache={})
    with pytest.raises(TypeError, match="cache: expected a gru_props.level3.GRUCache"):
        level3.gru_forward(x, h0, p, True, cache=object())
    p32 = p.astype(np.float32)
    level3.gru_forward(x.astype(np.float32), h0.astype(np.float32), p32, True, cache=cache)
    with pytest.raises(ValueError, match=r"in float32.*in float64, reset_after=True \(a float64 dhs or dh_T"):
        level3.gru_backward(x.astype(np.float32), h0.astype(np.float32), p32, dhs, dh_T, True, cache=cache)


def test_cache_accepts_nan_inputs():
    """A NaN in x is the same NaN in the cache: the backward runs (and its gradients are NaN)."""
    x, h0, p, dhs, dh_T = random_case(17)
    x[0, 1, 2] = np.nan
    cache = level3.GRUCache()
    level3.gru_forward(x, h0, p, True, cache=cache)
    dx, _, _ = level3.gru_backward(x, h0, p, dhs, dh_T, True, cache=cache)
    assert np.isnan(dx[0]).any() and not np.isnan(dx[1]).any()
