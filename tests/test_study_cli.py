"""``gru-props study``: the quick mode end to end, the report's content, the runner and
the analysis behind it, and the clear error when the ``study`` extra is missing."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gru_props.study.analysis import choose_lr, compare, summarise
from gru_props.study.trainer import RunResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _needs_extra():
    for name in ("joblib", "tqdm", "matplotlib", "threadpoolctl", "music21"):
        pytest.importorskip(name)


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory):
    _needs_extra()
    from gru_props.study.cli import main

    out = tmp_path_factory.mktemp("study")
    status = main(["--quick", "--out", str(out), "--no-progress", "--jobs", "2"])
    assert status == 0
    return out


CURVE_TASKS = ["adding20", "copy", "anbn", "chorales"]
VARIANTS = ["GRU", "LSTM, forget bias 0", "LSTM, forget bias 1", "tanh RNN"]


def _png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 10_000


def test_quick_mode_writes_a_curve_figure_and_table_for_every_task(quick_out):
    files = sorted(os.listdir(quick_out))
    assert [f for f in files if f.endswith(".md")] == ["study.md"]
    assert {f"curve_{t}.png" for t in CURVE_TASKS} | {"reversed_interpolation.png"} <= set(files)
    assert all(_png(quick_out / f) for f in files if f.endswith(".png"))
    assert {"runs-curve.jsonl", "runs-reversed.jsonl", "study.json.gz"} <= set(files)
    md = (quick_out / "study.md").read_text(encoding="utf-8")
    assert "Command: `gru-props study --quick" in md and "Machine:" in md and "Versions:" in md
    assert "Run time summed over runs" in md and "music21" in md
    assert "**Quick mode: a smoke test of the machinery (2 seeds," in md and "not evidence" in md
    sections = md.split("\n### ")
    for task in CURVE_TASKS:
        sec = next(s for s in sections if "![test " in s and f"curve_{task}.png" in s)
        rows = [line for line in sec.splitlines() if line.startswith("| ") and line.split("|")[1].strip() in VARIANTS]
        points = [r for r in rows if r.split("|")[2].strip() in ("250", "500", "1k", "2k", "4k", "8k")]
        assert len(points) == 16, task  # 4 cells x 4 budgets
        for r in points:
            cells = [c.strip() for c in r.strip("|").split("|")]
            H, n = int(cells[2]), int(cells[3].replace(",", ""))
            assert H >= 1 and n > 0 and "(one rate)" in cells[4]
        assert "Parameters each cell needs to reach a test loss" in sec
        assert "GRU vs LSTM, forget bias 0" in sec and "sign test" in sec
    chorales = next(s for s in sections if s.startswith("Bach chorales"))
    assert "train 36 chorales" in chorales and "valid 12 chorales" in chorales and "test 12 chorales" in chorales
    assert "every key at p = 1/2" in chorales or "p = ½ 61.0" in chorales
    assert "Chung et al. 2014" in md and "8.54" in md
    # the reversed experiment's exact-equivalence line is still there
    assert '"standard" and "reversed, z negated at init" over all seeds: 0 ' in md


def test_quick_mode_json_round_trip(quick_out, tmp_path):
    from gru_props.study.cli import main

    with gzip.open(quick_out / "study.json.gz", "rt", encoding="utf-8") as f:
        data = json.load(f)
    exps = {e["config"]["experiment"]: e for e in data["experiments"]}
    assert set(exps) == {"curve", "reversed"}
    assert len(exps["curve"]["runs"]) == 4 * 16 * 1 * 2  # tasks x arms x 1 learning rate x 2 seeds
    assert len(exps["reversed"]["runs"]) == 6 * 2
    assert all(r["best_step"] is not None for r in exps["curve"]["runs"])
    assert main(["--from-json", str(quick_out / "study.json.gz"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "study.md").read_text() == (quick_out / "study.md").read_text()
    assert _png(tmp_path / "curve_chorales.png")


def test_banner_tells_the_number_of_seeds(tmp_path):
    _needs_extra()
    from gru_props.study.cli import main

    assert main(["--quick", "--seeds", "1", "--experiment", "curve", "--tasks", "adding6", "--budgets", "40,80",
                 "--steps", "5", "--out", str(tmp_path), "--no-progress", "--jobs", "1"]) == 0
    md = (tmp_path / "study.md").read_text()
    assert "(1 seed, one learning rate" in md and "2 seeds" not in md


@pytest.mark.parametrize("args, fragments", [
    (["--jobs", "0"], ["--jobs", "-1 (every core", "got 0"]),
    (["--jobs", "-3"], ["--jobs", "got -3"]),
    (["--lrs", "inf"], ["--lrs", "positive finite", "'inf'"]),
    (["--lrs", "nan,1e-3"], ["--lrs", "'nan,1e-3'"]),
    (["--lrs=-1e-3"], ["--lrs", "positive finite"]),
    (["--seeds", "0"], ["--seeds", ">= 1", "got 0"]),
    (["--steps", "ten"], ["--steps", "whole number", "'ten'"]),
    (["--budgets", "1k,abc"], ["--budgets", "1000,3000,10k,30k", "'1k,abc'"]),
    (["--budgets", "1k,1000"], ["--budgets", "distinct"]),
    (["--experiment", "reversed", "--budgets", "1k"], ["--budgets", "only the curve", "--hidden"]),
    (["--experiment", "curve", "--hidden", "8"], ["--hidden", "--budgets"]),
    (["--tasks", "parity"], ["task", "chorales", "adding<T>", "'parity'"]),
    (["--experiment", "nope"], ["--experiment", "'nope'"]),
    (["--resume", "--from-json", "x.json"], ["--resume", "--from-json"]),
])
def test_bad_arguments_exit_2_before_any_training(args, fragments, tmp_path, capsys):
    _needs_extra()
    from gru_props.study.cli import main

    out = tmp_path / "out"
    assert main(args + ["--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    for f in fragments:
        assert f in err, (f, err)
    assert not list(out.glob("runs-*.jsonl")) if out.exists() else True  # nothing trained, nothing stored


def test_unwritable_out_and_existing_runs_exit_2(tmp_path, capsys):
    _needs_extra()
    from gru_props.study.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["--quick", "--out", str(blocker / "sub"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out: cannot write into the folder" in err and "writable folder" in err
    def small(seeds="1"):
        return ["--experiment", "curve", "--tasks", "adding6", "--budgets", "40", "--steps", "5", "--seeds", seeds,
                "--lrs", "1e-2", "--no-widen", "--out", str(tmp_path / "s"), "--no-progress", "--jobs", "1"]

    assert main(small()) == 0
    capsys.readouterr()
    assert main(small()) == 2  # a second start would overwrite the finished runs
    assert "already holds runs" in capsys.readouterr().err
    assert main(small("2") + ["--resume"]) == 2
    assert "another configuration (differs in: seeds)" in capsys.readouterr().err
    assert main(small() + ["--resume"]) == 0  # nothing left to train: the report again
    assert "resuming: 4 finished runs kept" in capsys.readouterr().err


def test_compare_experiment_counts_and_pairs(tmp_path):
    # The round-2 comparison at one size is still there: exact parameter counts (GRU
    # 3(DH + H^2) + 4H + readout, LSTM 4(DH + H^2 + H) + readout) and paired comparisons.
    _needs_extra()
    from gru_props.study.cli import main

    assert main(["--quick", "--experiment", "compare", "--steps", "30", "--out", str(tmp_path), "--no-progress",
                 "--jobs", "1"]) == 0
    md = (tmp_path / "study.md").read_text(encoding="utf-8")
    assert "| adding20 | GRU H=16 | 16 | 928 | 960 | 17 | 945 |  |" in md
    assert "| adding20 | LSTM equal budget, forget bias 0 | 14 | 952 | 1,008 | 15 | 967 | +2.3 % |" in md
    assert "GRU H=16 vs LSTM H=16, forget bias 0" in md and "sign test" in md
    assert "(few steps, 2 seeds, 1 learning rate)" in md


def test_help_and_from_json_errors(tmp_path, capsys):
    _needs_extra()
    from gru_props.study.cli import main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "gru-props study" in out and "--resume" in out and "--budgets" in out
    assert main(["--from-json", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2


# ------------------------------------------------------- interruption, resume

# Small enough to take seconds, big enough to be interrupted mid-way and to widen its grids
# (its runs come in rounds that a resume must re-derive).
SMALL = ["--experiment", "curve", "--tasks", "adding6", "--budgets", "60,200", "--steps", "20",
         "--seeds", "1", "--no-progress", "--jobs", "2"]


def _start(out, extra=()):
    cmd = [sys.executable, "-m", "gru_props.study", *SMALL, "--out", str(out), *extra]
    # A fresh session: the test can signal the study and its workers as a terminal would, and
    # SIGINT reset to its default (a shell's background jobs inherit it ignored).
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _runs_in(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum('"kind": "run"' in line for line in f)


def _wait_for_runs(proc, path, n, timeout=90):
    deadline = time.monotonic() + timeout
    while _runs_in(path) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no runs written in time"
        time.sleep(0.05)


def _group_gone(pgid, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _report_without_times(folder):
    text = (folder / "study.md").read_text()
    skip = ("Command:", "Wall time:", "Run time summed", "Machine:")
    return "\n".join(line for line in text.splitlines() if not line.startswith(skip))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    _needs_extra()
    out = tmp_path_factory.mktemp("whole")
    proc = _start(out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def test_resume_after_a_kill_trains_only_the_rest_and_gives_the_same_report(uninterrupted, tmp_path):
    runs = tmp_path / "runs-curve.jsonl"
    proc = _start(tmp_path)
    _wait_for_runs(proc, runs, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up: the study and its workers die at once
    proc.communicate()
    assert _group_gone(proc.pid)
    kept = _runs_in(runs)
    assert kept >= 3
    assert not (tmp_path / "study.md").exists()
    again = _start(tmp_path, ["--resume"])
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"resuming: {kept} finished runs kept" in err
    total = _runs_in(uninterrupted / "runs-curve.jsonl")
    assert _runs_in(runs) == total  # every run once: none trained twice, none missing
    with open(runs) as f:
        sittings = [json.loads(line)["sitting"] for line in f if '"kind": "sitting"' in line]
    assert sittings[-1]["kept"] == kept and sittings[-1]["trained"] == total - kept
    assert _report_without_times(tmp_path) == _report_without_times(uninterrupted)


def test_ctrl_c_stops_the_workers_and_keeps_what_finished(tmp_path):
    runs = tmp_path / "runs-curve.jsonl"
    proc = _start(tmp_path)
    _wait_for_runs(proc, runs, 2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal reaches the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = _runs_in(runs)
    assert f"interrupted; {kept} finished runs kept in" in err and "--resume" in err
    assert kept >= 2
    assert _group_gone(proc.pid), "a worker outlived the interrupted study"
    with open(runs) as f:
        assert json.loads(f.read().splitlines()[-1])["sitting"]["interrupted"] is True


# ------------------------------------------------------------------- dask


def test_the_quick_study_gives_identical_results_on_a_dask_cluster(quick_out, tmp_path):
    """The quick curve's chorales (the task whose data travels to the workers; the CLI test
    below runs a synthetic task there) under joblib's Dask backend on a distributed.LocalCluster
    of two worker processes: the same runs as the local quick study, number for number."""
    _needs_extra()
    pytest.importorskip("distributed")
    import joblib
    from distributed import Client, LocalCluster

    from gru_props.study.cli import _compact
    from gru_props.study.config import study_config
    from gru_props.study.runner import run_study

    cfg = study_config("curve", quick=True, tasks=["chorales"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster), joblib.parallel_config(backend="dask"):
        result = run_study(cfg, n_jobs=-1, progress=False)
    assert result.environment["jobs"] == "2"
    with gzip.open(quick_out / "study.json.gz", "rt", encoding="utf-8") as f:
        local = next(e for e in json.load(f)["experiments"] if e["config"]["experiment"] == "curve")
    timing = ("ms_per_step", "wall_s")
    want = {(r["task"], r["arm"], r["lr"], r["seed"]): {k: v for k, v in r.items() if k not in timing}
            for r in local["runs"] if r["task"] == "chorales"}
    got = {(r.task, r.arm, r.lr, r.seed): {k: v for k, v in _compact(dataclasses.asdict(r)).items()
                                           if k not in timing} for r in result.runs}
    assert len(got) == 16 * 2 and got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], key


def test_cli_runs_on_a_dask_scheduler_and_refuses_a_dead_one(tmp_path, capsys):
    _needs_extra()
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from gru_props.study.cli import main

    small = ["--experiment", "curve", "--tasks", "adding6", "--budgets", "40,80", "--steps", "5", "--seeds", "1",
             "--lrs", "1e-2", "--no-widen", "--no-progress"]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main(small + ["--out", str(tmp_path / "d"), "--dask", cluster.scheduler_address]) == 0
    err = capsys.readouterr().err
    assert "running on the Dask cluster at" in err and "(2 workers)" in err
    assert "parallel runs: 2 (Dask workers)" in (tmp_path / "d" / "study.md").read_text()
    assert main(small + ["--out", str(tmp_path / "e"), "--dask", "tcp://127.0.0.1:9", "--dask-timeout", "2"]) == 2
    assert "--dask: cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err


def test_missing_extra_gives_the_install_command(monkeypatch, tmp_path, capsys):
    from gru_props.study import runner
    from gru_props.study.cli import main
    from gru_props.study.config import study_config

    monkeypatch.setitem(sys.modules, "joblib", None)  # import joblib now raises ImportError
    assert main(["--quick", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'pip install "gru_props[study]"' in err and "joblib" in err
    with pytest.raises(ImportError, match=r'pip install "gru_props\[study\]"'):
        runner.run_study(study_config("reversed", quick=True), progress=False)


def test_core_and_study_import_without_the_extra():
    code = (
        "import sys\n"
        "for m in ('joblib', 'tqdm', 'matplotlib'): sys.modules[m] = None\n"
        "import gru_props, gru_props.study\n"
        "from gru_props.study import train, make_task, Arm\n"
        "r = train(make_task('adding5'), Arm('g', 'gru', H=3), seed=0, lr=1e-2, steps=3, batch_size=2)\n"
        "print(len(r.val_loss))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "gru_props.study", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "--quick" in out.stdout


def test_parallel_runs_equal_sequential_runs():
    _needs_extra()
    from gru_props.study.config import study_config
    from gru_props.study.runner import run_study

    cfg = study_config("reversed", quick=True, steps=20, tasks=["adding6"])
    cfg.arms = cfg.arms[:2]
    one = run_study(cfg, n_jobs=1, progress=False)
    two = run_study(cfg, n_jobs=2, progress=False)
    key = lambda r: (r.task, r.arm, r.lr, r.seed)  # noqa: E731
    assert [key(r) for r in one.runs] == [key(r) for r in two.runs]
    for a, b in zip(one.runs, two.runs):
        assert a.val_loss == b.val_loss and a.test_loss == b.test_loss


# ------------------------------------------------------------------ analysis


def _run(arm, seed, lr, steps_to, val, test, cell="gru"):
    return RunResult(task="t", arm=arm, cell=cell, H=4, lr=lr, seed=seed, steps=100, batch_size=8, n_params=10,
                     eval_steps=[0, 100], val_loss=[1.0, val], val_accuracy=[None, None], train_loss=[1.0, val],
                     steps_to_threshold=steps_to, final_val_loss=val, final_val_accuracy=None, test_loss=test,
                     test_accuracy=None, generalisation=None, ms_per_step=2.0, wall_s=1.0, diverged=False)


def test_learning_rate_choice_and_paired_comparison():
    runs = []
    for s in range(6):
        runs.append(_run("A", s, 1e-3, 50, 0.01, 0.011))
        runs.append(_run("A", s, 1e-2, None, 0.2, 0.2))  # worse rate for A
        runs.append(_run("B", s, 1e-3, None if s < 3 else 90, 0.1, 0.12, "lstm"))
        runs.append(_run("B", s, 1e-2, 80 + s, 0.02, 0.021, "lstm"))  # better rate for B
    runs.append(dataclasses.replace(_run("B", 9, 1e-3, None, float("nan"), float("nan"), "lstm"), diverged=True))
    assert choose_lr(runs) == {("t", "A"): 1e-3, ("t", "B"): 1e-2}
    steps = compare(runs, "t", "A", "B", "steps")
    assert [p[0] for p in steps.pairs] == list(range(6))
    assert (steps.wins, steps.losses, steps.ties) == (6, 0, 0)
    assert steps.p == pytest.approx(2 / 64) and steps.verdict.startswith("A: fewer steps")
    loss = compare(runs, "t", "A", "B", "test_loss")
    assert loss.wins == 6 and "A: lower test loss" in loss.verdict
    summaries = {s.arm: s for s in summarise(runs)}
    assert summaries["A"].lr == 1e-3 and summaries["A"].solved == 6 and summaries["A"].steps_q[1] == 50
    assert summaries["B"].lr == 1e-2 and summaries["B"].steps_q[1] == pytest.approx(82.5)
    assert summaries["A"].seconds_to_threshold == pytest.approx(50 * 2.0 / 1e3)


def test_verdict_says_no_difference_when_the_data_do():
    runs = [_run("A", s, 1e-3, 100 + (s % 2) * 50, 0.01, 0.01) for s in range(5)]
    runs += [_run("B", s, 1e-3, 125, 0.01, 0.01, "lstm") for s in range(5)]
    c = compare(runs, "t", "A", "B", "steps")
    assert (c.wins, c.losses) == (3, 2)
    assert c.verdict.startswith("no difference detected")
    tie = compare(runs, "t", "A", "B", "test_loss")
    assert tie.ties == 5 and tie.verdict == "no difference detected (every seed tied)"
    with pytest.raises(ValueError, match="metric"):
        compare(runs, "t", "A", "B", "accuracy")


def test_generalisation_is_compared_higher_is_better():
    runs = []
    for s in range(6):
        runs.append(dataclasses.replace(_run("A", s, 1e-3, 50, 0.01, 0.01), generalisation=12))
        runs.append(dataclasses.replace(_run("B", s, 1e-3, 50, 0.01, 0.01, "lstm"), generalisation=15 + s))
    gen = compare(runs, "t", "A", "B", "generalisation")
    assert [(x, y) for _, x, y in gen.pairs] == [(12.0, 15.0 + s) for s in range(6)]
    assert (gen.wins, gen.losses, gen.ties) == (0, 6, 0)
    assert gen.verdict.startswith("B: generalises to longer strings") and gen.p == pytest.approx(2 / 64)
    with pytest.raises(ValueError, match="only the a\\^n b\\^n task"):
        compare([_run("A", 0, 1e-3, 50, 0.01, 0.01), _run("B", 0, 1e-3, 50, 0.01, 0.01)],
                "t", "A", "B", "generalisation")


def test_the_committed_study_report_is_what_its_runs_render():
    """docs/study/study.md (round 2) must be the report of docs/study/study.json.gz (no hand edits, not stale)."""
    from gru_props.study.cli import FIGURES, _load, report_text
    from gru_props.study.runner import StudyResult

    folder = os.path.join(ROOT, "docs", "study")
    data = _load(os.path.join(folder, "study.json.gz"))
    results = [StudyResult.from_json(e) for e in data["experiments"]]
    assert [r.config["experiment"] for r in results] == ["compare", "reversed"]
    assert all(len(r.config["seeds"]) == 10 and not r.config["quick"] for r in results)
    assert len(results[0].runs) == 600 and len(results[1].runs) == 120
    rendered = report_text(results, data["command"], float(data["total_s"]))
    with open(os.path.join(folder, "study.md"), encoding="utf-8") as f:
        assert f.read() == rendered
    for fig in FIGURES.values():
        assert os.path.getsize(os.path.join(folder, fig)) > 10_000


def test_the_committed_curve_report_is_what_its_runs_render():
    """docs/study/curve/study.md must be the report of its study.json.gz, and the full protocol:
    four cells at four or more budgets per task, at least 5 paired seeds, every rate interior or flagged."""
    from gru_props.study.analysis import curve_points
    from gru_props.study.cli import _load, curve_figures, report_text
    from gru_props.study.runner import StudyResult

    folder = os.path.join(ROOT, "docs", "study", "curve")
    path = os.path.join(folder, "study.json.gz")
    if not os.path.exists(path):
        pytest.fail("docs/study/curve/study.json.gz is missing: the full curve study has not been committed")
    data = _load(path)
    results = [StudyResult.from_json(e) for e in data["experiments"]]
    assert [r.config["experiment"] for r in results] == ["curve"]
    res = results[0]
    assert len(res.config["seeds"]) >= 5 and not res.config["quick"] and res.config["widen"]
    rendered = report_text(results, data["command"], float(data["total_s"]))
    with open(os.path.join(folder, "study.md"), encoding="utf-8") as f:
        md = f.read()
    assert md == rendered
    for task, fig in curve_figures(res).items():
        assert os.path.getsize(os.path.join(folder, fig)) > 10_000
        points = curve_points(res.runs, task)
        assert {p.variant for p in points} == set(VARIANTS)
        assert all(len({p.budget for p in points if p.variant == v}) >= 4 for v in VARIANTS)
        assert all(len(p.per_seed) >= 5 for p in points)
        for p in points:  # interior, or flagged in the report
            assert p.edge == "" or "**edge:" in md
    assert "chorales" in curve_figures(res)
