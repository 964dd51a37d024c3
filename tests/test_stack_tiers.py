"""Layers, directions and lengths in the tiers, held to independent implementations (Level 4).

* ``torch.nn.GRU`` with 1-3 layers, one or both directions, through ``pack_padded_sequence(...,
  enforce_sorted=False)``: forward and autograd to 1e-10 in float64. ``pack_padded_sequence`` refuses a
  length of 0, so sequences of length 0 are left out of the pack and held to the SPEC directly (out zero,
  h_n = h0, dx zero, dh0 = dh_n).
* ONNX's reference evaluator with ``direction="bidirectional"`` (it ignores ``sequence_lens``, so it is
  run on full-length sequences).
* ONNX Runtime's GRU with ``sequence_lens`` (float32 only): Y is exactly 0 at padded positions in both
  directions, padded X is never read, Y_h forward is the state at step len-1 and Y_h reverse the state
  after step 0 (the reverse pass starts at len-1). At a length of 0 ONNX Runtime gives Y_h = 0 where the
  SPEC (and these tiers) give h_n = h0; the test says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from gru_props import GRUParams, count_parameters, level1, level3
from gru_props.tiers.stack import flip

TIERS = [level1, level3]
IDS = ["level1", "level3"]


def _torch_stack(D, H, L, bidirectional, seed, bias=True):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    gru = torch.nn.GRU(D, H, L, batch_first=True, bidirectional=bidirectional, bias=bias).double()
    with torch.no_grad():
        for p in gru.parameters():
            p.uniform_(-0.8, 0.8)
    return gru


def _torch_packed(gru, x, h0, lengths, dout, dh_n):
    """torch's out, h_n and gradients of sum(out * dout) + sum(h_n * dh_n), sequences of length 0 left out."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    keep = np.flatnonzero(lengths > 0)
    xt = torch.tensor(x[keep], requires_grad=True)
    ht = torch.tensor(h0[:, keep], requires_grad=True)
    packed = pack_padded_sequence(xt, torch.tensor(lengths[keep]), batch_first=True, enforce_sorted=False)
    out, h_n = gru(packed, ht)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    ((out * torch.tensor(dout[keep])).sum() + (h_n * torch.tensor(dh_n[:, keep])).sum()).backward()
    grads = [p.grad.numpy() for p in gru.parameters()]
    return keep, out.detach().numpy(), h_n.detach().numpy(), xt.grad.numpy(), ht.grad.numpy(), grads


