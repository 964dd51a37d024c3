#!/usr/bin/env python
"""GRU forward benchmark: the three tiers against torch.nn.GRU, ONNX Runtime
and the matmul-only limit, measured side by side in one process.

Run from the repository root after ``pip install -e ".[bench]"``::

    python benchmarks/bench_forward.py                  # all cases, full rounds
    python benchmarks/bench_forward.py --quick          # fewer, shorter rounds
    python benchmarks/bench_forward.py --cases small,long --rounds 9
    python benchmarks/bench_forward.py --memory-only    # the tracemalloc section

Every variant runs the PyTorch convention (reset_after=True, ONNX
linear_before_reset=1) on the same float32 data. Before anything is timed,
every GRU variant is checked against Level 1 in float64.

How the timing copes with a noisy 2-core machine:

* variants are interleaved inside each round (the order rotates per round)
  and the reported time is the median over rounds of the per-round median;
* before each variant the script sleeps ``--pause`` seconds (OpenBLAS and
  ONNX Runtime worker threads keep spinning ~0.1 s after a call and would
  slow whichever runtime runs next), then warms up with untimed calls (a
  core that sat idle runs slow for a moment);
* each round measures the machine's GEMM speed before and after; a round
  whose speed dropped below ``--min-speed`` of the best seen is re-run;
* ratios (of median times, all from this one run) are what to trust, not
  the milliseconds.

Peers (torch, onnxruntime) are optional: a peer that is not installed is
skipped with a note. Timings never decide a test's pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

try:  # a checkout that was not pip-installed still runs
    import gru_props  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from gru_props import GRUParams
from gru_props import level1, level2, level3

CASES: Dict[str, Tuple[int, int, int, int]] = {  # B, T, D, H
    "small": (1, 50, 32, 32),
    "medium": (32, 100, 128, 128),
    "large": (64, 100, 512, 512),
    "long": (8, 1000, 64, 64),
}

# Level 3 float32 targets from the performance issue: (vs torch, vs ORT, vs matmul limit).
TARGETS: Dict[str, Tuple[Optional[float], Optional[float], Optional[float]]] = {
    "small": (0.40, None, 4.5),
    "medium": (0.75, 1.10, 1.6),
    "large": (0.80, 1.00, 1.15),
    "long": (0.60, None, 3.5),
}

Fn = Callable[[], Tuple[np.ndarray, np.ndarray]]


# --------------------------------------------------------------------------- environment
def _optional(name: str):
    try:
        return __import__(name)
    except Exception as exc:  # ImportError, or a broken install
        return exc


def environment(threads: Optional[int]) -> Dict[str, object]:
    """Describe the machine, the BLAS and the thread counts; set peers' threads."""
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
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    set_flags = ", ".join(f"{k}={v}" for k, v in flags.items() if v is not None) or "none set"
    env["machine"] = (
        f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )
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


# --------------------------------------------------------------------------- variants
def make_torch(torch, p32: GRUParams, x: np.ndarray, h0: np.ndarray) -> Fn:
    B, T, D = x.shape
    gru = torch.nn.GRU(D, p32.H, batch_first=True)
    gru.load_state_dict(p32.to_torch())
    gru.eval()

    def run():
        with torch.no_grad():
            out, hn = gru(torch.from_numpy(x), torch.from_numpy(h0[None]))
        return out.numpy(), hn[0].numpy()

    return run


