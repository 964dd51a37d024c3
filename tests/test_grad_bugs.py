"""The catalog of broken backward passes (``gru_props.backward.bugs``).

What the gradient checker relies on: every broken backward is far from the
reference on a generic case, equals it wherever its recorded minimum sizes
say it cannot show, differs from every other broken backward, and is named by
``diagnose_gradients`` when (and only when) it reproduces a learner's output.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gru_props import GRUParams, level1
from gru_props.backward.bugs import (
    GRAD_BUGS,
    SMALLEST,
    GradBug,
    Sizes,
    _flawed_backward,
    reference_backward,
)
from gru_props.backward.diagnosis import diagnose_gradients

SPEC_NAMES = {
    "dh_prev_missing_z_path", "truncated_bptt", "grads_not_accumulated", "dz_sign_flipped",
    "tanh_derivative_wrong", "sigmoid_derivative_wrong", "reset_convention_mixed",
    "b_hn_not_gated", "dU_transposed", "dh0_missing", "grads_averaged_over_batch",
}
GENERIC = Sizes(B=2, T=3, D=3, H=4)
BUG_CONV = [(name, ra) for name in GRAD_BUGS for ra in (False, True)]
BUG_CONV_IDS = [f"{name}-{'after' if ra else 'before'}" for name, ra in BUG_CONV]


def case(sizes: Sizes, seed: int, dh_T: bool = True):
    """Random x, h0, params (scale 1, U non-symmetric), dhs, dh_T (zeros when not dh_T)."""
    B, T, D, H = sizes
    rng = np.random.default_rng(seed)
    params = GRUParams.random(D, H, seed=rng, scale=1.0)
    x = rng.normal(size=(B, T, D))
    h0 = rng.uniform(-1, 1, (B, H))
    dhs = rng.normal(size=(B, T, H))
    g_T = rng.normal(size=(B, H)) if dh_T else np.zeros((B, H))
    return x, h0, params, dhs, g_T


def gradients(result):
    dx, dh0, grads = result
    return {"dx": dx, "dh0": dh0, **grads.arrays()}


def worst_relative(a, b) -> float:
    """The largest difference over all gradients, each relative to b's largest element."""
    ga, gb = gradients(a), gradients(b)
    worst = 0.0
    for name, want in gb.items():
        if want.size:
            diff = float(np.max(np.abs(ga[name] - want)))
            worst = max(worst, diff / max(float(np.max(np.abs(want))), 1e-300))
    return worst


def test_catalog_entries_are_complete():
    assert SPEC_NAMES <= set(GRAD_BUGS)
    for name, bug in GRAD_BUGS.items():
        assert isinstance(bug, GradBug) and bug.name == name
        assert bug.summary.endswith(".") and len(bug.summary) > 30, name
        assert len(bug.hints) == 3 and all(isinstance(h, str) and len(h) > 20 for h in bug.hints), name
        assert bug.conventions and set(bug.conventions) <= {False, True}, name
        least = bug.min_sizes_no_dh_T or bug.min_sizes
        for dim in "BTDH":
            assert getattr(bug.min_sizes, dim) >= getattr(SMALLEST, dim), (name, dim)
            assert getattr(least, dim) >= getattr(bug.min_sizes, dim), (name, dim)


def test_flawed_backward_without_flags_is_level1():
    for ra in (False, True):
        c = case(GENERIC, 1)
        assert worst_relative(_flawed_backward(*c, ra), level1.gru_backward(*c, ra)) < 1e-13


@pytest.mark.parametrize("name, reset_after", BUG_CONV, ids=BUG_CONV_IDS)
def test_differs_on_a_generic_case_where_it_applies(name, reset_after):
    bug = GRAD_BUGS[name]
    for seed in range(3):
        c = case(GENERIC, seed)
        err = worst_relative(bug.backward(*c, reset_after), reference_backward(*c, reset_after))
        if bug.applies(reset_after):
            assert err >= 1e-2, f"{name}: worst relative error {err:.3g} on seed {seed}"
        else:
            assert err < 1e-12, f"{name} should be the reference with reset_after={reset_after}"


def _below(least: Sizes):
    """Generic cases with one size just below ``least`` (where that is still a valid case)."""
    for dim in "BTDH":
        low = getattr(least, dim) - 1
        if low >= getattr(SMALLEST, dim):
            yield dim, GENERIC._replace(**{dim: low})


