"""The study's models and trainer: gradients of the whole loss, the reversed-interpolation
relabelling, seeding and reproducibility, and that training learns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gru_props import GRUParams
from gru_props.study.models import Arm, Model
from gru_props.study.tasks import AddingProblem, AnBn, CopyTask
from gru_props.study.trainer import train

GRU = Arm("gru", "gru", H=5)
LSTM = Arm("lstm", "lstm", H=4, forget_bias=1.0)
CHUNG = Arm("chung", "gru", H=5, interpolation="chung", update_bias=1.0)
TASKS = [AddingProblem(T=6), CopyTask(symbols=3, length=2, delay=2), AnBn(N=3, test_max=5)]


def _chung_loop(x, h, p):
    """Chung et al.'s GRU, (1 - z) * h + z * n, reset after U_n, written out directly (no relabelling)."""
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    states = []
    for t in range(x.shape[1]):
        z = sig(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)
        r = sig(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)
        n = np.tanh(x[:, t] @ p.W_n + p.b_n + r * (h @ p.U_n + p.b_hn))
        h = (1 - z) * h + z * n
        states.append(h)
    return np.stack(states, axis=1), h


def _numeric_grad(model, batch, name, idx, eps=1e-6):
    p = model.params[name]
    old = p[idx]
    p[idx] = old + eps
    up, _ = model.evaluate(batch)
    p[idx] = old - eps
    down, _ = model.evaluate(batch)
    p[idx] = old
    return (up - down) / (2 * eps)


@pytest.mark.parametrize("arm", [GRU, LSTM, CHUNG], ids=lambda a: a.label)
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_gradients_of_the_whole_loss(arm, task):
    # Central differences of the float64 loss (readout, loss, mask, relabelling and layer
    # together) at a few elements of every array, against loss_and_grads.
    model = Model(arm, task, seed=3, dtype=np.float64)
    batch = task.sample(np.random.default_rng(1), 4)
    loss, grads = model.loss_and_grads(batch)
    assert loss == pytest.approx(model.evaluate(batch)[0], rel=1e-12)
    assert set(grads) == set(model.params)
    pick = np.random.default_rng(0)
    for name, p in model.params.items():
        assert grads[name].shape == p.shape and grads[name].dtype == np.float64
        for _ in range(3):
            idx = tuple(int(pick.integers(0, s)) for s in p.shape)
            num = _numeric_grad(model, batch, name, idx)
            assert grads[name][idx] == pytest.approx(num, rel=1e-5, abs=1e-8), (name, idx)


