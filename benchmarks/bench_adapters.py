#!/usr/bin/env python
"""What immutable GRUParams and the adapters cost: construction and per-call overhead.

Run from the repository root::

    python benchmarks/bench_adapters.py            # 7 rounds
    python benchmarks/bench_adapters.py --rounds 3

Prints three tables, each a median over rounds of per-round medians, with
the variants of a table interleaved within every round so that a shared
machine's drift hits them alike (trust the ratios, not the microseconds):

1. ``GRUParams(...)`` construction with arrays backed by immutable ``bytes``
   (``setflags(write=True)`` raises, so Level 3's prepared-weights cache can
   never go stale) against plain read-only copies, for several (D, H);
2. a Level 1 and a Level 3 forward on bytes-backed parameters against
   plain read-only NumPy-owned ones (alignment could differ);
3. each adapter's overhead per call: a function that returns zeros, called
   directly and through the adapter, at a small and a medium shape.

Timings never decide a test's pass/fail.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import numpy as np

try:  # a checkout that was not pip-installed still runs
    import gru_props  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from gru_props import GRUParams, adapters, level1, level3
from gru_props.core import params as _params


def _bytes_backed(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    data = np.ascontiguousarray(arr, dtype=dtype)
    return np.frombuffer(data.tobytes(), dtype=dtype).reshape(arr.shape)


def _plain_copy(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    data = np.array(arr, dtype=dtype, copy=True)
    data.setflags(write=False)
    return data


def _per_call(fn: Callable[[], object], seconds: float = 0.05) -> float:
    """Median seconds per call over a few batches lasting about ``seconds`` each."""
    fn()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start > seconds / 5 or n > 1 << 20:
            break
        n *= 2
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times)


def _rounds(variants: Dict[str, Callable[[], object]], rounds: int) -> Dict[str, float]:
    results: Dict[str, List[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            results[name].append(_per_call(variants[name]))
    return {k: statistics.median(v) for k, v in results.items()}


def _builder(arrays: Dict[str, np.ndarray], strategy: Callable[..., np.ndarray]) -> Callable[[], object]:
    """A timed call: GRUParams built from ``arrays`` with ``strategy`` as the way arrays are frozen."""
    def run() -> object:
        _params._immutable = strategy
        return GRUParams(**arrays)
    return run


def construction(rounds: int) -> None:
    print("\n1. GRUParams construction (us per GRUParams)")
    print(f"{'D, H':>10}  {'plain copy':>11}  {'bytes-backed':>12}  {'ratio':>6}")
    original = _params._immutable
    try:
        for D, H in [(3, 4), (64, 64), (512, 512)]:
            arrays = GRUParams.random(D, H, seed=0).arrays()
            arrays = {k: np.array(v) for k, v in arrays.items()}

            t = _rounds({"plain": _builder(arrays, _plain_copy), "bytes": _builder(arrays, _bytes_backed)}, rounds)
            print(f"{f'{D}, {H}':>10}  {t['plain'] * 1e6:11.2f}  {t['bytes'] * 1e6:12.2f}  "
                  f"{t['bytes'] / t['plain']:6.2f}")
    finally:
        _params._immutable = original


def forward_speed(rounds: int) -> None:
    print("\n2. Forward on bytes-backed vs NumPy-owned parameter arrays (ms per call)")
    B, T, D, H = 16, 50, 64, 128
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(B, T, D)), np.zeros((B, H))
    arrays = GRUParams.random(D, H, seed=0).arrays()
    frozen, owned = object.__new__(GRUParams), object.__new__(GRUParams)
    for k, v in arrays.items():  # both read-only and cached: only the memory differs
        object.__setattr__(frozen, k, _bytes_backed(v, v.dtype))
        object.__setattr__(owned, k, _plain_copy(v, v.dtype))
    object.__setattr__(frozen, "_cache", {})
    object.__setattr__(owned, "_cache", {})
    print(f"   (B, T, D, H) = {(B, T, D, H)}; bytes-backed arrays can be made writable: "
          f"{_can_make_writable(frozen.W_z)}")
    for tier in (level1, level3):
        t = _rounds({"bytes": lambda tier=tier: tier.gru_forward(x, h0, frozen),
                     "owned": lambda tier=tier: tier.gru_forward(x, h0, owned)}, rounds)
        print(f"   {tier.__name__.split('.')[-1]}: owned {t['owned'] * 1e3:.3f}  bytes-backed "
              f"{t['bytes'] * 1e3:.3f}  ratio {t['bytes'] / t['owned']:.3f}")


def _can_make_writable(arr: np.ndarray) -> bool:
    try:
        arr.view().setflags(write=True)
    except ValueError:
        return False
    return True


def _adapter_variants(B: int, T: int, D: int, H: int, torch: Any) -> Dict[str, Callable[[], object]]:
    """The timed calls of ``adapter_overhead`` at one size: a function returning zeros, bare and wrapped."""
    p = GRUParams.random(D, H, seed=0)
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(B, T, D)), np.zeros((B, H))
    zeros = np.zeros((B, T, H))

    def direct(x, h0, *a):  # noqa: ANN001
        return zeros

    def one(x, h0, *a):  # noqa: ANN001
        return zeros[0]

    def major(x, h0, *a):  # noqa: ANN001
        return zeros.transpose(1, 0, 2)

    wrapped = {  # wrapped once, outside the timed calls
        "direct": direct,
        "torch_layout": adapters.torch_layout(direct),
        "keras_layout": adapters.keras_layout(direct),
        "onnx_layout": adapters.onnx_layout(direct),
        "concat_layout": adapters.concat_layout(direct),
        "transposed_weights": adapters.transposed_weights(direct),
        "time_major": adapters.time_major(major),
        "unbatched": adapters.unbatched(one),
    }
    if torch is not None:
        tz = torch.from_numpy(zeros)
        wrapped["torch_function"] = adapters.torch_function(lambda *a: tz)
    variants: Dict[str, Callable[[], object]] = {
        name: functools.partial(fn, x, h0, p) for name, fn in wrapped.items()}
    if torch is not None:
        cell = adapters.torch_cell(torch.nn.GRUCell)
        x_t = x[:, 0]
        torch_cell_direct = torch.nn.GRUCell(D, H, dtype=torch.float64)
        xt, ht = torch.from_numpy(x_t), torch.from_numpy(h0)

        def raw_cell() -> object:
            with torch.no_grad():
                return torch_cell_direct(xt, ht).numpy()

        variants["nn.GRUCell direct"] = raw_cell
        variants["torch_cell(nn.GRUCell)"] = lambda: cell(x_t, h0, p)
    return variants


def adapter_overhead(rounds: int) -> None:
    print("\n3. Adapter overhead per call (us), a function returning zeros")
    try:
        import torch

        torch.set_num_threads(1)  # small tensors: threads only add contention on a shared machine
    except ImportError:  # pragma: no cover
        torch = None
    for B, T, D, H in [(4, 16, 8, 8), (32, 100, 128, 128)]:
        variants = _adapter_variants(B, T, D, H, torch)
        t = _rounds(variants, rounds)
        print(f"   (B, T, D, H) = {(B, T, D, H)}")
        for name, value in t.items():
            base = t["nn.GRUCell direct"] if name == "torch_cell(nn.GRUCell)" else t["direct"]
            extra = "" if name in ("direct", "nn.GRUCell direct") else f"  (+{(value - base) * 1e6:.1f})"
            print(f"   {name:>24}  {value * 1e6:10.2f}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"numpy {np.__version__}, rounds {args.rounds}")
    construction(args.rounds)
    forward_speed(args.rounds)
    adapter_overhead(args.rounds)


if __name__ == "__main__":
    main()
