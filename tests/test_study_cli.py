"""``gru-props study``: the quick mode end to end, the report's content, the runner and
the analysis behind it, and the clear error when the ``study`` extra is missing."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys

import pytest

from gru_props.study.analysis import choose_lr, compare, summarise
from gru_props.study.trainer import RunResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _needs_extra():
    for name in ("joblib", "tqdm", "matplotlib"):
        pytest.importorskip(name)


@pytest.fixture(scope="module")
def quick_out(tmp_path_factory):
    _needs_extra()
    from gru_props.study.cli import main

    out = tmp_path_factory.mktemp("study")
    status = main(["--quick", "--out", str(out), "--no-progress", "--jobs", "2"])
    assert status == 0
    return out


def test_quick_mode_writes_the_table_and_figures(quick_out):
    files = sorted(os.listdir(quick_out))
    assert [f for f in files if f.endswith(".md")] == ["study.md"]
    pngs = [f for f in files if f.endswith(".png")]
    assert {"gru_vs_lstm.png", "reversed_interpolation.png"} <= set(pngs)
    for f in pngs:
        with open(quick_out / f, "rb") as fh:
            head = fh.read(8)
        assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(quick_out / f) > 10_000


def test_quick_mode_table_content(quick_out):
    md = (quick_out / "study.md").read_text(encoding="utf-8")
    assert "Quick mode" in md and "not evidence" in md
    assert "Command: `gru-props study --quick" in md and "Machine:" in md and "Versions:" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    # a summary row per arm, naming GRU and LSTM, with a solve count "k/2"
    gru = [r for r in rows if r.startswith("| GRU H=16 | 16 | 945 |")]
    lstm = [r for r in rows if r.startswith("| LSTM equal budget, forget bias 1 | 14 | 967 |")]
    assert gru and lstm
    for r in gru + lstm:
        cells = [c.strip() for c in r.strip("|").split("|")]
        assert cells[4].split()[0] in ("0/2", "1/2", "2/2")
    # exact parameter counts: GRU 3(DH + H^2) + 4H + readout, LSTM 4(DH + H^2 + H) + readout
    assert "| adding20 | GRU H=16 | 16 | 928 | 960 | 17 | 945 |  |" in md
    assert "| adding20 | LSTM equal budget, forget bias 0 | 14 | 952 | 1,008 | 15 | 967 | +2.3 % |" in md
    # paired comparisons and the reversed experiment's exact-equivalence line
    assert "GRU H=16 vs LSTM H=16, forget bias 0" in md
    assert "sign test" in md
    assert '"standard" and "reversed, z negated at init" over all seeds: 0 ' in md


def test_quick_mode_json_round_trip(quick_out, tmp_path):
    from gru_props.study.cli import main

    with gzip.open(quick_out / "study.json.gz", "rt", encoding="utf-8") as f:
        data = json.load(f)
    exps = {e["config"]["experiment"]: e for e in data["experiments"]}
    assert set(exps) == {"compare", "reversed"}
    assert len(exps["compare"]["runs"]) == 5 * 2  # 5 arms x 1 learning rate x 2 seeds
    assert len(exps["reversed"]["runs"]) == 6 * 2
    assert main(["--from-json", str(quick_out / "study.json.gz"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "study.md").read_text() == (quick_out / "study.md").read_text()


def test_usage_errors_and_help(tmp_path, capsys):
    _needs_extra()
    from gru_props.study.cli import main

    assert main(["--help"]) == 0
    assert "gru-props study" in capsys.readouterr().out
    assert main(["--experiment", "nope"]) == 2
    assert main(["--tasks", "parity", "--out", str(tmp_path)]) == 2
    assert "adding50" in capsys.readouterr().err
    assert main(["--from-json", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2


def test_missing_extra_gives_the_install_command(monkeypatch, tmp_path, capsys):
    from gru_props.study import runner
    from gru_props.study.cli import main

    monkeypatch.setitem(sys.modules, "joblib", None)  # import joblib now raises ImportError
    assert main(["--quick", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'pip install "gru_props[study]"' in err and "joblib" in err
    with pytest.raises(ImportError, match=r'pip install "gru_props\[study\]"'):
        runner.run_study(runner.study_config("reversed", quick=True), progress=False)


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
    from gru_props.study.runner import run_study, study_config

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
    """docs/study/study.md must be the report of docs/study/study.json.gz (no hand edits, not stale)."""
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
