"""Bach chorales from music21's corpus as piano rolls, parsed once and cached.

The data of the ``Chorales`` task (``gru_props.study.tasks``): polyphonic
music as in Boulanger-Lewandowski et al. 2012 and Chung et al. 2014.

* **Corpus**: ``music21.corpus.chorales.Iterator()`` (Riemenschneider 1-371)
  lists 371 entries, 350 distinct files (20 files are listed under two
  numbers): each file is taken once. The corpus ships inside music21's
  wheel; nothing is downloaded.
* **Piano roll**: from ``score.flatten().notes``, a pitch is on at frame t
  when ``offset <= t * step < offset + quarterLength`` (``step`` 1: quarter
  notes, as Boulanger-Lewandowski); MIDI 21-108 give 88 keys (a pitch outside
  is dropped, none is in this corpus). A chorale of L frames is (L, 88) bool.
* **Split**: deterministic, by content, stated in the report. Chorales whose
  rolls are identical (two such pairs of different files exist:
  ``bwv62.6``/``bwv274`` and ``bwv69.6-a``/``bwv69.6``) form one group, so
  they are never on both sides of a split. Groups are ordered by the SHA-256
  of their names and dealt in that order: training until it holds 60 % of the
  chorales, validation until 80 %, test the rest (210/70/70 of 350).
* **Subsets**: ``subset=N`` takes the N files whose names have the smallest
  SHA-256 and splits them the same way (the quick mode's small corpus).
* **Cache**: parsing 350 files takes 12-45 s; it happens once per machine.
  The rolls go to ``$GRU_PROPS_CACHE`` or ``$XDG_CACHE_HOME/gru_props`` or
  ``~/.cache/gru_props`` as a compressed ``.npz`` (about 200 kB); a subset is
  cut from the full file when that exists. A study loads them in its parent
  process and ships them, bit-packed, inside the task to every run (a
  worker, local or on a Dask cluster, never parses).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["ChoraleData", "load_chorales", "piano_roll", "cache_dir", "KEYS", "LOWEST_MIDI"]

KEYS = 88
LOWEST_MIDI = 21  # A0; the 88 keys are MIDI 21-108
SPLITS = ("train", "valid", "test")
_FRACTIONS = (0.6, 0.8)  # cumulative: train up to 60 %, validation up to 80 %


def cache_dir() -> str:
    """Where the parsed rolls are kept: ``$GRU_PROPS_CACHE``, else ``$XDG_CACHE_HOME/gru_props``,
    else ``~/.cache/gru_props``."""
    explicit = os.environ.get("GRU_PROPS_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gru_props")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True, eq=False)
class ChoraleData:
    """Parsed chorales and their split.

    ``names`` (N,) corpus names such as ``"bach/bwv269"`` (never machine
    paths); ``lengths`` (N,) frames per chorale; ``packed``: every roll, the
    (sum(lengths), 88) bool rows concatenated in ``names`` order, as
    ``np.packbits`` bytes; ``split`` (N,) "train", "valid" or "test";
    ``groups``: tuples of names whose rolls are identical (always in one
    split); ``step`` the frame length in quarter notes; ``music21`` the
    version that parsed them; ``digest`` a SHA-256 over names, lengths and
    rolls.
    """

    names: Tuple[str, ...]
    lengths: np.ndarray
    packed: np.ndarray
    split: Tuple[str, ...]
    groups: Tuple[Tuple[str, ...], ...]
    step: float
    music21: str
    digest: str

    @property
    def frames(self) -> int:
        return int(self.lengths.sum())

    def rolls(self) -> List[np.ndarray]:
        """Every chorale's roll, (L, 88) bool, in ``names`` order (unpacked; cached per process)."""
        key = self.digest
        if key not in _UNPACKED:
            flat = np.unpackbits(self.packed)[: self.frames * KEYS].reshape(self.frames, KEYS).astype(bool)
            bounds = np.cumsum(self.lengths)[:-1]
            _UNPACKED.clear()  # one corpus per process at a time
            _UNPACKED[key] = np.split(flat, bounds)
        return _UNPACKED[key]

    def indices(self, part: str) -> np.ndarray:
        """Positions in ``names`` of the chorales of split ``part`` ("train", "valid", "test")."""
        if part not in SPLITS:
            raise ValueError(f"part: expected one of {SPLITS}; got {part!r}.")
        return np.array([i for i, s in enumerate(self.split) if s == part], dtype=np.int64)

    def sizes(self) -> Dict[str, Tuple[int, int]]:
        """Per split: (chorales, frames)."""
        return {p: (len(self.indices(p)), int(self.lengths[self.indices(p)].sum())) for p in SPLITS}

    def baselines(self) -> Dict[str, Dict[str, float]]:
        """NLL per frame (nats, summed over the 88 keys) of three models that need no training.

        ``"half"``: every key on with probability 1/2 (88 ln 2 = 61.0).
        ``"frequency"``: each key on with its training frequency (add-1/2 smoothing).
        ``"markov"``: each key a two-state Markov chain fitted on training
        (the first frame from the frequencies), add-1/2 smoothing.
        Each on the validation and the test split: ``{"valid": {...}, "test": {...}}``.
        """
        rolls = self.rolls()
        train = [rolls[i] for i in self.indices("train")]
        allt = np.concatenate(train).astype(np.float64)
        p = (allt.sum(axis=0) + 0.5) / (allt.shape[0] + 1.0)  # (88,)
        on_on = sum(((r[1:] & r[:-1]).sum(axis=0) for r in train), np.zeros(KEYS))
        on_prev = sum((r[:-1].sum(axis=0) for r in train), np.zeros(KEYS))
        off_on = sum(((r[1:] & ~r[:-1]).sum(axis=0) for r in train), np.zeros(KEYS))
        off_prev = sum(((~r[:-1]).sum(axis=0) for r in train), np.zeros(KEYS))
        p_after_on = (on_on + 0.5) / (on_prev + 1.0)
        p_after_off = (off_on + 0.5) / (off_prev + 1.0)

        def nll(prob: np.ndarray, roll: np.ndarray) -> float:
            return float(-(np.where(roll, np.log(prob), np.log1p(-prob))).sum())

        out: Dict[str, Dict[str, float]] = {}
        for part in ("valid", "test"):
            rs = [rolls[i] for i in self.indices(part)]
            n = sum(r.shape[0] for r in rs)
            freq = sum(nll(np.broadcast_to(p, r.shape), r) for r in rs) / n
            markov = 0.0
            for r in rs:
                prob = np.empty(r.shape)
                prob[0] = p
                prob[1:] = np.where(r[:-1], p_after_on, p_after_off)
                markov += nll(prob, r)
            out[part] = {"half": KEYS * math.log(2.0), "frequency": freq, "markov": markov / n}
        return out


