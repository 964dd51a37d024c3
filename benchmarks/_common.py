"""What the GRU benchmarks share: the machine's description, thread pinning and the timing.

``bench_forward.py``, ``bench_backward.py`` and ``bench_train_step.py`` import
this module from beside them (importing it also makes ``gru_props``
importable from a checkout that was not pip-installed). How the timing copes
with a noisy 2-core machine (interleaved rounds with a rotating order, a
pause and a warm-up before each variant, a GEMM-speed gauge that has slow
rounds re-run, medians, ratios paired by round) is told in
``bench_forward.py``'s docstring.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

try:  # a checkout that was not pip-installed still runs
    import gru_props  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from gru_props.core.machine import machine  # noqa: E402


# --------------------------------------------------------------------------- environment
def _optional(name: str):
    try:
        return __import__(name)
    except Exception as exc:  # ImportError, or a broken install
        return exc


def environment(threads: Optional[int]) -> Dict[str, object]:
    """Describe the machine, the BLAS and the thread counts; set peers' threads.

    ``threads`` (None: NumPy's BLAS count) pins NumPy's BLAS through
    threadpoolctl and torch's intra-op pool; ``env["threads"]`` is the count
    for ONNX Runtime sessions. ``env["torch"]`` is the torch module or None,
    ``env["ort"]`` the pair (onnxruntime, onnx) or None; ``*_note`` and
    ``machine``, ``blas``, ``envvars`` are lines to print.
    """
    env: Dict[str, object] = {}
    tpc = _optional("threadpoolctl")
    blas_threads = None
    lines = []
    if isinstance(tpc, Exception):
        lines.append(f"threadpoolctl not installed ({tpc}); BLAS details unknown")
    else:
        if threads is not None:
            tpc.threadpool_limits(limits=threads)
            env["_limiter"] = tpc.threadpool_limits(limits=threads)  # keep it alive
        for info in tpc.threadpool_info():
            if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
                blas_threads = info.get("num_threads")
                lines.append(
                    f"NumPy BLAS: {info.get('internal_api')} {info.get('version')} "
                    f"kernel={info.get('architecture')} threads={info.get('num_threads')} "
                    f"({info.get('threading_layer')})"
                )
        others = [
            f"{i.get('internal_api')}:{i.get('num_threads')}"
            for i in tpc.threadpool_info()
            if "numpy" not in i.get("filepath", "")
        ]
        if others:
            lines.append("other thread pools: " + ", ".join(others))
    if blas_threads is None:
        blas_threads = threads or os.cpu_count() or 1
    env["threads"] = int(blas_threads)
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    flags = {k: os.environ.get(k) for k in names}
    set_flags = ", ".join(f"{k}={v}" for k, v in flags.items() if v is not None) or "none set"
    env["machine"] = f"{machine()}, Python {platform.python_version()}, NumPy {np.__version__}"
    env["blas"] = "; ".join(lines)
    env["envvars"] = f"BLAS env vars: {set_flags}"
    torch = _optional("torch")
    if isinstance(torch, Exception):
        env["torch"] = None
        env["torch_note"] = f"torch not installed: skipped ({type(torch).__name__})"
    else:
        torch.set_num_threads(int(blas_threads))
        env["torch"] = torch
        env["torch_note"] = f"torch {torch.__version__}, set_num_threads({blas_threads}) -> {torch.get_num_threads()}"
    ort = _optional("onnxruntime")
    onnx = _optional("onnx")
    if isinstance(ort, Exception) or isinstance(onnx, Exception):
        env["ort"] = None
        env["ort_note"] = "onnxruntime/onnx not installed: ONNX Runtime skipped"
    else:
        env["ort"] = (ort, onnx)
        env["ort_note"] = f"onnxruntime {ort.__version__} (intra_op_num_threads={blas_threads})"
    return env


def print_environment(env: Dict[str, object], notes: Sequence[str] = ("torch_note",)) -> None:
    """Print the machine, the BLAS, the BLAS environment variables and the peers' ``notes``."""
    print("machine: " + str(env["machine"]))
    for key in ("blas", "envvars", *notes):
        print(str(env[key]))


# --------------------------------------------------------------------------- options
def timing_parser(description: str, cases: Sequence[str], *, budget: Tuple[float, float],
                  threads: str, default_threads: Optional[int] = None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark's timing takes.

    ``budget`` is the default ``--budget`` (seconds of timed calls per variant
    per round) with ``--quick`` and without; ``threads`` says what
    ``--threads`` pins, ``default_threads`` its default (None: NumPy's BLAS
    thread count). Parse with ``parse_timing``.
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--cases", default=",".join(cases), help=f"comma list of {', '.join(cases)}")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per case (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true", help="3 short rounds per case")
    ap.add_argument("--pause", type=float, default=0.15, help="seconds of sleep before each variant")
    ap.add_argument("--budget", type=float, default=None,
                    help=f"seconds of timed calls per variant per round (default {budget[1]:g}, --quick {budget[0]:g})")
    ap.add_argument("--min-calls", type=int, default=3, help="timed calls per variant per round, at least")
    ap.add_argument("--min-speed", type=float, default=0.7,
                    help="re-run a round below this fraction of the best GEMM speed")
    ap.add_argument("--max-retries", type=int, default=4)
    default_text = "NumPy's BLAS count" if default_threads is None else str(default_threads)
    ap.add_argument("--threads", type=int, default=default_threads, help=f"{threads} threads (default: {default_text})")
    ap.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every round")
    ap.set_defaults(_cases=tuple(cases), _budgets=budget)
    return ap


def parse_timing(ap: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> Tuple[argparse.Namespace, List[str]]:
    """The arguments (``rounds`` and ``budget`` filled in) and the chosen cases; exits on an unknown case."""
    args = ap.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.budget is None:
        args.budget = args._budgets[0] if args.quick else args._budgets[1]
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in args._cases]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(args._cases)}")
    return args, chosen


