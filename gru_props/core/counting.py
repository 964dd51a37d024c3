"""Parameter counts of one GRU, LSTM or tanh RNN layer in each framework's layout,
and the hidden size that matches a parameter budget.

One layer, one direction, D inputs, H hidden units (tested against the real
layers in ``tests/test_counting.py``):

==========  ==========================  ==========================  =====================
framework   GRU                         LSTM                        biases
==========  ==========================  ==========================  =====================
torch       3(DH + H²) + 6H             4(DH + H²) + 8H             b_ih and b_hh per gate
keras       3(DH + H²) + 6H,            4(DH + H²) + 4H             GRU: (2, 3H) with
            3(DH + H²) + 3H when                                    reset_after, else (3H,);
            reset_after=False                                       LSTM: (4H,)
onnx        3(DH + H²) + 6H             4(DH + H²) + 8H             B = [Wb, Rb]
gru_props   3(DH + H²) + 4H             4(DH + H²) + 4H             GRUParams / LSTMParams
==========  ==========================  ==========================  =====================

The tanh RNN (``cell="rnn"``: ``torch.nn.RNN``, ``keras.layers.SimpleRNN``,
the ONNX ``RNN`` node, ``gru_props.rnn.RNNParams``) is one block: DH + H²
plus 2H biases in torch and ONNX, H in Keras and gru_props.

``bias=False`` drops every bias term (torch ``bias=False``, Keras
``use_bias=False``, ONNX without ``B``; for gru_props the bias fields stay
but hold zeros and are not trained). ONNX LSTM peephole weights ``P`` (3H)
are not counted: PyTorch and Keras have none, and ``LSTMParams`` neither.
For a later layer of a stack, D is the previous layer's output width
(num_directions · H); a bidirectional layer has twice the count
(``num_layers=``, ``bidirectional=`` count a whole stack that way).
"""

from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

__all__ = ["count_parameters", "equal_budget_hidden", "CELLS", "FRAMEWORKS"]

CELLS = ("gru", "lstm", "rnn")
FRAMEWORKS = ("torch", "keras", "onnx", "gru_props")


def _check_choice(name: str, value: Any, choices: Tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {list(choices)} (a string); got {value!r}.")
    key = value.lower()
    if key not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}; got {value!r}.")
    return key


def _check_int(name: str, value: Any, minimum: int, meaning: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum} ({meaning}); got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum} ({meaning}); got {value}.")
    return int(value)


