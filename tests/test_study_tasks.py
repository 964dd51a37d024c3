"""The study's task generators, each on its own: shapes, dtypes, seeding, structure, baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gru_props.study.tasks import (
    AddingProblem,
    AnBn,
    CopyTask,
    make_task,
    task_from_description,
)


def rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ adding


@pytest.mark.parametrize("T", [50, 100])
def test_adding_shapes_dtypes(T):
    b = AddingProblem(T=T).sample(rng(), 7)
    assert b.x.shape == (7, T, 2) and b.x.dtype == np.float64
    assert b.y.shape == (7, 1) and b.y.dtype == np.float64
    assert b.mask is None


def test_adding_structure():
    T = 30
    b = AddingProblem(T=T).sample(rng(3), 500)
    values, marker = b.x[:, :, 0], b.x[:, :, 1]
    assert values.min() >= 0 and values.max() < 1
    assert set(np.unique(marker)) == {0.0, 1.0}
    assert np.all(marker.sum(axis=1) == 2)
    assert np.all(marker[:, : T // 2].sum(axis=1) == 1)  # one mark in each half
    assert np.all(marker[:, T // 2:].sum(axis=1) == 1)
    np.testing.assert_allclose(b.y[:, 0], (values * marker).sum(axis=1), rtol=0, atol=1e-15)


def test_adding_trivial_predictor_scores_one_sixth():
    # Always predicting the mean target (1) scores Var(U + U') = 2/12 on a large batch
    # (std of the estimate ~0.0006 at this size).
    b = AddingProblem(T=50).sample(rng(11), 100_000)
    mse = float(np.mean((b.y - 1.0) ** 2))
    assert abs(mse - 1 / 6) < 0.003
    assert AddingProblem().baseline == pytest.approx(1 / 6)
    # and the mean really is the best constant
    assert abs(float(b.y.mean()) - 1.0) < 0.005


def test_adding_solved_threshold():
    t = AddingProblem(T=50)
    assert t.solved(0.0099) and not t.solved(0.01) and not t.solved(1 / 6)
    assert AddingProblem(T=50, threshold=0.05).solved(0.04)


# -------------------------------------------------------------------- copy


def test_copy_shapes_dtypes():
    t = CopyTask(symbols=5, length=4, delay=7)
    b = t.sample(rng(), 6)
    T = 2 * 4 + 7
    assert t.steps_T == T and t.D == 7 and t.K == 5
    assert b.x.shape == (6, T, 7) and b.x.dtype == np.float64
    assert b.y.shape == (6, T) and b.y.dtype == np.int64
    assert b.mask.shape == (6, T) and b.mask.dtype == bool


def test_copy_structure():
    t = CopyTask(symbols=4, length=5, delay=10)
    b = t.sample(rng(5), 200)
    L, go = 5, 15
    assert np.all(b.x.sum(axis=2) == 1)  # exactly one channel on at every step
    symbols = b.x[:, :L, :4].argmax(axis=2)
    assert np.all(b.x[:, L:, 4].sum(axis=1) == b.x.shape[1] - L - 1)  # blanks except the delimiter
    assert np.all(b.x[:, go, 5] == 1) and b.x[:, :, 5].sum() == 200
    assert np.all(b.mask[:, go:]) and not b.mask[:, :go].any()
    np.testing.assert_array_equal(b.y[:, go:], symbols)
    # every symbol occurs
    assert set(np.unique(symbols)) == {0, 1, 2, 3}


def test_copy_baseline_and_solved():
    t = CopyTask(symbols=8)
    assert t.baseline == pytest.approx(math.log(8))
    # a uniform guess really scores log K
    b = t.sample(rng(), 10)
    logp = np.full((b.mask.sum(), 8), -math.log(8))
    assert -logp[np.arange(len(logp)), b.y[b.mask]].mean() == pytest.approx(t.baseline)
    assert t.solved(0.1, 0.995) and not t.solved(0.1, 0.98) and not t.solved(0.0, None)


# -------------------------------------------------------------------- a^n b^n


def test_anbn_strings_exact():
    b = AnBn.strings(np.array([1, 3]), 9)
    # S a b | S a a a b b b, padded with zero inputs
    sym = np.where(b.x.sum(axis=2) > 0, b.x.argmax(axis=2), -1)
    np.testing.assert_array_equal(sym[0], [0, 1, 2, -1, -1, -1, -1, -1, -1])
    np.testing.assert_array_equal(sym[1], [0, 1, 1, 1, 2, 2, 2, -1, -1])
    # scored: from the first b on; next symbol b ... then E (class 2)
    np.testing.assert_array_equal(b.mask[0], [0, 0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(b.y[0][b.mask[0]], [2])
    np.testing.assert_array_equal(b.mask[1], [0, 0, 0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(b.y[1][b.mask[1]], [1, 1, 2])


def test_anbn_sample_shapes_and_lengths():
    t = AnBn(N=6, test_max=20)
    b = t.sample(rng(2), 400)
    assert b.x.shape == (400, 13, 3) and b.x.dtype == np.float64
    assert b.y.dtype == np.int64 and b.mask.dtype == bool
    ns = b.mask.sum(axis=1)  # n scored steps per string
    assert ns.min() == 1 and ns.max() == 6
    assert np.all(b.x[:, :, 1].sum(axis=1) == ns) and np.all(b.x[:, :, 2].sum(axis=1) == ns)
    assert np.all((b.y == 2).sum(axis=1) == 1)  # one end marker per string


def test_anbn_validation_and_generalisation_sets():
    t = AnBn(N=5, test_max=12)
    v = t.validation_set()
    assert v.x.shape == (5, 11, 3)
    np.testing.assert_array_equal(v.mask.sum(axis=1), np.arange(1, 6))
    g = t.generalisation_set()
    assert g.x.shape == (12, 25, 3)
    np.testing.assert_array_equal(g.mask.sum(axis=1), np.arange(1, 13))


def test_anbn_generalisation_length():
    f = AnBn.generalisation_length
    assert f(np.array([True] * 7)) == 7
    assert f(np.array([True, True, False, True])) == 2  # contiguous from n = 1
    assert f(np.array([False, True])) == 0


def test_anbn_baseline_is_best_constant_guess():
    t = AnBn(N=10)
    b = t.sample(rng(1), 20_000)
    p_end = float((b.y[b.mask] == 2).mean())
    assert abs(p_end - 2 / 11) < 0.01
    ent = -(p_end * math.log(p_end) + (1 - p_end) * math.log(1 - p_end))
    assert abs(t.baseline - ent) < 0.01
    assert t.solved(0.3, 1.0) and not t.solved(0.0, 0.999)


# -------------------------------------------------------------------- common


@pytest.mark.parametrize("task", [AddingProblem(T=20), CopyTask(), AnBn(N=8)], ids=lambda t: t.name)
def test_seeding(task):
    a, b = task.sample(rng(42), 16), task.sample(rng(42), 16)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    c = task.sample(rng(43), 16)
    assert not np.array_equal(a.x, c.x)
    # a generator advances: two draws in a row differ
    g = rng(42)
    assert not np.array_equal(task.sample(g, 16).x, task.sample(g, 16).x)


@pytest.mark.parametrize("task", [AddingProblem(T=20), CopyTask(), AnBn(N=8)], ids=lambda t: t.name)
def test_description_round_trip(task):
    again = task_from_description(task.describe())
    assert again == task and again.name == task.name


def test_make_task():
    assert make_task("adding50") == AddingProblem(T=50)
    assert make_task("adding100").T == 100
    assert make_task("adding20").T == 20
    assert make_task("copy", delay=5).delay == 5
    assert make_task("anbn").N == 10
    with pytest.raises(ValueError, match="adding50"):
        make_task("parity")


def test_bad_arguments():
    with pytest.raises(ValueError, match="T"):
        AddingProblem(T=1)
    with pytest.raises(ValueError, match="threshold"):
        AddingProblem(threshold=2.0)
    with pytest.raises(ValueError, match="symbols"):
        CopyTask(symbols=1)
    with pytest.raises(ValueError, match="test_max"):
        AnBn(N=10, test_max=5)
    with pytest.raises(TypeError, match="Generator"):
        AddingProblem().sample(0, 4)
    with pytest.raises(ValueError, match="B"):
        CopyTask().sample(rng(), 0)
    with pytest.raises(ValueError, match="description"):
        task_from_description({"task": "Parity"})
