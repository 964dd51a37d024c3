#!/usr/bin/env python
"""LSTM benchmark: gru_props.lstm against torch.nn.LSTM on the training
study's shapes, float32, measured side by side in one process.

Run from the repository root after ``pip install -e ".[bench]"``::

    python benchmarks/bench_lstm.py              # all cases, 7 rounds
    python benchmarks/bench_lstm.py --quick      # 3 short rounds
    python benchmarks/bench_lstm.py --cases T100-H64 --rounds 9

Per case it times

* ``fwd``: the forward alone (Level 3; torch under ``no_grad``);
* ``fwd+bwd``: what a training step spends in the recurrent layer (the
  forward for the loss, then the backward): Level 3 with an ``LSTMCache``
  (the forward runs once), Level 3 without it (the backward reruns the
  forward), and torch's forward with autograd plus ``backward`` (gradients
  of every parameter; the input needs none, as in training);
* Level 1 (the readable tier) forward and backward, for scale.

Before anything is timed every variant's outputs and gradients are checked
against Level 1 in float64. Variants are interleaved inside each round with a
rotating order, each preceded by a short pause and a warm-up; the reported
time is the median over rounds of each round's median, and the ratios come
from this one run. Torch runs with ``set_num_threads`` equal to NumPy's BLAS
thread count (``--threads`` sets both). Timings never decide a test.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np

try:  # a checkout that was not pip-installed still runs
    import gru_props  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from gru_props.lstm import LSTMCache, LSTMParams, level1, level3

# name: (B, T, D, H). The study trains at B=64, T=50..100; H=32/64 are GRU
# sizes and 28/55 the LSTM sizes of an equal parameter budget.
CASES: Dict[str, Tuple[int, int, int, int]] = {
    "T50-H28": (64, 50, 2, 28),
    "T100-H32": (64, 100, 2, 32),
    "T100-H55": (64, 100, 2, 55),
    "T100-H64": (64, 100, 2, 64),
}

Fn = Callable[[], object]


def environment(threads: int) -> Tuple[List[str], object]:
    lines = []
    try:
        import threadpoolctl

        limiter = threadpoolctl.threadpool_limits(limits=threads)
        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas" and "numpy" in info.get("filepath", ""):
                lines.append(f"NumPy BLAS: {info.get('internal_api')} {info.get('version')} "
                             f"kernel={info.get('architecture')} threads={info.get('num_threads')}")
    except ImportError:
        limiter = None
        lines.append("threadpoolctl not installed: NumPy's BLAS threads not limited")
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines.insert(0, f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
                    f"NumPy {np.__version__}")
    flags = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    lines.append("BLAS env vars: " + (", ".join(flags) or "none set"))
    try:
        import torch

        torch.set_num_threads(threads)
        lines.append(f"torch {torch.__version__}, set_num_threads({threads})")
    except ImportError:
        torch = None
        lines.append("torch not installed: skipped")
    return lines, (torch, limiter)


def make_variants(torch, B: int, T: int, D: int, H: int):
    rng = np.random.default_rng(0)
    p64 = LSTMParams.random(D, H, seed=0)
    p32 = p64.astype(np.float32)
    x = rng.uniform(-1, 1, (B, T, D)).astype(np.float32)
    dhs = rng.normal(size=(B, T, H)).astype(np.float32)
    cache = LSTMCache()

    def l3_train():
        level3.lstm_forward(x, None, None, p32, cache=cache)
        return level3.lstm_backward(x, None, None, p32, dhs, cache=cache)

    def l3_train_no_cache():  # the forward for the loss, then a backward that reruns it
        level3.lstm_forward(x, None, None, p32)
        return level3.lstm_backward(x, None, None, p32, dhs)

    def l1_train():
        level1.lstm_forward(x, None, None, p32)
        return level1.lstm_backward(x, None, None, p32, dhs)

    variants: Dict[str, Fn] = {
        "L3 fwd": lambda: level3.lstm_forward(x, None, None, p32),
        "L3 fwd+bwd cached": l3_train,
        "L3 fwd+bwd": l3_train_no_cache,
        "L1 fwd+bwd": l1_train,
    }
    if torch is not None:
        lstm = torch.nn.LSTM(D, H, batch_first=True)
        lstm.load_state_dict(p32.to_torch())
        xt, gt = torch.from_numpy(x), torch.from_numpy(dhs)

        def torch_fwd():
            with torch.no_grad():
                return lstm(xt)

        def torch_train():
            lstm.zero_grad(set_to_none=False)
            out, _ = lstm(xt)
            out.backward(gt)
            return out

        variants["torch fwd"] = torch_fwd
        variants["torch fwd+bwd"] = torch_train
    return variants, (x, dhs, p64, p32, cache)


def verify(variants: Dict[str, Fn], data, torch) -> str:
    x, dhs, p64, p32, cache = data
    x64, dhs64 = x.astype(np.float64), dhs.astype(np.float64)
    ref_hs = level1.lstm_forward(x64, None, None, p64)[0]
    ref = level1.lstm_backward(x64, None, None, p64, dhs64)
    worst = 0.0
    for name in ("L3 fwd+bwd cached", "L3 fwd+bwd", "L1 fwd+bwd"):
        dx, dh0, dc0, g = variants[name]()
        errs = [np.max(np.abs(a - b), initial=0.0) for a, b in zip((dx, dh0, dc0), ref[:3])]
        errs += [np.max(np.abs(getattr(g, k) - v)) / max(1.0, np.max(np.abs(v)))
                 for k, v in ref[3].arrays().items()]
        worst = max(worst, float(max(errs)))
    hs = variants["L3 fwd"]()[0]
    worst = max(worst, float(np.max(np.abs(hs - ref_hs))))
    if torch is not None:
        out = variants["torch fwd"]()[0].numpy()
        worst = max(worst, float(np.max(np.abs(out - ref_hs))))
    if not worst <= 1e-3:
        raise SystemExit(f"verification FAILED: a variant differs from Level 1 float64 by {worst:.3g}")
    return f"every variant agrees with Level 1 float64 (max diff {worst:.1e}, gradients relative to their scale)"


def time_one(fn: Fn, pause: float, budget: float, min_calls: int) -> float:
    time.sleep(pause)
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    for _ in range(2):
        fn()
    samples = []
    for _ in range(max(min_calls, int(budget / max(one, 1e-6)))):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {list(CASES)}")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    ap.add_argument("--pause", type=float, default=0.05)
    ap.add_argument("--budget", type=float, default=0.3, help="seconds per variant per round")
    ap.add_argument("--quick", action="store_true", help="3 rounds of 0.1 s")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.budget = 3, 0.1
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    lines, (torch, _limiter) = environment(args.threads)
    print("\n".join(lines))

    rows = []
    for name in names:
        B, T, D, H = CASES[name]
        variants, data = make_variants(torch, B, T, D, H)
        print(f"\n[{name}] B={B} T={T} D={D} H={H} float32: {verify(variants, data, torch)}")
        order = list(variants)
        times: Dict[str, List[float]] = {v: [] for v in order}
        for r in range(args.rounds):
            rot = order[r % len(order):] + order[:r % len(order)]
            for v in rot:
                gc.collect()
                times[v].append(time_one(variants[v], args.pause, args.budget, 3))
        med = {v: statistics.median(ts) * 1e3 for v, ts in times.items()}
        rows.append((name, med))
        print("  " + "  ".join(f"{v}: {ms:.2f} ms" for v, ms in med.items()))

    print("\nRatios (time / torch's; below 1 is faster than torch), medians of this run:")
    print(f"| case | L3 fwd | L3 fwd+bwd cached | L3 fwd+bwd (no cache) | L1 fwd+bwd | "
          f"cache saves |")
    print("|---|---|---|---|---|---|")
    for name, med in rows:
        saves = 1 - med["L3 fwd+bwd cached"] / med["L3 fwd+bwd"]
        if "torch fwd" in med:
            tf, tt = med["torch fwd"], med["torch fwd+bwd"]
            print(f"| {name} | {med['L3 fwd'] / tf:.2f} | {med['L3 fwd+bwd cached'] / tt:.2f} | "
                  f"{med['L3 fwd+bwd'] / tt:.2f} | {med['L1 fwd+bwd'] / tt:.2f} | {saves:.0%} |")
        else:
            print(f"| {name} | - | - | - | - | {saves:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
