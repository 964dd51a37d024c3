"""The public strategies: eager argument checks, bounds respected, readable shrinking."""

import numpy as np
import pytest
from hypothesis import find, given, settings

from gru_props import GRUCase, GRUParams
from gru_props import strategies as gst


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: gst.dims(min_batch=3, max_batch=1), ValueError, "min_batch=3 is greater than max_batch=1"),
        (lambda: gst.dims(max_hidden=0), ValueError, "max_hidden"),
        (lambda: gst.dims(min_time=1.5), TypeError, "min_time"),
        (lambda: gst.dims(max_elements=3), ValueError, "max_elements=3"),
        (lambda: gst.values(-1.0), ValueError, "magnitude"),
        (lambda: gst.values(dtype=np.int32), TypeError, "dtype"),
        (lambda: gst.extreme_values([]), ValueError, "magnitudes"),
        (lambda: gst.gru_params(2, 0), ValueError, "H"),
        (lambda: gst.gru_params(2, 2, elements=[1.0]), TypeError, "elements"),
        (lambda: gst.gru_cases((1, 2, 3, 4)), TypeError, "shapes"),
        (lambda: gst.gru_cases(h0_magnitude=-1), ValueError, "h0_magnitude"),
        (lambda: gst.seeded_gru_cases(scale=float("nan")), ValueError, "scale"),
    ],
)
def test_bad_arguments_fail_when_the_strategy_is_made(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


@settings(max_examples=50)
@given(gst.dims(min_batch=2, max_batch=3, min_time=1, max_time=2, max_input=2, max_hidden=5, max_elements=150))
def test_dims_respect_bounds_and_cap(d):
    assert 2 <= d.B <= 3 and 1 <= d.T <= 2 and 1 <= d.D <= 2 and 1 <= d.H <= 5
    assert d.B * d.T * d.D + d.B * d.H + 3 * d.D * d.H + 3 * d.H * d.H + 4 * d.H <= 150


@settings(max_examples=40)
@given(gst.gru_cases(gst.dims(max_time=3), dtype=gst.float_dtypes()))
def test_cases_are_consistent_and_bounded(case):
    assert isinstance(case, GRUCase) and isinstance(case.params, GRUParams)
    assert case.x.shape == (case.B, case.T, case.D) and case.h0.shape == (case.B, case.H)
    assert case.x.dtype == case.h0.dtype == case.params.dtype
    assert np.all(np.abs(case.h0) <= 1) and np.all(np.abs(case.x) <= 3)


def test_extreme_values_reach_1e4_and_shrink_to_the_smallest_that_fails():
    assert find(gst.extreme_values(), lambda v: abs(v) >= 1e4, settings=settings(database=None)) == 1e4
    assert find(gst.extreme_values(), lambda v: v <= -40, settings=settings(database=None)) == -50.0


@settings(max_examples=30)
@given(gst.extreme_gru_cases(gst.dims(max_time=2, max_input=2, max_hidden=2), dtype=np.float32))
def test_extreme_cases_mix_ordinary_and_extreme_values(case):
    allowed_big = {1e4, 1e3, 100.0, 50.0}
    for a in [case.x, *case.params.arrays().values()]:
        big = np.abs(a[np.abs(a) > 3])
        assert set(big.tolist()) <= allowed_big
    assert case.x.dtype == np.float32 and np.all(np.abs(case.h0) <= 1)


def test_element_wise_cases_shrink_to_one_readable_entry():
    # "W_z has an entry above 2": the minimal case keeps one such entry, all else 0
    small = gst.dims(max_time=2, max_input=2, max_hidden=2)
    case = find(gst.gru_cases(small), lambda c: (c.params.W_z > 2).any(), settings=settings(database=None))
    assert (case.B, case.T, case.D, case.H) == (1, 0, 1, 1)
    assert 2 < case.params.W_z[0, 0] <= 3  # bounded floats shrink towards the bound
    others = [v for k, v in case.params.arrays().items() if k != "W_z"]
    assert all(not np.any(v) for v in others)


def test_seeded_cases_are_reproducible_and_large():
    strat = gst.seeded_gru_cases(gst.Dims(8, 50, 16, 32), dtype=np.float32)
    case = find(strat, lambda c: True, settings=settings(database=None))
    assert (case.B, case.T, case.D, case.H) == (8, 50, 16, 32) and case.x.dtype == np.float32
    again = find(strat, lambda c: True, settings=settings(database=None))
    np.testing.assert_array_equal(case.x, again.x)


def test_gru_case_without_removes_one_index_everywhere():
    case = find(gst.seeded_gru_cases(gst.Dims(2, 3, 2, 3)), lambda c: True, settings=settings(database=None))
    smaller = case.without("H", 1)
    assert smaller.H == 2 and smaller.params.U_n.shape == (2, 2) and smaller.h0.shape == (2, 2)
    np.testing.assert_array_equal(smaller.params.U_z, case.params.U_z[[0, 2]][:, [0, 2]])
    assert case.without("T", 0).T == 2 and case.without("B", 1).B == 1 and case.without("D", 0).D == 1
    with pytest.raises(ValueError, match="axis"):
        case.without("Q", 0)
