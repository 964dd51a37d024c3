"""The parameter-efficiency curve's parts, each on its own: the chorales (piano roll, split,
duplicates, the task's batches and loss), the learning-rate widening, the run store that
makes --resume possible, and the curve's analysis (points, parameters needed, paired tests)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from gru_props.study.analysis import (
    AT_MOST_SMALLEST,
    curve_points,
    needed_comparison,
    params_needed,
    pooled_compare,
)
from gru_props.study.config import budget_text, curve_arms, run_key, study_config
from gru_props.study.models import Arm, Model, count_parameters_trained, hidden_size
from gru_props.study.runner import RunStore, next_rate, widen_grids
from gru_props.study.tasks import AddingProblem, make_task
from gru_props.study.trainer import RunResult, train

# ------------------------------------------------------------------ chorales


def _music21():
    return pytest.importorskip("music21")


def test_piano_roll_frames_follow_offsets_and_durations():
    m21 = _music21()
    from gru_props.study.chorales import piano_roll

    s = m21.stream.Stream()
    s.insert(0.0, m21.note.Note("C4", quarterLength=2.0))  # MIDI 60: frames 0, 1
    s.insert(1.0, m21.chord.Chord(["E4", "G4"], quarterLength=1.5))  # 64, 67: frames 1, 2 (ends at 2.5)
    s.insert(3.0, m21.note.Note("A0", quarterLength=0.5))  # MIDI 21, key 0: frame 3
    roll = piano_roll(s, step=1.0)
    assert roll.shape == (4, 88) and roll.dtype == bool
    on = {t: sorted(np.flatnonzero(roll[t]) + 21) for t in range(4)}
    assert on == {0: [60], 1: [60, 64, 67], 2: [64, 67], 3: [21]}
    eighths = piano_roll(s, step=0.5)  # a note is on at t when offset <= t * step < offset + length
    assert eighths.shape == (7, 88)
    assert list(np.flatnonzero(eighths[:, 64 - 21])) == [2, 3, 4]


def test_split_keeps_identical_rolls_together_and_is_deterministic():
    from gru_props.study.chorales import _split

    rng = np.random.default_rng(0)
    names = [f"bach/x{i}" for i in range(50)]
    rolls = [rng.random((5 + i % 7, 88)) < 0.05 for i in range(50)]
    rolls[7] = rolls[3].copy()  # a duplicate pair, as bwv62.6 and bwv274
    rolls[41] = rolls[12].copy()
    split, groups = _split(names, rolls)
    assert groups == (("bach/x12", "bach/x41"), ("bach/x3", "bach/x7"))
    assert split[3] == split[7] and split[12] == split[41]
    counts = {p: split.count(p) for p in ("train", "valid", "test")}
    assert sum(counts.values()) == 50 and 29 <= counts["train"] <= 31 and 9 <= counts["valid"] <= 11
    again, _ = _split(list(reversed(names)), list(reversed(rolls)))  # order of listing does not matter
    assert list(reversed(again)) == list(split)


def test_the_corpus_duplicates_are_identical_rolls():
    m21 = _music21()
    from gru_props.study.chorales import piano_roll

    for a, b in (("bach/bwv62.6", "bach/bwv274"), ("bach/bwv69.6-a", "bach/bwv69.6")):
        ra, rb = (piano_roll(m21.corpus.parse(n)) for n in (a, b))
        np.testing.assert_array_equal(ra, rb)


def test_subset_loads_split_and_caches(tmp_path, monkeypatch):
    _music21()
    from gru_props.study import chorales

    data = chorales.load_chorales(subset=60)
    assert len(data.names) == 60 and len(set(data.names)) == 60
    assert all(n.startswith("bach/") for n in data.names)  # corpus names, never machine paths
    sizes = data.sizes()
    assert [sizes[p][0] for p in ("train", "valid", "test")] == [36, 12, 12]
    assert sum(v[1] for v in sizes.values()) == data.frames == int(data.lengths.sum())
    rolls = data.rolls()
    assert [r.shape for r in rolls] == [(int(L), 88) for L in data.lengths]
    b = data.baselines()
    assert b["test"]["half"] == pytest.approx(88 * math.log(2))
    assert b["test"]["markov"] < b["test"]["frequency"] < b["test"]["half"]
    assert chorales.load_chorales(subset=60).digest == data.digest  # deterministic
    with pytest.raises(ValueError, match="subset: expected a number of chorales from 10"):
        chorales.load_chorales(subset=3)


def test_chorales_task_batches_are_next_frame_prediction():
    _music21()
    task = make_task("chorales", subset=20)
    rng = np.random.default_rng(0)
    stream = task.batches(rng, 4)
    seen = []
    for _ in range(task.epoch_steps(4)):  # one epoch: every training chorale exactly once
        b = next(stream)
        assert b.x.shape == b.y.shape and b.x.shape[2] == 88 and b.mask.shape == b.x.shape[:2]
        L = b.mask.sum(axis=1)
        assert L.max() == b.x.shape[1]
        for row in range(b.B):
            n = int(L[row])
            np.testing.assert_array_equal(b.x[row, 1:n], b.y[row, :n - 1])  # input = previous frame
            assert not b.x[row, 0].any() and not b.y[row, n:].any()
            seen.append(b.y[row, :n].tobytes())
    train = [task.data.rolls()[i] for i in task.data.indices("train")]
    assert sorted(seen) == sorted(r.astype(float).tobytes() for r in train)
    val = task.validation_set()
    assert val.B == len(task.data.indices("valid"))
    assert task.describe()["facts"]["sizes"]["valid"][0] == val.B


@pytest.mark.parametrize("arm", [Arm("r", "rnn", H=5), Arm("g", "gru", H=4), Arm("l", "lstm", H=3, forget_bias=1.0)],
                         ids=["rnn", "gru", "lstm"])
def test_bernoulli_nll_gradient_per_frame(arm):
    # Central differences of the float64 chorales loss (NLL summed over keys, averaged over
    # valid frames, padding masked) against loss_and_grads, a few elements of every array.
    _music21()
    task = make_task("chorales", subset=20)
    model = Model(arm, task, seed=1, dtype=np.float64)
    batch = task.sample(np.random.default_rng(0), 3)
    loss, grads = model.loss_and_grads(batch)
    assert loss == pytest.approx(model.evaluate(batch)[0], rel=1e-12)
    z = np.zeros_like(batch.y)  # a model that outputs logit 0 everywhere scores 88 ln 2 per frame
    assert float((np.logaddexp(0, z) - batch.y * z)[batch.mask].sum() / batch.mask.sum()) == pytest.approx(
        88 * math.log(2))
    pick = np.random.default_rng(2)
    for name, p in model.params.items():
        for _ in range(2):
            idx = tuple(int(pick.integers(0, s)) for s in p.shape)
            old = p[idx]
            p[idx] = old + 1e-6
            up = model.evaluate(batch)[0]
            p[idx] = old - 1e-6
            down = model.evaluate(batch)[0]
            p[idx] = old
            assert grads[name][idx] == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8), (name, idx)


# ------------------------------------------------------------- budgets, arms


def test_curve_arms_size_each_cell_from_its_budget():
    arms = curve_arms([3000, 1000])
    assert [a.label for a in arms[:2]] == ["GRU @ 1k", "GRU @ 3k"]
    assert {a.group for a in arms} == {"GRU", "LSTM, forget bias 0", "LSTM, forget bias 1", "tanh RNN"}
    task = AddingProblem(T=10)
    for a in arms:
        H = hidden_size(a, task)
        n = count_parameters_trained(a.cell, task.D, H, task.K)
        # nearest: neither neighbour is closer to the budget
        for other in (H - 1, H + 1):
            if other >= 1:
                assert abs(n - a.budget) <= abs(count_parameters_trained(a.cell, task.D, other, task.K) - a.budget)
    by = {a.label: hidden_size(a, task) for a in arms}
    assert by["tanh RNN @ 1k"] > by["GRU @ 1k"] > by["LSTM, forget bias 0 @ 1k"]  # 1, 3 and 4 blocks
    assert budget_text(2500) == "2.5k" and budget_text(300) == "300"
    with pytest.raises(ValueError, match="distinct"):
        curve_arms([1000, 1000])


# ------------------------------------------------------------------- widening


def test_next_rate_walks_the_one_three_ladder():
    assert next_rate(1e-2, +1, [1e-3, 3e-3, 1e-2]) == 3e-2
    assert next_rate(3e-2, +1, [1e-3]) == 1e-1
    assert next_rate(1e-3, -1, [1e-3]) == 3e-4
    assert next_rate(3e-4, -1, [1e-3]) == 1e-4
    assert next_rate(2e-3, +1, [1e-3, 2e-3, 4e-3]) == pytest.approx(4e-3)  # off the ladder: the grid's ratio


def _fake(task, arm, lr, seed, val, budget=None, group="", test=None):
    return RunResult(task=task, arm=arm, cell="gru", H=4, lr=lr, seed=seed, steps=10, batch_size=2, n_params=10,
                     eval_steps=[0, 10], val_loss=[1.0, val], val_accuracy=[None, None], train_loss=[1.0, val],
                     steps_to_threshold=None, final_val_loss=val, final_val_accuracy=None, test_loss=val,
                     test_accuracy=None, generalisation=None, ms_per_step=1.0, wall_s=1.0, diverged=False,
                     budget=budget, group=group, best_step=10, best_val_loss=val,
                     best_test_loss=val if test is None else test)


def test_widening_adds_the_rate_beyond_an_edge_until_interior_or_bound():
    cfg = study_config("curve", tasks=["adding6"], budgets=[100], seeds=2)
    assert cfg.widen and cfg.lr_range == (1e-4, 1e-1)
    arm = cfg.arms[0].label
    key = ("adding6", arm)
    runs = {}

    def add(lr, val):
        for s in cfg.seeds:
            runs[run_key("adding6", arm, lr, s)] = _fake("adding6", arm, lr, s, val + 0.01 * s)

    add(1e-3, 0.3), add(3e-3, 0.2), add(1e-2, 0.1)  # the highest rate wins: widen upwards
    grids = {key: [1e-3, 3e-3, 1e-2]}
    assert widen_grids(cfg, runs, grids) == {key: [1e-3, 3e-3, 1e-2, 3e-2]}
    grids[key] = [1e-3, 3e-3, 1e-2, 3e-2]
    assert widen_grids(cfg, runs, grids) == {}  # 3e-2 not run yet: no decision
    add(3e-2, 0.05)
    assert widen_grids(cfg, runs, grids) == {key: [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}
    grids[key] = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    add(1e-1, 0.01)
    assert widen_grids(cfg, runs, grids) == {}  # at the bound 1e-1: stays an edge (reported as such)
    add(1e-1, 0.5)  # now 3e-2 is interior
    assert widen_grids(cfg, runs, grids) == {}
    runs.clear()
    add(1e-3, 0.01), add(3e-3, 0.2), add(1e-2, 0.3)  # the lowest wins: widen downwards
    assert widen_grids(cfg, runs, {key: [1e-3, 3e-3, 1e-2]}) == {key: [3e-4, 1e-3, 3e-3, 1e-2]}


# --------------------------------------------------------------- the run store


def test_store_writes_each_run_resumes_and_refuses_what_it_must(tmp_path):
    cfg = study_config("curve", tasks=["adding6"], budgets=[100], seeds=1, steps=5)
    path = str(tmp_path / "runs.jsonl")
    store = RunStore(path, cfg)
    r = train(**cfg.jobs()[0])
    store.add(r)
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    assert [rec["kind"] for rec in lines] == ["header", "run"]  # on disk the moment it is added
    with pytest.raises(FileExistsError, match="--resume"):
        RunStore(path, cfg)
    with open(path, "a") as f:
        f.write('{"kind": "run", "run": {"task": "CUT-SHORT')  # a line cut short by a kill
    again = RunStore(path, cfg, resume=True)
    assert list(again.runs) == [run_key(r.task, r.arm, r.lr, r.seed)]
    assert again.runs[run_key(r.task, r.arm, r.lr, r.seed)].val_loss == r.val_loss
    again.add_sitting({"wall_s": 1.0})
    with open(path) as f:
        text = f.read()
    # the line cut short is gone
    assert "CUT-SHORT" not in text and text.endswith('{"kind": "sitting", "sitting": {"wall_s": 1.0}}\n')
    assert RunStore(path, cfg, resume=True).sittings == [{"wall_s": 1.0}]
    other = study_config("curve", tasks=["adding6"], budgets=[100], seeds=2, steps=5)
    with pytest.raises(ValueError, match="another configuration.*seeds"):
        RunStore(path, other, resume=True)


# ------------------------------------------------------------------ analysis


def _curve_runs():
    """Two variants, three budgets, four seeds, two rates; A better than B everywhere but one pair."""
    runs = []
    for variant, base in (("A", 1.0), ("B", 1.3)):
        for budget, n in ((100, 100), (300, 310), (1000, 990)):
            for s in range(4):
                for lr, worse in ((1e-3, 0.2), (1e-2, 0.0)):
                    loss = base * (1000 / n) ** 0.5 * (1 + 0.01 * s) + worse
                    if variant == "B" and budget == 1000 and s == 0:
                        loss = 0.5  # one pair where B wins
                    r = _fake("t", f"{variant} @ {budget}", lr, s, loss, budget=budget, group=variant)
                    runs.append(dataclasses.replace(r, n_params=n))
    return runs


def test_curve_points_choose_rates_and_summarise():
    points = curve_points(_curve_runs(), "t")
    assert [(p.variant, p.budget) for p in points] == [("A", 100), ("A", 300), ("A", 1000),
                                                        ("B", 100), ("B", 300), ("B", 1000)]
    assert all(p.lr == 1e-2 and p.grid == [1e-3, 1e-2] and p.edge == "highest" for p in points)
    a100 = points[0]
    assert a100.n_params == 100 and sorted(a100.per_seed) == [0, 1, 2, 3]
    assert a100.test_q[1] == pytest.approx(math.sqrt(10) * 1.015)
    with pytest.raises(ValueError, match="no runs with a parameter budget"):
        curve_points(_curve_runs(), "other")


def test_params_needed_interpolates_in_log_space():
    points = curve_points(_curve_runs(), "t")
    a = params_needed(points, "A", 1.0)  # A at 990 parameters scores 1.0 * (1000/990)**0.5 * (1 + 0.01 s)
    assert all(math.isinf(v) for v in a.values())  # just above 1.0 at the largest budget: never
    level = 2.0
    got = params_needed(points, "A", level)[0]
    l0, l1 = math.sqrt(1000 / 310), math.sqrt(1000 / 990)  # seed 0 at 310 and 990 parameters
    frac = (math.log(level) - math.log(l0)) / (math.log(l1) - math.log(l0))
    assert got == pytest.approx(math.exp(math.log(310) + frac * (math.log(990) - math.log(310))))
    assert params_needed(points, "A", 5.0)[0] == AT_MOST_SMALLEST  # reached at the smallest budget
    assert needed_comparison(points, "A", "B", 2.0) == (4, 0, 0)  # A reaches 2.0 below 310, B above
    # 0.9: A never (its best is just above 1.0); B only on seed 0 (its 0.5 at 990): a loss for A
    # there, ties (never against never) on the other seeds.
    assert needed_comparison(points, "A", "B", 0.9) == (0, 1, 3)


def test_pooled_comparison_pairs_budgets_and_seeds():
    c = pooled_compare(curve_points(_curve_runs(), "t"), "A", "B")
    assert len(c.pairs) == 12
    assert c.per_budget == {100: (4, 0, 0), 300: (4, 0, 0), 1000: (3, 1, 0)}
    assert (c.wins, c.losses, c.ties) == (11, 1, 0)
    assert c.p == pytest.approx(2 * 13 / 4096)
    assert c.verdict.startswith("A: lower test loss")
