"""``gru-props study``: train GRUs, LSTMs and tanh RNNs on sequence tasks and write the findings.

::

    gru-props study --quick --out DIR          # smoke test, under two minutes on 2 cores
    gru-props study --experiment curve --out DIR        # the parameter-efficiency curve
    gru-props study --experiment curve --out DIR --resume   # continue it after a stop
    gru-props study --experiment reversed --seeds 5 --out DIR
    gru-props study --from-json DIR/study.json.gz --out DIR   # re-render without training
    gru-props study --experiment curve --dask tcp://scheduler:8786 --out DIR   # on a Dask cluster

Writes into DIR: ``study.md`` (the command, the machine, the versions, the
wall time, and per experiment the tables), the figures (the curve: one
``curve_<task>.png`` per task; ``gru_vs_lstm.png``,
``reversed_interpolation.png`` for the round-2 experiments),
``study.json.gz`` (every run, floats to 6 significant digits; the report is
rendered from it, so ``--from-json`` reproduces the report exactly), and,
while it runs, ``runs-<experiment>.jsonl``: each finished run, written the
moment it finishes. ``--resume`` reads that file back and trains only what
is missing; Ctrl-C (or SIGTERM) stops the workers and keeps what finished.

Every argument is checked before any training. Exit status: 0 on success,
1 when an optional dependency (the ``study`` extra) is missing, 2 for a
usage error (the message says what was expected and what was given), 130
when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import json
import math
import os
import shlex
import signal
import sys
import tempfile
from typing import Any, Dict, List, Optional

from gru_props.study.config import EXPERIMENTS, study_config
from gru_props.study.runner import RunStore, StudyResult, require, run_study

__all__ = ["main"]

FIGURES = {"compare": "gru_vs_lstm.png", "reversed": "reversed_interpolation.png"}
ALL = ("curve", "reversed")


def _floats(text: str) -> List[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1e-3,3e-3; got {text!r}") from None
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise argparse.ArgumentTypeError(f"expected positive finite learning rates such as 1e-3,3e-3; got {text!r}")
    return values


def _budgets(text: str) -> List[int]:
    out = []
    for v in text.split(","):
        v = v.strip().lower()
        if not v:
            continue
        scale = 1000 if v.endswith("k") else 1
        try:
            n = float(v[:-1] if scale == 1000 else v) * scale
        except ValueError:
            n = math.nan
        if not (math.isfinite(n) and n >= 1 and float(n).is_integer()):
            raise argparse.ArgumentTypeError(
                f"expected comma-separated parameter counts such as 1000,3000,10k,30k; got {text!r}")
        out.append(int(n))
    if len(out) < 1 or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"expected distinct parameter counts such as 1k,3k,10k,30k; got {text!r}")
    return sorted(out)


def _positive(what: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= 1 ({what}); got {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"expected a whole number >= 1 ({what}); got {v}")
        return v
    return parse


def _jobs(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number: -1 (every core) or >= 1; got {text!r}") from None
    if v == 0 or v < -1:
        raise argparse.ArgumentTypeError(
            f"expected -1 (every core, or every worker of a Dask cluster) or a number of parallel runs >= 1; got {v}")
    return v


def _names(text: str) -> List[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gru-props study",
        description="Train GRUs, LSTMs and tanh RNNs (gru_props' own passes) on sequence tasks and write "
                    "a Markdown report and figures.",
    )
    ap.add_argument("--out", default=".", metavar="DIR",
                    help="folder to write study.md, the PNGs, study.json.gz and the run files into "
                         "(created if missing; default .)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test of the machinery in under two minutes (not evidence)")
    ap.add_argument("--experiment", choices=list(EXPERIMENTS) + ["all"], default="all",
                    help="the parameter-efficiency curve (curve), GRU vs LSTM at one size (compare), the "
                         "reversed interpolation (reversed), or curve and reversed (all, the default)")
    ap.add_argument("--tasks", type=_names, default=None,
                    help="comma list of tasks: adding50, adding100, copy, anbn, chorales, adding<T> "
                         "(default: per experiment)")
    ap.add_argument("--seeds", type=_positive("paired seeds"), default=None,
                    help="paired seeds per arm (default: curve 5, others 10; quick 2)")
    ap.add_argument("--steps", type=_positive("training steps per run"), default=None,
                    help="training steps per run (default per task)")
    ap.add_argument("--lrs", type=_floats, default=None, help="learning-rate grid, e.g. 1e-3,3e-3,1e-2")
    ap.add_argument("--budgets", type=_budgets, default=None,
                    help="the curve's parameter budgets, e.g. 1k,3k,10k,30k (default per task)")
    ap.add_argument("--no-widen", action="store_true",
                    help="the curve: keep the learning-rate grid as given (edge choices are only marked)")
    ap.add_argument("--hidden", type=_positive("GRU hidden units"), default=None,
                    help="compare and reversed: GRU hidden size H (default 32; quick 16)")
    ap.add_argument("--jobs", type=_jobs, default=-1,
                    help="parallel runs (joblib n_jobs; default -1: every core; 1: in this process)")
    ap.add_argument("--dask", default=None, metavar="ADDRESS",
                    help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786), through "
                         "joblib's Dask backend; its workers need gru_props[study]; here pip install "
                         "\"gru_props[cluster]\"")
    ap.add_argument("--dask-timeout", type=_positive("seconds"), default=30, metavar="SECONDS",
                    help="how long to wait for the Dask scheduler (default 30)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the study whose run files are in DIR: finished runs are kept, not trained again")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--from-json", default=None, metavar="FILE",
                    help="re-render the report from a study.json.gz instead of training")
    return ap


def _minutes(s: float) -> str:
    return f"{s / 60:.1f} min"


def _header(results: List[StudyResult], command: str, total_s: float) -> List[str]:
    from gru_props.study.report import title

    env = results[0].environment
    lines = [
        "# gru_props training study: " + "; ".join(title(r) for r in results),
        "",
        f"Command: `{command}`  ",
        f"Machine: {env.get('machine', '?')}; parallel runs: {env.get('jobs', '?')}  ",
        f"Versions: {env.get('versions', '?')}  ",
        f"Wall time: {total_s / 60:.1f} min ("
        + ", ".join(f"{r.config['experiment']} {r.wall_s / 60:.1f} min" for r in results) + ")  ",
    ]
    if any(r.sittings for r in results):  # studies written since runs are stored as they finish
        parts = []
        for r in results:
            n = len(r.sittings)
            parts.append(f"{r.config['experiment']} {_minutes(r.run_seconds)}"
                         + (f", in {n} sittings" if n > 1 else ""))
        lines.append("Run time summed over runs (each on one core, while the others shared the machine): "
                     + "; ".join(parts) + "  ")
    lines += [f"Written: {env.get('date', '?')}", ""]
    if any(r.config["experiment"] != "curve" for r in results):  # the round-2 tables show ms/step
        lines += [
            "ms/step is the wall time of one training step (forward, backward, clipping, Adam) measured "
            "inside each run while other runs shared the machine; compare it within a table, not across "
            "machines.",
            "",
        ]
    return lines


def _compact(obj: Any) -> Any:
    """``obj`` with every float rounded to 6 significant digits (a smaller study.json.gz)."""
    if isinstance(obj, float):
        return float(f"{obj:.6g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _compact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_compact(v) for v in obj]
    return obj


def _save(results: List[StudyResult], path: str, command: str, total_s: float) -> List[StudyResult]:
    """Write study.json.gz; return the results as saved (so reports render from what is on disk)."""
    data = _compact({"command": command, "total_s": total_s, "experiments": [r.to_json() for r in results]})
    tmp = path + ".part"
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
    return [StudyResult.from_json(e) for e in data["experiments"]]


def _load(path: str) -> Dict[str, Any]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _figure(result: StudyResult) -> str:
    exp = result.config["experiment"]
    return FIGURES.get(exp, f"{exp}.png")


def curve_figures(result: StudyResult) -> Dict[str, str]:
    """Task name -> the file name of its curve figure (``curve_<task>.png``)."""
    return {_task_name(t): f"curve_{_task_name(t)}.png" for t in result.config["tasks"]}


def _task_name(description: Dict[str, Any]) -> str:
    from gru_props.study.tasks import task_from_description

    return task_from_description(description).name


def report_text(results: List[StudyResult], command: str, total_s: float) -> str:
    """The whole ``study.md``: the header, then each experiment's section."""
    from gru_props.study.report import curve_markdown, markdown

    sections = [curve_markdown(res, figures=curve_figures(res)) if res.config["experiment"] == "curve"
                else markdown(res, figure=_figure(res)) for res in results]
    return "\n".join(_header(results, command, total_s)) + "\n" + "\n".join(sections)


