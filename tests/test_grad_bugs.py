"""The catalog of broken backward passes (``gru_props.backward.bugs``).

What the gradient checker relies on: every broken backward is far from the
reference on a generic case, equals it wherever its recorded minimum sizes
say it cannot show, differs from every other broken backward, and is named by
``check_gradients`` when (and only when) its model reproduces the learner's output.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gru_props import GRUParams, ImplementationError, check_gradients, level1
from gru_props.backward.bugs import (
    GRAD_BUGS,
    SMALLEST,
    GradBug,
    Sizes,
    reference_backward,
)
from gru_props.backward.terms import backward as slipped_backward

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


def test_the_chain_rule_without_slips_is_level1():
    for ra in (False, True):
        c = case(GENERIC, 1)
        assert worst_relative(slipped_backward(*c, ra), level1.gru_backward(*c, ra)) < 1e-13


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


def _through_check(name, reset_after, as_mapping=False, dtype=np.float64):
    """check_gradients on the catalogued bug's backward; the raised error."""
    bug = GRAD_BUGS[name]

    def backward(x, h0, params, dhs, dh_T):
        dx, dh0, g = bug.backward(x, h0, params, dhs, dh_T, reset_after)
        grads = dict(g.astype(dtype).arrays()) if as_mapping else g.astype(dtype)
        return dx.astype(dtype), dh0.astype(dtype), grads

    with pytest.raises(ImplementationError) as info:
        check_gradients(backward, reset_after=reset_after, profile="ci", properties=["gradients_match_reference"])
    return info.value


@pytest.mark.parametrize("name, reset_after", BUG_CONV, ids=BUG_CONV_IDS)
def test_the_check_names_the_bug_and_its_model_reproduces_it(name, reset_after):
    bug = GRAD_BUGS[name]
    if not bug.applies(reset_after):
        pytest.skip("not a bug in this convention")
    # grads as a plain mapping in one convention, float32 answers (float32 tolerance) in the other
    err = _through_check(name, reset_after, as_mapping=not reset_after,
                         dtype=np.float32 if reset_after else np.float64)
    assert err.diagnosis == name and err.diagnoses == (name,), str(err)
    c = case(Sizes(3, 2, 2, 3), 12)
    got, want = err.bug_model(*c), bug.backward(*c, reset_after)
    assert worst_relative(got, want) < 1e-9, name


def test_no_name_for_right_or_uncatalogued_gradients():
    for ra in (False, True):
        report = check_gradients(lambda *a, ra=ra: level1.gru_backward(*a, ra), reset_after=ra, profile="ci")
        assert "gradients_match_reference" in report.passed

        def scaled(*a, ra=ra):  # wrong, but no catalogued bug or combination of slips scales dx by 3
            dx, dh0, g = level1.gru_backward(*a, ra)
            return dx * 3, dh0, g

        with pytest.raises(ImplementationError) as info:
            check_gradients(scaled, reset_after=ra, profile="ci")
        assert info.value.diagnoses == () and info.value.bug_model is None, str(info.value)


def test_none_arrays_mean_zeros():
    x, h0, p, dhs, dh_T = case(GENERIC, 30)
    for name, bug in GRAD_BUGS.items():
        got = bug.backward(x, None, p, None, None, True)
        want = bug.backward(x, np.zeros_like(h0), p, np.zeros_like(dhs), np.zeros_like(dh_T), True)
        assert worst_relative(got, want) == 0.0, name