_UNPACKED: Dict[str, List[np.ndarray]] = {}


def piano_roll(score, step: float = 1.0) -> np.ndarray:
    """A music21 score as an (L, 88) bool piano roll, frames of ``step`` quarter notes.

    A pitch is on at frame t when ``offset <= t * step < offset + quarterLength``;
    L = ceil(last note's end / step). Pitches outside MIDI 21-108 are dropped.
    """
    events = []
    end = 0.0
    for n in score.flatten().notes:
        off, ql = float(n.offset), float(n.quarterLength)
        end = max(end, off + ql)
        for pitch in n.pitches:
            k = int(pitch.midi) - LOWEST_MIDI
            if 0 <= k < KEYS and ql > 0:
                events.append((off, off + ql, k))
    L = int(math.ceil(end / step - 1e-9))
    roll = np.zeros((L, KEYS), dtype=bool)
    for start, stop, k in events:
        t0 = int(math.ceil(start / step - 1e-9))
        t1 = int(math.ceil(stop / step - 1e-9))  # first frame with t * step >= stop
        roll[t0:t1, k] = True
    return roll


def _corpus_names() -> List[str]:
    from music21 import corpus

    seen, names = set(), []
    for name in corpus.chorales.Iterator(returnType="filename"):
        if name not in seen:
            seen.add(name)
            names.append(str(name))
    return names


def _split(names: Sequence[str], rolls: Sequence[np.ndarray]) -> Tuple[Tuple[str, ...], Tuple[Tuple[str, ...], ...]]:
    """The split of each chorale and the groups of identical rolls (see the module doc)."""
    by_roll: Dict[bytes, List[int]] = {}
    for i, r in enumerate(rolls):
        by_roll.setdefault(hashlib.sha256(np.packbits(r).tobytes() + str(r.shape).encode()).digest(), []).append(i)
    groups = [sorted(g, key=lambda i: names[i]) for g in by_roll.values()]
    groups.sort(key=lambda g: _sha("|".join(names[i] for i in g)))
    N = len(names)
    limits = [round(f * N) for f in _FRACTIONS]
    split = [""] * N
    dealt = 0
    for g in groups:
        part = "train" if dealt < limits[0] else ("valid" if dealt < limits[1] else "test")
        for i in g:
            split[i] = part
        dealt += len(g)
    dupes = tuple(tuple(names[i] for i in g) for g in groups if len(g) > 1)
    return tuple(split), tuple(sorted(dupes))


