"""The trained models: a GRU, LSTM or tanh RNN layer and a linear readout, on the project's own passes.

A model is a recurrent layer (``gru_props.level3.gru_forward`` /
``gru_backward``, ``gru_props.lstm.lstm_forward`` / ``lstm_backward`` or
``gru_props.rnn.rnn_forward`` / ``rnn_backward``; no other implementation)
followed by a linear readout ``y = h W_out + b_out``:

* on the last state h_T for a regression task (``Task.target == "last"``),
  loss MSE averaged over the batch and the K outputs;
* on every scored step for a classification task (``"steps"``), loss the
  softmax cross-entropy averaged over the scored steps;
* on every valid frame for a multi-label task (``"frames"``, the piano roll
  of the chorales), loss the Bernoulli negative log-likelihood (sigmoid
  outputs) summed over the K keys and averaged over the frames: NLL per time
  step, as Chung et al. 2014 report it.

Initialisation is PyTorch's: every weight and bias of the layer and of the
readout uniform in [-1/sqrt(H), 1/sqrt(H)], drawn from a generator seeded by
the run's seed alone (so two arms of the same cell and H start from the same
numbers), then the arm's constant gate bias (LSTM forget gate, GRU update
gate), if any, replaces the drawn one. The GRU is the reset-after form
(PyTorch, cuDNN, Keras' default).

The reversed interpolation ``h_t = (1 - z) * h_{t-1} + z * n_t`` (Chung et al.
2014) is not a second GRU: it is the standard GRU with the update gate's
parameters W_z, U_z, b_z negated, since sigmoid(-a) = 1 - sigmoid(a). With S
the map that negates that block, a reversed model with parameters theta runs
``gru_forward(S theta)`` and its gradient is ``S gru_backward(S theta)``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Dict, Optional, Tuple

import numpy as np

from gru_props.study.tasks import Batch, Task

__all__ = ["Arm", "Model", "hidden_size", "count_parameters_trained", "INTERPOLATIONS", "CELLS"]

CELLS = ("gru", "lstm", "rnn")

INTERPOLATIONS = ("standard", "chung")
_Z_BLOCK = ("W_z", "U_z", "b_z")
_OUT = ("W_out", "b_out")
_INIT_STREAM = 1  # np.random.default_rng([seed, _INIT_STREAM]) draws the initial weights


@dataclasses.dataclass(frozen=True)
class Arm:
    """One model configuration of a study.

    Args:
        label: the name shown in tables and figures.
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (the tanh RNN).
        H: hidden units; or None with ``budget_of`` or ``budget`` set.
        budget_of: the hidden size of a GRU whose parameter budget this arm
            matches on each task (an LSTM at equal budget); H is then found
            per task by ``hidden_size``.
        budget: a number of trained parameters (layer and readout); H is
            then, per task, the hidden size whose count is nearest to it
            (``hidden_size``). The parameter-efficiency curve's arms.
        forget_bias: LSTM only: the forget-gate bias at initialisation
            (constant); None keeps PyTorch's uniform draw.
        update_bias: GRU only: the update-gate bias b_z at initialisation,
            in the arm's own convention; None keeps the uniform draw.
        interpolation: GRU only: ``"standard"`` (z * h + (1 - z) * n) or
            ``"chung"`` ((1 - z) * h + z * n).
        negate_z_at_init: GRU only: negate W_z, U_z, b_z after initialisation
            (a Chung-form arm then starts as exactly the standard arm's function).
        group: the comparison this arm belongs to (e.g. "equal H"), for
            reports; for a curve's arm, the cell variant (e.g. "GRU") whose
            line it is a point of.

    Raises:
        ValueError: an unknown cell or interpolation, not exactly one of H,
            budget_of and budget, a budget below 1, or an option that does
            not apply to the cell.
    """

    label: str
    cell: str
    H: Optional[int] = None
    budget_of: Optional[int] = None
    forget_bias: Optional[float] = None
    update_bias: Optional[float] = None
    interpolation: str = "standard"
    negate_z_at_init: bool = False
    group: str = ""
    budget: Optional[int] = None

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"Arm.cell: expected 'gru', 'lstm' or 'rnn'; got {self.cell!r}.")
        if sum(v is not None for v in (self.H, self.budget_of, self.budget)) != 1:
            raise ValueError(
                f"Arm {self.label!r}: expected exactly one of H (a hidden size), budget_of "
                f"(the GRU hidden size whose parameter count to match) and budget (a number of "
                f"trained parameters); got H={self.H!r}, budget_of={self.budget_of!r}, "
                f"budget={self.budget!r}."
            )
        if self.budget is not None and (isinstance(self.budget, bool) or not isinstance(self.budget, int)
                                        or self.budget < 1):
            raise ValueError(f"Arm {self.label!r}: budget: expected a parameter count >= 1; got {self.budget!r}.")
        if self.cell == "rnn" and (self.forget_bias is not None or self.update_bias is not None
                                   or self.interpolation != "standard" or self.negate_z_at_init
                                   or self.budget_of is not None):
            raise ValueError(
                f"Arm {self.label!r}: the tanh RNN has no gates: forget_bias, update_bias, "
                f"interpolation, negate_z_at_init and budget_of do not apply; it takes H or budget."
            )
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"Arm.interpolation: expected one of {INTERPOLATIONS}; got {self.interpolation!r}."
            )
        if self.cell == "lstm" and (
            self.update_bias is not None or self.interpolation != "standard" or self.negate_z_at_init
        ):
            raise ValueError(
                f"Arm {self.label!r}: update_bias, interpolation and negate_z_at_init are GRU "
                f"options; an LSTM takes forget_bias."
            )
        if self.cell == "gru" and (self.forget_bias is not None or self.budget_of is not None):
            raise ValueError(
                f"Arm {self.label!r}: forget_bias and budget_of are LSTM options; a GRU takes H, "
                f"update_bias, interpolation and negate_z_at_init."
            )


def _counting():
    from gru_props.core import counting as _counting

    return _counting


def count_parameters_trained(cell: str, D: int, H: int, K: int) -> int:
    """Trainable parameters of a model here: the layer in gru_props' layout plus the readout.

    The layer is counted by ``gru_props.core.counting.count_parameters(cell, D, H,
    "gru_props")`` (GRU 3(DH + H^2) + 4H, LSTM 4(DH + H^2 + H), tanh RNN
    DH + H^2 + H); the readout adds HK + K.
    """
    return int(_counting().count_parameters(cell, D, H, "gru_props")) + H * K + K


def hidden_size(arm: Arm, task: Task) -> int:
    """The hidden size of ``arm`` on ``task``.

    An arm with ``budget_of`` gets the LSTM hidden size whose trained
    parameter count (layer plus readout, ``count_parameters_trained``) is
    nearest to that of a GRU with ``budget_of`` units on the same task
    (``gru_props.core.counting.equal_budget_hidden`` with the readout counted).
    An arm with ``budget`` gets its cell's hidden size whose trained count is
    nearest to ``budget`` (at least 1, whatever the budget).

    Raises:
        ValueError: (``budget_of``) the nearest count is more than 4 % away
            from the GRU's.
    """
    if arm.H is not None:
        return int(arm.H)
    if arm.budget is not None:
        return int(_counting().equal_budget_hidden(arm.cell, task.D, int(arm.budget), "gru_props",
                                                   readout=task.K))
    if arm.budget_of is None:
        raise ValueError(f"arm {arm.label!r}: expected one of H, budget or budget_of to be set; got none")
    budget = count_parameters_trained("gru", task.D, arm.budget_of, task.K)
    H = int(_counting().equal_budget_hidden("lstm", task.D, budget, "gru_props", readout=task.K))
    got = count_parameters_trained("lstm", task.D, H, task.K)
    if abs(got - budget) > 0.04 * budget:
        raise ValueError(
            f"Arm {arm.label!r}: no LSTM hidden size matches a GRU of H = {arm.budget_of} on "
            f"{task.name} within 4 % (GRU {budget} parameters, nearest LSTM H = {H}: {got}); "
            f"choose a larger budget_of."
        )
    return H


def _uniform(rng: np.random.Generator, bound: float, shape: Tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape)


class Model:
    """A recurrent layer plus linear readout for one task, with its trainable arrays.

    ``Model(arm, task, seed, dtype=np.float32)``. ``params`` maps names to
    writable arrays: the layer's fields (``GRUParams`` / ``LSTMParams`` names;
    for a Chung-form GRU, the reversed model's own parameters) and ``W_out``
    (H, K), ``b_out`` (K,).

    Raises:
        ValueError: as ``Arm`` and ``hidden_size``; a dtype that is not float32 or float64.
    """

    def __init__(self, arm: Arm, task: Task, seed: int, dtype: Any = np.float32) -> None:
        self.arm = arm
        self.task = task
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"dtype: expected float32 or float64; got {self.dtype}.")
        self.H = hidden_size(arm, task)
        D, H, K = task.D, self.H, task.K
        rng = np.random.default_rng([int(seed), _INIT_STREAM])
        if arm.cell == "gru":
            from gru_props import GRUParams

            cell = GRUParams.random(D, H, seed=rng).arrays()
        elif arm.cell == "lstm":
            from gru_props.lstm import LSTMParams

            cell = LSTMParams.random(D, H, seed=rng).arrays()
        else:
            from gru_props.rnn import RNNParams

            cell = RNNParams.random(D, H, seed=rng).arrays()
        bound = 1.0 / math.sqrt(H)
        params = {k: np.array(v, dtype=np.float64) for k, v in cell.items()}
        params["W_out"] = _uniform(rng, bound, (H, K))
        params["b_out"] = _uniform(rng, bound, (K,))
        if arm.forget_bias is not None:
            params["b_f"][:] = arm.forget_bias
        if arm.update_bias is not None:
            params["b_z"][:] = arm.update_bias
        if arm.negate_z_at_init:
            for name in _Z_BLOCK:
                params[name] = -params[name]
        self.params: Dict[str, np.ndarray] = {k: v.astype(self.dtype) for k, v in params.items()}
        self.n_params = int(sum(v.size for v in self.params.values()))
        # The forward's work, reused by the backward of the same training step.
        self._cache = self._new_cache()

    # ------------------------------------------------------------------ layer
    def _zeros(self, B: int) -> np.ndarray:
        return np.zeros((B, self.H), dtype=self.dtype)

    def cell_params(self) -> Any:
        """The layer's parameters as the forward pass uses them (a Chung-form GRU: S theta): a GRUParams,
        RNNParams or LSTMParams."""
        p = self.params
        if self.arm.cell == "gru":
            from gru_props import GRUParams

            fields = {k: p[k] for k in ("W_z", "W_r", "W_n", "U_z", "U_r", "U_n", "b_z", "b_r", "b_n", "b_hn")}
            if self.arm.interpolation == "chung":
                for name in _Z_BLOCK:
                    fields[name] = -fields[name]
            return GRUParams(**fields)
        if self.arm.cell == "rnn":
            from gru_props.rnn import RNNParams

            return RNNParams(W=p["W"], U=p["U"], b=p["b"])
        from gru_props.lstm import LSTMParams

        return LSTMParams(**{k: v for k, v in p.items() if k not in _OUT})

    def _layer_forward(self, x: np.ndarray, cp: Any, cache: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        B = x.shape[0]
        kw = {} if cache is None else {"cache": cache}
        if self.arm.cell == "gru":
            from gru_props.level3 import gru_forward

            hs, h_T = gru_forward(x, self._zeros(B), cp, True, **kw)
            assert hs is not None  # return_sequences=True
            return hs, h_T
        if self.arm.cell == "rnn":
            from gru_props.rnn import rnn_forward

            return rnn_forward(x, self._zeros(B), cp, **kw)
        from gru_props.lstm import lstm_forward

        hs, h_T, _ = lstm_forward(x, self._zeros(B), self._zeros(B), cp, **kw)
        return hs, h_T

    def _layer_backward(self, x: np.ndarray, cp: Any, dhs: np.ndarray,
                        dh_T: Optional[np.ndarray], cache: Any = None) -> Dict[str, np.ndarray]:
        B = x.shape[0]
        kw = {} if cache is None else {"cache": cache}
        if self.arm.cell == "gru":
            from gru_props.level3 import gru_backward

            _, _, gru_grads = gru_backward(x, self._zeros(B), cp, dhs, dh_T, True, **kw)
            g = {k: np.array(v) for k, v in gru_grads.arrays().items()}
            if self.arm.interpolation == "chung":
                for name in _Z_BLOCK:
                    np.negative(g[name], out=g[name])
            return g
        if self.arm.cell == "rnn":
            from gru_props.rnn import rnn_backward

            _, _, rnn_grads = rnn_backward(x, self._zeros(B), cp, dhs, dh_T, **kw)
            return {k: np.array(v) for k, v in rnn_grads.arrays().items()}
        from gru_props.lstm import lstm_backward

        _, _, _, lstm_grads = lstm_backward(x, self._zeros(B), self._zeros(B), cp, dhs, dh_T, None, **kw)
        return {k: np.array(v) for k, v in lstm_grads.arrays().items()}

    def _new_cache(self) -> Any:
        """The layer's forward-to-backward cache when its passes offer one (else None)."""
        module: Any
        if self.arm.cell == "gru":
            from gru_props import level3 as module

            name, fn = "GRUCache", module.gru_backward
        elif self.arm.cell == "rnn":
            import gru_props.rnn as module

            name, fn = "RNNCache", module.rnn_backward
        else:
            import gru_props.lstm as module

            name, fn = "LSTMCache", module.lstm_backward
        cls = getattr(module, name, None)
        if cls is None or "cache" not in inspect.signature(fn).parameters:
            return None
        return cls()

    # ---------------------------------------------------------------- readout
    def _head(self, batch: Batch, hs: np.ndarray, h_T: np.ndarray, grad: bool):
        """Loss, accuracy (None for regression), predictions, and if ``grad`` the gradients."""
        W, b = self.params["W_out"], self.params["b_out"]
        if self.task.target == "last":
            pred = h_T @ W + b  # (B, K)
            diff = pred.astype(np.float64) - batch.y
            loss = float(np.mean(diff * diff))
            if not grad:
                return loss, None, pred, None
            dpred = (2.0 / diff.size * diff).astype(self.dtype)
            dh_T = dpred @ W.T
            grads = {"W_out": h_T.T @ dpred, "b_out": dpred.sum(axis=0)}
            return loss, None, pred, (np.zeros_like(hs), dh_T, grads)
        if self.task.target == "frames":
            return self._frames_head(batch, hs, W, b, grad)
        assert batch.mask is not None  # a "steps" task always has one
        rows, cols = np.nonzero(batch.mask)
        hm = hs[rows, cols]  # (M, H): the scored steps
        logits = hm @ W + b  # (M, K)
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        target = batch.y[rows, cols]
        M = target.shape[0]
        loss = float(-logp[np.arange(M), target].mean())
        pred = logits.argmax(axis=1)
        right = pred == target
        accuracy = float(right.mean())
        if not grad:
            return loss, accuracy, (rows, right), None
        dlogits = np.exp(logp)
        dlogits[np.arange(M), target] -= 1.0
        dlogits = (dlogits / M).astype(self.dtype)
        dhs = np.zeros_like(hs)
        dhs[rows, cols] = dlogits @ W.T
        grads = {"W_out": hm.T @ dlogits, "b_out": dlogits.sum(axis=0)}
        return loss, accuracy, (rows, right), (dhs, None, grads)

    def _frames_head(self, batch: Batch, hs: np.ndarray, W: np.ndarray, b: np.ndarray, grad: bool):
        """Bernoulli NLL of the K outputs on every valid frame: summed over K, averaged over frames."""
        assert batch.mask is not None  # a "frames" task always has one
        rows, cols = np.nonzero(batch.mask)
        hm = hs[rows, cols]  # (M, H): the valid frames
        logits = hm @ W + b  # (M, K)
        z = logits.astype(np.float64)
        y = batch.y[rows, cols]  # (M, K) in {0, 1}
        M = z.shape[0]
        # -log p(y | z) = softplus(z) - y z, with softplus(z) = log(1 + e^z) computed stably
        loss = float((np.logaddexp(0.0, z) - y * z).sum() / M)
        if not grad:
            return loss, None, None, None
        dlogits = ((0.5 * np.tanh(0.5 * z) + 0.5 - y) / M).astype(self.dtype)  # (sigmoid(z) - y) / M
        dhs = np.zeros_like(hs)
        dhs[rows, cols] = dlogits @ W.T
        grads = {"W_out": hm.T @ dlogits, "b_out": dlogits.sum(axis=0)}
        return loss, None, None, (dhs, None, grads)

    # ----------------------------------------------------------------- public
    def _x(self, batch: Batch) -> np.ndarray:
        return np.ascontiguousarray(batch.x, dtype=self.dtype)

    def loss_and_grads(self, batch: Batch) -> Tuple[float, Dict[str, np.ndarray]]:
        """The batch loss and its gradient for every array of ``params`` (same names, shapes, dtype)."""
        x = self._x(batch)
        cp = self.cell_params()
        hs, h_T = self._layer_forward(x, cp, self._cache)
        loss, _, _, (dhs, dh_T, grads) = self._head(batch, hs, h_T, grad=True)
        grads.update(self._layer_backward(x, cp, dhs, dh_T, self._cache))
        return loss, grads

    def evaluate(self, batch: Batch) -> Tuple[float, Optional[float]]:
        """Loss and accuracy (None for a regression task) on a batch, without gradients."""
        hs, h_T = self._layer_forward(self._x(batch), self.cell_params())
        loss, accuracy, _, _ = self._head(batch, hs, h_T, grad=False)
        return loss, accuracy

    def rows_correct(self, batch: Batch) -> np.ndarray:
        """Classification tasks: (B,) bool, True where every scored step of the row is right."""
        if self.task.target != "steps":
            raise ValueError(f"rows_correct: {self.task.name} is not a classification task; it has no classes.")
        hs, h_T = self._layer_forward(self._x(batch), self.cell_params())
        _, _, (rows, right), _ = self._head(batch, hs, h_T, grad=False)
        wrong = np.zeros(batch.B, dtype=bool)
        wrong[rows[~right]] = True
        return ~wrong
