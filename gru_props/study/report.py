"""Markdown tables and figures from a ``StudyResult``.

For the curve experiment, ``curve_markdown(result)`` renders the protocol,
a headline (median test loss per cell and budget), the paired tests, the
chorales beside Chung et al. 2014, and per task the points, the parameters
each cell needs to reach given losses and the paired comparisons;
``plot_curve(result, task, path)`` draws test loss against parameter count.
For the round-2 experiments:

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
from typing import Any, Dict, List, Optional, Sequence, Tuple

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

__all__ = ["markdown", "headline", "plot_curves", "curve_bands", "count_table", "title", "TITLES",
           "curve_markdown", "plot_curve", "curve_headline", "curve_verdicts", "CHUNG_JSB"]


TITLES = {"compare": "GRU vs LSTM", "reversed": "Reversed interpolation",
          "curve": "Parameter efficiency: GRU vs LSTM vs tanh RNN across budgets"}


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
    seeds = cfg["seeds"]
    if cfg.get("quick"):
        n = len(seeds)
        out += [f"**Quick mode: a smoke test of the machinery (few steps, {n} seed{'s' if n != 1 else ''}, "
                f"{len(cfg['lrs'])} learning rate{'s' if len(cfg['lrs']) != 1 else ''}). "
                "These numbers are not evidence for or against either model.**", ""]
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


# ------------------------------------------------------------------ the curve
#: Chung et al. 2014 on JSB Chorales, test NLL per time step (about 20k parameters each;
#: the GRU's 8.54 read on paperswithcode, the others second-hand from a reproduction's README).
CHUNG_JSB = (("tanh RNN", 9.19), ("GRU", 8.54), ("LSTM", 8.67))
#: Chung et al.'s hidden sizes for the music tasks (tanh 100, GRU 46, LSTM 36 units [memory]).
CHUNG_UNITS = {"tanh RNN": 100, "GRU": 46, "LSTM": 36}

_CELL_OF = {"GRU": "gru", "LSTM": "lstm", "tanh RNN": "rnn"}


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _needed_text(v: float, smallest: int) -> str:
    from gru_props.study.analysis import AT_MOST_SMALLEST

    if v == AT_MOST_SMALLEST:
        return f"≤ {smallest:,}"
    if math.isinf(v):
        return "never"
    return f"{v:,.0f}"


def _median_needed(values: Sequence[float], smallest: int) -> str:
    from gru_props.study.analysis import AT_MOST_SMALLEST

    order = sorted(values, key=lambda v: 0.0 if v == AT_MOST_SMALLEST else v)
    if not order:
        return "–"
    n = len(order)
    mid = order[n // 2] if n % 2 else order[n // 2 - 1]  # the lower median: no interpolation with "never"
    lo, hi = order[0], order[-1]
    return f"{_needed_text(mid, smallest)} [{_needed_text(lo, smallest)}–{_needed_text(hi, smallest)}]"


def curve_levels(points, task: Task) -> List[Tuple[str, float]]:
    """The losses the parameters-needed table asks about: the GRU's median test loss at each
    budget above the smallest, and the task's threshold when it has one."""
    from gru_props.study.analysis import _by_variant

    by = _by_variant(points)
    ref = by.get("GRU") or next(iter(by.values()))
    levels = [(f"{ref[0].variant}'s median at {_budget(p.budget)}", p.test_q[1]) for p in ref[1:]
              if math.isfinite(p.test_q[1])]
    if task.threshold_loss is not None:
        levels.append((f"threshold {task.threshold_loss:g}", float(task.threshold_loss)))
    return levels


def _budget(b: int) -> str:
    from gru_props.study.config import budget_text

    return budget_text(b)


def curve_pairs(variants: Sequence[str]) -> List[Tuple[str, str]]:
    """GRU against each other variant, then LSTM forget bias 1 against forget bias 0."""
    pairs = [(variants[0], v) for v in variants[1:]]
    if "LSTM, forget bias 1" in variants and "LSTM, forget bias 0" in variants:
        pairs.append(("LSTM, forget bias 1", "LSTM, forget bias 0"))
    return pairs


def curve_headline(result: StudyResult) -> List[str]:
    """One row per task: per variant, the median test loss at each budget (smallest first)."""
    from gru_props.study.analysis import _by_variant, curve_points

    rows, variants = [], []
    for task in _tasks(result):
        by = _by_variant(curve_points(result.runs, task.name))
        for v in by:
            if v not in variants:
                variants.append(v)
        row = [task.name, " / ".join(_budget(p.budget) for p in next(iter(by.values())))]
        for v in variants:
            row.append(" / ".join(_num(p.test_q[1]) for p in by.get(v, [])) or "–")
        rows.append(row)
    return _table(["task", "budgets"] + variants, rows)


