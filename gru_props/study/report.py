"""Markdown tables and loss-curve figures from a ``StudyResult``.

``markdown(result)`` renders one experiment as a Markdown section: the
protocol, the parameter counts, per task a summary table (each arm at its
chosen learning rate) and the paired per-seed comparisons with their sign
tests. ``plot_curves(result, path)`` draws the validation loss of every arm
against the training step, the median over seeds as a line and the range
(min to max) as a band, one panel per task (matplotlib, from the ``study``
extra).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.study.analysis import (
    ArmSummary,
    Comparison,
    at_chosen_lr,
    compare,
    summarise,
)
from gru_props.study.runner import StudyResult, require
from gru_props.study.tasks import Task, task_from_description
from gru_props.study.trainer import RunResult

__all__ = ["markdown", "headline", "plot_curves", "curve_bands", "count_table", "title", "TITLES"]


TITLES = {"compare": "GRU vs LSTM", "reversed": "Reversed interpolation"}


def title(result: StudyResult) -> str:
    """The experiment's name for headings ("GRU vs LSTM", "Reversed interpolation")."""
    exp = result.config["experiment"]
    return TITLES.get(exp, exp)


# ----------------------------------------------------------------- formatting
def _num(v: Optional[float], digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞"
    if v == 0:
        return "0"
    if abs(v) >= 100 or (abs(v) >= 1 and float(v).is_integer()):
        return f"{v:,.0f}"
    if abs(v) >= 0.01:
        return f"{v:.{digits + 1}g}"
    return f"{v:.{digits}e}".replace("e-0", "e-")


def _steps_text(q: Tuple[float, float, float], budget: int) -> str:
    lo, med, hi = q
    if math.isinf(med):
        return f"> {budget:,} (unsolved)"
    hi_text = f"> {budget:,}" if math.isinf(hi) else f"{hi:,.0f}"
    return f"{med:,.0f} [{lo:,.0f}–{hi_text}]"


def _lr(v: float) -> str:
    return f"{v:g}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


# ----------------------------------------------------------------- parameters
def count_table(result: StudyResult) -> List[str]:
    """Parameter counts of every arm on every task: layer (two layouts), readout, total."""
    from gru_props.core import counting as _counting

    dims = {t.name: (t.D, t.K) for t in _tasks(result)}
    first: Dict[Tuple[str, str], RunResult] = {}
    for r in result.runs:
        first.setdefault((r.task, r.arm), r)
    gru_total: Dict[str, int] = {}
    for (task, _), r in first.items():
        if r.cell == "gru":
            gru_total.setdefault(task, r.n_params)
    rows = []
    for (task, arm), r in first.items():
        D, _ = dims[task]
        layer = _counting.count_parameters(r.cell, D, r.H, "gru_props")
        torch_layer = _counting.count_parameters(r.cell, D, r.H, "torch")
        ref = gru_total.get(task)
        rel = "" if ref is None or r.cell == "gru" else f"{100.0 * (r.n_params - ref) / ref:+.1f} %"
        rows.append([task, arm, str(r.H), f"{layer:,}", f"{torch_layer:,}",
                     f"{r.n_params - layer:,}", f"{r.n_params:,}", rel])
    head = ["task", "arm", "H", "layer, gru_props layout", "layer, PyTorch layout", "readout",
            "trained total", "vs GRU"]
    return _table(head, rows)


def _tasks(result: StudyResult) -> List[Task]:
    return [task_from_description(t) for t in result.config["tasks"]]


# ------------------------------------------------------------------- markdown
def _summary_rows(summaries: Sequence[ArmSummary], budget: int, has_acc: bool, anbn: bool) -> List[List[str]]:
    rows = []
    for s in summaries:
        med = s.test_loss_q[1]
        loss = f"{_num(med)} [{_num(s.test_loss_range[0])}–{_num(s.test_loss_range[1])}]"
        secs = "–" if s.seconds_to_threshold is None or math.isinf(s.seconds_to_threshold) \
            else _num(s.seconds_to_threshold)
        row = [s.arm, str(s.H), f"{s.n_params:,}", _lr(s.lr), f"{s.solved}/{s.seeds}",
               _steps_text(s.steps_q, budget), loss, f"{s.ms_per_step:.1f}", secs]
        if has_acc:
            row.insert(7, "–" if s.test_accuracy is None else f"{100 * s.test_accuracy:.1f} %")
        if anbn:
            g = s.generalisation
            row.append("–" if g is None else f"{g[0]:g} [{g[1]}–{g[2]}]")
        if s.diverged:
            row[4] += f" ({s.diverged} diverged)"
        rows.append(row)
    return rows


def _comparison_rows(comps: Sequence[Tuple[Comparison, ...]]) -> List[List[str]]:
    """One row per pair: per-seed steps, then W/L/T and the verdict of each metric compared."""
    rows = []
    for steps, *others in comps:
        per_seed = ", ".join(
            f"{'–' if math.isinf(x) else f'{x:,.0f}'}/{'–' if math.isinf(y) else f'{y:,.0f}'}"
            for _, x, y in steps.pairs)
        rows.append([
            f"{steps.a} vs {steps.b}",
            per_seed,
            f"{steps.wins}/{steps.losses}/{steps.ties}",
            steps.verdict,
        ] + [cell for c in others for cell in (f"{c.wins}/{c.losses}/{c.ties}", c.verdict)])
    return rows


def pairs_for(result: StudyResult) -> List[Tuple[str, str]]:
    """The arm pairs an experiment compares (first arm vs each, or the reversed pairs)."""
    labels = [a["label"] for a in result.config["arms"]]
    if result.config["experiment"] == "reversed":
        wanted = [("standard", "reversed, same init"), ("standard", "reversed, z negated at init"),
                  ("standard, b_z = +1", "reversed, b_z = +1"), ("standard, b_z = +1", "reversed, b_z = -1"),
                  ("standard", "standard, b_z = +1")]
        return [(a, b) for a, b in wanted if a in labels and b in labels]
    return [(labels[0], b) for b in labels[1:]]


def headline(result: StudyResult) -> List[str]:
    """One row per task, one column per arm: "solved/seeds, median steps, median test loss"."""
    sums = summarise(result.runs)
    labels = [a["label"] for a in result.config["arms"]]
    rows = []
    for task in _tasks(result):
        by_arm = {s.arm: s for s in sums if s.task == task.name}
        budget = int(result.config["steps"][task.name])
        row = [task.name]
        for label in labels:
            s = by_arm.get(label)
            if s is None:
                row.append("–")
                continue
            med = s.steps_q[1]
            steps = f"> {budget:,}" if math.isinf(med) else f"{med:,.0f}"
            row.append(f"{s.solved}/{s.seeds}, {steps}, {_num(s.test_loss_q[1])}")
        rows.append(row)
    return _table(["task"] + labels, rows)


def max_curve_difference(runs: Sequence[RunResult], task: str, a: str, b: str) -> float:
    """Largest |difference| of validation losses between two arms' runs, paired by seed and rate."""
    ra = {(r.seed, r.lr): r for r in runs if r.task == task and r.arm == a}
    rb = {(r.seed, r.lr): r for r in runs if r.task == task and r.arm == b}
    worst = 0.0
    for key in set(ra) & set(rb):
        x, y = np.asarray(ra[key].val_loss), np.asarray(rb[key].val_loss)
        if x.shape != y.shape:
            return math.inf
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)))
    return worst


