"""Level 4: the tiers against independent GRUs (ONNX's reference evaluator, PyTorch).

The library's tiers are unidirectional and batch-first; ONNX's GRU node also
has reverse and bidirectional directions and a time-major layout. The helper
``run_onnx_gru_with_tier`` composes them from a tier: a reverse direction is
the tier run on ``x[:, ::-1]`` and flipped back, a bidirectional node is a
forward and a reverse parameter set stacked the way ONNX lays out Y and Y_h.

These tests skip cleanly when onnx or torch is not installed.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gru_props import GRUParams, level1, level2, level3

TIERS = [level1, level2, level3]
TIER_IDS = ["level1", "level2", "level3"]

#: float64 agreement demanded of every tier against the independent references.
TOL64 = 1e-10


def max_abs_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# --------------------------------------------------------------------- ONNX


def run_onnx_gru_with_tier(tier, inputs, *, hidden_size, direction="forward", layout=0,
                           linear_before_reset=0):
    """What an ONNX GRU node computes, built from a unidirectional, batch-first tier.

    ``inputs`` maps X, W, R and optionally B, initial_h to arrays in ONNX's
    layout. Returns ``(Y, Y_h)`` in that same layout.
    """
    X, W, R = inputs["X"], inputs["W"], inputs["R"]
    Bias, init = inputs.get("B"), inputs.get("initial_h")
    x = X if layout == 1 else X.transpose(1, 0, 2)  # -> (B, T, D)
    directions = {"forward": ["forward"], "reverse": ["reverse"],
                  "bidirectional": ["forward", "reverse"]}[direction]
    assert W.shape[0] == len(directions)
    ys, yhs = [], []
    for d, which in enumerate(directions):
        params = GRUParams.from_onnx(W[d], R[d], None if Bias is None else Bias[d])
        assert params.H == hidden_size
        h0 = None if init is None else (init[d] if layout == 0 else init[:, d])
        xd = x if which == "forward" else x[:, ::-1]
        hs, h_T = tier.gru_forward(xd, h0, params, reset_after=bool(linear_before_reset))
        if which == "reverse":
            hs = hs[:, ::-1]
        ys.append(hs)  # (B, T, H)
        yhs.append(h_T)  # (B, H)
    if layout == 0:
        Y = np.stack([y.transpose(1, 0, 2) for y in ys], axis=1)  # (T, dirs, B, H)
        Y_h = np.stack(yhs, axis=0)  # (dirs, B, H)
    else:
        Y = np.stack(ys, axis=2)  # (B, T, dirs, H)
        Y_h = np.stack(yhs, axis=1)  # (B, dirs, H)
    return Y, Y_h


def onnx_reference(inputs, **attrs):
    """Run a single GRU node through ``onnx.reference.ReferenceEvaluator``."""
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    names = ["X", "W", "R", "B", "", "initial_h"]
    node_inputs = [n if (n in inputs or n in ("X", "W", "R")) else "" for n in names]
    while node_inputs[-1] == "":
        node_inputs.pop()
    node = onnx.helper.make_node("GRU", node_inputs, ["Y", "Y_h"], **attrs)
    feeds = {k: v for k, v in inputs.items() if k}
    Y, Y_h = ReferenceEvaluator(node).run(None, feeds)
    return Y, Y_h


def random_onnx_inputs(seed, *, B=3, T=6, D=4, H=5, dirs=1, layout=0, with_bias=True,
                       with_initial_h=True, dtype=np.float64):
    rng = np.random.default_rng(seed)
    inputs = {
        "X": rng.normal(size=(T, B, D) if layout == 0 else (B, T, D)),
        "W": rng.uniform(-1, 1, (dirs, 3 * H, D)),
        "R": rng.uniform(-1, 1, (dirs, 3 * H, H)),
    }
    if with_bias:
        inputs["B"] = rng.uniform(-1, 1, (dirs, 6 * H))
    if with_initial_h:
        inputs["initial_h"] = rng.uniform(-1, 1, (dirs, B, H) if layout == 0 else (B, dirs, H))
    return {k: v.astype(dtype) for k, v in inputs.items()}


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
@pytest.mark.parametrize("linear_before_reset", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_tier_matches_onnx_reference_evaluator(tier, linear_before_reset, direction, layout):
    pytest.importorskip("onnx")
    dirs = 2 if direction == "bidirectional" else 1
    H = 5
    for seed, with_bias, with_h in [(0, True, True), (1, False, True), (2, True, False)]:
        inputs = random_onnx_inputs(seed, H=H, dirs=dirs, layout=layout, with_bias=with_bias,
                                    with_initial_h=with_h)
        attrs = dict(hidden_size=H, direction=direction, layout=layout,
                     linear_before_reset=linear_before_reset)
        Y_ref, Yh_ref = onnx_reference(inputs, **attrs)
        Y, Y_h = run_onnx_gru_with_tier(tier, inputs, **attrs)
        assert Y.dtype == np.float64 and Y_h.dtype == np.float64
        assert max_abs_diff(Y, Y_ref) <= TOL64, (seed, max_abs_diff(Y, Y_ref))
        assert max_abs_diff(Y_h, Yh_ref) <= TOL64, (seed, max_abs_diff(Y_h, Yh_ref))


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_onnx_conventions_are_not_interchangeable(tier):
    """The comparison above can fail: the other linear_before_reset differs by far more than TOL64."""
    pytest.importorskip("onnx")
    inputs = random_onnx_inputs(0)
    _, Yh_ref = onnx_reference(inputs, hidden_size=5, linear_before_reset=1)
    _, Y_h = run_onnx_gru_with_tier(tier, inputs, hidden_size=5, linear_before_reset=0)
    assert max_abs_diff(Y_h, Yh_ref) > 1e-3


# ------------------------------------------------ ONNX's own GRU test cases

#: The cases onnx 1.23's generator produces; a new one must be looked at, not skipped.
KNOWN_ONNX_CASES = {
    "test_gru_defaults", "test_gru_with_initial_bias", "test_gru_seq_length",
    "test_gru_batchwise", "test_gru_reverse", "test_gru_bidirectional",
}


@pytest.fixture(scope="module")
def onnx_gru_testcases():
    pytest.importorskip("onnx")
    try:
        from onnx.backend.test.case.node import collect_testcases
    except ImportError:  # onnx < 1.23 ships the cases as files instead
        pytest.skip("this onnx has no onnx.backend.test.case.node.collect_testcases")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # other operators' generators warn on import
        cases = collect_testcases("GRU")
    return cases


def _node_attrs(node):
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    for k, v in attrs.items():
        if isinstance(v, bytes):
            attrs[k] = v.decode()
    return attrs


def test_onnx_testcases_are_the_known_ones(onnx_gru_testcases):
    names = {c.name for c in onnx_gru_testcases}
    assert KNOWN_ONNX_CASES <= names, f"missing: {KNOWN_ONNX_CASES - names}"
    # Attributes the composition does not model must not appear unseen.
    for c in onnx_gru_testcases:
        (node,) = c.model.graph.node
        attrs = _node_attrs(node)
        unsupported = set(attrs) - {"hidden_size", "direction", "layout", "linear_before_reset"}
        assert not unsupported, f"{c.name} uses {unsupported}"
        assert "sequence_lens" not in [n for n in node.input if n]


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_tier_reproduces_every_onnx_gru_testcase(tier, onnx_gru_testcases):
    """Every case of ``collect_testcases("GRU")``, float32 as given.

    ONNX's harness accepts rtol=1e-3, atol=1e-7; we also demand an absolute
    difference of at most 5e-7 (a few float32 ulps of 1; measured: 8e-8), and
    that the dtype stays float32.
    """
    assert len(onnx_gru_testcases) >= len(KNOWN_ONNX_CASES)
    for case in onnx_gru_testcases:
        (node,) = case.model.graph.node
        attrs = _node_attrs(node)
        ((inputs, expected),) = case.data_sets
        feeds = {name: arr for name, arr in zip(node.input, inputs) if name}
        outputs = {name: arr for name, arr in zip([o for o in node.output if o], expected)}
        Y, Y_h = run_onnx_gru_with_tier(
            tier, feeds, hidden_size=attrs["hidden_size"],
            direction=attrs.get("direction", "forward"), layout=attrs.get("layout", 0),
            linear_before_reset=attrs.get("linear_before_reset", 0),
        )
        ours = {"Y": Y, "Y_h": Y_h}
        for name, want in outputs.items():
            got = ours[name]
            assert got.dtype == np.float32, (case.name, name, got.dtype)
            assert got.shape == want.shape, (case.name, name, got.shape, want.shape)
            np.testing.assert_allclose(got, want, rtol=case.rtol, atol=case.atol,
                                       err_msg=f"{case.name}: {name} (ONNX harness tolerance)")
            diff = max_abs_diff(got, want)
            assert diff <= 5e-7, f"{case.name}: {name} differs by {diff:.3g}"


# ------------------------------------------------------------------ PyTorch


def _torch_gru(D, H, seed, *, bias=True, bidirectional=False, dtype="float64"):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    gru = torch.nn.GRU(D, H, batch_first=True, bias=bias, bidirectional=bidirectional,
                       dtype=getattr(torch, dtype))
    with torch.no_grad():
        for p in gru.parameters():  # wider than PyTorch's init: saturate some gates
            p.uniform_(-1.5, 1.5)
    return gru


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
@pytest.mark.parametrize("bias", [True, False])
def test_tier_matches_torch_gru(tier, bias):
    torch = pytest.importorskip("torch")
    B, T, D, H = 3, 7, 4, 6
    for seed in range(3):
        gru = _torch_gru(D, H, seed, bias=bias)
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(B, T, D))
        h0 = rng.uniform(-1, 1, (B, H))
        with torch.no_grad():
            out, h_n = gru(torch.from_numpy(x), torch.from_numpy(h0)[None])
        params = GRUParams.from_torch(gru)
        hs, h_T = tier.gru_forward(x, h0, params, reset_after=True)
        assert max_abs_diff(hs, out.numpy()) <= TOL64
        assert max_abs_diff(h_T, h_n[0].numpy()) <= TOL64
        # PyTorch is reset_after=True: the other convention must not pass.
        _, h_wrong = tier.gru_forward(x, h0, params, reset_after=False)
        assert max_abs_diff(h_wrong, h_n[0].numpy()) > 1e-3


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_tier_matches_torch_gru_float32(tier):
    torch = pytest.importorskip("torch")
    B, T, D, H = 2, 5, 3, 4
    gru = _torch_gru(D, H, 7, dtype="float32")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    with torch.no_grad():
        out, h_n = gru(torch.from_numpy(x))
    params = GRUParams.from_torch(gru)
    assert params.dtype == np.float32
    hs, h_T = tier.gru_forward(x, None, params, reset_after=True)
    assert hs.dtype == np.float32 and h_T.dtype == np.float32
    assert max_abs_diff(hs, out.numpy()) <= 1e-5


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_composed_directions_match_torch_bidirectional(tier):
    """A bidirectional torch.nn.GRU is a forward and a reversed tier run, side by side."""
    torch = pytest.importorskip("torch")
    B, T, D, H = 2, 6, 3, 4
    gru = _torch_gru(D, H, 3, bidirectional=True)
    state = gru.state_dict()
    fwd = GRUParams.from_torch({k: v for k, v in state.items() if not k.endswith("_reverse")})
    bwd = GRUParams.from_torch({k[: -len("_reverse")]: v for k, v in state.items()
                                if k.endswith("_reverse")})
    rng = np.random.default_rng(3)
    x = rng.normal(size=(B, T, D))
    h0 = rng.uniform(-1, 1, (2, B, H))
    with torch.no_grad():
        out, h_n = gru(torch.from_numpy(x), torch.from_numpy(h0))
    hs_f, hT_f = tier.gru_forward(x, h0[0], fwd, reset_after=True)
    hs_b, hT_b = tier.gru_forward(x[:, ::-1], h0[1], bwd, reset_after=True)
    ours = np.concatenate([hs_f, hs_b[:, ::-1]], axis=2)
    assert max_abs_diff(ours, out.numpy()) <= TOL64
    assert max_abs_diff(np.stack([hT_f, hT_b]), h_n.numpy()) <= TOL64


@pytest.mark.parametrize("tier", TIERS, ids=TIER_IDS)
def test_gru_step_matches_torch_gru_cell(tier):
    torch = pytest.importorskip("torch")
    B, D, H = 4, 3, 5
    torch.manual_seed(11)
    cell = torch.nn.GRUCell(D, H, dtype=torch.float64)
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-1.5, 1.5)
    params = GRUParams.from_torch({f"{k}_l0": v for k, v in cell.state_dict().items()})
    rng = np.random.default_rng(11)
    x_t = rng.normal(size=(B, D))
    h = rng.uniform(-1, 1, (B, H))
    with torch.no_grad():
        want = cell(torch.from_numpy(x_t), torch.from_numpy(h)).numpy()
    assert max_abs_diff(tier.gru_step(x_t, h, params, reset_after=True), want) <= TOL64


def test_onnx_linear_before_reset_1_is_torch():
    """The two references agree with each other: ONNX lbr=1 through to_onnx is torch.nn.GRU."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    B, T, D, H = 2, 4, 3, 5
    gru = _torch_gru(D, H, 5)
    params = GRUParams.from_torch(gru)
    W, R, Bias = params.to_onnx()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(B, T, D))
    with torch.no_grad():
        out, _ = gru(torch.from_numpy(x))
    Y, _ = onnx_reference({"X": x.transpose(1, 0, 2), "W": W, "R": R, "B": Bias},
                          hidden_size=H, linear_before_reset=1)
    assert max_abs_diff(Y[:, 0].transpose(1, 0, 2), out.numpy()) <= TOL64
