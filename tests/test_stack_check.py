"""The stack form of both checks on the stack zoo: every correct stack passes, every bug is caught, each
catalogued one named right, with a bug model that reproduces the function."""

from __future__ import annotations

import numpy as np
import pytest
import stack_zoo

from gru_props import ImplementationError, check_gradients, check_implementation, level1, level3
from gru_props.adapters import torch_module

FAST = dict(profile="ci", max_examples=20)


@pytest.mark.parametrize("fn, kwargs", stack_zoo.CORRECT, ids=lambda v: getattr(v, "__name__", "") or None)
def test_correct_stacks_pass(fn, kwargs):
    report = check_implementation(fn, reset_after=True, **kwargs, **FAST)
    assert report.complete and not report.warnings
    assert "padding_ignored" in report.passed and "sequences_independent" in report.passed


def test_torch_gru_as_a_module_passes():
    pytest.importorskip("torch")
    report = check_implementation(torch_module(stack_zoo.torch_gru_factory), **stack_zoo.STACK, **FAST)
    assert report.reset_after is True and "directions_mirror" in report.passed


@pytest.mark.parametrize("fn, kwargs, name", stack_zoo.BUGGY, ids=lambda v: getattr(v, "__name__", None))
def test_buggy_stacks_are_caught_and_named(fn, kwargs, name):
    with pytest.raises(ImplementationError) as info:
        check_implementation(fn, reset_after=True, **kwargs, **FAST)
    err = info.value
    if name is None:
        assert err.failures  # caught; no catalogued name claimed unless its model reproduces it
        return
    assert name in err.diagnoses, (err.diagnoses, str(err)[:2000])
    model = err.bug_model
    assert model is not None
    case = err.counterexample
    args = (case.x, case.h0, list(case.layers)) + ((case.lengths,) if kwargs.get("lengths") else ())
    got, want = fn(*args), model(*args)
    np.testing.assert_allclose(got[0], want[0], atol=1e-8)
    np.testing.assert_allclose(got[1], want[1], atol=1e-8)
    assert name in str(err)


def test_stack_backward_of_level3_passes_and_a_swapped_one_is_named():
    def backward(x, h0, layers, lengths, dout, dh_n):
        return level3.stack_backward(x, h0, layers, dout, dh_n, bidirectional=True, lengths=lengths,
                                     reset_after=True)

    report = check_gradients(backward, reset_after=True, **stack_zoo.STACK, **FAST)
    assert "gradients_match_reference" in report.passed and "padding_gets_no_gradient" in report.passed

    def swapped(x, h0, layers, lengths, dout, dh_n):  # dh_n read with its directions exchanged
        dh_n = dh_n[[1, 0, 3, 2]]
        return level1.stack_backward(x, h0, layers, dout, dh_n, bidirectional=True, lengths=lengths,
                                     reset_after=True)

    with pytest.raises(ImplementationError) as info:
        check_gradients(swapped, reset_after=True, **stack_zoo.STACK, **FAST)
    assert info.value.diagnoses == ("directions_swapped",), str(info.value)[:1500]


def test_stack_arguments_are_checked():
    with pytest.raises(ValueError, match="padding"):
        check_implementation(stack_zoo.loop_with_flips, lengths=True, padding="sometimes")
    with pytest.raises(ValueError, match="lengths=True"):
        check_implementation(stack_zoo.loop_with_flips, padding="hold")
    with pytest.raises(TypeError, match="num_layers"):
        check_implementation(stack_zoo.loop_with_flips, num_layers=2.0)
    with pytest.raises(ValueError, match="step=True"):
        check_implementation(stack_zoo.loop_with_flips, num_layers=2, step=True)
