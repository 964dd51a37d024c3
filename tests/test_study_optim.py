"""Adam and gradient-norm clipping: against PyTorch's, and the sign equivariance the
reversed-interpolation experiment relies on; plus the study's sign test and quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gru_props.study.analysis import quantiles, sign_test
from gru_props.study.optim import Adam, clip_grad_norm, global_norm


def _params(seed=0, dtype=np.float64):
    r = np.random.default_rng(seed)
    return {"a": r.normal(size=(3, 4)).astype(dtype), "b": r.normal(size=(4,)).astype(dtype)}


def _grads(params, step):
    # a gradient that depends on the parameters (a quadratic bowl with a twist)
    return {k: (2.0 * v + np.sin(v * (step + 1))).astype(v.dtype) for k, v in params.items()}


def test_adam_matches_torch():
    torch = pytest.importorskip("torch")
    p = _params()
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    opt = Adam(p, lr=3e-3, betas=(0.9, 0.99), eps=1e-7)
    topt = torch.optim.Adam(list(tp.values()), lr=3e-3, betas=(0.9, 0.99), eps=1e-7)
    for step in range(25):
        g = _grads(p, step)
        opt.step(p, g)
        for k, t in tp.items():
            t.grad = torch.tensor(_grads({k: t.detach().numpy()}, step)[k])
        topt.step()
    for k in p:
        np.testing.assert_allclose(p[k], tp[k].detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=k)


def test_clip_matches_torch():
    torch = pytest.importorskip("torch")
    for max_norm in (0.5, 100.0):
        g = _params(1)
        ts = [torch.tensor(v, requires_grad=True) for v in g.values()]
        for t, v in zip(ts, g.values()):
            t.grad = torch.tensor(v)
        expected = float(torch.nn.utils.clip_grad_norm_(ts, max_norm))
        got = clip_grad_norm(g, max_norm)
        assert got == pytest.approx(expected, rel=1e-12)
        for t, v in zip(ts, g.values()):
            np.testing.assert_allclose(v, t.grad.numpy(), rtol=1e-12)


def test_clip_bounds_the_norm_and_keeps_direction():
    g = {"a": np.array([3.0, 4.0]), "b": np.array([12.0])}  # norm 13
    before = {k: v.copy() for k, v in g.items()}
    assert clip_grad_norm(g, 1.0) == pytest.approx(13.0)
    assert global_norm(g) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(g["a"] / g["b"][0], before["a"] / before["b"][0])
    small = {"a": np.array([0.1, 0.0])}
    clip_grad_norm(small, 1.0)
    np.testing.assert_array_equal(small["a"], [0.1, 0.0])  # below the limit: untouched


def test_adam_is_sign_equivariant_bit_for_bit():
    # Negating one block of parameters and its gradients negates its whole trajectory exactly:
    # what makes a reversed GRU started from S theta retrace the standard run to the bit.
    for dtype in (np.float32, np.float64):
        p = _params(2, dtype)
        q = {k: v.copy() for k, v in p.items()}
        q["a"] = -q["a"]
        opt_p, opt_q = Adam(p, lr=1e-2), Adam(q, lr=1e-2)
        for step in range(30):
            gp = _grads(p, step)
            gq = {k: v.copy() for k, v in gp.items()}
            gq["a"] = -gq["a"]
            assert clip_grad_norm(gp, 1.0) == clip_grad_norm(gq, 1.0)
            opt_p.step(p, gp)
            opt_q.step(q, gq)
        np.testing.assert_array_equal(q["a"], -p["a"])
        np.testing.assert_array_equal(q["b"], p["b"])


def test_adam_keeps_dtype_and_updates_in_place():
    p = _params(3, np.float32)
    a = p["a"]
    Adam(p, lr=0.1).step(p, _grads(p, 0))
    assert p["a"] is a and a.dtype == np.float32
    # first Adam step moves every element by lr against the sign of its gradient
    p0 = _params(3, np.float32)
    g = _grads(p0, 0)
    np.testing.assert_allclose(p["a"], p0["a"] - 0.1 * np.sign(g["a"]), rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    p = _params()
    with pytest.raises(ValueError, match="lr"):
        Adam(p, lr=0)
    with pytest.raises(ValueError, match="betas"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="grads"):
        Adam(p).step(p, {"a": p["a"]})
    with pytest.raises(ValueError, match="shape"):
        Adam(p).step(p, {"a": p["a"], "b": np.zeros(5)})
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(p, -1.0)


# ------------------------------------------------------------------ statistics


def test_sign_test_exact_values():
    assert sign_test(5, 0) == pytest.approx(2 / 32)
    assert sign_test(0, 5) == pytest.approx(2 / 32)
    assert sign_test(6, 0) == pytest.approx(2 / 64)
    assert sign_test(9, 1) == pytest.approx(2 * 11 / 1024)
    assert sign_test(3, 3) == 1.0
    assert sign_test(0, 0) == 1.0
    # brute force over all 2^n outcomes
    n = 8
    for w in range(n + 1):
        k = min(w, n - w)
        extreme = sum(math.comb(n, i) for i in range(n + 1) if min(i, n - i) <= k) / 2 ** n
        assert sign_test(w, n - w) == pytest.approx(min(1.0, extreme))
    with pytest.raises(ValueError):
        sign_test(-1, 2)


def test_quantiles():
    assert quantiles([1, 2, 3, 4, 5]) == (2.0, 3.0, 4.0)
    lo, med, hi = quantiles([100, 200, math.inf, math.inf, 300])
    assert (lo, med) == (200.0, 300.0) and math.isinf(hi)
    assert quantiles([1.0, 2.0]) == pytest.approx((1.25, 1.5, 1.75))
