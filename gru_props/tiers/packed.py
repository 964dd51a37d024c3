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
``reverse=True`` (the reverse direction of a bidirectional layer) folds the
flip within each length into the gathers and scatters that sort the batch.

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
    ``backward(dhs, dh_T)`` gives ``(dx, dh0, grads)``. ``reverse=True`` is
    the reverse direction of a bidirectional layer: the GRU on each sequence
    reversed within its length (``tiers.stack.flip``), hs (and the backward's
    dhs and dx) in x's time order; the reversal is folded into the gathers and
    scatters that sort the batch, so it costs no pass of its own. ``out``: a
    (B, T, H) array (a view is fine) of zeros to write hs into (``hs`` is
    then ``out``). Arguments are validated arrays of the computation dtype,
    except ``x`` (cast here if needed) and ``lengths`` (checked here).
    """

    def __init__(self, l3: Any, x: np.ndarray, h0: np.ndarray, params: GRUParams, dtype: np.dtype,
                 reset_after: bool, lengths: Any, keep: bool, sequences: bool = True, reverse: bool = False,
                 out: Optional[np.ndarray] = None) -> None:
        B, T, D = x.shape
        H = params.H
        self.l3, self.params, self.dtype, self.reset_after = l3, params, dtype, reset_after
        self.shape, self.reverse = (B, T, D, H), reverse
        lengths = check_lengths(lengths, B, T)
        self.order, self.segments = runs(lengths, B, T)
        self.caches: List[Any] = []
        self.index: Any = None  # (order[:, None], time index): where sorted row j, step t lives in x
        sequences = sequences or out is not None
        if self.order is None and not self.segments:  # T = 0 or B = 0: no step
            self.h_T = np.array(h0, dtype=dtype, copy=True)
            self.hs = None if not sequences else self._place(np.zeros((B, T, H), dtype=dtype), out)
            return
        if self.order is None:  # every sequence full: one ordinary pass, no gather
            xs = x[:, ::-1] if reverse else x
            hs: Optional[np.ndarray] = None
            if keep:
                cache = l3.GRUCache()
                l3._forward_cached(xs, h0, params, dtype, reset_after, cache)
                self.caches.append(cache)
                hs, h_T = cache.h[1:].transpose(1, 0, 2), cache.h[T].copy()
            else:
                hs, h_T = l3._run(xs, h0, params, dtype, reset_after, sequences,
                                  max(1, l3._CHUNK_ROWS // max(B, 1)))
            self.h_T = h_T
            self.hs = None if not sequences else self._place(hs, out)
            return
        self.ends = lengths[self.order]
        # Each run of steps with the same sequences active is one ordinary pass over them.
        xs = self._gather(x)
        h = np.array(h0[self.order], dtype=dtype, order="C", copy=True)
        hs = np.zeros((B, T, H), dtype=dtype) if (sequences or keep) else None
        for t0, t1, k in self.segments:
            part = xs[:k, t0:t1]
            if keep:
                cache = l3.GRUCache()
                l3._forward_cached(part, h[:k], params, dtype, reset_after, cache)
                self.caches.append(cache)
                hs[:k, t0:t1] = cache.h[1:].transpose(1, 0, 2)  # type: ignore[index]
                h[:k] = cache.h[t1 - t0]
            else:
                chunk = max(1, l3._CHUNK_ROWS // k)
                seg_hs, seg_hT = l3._run(part, h[:k], params, dtype, reset_after, sequences, chunk)
                if sequences:
                    hs[:k, t0:t1] = seg_hs  # type: ignore[index]
                h[:k] = seg_hT
        self.hs = None if not sequences else self._scatter(hs, out)  # type: ignore[arg-type]
        self.h_T = self._unsorted(h)

    def _time_index(self) -> np.ndarray:
        """(B, T): the step of x that sorted row j reads at step t (t itself unless ``reverse``)."""
        B, T = self.shape[:2]
        t = np.arange(T)[None, :]
        if not self.reverse:
            return np.broadcast_to(t, (B, T))
        ends = self.ends[:, None]
        return np.where(t < ends, ends - 1 - t, t)

    def _gather(self, a: np.ndarray) -> np.ndarray:
        """a (B, T, ...) in the order of the passes: sorted, and reversed within each length if ``reverse``."""
        order = self.order
        assert order is not None
        if self.index is None:
            self.index = (order[:, None], self._time_index())
        if not self.reverse:
            return a[order]
        return a[self.index]

    def _scatter(self, a_sorted: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The inverse of ``_gather``, into ``out`` (if given) or a new array."""
        if out is None:
            out = np.empty_like(a_sorted)
        if self.reverse:
            out[self.index] = a_sorted
        else:
            out[self.order] = a_sorted
        return out

    def _place(self, a: np.ndarray, out: Optional[np.ndarray]) -> np.ndarray:
        """A full-length pass's (B, T, ...) result in x's time order, into ``out`` or a new array."""
        a = a[:, ::-1] if self.reverse else a
        if out is None:
            return np.ascontiguousarray(a)
        out[...] = a
        return out

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
        if order is None:
            if not self.caches:  # B = 0 or T = 0: nothing ran
                zeros = GRUParams(**{k: np.zeros_like(v, dtype=dtype) for k, v in self.params.arrays().items()})
                return np.zeros((B, T, D), dtype=dtype), np.array(dh_T, dtype=dtype, copy=True), zeros
            part = None if dhs is None else (dhs[:, ::-1] if self.reverse else dhs)
            dx, dh0, grads = self.l3._backward(self.caches[0], self.params, dtype, self.reset_after, part, dh_T)
            return (dx[:, ::-1] if self.reverse else dx), dh0, grads
        dhs_s = None if dhs is None else self._gather(dhs)
        dh = np.array(dh_T[order], dtype=dtype, order="C", copy=True)
        dx = np.zeros((B, T, D), dtype=dtype)
        total: Dict[str, np.ndarray] = {k: np.zeros_like(v, dtype=dtype) for k, v in self.params.arrays().items()}
        for (t0, t1, k), cache in reversed(list(zip(self.segments, self.caches))):
            part = None if dhs_s is None else dhs_s[:k, t0:t1]
            seg_dx, seg_dh0, grads = self.l3._backward(cache, self.params, dtype, self.reset_after, part, dh[:k])
            dx[:k, t0:t1] = seg_dx
            dh[:k] = seg_dh0
            for name, g in grads.arrays().items():
                total[name] += g
        return self._scatter(dx), self._unsorted(dh), GRUParams(**total)
