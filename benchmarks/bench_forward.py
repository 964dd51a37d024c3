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

import gc
import os
import sys
import tracemalloc
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _common beside this file
from _common import (  # noqa: E402  (also makes gru_props importable from a checkout)
    environment,
    fmt,
    parse_timing,
    print_environment,
    print_timing,
    run_rounds,
    table,
    timing_parser,
)

from gru_props import (  # noqa: E402
    GRUParams,  # noqa: E402
    level1,
    level2,
    level3,
)

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


# --------------------------------------------------------------------------- checks
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

    return run_rounds(variants, args)


# --------------------------------------------------------------------------- report
def _ratio(med, a, b) -> Optional[float]:
    if a in med and b in med and med[b] > 0:
        return med[a] / med[b]
    return None


def report(results: Dict[str, Dict[str, float]], markdown: bool) -> None:
    cols = ["L1 f32", "L2 f32", "L3 f32", "torch", "ORT", "limit"]
    print("\nMedian time per forward call, ms (float32, reset_after=True):")
    head = ["case"] + cols
    rows = [[c] + [f"{res[n] * 1e3:.3f}" if n in res else "n/a" for n in cols] for c, res in results.items()]
    table(head, rows, markdown)

    print("\nLevel 3 float32 ratios (targets from the issue; lower is better):")
    head = ["case", "L3/torch", "L3/ORT", "L3/limit", "L2/L1", "L3/L2", "L2/torch", "L1/torch"]
    rows = []
    for c, res in results.items():
        tt, to, tl = TARGETS.get(c, (None, None, None))
        rows.append([
            c,
            fmt(_ratio(res, "L3 f32", "torch"), tt),
            fmt(_ratio(res, "L3 f32", "ORT"), to),
            fmt(_ratio(res, "L3 f32", "limit"), tl),
            fmt(_ratio(res, "L2 f32", "L1 f32"), 1.0),
            fmt(_ratio(res, "L3 f32", "L2 f32"), 1.0),
            fmt(_ratio(res, "L2 f32", "torch")),
            fmt(_ratio(res, "L1 f32", "torch")),
        ])
    table(head, rows, markdown)

    print("\nThe same Level 3 ratios paired by round (median over rounds of the per-round ratio;"
          " steadier when the machine's speed drifts):")
    head = ["case", "L3/torch", "L3/ORT", "L3/limit", "L2/L1", "L3/L2"]
    rows = []
    for c, res in results.items():
        pr = res["_paired"]
        tt, to, tl = TARGETS.get(c, (None, None, None))
        rows.append([c] + [
            fmt(pr.get(k), tgt) for k, tgt in (
                (("L3 f32", "torch"), tt), (("L3 f32", "ORT"), to), (("L3 f32", "limit"), tl),
                (("L2 f32", "L1 f32"), 1.0), (("L3 f32", "L2 f32"), 1.0))
        ])
    table(head, rows, markdown)

    if any("L3 f64" in res for res in results.values()):
        print("\nfloat64 tiers (ms) and ratios:")
        head = ["case", "L1 f64", "L2 f64", "L3 f64", "L2/L1 f64", "L3/L2 f64", "L3 f64/f32"]
        rows = []
        for c, res in results.items():
            rows.append([c] + [f"{res[n] * 1e3:.3f}" for n in ("L1 f64", "L2 f64", "L3 f64")] + [
                fmt(_ratio(res, "L2 f64", "L1 f64"), 1.0),
                fmt(_ratio(res, "L3 f64", "L2 f64"), 1.0),
                fmt(_ratio(res, "L3 f64", "L3 f32")),
            ])
        table(head, rows, markdown)
    print("\nGEMM speed of the best round per case (GFLOP/s), rounds re-run: " +
          ", ".join(f"{c} {res['_speed']:.0f}/{int(res['_retries'])}" for c, res in results.items()))


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
        final[T] = peak_bytes(lambda x=x: level3.gru_forward(x, None, p, True, return_sequences=False))
        full[T] = peak_bytes(lambda x=x: level3.gru_forward(x, None, p, True))
        hs_bytes = B * T * H * 4
        rows.append([str(T), f"{final[T] / 1e6:.3f}", f"{full[T] / 1e6:.3f}", f"{hs_bytes / 1e6:.3f}",
                     f"{x.nbytes / 1e6:.3f}"])
    table(["T", "final-state MB", "full-sequence MB", "(hs itself MB)", "(x, not counted) MB"], rows, markdown)
    a, b = Ts[0], Ts[-1]
    print(f"final-state peak ratio T={b}/T={a}: {final[b] / final[a]:.3f} (target <= 1.1); "
          f"full-sequence ratio: {full[b] / full[a]:.2f}")


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = timing_parser(__doc__.split("\n\n")[0], list(CASES), budget=(0.03, 0.12), threads="BLAS/torch/ORT")
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 tiers")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc section")
    ap.add_argument("--memory-only", action="store_true", help="only the tracemalloc section")
    args, cases = parse_timing(ap, argv)

    env = environment(args.threads)
    print_environment(env, ("torch_note", "ort_note"))
    if args.memory_only:
        memory_report(args.markdown)
        return 0
    print_timing(args)

    results = {c: bench_case(c, env, args) for c in cases}
    report(results, args.markdown)
    if not args.no_memory:
        memory_report(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