@pytest.mark.parametrize("tier", TIERS, ids=IDS)
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stack_matches_torch_packed_forward_and_autograd(tier, L, bidirectional):
    torch = pytest.importorskip("torch")
    B, T, D, H = 6, 7, 3, 4
    nd = 2 if bidirectional else 1
    gru = _torch_stack(D, H, L, bidirectional, seed=L)
    layers = GRUParams.stack_from_torch(gru)
    rng = np.random.default_rng(L)
    x = rng.standard_normal((B, T, D))
    h0 = rng.uniform(-1, 1, (L * nd, B, H))
    lengths = np.array([7, 0, 3, 1, 7, 5])  # full, zero, and in between, unsorted
    x[np.arange(T)[None, :] >= lengths[:, None]] = 1e3  # padding: never read
    dout = rng.standard_normal((B, T, nd * H))
    dh_n = rng.standard_normal((L * nd, B, H))
    keep, out_t, hn_t, dx_t, dh0_t, grads_t = _torch_packed(gru, x, h0, lengths, dout, dh_n)

    out, h_n = tier.stack_forward(x, h0, layers, bidirectional=bidirectional, lengths=lengths, reset_after=True)
    assert out.shape == (B, T, nd * H) and h_n.shape == (L * nd, B, H)
    np.testing.assert_allclose(out[keep], out_t, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_n[:, keep], hn_t, rtol=0, atol=1e-10)
    zero = lengths == 0  # the SPEC's answer where pack_padded_sequence cannot go
    assert not out[zero].any() and np.array_equal(h_n[:, zero], h0[:, zero])

    dx, dh0, grads = tier.stack_backward(x, h0, layers, dout, dh_n, bidirectional=bidirectional,
                                         lengths=lengths, reset_after=True)
    np.testing.assert_allclose(dx[keep], dx_t, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dh0[:, keep], dh0_t, rtol=0, atol=1e-10)
    assert not dx[zero].any() and np.array_equal(dh0[:, zero], dh_n[:, zero])
    assert not dx[np.arange(T)[None, :] >= lengths[:, None]].any()  # padding gets no gradient
    # Parameter gradients: torch's, mapped to GRUParams fields the way the weights are, except that b_z's
    # gradient is bias_ih's z part alone (bias_hh's is the same number; the converter would add them).
    names = [n for n, _ in gru.named_parameters()]
    grads_t = [np.concatenate([np.zeros(2 * H), g[2 * H:]]) if n.startswith("bias_hh") else g
               for n, g in zip(names, grads_t)]
    mapped = GRUParams.stack_from_torch(dict(zip(names, map(torch.tensor, grads_t))))
    assert len(grads) == len(mapped) == L * nd
    for got, want in zip(grads, mapped):
        for k, v in want.arrays().items():
            np.testing.assert_allclose(getattr(got, k), v, rtol=0, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("tier", TIERS, ids=IDS)
def test_stack_without_lengths_matches_torch_float32(tier):
    torch = pytest.importorskip("torch")
    gru = _torch_stack(3, 5, 2, True, seed=9).float()
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    out_t, hn_t = gru(torch.tensor(x))
    out, h_n = tier.stack_forward(x, None, GRUParams.stack_from_torch(gru), bidirectional=True, reset_after=True)
    assert out.dtype == np.float32 and h_n.dtype == np.float32
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h_n, hn_t.detach().numpy(), atol=2e-6)


@pytest.mark.parametrize("tier", TIERS, ids=IDS)
@pytest.mark.parametrize("reset_after", [False, True])
def test_bidirectional_matches_onnx_reference_evaluator(tier, reset_after):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    B, T, D, H = 3, 5, 4, 3
    rng = np.random.default_rng(3)
    layers = [GRUParams.random(D, H, seed=s, scale=0.9) for s in (1, 2)]
    x = rng.standard_normal((B, T, D))
    h0 = rng.uniform(-1, 1, (2, B, H))
    W, R, Bias = (np.concatenate(a) for a in zip(*(p.to_onnx() for p in layers)))
    node = onnx.helper.make_node("GRU", ["X", "W", "R", "B", "", "initial_h"], ["Y", "Y_h"], hidden_size=H,
                                 direction="bidirectional", linear_before_reset=int(reset_after))
    Y, Y_h = ReferenceEvaluator(node).run(None, {"X": x.transpose(1, 0, 2), "W": W, "R": R, "B": Bias,
                                                 "initial_h": h0})
    out, h_n = tier.stack_forward(x, h0, layers, bidirectional=True, reset_after=reset_after)
    # ONNX's Y is (T, num_directions, B, H); ours (B, T, num_directions * H), forward half first.
    np.testing.assert_allclose(out, Y.transpose(2, 0, 1, 3).reshape(B, T, 2 * H), atol=1e-12)
    np.testing.assert_allclose(h_n, Y_h, atol=1e-12)