def _check_bool(name: str, value: Any, meaning: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False ({meaning}); got {value!r}.")
    return bool(value)


def _coefficients(cell: str, framework: str, reset_after: bool, bias: bool) -> Tuple[int, int]:
    """``(gates, biases_per_unit)``: the count is gates·(DH + H²) + biases_per_unit·H."""
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[cell]
    if not bias:
        return gates, 0
    if framework in ("torch", "onnx"):
        return gates, 2 * gates  # an input and a recurrent bias per gate
    if framework == "keras":
        if cell != "gru":
            return gates, gates  # one bias per gate: LSTM (4H,), SimpleRNN (H,)
        return gates, 6 if reset_after else 3  # (2, 3H) or (3H,)
    return gates, 4 if cell == "gru" else gates  # GRUParams: b_z, b_r, b_n, b_hn; LSTMParams: b_i..b_o; RNNParams: b


def _validated(cell: Any, D: Any, framework: Any, reset_after: Any, bias: Any) -> Tuple[str, int, str, bool, bool]:
    cell = _check_choice("cell", cell, CELLS)
    D = _check_int("D", D, 0, "input features")
    framework = _check_choice("framework", framework, FRAMEWORKS)
    reset_after = _check_bool("reset_after", reset_after, "the GRU's reset convention")
    bias = _check_bool("bias", bias, "whether the layer has biases")
    if cell == "gru" and framework == "torch" and not reset_after:
        raise ValueError(
            "reset_after=False: torch.nn.GRU exists only in the reset_after=True convention "
            "(the reset gate multiplies h U_n + b_hn). Count framework='onnx' "
            "(linear_before_reset=0) or 'keras' (reset_after=False) instead, or drop the argument."
        )
    return cell, D, framework, reset_after, bias


def count_parameters(
    cell: str,
    D: int,
    H: int,
    framework: str,
    *,
    reset_after: bool = True,
    bias: bool = True,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> int:
    """Trainable parameters of a GRU, LSTM or tanh RNN: one layer and direction by default, or a stack.

    Args:
        cell: ``"gru"``, ``"lstm"`` or ``"rnn"`` (the tanh RNN).
        D: input features (>= 0).
        H: hidden units (>= 1).
        framework: whose layout: ``"torch"`` (``nn.GRU``/``nn.LSTM``, also
            ``GRUCell``/``LSTMCell``), ``"keras"`` (``keras.layers.GRU``/``LSTM``),
            ``"onnx"`` (the ``W``, ``R``, ``B`` inputs of a ``GRU``/``LSTM`` node)
            or ``"gru_props"`` (the fields of ``GRUParams``/``LSTMParams``).
        reset_after: the GRU's convention; it changes only the Keras GRU's
            count (True, Keras' default: bias (2, 3H); False: (3H,)). LSTMs
            have no reset gate and ignore it. ``torch.nn.GRU`` has only True.
        bias: False for layers without biases.
        num_layers: layers stacked (>= 1); layer k > 0 reads num_directions * H
            inputs, as in ``torch.nn.GRU(D, H, num_layers)``.
        bidirectional: two directions per layer (twice the parameters of each).

    Returns:
        The count, e.g. ``count_parameters("gru", 2, 32, "torch") == 3456``
        and ``count_parameters("lstm", 2, 32, "torch") == 4608``;
        ``count_parameters("gru", 4, 5, "torch", num_layers=2, bidirectional=True)``
        is 2 * 165 + 2 * 255 = 840.

    Raises:
        TypeError: an argument of the wrong type (cell or framework not a
            string, D, H or num_layers not an integer, reset_after, bias or
            bidirectional not a bool).
        ValueError: an unknown cell or framework, D < 0, H < 1, num_layers <
            1, or reset_after=False for the torch GRU.
    """
    cell, D, framework, reset_after, bias = _validated(cell, D, framework, reset_after, bias)
    H = _check_int("H", H, 1, "hidden units")
    num_layers = _check_int("num_layers", num_layers, 1, "layers stacked")
    nd = 2 if _check_bool("bidirectional", bidirectional, "two directions per layer") else 1
    gates, per_unit = _coefficients(cell, framework, reset_after, bias)

    def layer(d_in: int) -> int:
        return gates * (d_in * H + H * H) + per_unit * H

    return nd * (layer(D) + (num_layers - 1) * layer(nd * H))


def equal_budget_hidden(
    cell: str,
    D: int,
    budget: int,
    framework: str,
    *,
    reset_after: bool = True,
    bias: bool = True,
    readout: int = 0,
    side: str = "nearest",
) -> int:
    """The hidden size H whose parameter count matches ``budget`` best.

    For an equal-budget comparison, e.g. the LSTM that matches a GRU with
    H = 32 (PyTorch layout, D = 2)::

        from gru_props import count_parameters, equal_budget_hidden

        budget = count_parameters("gru", 2, 32, "torch")             # 3456
        equal_budget_hidden("lstm", 2, budget, "torch")               # 27: 3348, -3.1 %
        equal_budget_hidden("lstm", 2, budget, "torch", side="above") # 28: 3584, +3.7 %

    The count grows strictly with H, so the answer is one of the two hidden
    sizes around the exact (real) solution of count(H) = budget:

    * ``side="nearest"`` (default): the one whose count is closer to the
      budget; a tie goes to the smaller H (fewer parameters).
    * ``side="below"``: the largest H whose count is <= budget.
    * ``side="above"``: the smallest H whose count is >= budget.

    H is at least 1, so a budget below count(1) gives 1 whatever the side.

    Args:
        cell, D, framework, reset_after, bias: as for ``count_parameters``.
        budget: the parameter count to match (>= 1).
        readout: outputs of a linear readout on the hidden state, counted
            with the layer: it adds ``readout * (H + 1)`` (weights and bias).
            0 (default) counts the recurrent layer alone.
        side: ``"nearest"``, ``"below"`` or ``"above"``, as above.

    Returns:
        The hidden size H (>= 1).

    Raises:
        TypeError / ValueError: as ``count_parameters``, and for a budget < 1,
            a negative readout or an unknown side.
    """
    cell, D, framework, reset_after, bias = _validated(cell, D, framework, reset_after, bias)
    budget = _check_int("budget", budget, 1, "the parameter count to match")
    readout = _check_int("readout", readout, 0, "outputs of a linear readout")
    side = _check_choice("side", side, ("nearest", "below", "above"))
    gates, per_unit = _coefficients(cell, framework, reset_after, bias)

    def total(H: int) -> int:
        return gates * (D * H + H * H) + per_unit * H + readout * (H + 1)

    # count(H) = a H² + b H + c, increasing for H >= 0: solve for the real root, in integers (exact for
    # any budget: a float square root would be off by millions of units at 1e44 and overflow at 1e400).
    a, b, c = gates, gates * D + per_unit + readout, readout
    below = max(1, (math.isqrt(b * b + 4 * a * (budget - c)) - b) // (2 * a)) if budget > c else 1
    # isqrt is the floor of the square root: step to the bracketing pair exactly (at most a step or two).
    while below > 1 and total(below) > budget:
        below -= 1
    while total(below + 1) <= budget:
        below += 1
    # Now total(below) <= budget < total(below + 1), unless below == 1 is over budget.
    if total(below) >= budget or side == "below":
        return below
    above = below + 1
    if side == "above":
        return above
    return below if budget - total(below) <= total(above) - budget else above
