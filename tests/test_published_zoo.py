"""Tests of the zoo of published look-alikes (tests/published), not of the checker.

Every correct entry's glue agrees with gru_props.level1 in its own convention
(reset_after, interpolation: Chung's form is the standard GRU with W_z, U_z,
b_z negated; bias-free means zero biases) to 1e-10 in float64 on seeded cases
of unequal sizes; every buggy entry differs from it by more than 1e-3 on at
least one of them. Backward entries are compared on the gradients of
L = sum(hs * dhs) + sum(h_T * dh_T) with level1.gru_backward.
"""

import inspect
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")  # several look-alikes are torch code

from published import ENTRIES, STYLES

from gru_props import GRUParams, level1
from gru_props.adapters import TiedGradientError

# (B, T, D, H, seed): D != H, B >= 2, T >= 3; the last has B == H, the only
# shape on which the matmul-for-Hadamard look-alike runs at all.
CASES = [(2, 3, 3, 5, 0), (3, 4, 5, 2, 1), (4, 3, 2, 4, 2)]
SATURATED = (2, 3, 3, 4, 3)  # inputs scaled so that pre-activations pass |a| = 710

FORWARD = [e for e in ENTRIES if e.kind == "forward"]
BACKWARD = [e for e in ENTRIES if e.kind == "backward"]
Z_FIELDS = ("W_z", "U_z", "b_z")
BIASES = ("b_z", "b_r", "b_n", "b_hn")


def _case(entry, B, T, D, H, seed, x_scale=1.0):
    rng = np.random.default_rng(1000 + seed)
    p = GRUParams.random(D, H, seed=seed, scale=0.9)
    if not entry.check_kwargs.get("bias", True):
        p = p.replace(**{b: np.zeros(H) for b in BIASES})
    x = rng.normal(size=(B, T, D)) * x_scale
    h0 = np.zeros((B, H)) if entry.zero_h0_only else rng.uniform(-1, 1, size=(B, H))
    dhs, dh_T = rng.normal(size=(B, T, H)), rng.normal(size=(B, H))
    return p, x, h0, dhs, dh_T


def _reference_params(entry, p):
    """The standard-form parameters the entry's GRU equals (Chung: z relabelled)."""
    if entry.check_kwargs.get("interpolation") == "chung":
        return p.replace(**{k: -getattr(p, k) for k in Z_FIELDS})
    return p


def _rel(got, want):
    """Largest |got - want| relative to max(1, |want|); inf for a wrong shape or a non-finite value."""
    if got is None:
        return np.inf
    got = np.asarray(got)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return np.inf
    return float(np.max(np.abs(got - want), initial=0.0)) / max(1.0, float(np.max(np.abs(want), initial=0.0)))


def _tol(got):
    """1e-10 in float64; an array the entry returns in float32 (DLFS2's dtype='f' buffers) gets float32's."""
    return 2e-6 if np.asarray(got).dtype == np.float32 else 1e-10


def _forward_pairs(entry, p, x, h0):
    """(got, want) for every output the glue returns, against level1 in the entry's convention."""
    ra = entry.check_kwargs.get("reset_after", False)
    q = _reference_params(entry, p)
    if entry.check_kwargs.get("step"):
        pairs, h = [], h0
        for t in range(x.shape[1]):
            want = level1.gru_step(x[:, t], h, q, reset_after=ra)
            pairs.append((entry.glue(x[:, t], h, p), want))
            h = want
        return pairs
    hs, h_T = level1.gru_forward(x, h0, q, reset_after=ra)
    out = entry.glue(x, h0, p)
    if isinstance(out, tuple):
        return [(out[0], hs), (out[1], h_T)]
    return [(out, hs)]


def _backward_pairs(entry, p, x, h0, dhs, dh_T):
    """(got, want) for dx, dh0 and every parameter gradient."""
    ra = entry.check_kwargs.get("reset_after", False)
    bias = entry.check_kwargs.get("bias", True)
    q = _reference_params(entry, p)
    if entry.check_kwargs.get("step"):
        dx, dh0, grads = entry.glue(x[:, 0], h0, p, dhs[:, 0])
        wdx, wdh0, wg = level1.gru_backward(x[:, :1], h0, q, dhs[:, :1], None, reset_after=ra)
        wdx = wdx[:, 0]
    else:
        dx, dh0, grads = entry.glue(x, h0, p, dhs, dh_T)
        wdx, wdh0, wg = level1.gru_backward(x, h0, q, dhs, dh_T, reset_after=ra)
    want = dict(wg.arrays())
    if entry.check_kwargs.get("interpolation") == "chung":
        want.update({k: -want[k] for k in Z_FIELDS})
    got = dict(grads.arrays()) if isinstance(grads, GRUParams) else dict(grads)
    pairs = [(dx, wdx)] + ([] if entry.zero_h0_only else [(dh0, wdh0)])
    for k, w in want.items():
        if k in BIASES and not bias:
            if k in got:
                pairs.append((got[k], np.zeros_like(w)))
            continue
        pairs.append((got.get(k), w))
    return pairs


