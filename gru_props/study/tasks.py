"""The study's tasks: small synthetic sequence tasks, generated in-process from a
seeded RNG, and polyphonic music (the Bach chorales music21 ships).

Three synthetic tasks, each probing one thing a recurrent cell must do:

* ``AddingProblem`` (Hochreiter & Schmidhuber 1997; Le et al. 2015): memory
  over a distance. Two input channels: values U(0, 1) and a marker with
  exactly two ones (one in each half of the sequence); the target is the sum
  of the two marked values, read from the last state. Predicting the mean
  (1) scores MSE Var(U + U') = 1/6; solved at MSE < 0.01.
* ``CopyTask`` (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): exact
  storage. ``length`` symbols from an alphabet of ``symbols``, ``delay``
  blanks, then a delimiter; the model reproduces the symbols on the
  ``length`` steps starting at the delimiter. A memoryless model scores
  cross-entropy log(symbols); solved at 99 % of symbols right.
* ``AnBn`` (Gers & Schmidhuber 2001; Weiss et al. 2018): counting. The string
  ``S a^n b^n`` with next-symbol prediction scored where the next symbol is
  determined (from the first b on: b ... b then the end marker E). Trained on
  n <= N; the largest n up to ``test_max`` for which every n' <= n is
  predicted exactly is its length generalisation.

And one real task:

* ``Chorales`` (Boulanger-Lewandowski et al. 2012; Chung et al. 2014):
  next-frame prediction of a piano roll (88 keys, quarter-note frames) of
  the Bach chorales, scored as the Bernoulli negative log-likelihood summed
  over the keys and averaged over frames (NLL per time step). A fixed
  corpus with a deterministic train/validation/test split
  (``gru_props.study.chorales``); training is by epochs over the training
  chorales.

Every task returns a ``Batch``: ``x`` (B, T, D) float64; for a last-step
regression task ``y`` (B, K) float64 and ``mask`` None; for a per-step
classification task ``y`` (B, T) int64 class indices and ``mask`` (B, T) bool
(the positions that are scored); for a multi-label task (the chorales) ``y``
(B, T, K) float64 in {0, 1} and ``mask`` (B, T) bool (the valid frames). The
same generator state always gives the same batch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from gru_props.core.arrays import check_positive_int

__all__ = ["Batch", "Task", "AddingProblem", "CopyTask", "AnBn", "Chorales", "make_task",
           "task_from_description", "TASKS", "task_names"]


@dataclasses.dataclass(frozen=True, eq=False)
class Batch:
    """One batch of a task.

    ``x`` (B, T, D) float64. Regression tasks (``Task.target == "last"``):
    ``y`` (B, K) float64, ``mask`` None. Classification tasks (``"steps"``):
    ``y`` (B, T) int64 class indices, ``mask`` (B, T) bool, True where scored.
    Multi-label tasks (``"frames"``): ``y`` (B, T, K) float64 in {0, 1},
    ``mask`` (B, T) bool, True on valid (unpadded) frames.
    """

    x: np.ndarray
    y: np.ndarray
    mask: Optional[np.ndarray] = None

    @property
    def B(self) -> int:
        return int(self.x.shape[0])

    @property
    def T(self) -> int:
        return int(self.x.shape[1])


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng: expected a numpy.random.Generator (e.g. np.random.default_rng(0)); "
            f"got a {type(rng).__name__}."
        )
    return rng


class Task:
    """What every task offers (the concrete tasks are frozen dataclasses).

    Attributes set by each task: ``name`` (short key, e.g. ``"adding50"``),
    ``title`` (for reports), ``D`` input features, ``K`` outputs,
    ``target`` ("last": regression from h_T; "steps": classification of
    masked steps; "frames": K independent Bernoulli outputs per valid
    frame), ``loss_name``, ``baseline`` (the loss of the trivial or
    memoryless predictor) and ``threshold_text`` (when the task counts as
    solved).
    """

    name: str
    title: str
    D: int
    K: int
    target: str
    loss_name: str
    baseline: float
    baseline_text: str
    threshold_text: str
    threshold_loss: Optional[float] = None  # drawn on loss curves when set
    eval_size: int  # size of the fixed validation and test sets (set by each task)

    def sample(self, rng: np.random.Generator, B: int) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    def batches(self, rng: np.random.Generator, B: int) -> Iterator[Batch]:
        """The endless stream of training batches of size B drawn from ``rng``.

        The synthetic tasks draw a fresh batch each time (``sample``); a task
        with a fixed training set (the chorales) goes through it by epochs.
        """
        while True:
            yield self.sample(rng, B)

    def epoch_steps(self, B: int) -> Optional[int]:
        """Training steps per pass over a fixed training set; None for generated tasks."""
        return None

    def validation_set(self, rng: np.random.Generator) -> Batch:
        """The fixed set on which curves, thresholds and learning rates are judged."""
        return self.sample(rng, self.eval_size)

    def test_set(self, rng: np.random.Generator) -> Batch:
        """A second fixed set, drawn independently, for the final reported loss."""
        return self.sample(rng, self.eval_size)

    def solved(self, loss: float, accuracy: Optional[float]) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> Dict[str, Any]:
        """The task's constructor arguments, plus its name (JSON-ready)."""
        return {"task": type(self).__name__, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    @property
    def steps_T(self) -> int:  # pragma: no cover - abstract
        """Sequence length of a training batch."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class AddingProblem(Task):
    """The adding problem at sequence length T.

    x (B, T, 2): channel 0 values U(0, 1), channel 1 the marker (two ones, the
    first in [0, T//2), the second in [T//2, T)); y (B, 1) the sum of the two
    marked values. Trivial predictor (always 1): MSE 1/6. Solved at
    MSE < ``threshold`` (default 0.01).

    Raises:
        ValueError: T < 2.
    """

    T: int = 50
    threshold: float = 0.01
    eval_size: int = 1000

    D = 2
    K = 1
    target = "last"
    loss_name = "MSE"
    baseline = 1.0 / 6.0
    baseline_text = "predicting the mean (1) scores MSE 1/6 = 0.167"

    def __post_init__(self) -> None:
        check_positive_int("T", self.T, minimum=2)
        check_positive_int("eval_size", self.eval_size)
        if not (0 < self.threshold < 1):
            raise ValueError(f"threshold: expected an MSE in (0, 1), e.g. 0.01; got {self.threshold!r}.")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"adding{self.T}"

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"adding problem, T = {self.T}"

    @property
    def threshold_text(self) -> str:  # type: ignore[override]
        return f"MSE < {self.threshold:g}"

    @property
    def threshold_loss(self) -> float:  # type: ignore[override]
        return self.threshold

    @property
    def steps_T(self) -> int:
        return self.T

    def sample(self, rng: np.random.Generator, B: int) -> Batch:
        """A batch: x (B, T, 2) float64, y (B, 1) float64."""
        rng = _check_rng(rng)
        B = check_positive_int("B", B)
        T, half = self.T, self.T // 2
        values = rng.uniform(0.0, 1.0, size=(B, T))
        first = rng.integers(0, half, size=B)
        second = rng.integers(half, T, size=B)
        x = np.zeros((B, T, 2))
        x[:, :, 0] = values
        rows = np.arange(B)
        x[rows, first, 1] = 1.0
        x[rows, second, 1] = 1.0
        y = (values[rows, first] + values[rows, second])[:, None]
        return Batch(x, y)

    def solved(self, loss: float, accuracy: Optional[float] = None) -> bool:
        return bool(loss < self.threshold)


@dataclasses.dataclass(frozen=True)
class CopyTask(Task):
    """Copy ``length`` symbols after ``delay`` blanks.

    Time steps T = 2 * length + delay. Inputs (B, T, symbols + 2), one-hot:
    symbols s_0..s_{length-1} at t < length, blanks (channel ``symbols``) up
    to t = length + delay, where the delimiter (channel ``symbols + 1``)
    appears, then blanks. The target at step length + delay + i is s_i
    (the ``length`` masked steps); nothing else is scored. Memoryless
    predictor: cross-entropy log(symbols). Solved at ``accuracy`` (default
    99 %) of the scored symbols right on the validation set.

    Raises:
        ValueError: a size below 1 (symbols below 2), or accuracy not in (0, 1].
    """

    symbols: int = 4
    length: int = 5
    delay: int = 20
    accuracy: float = 0.99
    eval_size: int = 1000

    target = "steps"
    loss_name = "cross-entropy"

    def __post_init__(self) -> None:
        check_positive_int("symbols", self.symbols, minimum=2)
        check_positive_int("length", self.length)
        check_positive_int("delay", self.delay, minimum=0)
        check_positive_int("eval_size", self.eval_size)
        if not (0 < self.accuracy <= 1):
            raise ValueError(f"accuracy: expected a fraction in (0, 1], e.g. 0.99; got {self.accuracy!r}.")

    @property
    def D(self) -> int:  # type: ignore[override]
        return self.symbols + 2

    @property
    def K(self) -> int:  # type: ignore[override]
        return self.symbols

    @property
    def name(self) -> str:  # type: ignore[override]
        return "copy"

    @property
    def title(self) -> str:  # type: ignore[override]
        return (f"copy task, {self.length} symbols (alphabet of {self.symbols}) after {self.delay} blanks "
                f"(T = {self.steps_T})")

    @property
    def baseline(self) -> float:  # type: ignore[override]
        return math.log(self.symbols)

    @property
    def baseline_text(self) -> str:  # type: ignore[override]
        return f"a memoryless guess scores cross-entropy log {self.symbols} = {self.baseline:.3f}"

    @property
    def threshold_text(self) -> str:  # type: ignore[override]
        return f"accuracy >= {self.accuracy:.0%} of copied symbols"

    @property
    def steps_T(self) -> int:
        return 2 * self.length + self.delay

    def sample(self, rng: np.random.Generator, B: int) -> Batch:
        """A batch: x (B, T, symbols + 2) float64, y (B, T) int64, mask (B, T) bool."""
        rng = _check_rng(rng)
        B = check_positive_int("B", B)
        L, K, T = self.length, self.symbols, self.steps_T
        seq = rng.integers(0, K, size=(B, L))
        x = np.zeros((B, T, K + 2))
        rows = np.arange(B)[:, None]
        x[rows, np.arange(L)[None, :], seq] = 1.0
        x[:, L:, K] = 1.0  # blanks ...
        go = L + self.delay
        x[:, go, K] = 0.0
        x[:, go, K + 1] = 1.0  # ... except the delimiter
        y = np.zeros((B, T), dtype=np.int64)
        y[:, go:] = seq
        mask = np.zeros((B, T), dtype=bool)
        mask[:, go:] = True
        return Batch(x, y, mask)

    def solved(self, loss: float, accuracy: Optional[float]) -> bool:
        return accuracy is not None and bool(accuracy >= self.accuracy)


# Symbols of a^n b^n: inputs S, a, b (one-hot, D = 3); outputs a, b, E (K = 3).
_S, _A, _B = 0, 1, 2
_OUT_A, _OUT_B, _OUT_E = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class AnBn(Task):
    """Next-symbol prediction on ``S a^n b^n``, trained on 1 <= n <= N.

    A string of n is 2n + 1 steps: S at t = 0, a at t = 1..n, b at
    t = n+1..2n. After reading the first b the rest is determined: the next
    symbol is b at t = n+1..2n-1 and the end marker E at t = 2n. Those n
    steps are scored (classes a, b, E = 0, 1, 2); while reading a's the next
    symbol is a or b, which no model can know, so those steps are not scored.
    Training batches draw n uniformly from 1..N and pad to T = 2N + 1 (zero
    inputs, unscored). The validation set is every n in 1..N once; solved
    when every scored step of it is right. ``generalisation_set`` is every n
    in 1..``test_max`` (T = 2 test_max + 1).

    Raises:
        ValueError: N < 1 or test_max < N.
    """

    N: int = 10
    test_max: int = 100

    D = 3
    K = 3
    target = "steps"
    loss_name = "cross-entropy"

    def __post_init__(self) -> None:
        check_positive_int("N", self.N)
        check_positive_int("test_max", self.test_max)
        if self.test_max < self.N:
            raise ValueError(
                f"test_max: expected the largest test length n >= N = {self.N}; got {self.test_max}."
            )

    @property
    def name(self) -> str:  # type: ignore[override]
        return "anbn"

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"a^n b^n, trained on n <= {self.N}, tested up to n = {self.test_max}"

    @property
    def threshold_text(self) -> str:  # type: ignore[override]
        return f"100 % of scored steps right for every n <= {self.N}"

    @property
    def baseline(self) -> float:  # type: ignore[override]
        return self.counting_free_baseline()

    @property
    def baseline_text(self) -> str:  # type: ignore[override]
        return (f"a model that cannot count (the best constant guess of b vs E on scored steps) "
                f"scores cross-entropy {self.baseline:.3f}")

    @property
    def steps_T(self) -> int:
        return 2 * self.N + 1

    def counting_free_baseline(self) -> float:
        """Cross-entropy of the best prediction that ignores the count.

        On scored steps the target is E with frequency N / sum(n) = 2 / (N + 1)
        under uniform n (one E per string, n scored steps per string); the
        best constant guess scores that frequency's binary entropy.
        """
        p = 2.0 / (self.N + 1)
        if p >= 1.0:
            return 0.0
        return float(-(p * math.log(p) + (1 - p) * math.log(1 - p)))

    @staticmethod
    def strings(ns: np.ndarray, T: int) -> Batch:
        """The strings ``S a^n b^n`` for the given n (B,), padded to T steps."""
        ns = np.asarray(ns, dtype=np.int64)
        B = ns.shape[0]
        if B and 2 * int(ns.max()) + 1 > T:
            raise ValueError(f"T: expected at least 2 max(n) + 1 = {2 * int(ns.max()) + 1} steps; got {T}.")
        t = np.arange(T)[None, :]
        n = ns[:, None]
        sym = np.full((B, T), -1)
        sym[:, 0] = _S
        sym[(t >= 1) & (t <= n)] = _A
        sym[(t > n) & (t <= 2 * n)] = _B
        x = np.zeros((B, T, 3))
        rows, cols = np.nonzero(sym >= 0)
        x[rows, cols, sym[rows, cols]] = 1.0
        mask = (t > n) & (t <= 2 * n)
        y = np.where(t < 2 * n, _OUT_B, _OUT_E).astype(np.int64)
        y = np.where(mask, y, 0)
        return Batch(x, y, mask)

    def sample(self, rng: np.random.Generator, B: int) -> Batch:
        """A batch: n ~ U{1..N}; x (B, 2N+1, 3) float64, y (B, 2N+1) int64, mask bool."""
        rng = _check_rng(rng)
        B = check_positive_int("B", B)
        return self.strings(rng.integers(1, self.N + 1, size=B), self.steps_T)

    def validation_set(self, rng: Optional[np.random.Generator] = None) -> Batch:
        """Every training length n = 1..N once (deterministic; ``rng`` is unused)."""
        return self.strings(np.arange(1, self.N + 1), self.steps_T)

    def test_set(self, rng: Optional[np.random.Generator] = None) -> Batch:
        """The same strings as the validation set: a^n b^n's test is ``generalisation_set``."""
        return self.validation_set()

    def generalisation_set(self) -> Batch:
        """Every n = 1..test_max once, padded to T = 2 test_max + 1."""
        return self.strings(np.arange(1, self.test_max + 1), 2 * self.test_max + 1)

    @staticmethod
    def generalisation_length(correct: np.ndarray) -> int:
        """The largest n such that the strings of every n' <= n were right.

        ``correct`` (n_max,) bool: entry i says whether the string of n = i + 1
        had every scored step right. 0 when n = 1 already fails.
        """
        correct = np.asarray(correct, dtype=bool)
        wrong = np.flatnonzero(~correct)
        return int(wrong[0]) if wrong.size else int(correct.size)

    def solved(self, loss: float, accuracy: Optional[float]) -> bool:
        return accuracy is not None and bool(accuracy >= 1.0)


@dataclasses.dataclass(frozen=True, eq=False)
class Chorales(Task):
    """Next-frame prediction on piano rolls of the Bach chorales (music21's corpus).

    x (B, T, 88): the previous frame (zeros before the first), y (B, T, 88)
    the frame to predict, mask (B, T) the valid frames of each chorale
    (batches are padded to their longest chorale). Every frame of a chorale
    is predicted, the first from the zero input. Loss: Bernoulli NLL summed
    over the 88 keys, averaged over the valid frames (nats per time step).

    The data (``gru_props.study.chorales.ChoraleData``) travels with the task
    (bit-packed, about 200 kB), so every run, in any process, uses the rolls
    its parent loaded. ``Chorales.load(subset, step)`` builds the task with its
    data; a ``Chorales`` rebuilt from a study's JSON (``facts`` only, no
    ``data``) can be reported on but not trained.

    Training goes through the training chorales by epochs: shuffled, then
    cut into batches of chorales of similar length (``batches``); the
    validation and test sets are all chorales of their split, in one batch.

    Raises:
        ValueError: ``subset`` or ``step`` out of range (see ``load_chorales``).
    """

    subset: Optional[int] = None
    step: float = 1.0
    facts: Optional[Dict[str, Any]] = dataclasses.field(default=None, repr=False)
    data: Any = dataclasses.field(default=None, repr=False)

    D = 88
    K = 88
    target = "frames"
    loss_name = "NLL"
    eval_size = 0

    @classmethod
    def load(cls, subset: Optional[int] = None, step: float = 1.0, progress: bool = False) -> "Chorales":
        """The task with its rolls, from the cache or parsed by music21 (then cached).

        Raises:
            ImportError: music21 is missing (``pip install "gru_props[study]"``).
            ValueError: as ``load_chorales``.
        """
        from gru_props.study.chorales import load_chorales

        data = load_chorales(subset=subset, step=step, progress=progress)
        sizes = data.sizes()
        facts = {
            "music21": data.music21,
            "digest": data.digest,
            "chorales": len(data.names),
            "frames": data.frames,
            "sizes": {k: list(v) for k, v in sizes.items()},
            "duplicates": [list(g) for g in data.groups],
            "mean_frames": float(data.lengths.mean()),
            "baselines": data.baselines(),
        }
        return cls(subset=subset, step=step, facts=facts, data=data)

    def _need_data(self) -> Any:
        if self.data is None:
            raise ValueError(
                "Chorales: this task holds no rolls (it was rebuilt from a report's JSON); "
                "build it with Chorales.load() or make_task('chorales') to train on it."
            )
        return self.data

    @property
    def name(self) -> str:  # type: ignore[override]
        return "chorales"

    @property
    def title(self) -> str:  # type: ignore[override]
        f = self.facts or {}
        sizes = f.get("sizes", {})
        split = "/".join(str(sizes.get(p, ["?"])[0]) for p in ("train", "valid", "test"))
        sub = "" if self.subset is None else f" (a subset of {self.subset})"
        unit = "quarter notes" if self.step == 1.0 else f"{self.step:g} quarter notes"
        return f"Bach chorales{sub}, piano roll, frames of {unit}; split {split} chorales"

    @property
    def baseline(self) -> float:  # type: ignore[override]
        return float((self.facts or {}).get("baselines", {}).get("test", {}).get("frequency", math.nan))

    @property
    def baseline_text(self) -> str:  # type: ignore[override]
        b = (self.facts or {}).get("baselines", {}).get("test", {})
        if not b:
            return "baselines unknown"
        return (f"models without training score test NLL {b['half']:.1f} (every key at p = 1/2), "
                f"{b['frequency']:.2f} (each key at its training frequency) and {b['markov']:.2f} "
                f"(each key a two-state Markov chain)")

    @property
    def threshold_text(self) -> str:  # type: ignore[override]
        return "no threshold (the curve is the result)"

    @property
    def steps_T(self) -> int:
        """The mean chorale length in frames (a batch is padded to its longest)."""
        return int(round((self.facts or {}).get("mean_frames", 54)))

    def describe(self) -> Dict[str, Any]:
        """Constructor arguments and the corpus facts (sizes, duplicates, baselines); not the rolls."""
        return {"task": "Chorales", "subset": self.subset, "step": self.step, "facts": self.facts}

    def _batch(self, idx: np.ndarray) -> Batch:
        data = self._need_data()
        rolls = data.rolls()
        lengths = data.lengths[idx]
        B, T = len(idx), int(lengths.max())
        x = np.zeros((B, T, 88))
        y = np.zeros((B, T, 88))
        mask = np.zeros((B, T), dtype=bool)
        for row, (i, L) in enumerate(zip(idx, lengths)):
            r = rolls[i]
            y[row, :L] = r
            x[row, 1:L] = r[:-1]
            mask[row, :L] = True
        return Batch(x, y, mask)

    def epoch_steps(self, B: int) -> int:
        n = len(self._need_data().indices("train")) if self.data is not None else \
            int((self.facts or {})["sizes"]["train"][0])
        B = check_positive_int("B", B)
        chunk = 4 * B
        full, rest = divmod(n, chunk)
        return full * 4 + math.ceil(rest / B)

    def batches(self, rng: np.random.Generator, B: int) -> Iterator[Batch]:
        """Epochs over the training chorales: shuffled, cut into chunks of 4B, each
        sorted by length and cut into batches of B, the batches then shuffled
        (``epoch_steps(B)`` batches per epoch)."""
        rng = _check_rng(rng)
        B = check_positive_int("B", B)
        data = self._need_data()
        train = data.indices("train")
        while True:
            order = rng.permutation(train)
            groups = []
            for c in range(0, len(order), 4 * B):
                chunk = sorted(order[c:c + 4 * B].tolist(), key=lambda i: (int(data.lengths[i]), i))
                groups += [np.array(chunk[j:j + B]) for j in range(0, len(chunk), B)]
            for k in rng.permutation(len(groups)):
                yield self._batch(groups[k])

    def sample(self, rng: np.random.Generator, B: int) -> Batch:
        """B training chorales drawn without replacement (B at most the training set's size)."""
        rng = _check_rng(rng)
        train = self._need_data().indices("train")
        B = check_positive_int("B", B)
        return self._batch(rng.choice(train, size=min(B, len(train)), replace=False))

    def validation_set(self, rng: Optional[np.random.Generator] = None) -> Batch:
        """Every validation chorale, in one batch (deterministic; ``rng`` is unused)."""
        return self._batch(self._need_data().indices("valid"))

    def test_set(self, rng: Optional[np.random.Generator] = None) -> Batch:
        """Every test chorale, in one batch (deterministic; ``rng`` is unused)."""
        return self._batch(self._need_data().indices("test"))

    def solved(self, loss: float, accuracy: Optional[float]) -> bool:
        return False


TASKS: Dict[str, Tuple[type, Dict[str, Any]]] = {
    "adding50": (AddingProblem, {"T": 50}),
    "adding100": (AddingProblem, {"T": 100}),
    "copy": (CopyTask, {}),
    "anbn": (AnBn, {}),
    "chorales": (Chorales, {}),
}


def task_names() -> str:
    """The task names for messages: ``adding50, adding100, copy, anbn, chorales, adding<T>``."""
    return ", ".join(TASKS) + ", adding<T>"


def make_task(name: str, **overrides: Any) -> Task:
    """A task by its short name (``adding50``, ``adding100``, ``copy``, ``anbn``, ``chorales``).

    ``adding<T>`` gives the adding problem at any T (e.g. ``adding20``);
    ``overrides`` are passed to the task's constructor (``chorales``:
    ``subset``, ``step`` and ``progress`` for ``Chorales.load``, which
    parses or reads the cached corpus).

    Raises:
        ValueError: an unknown name.
        ImportError: ``chorales`` without music21.
    """
    if name == "chorales":
        return Chorales.load(**overrides)
    if name in TASKS:
        cls, kwargs = TASKS[name]
        return cls(**{**kwargs, **overrides})
    if name.startswith("adding") and name[6:].isdigit():
        return AddingProblem(T=int(name[6:]), **overrides)
    raise ValueError(
        f"task: expected one of {task_names()} (e.g. adding20); got {name!r}."
    )


def task_from_description(description: Dict[str, Any]) -> Task:
    """The task that ``Task.describe()`` described (e.g. read back from a study's JSON).

    Raises:
        ValueError: an unknown task class.
    """
    classes = {cls.__name__: cls for cls in (AddingProblem, CopyTask, AnBn, Chorales)}
    fields = dict(description)
    kind = fields.pop("task", None)
    if kind not in classes:
        raise ValueError(f"description: expected 'task' to be one of {sorted(classes)}; got {kind!r}.")
    return classes[kind](**fields)
