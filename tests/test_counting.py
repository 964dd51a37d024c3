"""Parameter counts (gru_props.core.counting) against the real layers.

torch: ``sum(p.numel())`` of nn.GRU / nn.LSTM / nn.GRUCell / nn.LSTMCell;
Keras: ``count_params()`` of built GRU / LSTM layers; ONNX: the sizes of
W, R, B inputs that ONNX's reference evaluator accepts for a GRU / LSTM
node; gru_props: the sizes of the GRUParams / LSTMParams fields. The
framework tests skip cleanly when torch, keras or onnx is missing.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from gru_props import GRUParams
from gru_props.core.counting import count_parameters, equal_budget_hidden
from gru_props.lstm import LSTMParams

SIZES = [(1, 1), (2, 32), (3, 7), (10, 20), (64, 128)]
SIZE = pytest.mark.parametrize("D, H", SIZES, ids=lambda v: str(v))


def assert_message(excinfo, *fragments):
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in message: {msg}"


# ------------------------------------------------------------------- torch


@SIZE
@pytest.mark.parametrize("bias", [True, False])
def test_torch_layers_and_cells(D, H, bias):
    torch = pytest.importorskip("torch")
    layers = {
        "gru": [torch.nn.GRU(D, H, bias=bias), torch.nn.GRUCell(D, H, bias=bias)],
        "lstm": [torch.nn.LSTM(D, H, bias=bias), torch.nn.LSTMCell(D, H, bias=bias)],
    }
    for cell, modules in layers.items():
        for module in modules:
            want = sum(p.numel() for p in module.parameters() if p.requires_grad)
            assert count_parameters(cell, D, H, "torch", bias=bias) == want, (cell, module)


# ------------------------------------------------------------------- Keras


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside keras
@pytest.mark.parametrize("D, H", [(1, 1), (2, 32), (3, 7)], ids=lambda v: str(v))
def test_keras_layers(keras, D, H):
    for bias in (True, False):
        for reset_after in (True, False):
            layer = keras.layers.GRU(H, reset_after=reset_after, use_bias=bias)
            layer.build((None, 5, D))
            got = count_parameters("gru", D, H, "keras", reset_after=reset_after, bias=bias)
            assert got == layer.count_params(), (bias, reset_after)
        layer = keras.layers.LSTM(H, use_bias=bias)
        layer.build((None, 5, D))
        assert count_parameters("lstm", D, H, "keras", bias=bias) == layer.count_params(), bias


# -------------------------------------------------------------------- ONNX


def _run_onnx(op, X, W, R, B, H):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    inputs = ["X", "W", "R"] + (["B"] if B is not None else [])
    node = onnx.helper.make_node(op, inputs, ["Y"], hidden_size=H)
    feeds = {"X": X, "W": W, "R": R, **({"B": B} if B is not None else {})}
    (Y,) = ReferenceEvaluator(node).run(None, feeds)
    return Y


@pytest.mark.parametrize("D, H", [(1, 1), (2, 32), (3, 7)], ids=lambda v: str(v))
def test_onnx_input_shapes(D, H):
    """W, R, B in the operator's documented shapes run, and their sizes are the count."""
    pytest.importorskip("onnx")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 2, D))  # (T, B, D)
    for op, cell, params in (("GRU", "gru", GRUParams.random(D, H, seed=0)),
                             ("LSTM", "lstm", LSTMParams.random(D, H, seed=0))):
        W, R, B = params.to_onnx()
        gates = 3 if cell == "gru" else 4
        assert W.shape == (1, gates * H, D) and R.shape == (1, gates * H, H)
        assert B.shape == (1, 2 * gates * H)
        for bias in (True, False):
            Y = _run_onnx(op, X, W, R, B if bias else None, H)
            assert Y.shape == (4, 1, 2, H)
            sizes = W.size + R.size + (B.size if bias else 0)
            assert count_parameters(cell, D, H, "onnx", bias=bias) == sizes, (op, bias)


# --------------------------------------------------------------- gru_props


@SIZE
def test_gru_props_fields(D, H):
    gru = GRUParams.random(D, H, seed=0)
    lstm = LSTMParams.random(D, H, seed=0)
    for cell, params in (("gru", gru), ("lstm", lstm)):
        arrays = params.arrays()
        assert count_parameters(cell, D, H, "gru_props") == sum(a.size for a in arrays.values())
        weights = sum(a.size for name, a in arrays.items() if not name.startswith("b_"))
        assert count_parameters(cell, D, H, "gru_props", bias=False) == weights
    # The GRU's reset convention does not change which fields GRUParams holds.
    assert count_parameters("gru", D, H, "gru_props", reset_after=False) == \
        count_parameters("gru", D, H, "gru_props")


def test_known_values_and_ratios():
    # Figures from the verified notes (D=4, H=5 and D=2, H=32).
    assert count_parameters("gru", 4, 5, "torch") == 165
    assert count_parameters("lstm", 4, 5, "torch") == 220
    assert count_parameters("gru", 4, 5, "keras", reset_after=False) == 150
    assert count_parameters("lstm", 4, 5, "keras") == 200
    assert count_parameters("gru", 2, 32, "gru_props") == 3392
    assert count_parameters("lstm", 2, 32, "onnx") == 4608
    # At equal H an LSTM has exactly 4/3 the parameters of a GRU in the torch and ONNX layouts.
    for D, H in SIZES:
        for fw in ("torch", "onnx"):
            assert 3 * count_parameters("lstm", D, H, fw) == 4 * count_parameters("gru", D, H, fw)
    # Case does not matter, NumPy integers are accepted.
    assert count_parameters("LSTM", np.int64(4), np.int32(5), "Torch") == 220