def markdown(result: StudyResult, *, heading_level: int = 2, figure: Optional[str] = None) -> str:
    """One experiment as Markdown: protocol, parameter counts, per-task tables, paired comparisons."""
    cfg = result.config
    h = "#" * heading_level
    exp = cfg["experiment"]
    out = [f"{h} {title(result)}", ""]
    if cfg.get("quick"):
        out += ["**Quick mode: a smoke test of the machinery (few steps, 2 seeds, one learning rate). "
                "These numbers are not evidence for or against either model.**", ""]
    seeds = cfg["seeds"]
    out += [
        f"Protocol: {len(seeds)} paired seeds (seed s fixes the initial weights, the training "
        f"batches and the validation and test sets, the same for every arm); batch {cfg['batch_size']}, "
        f"Adam, gradient-norm clip {cfg['clip']:g}, float32; learning rate per arm and task chosen from "
        f"{{{', '.join(_lr(v) for v in cfg['lrs'])}}} by the mean final validation loss over seeds; "
        f"validation loss scored every {cfg['eval_every']} steps (the resolution of steps to threshold); "
        f"final loss on a separate test set. Initialisation: PyTorch's uniform(±1/√H) for every "
        f"weight and bias, then the arm's constant gate bias if it names one. GRU: reset-after form "
        f"(PyTorch). Trained with gru_props' own forward and backward passes (NumPy).",
        "",
    ]
    if exp == "reversed":
        out += [
            "The reversed GRU, h_t = (1 − z_t)·h_{t−1} + z_t·n_t (Chung et al. 2014), is run as the standard "
            "GRU with W_z, U_z, b_z negated (σ(−a) = 1 − σ(a)): forward(Sθ) and gradient S·∇, with S the map "
            "that negates the z block. \"same init\" uses the standard arm's initial numbers as the reversed "
            "model's own; \"z negated at init\" starts from Sθ₀, the standard model itself.",
            "",
        ]
    if exp == "compare":
        out += ["Parameter counts (exact; the layer as trained here has one bias per gate plus b_hn for "
                "the GRU; PyTorch keeps two bias vectors):", ""]
        out += count_table(result) + [""]
    out += ["Headline: per task, each arm at its chosen learning rate: runs solved, median steps "
            "to threshold, median test loss.", ""]
    out += headline(result) + [""]
    if figure:
        out += [f"![validation loss curves]({figure})", ""]
    runs = result.runs
    chosen = at_chosen_lr(runs)
    for task in _tasks(result):
        budget = int(cfg["steps"][task.name])
        sums = [s for s in summarise(runs) if s.task == task.name]
        anbn = task.name == "anbn"
        out += [f"{h}# {task.title}", "",
                f"{task.steps_T} time steps; {budget:,} training steps; solved at {task.threshold_text} "
                f"on the validation set; {task.baseline_text}.", ""]
        head = ["arm", "H", "params", "lr", "solved", "steps to threshold: median [IQR]",
                f"test {task.loss_name}: median [range]", "ms/step", "s to threshold (median)"]
        if task.target == "steps":
            head.insert(7, "test accuracy (median)")
        if anbn:
            head.append("generalises to n: median [range]")
        out += _table(head, _summary_rows(sums, budget, task.target == "steps", anbn)) + [""]
        metrics = {"steps": "steps", "test_loss": "test loss"}
        if anbn:
            metrics["generalisation"] = "generalisation"
        comps = [tuple(compare(runs, task.name, a, b, m) for m in metrics) for a, b in pairs_for(result)]
        out += ["Paired by seed (each arm at its chosen learning rate). Steps per seed as a/b, – = never "
                "solved; wins/losses/ties count seeds where the first arm was better/worse/equal"
                + (" (for generalisation: reached a larger n)" if anbn else "") + ".", ""]
        head = ["pair", "steps to threshold per seed"]
        head += [col for label in metrics.values() for col in (f"{label} W/L/T", f"{label}: verdict")]
        out += _table(head, _comparison_rows(comps)) + [""]
        if exp == "reversed":
            for a, b in pairs_for(result):
                if b == "reversed, z negated at init":
                    d = max_curve_difference(chosen, task.name, a, b)
                    out += [f"Largest difference between the validation-loss curves of \"{a}\" and \"{b}\" "
                            f"over all seeds: {d:.3g} (the two are the same model by construction, and Adam "
                            f"and clipping are sign-equivariant, so the runs coincide to the bit).", ""]
    return "\n".join(out).rstrip() + "\n"