def _build(names: Sequence[str], rolls: Sequence[np.ndarray], step: float, version: str) -> ChoraleData:
    split, groups = _split(names, rolls)
    lengths = np.array([r.shape[0] for r in rolls], dtype=np.int64)
    flat = np.concatenate(rolls) if rolls else np.zeros((0, KEYS), dtype=bool)
    packed = np.packbits(flat.ravel())
    h = hashlib.sha256()
    h.update("\n".join(names).encode())
    h.update(lengths.tobytes())
    h.update(packed.tobytes())
    return ChoraleData(tuple(names), lengths, packed, split, groups, float(step), version, h.hexdigest()[:16])


def _cache_file(step: float, version: str) -> str:
    return os.path.join(cache_dir(), f"chorales-music21-{version}-step{step:g}.npz")


def _read_cache(path: str) -> Optional[Tuple[List[str], List[np.ndarray]]]:
    try:
        with np.load(path, allow_pickle=False) as f:
            names = [str(n) for n in f["names"]]
            lengths = f["lengths"].astype(np.int64)
            total = int(lengths.sum())
            flat = np.unpackbits(f["packed"])[: total * KEYS].reshape(total, KEYS).astype(bool)
    except (OSError, KeyError, ValueError):
        return None
    return names, np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _write_cache(path: str, names: Sequence[str], rolls: Sequence[np.ndarray]) -> None:
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        lengths = np.array([r.shape[0] for r in rolls], dtype=np.int64)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.part")
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, names=np.array(list(names)), lengths=lengths,
                                packed=np.packbits(np.concatenate(rolls).ravel()))
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except OSError as exc:
        warnings.warn(f"could not cache the parsed chorales in {folder!r} ({exc}); they will be "
                      f"parsed again next time. Set GRU_PROPS_CACHE to a writable folder.", stacklevel=3)


def load_chorales(subset: Optional[int] = None, step: float = 1.0, progress: bool = False) -> ChoraleData:
    """The chorales as ``ChoraleData``, from the cache or parsed (then cached).

    Args:
        subset: None for every distinct chorale (350), or N for the N whose
            names have the smallest SHA-256 (deterministic).
        step: frame length in quarter notes (1.0: quarters; 0.5: eighths).
        progress: print a line to stderr while parsing.

    Raises:
        ImportError: music21 is not installed (``pip install "gru_props[study]"``).
        ValueError: ``subset`` below 10 or above the corpus size, or ``step`` not positive.
    """
    import sys

    try:
        import music21
    except ImportError:
        raise ImportError('the chorales task needs music21 (an optional dependency of gru_props); '
                          'install it with: pip install "gru_props[study]"') from None
    if not (isinstance(step, (int, float)) and math.isfinite(step) and step > 0):
        raise ValueError(f"step: expected a positive frame length in quarter notes, e.g. 1.0; got {step!r}.")
    version = str(music21.__version__)
    names = _corpus_names()
    if subset is not None:
        if isinstance(subset, bool) or not isinstance(subset, int) or not (10 <= subset <= len(names)):
            raise ValueError(f"subset: expected a number of chorales from 10 to {len(names)}; got {subset!r}.")
        names = sorted(names, key=_sha)[:subset]
    full_path = _cache_file(step, version)
    sub_path = full_path if subset is None else full_path.replace(".npz", f"-subset{subset}.npz")
    # The full corpus's file first, then any subset's: subsets are nested (the N smallest hashes).
    folder, stem = os.path.split(full_path)
    try:
        others = sorted(f for f in os.listdir(folder) if f.startswith(stem[:-4] + "-subset") and f.endswith(".npz"))
    except OSError:
        others = []
    for path in [full_path] + [os.path.join(folder, f) for f in others]:
        cached = _read_cache(path)
        if cached is None:
            continue
        index = {n: i for i, n in enumerate(cached[0])}
        if all(n in index for n in names):
            return _build(names, [cached[1][index[n]] for n in names], step, version)
    from music21 import corpus

    if progress:
        print(f"parsing {len(names)} Bach chorales with music21 (once; cached in {cache_dir()}) ...",
              file=sys.stderr, flush=True)
    rolls = [piano_roll(corpus.parse(n), step) for n in names]
    _write_cache(sub_path, names, rolls)
    return _build(names, rolls, step, version)
