"""The study: every (task, arm, learning rate, seed) run, spread over cores with joblib.

Three experiments share this machinery:

* ``"curve"``, parameter efficiency as a curve: GRU, LSTM (forget-gate bias
  0 and 1) and tanh RNN, each at several parameter budgets (the hidden size
  computed per task and cell from the budget; ``curve_arms``), on the
  synthetic tasks and the Bach chorales. Runs are scored at their best
  validation step, and each arm's learning-rate grid is widened until the
  chosen rate is interior (``widen``);
* ``"compare"``, GRU vs LSTM at one size (round 2): a GRU of H units; LSTMs
  at the same H and at the same parameter budget, each with the forget-gate
  bias at 0 and at 1 (``comparison_arms``);
* ``"reversed"``, the reversed interpolation: the standard GRU, the Chung
  form from the same initial numbers, the Chung form with the z block
  negated at init (the standard model, relabelled), and an update-gate bias
  of +1 in both forms and -1 in the Chung form (``reversed_arms``).

``run_study`` runs them with ``joblib.Parallel`` (local processes by default;
every run on one BLAS thread) and a tqdm progress bar. With a ``RunStore``
every finished run is appended to a file the moment it arrives, and a study
started again on the same store (``resume``) trains only what is missing.
Ctrl-C stops the workers, keeps what finished and raises ``StudyInterrupted``.

To spread the runs over a cluster, use joblib's Dask backend; nothing here
changes. With a real cluster, connect with ``Client("tcp://scheduler:8786")``
(its workers need ``gru_props[study]`` installed); here a local one with two
worker processes (``pip install "gru_props[cluster]"``)::

    import joblib
    from distributed import Client, LocalCluster
    from gru_props.study import run_study, study_config

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_config(backend="dask"):   # joblib.parallel_backend("dask") before joblib 1.3
            config = study_config("curve", quick=True, tasks=["adding6"], budgets=[40, 80], steps=5, seeds=1)
            result = run_study(config, progress=False)
    assert len(result.runs) == 4 * 2   # 4 cells x 2 budgets x 1 seed x 1 learning rate

``joblib``, ``tqdm`` and ``threadpoolctl`` come with the ``study`` extra
(``pip install "gru_props[study]"``); without them ``run_study`` raises an
ImportError that says so. ``train`` itself needs only NumPy.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import math
import os
import platform
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from gru_props._machine import machine
from gru_props._validation import check_positive_int
from gru_props.study.models import Arm, hidden_size
from gru_props.study.tasks import Task, make_task
from gru_props.study.trainer import RunResult, result_from_dict, train

__all__ = [
    "StudyConfig",
    "StudyResult",
    "StudyInterrupted",
    "RunStore",
    "comparison_arms",
    "reversed_arms",
    "curve_arms",
    "CURVE_VARIANTS",
    "study_config",
    "run_study",
    "require",
    "run_key",
    "budget_text",
    "EXTRA_HINT",
]

EXTRA_HINT = 'pip install "gru_props[study]"'
EXPERIMENTS = ("curve", "compare", "reversed")


def require(*modules: str) -> List[Any]:
    """Import the named optional modules, or raise one ImportError naming the extra.

    Raises:
        ImportError: any of them is missing; the message lists them and says
            ``pip install "gru_props[study]"``.
    """
    found, missing = [], []
    for name in modules:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"the gru_props training study needs {', '.join(missing)} (optional dependencies of "
            f"gru_props); install them with: {EXTRA_HINT}"
        )
    return found


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
        task = dataclasses.replace(task, eval_size=200)
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


# ----------------------------------------------------------------- results
@dataclasses.dataclass
class StudyResult:
    """The configuration, every run, and where and how long it ran.

    ``wall_s``: the wall time of the study, summed over its sittings when it
    was resumed; ``sittings``: one record per sitting (wall time, runs
    trained and kept, whether it was interrupted).
    """

    config: Dict[str, Any]
    runs: List[RunResult]
    wall_s: float
    environment: Dict[str, str]
    sittings: List[Dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        return {"config": self.config, "wall_s": self.wall_s, "environment": self.environment,
                "sittings": self.sittings, "runs": [dataclasses.asdict(r) for r in self.runs]}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "StudyResult":
        return cls(config=data["config"], runs=[result_from_dict(r) for r in data["runs"]],
                   wall_s=float(data["wall_s"]), environment=dict(data["environment"]),
                   sittings=list(data.get("sittings", [])))

    @property
    def run_seconds(self) -> float:
        """The runs' own wall times added up (what the study costs on one core, roughly)."""
        return float(sum(r.wall_s for r in self.runs))