def curve_verdicts(result: StudyResult) -> List[str]:
    """Per task, the pooled paired sign tests (GRU vs each, LSTM bias 1 vs 0) as a table."""
    from gru_props.study.analysis import _by_variant, curve_points, pooled_compare

    rows = []
    for task in _tasks(result):
        points = curve_points(result.runs, task.name)
        variants = list(_by_variant(points))
        for a, b in curve_pairs(variants):
            c = pooled_compare(points, a, b)
            per = ", ".join(f"{_budget(k)} {w}/{l_}/{t}" for k, (w, l_, t) in c.per_budget.items())
            rows.append([task.name, f"{a} vs {b}", per, f"{c.wins}/{c.losses}/{c.ties}", c.verdict])
    return _table(["task", "pair", "W/L/T per budget", "W/L/T pooled", "verdict"], rows)


def _curve_task_section(result: StudyResult, task: Task, h: str, figure: Optional[str]) -> List[str]:
    from gru_props.study.analysis import (
        _by_variant,
        curve_points,
        needed_comparison,
        params_needed,
        pooled_compare,
    )

    cfg = result.config
    points = curve_points(result.runs, task.name)
    by = _by_variant(points)
    variants = list(by)
    steps = int(cfg["steps"][task.name])
    batch = int(cfg.get("batch", {}).get(task.name, cfg["batch_size"]))
    evals = int(cfg.get("evals", {}).get(task.name, cfg["eval_every"]))
    patience = cfg.get("patience", {}).get(task.name)
    out = [f"{h}# {task.title}", ""]
    if task.name == "chorales":
        epochs = steps // evals
        out += [f"Up to {epochs} epochs of {evals} batches of {batch} chorales ({steps:,} steps)"
                + (f", stopped after {patience} epochs without a better validation NLL" if patience else "")
                + f"; validation scored every epoch; {task.baseline_text}.", ""]
        out += _chorale_facts(task) + [""]
    else:
        out += [f"{task.steps_T} time steps; {steps:,} training steps of batch {batch}; validation scored "
                f"every {evals} steps; solved at {task.threshold_text}; {task.baseline_text}.", ""]
    if figure:
        out += [f"![test {task.loss_name} against parameters, {task.name}]({figure})", ""]
    has_acc = any(p.accuracy is not None for p in points)
    has_thr = task.threshold_loss is not None or task.target == "steps"
    head = ["cell", "budget", "H", "params", "lr [grid]", f"test {task.loss_name} at best step: median [range]"]
    if has_acc:
        head.append("test accuracy (median)")
    if has_thr:
        head.append("solved")
    if task.name == "anbn":
        head.append("generalises to n (median)")
    per_epoch = evals if task.name == "chorales" else None
    head.append("best epoch (median)" if per_epoch else "best step (median)")
    rows = []
    for p in points:
        grid = ", ".join(_lr(v) for v in p.grid)
        flag = "" if not p.edge else (f" **edge: lowest of grid**{_edge_reason(cfg, p)}" if p.edge == "lowest" else
                                      f" **edge: highest of grid**{_edge_reason(cfg, p)}" if p.edge == "highest"
                                      else " (one rate)")
        row = [p.variant, _budget(p.budget), str(p.H), f"{p.n_params:,}", f"{_lr(p.lr)} [{grid}]{flag}",
               f"{_num(p.test_q[1], 3)} [{_num(p.test_range[0], 3)}–{_num(p.test_range[1], 3)}]"]
        if has_acc:
            row.append("–" if p.accuracy is None else _pct(p.accuracy))
        if has_thr:
            row.append(f"{p.solved}/{len(p.per_seed)}")
        if task.name == "anbn":
            row.append("–" if p.generalisation is None else f"{p.generalisation:g}")
        if math.isnan(p.best_step):
            row.append("–")
        else:
            row.append(f"{p.best_step / per_epoch:,.0f}" if per_epoch else f"{p.best_step:,.0f}")
        if p.diverged:
            row[-1] += f" ({p.diverged} diverged)"
        rows.append(row)
    out += _table(head, rows) + [""]
    at_end = [r for r in _chosen_runs(result, task.name) if r.best_step is not None and r.best_step >= steps]
    n_chosen = len(_chosen_runs(result, task.name))
    if at_end:
        out += [f"{len(at_end)} of the {n_chosen} runs above (each point's chosen rate) had their best validation "
                f"score at the last step of the {'epoch' if per_epoch else 'step'} budget: still improving when "
                f"the budget ran out, so their loss overstates what that cell would reach with longer training.", ""]
    levels = curve_levels(points, task)
    if levels:
        smallest = {v: by[v][0].n_params for v in variants}
        out += ["Parameters each cell needs to reach a test loss (per seed, interpolated in log parameters "
                "and log loss between the budgets around the first one that reaches it; median [range] over "
                "seeds; ≤ n: reached already at the smallest budget; never: not within the budgets). "
                "W/L/T: seeds where the GRU needed fewer / more / as many parameters.", ""]
        head = ["level"] + variants + [f"{variants[0]} vs {v}: W/L/T" for v in variants[1:]]
        rows = []
        for name, level in levels:
            row = [f"{_num(level, 3)} ({name})"]
            for v in variants:
                row.append(_median_needed(list(params_needed(points, v, level).values()), smallest[v]))
            for v in variants[1:]:
                w, l_, t = needed_comparison(points, variants[0], v, level)
                row.append(f"{w}/{l_}/{t}")
            rows.append(row)
        out += _table(head, rows) + [""]
    out += ["Paired by (budget, seed), each point at its chosen rate: W/L/T counts pairs where the first cell "
            "had the lower / higher / equal test loss at its best step; one sign test over every untied pair "
            "of all budgets.", ""]
    rows = []
    for a, b in curve_pairs(variants):
        c = pooled_compare(points, a, b)
        per = ", ".join(f"{_budget(k)}: {w}/{l_}/{t}" for k, (w, l_, t) in c.per_budget.items())
        rows.append([f"{a} vs {b}", per, f"{c.wins}/{c.losses}/{c.ties}", c.verdict])
    out += _table(["pair", "W/L/T per budget", "W/L/T all", "verdict"], rows) + [""]
    return out