# -------------------------------------------------------------------- figures
def curve_bands(runs: Sequence[RunResult]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(steps, median, min, max) of the validation loss over runs on the same schedule.

    A diverged run (shorter curve) is left out of the band.
    """
    full = max(len(r.eval_steps) for r in runs)
    curves = [r.val_loss for r in runs if len(r.val_loss) == full]
    steps = np.asarray(next(r.eval_steps for r in runs if len(r.eval_steps) == full), dtype=float)
    arr = np.asarray(curves, dtype=float)
    return steps, np.median(arr, axis=0), arr.min(axis=0), arr.max(axis=0)


def plot_curves(result: StudyResult, path: str) -> str:
    """Save a PNG of validation-loss curves (median line, min–max band) per task; returns ``path``.

    Raises:
        ImportError: matplotlib is not installed (``pip install "gru_props[study]"``).
    """
    (matplotlib,) = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = _tasks(result)
    chosen = at_chosen_lr(result.runs)
    n = len(tasks)
    ncols = 1 if n == 1 else 2
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.2 * nrows), squeeze=False)
    labels = [a["label"] for a in result.config["arms"]]
    colors = plt.get_cmap("tab10")
    for ax, task in zip(axes.ravel(), tasks):
        for i, label in enumerate(labels):
            rs = [r for r in chosen if r.task == task.name and r.arm == label]
            if not rs:
                continue
            steps, med, lo, hi = curve_bands(rs)
            style = "--" if i >= 1 and result.config["experiment"] == "reversed" and "negated" in label else "-"
            ax.plot(steps, med, style, color=colors(i % 10), lw=1.6,
                    label=f"{label} (H={rs[0].H}, lr {rs[0].lr:g})")
            ax.fill_between(steps, lo, hi, color=colors(i % 10), alpha=0.15, lw=0)
        ax.axhline(task.baseline, color="grey", lw=0.8, ls=":")
        if task.threshold_loss is not None:
            ax.axhline(task.threshold_loss, color="black", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"validation {task.loss_name}")
        ax.set_title(task.title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    seeds = len(result.config["seeds"])
    fig.suptitle(f"{title(result)}: validation loss per training step\nmedian (line) and min–max band over {seeds} "
                 f"seeds; dotted: trivial baseline, dashed: threshold", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
