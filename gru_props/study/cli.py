"""``gru-props study``: train GRUs and LSTMs on small sequence tasks and write the findings.

::

    gru-props study --quick --out DIR          # smoke test, well under a minute
    gru-props study --out docs/study           # the full study (81 minutes on 2 cores)
    gru-props study --experiment reversed --seeds 5 --out DIR
    gru-props study --from-json DIR/study.json.gz --out DIR   # re-render without training

Writes into DIR: ``study.md`` (the command, the machine, the versions, the
wall time, and per experiment the tables), one PNG of loss curves per
experiment (``gru_vs_lstm.png``, ``reversed_interpolation.png``) and
``study.json.gz`` (every run, floats to 6 significant digits; the report is
rendered from it, so ``--from-json`` reproduces the report exactly). Exit status: 0 on success, 1
when the ``study`` extra is missing, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import math
import os
import shlex
import sys
import time
from typing import Any, Dict, List, Optional

from gru_props.study.runner import StudyResult, require, run_study, study_config

__all__ = ["main"]

FIGURES = {"compare": "gru_vs_lstm.png", "reversed": "reversed_interpolation.png"}


def _floats(text: str) -> List[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1e-3,3e-3; got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive learning rates; got {text!r}")
    return values


def _names(text: str) -> List[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gru-props study",
        description="Train GRUs and LSTMs (gru_props' own passes) on small sequence tasks and write "
                    "a Markdown report and loss-curve figures.",
    )
    ap.add_argument("--out", default=".", metavar="DIR",
                    help="folder to write study.md, the PNGs and study.json.gz into (created if missing; default .)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test of the machinery in well under a minute (not evidence)")
    ap.add_argument("--experiment", choices=["compare", "reversed", "all"], default="all",
                    help="GRU vs LSTM (compare), the reversed interpolation (reversed), or both (default)")
    ap.add_argument("--tasks", type=_names, default=None,
                    help="comma list of tasks: adding50, adding100, copy, anbn, adding<T> (default: per experiment)")
    ap.add_argument("--seeds", type=int, default=None, help="paired seeds per arm (default 10; quick 2)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (default 3000 per task)")
    ap.add_argument("--lrs", type=_floats, default=None, help="learning-rate grid, e.g. 1e-3,3e-3,1e-2")
    ap.add_argument("--hidden", type=int, default=None, help="GRU hidden size H (default 32; quick 16)")
    ap.add_argument("--jobs", type=int, default=-1,
                    help="parallel runs (joblib n_jobs; default -1: every core; 1: in this process)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--from-json", default=None, metavar="FILE",
                    help="re-render the report from a study.json.gz instead of training")
    return ap


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
        f"Written: {env.get('date', '?')}",
        "",
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
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f)
    return [StudyResult.from_json(e) for e in data["experiments"]]


def _load(path: str) -> Dict[str, Any]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return json.load(f)


def _figure(result: StudyResult) -> str:
    exp = result.config["experiment"]
    return FIGURES.get(exp, f"{exp}.png")


def report_text(results: List[StudyResult], command: str, total_s: float) -> str:
    """The whole ``study.md``: the header, then each experiment's section."""
    from gru_props.study.report import markdown

    sections = [markdown(res, figure=_figure(res)) for res in results]
    return "\n".join(_header(results, command, total_s)) + "\n" + "\n".join(sections)


def _write(results: List[StudyResult], out: str, command: str, total_s: float) -> List[str]:
    from gru_props.study.report import plot_curves

    written = [plot_curves(res, os.path.join(out, _figure(res))) for res in results]
    md = report_text(results, command, total_s)
    path = os.path.join(out, "study.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(md)
    written.insert(0, path)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``gru-props study`` with ``argv`` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return int(exc.code or 0)
    try:
        require("joblib", "tqdm", "matplotlib")
    except ImportError as exc:
        print(f"gru-props study: {exc}", file=sys.stderr)
        return 1
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        print(f"gru-props study: cannot create the output folder {args.out!r}: {exc}", file=sys.stderr)
        return 2
    command = "gru-props study " + shlex.join(argv)

    if args.from_json:
        try:
            data = _load(args.from_json)
            results = [StudyResult.from_json(e) for e in data["experiments"]]
        except (OSError, KeyError, ValueError, TypeError) as exc:
            print(f"gru-props study: cannot read {args.from_json!r} as a study.json(.gz): {exc}",
                  file=sys.stderr)
            return 2
        for path in _write(results, args.out, data.get("command", command), float(data.get("total_s", 0.0))):
            print(f"wrote {path}")
        return 0

    experiments = ["compare", "reversed"] if args.experiment == "all" else [args.experiment]
    try:
        configs = [study_config(e, quick=args.quick, seeds=args.seeds, tasks=args.tasks, lrs=args.lrs,
                                steps=args.steps, H=args.hidden) for e in experiments]
        for c in configs:
            c.jobs()  # impossible budgets and bad task names fail before any training
    except (TypeError, ValueError) as exc:
        print(f"gru-props study: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = []
    for cfg in configs:
        res = run_study(cfg, n_jobs=args.jobs, progress=not args.no_progress)
        res.environment["date"] = datetime.date.today().isoformat()
        results.append(res)
    total = time.perf_counter() - start
    saved = os.path.join(args.out, "study.json.gz")
    results = _save(results, saved, command, total)
    for path in _write(results, args.out, command, total) + [saved]:
        print(f"wrote {path}")
    print(f"done in {total:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