def _edge_reason(cfg: Dict, p) -> str:
    """Why a choice at the edge of its grid was not widened further."""
    if not cfg.get("widen"):
        return " (grid not widened)"
    from gru_props.study.runner import next_rate

    lo, hi = cfg.get("lr_range", [1e-4, 1e-1])
    direction = -1 if p.edge == "lowest" else +1
    nxt = next_rate(p.lr, direction, p.grid)
    if (direction < 0 and nxt < lo * (1 - 1e-9)) or (direction > 0 and nxt > hi * (1 + 1e-9)):
        return f" (the next rate, {_lr(nxt)}, is beyond the widening's limit {_lr(lo if direction < 0 else hi)})"
    return f" (after {cfg.get('max_rounds', 4)} widening rounds, the most allowed)"


def _chosen_runs(result: StudyResult, task: str) -> List[RunResult]:
    from gru_props.study.analysis import at_chosen_lr

    return [r for r in at_chosen_lr([r for r in result.runs if r.task == task and r.budget is not None], "best")]


def _chorale_facts(task: Task) -> List[str]:
    f = getattr(task, "facts", None) or {}
    sizes = f.get("sizes", {})
    dupes = f.get("duplicates", [])
    b = f.get("baselines", {})
    lines = [
        f"Corpus: music21 {f.get('music21', '?')}'s `corpus.chorales.Iterator()`, {f.get('chorales', '?')} distinct "
        f"files, {f.get('frames', '?'):,} frames; 88 keys (MIDI 21–108). Split (deterministic: groups of "
        f"identical rolls dealt in SHA-256 order of their names, 60/20/20): "
        + ", ".join(f"{p} {sizes[p][0]} chorales, {sizes[p][1]:,} frames" for p in ("train", "valid", "test")
                    if p in sizes) + ". "
        + (("Identical rolls kept on one side: " + "; ".join(" = ".join(g) for g in dupes) + ". ") if dupes else "")
        + f"Corpus digest {f.get('digest', '?')}.",
    ]
    if b:
        lines += ["", "Baselines without training (NLL per frame, nats): "
                  + "; ".join(f"{part}: p = ½ {v['half']:.1f}, key frequency {v['frequency']:.2f}, "
                              f"per-key Markov chain {v['markov']:.2f}" for part, v in b.items()) + "."]
    return lines


