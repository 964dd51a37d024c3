"""What a study runs: the arms (cells, sizes, budgets), the tasks, the learning-rate grids and step budgets
of each experiment (``study_config``), and the cost of one run (for the progress bar and the schedule).

``runner`` runs a ``StudyConfig``; nothing here trains.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gru_props.core.arrays import check_positive_int
from gru_props.study.models import Arm, hidden_size
from gru_props.study.tasks import Task, make_task

__all__ = ["StudyConfig", "comparison_arms", "reversed_arms", "curve_arms", "CURVE_VARIANTS", "study_config",
           "run_key", "budget_text", "arms_for", "cost", "EXPERIMENTS"]

EXPERIMENTS = ("curve", "compare", "reversed")


# ---------------------------------------------------------------------- arms
def comparison_arms(H: int = 32) -> List[Arm]:
    """GRU of H units vs LSTMs at equal H and at equal parameter budget, forget bias 0 and 1."""
    H = check_positive_int("H", H)
    arms = [Arm(f"GRU H={H}", "gru", H=H, group="GRU")]
    for fb in (0.0, 1.0):
        arms.append(Arm(f"LSTM H={H}, forget bias {fb:g}", "lstm", H=H, forget_bias=fb, group="equal H"))
    for fb in (0.0, 1.0):
        arms.append(Arm(f"LSTM equal budget, forget bias {fb:g}", "lstm", budget_of=H, forget_bias=fb,
                        group="equal budget"))
    return arms


def reversed_arms(H: int = 32) -> List[Arm]:
    """The reversed-interpolation arms, all GRUs of H units from the same initial numbers."""
    H = check_positive_int("H", H)
    return [
        Arm("standard", "gru", H=H, group="symmetric init"),
        Arm("reversed, same init", "gru", H=H, interpolation="chung", group="symmetric init"),
        Arm("reversed, z negated at init", "gru", H=H, interpolation="chung", negate_z_at_init=True,
            group="symmetric init"),
        Arm("standard, b_z = +1", "gru", H=H, update_bias=1.0, group="update-gate bias"),
        Arm("reversed, b_z = +1", "gru", H=H, interpolation="chung", update_bias=1.0,
            group="update-gate bias"),
        Arm("reversed, b_z = -1", "gru", H=H, interpolation="chung", update_bias=-1.0,
            group="update-gate bias"),
    ]


#: The curve's cells: (variant label, cell, LSTM forget-gate bias at init).
CURVE_VARIANTS: Tuple[Tuple[str, str, Optional[float]], ...] = (
    ("GRU", "gru", None),
    ("LSTM, forget bias 0", "lstm", 0.0),
    ("LSTM, forget bias 1", "lstm", 1.0),
    ("tanh RNN", "rnn", None),
)


def budget_text(budget: int) -> str:
    """``1000`` -> ``"1k"``, ``2500`` -> ``"2.5k"``, ``300`` -> ``"300"``."""
    return f"{budget / 1000:g}k" if budget >= 1000 else str(budget)


def curve_arms(budgets: Sequence[int]) -> List[Arm]:
    """One arm per (cell variant, budget): GRU, LSTM forget bias 0 and 1, tanh RNN.

    The label is ``"<variant> @ <budget>"`` (e.g. ``"GRU @ 3k"``), ``group``
    the variant, ``budget`` the parameter count each task's hidden size is
    chosen for.

    Raises:
        ValueError: no budgets, a budget below 1, or a repeated budget.
    """
    budgets = [check_positive_int("budget", b) for b in budgets]
    if not budgets or len(set(budgets)) != len(budgets):
        raise ValueError(f"budgets: expected distinct parameter counts such as 1000,3000; got {budgets}.")
    arms = []
    for variant, cell, fb in CURVE_VARIANTS:
        for b in sorted(budgets):
            arms.append(Arm(f"{variant} @ {budget_text(b)}", cell, budget=b, forget_bias=fb, group=variant))
    return arms


# -------------------------------------------------------------------- config
def run_key(task: str, arm: str, lr: float, seed: int) -> Tuple[str, str, float, int]:
    """The identity of a run: (task, arm label, learning rate, seed)."""
    return (task, arm, float(f"{lr:.6g}"), int(seed))


@dataclasses.dataclass
class StudyConfig:
    """What to run: tasks x arms x learning rates x seeds.

    ``steps`` maps a task name to its step budget (``default_steps`` for the
    others); ``batch``, ``evals`` and ``patience`` likewise override
    ``batch_size``, ``eval_every`` and (no early stop) per task.
    ``experiment`` names the study in reports ("curve", "compare",
    "reversed", or anything). ``score``: ``"final"`` (the loss after the
    last step) or ``"best"`` (at the best validation step) decides the
    learning rate and the reported test figures. ``widen``: after each round
    of runs, every (task, arm) whose chosen rate is the lowest or highest of
    the rates it ran gets the next rate beyond it (the 1-3 ladder: ... 1e-3,
    3e-3, 1e-2 ...), within ``lr_range`` and up to ``max_rounds`` rounds.
    """

    experiment: str
    tasks: List[Task]
    arms: List[Arm]
    lrs: List[float]
    seeds: List[int]
    steps: Dict[str, int]
    default_steps: int = 3000
    batch_size: int = 64
    clip: float = 1.0
    eval_every: int = 25
    quick: bool = False
    batch: Dict[str, int] = dataclasses.field(default_factory=dict)
    evals: Dict[str, int] = dataclasses.field(default_factory=dict)
    patience: Dict[str, int] = dataclasses.field(default_factory=dict)
    score: str = "final"
    widen: bool = False
    lr_range: Tuple[float, float] = (1e-4, 1e-1)
    max_rounds: int = 4
    budgets: List[int] = dataclasses.field(default_factory=list)
    task_budgets: Dict[str, List[int]] = dataclasses.field(default_factory=dict)
    task_lrs: Dict[str, List[float]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tasks or not self.arms or not self.lrs or not self.seeds:
            raise ValueError(
                f"StudyConfig: expected at least one task, arm, learning rate and seed; got "
                f"{len(self.tasks)} tasks, {len(self.arms)} arms, {len(self.lrs)} learning rates, "
                f"{len(self.seeds)} seeds."
            )
        labels = [a.label for a in self.arms]
        if len(set(labels)) != len(labels):
            raise ValueError(f"StudyConfig.arms: labels must be unique; got {labels}.")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"StudyConfig.tasks: each task once; got {names}.")
        for s in self.seeds:
            check_positive_int("seed", s, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"StudyConfig.seeds: each seed once; got {self.seeds}.")
        for lr in self.lrs:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
                raise ValueError(
                    f"StudyConfig.lrs: expected positive finite learning rates such as 1e-3; got {self.lrs}."
                )
        if self.score not in ("final", "best"):
            raise ValueError(f"StudyConfig.score: expected 'final' or 'best'; got {self.score!r}.")
        lo, hi = self.lr_range
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise ValueError(f"StudyConfig.lr_range: expected 0 < low <= high < inf; got {self.lr_range}.")
        check_positive_int("max_rounds", self.max_rounds, minimum=0)
        for task, grid in self.task_lrs.items():
            if not grid or any(not (math.isfinite(v) and v > 0) for v in grid):
                raise ValueError(f"StudyConfig.task_lrs[{task!r}]: expected positive finite rates; got {grid}.")
        for name, table in (("steps", self.steps), ("batch", self.batch), ("evals", self.evals),
                            ("patience", self.patience)):
            for task, v in table.items():
                check_positive_int(f"{name}[{task!r}]", v)

    def lrs_for(self, task: Task) -> List[float]:
        """The learning-rate grid a task starts from (``task_lrs``, else ``lrs``)."""
        return [float(f"{v:.6g}") for v in self.task_lrs.get(task.name, self.lrs)]

    def steps_for(self, task: Task) -> int:
        return int(self.steps.get(task.name, self.default_steps))

    def batch_for(self, task: Task) -> int:
        return int(self.batch.get(task.name, self.batch_size))

    def eval_for(self, task: Task) -> int:
        return int(self.evals.get(task.name, self.eval_every))

    def check(self) -> None:
        """Raise ``ValueError`` now for what would fail later (an impossible budget match)."""
        for task in self.tasks:
            for arm in arms_for(self, task):
                hidden_size(arm, task)

    def job(self, task: Task, arm: Arm, lr: float, seed: int) -> Dict[str, Any]:
        """One run as keyword arguments of ``train``."""
        return dict(task=task, arm=arm, seed=seed, lr=float(f"{lr:.6g}"), steps=self.steps_for(task),
                    batch_size=self.batch_for(task), clip=self.clip, eval_every=self.eval_for(task),
                    patience=self.patience.get(task.name))

    def jobs(self, grids: Optional[Dict[Tuple[str, str], Sequence[float]]] = None) -> List[Dict[str, Any]]:
        """Every run as keyword arguments of ``train``, most expensive first (for load balance).

        ``grids`` maps (task, arm label) to its learning rates (default: ``lrs``).
        """
        out = []
        for task in self.tasks:
            for arm in arms_for(self, task):
                hidden_size(arm, task)  # fail early on an impossible budget
                for lr in (grids or {}).get((task.name, arm.label), self.lrs_for(task)):
                    for seed in self.seeds:
                        out.append(self.job(task, arm, lr, seed))
        out.sort(key=lambda j: -cost(j))
        return out

    def describe(self) -> Dict[str, Any]:
        return {
            "experiment": self.experiment,
            "tasks": [t.describe() for t in self.tasks],
            "arms": [dataclasses.asdict(a) for a in self.arms],
            "lrs": list(self.lrs),
            "seeds": list(self.seeds),
            "steps": {t.name: self.steps_for(t) for t in self.tasks},
            "batch_size": self.batch_size,
            "clip": self.clip,
            "eval_every": self.eval_every,
            "quick": self.quick,
            "batch": {t.name: self.batch_for(t) for t in self.tasks},
            "evals": {t.name: self.eval_for(t) for t in self.tasks},
            "patience": {t.name: self.patience[t.name] for t in self.tasks if t.name in self.patience},
            "score": self.score,
            "widen": self.widen,
            "lr_range": list(self.lr_range),
            "max_rounds": self.max_rounds,
            "budgets": list(self.budgets),
            "task_budgets": {k: list(v) for k, v in self.task_budgets.items()},
            "task_lrs": {k: list(v) for k, v in self.task_lrs.items()},
        }


def cost(job: Dict[str, Any]) -> float:
    """A rough cost of a run in seconds on one core (for ordering and the progress bar's time left).

    Per time step about 20 µs of Python and NumPy calls plus 6 flops per
    parameter and example at about 30 Gflop/s (measured on the study's
    2-core machine); a run with patience is guessed to stop at a third of
    its steps.
    """
    task, arm = job["task"], job["arm"]
    H = hidden_size(arm, task)
    from gru_props.study.models import count_parameters_trained

    P = count_parameters_trained(arm.cell, task.D, H, task.K)
    per_step = task.steps_T * (20e-6 + 6.0 * job["batch_size"] * P / 3e10)
    steps = job["steps"] / (3.0 if job.get("patience") else 1.0)
    return per_step * steps


# Step budgets of the round-2 comparison (pilots, one seed, H = 32: the adding
# problem at T = 100 solved by 300-2,000 steps, copy by 1,400-1,900 steps at
# 1e-2, a^n b^n by 200-400 steps).
FULL_STEPS = {"adding50": 3000, "adding100": 3000, "copy": 3000, "anbn": 2000}


FULL_LRS = [1e-3, 3e-3, 1e-2]


# The curve (see study_config): budgets, steps, batches per task.
CURVE_BUDGETS = {"chorales": [2500, 5000, 10000, 20000]}


CURVE_DEFAULT_BUDGETS = [1000, 3000, 10000, 30000]


CURVE_STEPS = {"adding50": 1200, "copy": 1500, "anbn": 600}


# Round 2 chose the top of {1e-3, 3e-3, 1e-2} for nearly every arm on the synthetic tasks:
# their grids start one rung higher (and widen either way); the chorales start lower.
CURVE_LRS = {"adding50": [3e-3, 1e-2, 3e-2], "copy": [3e-3, 1e-2, 3e-2], "anbn": [3e-3, 1e-2, 3e-2]}


CURVE_BATCH = {"adding50": 32, "copy": 32, "anbn": 32, "chorales": 8}


CHORALE_EPOCHS = 100


CHORALE_PATIENCE = 10


def study_config(experiment: str, *, quick: bool = False, seeds: Optional[int] = None,
                 tasks: Optional[Sequence[str]] = None, lrs: Optional[Sequence[float]] = None,
                 steps: Optional[int] = None, H: Optional[int] = None,
                 budgets: Optional[Sequence[int]] = None, widen: Optional[bool] = None,
                 progress: bool = False) -> StudyConfig:
    """The study's standard configurations.

    ``experiment``:

    * ``"curve"``: GRU, LSTM (forget bias 0 and 1) and tanh RNN at four
      parameter budgets per task (1k, 3k, 10k, 30k on the synthetic tasks;
      2.5k, 5k, 10k, 20k on the chorales, whose 88 inputs and 88 outputs
      leave a 1k model one or two hidden units), on adding50 (1,200 steps),
      copy (1,500), anbn (600), batches of 32, validation every 50 steps,
      and the chorales (up to 100 epochs of batches of 8, stopped after 10
      epochs without a better validation NLL); learning rates from {3e-3,
      1e-2, 3e-2} (the chorales {1e-3, 3e-3, 1e-2}), widened until the
      choice is interior; scored at the best validation step; 5 seeds.
    * ``"compare"`` (GRU vs LSTM at H = 32: adding50, adding100, copy, anbn;
      learning rates 1e-3, 3e-3, 1e-2; 10 seeds) or ``"reversed"``
      (adding50, adding100; learning rate 3e-3; H = 32; 10 seeds).

    ``quick=True``: a smoke test of the machinery that finishes in well
    under a minute (short runs, small models, 2 seeds unless ``seeds`` says
    otherwise; the curve on adding20, copy, a^n b^n and 60 chorales at
    budgets 250-2k, one learning rate); its figures are not evidence.
    Keyword arguments override the chosen configuration (``widen`` turns the
    grid widening on or off).

    Raises:
        ValueError: an unknown experiment or task, or a bad number.
        ImportError: the chorales without music21.
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment: expected one of {', '.join(EXPERIMENTS)}; got {experiment!r}.")
    if experiment == "curve":
        return _curve_config(quick=quick, seeds=seeds, tasks=tasks, lrs=lrs, steps=steps,
                             budgets=budgets, widen=widen, progress=progress)
    if budgets is not None:
        raise ValueError(f"budgets: only the curve experiment takes --budgets; {experiment!r} uses H.")
    cfg: Dict[str, Any]
    if quick:
        task_names = ["adding20"]
        cfg = dict(lrs=[1e-2], seeds=2, steps=250, H=16, eval_every=25)
    elif experiment == "compare":
        task_names = ["adding50", "adding100", "copy", "anbn"]
        cfg = dict(lrs=FULL_LRS, seeds=10, steps=None, H=32, eval_every=25)
    else:
        task_names = ["adding50", "adding100"]
        cfg = dict(lrs=[3e-3], seeds=10, steps=None, H=32, eval_every=25)
    if tasks is not None:
        task_names = list(tasks)
    if lrs is not None:
        cfg["lrs"] = list(lrs)
    if seeds is not None:
        cfg["seeds"] = seeds
    if steps is not None:
        cfg["steps"] = steps
    if H is not None:
        cfg["H"] = H
    task_objs = [_make(n, quick, progress) for n in task_names]
    arms = comparison_arms(cfg["H"]) if experiment == "compare" else reversed_arms(cfg["H"])
    n_seeds = check_positive_int("seeds", cfg["seeds"])
    if cfg["steps"] is None:
        budget = {t.name: FULL_STEPS.get(t.name, 3000) for t in task_objs}
        default = 3000
    else:
        default = check_positive_int("steps", cfg["steps"])
        budget = {t.name: default for t in task_objs}
    return StudyConfig(experiment=experiment, tasks=task_objs, arms=arms, lrs=list(cfg["lrs"]),
                       seeds=list(range(n_seeds)), steps=budget, default_steps=default,
                       eval_every=cfg["eval_every"], quick=quick, widen=bool(widen))


def _make(name: str, quick: bool, progress: bool) -> Task:
    if name == "chorales":
        return make_task("chorales", subset=60 if quick else None, progress=progress)
    task = make_task(name)
    if quick and hasattr(task, "eval_size"):  # smaller fixed sets: the quick mode is a smoke test
        task = dataclasses.replace(task, eval_size=200)  # type: ignore[type-var]  # (each task is a dataclass)
    return task


def _curve_config(*, quick: bool, seeds: Optional[int], tasks: Optional[Sequence[str]],
                  lrs: Optional[Sequence[float]], steps: Optional[int], budgets: Optional[Sequence[int]],
                  widen: Optional[bool], progress: bool) -> StudyConfig:
    if quick:
        names = ["adding20", "copy", "anbn", "chorales"]
        n_seeds, grid, default_budgets = 2, [1e-2], [250, 500, 1000, 2000]
        task_budgets: Dict[str, List[int]] = {"chorales": [1000, 2000, 4000, 8000]}
        step_table = {"adding20": 100, "copy": 100, "anbn": 60}
        batch = {"adding20": 32, "copy": 32, "anbn": 32, "chorales": 8}
        epochs, patience = 4, None
        do_widen = False
        task_lrs: Dict[str, List[float]] = {}
        eval_every = 25
    else:
        names = ["adding50", "copy", "anbn", "chorales"]
        n_seeds, grid, default_budgets = 5, list(FULL_LRS), CURVE_DEFAULT_BUDGETS
        task_budgets = dict(CURVE_BUDGETS)
        step_table = dict(CURVE_STEPS)
        batch = dict(CURVE_BATCH)
        epochs, patience = CHORALE_EPOCHS, CHORALE_PATIENCE
        do_widen = True
        task_lrs = dict(CURVE_LRS)
        eval_every = 50
    if tasks is not None:
        names = list(tasks)
    if seeds is not None:
        n_seeds = check_positive_int("seeds", seeds)
    if lrs is not None:
        grid = list(lrs)
        task_lrs = {}
    if widen is not None:
        do_widen = bool(widen)
    if budgets is not None:
        default_budgets = list(budgets)
        task_budgets = {}
    task_objs = [_make(n, quick, progress) for n in names]
    # One arm list for every task needs one budget list: a study whose tasks have
    # their own budgets (the chorales) runs each task with its own arms.
    per_task = {t.name: task_budgets.get(t.name, default_budgets) for t in task_objs}
    all_budgets = sorted({b for bs in per_task.values() for b in bs})
    arms = curve_arms(all_budgets)
    step_budget, evals, pat = {}, {}, {}
    for t in task_objs:
        B = batch.get(t.name, 32)
        batch[t.name] = B
        epoch = t.epoch_steps(B)
        if epoch is not None:  # a fixed training set: steps and evaluations by epochs
            step_budget[t.name] = (steps if steps is not None else epochs * epoch)
            evals[t.name] = epoch
            if patience is not None:
                pat[t.name] = patience
        else:
            step_budget[t.name] = steps if steps is not None else step_table.get(t.name, 2000)
            evals[t.name] = eval_every
    cfg = StudyConfig(experiment="curve", tasks=task_objs, arms=arms, lrs=grid, seeds=list(range(n_seeds)),
                      steps=step_budget, default_steps=2000, batch_size=32, eval_every=25, quick=quick,
                      batch=batch, evals=evals, patience=pat, score="best", widen=do_widen,
                      budgets=all_budgets, task_budgets=per_task,
                      task_lrs={k: v for k, v in task_lrs.items() if k in step_budget})
    return cfg


def arms_for(config: StudyConfig, task: Task) -> List[Arm]:
    """The arms run on ``task``: all of them, or for a curve those of the task's own budgets."""
    per_task = config.task_budgets
    if not per_task or task.name not in per_task:
        return list(config.arms)
    wanted = set(per_task[task.name])
    return [a for a in config.arms if a.budget is None or a.budget in wanted]
