"""The study: every (task, arm, learning rate, seed) run, spread over cores with joblib.

Two experiments share this machinery:

* ``"compare"``, GRU vs LSTM: a GRU of H units; LSTMs at the same H and at
  the same parameter budget (H chosen per task, within 4 %), each with the
  forget-gate bias at 0 and at 1 (``comparison_arms``);
* ``"reversed"``, the reversed interpolation: the standard GRU, the Chung
  form from the same initial numbers, the Chung form with the z block
  negated at init (the standard model, relabelled), and an update-gate bias
  of +1 in both forms and -1 in the Chung form (``reversed_arms``).

``run_study`` runs them with ``joblib.Parallel`` (local processes by default)
and a tqdm progress bar. To spread the runs over a cluster, use joblib's
Dask backend; nothing here changes::

    from dask.distributed import Client
    import joblib
    client = Client("scheduler-address:8786")   # workers need gru_props[study] installed
    with joblib.parallel_config(backend="dask"):  # or joblib.parallel_backend("dask")
        result = run_study(study_config("compare"))

``joblib`` and ``tqdm`` come with the ``study`` extra
(``pip install "gru_props[study]"``); without them ``run_study`` raises an
ImportError that says so. ``train`` itself needs only NumPy.
"""

from __future__ import annotations

import dataclasses
import importlib
import platform
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from gru_props.core.arrays import check_positive_int
from gru_props.core.machine import machine
from gru_props.study.models import Arm, hidden_size
from gru_props.study.tasks import Task, make_task
from gru_props.study.trainer import RunResult, result_from_dict, train

__all__ = [
    "StudyConfig",
    "StudyResult",
    "comparison_arms",
    "reversed_arms",
    "study_config",
    "run_study",
    "require",
    "EXTRA_HINT",
]

EXTRA_HINT = 'pip install "gru_props[study]"'


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
            f"the GRU-vs-LSTM study needs {', '.join(missing)} (optional dependencies of "
            f"gru_props); install them with: {EXTRA_HINT}"
        )
    return found


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