def curve_findings(result: StudyResult) -> List[str]:
    """The differences the pooled sign tests detected (p < 0.05), task by task, and what the runs cannot show."""
    from gru_props.study.analysis import ALPHA, _by_variant, curve_points, pooled_compare

    found, none = [], []
    for task in _tasks(result):
        points = curve_points(result.runs, task.name)
        for a, b in curve_pairs(list(_by_variant(points))):
            c = pooled_compare(points, a, b)
            n = c.wins + c.losses
            if n and c.p < ALPHA:
                win, lose = (a, b) if c.wins > c.losses else (b, a)
                k = max(c.wins, c.losses)
                found.append(f"* {task.name}: **{win}** below {lose} in {k} of {n} untied (budget, seed) pairs "
                             f"(p = {c.p:.2g})")
            else:
                none.append(f"{task.name}: {a} vs {b}")
    out = ["Detected (pooled sign test, p < 0.05):", ""] + (found or ["* nothing"]) + [""]
    if none:
        out += ["No difference detected: " + "; ".join(none) + ".", ""]
    out += ["What these runs cannot show: one layer, small models (at most the largest budget), short training "
            "(a fixed step or epoch budget per task, the same for every cell), one optimiser (Adam, clipping, "
            "no weight noise or dropout), a learning rate tuned on a coarse ladder, and few seeds. The pooled "
            "test's pairs share seeds across budgets, so they are not independent: read its p as a guide. At "
            "equal parameters a step costs about the same arithmetic in every cell, but not the same number "
            "of NumPy calls (the tanh RNN's fewest): time per step is in each run's ms_per_step, not "
            "compared here."]
    return out


def curve_chung(result: StudyResult) -> List[str]:
    """Our chorales figures near 20k parameters beside Chung et al. 2014's (if the study ran the chorales)."""
    from gru_props.study.analysis import curve_points

    tasks = [t for t in _tasks(result) if t.name == "chorales"]
    if not tasks:
        return []
    points = curve_points(result.runs, "chorales")
    near: Dict[str, Any] = {}
    for p in points:
        best = near.get(p.variant)
        if best is None or abs(math.log(p.n_params / 20000)) < abs(math.log(best.n_params / 20000)):
            near[p.variant] = p
    rows = []
    chung = dict(CHUNG_JSB)
    for variant, p in near.items():
        key = "LSTM" if variant.startswith("LSTM") else variant
        rows.append([variant, f"{p.n_params:,} (H = {p.H})", _num(p.test_q[1], 3),
                     f"{chung.get(key, math.nan):.2f} (H = {CHUNG_UNITS.get(key, '?')})"])
    return _table(["cell", "here: params", "here: test NLL (median)", "Chung et al. 2014: JSB test NLL"], rows)


def _task_grids(cfg: Dict) -> str:
    grids = cfg.get("task_lrs") or {}
    if not grids:
        return ""
    return " (" + "; ".join(f"{t}: {{{', '.join(_lr(v) for v in g)}}}" for t, g in grids.items()) + \
        "; the others as stated)"


def curve_markdown(result: StudyResult, *, heading_level: int = 2,
                   figures: Optional[Dict[str, str]] = None) -> str:
    """The curve experiment as Markdown: protocol, headline, per task the curve, the tables, the tests."""
    cfg = result.config
    h = "#" * heading_level
    seeds = cfg["seeds"]
    out = [f"{h} {title(result)}", ""]
    if cfg.get("quick"):
        n = len(seeds)
        out += [f"**Quick mode: a smoke test of the machinery ({n} seed{'s' if n != 1 else ''}, one learning "
                f"rate, short runs, small budgets). These numbers are not evidence for or against any cell.**", ""]
    lo, hi = cfg.get("lr_range", [1e-4, 1e-1])
    widen = (f"widened one rung of the 1–3 ladder at a time (… 1e-3, 3e-3, 1e-2 …) beyond any edge choice, "
             f"within [{_lr(lo)}, {_lr(hi)}] and for at most {cfg.get('max_rounds', 4)} rounds; a choice still at "
             f"an edge is marked **edge** in the tables") if cfg.get("widen") else \
        "not widened (a choice at an edge is marked in the tables)"
    out += [
        f"Protocol: each cell (GRU, LSTM with forget-gate bias 0 and 1, tanh RNN) at each parameter budget, "
        f"its hidden size H the one whose trained parameter count (recurrent layer in gru_props' layout plus "
        f"the linear readout) is nearest to the budget, per task. {len(seeds)} paired seeds (seed s fixes the "
        f"training batches and the validation and test sets for every cell, and the initial weights for a "
        f"given cell and H). Adam, gradient-norm clip {cfg['clip']:g}, float32; PyTorch's uniform(±1/√H) "
        f"initialisation, then the LSTM's forget-gate bias where the cell names one; GRU in the reset-after "
        f"form. Each run is scored at its best validation step: the parameters of its lowest validation loss "
        f"are kept and the test set scored on them. Learning rate per cell, budget and task: starting from "
        f"{{{', '.join(_lr(v) for v in cfg['lrs'])}}}, the rate with the lowest mean best validation loss over "
        f"seeds{_task_grids(cfg)}; the grid {widen}. Trained with gru_props' own forward and backward passes (NumPy), "
        f"every run on one BLAS thread.",
        "",
        "Headline: median test loss at the best validation step, budget by budget (smallest first), each cell "
        "at its chosen rate.",
        "",
    ]
    out += curve_headline(result) + [""]
    out += ["Paired tests (the detail per task follows):", ""]
    out += curve_verdicts(result) + [""]
    out += curve_findings(result) + [""]
    chung = curve_chung(result)
    if chung:
        out += ["Beside Chung et al. 2014 (JSB Chorales; their GRU's 8.54 read on paperswithcode, the tanh "
                "and LSTM figures second-hand from a reproduction's README): they trained on the standard "
                "229/76/77 split of 382 chorales (Boulanger-Lewandowski 2012), which music21's 350 files cannot "
                "rebuild, with RMSProp, weight noise and gradient clipping, at about 20k parameters (their "
                "widths give 27.8k, 22.8k and 21.3k with an 88-output readout). The numbers are therefore "
                "not comparable to the decimal; the ordering of the cells is what can be compared.", ""]
        out += chung + [""]
    for task in _tasks(result):
        fig = (figures or {}).get(task.name)
        out += _curve_task_section(result, task, h, fig)
    return "\n".join(out).rstrip() + "\n"


