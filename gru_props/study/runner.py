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
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np

from gru_props.core.machine import machine
from gru_props.study.config import StudyConfig, arms_for, cost, run_key
from gru_props.study.trainer import RunResult, result_from_dict, train

__all__ = [
    "StudyResult",
    "StudyInterrupted",
    "RunStore",
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
            f"the gru_props training study needs {', '.join(missing)} (optional dependencies of "
            f"gru_props); install them with: {EXTRA_HINT}"
        )
    return found


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
        chosen = choose_lr([r for r in rs if r is not None], config.score)[key]
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
                            bar_format="{desc} |{bar}| {percentage:3.0f}% "
                                       "[{elapsed} elapsed, {remaining} left{postfix}]")
    interrupted = False
    total_runs = 0
    try:
        wanted = grids
        rounds = 0
        while True:
            todo = [j for j in jobs_of(wanted)
                    if run_key(j["task"].name, j["arm"].label, j["lr"], j["seed"]) not in done]
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
                    rounds_text = f", round {rounds + 1}" if config.widen else ""
                    bar.set_postfix_str(f"runs {len(done)}/{total_runs}{rounds_text}", refresh=False)
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
    sittings: List[Dict[str, Any]] = store.sittings if store is not None else [sitting]
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