@pytest.mark.parametrize("name, reset_after", BUG_CONV, ids=BUG_CONV_IDS)
def test_recorded_minimum_sizes_hold(name, reset_after):
    """Below its minimum in any one size a bug is invisible; at the minimum it shows."""
    bug = GRAD_BUGS[name]
    if not bug.applies(reset_after):
        pytest.skip("not a bug in this convention")
    settings = [(True, bug.min_sizes), (False, bug.min_sizes_no_dh_T or bug.min_sizes)]
    for with_dh_T, least in settings:
        for _dim, sizes in _below(least):
            assert not bug.can_show(*sizes, dh_T=with_dh_T)
            for seed in range(2):
                c = case(sizes, seed, dh_T=with_dh_T)
                err = worst_relative(bug.backward(*c, reset_after), reference_backward(*c, reset_after))
                assert err < 1e-12, f"{name} shows at {sizes} (dh_T={with_dh_T}): {err:.3g}"
        assert bug.can_show(*least, dh_T=with_dh_T)
        for seed in range(3):
            c = case(least, seed, dh_T=with_dh_T)
            err = worst_relative(bug.backward(*c, reset_after), reference_backward(*c, reset_after))
            assert err >= 1e-6, f"{name} invisible at its minimum {least} (dh_T={with_dh_T}): {err:.3g}"


def test_the_floors_the_notes_name():
    """round2.md section 2: accumulation needs T >= 2, a transposed dU H >= 2, averaging B >= 2."""
    assert GRAD_BUGS["grads_not_accumulated"].min_sizes.T == 2
    assert GRAD_BUGS["dU_transposed"].min_sizes.H == 2
    assert GRAD_BUGS["grads_averaged_over_batch"].min_sizes.B == 2
    assert GRAD_BUGS["truncated_bptt"].min_sizes_no_dh_T.T == 2
    assert GRAD_BUGS["dx_missing_r_path"].min_sizes.D == 1


@pytest.mark.parametrize("reset_after", [False, True], ids=["before", "after"])
def test_bugs_are_distinguishable(reset_after):
    c = case(GENERIC, 4)
    outs = {name: bug.backward(*c, reset_after) for name, bug in GRAD_BUGS.items() if bug.applies(reset_after)}
    for a, b in itertools.combinations(outs, 2):
        assert worst_relative(outs[a], outs[b]) >= 1e-3, f"{a} and {b} give the same gradients"


def _exact(a, b):
    return np.allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, reset_after", BUG_CONV, ids=BUG_CONV_IDS)
def test_diagnosis_names_the_bug(name, reset_after):
    bug = GRAD_BUGS[name]
    if not bug.applies(reset_after):
        pytest.skip("not a bug in this convention")
    cases = [case(GENERIC, 10), case(GENERIC, 11), case(Sizes(3, 2, 2, 3), 12)]
    observations = [c + bug.backward(*c, reset_after) for c in cases]
    assert diagnose_gradients(observations, reset_after, _exact) == name
    # grads as a plain mapping, and float32 answers with a float32-sized tolerance
    as_mapping = [o[:7] + (dict(o[7].arrays()),) for o in observations]
    assert diagnose_gradients(as_mapping, reset_after, _exact) == name
    as_f32 = [o[:5] + (o[5].astype(np.float32), o[6].astype(np.float32), o[7].astype(np.float32))
              for o in observations]
    assert diagnose_gradients(as_f32, reset_after, lambda a, b: np.allclose(a, b, rtol=1e-4, atol=1e-5)) == name


def test_diagnosis_names_nothing_for_right_or_unknown_gradients():
    cases = [case(GENERIC, 20), case(GENERIC, 21)]
    for ra in (False, True):
        right = [c + level1.gru_backward(*c, ra) for c in cases]
        assert diagnose_gradients(right, ra, _exact) is None
        scaled = [o[:5] + (o[5] * 3, o[6], o[7]) for o in right]  # wrong, but no catalogued bug
        assert diagnose_gradients(scaled, ra, _exact) is None
        # a bug that explains the counterexample but not the confirmation case is not named
        bug = GRAD_BUGS["dz_sign_flipped"]
        mixed = [cases[0] + bug.backward(*cases[0], ra), right[1]]
        assert diagnose_gradients(mixed, ra, _exact) is None


def test_none_arrays_mean_zeros():
    x, h0, p, dhs, dh_T = case(GENERIC, 30)
    for name, bug in GRAD_BUGS.items():
        got = bug.backward(x, None, p, None, None, True)
        want = bug.backward(x, np.zeros_like(h0), p, np.zeros_like(dhs), np.zeros_like(dh_T), True)
        assert worst_relative(got, want) == 0.0, name
