"""Level 3 over sequences of unequal lengths: packed-sequence semantics.

``lengths[b]`` steps of sequence b are real, the rest of ``x[b]`` is padding
that is never read. As ``torch.nn.utils.rnn.pack_padded_sequence`` does, the
batch is sorted by length (longest first, stably); then at step t the active
sequences are a prefix of the sorted batch, which only shrinks.

* Forward without a cache: one pass over time (``run_packed``). The real
  steps of x are gathered time-major, packed (step 0's rows, then step 1's,
  ...), and projected by one matrix product per chunk of about 2048 rows;
  step t runs ``_run``'s step loop on the first batch_sizes[t] rows, whose
  h_{t-1} is a prefix of the previous step's states (no copy). Each state is
  scattered once to its place in hs; a finished sequence keeps its state,
  its outputs stay zero. (A pass per span of equal active rows cost a fresh
  pass's setup and a projection GEMM per distinct length: 1.27x torch's
  packed forward at B = 32, T = 100 against 0.87-0.96x now.)
* Forward with a cache (``keep=True``, for the backward): between two
  consecutive distinct lengths the active prefix does not change, and each
  such run of steps is one ordinary ``_forward_cached`` over the active rows,
  started from their states where the previous run left them. The backward
  walks the runs in reverse, each a Level 3 BPTT from its cache, with dL/dh
  of the rows that go on carried from the later run and dL/dh_T entering
  each sequence at its own last step.

So the cost follows the real steps (a batch of short sequences costs less
than one of full ones), and every pass reuses Level 3's prepared weights
(cached on the ``GRUParams``). ``reverse=True`` (the reverse direction of a
bidirectional layer) folds the flip within each length into the gathers and
scatters that sort the batch.

The Level 3 module is passed in (``l3``), not imported, so that it can call
this module without an import cycle.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from gru_props.core.params import GRUParams
from gru_props.core.validation import check_lengths

__all__ = ["Packed", "runs", "run_packed"]


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


def run_packed(
    l3: Any,
    x2: np.ndarray,
    rows: np.ndarray,
    batch_sizes: Sequence[int],
    h0: np.ndarray,
    params: GRUParams,
    dtype: np.dtype,
    reset_after: bool,
    return_sequences: bool,
) -> Tuple[Optional[np.ndarray], np.ndarray]:
    """The recurrence over a packed batch whose active rows shrink, in one pass over time.

    Step t works on the first ``batch_sizes[t]`` rows (non-increasing: the batch sorted longest first, as
    ``torch.nn.utils.rnn.pack_padded_sequence`` has it); ``rows`` (N = sum(batch_sizes),) are the rows of
    ``x2`` (M, D) they read, step by step (step 0's first, then step 1's, ...). ``h0`` (B, H), B >=
    batch_sizes[0], are the sorted initial states. Returns ``(hp, h_T)``: hp (N, H) the states in the order
    of ``rows`` (None unless ``return_sequences``), h_T (B, H) each row's state after its last step (h0 for
    a row with none). The input projection is one matrix product per chunk of about ``l3._CHUNK_ROWS``
    packed rows (usually one for the whole sequence) with Level 3's prepared weights; the step loop is
    ``l3._run``'s (``l3._steps``), on the active rows only, with no copy between steps: h_{t-1} of the rows
    still active is a prefix of the previous step's states.
    """
    D = x2.shape[1]
    B, H = h0.shape
    bs = [int(k) for k in batch_sizes]
    off = [0]
    for k in bs:
        off.append(off[-1] + k)
    chunks = []
    t0 = 0
    while t0 < len(bs):
        t1 = t0 + 1
        while t1 < len(bs) and off[t1 + 1] - off[t0] <= l3._CHUNK_ROWS:
            t1 += 1
        chunks.append((t0, t1))
        t0 = t1
    most = max([off[t1] - off[t0] for t0, t1 in chunks], default=0)
    Wx, bhn, U1, U2 = l3._prepared(params, dtype, reset_after, "gates")
    ng = 3 if reset_after else 2
    xbuf = np.empty((most, D + 1), dtype=dtype)
    xbuf[:, D] = 1  # picks up the bias row of Wx
    proj = np.empty((ng + 1, most, H), dtype=dtype)  # as _run's "gates" blocks, rows packed
    if reset_after:
        proj[0] = bhn
    proj_out = proj[1:] if reset_after else proj
    h = np.array(h0, dtype=dtype, order="C", copy=True)  # sorted states; the final-state mode updates it
    hp = np.empty((off[-1], H), dtype=dtype) if return_sequences else None
    store = np.empty((ng + 3) * B * H, dtype=dtype)
    by_rows: Dict[int, Tuple[Any, ...]] = {}
    half = np.array(0.5, dtype=dtype)
    prev = h
    for t0, t1 in chunks:
        r0, m = off[t0], off[t1] - off[t0]
        np.take(x2, rows[r0:r0 + m], axis=0, out=xbuf[:m, :D], mode="clip")
        np.matmul(xbuf[:m], Wx, out=proj_out[:, :m])
        p_add, p_x, prevs, outs, bufs = [], [], [], [], []
        for t in range(t0, t1):
            a, k = off[t] - r0, bs[t]
            p_add.append(proj[:ng, a:a + k])
            p_x.append(proj[ng, a:a + k])
            out = h[:k] if hp is None else hp[off[t]:off[t] + k]
            prevs.append(prev[:k])
            outs.append(out)
            prev = out
            if k not in by_rows:
                by_rows[k] = l3._step_buffers(k, H, dtype, reset_after, True, store)
            bufs.append(by_rows[k])
        l3._steps(reset_after, np.matmul, U1, U2, half, p_add, p_x, prevs, outs, bufs)
    if hp is not None:  # rows batch_sizes[t + 1] .. batch_sizes[t] - 1 end at step t
        for t, k in enumerate(bs):
            k_next = bs[t + 1] if t + 1 < len(bs) else 0
            if k_next < k:
                h[k_next:k] = hp[off[t] + k_next:off[t] + k]
    return hp, h


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
        ends = self.ends = lengths[self.order]
        if not keep and len(self.segments) > 1:
            self._single_pass(x, h0, ends, sequences, out)
            return
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

    def _single_pass(self, x: np.ndarray, h0: np.ndarray, ends: np.ndarray, sequences: bool,
                     out: Optional[np.ndarray]) -> None:
        """Without a cache: one pass over time whose active rows shrink (``run_packed``), reading only
        the real steps of x and writing each state straight to its place in hs."""
        B, T, D, H = self.shape
        order = self.order
        assert order is not None
        steps = int(ends[0])
        active = ends[None, :] > np.arange(steps)[:, None]  # (steps, B): sorted row j active at step t
        t_idx, j_idx = np.nonzero(active)  # the packed rows, step by step, a prefix of the sorted rows each
        b_idx = order[j_idx]
        if self.reverse:
            t_idx = ends[j_idx] - 1 - t_idx
        x2 = np.ascontiguousarray(x, dtype=self.dtype).reshape(B * T, D)
        hp, h = run_packed(self.l3, x2, b_idx * T + t_idx, active.sum(axis=1), h0[order], self.params,
                           self.dtype, self.reset_after, sequences)
        self.h_T = self._unsorted(h)
        self.hs = None
        if sequences:
            self.hs = np.zeros((B, T, H), dtype=self.dtype) if out is None else out
            self.hs[b_idx, t_idx] = hp

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