def _onnx_runtime_gru(x, h0, layers, lengths, reset_after):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    T, B, D = x.shape[1], x.shape[0], x.shape[2]
    H = layers[0].H
    W, R, Bias = (np.concatenate(a).astype(np.float32) for a in zip(*(p.to_onnx() for p in layers)))
    node = helper.make_node("GRU", ["X", "W", "R", "B", "sequence_lens", "initial_h"], ["Y", "Y_h"],
                            hidden_size=H, direction="bidirectional", linear_before_reset=int(reset_after))
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [node], "gru",
        [helper.make_tensor_value_info("X", f, [T, B, D]), helper.make_tensor_value_info("W", f, list(W.shape)),
         helper.make_tensor_value_info("R", f, list(R.shape)), helper.make_tensor_value_info("B", f, list(Bias.shape)),
         helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [B]),
         helper.make_tensor_value_info("initial_h", f, [2, B, H])],
        [helper.make_tensor_value_info("Y", f, [T, 2, B, H]), helper.make_tensor_value_info("Y_h", f, [2, B, H])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    Y, Y_h = session.run(None, {"X": x.transpose(1, 0, 2).astype(np.float32), "W": W, "R": R, "B": Bias,
                                "sequence_lens": lengths.astype(np.int32), "initial_h": h0.astype(np.float32)})
    return Y.transpose(2, 0, 1, 3).reshape(B, T, 2 * H), Y_h


@pytest.mark.parametrize("tier", TIERS, ids=IDS)
@pytest.mark.parametrize("reset_after", [False, True])
def test_lengths_match_onnx_runtime_sequence_lens(tier, reset_after):
    B, T, D, H = 5, 6, 3, 4
    rng = np.random.default_rng(4)
    layers = [GRUParams.random(D, H, seed=s, scale=0.9, dtype=np.float32) for s in (5, 6)]
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (2, B, H)).astype(np.float32)
    lengths = np.array([6, 2, 0, 5, 1])
    padded = np.arange(T)[None, :] >= lengths[:, None]
    y_ort, yh_ort = _onnx_runtime_gru(x, h0, layers, lengths, reset_after)
    # What ONNX Runtime does at padded positions: Y is exactly 0 there, in both directions ...
    assert np.all(y_ort[padded] == 0)
    # ... and padded X is never read: other values there change nothing.
    x_other = np.where(padded[:, :, None], np.float32(50.0), x)
    y_other, yh_other = _onnx_runtime_gru(x_other, h0, layers, lengths, reset_after)
    assert np.array_equal(y_other, y_ort) and np.array_equal(yh_other, yh_ort)
    out, h_n = tier.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=reset_after)
    np.testing.assert_allclose(out, y_ort, atol=2e-6)
    nonzero = lengths > 0
    np.testing.assert_allclose(h_n[:, nonzero], yh_ort[:, nonzero], atol=2e-6)
    # At length 0 ONNX Runtime gives Y_h = 0; the SPEC (as PyTorch's packed semantics) keeps h0.
    assert np.all(yh_ort[:, ~nonzero] == 0)
    assert np.array_equal(h_n[:, ~nonzero], h0[:, ~nonzero])


def test_tiers_agree_on_lengths_everywhere():
    """Level 1 (masked loop) and Level 3 (sorted runs) on many length patterns, float32 and float64."""
    rng = np.random.default_rng(7)
    for trial in range(12):
        B, T, D, H = rng.integers(1, 6), rng.integers(0, 7), rng.integers(1, 4), rng.integers(1, 5)
        dtype = np.float32 if trial % 3 == 0 else np.float64
        p = GRUParams.random(D, H, seed=trial, dtype=dtype)
        x = rng.standard_normal((B, T, D)).astype(dtype)
        h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
        lengths = rng.integers(0, T + 1, B)
        dhs = rng.standard_normal((B, T, H)).astype(dtype)
        dh_T = rng.standard_normal((B, H)).astype(dtype)
        ra = bool(trial % 2)
        a = level1.gru_forward(x, h0, p, ra, lengths=lengths)
        b = level3.gru_forward(x, h0, p, ra, lengths=lengths)
        tol = 1e-5 if dtype == np.float32 else 1e-13
        for u, v in zip(a, b):
            assert u.dtype == v.dtype == dtype
            np.testing.assert_allclose(u, v, atol=tol)
        ga = level1.gru_backward(x, h0, p, dhs, dh_T, ra, lengths=lengths)
        gb = level3.gru_backward(x, h0, p, dhs, dh_T, ra, lengths=lengths)
        for u, v in zip(ga[:2], gb[:2]):
            np.testing.assert_allclose(u, v, atol=10 * tol)
        for k, v in ga[2].arrays().items():
            np.testing.assert_allclose(getattr(gb[2], k), v, atol=10 * tol, err_msg=k)
        # Equal to each sequence run alone, without padding.
        for i in range(B):
            hs_i, hT_i = level1.gru_forward(x[i:i + 1, :lengths[i]], h0[i:i + 1], p, ra)
            np.testing.assert_allclose(a[0][i, :lengths[i]], hs_i[0], atol=tol)
            np.testing.assert_allclose(a[1][i], hT_i[0], atol=tol)