def environment(n_jobs: Any) -> Dict[str, str]:
    """The machine and the versions a study ran with."""
    import gru_props

    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
                f"gru_props {gru_props.__version__}"]
    for name in ("joblib", "tqdm", "matplotlib", "threadpoolctl", "music21", "dask", "distributed"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        v = getattr(mod, "__version__", None)
        if v:
            versions.append(f"{name} {v}")
    return {
        "machine": machine(),
        "versions": ", ".join(versions),
        "jobs": str(n_jobs),
    }


class StudyInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a study; ``kept`` finished runs are in ``path`` (None: none stored)."""

    def __init__(self, kept: int, total: int, path: Optional[str]) -> None:
        super().__init__(f"interrupted: {kept} of {total} runs finished" +
                         (f" and kept in {path}" if path else ""))
        self.kept, self.total, self.path = kept, total, path


# --------------------------------------------------------------------- store
class RunStore:
    """An append-only file of one study's runs, written as each run finishes (JSON lines).

    The first line describes the study's configuration; then one line per
    finished run and one per sitting (wall time, runs trained, interrupted
    or not). ``RunStore(path, config, resume=False)`` starts a new file and
    refuses to overwrite one that holds runs; ``resume=True`` reads it back
    (a last line cut short by a kill is dropped) and refuses a file written
    for another configuration.

    Raises:
        FileExistsError: the file holds runs and ``resume`` is False.
        ValueError: ``resume`` on a file of another configuration, or a
            corrupt line other than the last.
        OSError: the folder is not writable.
    """

    VERSION = 1

    def __init__(self, path: str, config: StudyConfig, resume: bool = False) -> None:
        self.path = path
        self.description = json.loads(json.dumps(config.describe()))
        self.runs: Dict[Tuple[str, str, float, int], RunResult] = {}
        self.sittings: List[Dict[str, Any]] = []
        exists = os.path.exists(path) and os.path.getsize(path) > 0
        if exists and resume:
            self._read()
        elif exists and self._holds_runs():
            raise FileExistsError(
                f"{path} already holds runs of a study. Pass --resume to continue it (same arguments), "
                f"or choose another --out, or delete the file to start again."
            )
        else:
            self._write_line({"kind": "header", "version": self.VERSION, "config": self.description})

    def _holds_runs(self) -> bool:
        with open(self.path, encoding="utf-8") as f:
            return any('"kind": "run"' in line for line in f)

    def _read(self) -> None:
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        records = []
        good_bytes = 0
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except ValueError:
                if i == len(lines) - 1:  # a line cut short by a kill: that run is trained again
                    break
                raise ValueError(f"{self.path}: line {i + 1} is not JSON; the file is damaged.") from None
            good_bytes += len(line.encode("utf-8")) + 1
        if not records or records[0].get("kind") != "header":
            raise ValueError(f"{self.path}: not a gru-props study run file (no header line).")
        stored = records[0].get("config")
        if stored != self.description:
            diff = sorted(k for k in set(stored or {}) | set(self.description)
                          if (stored or {}).get(k) != self.description.get(k))
            raise ValueError(
                f"--resume: {self.path} holds runs of another configuration (differs in: "
                f"{', '.join(diff)}). Resume with the arguments that started it, or choose another --out."
            )
        for rec in records[1:]:
            if rec.get("kind") == "run":
                r = result_from_dict(rec["run"])
                self.runs[run_key(r.task, r.arm, r.lr, r.seed)] = r
            elif rec.get("kind") == "sitting":
                self.sittings.append(rec["sitting"])
        # A line cut short would glue onto the next append: drop it (and end the file cleanly).
        with open(self.path, "rb+") as f:
            f.truncate(good_bytes)

    def _write_line(self, record: Dict[str, Any]) -> None:
        data = (json.dumps(record) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)  # one write of the whole line
            os.fsync(fd)
        finally:
            os.close(fd)

    def add(self, run: RunResult) -> None:
        """Write one finished run (before anything else happens)."""
        self._write_line({"kind": "run", "run": dataclasses.asdict(run)})
        self.runs[run_key(run.task, run.arm, run.lr, run.seed)] = run

    def add_sitting(self, sitting: Dict[str, Any]) -> None:
        self._write_line({"kind": "sitting", "sitting": sitting})
        self.sittings.append(sitting)


# ------------------------------------------------------------------- widening
_LADDER = (1.0, 3.0)


def _on_ladder(lr: float) -> Optional[Tuple[int, int]]:
    """(exponent, index in _LADDER) when lr is 1e^k or 3e^k (to 1e-9 relative), else None."""
    e = math.floor(math.log10(lr) + 1e-12)
    m = lr / 10.0 ** e
    for i, v in enumerate(_LADDER):
        if abs(m - v) <= 1e-9 * v:
            return e, i
    return None


def next_rate(lr: float, direction: int, grid: Sequence[float]) -> float:
    """The rate beyond ``lr`` (``direction`` -1 below, +1 above).

    On the 1-3 ladder (1e-3, 3e-3, 1e-2, ...) the next rung; otherwise ``lr``
    times (or divided by) the ratio of the two nearest rates of ``grid``
    (10**0.5 when the grid has one rate).
    """
    rung = _on_ladder(lr)
    if rung is not None:
        e, i = rung
        i += direction
        if i < 0:
            e, i = e - 1, len(_LADDER) - 1
        elif i >= len(_LADDER):
            e, i = e + 1, 0
        return float(f"{_LADDER[i] * 10.0 ** e:.6g}")
    g = sorted(set(grid))
    if len(g) < 2:
        ratio = 10 ** 0.5
    else:
        k = min(range(len(g)), key=lambda j: abs(math.log(g[j] / lr)))
        other = g[k + 1] if k + 1 < len(g) else g[k - 1]
        ratio = max(g[k], other) / min(g[k], other)
    return float(f"{lr * ratio ** direction:.6g}")


def widen_grids(config: StudyConfig, runs: Dict[Tuple[str, str, float, int], RunResult],
                grids: Dict[Tuple[str, str], List[float]]) -> Dict[Tuple[str, str], List[float]]:
    """One widening round: the grids with a rate added beyond every edge choice.

    A (task, arm) whose rates all have every seed's run, and whose chosen rate
    (lowest mean validation loss at ``config.score``) is its lowest or highest
    rate, gets the next rate beyond it, when that lies within ``lr_range``.
    Returns only the grids that grew.
    """
    from gru_props.study.analysis import choose_lr

    lo, hi = config.lr_range
    grown = {}
    for key, rates in grids.items():
        rs = [runs.get(run_key(key[0], key[1], lr, s)) for lr in rates for s in config.seeds]
        if any(r is None for r in rs):
            continue
        chosen = choose_lr(rs, config.score)[key]
        new = list(rates)
        if chosen == min(rates):
            cand = next_rate(chosen, -1, rates)
            if cand >= lo * (1 - 1e-9):
                new.append(cand)
        if chosen == max(rates):
            cand = next_rate(chosen, +1, rates)
            if cand <= hi * (1 + 1e-9):
                new.append(cand)
        if len(new) > len(rates):
            grown[key] = sorted(new)
    return grown


# -------------------------------------------------------------------- running
def _one_thread() -> Any:
    """A context in which BLAS and OpenMP use one thread (threadpoolctl), or a null context."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in the study extra
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _run_one(kwargs: Dict[str, Any]) -> RunResult:
    with _one_thread():
        return train(**kwargs)


def _effective_jobs(joblib: Any, n_jobs: int) -> str:
    try:
        return str(joblib.effective_n_jobs(n_jobs))
    except Exception:  # a backend that cannot tell
        return str(n_jobs)


def _stop_local_workers(joblib: Any) -> None:
    """Kill joblib's reusable process pool (loky) so no worker outlives an interrupted study."""
    try:
        from joblib.externals.loky import get_reusable_executor
    except ImportError:  # pragma: no cover
        return
    try:
        get_reusable_executor().shutdown(wait=False, kill_workers=True)
    except Exception:  # pragma: no cover - already gone
        pass


def _describe_job(job: Dict[str, Any]) -> str:
    arm = job["arm"]
    return f"{job['task'].name}: {arm.label} (lr {job['lr']:g}, seed {job['seed']})"


def _parallel_results(joblib: Any, jobs: List[Dict[str, Any]], n_jobs: int,
                      dispatched: Set[int]) -> Iterator[Tuple[int, RunResult]]:
    """(index in jobs, result) as runs finish, in any order."""
    def calls() -> Iterator[Any]:
        for i, j in enumerate(jobs):
            dispatched.add(i)
            yield joblib.delayed(_indexed)(i, j)

    if n_jobs == 1:
        for i, j in enumerate(jobs):
            dispatched.add(i)
            yield _indexed(i, j)
        return
    try:
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered", batch_size=1,
                                   pre_dispatch="n_jobs")
        gen = parallel(calls())
    except ValueError:  # a backend without generators: results arrive all at once
        gen = iter(joblib.Parallel(n_jobs=n_jobs, batch_size=1)(calls()))
    yield from gen