def print_timing(args: argparse.Namespace) -> None:
    """One line: the rounds, pause and budget, and the machine's GEMM speed now."""
    print(f"rounds={args.rounds} pause={args.pause}s budget={args.budget}s per variant per round; "
          f"GEMM speed now {gemm_speed():.0f} GFLOP/s")


# --------------------------------------------------------------------------- timing
_GAUGE_A = np.random.default_rng(1).standard_normal((256, 512)).astype(np.float32)
_GAUGE_B = np.random.default_rng(2).standard_normal((512, 1536)).astype(np.float32)
_GAUGE_C = np.empty((256, 1536), np.float32)


def gemm_speed() -> float:
    """GFLOP/s of a float32 GEMM with NumPy's BLAS threads (best of 5)."""
    best = float("inf")
    for _ in range(6):
        t = time.perf_counter()
        np.matmul(_GAUGE_A, _GAUGE_B, _GAUGE_C)
        best = min(best, time.perf_counter() - t)
    return 2 * 256 * 512 * 1536 / best / 1e9


def time_variant(fn: Callable[[], object], pause: float, budget: float, min_calls: int) -> float:
    """Median seconds per call after a pause and a warm-up."""
    time.sleep(pause)
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    warm_end = time.perf_counter() + min(0.05, 3 * one)
    while time.perf_counter() < warm_end:
        fn()
    calls = max(min_calls, int(budget / max(one, 1e-6)))
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def run_rounds(variants: Dict[str, Callable[[], object]], args: argparse.Namespace) -> Dict[str, object]:
    """Time ``variants`` in ``args.rounds`` interleaved rounds, re-running slow-machine rounds.

    Each round gauges the GEMM speed, times every variant (``time_variant``
    after a garbage collection) in an order rotated by one per round, pauses
    and gauges again; a round whose slower gauge is below ``args.min_speed``
    of the best seen is re-run (``args.max_retries`` times at most in all).
    Uses ``args.rounds``, ``pause``, ``budget``, ``min_calls``, ``min_speed``,
    ``max_retries`` and ``verbose`` (print every round).

    Returns: each variant's median over rounds of its seconds per call;
    ``"_paired"``, ``{(a, b): median over rounds of a's time / b's}`` (same
    machine phase per ratio); ``"_speed"``, the best GEMM GFLOP/s;
    ``"_retries"``, the rounds re-run.
    """
    names = list(variants)
    times: Dict[str, List[float]] = {n: [] for n in names}
    best_speed = 0.0
    r = 0
    retries = 0
    while r < args.rounds:
        before = gemm_speed()
        order = names[r % len(names):] + names[: r % len(names)]
        got = {}
        for n in order:
            gc.collect()
            got[n] = time_variant(variants[n], args.pause, args.budget, args.min_calls)
        time.sleep(args.pause)
        after = gemm_speed()
        speed = min(before, after)
        best_speed = max(best_speed, speed)
        if speed < args.min_speed * best_speed and retries < args.max_retries:
            retries += 1
            print(f"  round {r + 1}: machine at {speed:.0f} GFLOP/s (< {args.min_speed:.0%} of best "
                  f"{best_speed:.0f}); re-running")
            continue
        for n in names:
            times[n].append(got[n])
        if args.verbose:
            print(f"  round {r + 1}: GEMM {before:.0f}/{after:.0f} GFLOP/s  " +
                  " ".join(f"{n}={got[n] * 1e3:.3f}" for n in names))
        r += 1
    med: Dict[str, object] = {n: statistics.median(v) for n, v in times.items()}
    med["_paired"] = {
        (a, b): statistics.median(x / y for x, y in zip(times[a], times[b]))
        for a in names for b in names if a != b
    }
    med["_speed"] = best_speed
    med["_retries"] = retries
    return med


# --------------------------------------------------------------------------- report
def fmt(v: Optional[float], target: Optional[float] = None) -> str:
    """``v`` with two decimals ("n/a" for None), then "ok" or "MISS(<=target)" when there is a target."""
    if v is None:
        return "n/a"
    s = f"{v:.2f}"
    if target is not None:
        s += " ok" if v <= target else f" MISS(<={target:g})"
    return s


def table(head: List[str], rows: List[List[str]], markdown: bool) -> None:
    """Print ``rows`` under ``head``, aligned in columns or as a Markdown table."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
