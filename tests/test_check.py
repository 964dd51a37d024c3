"""check_implementation on the zoo: every bug caught and named, every correct GRU accepted.

The zoo (tests/zoo.py) holds GRUs written the way learners write them
(per-example loops, float64 buffers, stacked weights, step functions, Chung's
interpolation, no biases) and the mistakes they make, including ones that
only show at ordinary sizes, a crash at T = 0 with and without a value bug,
mixed precision, flaky answers and writes into read-only arrays.
"""

import functools

import numpy as np
import pytest
import zoo

from gru_props import CheckReport, GRUParams, ImplementationError, check_implementation, level3

EXPECTED_CONVENTION = {
    "loop_gru": (False, "standard"),
    "torch_style_gru": (True, "standard"),
    "einsum_gru": (False, "standard"),
    "float32_gru": (True, "standard"),
    "clipped_sigmoid_gru": (True, "standard"),
    "step_gru": (False, "standard"),
    "per_example_gru": (False, "standard"),
    "per_example_gru_after": (True, "standard"),
    "stacked_float32_compute": (False, "standard"),
    "stacked_float32_compute_after": (True, "standard"),
    "step_after_float64_buffer": (True, "standard"),
    "chung_gru": (False, "chung"),
    "chung_gru_detected": (False, "chung"),
    "bias_free_gru": (False, "standard"),
    "none_and_empty_gru": (False, "standard"),
    "none_and_empty_gru_after": (True, "standard"),
    "callable_instance": (False, "standard"),
    "crashes_on_empty": (False, "standard"),
}
# Warnings a correct GRU may earn without being wrong (strict=False).
ALLOWED_WARNINGS = {"accepts_h0_none", "dtype_preserved", "empty_sequence"}


@functools.lru_cache(maxsize=None)
def outcome(name):
    """The check's result on a zoo entry (computed once per test session)."""
    if name in zoo.CORRECT:
        fn, kwargs = zoo.CORRECT[name]
    else:
        fn, kwargs, _, _ = zoo.BUGGY[name]
    try:
        return check_implementation(fn, profile="ci", **kwargs)
    except ImplementationError as err:
        str(err)
        return err


def test_zoo_expectations_cover_every_correct_gru():
    assert set(EXPECTED_CONVENTION) == set(zoo.CORRECT)


@pytest.mark.parametrize("name", sorted(zoo.CORRECT))
def test_correct_gru_passes(name):
    report = outcome(name)
    assert isinstance(report, CheckReport), str(report)
    assert (report.reset_after, report.interpolation) == EXPECTED_CONVENTION[name]
    statuses = {p.name: p.status for p in report.properties}
    if report.step:  # a step function returns no h_T and is never called with T = 0
        assert len(statuses) == 11 and not {"final_state_is_last", "empty_sequence"} & set(statuses)
    else:
        assert len(statuses) == 13
        final = statuses.pop("final_state_is_last")
        assert final in ("passed", "n/a")
    for prop, status in statuses.items():
        assert status == "passed" or (status == "warning" and prop in ALLOWED_WARNINGS), (prop, status)
    assert report.complete and report.calls > 0
    assert all(n >= 10 for n in report.examples.values()), report.examples


@pytest.mark.parametrize("name", sorted(zoo.BUGGY))
def test_buggy_gru_is_caught_and_named(name):
    from gru_props.forward.terms import describe

    _, _, prop, diagnosis = zoo.BUGGY[name]
    err = outcome(name)
    assert isinstance(err, ImplementationError), f"{name} passed:\n{err}"
    assert isinstance(err, AssertionError)
    assert (err.property, err.diagnosis) == (prop, diagnosis), str(err)
    expected = zoo.EXPLAINED.get(name, (diagnosis,) if diagnosis and describe(diagnosis) else ())
    assert err.diagnoses == expected, str(err)
    assert (err.bug_model is None) == (not expected)
    case = err.counterexample
    assert all(isinstance(v, int) for v in (case.B, case.T, case.D, case.H))
    text = str(err)
    assert f"failed property '{prop}'" in text
    assert f"B={case.B}, T={case.T}, D={case.D}, H={case.H}" in text
    assert err.failures[0].property == prop
    if diagnosis is not None:
        assert f"Diagnosis: {diagnosis}" in text
        assert len(err.hints) == 3


