"""One training run: a model, a task, a seed, a learning rate; Adam with gradient clipping.

Seeding (``seed`` alone decides, whatever the arm or learning rate):

* initial weights: ``np.random.default_rng([seed, 1])`` (see ``models``);
* training batches: ``np.random.default_rng([seed, 2])``, so every arm and
  learning rate of a seed sees the same data stream;
* validation set: ``[seed, 3]``; test set: ``[seed, 4]``.

The validation set is scored at step 0 and every ``eval_every`` steps; the
first scored step at which the task counts as solved is the run's steps to
threshold (resolution ``eval_every``). The run trains for ``steps`` steps,
then reports the final validation and test losses, and also the run *at its
best validation step*: the parameters of the lowest validation loss are
kept, and the test loss (accuracy, a^n b^n generalisation) is measured on
them. With ``patience`` the run stops once that many validation scores in a
row have not improved on the best (the chorales overfit within tens of
epochs); the final figures are then those of the step it stopped at. A loss
that turns non-finite ends the run as diverged (its best-step figures, when
a finite validation score came first, are kept).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Dict, List, Optional

import numpy as np

from gru_props.core.arrays import check_positive_int
from gru_props.study.models import Arm, Model
from gru_props.study.optim import Adam, clip_grad_norm
from gru_props.study.tasks import AnBn, Task

__all__ = ["RunResult", "train", "DATA_STREAM", "VALIDATION_STREAM", "TEST_STREAM"]

DATA_STREAM, VALIDATION_STREAM, TEST_STREAM = 2, 3, 4


@dataclasses.dataclass
class RunResult:
    """What one run measured (JSON-ready through ``dataclasses.asdict``).

    ``eval_steps`` / ``val_loss`` / ``val_accuracy``: the validation curve
    (accuracy None for regression). ``train_loss``: mean training loss over
    each interval ending at the matching ``eval_steps`` entry (step 0: the
    first batch's loss before any update). ``steps_to_threshold``: the first
    scored step at which the task was solved, None if never.
    ``generalisation``: a^n b^n only, the largest n such that every string of
    n' <= n was predicted exactly after training.
    ``ms_per_step``: wall time
    of the training steps alone (forward, backward, clipping, Adam), not of
    evaluation. ``wall_s``: the whole run, evaluation included.

    ``best_step``: the scored step with the lowest validation loss (None if
    none was finite); ``best_val_loss`` / ``best_val_accuracy`` its scores;
    ``best_test_loss``, ``best_test_accuracy``, ``best_generalisation``: the
    test figures of the parameters at that step. ``budget`` and ``group``:
    the arm's parameter budget and cell variant (a curve's point), if any.
    ``stopped_at``: the last step trained (``steps`` unless stopped early or
    diverged).
    """

    task: str
    arm: str
    cell: str
    H: int
    lr: float
    seed: int
    steps: int
    batch_size: int
    n_params: int
    eval_steps: List[int]
    val_loss: List[float]
    val_accuracy: List[Optional[float]]
    train_loss: List[float]
    steps_to_threshold: Optional[int]
    final_val_loss: float
    final_val_accuracy: Optional[float]
    test_loss: float
    test_accuracy: Optional[float]
    generalisation: Optional[int]
    ms_per_step: float
    wall_s: float
    diverged: bool
    budget: Optional[int] = None
    group: str = ""
    best_step: Optional[int] = None
    best_val_loss: float = math.nan
    best_val_accuracy: Optional[float] = None
    best_test_loss: float = math.nan
    best_test_accuracy: Optional[float] = None
    best_generalisation: Optional[int] = None
    stopped_at: Optional[int] = None
    eval_every: Optional[int] = None

    @property
    def solved(self) -> bool:
        return self.steps_to_threshold is not None


def _finite(x: float) -> bool:
    return math.isfinite(x)


def train(
    task: Task,
    arm: Arm,
    *,
    seed: int,
    lr: float,
    steps: int,
    batch_size: int = 64,
    clip: float = 1.0,
    eval_every: int = 25,
    dtype: Any = np.float32,
    patience: Optional[int] = None,
) -> RunResult:
    """Train ``arm`` on ``task`` for ``steps`` Adam steps and return what was measured.

    Args:
        task: a ``Task`` (``gru_props.study.tasks``).
        arm: an ``Arm`` (``gru_props.study.models``).
        seed: decides the initial weights, the data stream and the fixed sets.
        lr: Adam's learning rate.
        steps: training steps (batches) to run.
        batch_size: examples per batch (B).
        clip: the global gradient-norm limit.
        eval_every: steps between validation scores.
        dtype: float32 (default) or float64 for the model and its passes.
        patience: stop after this many validation scores in a row without a
            new best; None (default) trains all ``steps``.

    Returns:
        A ``RunResult``.

    Raises:
        TypeError / ValueError: a non-integer or non-positive ``steps``,
            ``batch_size``, ``eval_every``, ``patience`` or ``seed`` < 0; as
            ``Model`` and ``Adam``.
    """
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    eval_every = check_positive_int("eval_every", eval_every)
    seed = check_positive_int("seed", seed, minimum=0)
    if patience is not None:
        patience = check_positive_int("patience", patience)
    model = Model(arm, task, seed, dtype=dtype)
    opt = Adam(model.params, lr=lr)
    data = task.batches(np.random.default_rng([seed, DATA_STREAM]), batch_size)
    val = task.validation_set(np.random.default_rng([seed, VALIDATION_STREAM]))
    test = task.test_set(np.random.default_rng([seed, TEST_STREAM]))
    best: Dict[str, Any] = {"step": None, "loss": math.inf, "acc": None, "params": None, "since": 0}

    eval_steps: List[int] = []
    val_loss: List[float] = []
    val_acc: List[Optional[float]] = []
    train_loss: List[float] = []
    reached: Optional[int] = None
    diverged = False

    def score(step: int, interval_losses: List[float]) -> None:
        nonlocal reached
        with np.errstate(over="ignore", invalid="ignore"):
            loss, acc = model.evaluate(val)
        eval_steps.append(step)
        val_loss.append(loss)
        val_acc.append(acc)
        train_loss.append(float(np.mean(interval_losses)) if interval_losses else float("nan"))
        if reached is None and _finite(loss) and task.solved(loss, acc):
            reached = step
        if _finite(loss) and loss < best["loss"]:
            best.update(step=step, loss=loss, acc=acc, since=0,
                        params={k: v.copy() for k, v in model.params.items()})
        else:
            best["since"] += 1

    start = time.perf_counter()
    train_time = 0.0
    interval: List[float] = []
    done = 0
    for step in range(1, steps + 1):
        batch = next(data)
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below
            loss, grads = model.loss_and_grads(batch)
        if not _finite(loss):
            diverged = True
            break
        if step == 1:
            score(0, [loss])
        norm = clip_grad_norm(grads, clip)
        if not _finite(norm):
            diverged = True
            break
        opt.step(model.params, grads)
        train_time += time.perf_counter() - t0
        done = step
        interval.append(loss)
        if step % eval_every == 0 or step == steps:
            score(step, interval)
            interval = []
            if not _finite(val_loss[-1]):
                diverged = True
                break
            if patience is not None and best["since"] >= patience:
                break

    if diverged:
        final_val, final_acc = float("nan"), None
        test_loss, test_acc = float("nan"), None
        generalisation = None
    else:
        final_val, final_acc = val_loss[-1], val_acc[-1]
        test_loss, test_acc = model.evaluate(test)
        generalisation = None
        if isinstance(task, AnBn):
            generalisation = AnBn.generalisation_length(model.rows_correct(task.generalisation_set()))
    best_test, best_test_acc, best_gen = math.nan, None, None
    if best["params"] is not None:
        for k, v in best["params"].items():
            model.params[k][...] = v
        with np.errstate(over="ignore", invalid="ignore"):
            best_test, best_test_acc = model.evaluate(test)
        if isinstance(task, AnBn):
            best_gen = AnBn.generalisation_length(model.rows_correct(task.generalisation_set()))
    return RunResult(
        task=task.name, arm=arm.label, cell=arm.cell, H=model.H, lr=float(lr), seed=seed,
        steps=steps, batch_size=batch_size, n_params=model.n_params,
        eval_steps=eval_steps, val_loss=val_loss, val_accuracy=val_acc, train_loss=train_loss,
        steps_to_threshold=reached, final_val_loss=final_val, final_val_accuracy=final_acc,
        test_loss=test_loss, test_accuracy=test_acc, generalisation=generalisation,
        ms_per_step=1e3 * train_time / max(done, 1), wall_s=time.perf_counter() - start,
        diverged=diverged, budget=arm.budget, group=arm.group, best_step=best["step"],
        best_val_loss=float(best["loss"]) if best["step"] is not None else math.nan,
        best_val_accuracy=best["acc"], best_test_loss=float(best_test), best_test_accuracy=best_test_acc,
        best_generalisation=best_gen, stopped_at=done, eval_every=eval_every,
    )


def result_from_dict(d: Dict[str, Any]) -> RunResult:
    """A ``RunResult`` back from ``dataclasses.asdict`` output (e.g. read from JSON)."""
    fields = {f.name for f in dataclasses.fields(RunResult)}
    return RunResult(**{k: v for k, v in d.items() if k in fields})