def _quietly(fn, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*args)


@pytest.mark.parametrize("entry", [e for e in FORWARD if e.correct], ids=lambda e: e.name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "B%dT%dD%dH%d" % c[:4])
def test_correct_forward_agrees_with_level1(entry, case):
    p, x, h0, _, _ = _case(entry, *case)
    for got, want in _quietly(_forward_pairs, entry, p, x, h0):
        assert _rel(got, want) <= _tol(got)


@pytest.mark.parametrize("entry", [e for e in BACKWARD if e.correct], ids=lambda e: e.name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "B%dT%dD%dH%d" % c[:4])
def test_correct_backward_agrees_with_level1(entry, case):
    p, x, h0, dhs, dh_T = _case(entry, *case)
    for got, want in _quietly(_backward_pairs, entry, p, x, h0, dhs, dh_T):
        assert _rel(got, want) <= _tol(got)


def _buggy_differences(entry):
    diffs = []
    cases = [(c, 1.0) for c in CASES] + ([(SATURATED, 400.0)] if entry.kind == "forward" else [])
    for case, x_scale in cases:
        p, x, h0, dhs, dh_T = _case(entry, *case, x_scale=x_scale)
        try:
            if entry.kind == "forward":
                pairs = _quietly(_forward_pairs, entry, p, x, h0)
            else:
                pairs = _quietly(_backward_pairs, entry, p, x, h0, dhs, dh_T)
            diffs.append(max(_rel(g, w) for g, w in pairs))
        except TiedGradientError as err:
            # torch_layout refused two gradients of one field that disagree (bias_ih[z] vs bias_hh[z]);
            # one of them is the right one, so their gap is the error of the other
            a, b = err.values
            diffs.append(abs(a - b) / max(1.0, abs(a), abs(b)))
        except Exception:  # a buggy look-alike may crash on some shapes (e.g. B != H)
            continue
    return diffs


@pytest.mark.parametrize("entry", [e for e in ENTRIES if not e.correct], ids=lambda e: e.name)
def test_buggy_entry_differs_from_level1(entry):
    diffs = _buggy_differences(entry)
    assert diffs and max(diffs) > 1e-3, f"{entry.name}: largest difference {max(diffs, default=None)}"


def _glue_block(entry):
    source = inspect.getsource(entry.module)
    m = re.search(rf"^# glue: {re.escape(entry.name)}\n(.*?)^# end glue$", source, re.S | re.M)
    assert m, f"no glue block for {entry.name} in {entry.module.__name__}"
    return m.group(1)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_glue_lines_match_the_glue_block(entry):
    lines = [ln for ln in _glue_block(entry).splitlines()
             if ln.strip() and not ln.strip().startswith("#") and not re.match(r"\s*(import|from)\s", ln)]
    assert len(lines) == entry.glue_lines, "\n".join(lines)


def test_registry_is_well_formed():
    names = [e.name for e in ENTRIES]
    assert len(names) == len(set(names))
    assert sum(e.kind == "forward" for e in ENTRIES) >= 14 and sum(e.kind == "backward" for e in ENTRIES) >= 14
    for e in ENTRIES:
        assert e.kind in ("forward", "backward"), e.name
        assert e.style in STYLES, e.name
        assert bool(e.slips) == (not e.correct), e.name
        assert "/work" not in e.imitates and not e.imitates.startswith("/"), e.name
        assert set(e.check_kwargs) <= {"step", "interpolation", "reset_after", "bias"}, e.name
        assert e.native() is not None, e.name
        assert callable(e.glue), e.name


# ------------------------------------------------------------------ the checker's verdicts on the zoo
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_the_checker_passes_every_correct_entry_and_rejects_every_buggy_one(entry):
    """Issue 15's acceptance on the zoo, as a user would check each entry (code with no initial state
    through ``no_initial_state``): correct ones pass, buggy ones are rejected."""
    from gru_props import ImplementationError, check_gradients, check_implementation

    check = check_implementation if entry.kind == "forward" else check_gradients
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            check(entry.checked, profile="ci", **entry.check_kwargs)
        except ImplementationError as err:
            if entry.correct and entry.known_failure[0]:  # rightly: say why, and fail on nothing else
                assert [f.property for f in err.failures] == [entry.known_failure[0]], str(err)[:3000]
                assert "nan" in str(err).lower()
                return
            assert not entry.correct, f"{entry.name} is correct but was rejected:\n{str(err)[:3000]}"
        else:
            assert entry.correct and not entry.known_failure[0], f"{entry.name} passed: {entry.slips}"