def test_failures_are_ordered_most_informative_first():
    ranks = {"value": 1, "behaviour": 2, "edge": 3, "contract": 4}
    for name in zoo.BUGGY:
        err = outcome(name)
        keys = [0 if (f.kind == "value" and f.diagnosis) else ranks[f.kind] for f in err.failures]
        assert keys == sorted(keys), (name, [(f.property, f.kind, f.diagnosis) for f in err.failures])


def test_reversed_interpolation_shrinks_to_a_readable_case_and_cites_chung():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.reversed_interpolation, profile="ci", hints=3)
    err = info.value
    c = err.counterexample
    assert (c.B, c.T, c.D, c.H) == (1, 1, 1, 1)
    nonzero = [name for name, a in c.named_arrays() if np.any(a)]
    assert len(nonzero) <= 3, nonzero
    assert any(name in nonzero for name in ("params.b_z", "params.W_z", "params.U_z")), nonzero
    text = str(err)
    assert "Chung et al." in text and "z * h_{t-1} + (1 - z) * n_t" in text
    assert "interpolation='chung'" in text
    assert "Hint 3:" in text
    mm = err.mismatch
    assert mm is not None and mm.worst_abs_index == (0, 0, 0)
    np.testing.assert_array_equal(err.got, zoo.reversed_interpolation(c.x, c.h0, c.params)[0])
    ra = err.reset_after
    ref = zoo.loop_gru(c.x, c.h0, c.params) if not ra else zoo.clipped_sigmoid_gru(c.x, c.h0, c.params)
    np.testing.assert_allclose(err.expected, ref[0], rtol=1e-12)


def test_bugs_that_need_ordinary_sizes_are_found_and_not_claimed_smaller():
    chunked = outcome("chunked_state_drop").counterexample
    assert chunked.T == 5, "a state dropped every 4 steps shows first at T = 5"
    wide = outcome("wrong_from_four_units").counterexample
    assert wide.H == 4, "a bug from the 4th hidden unit on shows first at H = 4"


def test_default_sizes_reach_ordinary_shapes_and_can_be_changed():
    report = outcome("loop_gru")
    assert report.largest["T"] >= 16 and report.largest["B"] >= 5
    assert report.largest["D"] >= 8 and report.largest["H"] >= 8
    small = check_implementation(zoo.loop_gru, profile="ci", properties=["matches_reference"],
                                 sizes={"T": 6, "H": 5})
    assert small.largest["T"] <= 6 and small.largest["H"] <= 5
    with pytest.raises(ValueError, match="sizes"):
        check_implementation(zoo.loop_gru, sizes={"X": 3})
    with pytest.raises(TypeError, match="sizes"):
        check_implementation(zoo.loop_gru, sizes=7)


def test_a_crash_at_t0_is_a_warning_as_torch_raises_there_too_and_never_hides_a_value_bug():
    report = outcome("crashes_on_empty")
    assert isinstance(report, CheckReport)
    assert {p.name: p.status for p in report.properties}["empty_sequence"] == "warning"
    warning = next(w for w in report.warnings if w.startswith("empty_sequence"))
    assert "np.stack" in warning and "torch.nn.GRU raises" in warning and "strict=True" in warning
    err = outcome("crashes_on_empty_strict")  # strict=True: a failure (as is its refusal of h0=None)
    assert err.property == "empty_sequence" and {f.property for f in err.failures} <= {"empty_sequence",
                                                                                      "accepts_h0_none"}
    assert "np.stack" in str(err) and "zoo.py" in str(err)
    assert "matches_reference" in err.report.passed
    both = outcome("stack_crash_reversed")
    assert both.failures[0].property == "matches_reference"
    assert any(w.property == "empty_sequence" for w in both.warnings)