def make_ort(ort_onnx, p32: GRUParams, x: np.ndarray, h0: np.ndarray, threads: int) -> Fn:
    """One GRU node (linear_before_reset=1) wrapped in Transpose nodes: ORT's
    CPU GRU takes only time-major (layout=0) float32 input."""
    ort, onnx = ort_onnx
    from onnx import TensorProto, helper, numpy_helper

    B, T, D = x.shape
    H = p32.H
    W, R, Bias = p32.to_onnx()
    inits = [
        numpy_helper.from_array(W.astype(np.float32), "W"),
        numpy_helper.from_array(R.astype(np.float32), "R"),
        numpy_helper.from_array(Bias.astype(np.float32), "B"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0"),
    ]
    nodes = [
        helper.make_node("Transpose", ["X"], ["Xt"], perm=[1, 0, 2]),            # (T, B, D)
        helper.make_node("Unsqueeze", ["H0", "ax0"], ["H0d"]),                   # (1, B, H)
        helper.make_node("GRU", ["Xt", "W", "R", "B", "", "H0d"], ["Y", "Yh"],
                         hidden_size=H, linear_before_reset=1),                  # (T, 1, B, H)
        helper.make_node("Squeeze", ["Y", "ax1"], ["Ys"]),                       # (T, B, H)
        helper.make_node("Transpose", ["Ys"], ["hs"], perm=[1, 0, 2]),           # (B, T, H)
        helper.make_node("Squeeze", ["Yh", "ax0"], ["hT"]),                      # (B, H)
    ]
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "gru",
        [helper.make_tensor_value_info("X", f32, [B, T, D]), helper.make_tensor_value_info("H0", f32, [B, H])],
        [helper.make_tensor_value_info("hs", f32, [B, T, H]), helper.make_tensor_value_info("hT", f32, [B, H])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {"X": x, "H0": h0}

    def run():
        hs, hT = sess.run(["hs", "hT"], feeds)
        return hs, hT

    return run


def make_limit(p32: GRUParams, x: np.ndarray, h0: np.ndarray) -> Fn:
    """The matrix products alone: (B*T, D) @ (D, 3H) plus T x (B, H) @ (H, 3H),
    into preallocated buffers, with ``np.dot(a, b, out)``: the cheapest NumPy
    call for them (np.matmul costs ~0.5 µs more per call on tiny shapes, which
    would flatter the ratios). No NumPy GRU can do less work than this."""
    B, T, D = x.shape
    H = p32.H
    W = np.ascontiguousarray(np.concatenate([p32.W_z, p32.W_r, p32.W_n], axis=1))
    U = np.ascontiguousarray(np.concatenate([p32.U_z, p32.U_r, p32.U_n], axis=1))
    proj = np.empty((B * T, 3 * H), np.float32)
    g = np.empty((B, 3 * H), np.float32)
    h = np.ascontiguousarray(h0)
    mm = np.dot

    def run():
        mm(x.reshape(B * T, D), W, proj)
        for _ in range(T):
            mm(h, U, g)
        return None, None

    return run


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


def time_variant(fn: Fn, pause: float, budget: float, min_calls: int) -> float:
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


def verify(variants: Dict[str, Fn], ref: Tuple[np.ndarray, np.ndarray], tol: Dict[str, float]) -> List[str]:
    """Max abs difference of every GRU variant to Level 1 float64; raises on a mismatch."""
    lines = []
    for name, fn in variants.items():
        if name == "limit":
            continue
        hs, hT = fn()
        err = max(float(np.max(np.abs(hs.astype(np.float64) - ref[0]), initial=0.0)),
                  float(np.max(np.abs(hT.astype(np.float64) - ref[1]), initial=0.0)))
        bound = tol["f64"] if name.endswith("f64") else tol["f32"]
        if not err <= bound:
            raise SystemExit(f"verification FAILED: {name} differs from Level 1 float64 by {err:.3g} > {bound:g}")
        lines.append(f"{name}={err:.1e}")
    return lines


def bench_case(name: str, env: Dict[str, object], args) -> Dict[str, float]:
    B, T, D, H = CASES[name]
    rng = np.random.default_rng(0)
    p64 = GRUParams.random(D, H, seed=0, dtype=np.float64)
    p32 = p64.astype(np.float32)
    x32 = rng.uniform(-1, 1, (B, T, D)).astype(np.float32)
    h032 = rng.uniform(-1, 1, (B, H)).astype(np.float32)
    x64, h064 = x32.astype(np.float64), h032.astype(np.float64)

    variants: Dict[str, Fn] = {}
    for lvl, mod in (("L1", level1), ("L2", level2), ("L3", level3)):
        variants[f"{lvl} f32"] = (lambda m: lambda: m.gru_forward(x32, h032, p32, True))(mod)
    if env["torch"] is not None:
        variants["torch"] = make_torch(env["torch"], p32, x32, h032)
    if env["ort"] is not None:
        variants["ORT"] = make_ort(env["ort"], p32, x32, h032, env["threads"])
    variants["limit"] = make_limit(p32, x32, h032)
    if not args.no_f64:
        for lvl, mod in (("L1", level1), ("L2", level2), ("L3", level3)):
            variants[f"{lvl} f64"] = (lambda m: lambda: m.gru_forward(x64, h064, p64, True))(mod)

    ref = level1.gru_forward(x64, h064, p64, True)
    checked = verify(variants, ref, {"f32": 1e-4, "f64": 1e-10})
    print(f"\n[{name}] B={B} T={T} D={D} H={H}: agree with Level 1 float64 (max abs diff) " + " ".join(checked))

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
            print(f"  round {r + 1}: machine at {speed:.0f} GFLOP/s (< {args.min_speed:.0%} of best {best_speed:.0f}); re-running")
            continue
        for n in names:
            times[n].append(got[n])
        if args.verbose:
            print(f"  round {r + 1}: GEMM {before:.0f}/{after:.0f} GFLOP/s  " +
                  " ".join(f"{n}={got[n] * 1e3:.3f}" for n in names))
        r += 1
    med = {n: statistics.median(v) for n, v in times.items()}
    # Paired ratios: per round (same machine phase), then the median.
    med["_paired"] = {
        (a, b): statistics.median(x / y for x, y in zip(times[a], times[b]))
        for a in names for b in names if a != b
    }
    med["_speed"] = best_speed
    med["_retries"] = retries
    return med


# --------------------------------------------------------------------------- report
def _ratio(med, a, b) -> Optional[float]:
    if a in med and b in med and med[b] > 0:
        return med[a] / med[b]
    return None


def _fmt(v: Optional[float], target: Optional[float] = None) -> str:
    if v is None:
        return "n/a"
    s = f"{v:.2f}"
    if target is not None:
        s += " ok" if v <= target else f" MISS(<={target:g})"
    return s


def report(results: Dict[str, Dict[str, float]], markdown: bool) -> None:
    cols = ["L1 f32", "L2 f32", "L3 f32", "torch", "ORT", "limit"]
    print("\nMedian time per forward call, ms (float32, reset_after=True):")
    head = ["case"] + cols
    rows = [[c] + [f"{res[n] * 1e3:.3f}" if n in res else "n/a" for n in cols] for c, res in results.items()]
    _table(head, rows, markdown)

    print("\nLevel 3 float32 ratios (targets from the issue; lower is better):")
    head = ["case", "L3/torch", "L3/ORT", "L3/limit", "L2/L1", "L3/L2", "L2/torch", "L1/torch"]
    rows = []
    for c, res in results.items():
        tt, to, tl = TARGETS.get(c, (None, None, None))
        rows.append([
            c,
            _fmt(_ratio(res, "L3 f32", "torch"), tt),
            _fmt(_ratio(res, "L3 f32", "ORT"), to),
            _fmt(_ratio(res, "L3 f32", "limit"), tl),
            _fmt(_ratio(res, "L2 f32", "L1 f32"), 1.0),
            _fmt(_ratio(res, "L3 f32", "L2 f32"), 1.0),
            _fmt(_ratio(res, "L2 f32", "torch")),
            _fmt(_ratio(res, "L1 f32", "torch")),
        ])
    _table(head, rows, markdown)

    print("\nThe same Level 3 ratios paired by round (median over rounds of the per-round ratio;"
          " steadier when the machine's speed drifts):")
    head = ["case", "L3/torch", "L3/ORT", "L3/limit", "L2/L1", "L3/L2"]
    rows = []
    for c, res in results.items():
        pr = res["_paired"]
        tt, to, tl = TARGETS.get(c, (None, None, None))
        rows.append([c] + [
            _fmt(pr.get(k), tgt) for k, tgt in (
                (("L3 f32", "torch"), tt), (("L3 f32", "ORT"), to), (("L3 f32", "limit"), tl),
                (("L2 f32", "L1 f32"), 1.0), (("L3 f32", "L2 f32"), 1.0))
        ])
    _table(head, rows, markdown)

    if any("L3 f64" in res for res in results.values()):
        print("\nfloat64 tiers (ms) and ratios:")
        head = ["case", "L1 f64", "L2 f64", "L3 f64", "L2/L1 f64", "L3/L2 f64", "L3 f64/f32"]
        rows = []
        for c, res in results.items():
            rows.append([c] + [f"{res[n] * 1e3:.3f}" for n in ("L1 f64", "L2 f64", "L3 f64")] + [
                _fmt(_ratio(res, "L2 f64", "L1 f64"), 1.0),
                _fmt(_ratio(res, "L3 f64", "L2 f64"), 1.0),
                _fmt(_ratio(res, "L3 f64", "L3 f32")),
            ])
        _table(head, rows, markdown)
    print("\nGEMM speed of the best round per case (GFLOP/s), rounds re-run: " +
          ", ".join(f"{c} {res['_speed']:.0f}/{int(res['_retries'])}" for c, res in results.items()))


def _table(head: List[str], rows: List[List[str]], markdown: bool) -> None:
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


# --------------------------------------------------------------------------- memory
def peak_bytes(fn: Callable[[], object]) -> int:
    """Peak traced memory (bytes) allocated while ``fn`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak - base


def memory_report(markdown: bool, B: int = 8, D: int = 64, H: int = 64, Ts=(1000, 10000)) -> None:
    print(f"\nPeak traced memory (tracemalloc), Level 3 float32, B={B} D=H={D}/{H}, reset_after=True:")
    p = GRUParams.random(D, H, seed=0, dtype=np.float32)
    level3.gru_forward(np.zeros((B, 1, D), np.float32), None, p, True)  # prepare and cache weights
    rows = []
    final, full = {}, {}
    for T in Ts:
        x = np.random.default_rng(0).uniform(-1, 1, (B, T, D)).astype(np.float32)
        final[T] = peak_bytes(lambda: level3.gru_forward(x, None, p, True, return_sequences=False))
        full[T] = peak_bytes(lambda: level3.gru_forward(x, None, p, True))
        hs_bytes = B * T * H * 4
        rows.append([str(T), f"{final[T] / 1e6:.3f}", f"{full[T] / 1e6:.3f}", f"{hs_bytes / 1e6:.3f}",
                     f"{x.nbytes / 1e6:.3f}"])
    _table(["T", "final-state MB", "full-sequence MB", "(hs itself MB)", "(x, not counted) MB"], rows, markdown)
    a, b = Ts[0], Ts[-1]
    print(f"final-state peak ratio T={b}/T={a}: {final[b] / final[a]:.3f} (target <= 1.1); "
          f"full-sequence ratio: {full[b] / full[a]:.2f}")


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per case (default 7, --quick 3)")
    ap.add_argument("--quick", action="store_true", help="3 short rounds per case")
    ap.add_argument("--pause", type=float, default=0.15, help="seconds of sleep before each variant")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timed calls per variant per round")
    ap.add_argument("--min-calls", type=int, default=3, help="timed calls per variant per round, at least")
    ap.add_argument("--min-speed", type=float, default=0.7, help="re-run a round below this fraction of the best GEMM speed")
    ap.add_argument("--max-retries", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None, help="BLAS/torch/ORT threads (default: NumPy's BLAS count)")
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 tiers")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc section")
    ap.add_argument("--memory-only", action="store_true", help="only the tracemalloc section")
    ap.add_argument("--markdown", action="store_true", help="print tables as Markdown")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = ap.parse_args(argv)
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.budget is None:
        args.budget = 0.03 if args.quick else 0.12
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")

    env = environment(args.threads)
    print("machine: " + str(env["machine"]))
    print(str(env["blas"]))
    print(str(env["envvars"]))
    print(str(env["torch_note"]))
    print(str(env["ort_note"]))
    if args.memory_only:
        memory_report(args.markdown)
        return 0
    print(f"rounds={args.rounds} pause={args.pause}s budget={args.budget}s per variant per round; "
          f"GEMM speed now {gemm_speed():.0f} GFLOP/s")

    results = {c: bench_case(c, env, args) for c in cases}
    report(results, args.markdown)
    if not args.no_memory:
        memory_report(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