def test_full_lengths_are_no_lengths_and_inputs_stay_unchanged():
    p = GRUParams.random(3, 4, seed=1)
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((3, 5, 3)), rng.uniform(-1, 1, (3, 4))
    lengths = np.array([5, 5, 5])
    before = x.copy(), h0.copy(), lengths.copy()
    for tier in TIERS:
        with_l = tier.gru_forward(x, h0, p, True, lengths=lengths)
        without = tier.gru_forward(x, h0, p, True)
        np.testing.assert_allclose(with_l[0], without[0], atol=1e-14)
    for a, b in zip(before, (x, h0, lengths)):
        assert np.array_equal(a, b)


def test_flip_reverses_within_each_length():
    a = np.arange(12.0).reshape(2, 6, 1)
    lengths = np.array([4, 0])
    f = flip(a, lengths)
    assert f[0, :, 0].tolist() == [3, 2, 1, 0, 4, 5] and f[1, :, 0].tolist() == list(range(6, 12))
    assert np.array_equal(flip(f, lengths), a)


@pytest.mark.parametrize("tier", TIERS, ids=IDS)
def test_bad_stack_input_says_what_was_expected(tier):
    H = 4
    l0 = GRUParams.random(3, H, seed=0)
    x = np.zeros((2, 5, 3))
    cases = [
        (dict(layers=[l0, l0, l0], bidirectional=True), ValueError, "positive multiple of 2"),
        (dict(layers=[l0, GRUParams.random(3, H, seed=1)]), ValueError, "expected input size D = 4"),
        (dict(layers=[l0, l0, GRUParams.random(4, H, seed=1), GRUParams.random(8, H, seed=1)],
              bidirectional=True), ValueError, r"layers\[2\] \(layer 1 forward\): expected input size D = 8"),
        (dict(layers=l0), TypeError, r"pass \[params\]"),
        (dict(layers=[l0], lengths=np.array([6, 1])), ValueError, r"0 <= lengths\[b\] <= T = 5"),
        (dict(layers=[l0], lengths=np.array([1.0, 2.0])), TypeError, "integer array"),
        (dict(layers=[l0], lengths=np.array([1, 2, 3])), ValueError, r"shape \(B,\) = \(2,\)"),
        (dict(layers=[l0], h0=np.zeros((2, H))), ValueError, r"h0\[None\]"),
        (dict(layers=[GRUParams.random(3, H, seed=0), GRUParams.random(H, 5, seed=0)]), ValueError,
         "expected H = 4"),
    ]
    for kwargs, exc, text in cases:
        args = dict(h0=None, bidirectional=False, lengths=None)
        args.update(kwargs)
        with pytest.raises(exc, match=text):
            tier.stack_forward(x, args["h0"], args["layers"], bidirectional=args["bidirectional"],
                               lengths=args["lengths"])
    with pytest.raises(ValueError, match=r"dout: expected dL/dout of shape \(B, T, num_directions \* H\)"):
        tier.stack_backward(x, None, [l0], np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="0 <= lengths"):
        tier.gru_forward(x, None, l0, lengths=np.array([-1, 2]))