def test_t0_answered_in_another_dtype_than_t1_is_a_failure_even_when_not_strict():
    err = outcome("float64_only_at_empty")
    assert err.property == "empty_sequence" and err.failures[0].kind == "contract"
    assert "with one step it returns float32" in str(err)


def test_user_exceptions_point_at_the_users_own_line():
    text = str(outcome("crashes_on_empty_strict"))
    assert "at tests/zoo.py:" in text or "zoo.py:" in text.split("raised")[1]
    assert "return np.stack(states, axis=1), h" in text
    assert "inside numpy" in text


def test_detected_conventions_never_report_a_case_the_function_gets_right_in_its_own_convention():
    for name in ("reversed_interpolation", "gates_swapped", "wrong_from_four_units", "chunked_state_drop",
                 "batch_mixing", "time_reversed"):
        assert "reset_after" not in zoo.BUGGY[name][1]
        err = outcome(name)
        for failure in err.failures:
            if failure.distances:
                assert len(failure.distances) == 2, (name, failure.property)
                assert all(d > 1e-6 for d in failure.distances.values()), (name, failure.distances)


def test_the_report_says_how_well_each_convention_fitted():
    report = outcome("per_example_gru_after")
    agreed, compared = report.fits["reset_after=True"]
    other, _ = report.fits["reset_after=False"]
    assert compared >= 30 and agreed == compared and other < compared
    assert "agreement with each candidate convention" in str(report)


def test_chung_interpolation_is_a_convention_when_asked_or_detected():
    assert outcome("chung_gru").interpolation == "chung"
    assert outcome("chung_gru_detected").interpolation == "chung"
    err = outcome("standard_when_chung_asked")
    assert "was asked for (interpolation='chung')" in str(err)
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.chung_gru, profile="ci", properties=["matches_reference"])
    assert info.value.diagnosis == "reversed_interpolation"


def test_bias_false_checks_every_property_with_zero_biases():
    report = outcome("bias_free_gru")
    assert {p.name for p in report.properties if p.status == "passed"} >= {
        "update_gate_saturation", "reset_gate_zero", "matches_reference"}
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.bias_free_gru, profile="ci", properties=["matches_reference"])
    assert info.value.property == "matches_reference"


def test_tolerance_follows_the_least_precise_dtype():
    # float32 computed, float64 buffer: the float32 rounding is not a bug.
    report = outcome("stacked_float32_compute")
    assert "matches_reference" in report.passed
    assert any(w.startswith("dtype_preserved: float32 inputs came back as float64") for w in report.warnings)
    # float64 input answered in float32: a warning too, and a failure when strict.
    assert any("float64 inputs came back as float32" in w for w in outcome("float32_gru").warnings)
    err = outcome("float64_buffer_strict")
    assert err.property == "dtype_preserved"


def test_h0_none_is_passed_and_mishandling_it_is_a_wrong_value():
    assert any(w.startswith("accepts_h0_none") for w in outcome("loop_gru").warnings)
    err = outcome("none_as_ones")
    assert err.failures[0].kind == "value"
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.loop_gru, profile="ci", strict=True, properties=["accepts_h0_none"])
    assert info.value.property == "accepts_h0_none"


def test_non_finite_output_blames_overflow_only_at_large_inputs():
    small = outcome("nan_at_zero")
    assert "not an overflow" in str(small) and "0/0" in str(small)
    big = outcome("nan_sigmoid")
    assert "overflow" in str(big) and "not an overflow" not in str(big)


def test_flaky_functions_are_nondeterministic_not_a_crash_of_the_checker():
    err = outcome("flaky")
    assert err.diagnosis == "nondeterministic"
    assert sum(f.diagnosis == "nondeterministic" for f in err.failures) == 1


def test_writing_into_read_only_params_is_a_mutation_with_a_copy_hint():
    err = outcome("clips_params_in_place")
    assert err.property == "inputs_unchanged" and err.diagnosis == "input_mutated"
    assert "read-only" in str(err) and "copy" in " ".join(err.hints).lower()


