#!/usr/bin/env python
"""GRU forward + backward benchmark: Level 1 and Level 3 against torch.nn.GRU
forward + ``backward()`` and the matrix-product-only limit, in one process.

Run from the repository root after ``pip install -e ".[bench]"``::

    python benchmarks/bench_backward.py                 # all cases, 7 rounds
    python benchmarks/bench_backward.py --quick         # 3 short rounds
    python benchmarks/bench_backward.py --cases small,long --rounds 9 -v

One call is a training step's GRU work: the forward (hs, h_T) and the
gradients of ``L = sum(hs * dhs) + sum(h_T * dh_T)`` for x, h0 and every
parameter, float32, reset_after=True (the PyTorch convention), same data for
every variant:

* ``L3``: ``level3.gru_forward(..., cache=cache)`` then
  ``level3.gru_backward(..., cache=cache)``, the forward run once, one
  ``GRUCache`` reused across calls as a training loop would;
* ``L3 nocache``: ``level3.gru_forward`` then ``level3.gru_backward`` without
  a cache (the backward runs the forward again);
* ``L1``: ``level1.gru_forward`` then ``level1.gru_backward``;
* ``torch``: ``torch.nn.GRU`` (batch_first) forward with x, h0 and the
  parameters requiring grad, then ``torch.autograd.backward`` of (hs, h_T)
  with (dhs, dh_T); same thread count as NumPy's BLAS;
* ``limit``: the matrix products a forward + backward must do and nothing
  else: forward (B·T, D)@(D, 3H) and T x (B, H)@(H, 3H); backward T x
  (B, 3H)@(3H, H) to h_{t-1}, then (B·T, 3H)@(3H, D) for dx,
  (D, B·T)@(B·T, 3H) and (H, B·T)@(B·T, 3H) for the weight gradients, all
  with ``np.dot(a, b, out)`` into preallocated buffers.

Before anything is timed every variant's gradients are checked against
Level 1 in float64. The timing machinery (interleaved rounds with a rotating
order, pauses, warm-up, GEMM-speed gauge, medians, ratios paired by round)
is ``bench_forward.py``'s (shared through ``_common.py``); read its docstring. Ratios from one run are what
to trust, not the milliseconds.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _common, bench_forward beside this file
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
from bench_forward import CASES  # noqa: E402  B, T, D, H: small, medium, large, long

from gru_props import GRUParams, level1, level3  # noqa: E402

# Level 3 float32 targets from the backward issue: (vs torch, vs matmul limit).
TARGETS: Dict[str, Tuple[Optional[float], Optional[float]]] = {
    "small": (0.5, None),
    "medium": (1.0, None),
    "large": (1.0, 1.5),
    "long": (1.0, None),
}

# A variant returns (dx, dh0, grads as a dict of field name -> array), or None (the limit).
Grads = Optional[Tuple[np.ndarray, np.ndarray, Dict[str, np.ndarray]]]
Fn = Callable[[], Grads]


# --------------------------------------------------------------------------- variants
def make_level3(p32: GRUParams, x, h0, dhs, dh_T) -> Fn:
    cache = level3.GRUCache()

    def run():
        level3.gru_forward(x, h0, p32, True, cache=cache)
        dx, dh0, g = level3.gru_backward(x, h0, p32, dhs, dh_T, True, cache=cache)
        return dx, dh0, g.arrays()

    return run


def make_level3_nocache(p32: GRUParams, x, h0, dhs, dh_T) -> Fn:
    def run():
        level3.gru_forward(x, h0, p32, True)
        dx, dh0, g = level3.gru_backward(x, h0, p32, dhs, dh_T, True)
        return dx, dh0, g.arrays()

    return run


def make_level1(p32: GRUParams, x, h0, dhs, dh_T) -> Fn:
    def run():
        level1.gru_forward(x, h0, p32, True)
        dx, dh0, g = level1.gru_backward(x, h0, p32, dhs, dh_T, True)
        return dx, dh0, g.arrays()

    return run


def torch_grads_to_fields(gru, H: int) -> Dict[str, np.ndarray]:
    """torch.nn.GRU parameter gradients as GRUParams fields (gate order r, z, n).

    b_z and b_r are folded into both torch biases, so dL/db_z is the gradient
    of either (they are equal); b_n is torch's bias_ih[n] and b_hn its bias_hh[n].
    """
    w_ih = gru.weight_ih_l0.grad.numpy()
    w_hh = gru.weight_hh_l0.grad.numpy()
    b_ih = gru.bias_ih_l0.grad.numpy()
    b_hh = gru.bias_hh_l0.grad.numpy()
    r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    return {
        "W_z": w_ih[z].T, "W_r": w_ih[r].T, "W_n": w_ih[n].T,
        "U_z": w_hh[z].T, "U_r": w_hh[r].T, "U_n": w_hh[n].T,
        "b_z": b_ih[z], "b_r": b_ih[r], "b_n": b_ih[n], "b_hn": b_hh[n],
    }


def make_torch(torch, p32: GRUParams, x, h0, dhs, dh_T) -> Fn:
    B, T, D = x.shape
    H = p32.H
    gru = torch.nn.GRU(D, H, batch_first=True)
    gru.load_state_dict(p32.to_torch())
    xt = torch.from_numpy(x).requires_grad_(True)
    h0t = torch.from_numpy(h0[None]).requires_grad_(True)
    gt, gTt = torch.from_numpy(dhs), torch.from_numpy(dh_T[None])
    params = list(gru.parameters())

    def run():
        for q in params:
            q.grad = None
        xt.grad = None
        h0t.grad = None
        out, hn = gru(xt, h0t)
        torch.autograd.backward([out, hn], [gt, gTt])
        return xt.grad.numpy(), h0t.grad[0].numpy(), torch_grads_to_fields(gru, H)

    return run


def make_limit(p32: GRUParams, x, h0, dhs, dh_T) -> Fn:
    """The matrix products of forward + backward alone, np.dot into preallocated buffers."""
    B, T, D = x.shape
    H = p32.H
    f = np.float32
    W = np.ascontiguousarray(np.concatenate([p32.W_z, p32.W_r, p32.W_n], axis=1))  # (D, 3H)
    U = np.ascontiguousarray(np.concatenate([p32.U_z, p32.U_r, p32.U_n], axis=1))  # (H, 3H)
    WT, UT = np.ascontiguousarray(W.T), np.ascontiguousarray(U.T)
    x2 = np.ascontiguousarray(x.reshape(B * T, D))
    proj = np.empty((B * T, 3 * H), f)
    g = np.empty((B, 3 * H), f)
    h = np.ascontiguousarray(h0)
    da = np.random.default_rng(3).uniform(-1, 1, (B * T, 3 * H)).astype(f)  # stands for dL/d(pre-act.)
    da_t = np.ascontiguousarray(da[:B])
    dh = np.empty((B, H), f)
    hs = np.random.default_rng(4).uniform(-1, 1, (B * T, H)).astype(f)  # stands for h_{t-1}
    dx = np.empty((B * T, D), f)
    dW = np.empty((D, 3 * H), f)
    dU = np.empty((H, 3 * H), f)
    dot = np.dot

    def run():
        dot(x2, W, proj)
        for _ in range(T):
            dot(h, U, g)
        for _ in range(T):
            dot(da_t, UT, dh)
        dot(da, WT, dx)
        dot(x2.T, da, dW)
        dot(hs.T, da, dU)
        return None

    return run


# --------------------------------------------------------------------------- checks
def verify(variants: Dict[str, Fn], ref, tol: Dict[str, float]) -> List[str]:
    """Max abs difference of every variant's gradients to Level 1 float64, relative
    to the largest reference gradient; raises on a mismatch."""
    dx_r, dh0_r, g_r = ref
    scale = max(float(np.max(np.abs(a), initial=0.0)) for a in [dx_r, dh0_r, *g_r.arrays().values()])
    lines = []
    for name, fn in variants.items():
        out = fn()
        if out is None:
            continue
        dx, dh0, g = out
        err = max(
            float(np.max(np.abs(np.asarray(dx, np.float64) - dx_r), initial=0.0)),
            float(np.max(np.abs(np.asarray(dh0, np.float64) - dh0_r), initial=0.0)),
            *(float(np.max(np.abs(np.asarray(g[k], np.float64) - v), initial=0.0))
              for k, v in g_r.arrays().items()),
        ) / max(scale, 1e-300)
        bound = tol["f64"] if name.endswith("f64") else tol["f32"]
        if not err <= bound:
            raise SystemExit(f"verification FAILED: {name} gradients differ from Level 1 float64 by "
                             f"{err:.3g} (relative to the largest) > {bound:g}")
        lines.append(f"{name}={err:.1e}")
    return lines


def bench_case(name: str, env, args) -> Dict[str, object]:
    B, T, D, H = CASES[name]
    rng = np.random.default_rng(0)
    p64 = GRUParams.random(D, H, seed=0, dtype=np.float64)
    p32 = p64.astype(np.float32)
    x = rng.uniform(-1, 1, (B, T, D)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (B, H)).astype(np.float32)
    dhs = rng.uniform(-1, 1, (B, T, H)).astype(np.float32)
    dh_T = rng.uniform(-1, 1, (B, H)).astype(np.float32)
    data = (x, h0, dhs, dh_T)

    variants: Dict[str, Fn] = {}
    if not args.no_l1:
        variants["L1"] = make_level1(p32, *data)
    variants["L3"] = make_level3(p32, *data)
    variants["L3 nocache"] = make_level3_nocache(p32, *data)
    if env["torch"] is not None:
        variants["torch"] = make_torch(env["torch"], p32, *data)
    variants["limit"] = make_limit(p32, *data)

    f64 = [a.astype(np.float64) for a in data]
    ref = level1.gru_backward(f64[0], f64[1], p64, f64[2], f64[3], True)
    checked = verify(variants, ref, {"f32": 1e-4, "f64": 1e-10})
    print(f"\n[{name}] B={B} T={T} D={D} H={H}: gradients agree with Level 1 float64 "
          f"(max abs diff / max |gradient|) " + " ".join(checked))

    return run_rounds(variants, args)


# --------------------------------------------------------------------------- report
def report(results, markdown: bool) -> None:
    cols = ["L1", "L3", "L3 nocache", "torch", "limit"]
    print("\nMedian time per forward + backward call, ms (float32, reset_after=True):")
    rows = [[c] + [f"{res[n] * 1e3:.3f}" if n in res else "n/a" for n in cols] for c, res in results.items()]
    table(["case"] + cols, rows, markdown)

    pairs = [("L3", "torch", 0), ("L3", "limit", 1), ("L3 nocache", "L3", None),
             ("torch", "limit", None), ("L1", "torch", None)]
    head = ["case"] + [f"{a}/{b}" for a, b, _ in pairs]
    for title, paired in (("ratios of the medians", False),
                          ("the same ratios paired by round (median of per-round ratios)", True)):
        print(f"\nLevel 3 float32 forward + backward, {title}; targets from the issue, lower is better:")
        rows = []
        for c, res in results.items():
            row = [c]
            for a, b, k in pairs:
                target = TARGETS.get(c, (None, None))[k] if k is not None else None
                if paired:
                    v = res["_paired"].get((a, b))
                else:
                    v = res[a] / res[b] if a in res and b in res and res[b] > 0 else None
                row.append(fmt(v, target))
            rows.append(row)
        table(head, rows, markdown)
    print("\nGEMM speed of the best round per case (GFLOP/s), rounds re-run: " +
          ", ".join(f"{c} {res['_speed']:.0f}/{int(res['_retries'])}" for c, res in results.items()))


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = timing_parser(__doc__.split("\n\n")[0], list(CASES), budget=(0.03, 0.12), threads="BLAS/torch")
    ap.add_argument("--no-l1", action="store_true", help="skip Level 1 (slow on the large cases)")
    args, cases = parse_timing(ap, argv)

    env = environment(args.threads)
    print_environment(env)
    print_timing(args)
    results = {c: bench_case(c, env, args) for c in cases}
    report(results, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
