"""From runs to findings: the learning rate per arm, summaries, paired per-seed comparisons.

Plain NumPy and the standard library (no SciPy): the exact two-sided sign
test is a binomial sum.

* Learning rate: per (task, arm), the grid value with the lowest mean final
  validation loss over seeds (a diverged run counts as +inf; ties go to the
  smaller rate). The reported figures are that rate's runs, scored on the
  test set, which the choice never saw.
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


def _loss_key(r: RunResult) -> float:
    return r.final_val_loss if (not r.diverged and math.isfinite(r.final_val_loss)) else math.inf


def choose_lr(runs: Iterable[RunResult]) -> Dict[Tuple[str, str], float]:
    """Per (task, arm): the learning rate with the lowest mean final validation loss over seeds."""
    table: Dict[Tuple[str, str], Dict[float, List[float]]] = {}
    for r in runs:
        table.setdefault((r.task, r.arm), {}).setdefault(r.lr, []).append(_loss_key(r))
    chosen = {}
    for key, by_lr in table.items():
        chosen[key] = min(sorted(by_lr), key=lambda lr: (float(np.mean(by_lr[lr])), lr))
    return chosen


def at_chosen_lr(runs: Sequence[RunResult]) -> List[RunResult]:
    """The runs made at their arm's chosen learning rate."""
    chosen = choose_lr(runs)
    return [r for r in runs if chosen[(r.task, r.arm)] == r.lr]


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