def test_exit_inside_the_function_is_a_finding():
    err = outcome("exits_process")
    assert "sys.exit(0)" in str(err)

    def hard_exit(x, h0, p):
        import os
        os._exit(0)

    with pytest.raises(ImplementationError, match=r"os\._exit\(0\)"):
        check_implementation(hard_exit, profile="ci", max_examples=3)


def test_time_major_output_is_named_not_just_a_shape_error():
    err = outcome("time_major_output")
    assert err.diagnosis == "time_major_output"
    assert any(f.property == "output_contract" and "time-major" in f.message for f in err.failures)


def test_counterexample_is_what_the_function_received():
    err = outcome("reset_gate_ignored")
    c = err.counterexample
    hs, _ = zoo.reset_gate_ignored(c.x, c.h0, c.params)
    np.testing.assert_array_equal(hs, err.got)
    ref, _ = level3.gru_forward(c.x, c.h0, c.params, reset_after=err.reset_after)
    np.testing.assert_allclose(ref, err.expected, rtol=1e-12, atol=1e-12)


def test_overflow_warnings_are_noted_not_failed():
    assert any("overflow encountered in exp" in note for note in outcome("loop_gru").notes)
    assert not any("overflow" in note for note in outcome("einsum_gru").notes)


def test_demanding_the_other_convention_fails_with_its_name():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.loop_gru, reset_after=True, profile="ci", properties=["matches_reference"])
    assert info.value.diagnosis == "wrong_reset_convention"
    report = check_implementation(zoo.loop_gru, reset_after=False, profile="ci",
                                  properties=["matches_reference"])
    assert report.reset_after is False and not report.convention_detected


def test_the_library_tiers_pass_their_own_checker():
    for ra in (False, True):
        report = check_implementation(
            lambda x, h0, p, ra=ra: level3.gru_forward(x, h0, p, reset_after=ra),
            profile="ci", max_examples=20, strict=True,
        )
        assert report.reset_after is ra and not report.warnings


def test_report_text_counts_what_it_shows():
    report = outcome("torch_style_gru")  # returns hs only: final_state_is_last is n/a
    text = str(report)
    counted = sum(p.status != "n/a" for p in report.properties)
    assert f"passed {len(report.passed)} of {counted} properties" in text
    na_line = next(line for line in text.splitlines() if "final_state_is_last" in line)
    assert "N/A" in na_line and "examples" not in na_line


def test_step_functions_are_folded_over_time():
    report = check_implementation(zoo.step_gru, step=True, profile="ci", properties=["matches_reference"])
    assert report.step and report.reset_after is False
    with pytest.raises(ValueError, match="does not apply to a step function"):
        check_implementation(zoo.step_gru, step=True, properties=["final_state_is_last"])
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.loop_gru, step=True, profile="ci", properties=["output_contract"])
    assert "expected h_t of shape (B, H)" in str(info.value) or "raised" in str(info.value)


def test_forgetting_step_true_gets_a_hint():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.step_gru, profile="ci", max_examples=5)
    assert "pass step=True" in str(info.value)


def test_params_passed_to_the_function_are_read_only_copies():
    seen = []

    def spy(x, h0, params):
        seen.append(params)
        return level3.gru_forward(x, h0, params)

    check_implementation(spy, profile="ci", properties=["matches_reference"], max_examples=5)
    assert all(isinstance(p, GRUParams) for p in seen)
    assert not seen[-1].W_z.flags.writeable


def test_torch_tensors_requiring_grad_are_accepted():
    torch = pytest.importorskip("torch")

    def torch_gru(x, h0, p):
        hs, h = zoo.loop_gru(x, h0, p)
        return torch.tensor(hs, requires_grad=True), torch.tensor(h, requires_grad=True)

    report = check_implementation(torch_gru, profile="ci", properties=["matches_reference"], max_examples=5)
    assert report.passed == ["matches_reference"]