def _write(results: List[StudyResult], out: str, command: str, total_s: float) -> List[str]:
    from gru_props.study.report import plot_curve, plot_curves

    written = []
    for res in results:
        if res.config["experiment"] == "curve":
            for task, name in curve_figures(res).items():
                written.append(plot_curve(res, task, os.path.join(out, name)))
        else:
            written.append(plot_curves(res, os.path.join(out, _figure(res))))
    md = report_text(results, command, total_s)
    path = os.path.join(out, "study.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(md)
    written.insert(0, path)
    return written


def _usage(message: str) -> int:
    print(f"gru-props study: {message}", file=sys.stderr)
    return 2


def _writable(folder: str) -> Optional[str]:
    """None if ``folder`` exists (or can be made) and takes a file; else why not."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gru-props-write-test-"):
            pass
    except OSError as exc:
        return str(exc)
    return None


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``gru-props study`` with ``argv`` (without the program name); returns the exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the runs (e.g. while the chorales are parsed) or after them
        print("\ngru-props study: interrupted; nothing was lost (no run had started or all were kept).",
              file=sys.stderr)
        return 130


def _main(argv: Optional[List[str]]) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return int(exc.code or 0)
    try:
        require("joblib", "tqdm", "matplotlib", "threadpoolctl")
    except ImportError as exc:
        print(f"gru-props study: {exc}", file=sys.stderr)
        return 1
    problem = _writable(args.out)
    if problem is not None:
        return _usage(f"--out: cannot write into the folder {args.out!r} ({problem}); choose a writable "
                      f"folder with --out DIR.")
    # The report names the study's command; --resume only says how a sitting continued it.
    command = "gru-props study " + shlex.join(a for a in argv if a != "--resume")

    if args.from_json:
        if args.resume:
            return _usage("--resume continues a study from its run files; it does not go with --from-json.")
        try:
            data = _load(args.from_json)
            results = [StudyResult.from_json(e) for e in data["experiments"]]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            return _usage(f"cannot read {args.from_json!r} as a study.json(.gz): {exc}")
        for path in _write(results, args.out, data.get("command", command), float(data.get("total_s", 0.0))):
            print(f"wrote {path}")
        return 0

    experiments = list(ALL) if args.experiment == "all" else [args.experiment]
    if args.budgets is not None and "curve" not in experiments:
        return _usage(f"--budgets: only the curve experiment takes budgets; --experiment {args.experiment} "
                      f"sizes its models with --hidden.")
    if args.hidden is not None and experiments == ["curve"]:
        return _usage("--hidden: the curve sizes each cell from its budget; use --budgets instead.")
    progress = not args.no_progress
    try:
        configs = [study_config(e, quick=args.quick, seeds=args.seeds, tasks=args.tasks, lrs=args.lrs,
                                steps=args.steps, H=None if e == "curve" else args.hidden,
                                budgets=args.budgets if e == "curve" else None,
                                widen=False if args.no_widen else None, progress=progress)
                   for e in experiments]
        for c in configs:
            c.check()  # impossible budgets and bad task names fail before any training
    except ImportError as exc:
        print(f"gru-props study: {exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as exc:
        return _usage(str(exc))
    stores = []
    for cfg in configs:
        path = os.path.join(args.out, f"runs-{cfg.experiment}.jsonl")
        try:
            stores.append(RunStore(path, cfg, resume=args.resume))
        except FileExistsError as exc:
            return _usage(str(exc))
        except ValueError as exc:
            return _usage(str(exc))
        except OSError as exc:
            return _usage(f"--out: cannot write {path!r}: {exc}")
    if args.resume:
        kept = sum(len(s.runs) for s in stores)
        print(f"resuming: {kept} finished run{'s' if kept != 1 else ''} kept from {args.out}", file=sys.stderr)
    backend = contextlib.ExitStack()
    if args.dask:
        try:
            import joblib
            from distributed import Client
        except ImportError:
            print('gru-props study: --dask needs dask.distributed; install it with: pip install "gru_props[cluster]"',
                  file=sys.stderr)
            return 1
        try:
            client = backend.enter_context(Client(args.dask, timeout=args.dask_timeout))
        except (OSError, TimeoutError, ValueError) as exc:
            return _usage(f"--dask: cannot reach a Dask scheduler at {args.dask!r} ({exc}); give the address "
                          f"it prints, e.g. tcp://host:8786.")
        backend.enter_context(joblib.parallel_config(backend="dask"))
        workers = len(client.scheduler_info().get("workers", {}))
        print(f"running on the Dask cluster at {args.dask} ({workers} workers)", file=sys.stderr)

    old_term = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    except ValueError:  # not the main thread (e.g. called from a worker thread)
        old_term = None
    results = []
    try:
        with backend:
            for cfg, store in zip(configs, stores):
                res = run_study(cfg, n_jobs=args.jobs, progress=progress, store=store)
                res.environment["date"] = datetime.date.today().isoformat()
                if args.dask:
                    res.environment["jobs"] += " (Dask workers)"
                results.append(res)
    except KeyboardInterrupt:
        kept = sum(len(s.runs) for s in stores)
        where = ", ".join(s.path for s in stores if s.runs) or args.out
        print(f"\ngru-props study: interrupted; {kept} finished run{'s' if kept != 1 else ''} kept in {where}. "
              f"Run the same command with --resume to continue.", file=sys.stderr)
        return 130
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    total = sum(r.wall_s for r in results)
    saved = os.path.join(args.out, "study.json.gz")
    results = _save(results, saved, command, total)
    for path in _write(results, args.out, command, total) + [saved]:
        print(f"wrote {path}")
    print(f"done: {total:.1f} s of wall time")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
