#!/usr/bin/env python
"""Stack benchmark: Level 3's stack_forward and stack_forward + stack_backward against torch.nn.GRU.

Two layers, bidirectional, B = 32, T = 100, H = 128 (D = H), float32, PyTorch's convention, with every
sequence full ("equal") and with unequal lengths (uniform in 1 .. T; torch through pack_padded_sequence
with enforce_sorted=False, ours through lengths=). Forward+backward is one training step's work: torch's
forward then autograd of sum(out * dout) + sum(h_n * dh_n); ours stack_backward (its forward included,
caches kept per layer and direction). Run from the repository root after ``pip install -e ".[bench]"``::

    python benchmarks/bench_stack.py            # both cases, 7 rounds
    python benchmarks/bench_stack.py --quick

The times are medians over interleaved rounds (``_common.run_rounds``); the ratios (ours / torch, of
medians from this one run) are what to read; the target is at most 1.0x. Timings decide no test.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Dict, List, Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _common beside this file
from _common import environment, fmt, parse_timing, print_environment, print_timing, run_rounds, table, timing_parser  # noqa: E402,E501

from gru_props import GRUParams, level1, level3  # noqa: E402

CASES = ("equal", "unequal")
B, T, H, L = 32, 100, 128, 2


def _variants(case: str) -> Dict[str, Callable[[], object]]:
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    gru = torch.nn.GRU(H, H, L, batch_first=True, bidirectional=True)
    layers = GRUParams.stack_from_torch(gru)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, H)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (2 * L, B, H)).astype(np.float32)
    dout = rng.standard_normal((B, T, 2 * H)).astype(np.float32)
    dh_n = rng.standard_normal((2 * L, B, H)).astype(np.float32)
    lengths = None if case == "equal" else rng.integers(1, T + 1, B)
    xt, ht = torch.tensor(x), torch.tensor(h0)
    dout_t, dhn_t = torch.tensor(dout), torch.tensor(dh_n)

    def torch_run(x_in: object, h_in: object) -> object:
        if lengths is None:
            return gru(x_in, h_in)
        packed = pack_padded_sequence(x_in, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        out, h_n = gru(packed, h_in)
        return pad_packed_sequence(out, batch_first=True, total_length=T)[0], h_n

    def torch_forward() -> object:
        with torch.no_grad():
            return torch_run(xt, ht)

    def torch_train() -> object:
        gru.zero_grad()
        xg, hg = xt.clone().requires_grad_(True), ht.clone().requires_grad_(True)
        out, h_n = torch_run(xg, hg)  # type: ignore[misc]
        ((out * dout_t).sum() + (h_n * dhn_t).sum()).backward()
        return xg.grad

    def ours_forward() -> object:
        return level3.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=True)

    def ours_train() -> object:
        return level3.stack_backward(x, h0, layers, dout, dh_n, bidirectional=True, lengths=lengths,
                                     reset_after=True)

    # Before timing: the variants compute the same thing (float64 Level 1 as the referee, float32 tolerance).
    layers64 = [p.astype(np.float64) for p in layers]
    ref_out, _ = level1.stack_forward(x.astype(np.float64), h0.astype(np.float64), layers64, bidirectional=True,
                                      lengths=lengths, reset_after=True)
    got_t = torch_forward()[0].numpy()  # type: ignore[index]
    got_o = ours_forward()[0]
    assert np.abs(got_t - ref_out).max() < 1e-4 and np.abs(got_o - ref_out).max() < 1e-4, "variants disagree"
    return {"torch forward": torch_forward, "ours forward": ours_forward,
            "torch fwd+bwd": torch_train, "ours fwd+bwd": ours_train}


def main(argv: Optional[List[str]] = None) -> None:
    ap = timing_parser(__doc__.splitlines()[0], CASES, budget=(0.5, 1.5), threads="BLAS and torch", default_threads=1)
    args, chosen = parse_timing(ap, argv)
    env = environment(args.threads)
    print_environment(env)
    print(f"2 layers, bidirectional, B={B}, T={T}, D=H={H}, float32, reset_after=True")
    print_timing(args)
    rows = []
    for case in chosen:
        med = run_rounds(_variants(case), args)
        paired = med["_paired"]
        for what in ("forward", "fwd+bwd"):
            ours, theirs = med[f"ours {what}"], med[f"torch {what}"]
            ratio = paired[(f"ours {what}", f"torch {what}")]  # type: ignore[index]
            rows.append([case, what, f"{ours * 1e3:.2f}", f"{theirs * 1e3:.2f}", fmt(ratio, 1.0)])  # type: ignore[operator]
    table(["lengths", "pass", "ours ms", "torch ms", "ours / torch"], rows, args.markdown)


if __name__ == "__main__":
    main()
