"""Level 3 over sequences of unequal lengths: packed-sequence semantics from equal-length passes.

``lengths[b]`` steps of sequence b are real, the rest of ``x[b]`` is padding
that is never read. As ``torch.nn.utils.rnn.pack_padded_sequence`` does, the
batch is sorted by length (longest first, stably); then at step t the active
sequences are a prefix of the sorted batch, and between two consecutive
distinct lengths that prefix does not change. Each such run of steps is one
ordinary Level 3 pass (``_run``, or ``_forward_cached`` to keep its work) over
the active rows only, started from their states where the previous run left
them; a finished sequence keeps its state, its outputs stay zero. The
backward walks the runs in reverse, each a Level 3 BPTT from its cache, with
dL/dh of the rows that go on carried from the later run and dL/dh_T entering
each sequence at its own last step. So the cost follows the real steps (a
batch of short sequences costs less than one of full ones), and every run
reuses Level 3's prepared weights (cached on the ``GRUParams``).

The Level 3 module is passed in (``l3``), not imported, so that it can call
this module without an import cycle.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.core.validation import check_lengths

__all__ = ["Packed", "runs"]


def runs(lengths: Optional[np.ndarray], B: int, T: int) -> Tuple[Optional[np.ndarray], List[Tuple[int, int, int]]]:
    """``(order, segments)``: the sort putting the longest sequences first (None when every sequence has T
    steps) and the runs ``(t0, t1, k)``: steps t0 .. t1-1 have the first k sorted sequences active."""
    if lengths is None or bool(np.all(lengths == T)):
        return None, ([(0, T, B)] if T and B else [])
    order = np.argsort(-lengths, kind="stable")
    ends = lengths[order]
    bounds = sorted({0} | {int(v) for v in ends})
    segments = []
    for t0, t1 in zip(bounds[:-1], bounds[1:]):
        k = int(np.count_nonzero(ends > t0))
        if k:
            segments.append((t0, t1, k))
    return order, segments


class Packed:
    """One direction of a GRU over x (B, T, D) with ``lengths``, run at construction.

    ``hs`` (B, T, H) (None unless ``sequences``) and ``h_T`` (B, H) are the
    forward's results; with ``keep=True`` each run's ``GRUCache`` is kept and
    ``backward(dhs, dh_T)`` gives ``(dx, dh0, grads)``. Arguments are validated
    arrays of the computation dtype, except ``lengths`` (checked here).
    """

    def __init__(self, l3: Any, x: np.ndarray, h0: np.ndarray, params: GRUParams, dtype: np.dtype,
                 reset_after: bool, lengths: Any, keep: bool, sequences: bool = True) -> None:
        B, T, D = x.shape
        H = params.H
        self.l3, self.params, self.dtype, self.reset_after = l3, params, dtype, reset_after
        self.shape = (B, T, D, H)
        self.order, self.segments = runs(check_lengths(lengths, B, T), B, T)
        xs = x if self.order is None else x[self.order]
        h = np.array(h0 if self.order is None else h0[self.order], dtype=dtype, order="C", copy=True)
        whole = self.order is None and len(self.segments) == 1  # one pass over everything: no copies
        hs = None if whole or not (sequences or keep) else np.zeros((B, T, H), dtype=dtype)
        self.caches: List[Any] = []
        for t0, t1, k in self.segments:
            part = xs[:k, t0:t1]
            if keep:
                cache = l3.GRUCache()
                l3._forward_cached(part, h[:k], params, dtype, reset_after, cache)
                self.caches.append(cache)
                if whole:
                    hs = np.ascontiguousarray(cache.h[1:].transpose(1, 0, 2))
                else:
                    hs[:k, t0:t1] = cache.h[1:].transpose(1, 0, 2)  # type: ignore[index]
                h[:k] = cache.h[t1 - t0]
            else:
                chunk = max(1, l3._CHUNK_ROWS // k)
                seg_hs, seg_hT = l3._run(part, h[:k], params, dtype, reset_after, sequences, chunk)
                if whole:
                    hs = seg_hs
                elif sequences:
                    hs[:k, t0:t1] = seg_hs  # type: ignore[index]
                h[:k] = seg_hT
        if hs is None and sequences:  # no step at all (T = 0, B = 0 or every length 0)
            hs = np.zeros((B, T, H), dtype=dtype)
        self.hs = None if hs is None or not sequences else self._unsorted(hs)
        self.h_T = self._unsorted(h)

    def _unsorted(self, a: np.ndarray) -> np.ndarray:
        if self.order is None:
            return a
        out = np.empty_like(a)
        out[self.order] = a
        return out

    def backward(self, dhs: Optional[np.ndarray], dh_T: np.ndarray) -> Tuple[np.ndarray, np.ndarray, GRUParams]:
        """dL/d(x, h0, params) of ``sum(hs * dhs) + sum(h_T * dh_T)`` (dhs None: zeros; padded dhs ignored)."""
        B, T, D, H = self.shape
        dtype, order = self.dtype, self.order
        dhs_s = None if dhs is None else (dhs if order is None else dhs[order])
        dh = np.array(dh_T if order is None else dh_T[order], dtype=dtype, order="C", copy=True)
        dx = np.zeros((B, T, D), dtype=dtype)
        total: Dict[str, np.ndarray] = {k: np.zeros_like(v, dtype=dtype) for k, v in self.params.arrays().items()}
        for (t0, t1, k), cache in reversed(list(zip(self.segments, self.caches))):
            part = None if dhs_s is None else dhs_s[:k, t0:t1]
            seg_dx, seg_dh0, grads = self.l3._backward(cache, self.params, dtype, self.reset_after, part, dh[:k])
            dx[:k, t0:t1] = seg_dx
            dh[:k] = seg_dh0
            for name, g in grads.arrays().items():
                total[name] += g
        return self._unsorted(dx), self._unsorted(dh), GRUParams(**total)