def _indexed(i: int, job: Dict[str, Any]) -> Tuple[int, RunResult]:
    return i, _run_one(job)


def run_study(config: StudyConfig, *, n_jobs: int = -1, progress: bool = True,
              store: Optional[RunStore] = None) -> StudyResult:
    """Run every (task, arm, learning rate, seed) of ``config``.

    Runs are spread with ``joblib.Parallel(n_jobs=n_jobs)`` (-1: every core of
    this machine, or every worker of an active ``joblib.parallel_config``
    backend such as Dask; 1: in this process), each on one BLAS thread, and
    shown on a tqdm bar on stderr (``progress``): the task, arm and rate
    running, runs done, and the time left. With ``config.widen`` the runs
    come in rounds: after each, arms whose chosen rate is an edge of their
    grid get the next rate (``widen_grids``). ``store``: every finished run
    is written to it at once, and runs it already holds are not trained
    again (a resumed study ends with the same runs as an uninterrupted one).

    Raises:
        ImportError: joblib (or tqdm, with ``progress``) is not installed;
            the message says ``pip install "gru_props[study]"``.
        StudyInterrupted: Ctrl-C (KeyboardInterrupt) during the runs: the
            workers are stopped, the finished runs are kept in ``store``.
    """
    (joblib,) = require("joblib")
    tqdm_mod = require("tqdm")[0] if progress else None
    start = time.perf_counter()
    done: Dict[Tuple[str, str, float, int], RunResult] = dict(store.runs) if store is not None else {}
    kept = len(done)
    trained = 0
    grids: Dict[Tuple[str, str], List[float]] = {
        (t.name, a.label): config.lrs_for(t) for t in config.tasks for a in arms_for(config, t)}
    task_by_name = {t.name: t for t in config.tasks}
    arm_by_label = {a.label: a for a in config.arms}

    def jobs_of(grid: Dict[Tuple[str, str], List[float]]) -> List[Dict[str, Any]]:
        out = [config.job(task_by_name[t], arm_by_label[a], lr, s)
               for (t, a), rates in grid.items() for lr in rates for s in config.seeds]
        return out

    bar = None
    if tqdm_mod is not None:
        bar = tqdm_mod.tqdm(total=1, unit="s", desc=f"study {config.experiment}", dynamic_ncols=True,
                            bar_format="{desc} |{bar}| {percentage:3.0f}% [{elapsed} elapsed, {remaining} left{postfix}]")
    interrupted = False
    total_runs = 0
    try:
        wanted = grids
        rounds = 0
        while True:
            todo = [j for j in jobs_of(wanted) if run_key(j["task"].name, j["arm"].label, j["lr"], j["seed"]) not in done]
            todo.sort(key=lambda j: -cost(j))
            total_runs = sum(len(r) for r in grids.values()) * len(config.seeds)
            if bar is not None:
                bar.total = bar.n + sum(cost(j) for j in todo) + 1e-9
                bar.refresh()
            dispatched: Set[int] = set()
            finished: Set[int] = set()
            for i, r in _parallel_results(joblib, todo, n_jobs, dispatched):
                finished.add(i)
                if store is not None:
                    store.add(r)
                done[run_key(r.task, r.arm, r.lr, r.seed)] = r
                trained += 1
                if bar is not None:
                    running = sorted(dispatched - finished)
                    now = _describe_job(todo[running[0]]) if running else "–"
                    more = f" (+{len(running) - 1} running or queued)" if len(running) > 1 else ""
                    bar.set_description_str(f"{config.experiment} · {now}{more}", refresh=False)
                    bar.set_postfix_str(f"runs {len(done)}/{total_runs}" + (f", round {rounds + 1}" if config.widen else ""),
                                        refresh=False)
                    bar.update(cost(todo[i]))
            if not config.widen or rounds >= config.max_rounds:
                break
            grown = widen_grids(config, done, grids)
            if not grown:
                break
            grids.update(grown)
            wanted = grown
            rounds += 1
    except KeyboardInterrupt:
        interrupted = True
        _stop_local_workers(joblib)
        raise_after = StudyInterrupted(len(done), max(total_runs, len(done)), store.path if store else None)
    finally:
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - start
        sitting = {"wall_s": wall, "trained": trained, "kept": kept, "interrupted": interrupted,
                   "date": datetime.date.today().isoformat(), "jobs": _effective_jobs(joblib, n_jobs)}
        if store is not None:
            try:
                store.add_sitting(sitting)
            except OSError:  # pragma: no cover - the disk went away; the runs are already written
                pass
    if interrupted:
        raise raise_after
    sittings = (store.sittings if store is not None else [sitting])
    wanted_keys = {run_key(t, a, lr, s) for (t, a), rates in grids.items() for lr in rates for s in config.seeds}
    runs = [done[k] for k in wanted_keys]
    order = {}
    for ti, t in enumerate(config.tasks):
        for ai, a in enumerate(config.arms):
            order[(t.name, a.label)] = (ti, ai)
    runs.sort(key=lambda r: (order.get((r.task, r.arm), (len(order), 0)), r.lr, r.seed))
    return StudyResult(config=config.describe(), runs=runs,
                       wall_s=float(sum(s["wall_s"] for s in sittings)),
                       environment=environment(_effective_jobs(joblib, n_jobs)), sittings=list(sittings))