@pytest.mark.parametrize("chunk_rows", [3, 2048], ids=["chunked", "one-chunk"])
def test_level3_packed_pass_matches_level1_and_the_cached_runs(monkeypatch, chunk_rows):
    """Level 3's forward without a cache is one pass whose active rows shrink (its input projection chunked
    by packed rows); with a cache (the backward's) it is one pass per span of equal active rows. Both give
    Level 1's results, in both directions, both conventions and dtypes, lengths 0 and T included."""
    from gru_props.tiers import level3 as tier3

    monkeypatch.setattr(tier3, "_CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(11)
    for trial in range(16):
        B, T, D, H = int(rng.integers(2, 8)), int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
        dtype = np.float32 if trial % 4 == 0 else np.float64
        ra = bool(trial % 2)
        lengths = rng.integers(0, T + 1, B)
        lengths[0], lengths[-1] = T, 0
        layers = [GRUParams.random(D if i < 2 else 2 * H, H, seed=100 * trial + i, dtype=dtype) for i in range(4)]
        x = rng.standard_normal((B, T, D)).astype(dtype)
        h0 = None if trial % 3 == 0 else rng.uniform(-1, 1, (4, B, H)).astype(dtype)
        dout = rng.standard_normal((B, T, 2 * H)).astype(dtype)
        tol = 1e-5 if dtype == np.float32 else 1e-13
        want = level1.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=ra)
        got = level3.stack_forward(x, h0, layers, bidirectional=True, lengths=lengths, reset_after=ra)
        for u, v in zip(want, got):
            assert v.dtype == dtype
            np.testing.assert_allclose(v, u, atol=tol)
        assert not got[0][np.arange(T)[None, :] >= lengths[:, None]].any()
        ga = level1.stack_backward(x, h0, layers, dout, None, bidirectional=True, lengths=lengths, reset_after=ra)
        gb = level3.stack_backward(x, h0, layers, dout, None, bidirectional=True, lengths=lengths, reset_after=ra)
        for u, v in zip(ga[:2], gb[:2]):
            np.testing.assert_allclose(v, u, atol=10 * tol)
        h_first = None if h0 is None else h0[0]
        _, h_T = level3.gru_forward(x, h_first, layers[0], ra, lengths=lengths, return_sequences=False)
        np.testing.assert_allclose(h_T, want[1][0], atol=tol)


def test_level3_refuses_a_cache_with_lengths():
    from gru_props.level3 import GRUCache

    p = GRUParams.random(3, 4, seed=0)
    with pytest.raises(ValueError, match="cache=None"):
        level3.gru_forward(np.zeros((2, 3, 3)), None, p, cache=GRUCache(), lengths=np.array([1, 2]))


def test_converters_round_trip_and_counts_match_torch():
    torch = pytest.importorskip("torch")
    for L, bi, bias in [(1, True, True), (2, False, False), (3, True, True)]:
        gru = torch.nn.GRU(4, 5, L, bidirectional=bi, bias=bias).double()
        layers = GRUParams.stack_from_torch(gru)
        assert len(layers) == L * (2 if bi else 1)
        again = torch.nn.GRU(4, 5, L, bidirectional=bi).double()
        again.load_state_dict(GRUParams.stack_to_torch(layers, bidirectional=bi))
        x = torch.randn(2, 3, 4, dtype=torch.float64)
        assert torch.allclose(gru(x)[0], again(x)[0], atol=1e-14)
        assert sum(p.numel() for p in gru.parameters()) == count_parameters(
            "gru", 4, 5, "torch", num_layers=L, bidirectional=bi, bias=bias)
    assert count_parameters("gru", 4, 5, "torch", num_layers=2, bidirectional=True) == 840
    assert count_parameters("lstm", 4, 5, "torch", num_layers=2) == sum(
        p.numel() for p in torch.nn.LSTM(4, 5, 2).parameters())
    with pytest.raises(ValueError, match="_l1_reverse"):
        state = torch.nn.GRU(4, 5, 2, bidirectional=True).state_dict()
        GRUParams.stack_from_torch({k: v for k, v in state.items() if "l1_reverse" not in k})
    with pytest.raises(ValueError, match="num_layers"):
        count_parameters("gru", 4, 5, "torch", num_layers=0)
