"""From runs to findings: the learning rate per arm, summaries, paired per-seed comparisons.

Plain NumPy and the standard library (no SciPy): the exact two-sided sign
test is a binomial sum.

* Learning rate: per (task, arm), the grid value with the lowest mean
  validation loss over seeds (a diverged run counts as +inf; ties go to the
  smaller rate): the final validation loss (``score="final"``) or the
  best one over the run (``score="best"``, the curve's scoring: each run
  counts at its best validation step). The reported figures are that
  rate's runs, scored on the test set (after the last step, or with the
  parameters of the best validation step), which the choice never saw.
* Paired comparison of arms A and B on a task: per seed (each arm at its own
  chosen rate), which reached the threshold in fewer steps (a run that never
  did is worse than any that did; both never: a tie) and which ended with
  the lower test loss. Ties are dropped; the sign test asks whether wins
  and losses could be a fair coin. With n untied seeds the smallest possible
  p is 2 / 2^n, so 5 seeds can never give p < 0.05: "no difference
  detected" then says only that.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.study.trainer import RunResult

__all__ = [
    "CurvePoint",
    "PooledComparison",
    "curve_points",
    "params_needed",
    "pooled_compare",
    "needed_comparison",
    "test_loss",
    "sign_test",
    "choose_lr",
    "ArmSummary",
    "summarise",
    "Comparison",
    "compare",
    "quantiles",
    "ALPHA",
]

ALPHA = 0.05


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test: P(a split at least this uneven | fair coin), ties excluded.

    ``sign_test(5, 0)`` is 0.0625; ``sign_test(0, 0)`` is 1.0.

    Raises:
        ValueError: a negative count.
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"wins, losses: expected counts >= 0; got {wins}, {losses}.")
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def quantiles(values: Sequence[float]) -> Tuple[float, float, float]:
    """(25th percentile, median, 75th percentile), linear interpolation; inf allowed."""
    arr = np.sort(np.asarray(values, dtype=np.float64))
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)

    def q(p: float) -> float:
        pos = p * (arr.size - 1)
        lo, hi = int(math.floor(pos)), int(math.ceil(pos))
        if lo == hi or arr[lo] == arr[hi]:
            return float(arr[lo])
        return float(arr[lo] + (arr[hi] - arr[lo]) * (pos - lo))

    return q(0.25), q(0.5), q(0.75)


SCORES = ("final", "best")


def _check_score(score: str) -> str:
    if score not in SCORES:
        raise ValueError(f"score: expected 'final' or 'best'; got {score!r}.")
    return score


def _loss_key(r: RunResult, score: str = "final") -> float:
    if score == "best":
        v = r.best_val_loss
        return v if (v is not None and math.isfinite(v)) else math.inf
    return r.final_val_loss if (not r.diverged and math.isfinite(r.final_val_loss)) else math.inf


def choose_lr(runs: Iterable[RunResult], score: str = "final") -> Dict[Tuple[str, str], float]:
    """Per (task, arm): the learning rate with the lowest mean validation loss over seeds.

    ``score``: "final" (after the last step) or "best" (each run's best validation loss).

    Raises:
        ValueError: an unknown score.
    """
    _check_score(score)
    table: Dict[Tuple[str, str], Dict[float, List[float]]] = {}
    for r in runs:
        table.setdefault((r.task, r.arm), {}).setdefault(r.lr, []).append(_loss_key(r, score))
    chosen = {}
    for key, by_lr in table.items():
        chosen[key] = min(sorted(by_lr), key=lambda lr: (float(np.mean(by_lr[lr])), lr))
    return chosen


def at_chosen_lr(runs: Sequence[RunResult], score: str = "final") -> List[RunResult]:
    """The runs made at their arm's chosen learning rate."""
    chosen = choose_lr(runs, score)
    return [r for r in runs if chosen[(r.task, r.arm)] == r.lr]


def test_loss(r: RunResult, score: str = "final") -> float:
    """The run's test loss at ``score`` ("final" or "best"); inf for a run without one."""
    v = r.best_test_loss if score == "best" else (math.nan if r.diverged else r.test_loss)
    return v if (v is not None and math.isfinite(v)) else math.inf


@dataclasses.dataclass
class ArmSummary:
    """One arm on one task at its chosen learning rate, over seeds."""

    task: str
    arm: str
    cell: str
    H: int
    n_params: int
    lr: float
    seeds: int
    solved: int
    steps_q: Tuple[float, float, float]  # quartiles of steps to threshold; never solved = inf
    steps_range: Tuple[float, float]
    test_loss_q: Tuple[float, float, float]
    test_loss_range: Tuple[float, float]
    test_accuracy: Optional[float]  # median over runs; None for regression tasks
    ms_per_step: float  # median over runs
    seconds_to_threshold: Optional[float]  # median over runs, inf when never (None: no runs solved)
    generalisation: Optional[Tuple[float, int, int]]  # a^n b^n: (median, min, max)
    diverged: int


def _steps(r: RunResult) -> float:
    return math.inf if r.steps_to_threshold is None else float(r.steps_to_threshold)


def _test(r: RunResult) -> float:
    return math.inf if (r.diverged or not math.isfinite(r.test_loss)) else r.test_loss


def _generalisation(r: RunResult) -> float:
    if r.generalisation is None:
        raise ValueError(f"compare: run {r.arm!r} seed {r.seed} on {r.task!r} has no length generalisation "
                         f"(only the a^n b^n task measures it).")
    return float(r.generalisation)


# metric -> (value of a run, what "better" means, whether higher is better)
_METRICS: Dict[str, Tuple[Callable[[RunResult], float], str, bool]] = {
    "steps": (_steps, "fewer steps to threshold", False),
    "test_loss": (_test, "lower test loss", False),
    "generalisation": (_generalisation, "generalises to longer strings", True),
}


def summarise(runs: Sequence[RunResult]) -> List[ArmSummary]:
    """One ``ArmSummary`` per (task, arm), at the chosen learning rates, in first-seen order."""
    chosen = at_chosen_lr(runs)
    groups: Dict[Tuple[str, str], List[RunResult]] = {}
    for r in chosen:
        groups.setdefault((r.task, r.arm), []).append(r)
    out = []
    for (task, arm), rs in groups.items():
        rs = sorted(rs, key=lambda r: r.seed)
        steps = [_steps(r) for r in rs]
        tests = [_test(r) for r in rs]
        ms = statistics.median(r.ms_per_step for r in rs)
        secs = [_steps(r) * r.ms_per_step / 1e3 for r in rs]
        gen = [r.generalisation for r in rs if r.generalisation is not None]
        accs = [r.test_accuracy for r in rs if r.test_accuracy is not None]
        out.append(ArmSummary(
            task=task, arm=arm, cell=rs[0].cell, H=rs[0].H, n_params=rs[0].n_params, lr=rs[0].lr,
            seeds=len(rs), solved=sum(r.solved for r in rs),
            steps_q=quantiles(steps), steps_range=(min(steps), max(steps)),
            test_loss_q=quantiles(tests), test_loss_range=(min(tests), max(tests)),
            test_accuracy=float(statistics.median(accs)) if accs else None,
            ms_per_step=ms,
            seconds_to_threshold=quantiles(secs)[1] if any(r.solved for r in rs) else None,
            generalisation=(float(statistics.median(gen)), min(gen), max(gen)) if gen else None,
            diverged=sum(r.diverged for r in rs),
        ))
    return out


@dataclasses.dataclass
class Comparison:
    """Arm ``a`` against arm ``b`` on one task, seed by seed, on one metric.

    ``pairs``: per common seed, (seed, value of a, value of b): steps to
    threshold (inf for never) or test loss, lower is better, or the length
    generalisation n of a^n b^n, higher is better. ``wins``: seeds where a
    was better; ``losses``: where b was; ``p``: the sign test.
    """

    task: str
    a: str
    b: str
    metric: str
    pairs: List[Tuple[int, float, float]]
    wins: int
    losses: int
    ties: int
    p: float

    @property
    def verdict(self) -> str:
        """A sentence that claims only what the sign test supports."""
        n = self.wins + self.losses
        better = _METRICS[self.metric][1]
        if n == 0:
            return "no difference detected (every seed tied)"
        if self.p < ALPHA:
            who = self.a if self.wins > self.losses else self.b
            return f"{who}: {better} (sign test p = {self.p:.3g}, {n} untied seeds)"
        floor = 2.0 / 2 ** n
        seeds = "1 untied seed" if n == 1 else f"{n} untied seeds"
        extra = f"; {seeds} cannot reach p < {ALPHA:g}" if floor >= ALPHA else ""
        return f"no difference detected (sign test p = {self.p:.2g}{extra})"


def compare(runs: Sequence[RunResult], task: str, a: str, b: str, metric: str) -> Comparison:
    """Paired comparison of arms ``a`` and ``b`` on ``task`` by ``metric``.

    ``metric``: "steps" (to threshold), "test_loss" or "generalisation" (a^n b^n).

    Raises:
        ValueError: an unknown metric, an arm without runs on the task, or
            "generalisation" on a task that does not measure it.
    """
    if metric not in _METRICS:
        raise ValueError(f"metric: expected one of {sorted(_METRICS)}; got {metric!r}.")
    value, _, higher = _METRICS[metric]
    chosen = at_chosen_lr(runs)
    by_arm: Dict[str, Dict[int, float]] = {a: {}, b: {}}
    for r in chosen:
        if r.task == task and r.arm in by_arm:
            by_arm[r.arm][r.seed] = value(r)
    for arm in (a, b):
        if not by_arm[arm]:
            raise ValueError(f"compare: no runs of arm {arm!r} on task {task!r}.")
    seeds = sorted(set(by_arm[a]) & set(by_arm[b]))
    pairs = [(s, by_arm[a][s], by_arm[b][s]) for s in seeds]
    wins = sum((x > y) if higher else (x < y) for _, x, y in pairs)
    losses = sum((x < y) if higher else (x > y) for _, x, y in pairs)
    ties = len(pairs) - wins - losses
    return Comparison(task, a, b, metric, pairs, wins, losses, ties, sign_test(wins, losses))


# ---------------------------------------------------------------- the curve
@dataclasses.dataclass
class CurvePoint:
    """One cell variant at one parameter budget on one task, at its chosen learning rate.

    ``grid``: every rate this (task, arm) ran, ascending; ``edge``: "" when
    the chosen rate is interior, else "lowest" or "highest" (of the grid);
    ``per_seed``: seed -> test loss at the run's best validation step (inf
    for a run without one); ``test_q`` / ``test_range``: quartiles and range
    of those; ``accuracy``: median test accuracy at the best step (None for
    regression and the chorales); ``solved``: runs whose validation curve
    reached the task's threshold; ``generalisation``: a^n b^n, median length
    generalisation at the best step; ``best_step``: median best validation
    step; ``run_s``: the runs' wall time added up.
    """

    task: str
    variant: str
    budget: int
    arm: str
    cell: str
    H: int
    n_params: int
    lr: float
    grid: List[float]
    edge: str
    per_seed: Dict[int, float]
    test_q: Tuple[float, float, float]
    test_range: Tuple[float, float]
    accuracy: Optional[float]
    solved: int
    generalisation: Optional[float]
    best_step: float
    diverged: int
    run_s: float


def curve_points(runs: Sequence[RunResult], task: str) -> List[CurvePoint]:
    """Every (variant, budget) point of ``task``, each arm at its chosen rate (scored at the best step),
    ordered by variant (first seen) and budget.

    Raises:
        ValueError: no curve runs (runs with a budget) on ``task``.
    """
    mine = [r for r in runs if r.task == task and r.budget is not None]
    if not mine:
        raise ValueError(f"curve_points: no runs with a parameter budget on task {task!r}.")
    chosen = choose_lr(mine, "best")
    by_arm: Dict[str, List[RunResult]] = {}
    for r in mine:
        by_arm.setdefault(r.arm, []).append(r)
    variants: List[str] = []
    for r in mine:
        if r.group not in variants:
            variants.append(r.group)
    points = []
    for arm, rs in by_arm.items():
        lr = chosen[(task, arm)]
        grid = sorted({r.lr for r in rs})
        at = sorted((r for r in rs if r.lr == lr), key=lambda r: r.seed)
        per_seed = {r.seed: test_loss(r, "best") for r in at}
        vals = list(per_seed.values())
        accs = [r.best_test_accuracy for r in at if r.best_test_accuracy is not None]
        gens = [r.best_generalisation for r in at if r.best_generalisation is not None]
        steps = [r.best_step for r in at if r.best_step is not None]
        if len(grid) == 1:
            edge = "single rate"
        elif lr == grid[0]:
            edge = "lowest"
        elif lr == grid[-1]:
            edge = "highest"
        else:
            edge = ""
        points.append(CurvePoint(
            task=task, variant=at[0].group, budget=int(at[0].budget or 0), arm=arm, cell=at[0].cell, H=at[0].H,
            n_params=at[0].n_params, lr=lr, grid=grid, edge=edge, per_seed=per_seed,
            test_q=quantiles(vals), test_range=(min(vals), max(vals)),
            accuracy=float(statistics.median(accs)) if accs else None,
            solved=sum(r.solved for r in at),
            generalisation=float(statistics.median(gens)) if gens else None,
            best_step=float(statistics.median(steps)) if steps else math.nan,
            diverged=sum(r.diverged for r in at), run_s=float(sum(r.wall_s for r in rs)),
        ))
    points.sort(key=lambda p: (variants.index(p.variant), p.budget))
    return points


def _by_variant(points: Sequence[CurvePoint]) -> Dict[str, List[CurvePoint]]:
    out: Dict[str, List[CurvePoint]] = {}
    for p in points:
        out.setdefault(p.variant, []).append(p)
    for v in out.values():
        v.sort(key=lambda p: p.budget)
    return out


#: params_needed's marker for a level reached already at the smallest budget.
AT_MOST_SMALLEST = -1.0


def params_needed(points: Sequence[CurvePoint], variant: str, level: float) -> Dict[int, float]:
    """Per seed, the parameters ``variant`` needs to reach test loss ``level``.

    The seed's curve (test loss at the best validation step against the
    exact parameter count, budget by budget, each at its chosen rate) is
    followed from the smallest budget up; at the first budget whose loss is
    <= ``level`` the count is interpolated linearly in (log parameters, log
    loss) from the budget below. ``AT_MOST_SMALLEST`` (-1): reached already
    at the smallest budget (the count is at most its size); inf: never
    reached within the budgets.

    Raises:
        ValueError: an unknown variant.
    """
    curve = _by_variant(points).get(variant)
    if not curve:
        raise ValueError(f"params_needed: no curve for {variant!r}; variants are {sorted(_by_variant(points))}.")
    seeds = sorted(set.intersection(*(set(p.per_seed) for p in curve)))
    out: Dict[int, float] = {}
    for s in seeds:
        value = math.inf
        for k, p in enumerate(curve):
            loss = p.per_seed[s]
            if loss <= level:
                if k == 0:
                    value = AT_MOST_SMALLEST
                else:
                    q = curve[k - 1]
                    l0, l1 = q.per_seed[s], loss
                    if not (math.isfinite(l0) and l0 > 0 and l1 > 0) or l0 == l1:
                        value = float(p.n_params)
                    else:
                        frac = (math.log(level) - math.log(l0)) / (math.log(l1) - math.log(l0))
                        frac = min(1.0, max(0.0, frac))
                        value = math.exp(math.log(q.n_params) + frac * (math.log(p.n_params) - math.log(q.n_params)))
                break
        out[s] = value
    return out


def _needed_order(v: float) -> float:
    return 0.0 if v == AT_MOST_SMALLEST else v


@dataclasses.dataclass
class PooledComparison:
    """Variant ``a`` vs ``b`` on one task, paired by (budget, seed): test loss at the best step.

    ``pairs``: (budget, seed, loss of a, loss of b); ``per_budget``: budget ->
    (wins, losses, ties) of a; ``p``: the exact sign test over all untied pairs.
    The pairs of one seed share data across budgets, so the test's pairs
    are not fully independent: read p as a guide, not a guarantee.
    """

    task: str
    a: str
    b: str
    pairs: List[Tuple[int, int, float, float]]
    per_budget: Dict[int, Tuple[int, int, int]]
    wins: int
    losses: int
    ties: int
    p: float

    @property
    def verdict(self) -> str:
        n = self.wins + self.losses
        if n == 0:
            return "no difference detected (every pair tied)"
        if self.p < ALPHA:
            who = self.a if self.wins > self.losses else self.b
            return f"{who}: lower test loss (sign test p = {self.p:.2g}, {n} untied pairs)"
        return f"no difference detected (sign test p = {self.p:.2g}, {n} untied pairs)"


def pooled_compare(points: Sequence[CurvePoint], a: str, b: str) -> PooledComparison:
    """Paired comparison of variants ``a`` and ``b`` over every (budget, seed) both ran.

    Raises:
        ValueError: a variant without points.
    """
    by = _by_variant(points)
    for v in (a, b):
        if v not in by:
            raise ValueError(f"pooled_compare: no curve for {v!r}; variants are {sorted(by)}.")
    pa = {p.budget: p for p in by[a]}
    pb = {p.budget: p for p in by[b]}
    pairs, per_budget = [], {}
    for budget in sorted(set(pa) & set(pb)):
        seeds = sorted(set(pa[budget].per_seed) & set(pb[budget].per_seed))
        w = l_ = t = 0
        for s in seeds:
            x, y = pa[budget].per_seed[s], pb[budget].per_seed[s]
            pairs.append((budget, s, x, y))
            if x < y:
                w += 1
            elif x > y:
                l_ += 1
            else:
                t += 1
        per_budget[budget] = (w, l_, t)
    wins = sum(v[0] for v in per_budget.values())
    losses = sum(v[1] for v in per_budget.values())
    ties = sum(v[2] for v in per_budget.values())
    return PooledComparison(points[0].task if points else "", a, b, pairs, per_budget, wins, losses, ties,
                            sign_test(wins, losses))


def needed_comparison(points: Sequence[CurvePoint], a: str, b: str, level: float) -> Tuple[int, int, int]:
    """(wins, losses, ties) of ``a`` against ``b``: seeds where a needed fewer parameters for ``level``.

    Never reaching it is worse than reaching it; both reaching it at the
    smallest budget, or neither reaching it, is a tie.
    """
    na, nb = params_needed(points, a, level), params_needed(points, b, level)
    w = l_ = t = 0
    for s in sorted(set(na) & set(nb)):
        x, y = _needed_order(na[s]), _needed_order(nb[s])
        if x == y:
            t += 1
        elif x < y:
            w += 1
        else:
            l_ += 1
    return w, l_, t