def plot_curve(result: StudyResult, task_name: str, path: str) -> str:
    """Save a PNG of test loss against parameter count for one task; returns ``path``.

    One line per cell variant through the median over seeds at each budget
    (log-log axes), the min–max band over seeds shaded, each point at its
    chosen learning rate and scored at its best validation step; a point
    whose rate is still at the edge of its grid is drawn hollow; dotted:
    the task's baseline; on the chorales, Chung et al. 2014's JSB figures as
    crosses.

    Raises:
        ImportError: matplotlib is not installed (``pip install "gru_props[study]"``).
        ValueError: the study has no curve runs on ``task_name``.
    """
    from gru_props.study.analysis import _by_variant, curve_points

    (matplotlib,) = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = next(t for t in _tasks(result) if t.name == task_name)
    points = curve_points(result.runs, task_name)
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    colors = plt.get_cmap("tab10")
    for i, (variant, ps) in enumerate(_by_variant(points).items()):
        x = np.array([p.n_params for p in ps], dtype=float)
        med = np.array([p.test_q[1] for p in ps])
        lo = np.array([p.test_range[0] for p in ps])
        hi = np.array([p.test_range[1] for p in ps])
        finite = np.isfinite(med)
        c = colors(i % 10)
        ax.plot(x[finite], med[finite], "-", color=c, lw=1.6, label=variant)
        for p, xv, mv in zip(ps, x, med):
            if math.isfinite(mv):
                ax.plot([xv], [mv], "o", color=c, ms=5, mfc="white" if p.edge in ("lowest", "highest") else c)
        band = np.isfinite(lo) & np.isfinite(hi)
        ax.fill_between(x[band], lo[band], hi[band], color=c, alpha=0.15, lw=0)
    if math.isfinite(task.baseline):
        ax.axhline(task.baseline, color="grey", lw=0.8, ls=":", label="baseline (no training)")
    if task.name == "chorales":
        for j, (cell, v) in enumerate(CHUNG_JSB):
            D = K = 88
            H = CHUNG_UNITS[cell]
            from gru_props.study.models import count_parameters_trained

            n = count_parameters_trained(_CELL_OF[cell], D, H, K)
            ax.plot([n], [v], "x", color="black", ms=7, mew=1.5, label="Chung et al. 2014 (JSB)" if j == 0 else None)
            offset = {"tanh RNN": (5, -10), "GRU": (6, -4), "LSTM": (-62, 2)}[cell]
            ax.annotate(f"{cell} {v:.2f}", (n, v), textcoords="offset points", xytext=offset, fontsize=7)
    if task.threshold_loss is not None:
        ax.axhline(task.threshold_loss, color="black", lw=0.8, ls="--", label=f"threshold {task.threshold_loss:g}")
    ax.set_xscale("log")
    if task.target != "frames":
        ax.set_yscale("log")
    ax.set_xlabel("trained parameters (recurrent layer + readout)")
    ax.set_ylabel(f"test {task.loss_name} at best validation step")
    seeds = len(result.config["seeds"])
    ax.set_title(f"{task.title}\nmedian over {seeds} seed{'s' if seeds != 1 else ''} (line), min–max (band); "
                 f"hollow: rate at the edge of its grid", fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