def test_reversed_model_is_chungs_gru():
    # A Chung-form arm computes h_t = (1 - z) h + z n with its own parameters: the same
    # numbers as Chung's GRU written out directly, an independent loop-based GRU.
    task = AddingProblem(T=7)
    model = Model(Arm("c", "gru", H=4, interpolation="chung", update_bias=0.7), task, seed=1, dtype=np.float64)
    x = task.sample(np.random.default_rng(2), 3).x
    hs, h_T = model._layer_forward(x, model.cell_params())
    own = GRUParams(**{k: v for k, v in model.params.items() if k not in ("W_out", "b_out")})
    ref_hs, ref_T = _chung_loop(x, np.zeros((3, 4)), own)
    np.testing.assert_allclose(hs, ref_hs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(h_T, ref_T, rtol=0, atol=1e-14)
    # and it is not the standard GRU with the same numbers
    std = Model(Arm("s", "gru", H=4, update_bias=0.7), task, seed=1, dtype=np.float64)
    assert np.abs(std._layer_forward(x, std.cell_params())[0] - hs).max() > 1e-2


def test_reversed_from_negated_init_retraces_the_standard_run_bit_for_bit():
    # forward(S theta), gradient S grad, and a sign-equivariant Adam: a reversed GRU started
    # from S theta_0 is the standard run relabelled, exactly (float32, as in the study).
    task = AddingProblem(T=8)
    kw = dict(seed=4, lr=1e-2, steps=30, batch_size=8, eval_every=10)
    std = train(task, Arm("s", "gru", H=6), **kw)
    neg = train(task, Arm("n", "gru", H=6, interpolation="chung", negate_z_at_init=True), **kw)
    same = train(task, Arm("r", "gru", H=6, interpolation="chung"), **kw)
    assert std.val_loss == neg.val_loss and std.train_loss == neg.train_loss
    assert std.test_loss == neg.test_loss
    assert same.val_loss[0] != std.val_loss[0]  # same numbers, other convention: another function


def test_seeding_fixes_initial_weights_and_data():
    task = AddingProblem(T=5)
    a, b = Model(GRU, task, seed=7), Model(GRU, task, seed=7)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    c = Model(GRU, task, seed=8)
    assert not np.array_equal(a.params["U_n"], c.params["U_n"])
    # the same numbers for every GRU arm of a seed, whatever its convention; biases as asked
    d = Model(dataclasses.replace(GRU, interpolation="chung", update_bias=1.0), task, seed=7)
    np.testing.assert_array_equal(a.params["U_z"], d.params["U_z"])
    assert np.all(d.params["b_z"] == 1.0)
    e = Model(LSTM, task, seed=7)
    assert np.all(e.params["b_f"] == 1.0) and e.params["W_out"].shape == (4, 1)
    # PyTorch's init bound
    assert np.abs(a.params["U_n"]).max() <= 1 / np.sqrt(5)


def test_runs_are_reproducible_and_learning_rate_leaves_data_alone():
    task = AddingProblem(T=6)
    kw = dict(seed=2, steps=20, batch_size=8, eval_every=5)
    r1 = train(task, LSTM, lr=1e-2, **kw)
    r2 = train(task, LSTM, lr=1e-2, **kw)
    assert r1.val_loss == r2.val_loss and r1.test_loss == r2.test_loss
    r3 = train(task, LSTM, lr=1e-3, **kw)
    assert r3.val_loss[0] == r1.val_loss[0]  # same initial weights and validation set
    assert r3.val_loss[-1] != r1.val_loss[-1]


@pytest.mark.parametrize("arm", [Arm("g", "gru", H=16), Arm("l", "lstm", H=16, forget_bias=1.0)],
                         ids=["gru", "lstm"])
def test_training_learns_the_short_adding_problem(arm):
    # 400 steps on T = 5: far below the trivial predictor's 1/6 (a broken gradient
    # or optimizer stays near it).
    task = AddingProblem(T=5)
    r = train(task, arm, seed=0, lr=1e-2, steps=400, batch_size=32, eval_every=50)
    assert r.val_loss[0] > 0.1
    assert r.final_val_loss < 0.02 and r.test_loss < 0.02
    assert r.steps_to_threshold is not None and r.steps_to_threshold % 50 == 0
    assert r.eval_steps == list(range(0, 401, 50))
    assert r.ms_per_step > 0 and not r.diverged


def test_anbn_run_reports_generalisation():
    task = AnBn(N=3, test_max=8)
    r = train(task, Arm("l", "lstm", H=8, forget_bias=1.0), seed=0, lr=1e-2, steps=30, batch_size=16,
              eval_every=10)
    assert r.generalisation is not None and 0 <= r.generalisation <= 8
    assert all(a is not None and 0 <= a <= 1 for a in r.val_accuracy)


def test_divergence_is_reported_not_raised():
    task = AddingProblem(T=5)
    r = train(task, Arm("g", "gru", H=4), seed=0, lr=1e30, steps=20, batch_size=4, eval_every=5)
    # an absurd rate: the weights blow up and the loss turns non-finite
    assert r.diverged and r.steps_to_threshold is None
    assert np.isnan(r.final_val_loss) and np.isnan(r.test_loss)
    assert len(r.val_loss) < 5  # stopped early


def test_arm_and_train_errors():
    with pytest.raises(ValueError, match="exactly one of H"):
        Arm("x", "gru")
    with pytest.raises(ValueError, match="'gru', 'lstm' or 'rnn'"):
        Arm("x", "elman", H=3)
    with pytest.raises(ValueError, match="tanh RNN has no gates"):
        Arm("x", "rnn", H=3, forget_bias=1.0)
    with pytest.raises(ValueError, match="exactly one of H"):
        Arm("x", "rnn", H=3, budget=1000)
    with pytest.raises(ValueError, match="budget: expected a parameter count"):
        Arm("x", "gru", budget=0)
    with pytest.raises(ValueError, match="GRU options"):
        Arm("x", "lstm", H=3, interpolation="chung")
    with pytest.raises(ValueError, match="LSTM options"):
        Arm("x", "gru", H=3, forget_bias=1.0)
    with pytest.raises(ValueError, match="interpolation"):
        Arm("x", "gru", H=3, interpolation="reversed")
    with pytest.raises(ValueError, match="steps"):
        train(AddingProblem(T=5), GRU, seed=0, lr=1e-3, steps=0)
    with pytest.raises(ValueError, match="dtype"):
        Model(GRU, AddingProblem(T=5), seed=0, dtype=np.float16)