# ------------------------------------------------------------ equal budget


@pytest.mark.parametrize("H_gru, H_lstm", [(32, 27), (64, 55), (128, 111)])
def test_equal_budget_hidden_matches_gru_sizes_within_4_percent(H_gru, H_lstm):
    budget = count_parameters("gru", 2, H_gru, "torch")
    H = equal_budget_hidden("lstm", 2, budget, "torch")
    assert H == H_lstm
    assert abs(count_parameters("lstm", 2, H, "torch") / budget - 1) <= 0.04
    # Nearest: neither neighbour is closer.
    for other in (H - 1, H + 1):
        assert abs(count_parameters("lstm", 2, other, "torch") - budget) >= \
            abs(count_parameters("lstm", 2, H, "torch") - budget)


def test_equal_budget_hidden_sides_and_readout():
    budget = count_parameters("gru", 2, 32, "torch")  # 3456
    assert equal_budget_hidden("lstm", 2, budget, "torch", side="below") == 27  # 3348
    assert equal_budget_hidden("lstm", 2, budget, "torch", side="above") == 28  # 3584
    # With a one-output linear readout on h counted on both sides (the study's models).
    assert equal_budget_hidden("lstm", 2, budget + 33, "torch", readout=1) == 27
    assert equal_budget_hidden("lstm", 2, budget + 33, "torch", readout=1, side="above") == 28


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("framework", ["torch", "keras", "onnx", "gru_props"])
def test_equal_budget_hidden_inverts_count_parameters(cell, framework):
    for D in (0, 1, 3, 50):
        for H in list(range(1, 40)) + [200, 1000]:
            n = count_parameters(cell, D, H, framework)
            for side in ("nearest", "below", "above"):
                assert equal_budget_hidden(cell, D, n, framework, side=side) == H
            # One parameter off: below and above bracket it, nearest picks the closer.
            lo = equal_budget_hidden(cell, D, n + 1, framework, side="below")
            hi = equal_budget_hidden(cell, D, n + 1, framework, side="above")
            assert (lo, hi) == (H, H + 1)
            assert equal_budget_hidden(cell, D, n + 1, framework) == H
    # A budget smaller than one unit's count gives H = 1.
    assert equal_budget_hidden(cell, 5, 1, framework, side="above") == 1


def test_equal_budget_hidden_breaks_ties_towards_fewer_parameters():
    # Keras GRU, reset_after=False, D=0: count(H) = 3H² + 3H: 6, 18, 36, ... A budget of 12
    # lies 6 from both H=1 and H=2.
    assert count_parameters("gru", 0, 1, "keras", reset_after=False) == 6
    assert count_parameters("gru", 0, 2, "keras", reset_after=False) == 18
    assert equal_budget_hidden("gru", 0, 12, "keras", reset_after=False) == 1


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize("call, exc, fragments", [
    (lambda: count_parameters("elman", 2, 3, "torch"), ValueError, ["cell", "'gru'", "'lstm'", "'rnn'", "'elman'"]),
    (lambda: count_parameters(3, 2, 3, "torch"), TypeError, ["cell", "string"]),
    (lambda: count_parameters("gru", 2, 3, "tensorflow"), ValueError, ["framework", "'keras'", "'tensorflow'"]),
    (lambda: count_parameters("gru", -1, 3, "torch"), ValueError, ["D", ">= 0", "-1"]),
    (lambda: count_parameters("gru", 2, 0, "torch"), ValueError, ["H", ">= 1", "got 0"]),
    (lambda: count_parameters("gru", 2.0, 3, "torch"), TypeError, ["D", "integer", "2.0"]),
    (lambda: count_parameters("gru", 2, True, "torch"), TypeError, ["H", "integer"]),
    (lambda: count_parameters("gru", 2, 3, "torch", bias=1), TypeError, ["bias", "True or False"]),
    (lambda: count_parameters("gru", 2, 3, "keras", reset_after="yes"), TypeError, ["reset_after"]),
    (lambda: count_parameters("gru", 2, 3, "torch", reset_after=False), ValueError,
     ["torch.nn.GRU", "reset_after=True", "onnx"]),
    (lambda: equal_budget_hidden("lstm", 2, 0, "torch"), ValueError, ["budget", ">= 1"]),
    (lambda: equal_budget_hidden("lstm", 2, 100.5, "torch"), TypeError, ["budget", "integer"]),
    (lambda: equal_budget_hidden("lstm", 2, 100, "torch", readout=-1), ValueError, ["readout", ">= 0"]),
    (lambda: equal_budget_hidden("lstm", 2, 100, "torch", side="closest"), ValueError,
     ["side", "'nearest'", "'closest'"]),
    (lambda: equal_budget_hidden("lstm", 2, 100, "jax"), ValueError, ["framework", "'jax'"]),
])
def test_bad_arguments_are_rejected_with_what_was_expected(call, exc, fragments):
    with pytest.raises(exc) as e:
        call()
    assert_message(e, *fragments)


def test_lstm_ignores_reset_after():
    for fw in ("torch", "keras", "onnx", "gru_props"):
        assert count_parameters("lstm", 3, 4, fw, reset_after=False) == \
            count_parameters("lstm", 3, 4, fw)