@dataclasses.dataclass
class StudyConfig:
    """What to run: tasks x arms x learning rates x seeds.

    ``steps`` maps a task name to its step budget (``default_steps`` for the
    others). ``experiment`` names the study in reports ("compare",
    "reversed", or anything).
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
        for s in self.seeds:
            check_positive_int("seed", s, minimum=0)
        for lr in self.lrs:
            if not (isinstance(lr, (int, float)) and lr > 0):
                raise ValueError(f"StudyConfig.lrs: expected positive learning rates; got {self.lrs}.")

    def steps_for(self, task: Task) -> int:
        return int(self.steps.get(task.name, self.default_steps))

    def jobs(self) -> List[Dict[str, Any]]:
        """Every run as keyword arguments of ``train``, longest first (for load balance)."""
        out = []
        for task in self.tasks:
            for arm in self.arms:
                hidden_size(arm, task)  # fail early on an impossible budget
                for lr in self.lrs:
                    for seed in self.seeds:
                        out.append(dict(task=task, arm=arm, seed=seed, lr=lr, steps=self.steps_for(task),
                                        batch_size=self.batch_size, clip=self.clip,
                                        eval_every=self.eval_every))
        out.sort(key=lambda j: -j["steps"] * j["task"].steps_T)
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
        }


# Step budgets of the full study, long enough for every arm to converge at
# some rate of the grid (pilots, one seed, H = 32: the adding problem at
# T = 100 solved by 300-2,000 steps, copy by 1,400-1,900 steps at 1e-2,
# a^n b^n by 200-400 steps).
FULL_STEPS = {"adding50": 3000, "adding100": 3000, "copy": 3000, "anbn": 2000}
FULL_LRS = [1e-3, 3e-3, 1e-2]


def study_config(experiment: str, *, quick: bool = False, seeds: Optional[int] = None,
                 tasks: Optional[Sequence[str]] = None, lrs: Optional[Sequence[float]] = None,
                 steps: Optional[int] = None, H: Optional[int] = None) -> StudyConfig:
    """The study's standard configurations.

    ``experiment``: ``"compare"`` (GRU vs LSTM: adding50, adding100, copy,
    anbn; learning rates 1e-3, 3e-3, 1e-2; H = 32) or ``"reversed"``
    (adding50, adding100; learning rate 3e-3; H = 32). Full: 10 seeds.
    ``quick=True``: a smoke test of the machinery that finishes in well under
    a minute (short adding problem, few steps, 2 seeds, H = 16); its figures
    are not evidence. Keyword arguments override the chosen configuration.

    Raises:
        ValueError: an unknown experiment or task.
    """
    if experiment not in ("compare", "reversed"):
        raise ValueError(f"experiment: expected 'compare' or 'reversed'; got {experiment!r}.")
    if quick:
        task_names = ["adding20"] if experiment == "compare" else ["adding20"]
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
    task_objs = [make_task(n) for n in task_names]
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
                       eval_every=cfg["eval_every"], quick=quick)


@dataclasses.dataclass
class StudyResult:
    """The configuration, every run, and where and how long it ran."""

    config: Dict[str, Any]
    runs: List[RunResult]
    wall_s: float
    environment: Dict[str, str]

    def to_json(self) -> Dict[str, Any]:
        return {"config": self.config, "wall_s": self.wall_s, "environment": self.environment,
                "runs": [dataclasses.asdict(r) for r in self.runs]}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "StudyResult":
        return cls(config=data["config"], runs=[result_from_dict(r) for r in data["runs"]],
                   wall_s=float(data["wall_s"]), environment=dict(data["environment"]))


def environment(n_jobs: Any) -> Dict[str, str]:
    """The machine and the versions a study ran with."""
    import gru_props

    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
                f"gru_props {gru_props.__version__}"]
    for name in ("joblib", "tqdm", "matplotlib"):
        try:
            versions.append(f"{name} {importlib.import_module(name).__version__}")
        except ImportError:
            pass
    return {
        "machine": machine(),
        "versions": ", ".join(versions),
        "jobs": str(n_jobs),
    }


def _effective_jobs(joblib: Any, n_jobs: int) -> str:
    try:
        return str(joblib.effective_n_jobs(n_jobs))
    except Exception:  # a backend that cannot tell
        return str(n_jobs)


def _run_one(kwargs: Dict[str, Any]) -> RunResult:
    return train(**kwargs)


def run_study(config: StudyConfig, *, n_jobs: int = -1, progress: bool = True) -> StudyResult:
    """Run every (task, arm, learning rate, seed) of ``config``.

    Runs are spread with ``joblib.Parallel(n_jobs=n_jobs)`` (-1: every core of
    this machine, or every worker of an active ``joblib.parallel_config``
    backend such as Dask; 1: in this process) and counted on a tqdm bar on
    stderr when ``progress`` is true.

    Raises:
        ImportError: joblib (or tqdm, with ``progress``) is not installed;
            the message says ``pip install "gru_props[study]"``.
    """
    (joblib,) = require("joblib")
    tqdm_mod = require("tqdm")[0] if progress else None
    jobs = config.jobs()
    start = time.perf_counter()
    runs: List[RunResult] = []
    bar = None
    if tqdm_mod is not None:
        bar = tqdm_mod.tqdm(total=len(jobs), desc=f"gru-props study {config.experiment}", unit="run")
    try:
        if n_jobs == 1:
            results = (_run_one(j) for j in jobs)
        else:
            calls = (joblib.delayed(_run_one)(j) for j in jobs)
            try:
                results = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")(calls)
            except ValueError:  # a backend without generators: results arrive all at once
                results = joblib.Parallel(n_jobs=n_jobs)(
                    joblib.delayed(_run_one)(j) for j in jobs)
        for r in results:
            runs.append(r)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    order = {(t.name, a.label, lr, s): i for i, (t, a, lr, s) in enumerate(
        (t, a, lr, s) for t in config.tasks for a in config.arms for lr in config.lrs for s in config.seeds)}
    runs.sort(key=lambda r: order.get((r.task, r.arm, r.lr, r.seed), len(order)))
    return StudyResult(config=config.describe(), runs=runs, wall_s=time.perf_counter() - start,
                       environment=environment(_effective_jobs(joblib, n_jobs)))
