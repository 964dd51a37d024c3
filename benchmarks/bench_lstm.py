#!/usr/bin/env python
"""LSTM benchmark: gru_props.lstm against torch.nn.LSTM on the training
study's shapes, float32, measured side by side in one process.

Run from the repository root after ``pip install -e ".[bench]"``::

    python benchmarks/bench_lstm.py              # all cases, 7 rounds
    python benchmarks/bench_lstm.py --quick      # 3 short rounds
    python benchmarks/bench_lstm.py --cases T100-H64 --rounds 9 --markdown

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
rotating order, each preceded by a short pause and a warm-up, and rounds are
re-run when the machine's GEMM speed dropped (``_common.run_rounds``, as in
the other benchmarks); times are medians over rounds, the ratios are paired
by round, all from this one run. Torch runs with ``set_num_threads`` equal to
NumPy's BLAS thread count (``--threads`` sets both; default 1, as the
study's workers run). Timings never decide a test.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _common beside this file
from _common import (  # noqa: E402  (also makes gru_props importable from a checkout)
    environment,
    parse_timing,
    print_environment,
    print_timing,
    run_rounds,
    table,
    timing_parser,
)

from gru_props.lstm import LSTMCache, LSTMParams, level1, level3  # noqa: E402

# name: (B, T, D, H). The study trains at B=64, T=50..100; H=32/64 are GRU
# sizes and 28/55 the LSTM sizes of an equal parameter budget.
CASES: Dict[str, Tuple[int, int, int, int]] = {
    "T50-H28": (64, 50, 2, 28),
    "T100-H32": (64, 100, 2, 32),
    "T100-H55": (64, 100, 2, 55),
    "T100-H64": (64, 100, 2, 64),
}

Fn = Callable[[], object]


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


def main(argv=None) -> int:
    ap = timing_parser(__doc__.split("\n\n")[0], list(CASES), budget=(0.1, 0.3), threads="BLAS and torch",
                       default_threads=1)
    args, names = parse_timing(ap, argv)
    env = environment(args.threads)
    print_environment(env)
    print_timing(args)
    torch = env["torch"]

    rows = []
    for name in names:
        B, T, D, H = CASES[name]
        variants, data = make_variants(torch, B, T, D, H)
        print(f"\n[{name}] B={B} T={T} D={D} H={H} float32: {verify(variants, data, torch)}")
        med = run_rounds(variants, args)
        print("  " + "  ".join(f"{v}: {float(med[v]) * 1e3:.2f} ms" for v in variants))
        pr = med["_paired"]
        saves = 1 - pr[("L3 fwd+bwd cached", "L3 fwd+bwd")]
        if torch is not None:
            tf, tt = "torch fwd", "torch fwd+bwd"
            rows.append([name] + [f"{pr[(v, t)]:.2f}" for v, t in (
                ("L3 fwd", tf), ("L3 fwd+bwd cached", tt), ("L3 fwd+bwd", tt), ("L1 fwd+bwd", tt))]
                + [f"{saves:.0%}"])
        else:
            rows.append([name, "-", "-", "-", "-", f"{saves:.0%}"])

    print("\nRatios (time / torch's; below 1 is faster than torch), paired by round:")
    table(["case", "L3 fwd", "L3 fwd+bwd cached", "L3 fwd+bwd (no cache)", "L1 fwd+bwd", "cache saves"],
          rows, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
