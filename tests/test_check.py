"""check_implementation on the zoo: every bug caught and named, every correct GRU accepted."""

import numpy as np
import pytest

import zoo
from gru_props import (
    CheckReport,
    GRUParams,
    ImplementationError,
    check_implementation,
    implementation_tests,
    level3,
)
from gru_props.check import _digest

EXPECTED_CONVENTION = {
    "loop_gru": False,
    "torch_style_gru": True,
    "einsum_gru": False,
    "float32_gru": True,
    "clipped_sigmoid_gru": True,
    "step_gru": False,
}


@pytest.mark.parametrize("name", sorted(zoo.CORRECT))
def test_correct_gru_passes(name):
    fn, kwargs = zoo.CORRECT[name]
    report = check_implementation(fn, profile="ci", **kwargs)
    assert isinstance(report, CheckReport)
    assert report.reset_after is EXPECTED_CONVENTION[name]
    returns_h_T = name not in ("torch_style_gru", "step_gru")
    statuses = {p.name: p.status for p in report.properties}
    assert len(statuses) == 10
    assert statuses.pop("final_state_is_last") == ("passed" if returns_h_T else "n/a")
    assert set(statuses.values()) == {"passed"}
    assert all(n >= 30 for n in report.examples.values()), report.examples
    assert f"passed {10 if returns_h_T else 9} properties" in str(report)


@pytest.mark.parametrize("name", sorted(zoo.BUGGY))
def test_buggy_gru_is_caught_and_named(name):
    fn, kwargs, prop, diagnosis = zoo.BUGGY[name]
    with pytest.raises(ImplementationError) as info:
        check_implementation(fn, profile="ci", **kwargs)
    err = info.value
    assert isinstance(err, AssertionError)
    assert (err.property, err.diagnosis) == (prop, diagnosis), str(err)
    case = err.counterexample
    assert all(isinstance(v, int) for v in (case.B, case.T, case.D, case.H))
    text = str(err)
    assert f"failed property '{prop}'" in text
    assert f"B={case.B}, T={case.T}, D={case.D}, H={case.H}" in text
    assert "Reproduce with plain NumPy" in text
    if diagnosis is not None:
        assert f"Diagnosis: {diagnosis}" in text
        assert len(err.hints) == 3


def test_reversed_interpolation_shrinks_to_one_of_everything_and_cites_chung():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.reversed_interpolation, profile="ci", hints=3)
    err = info.value
    c = err.counterexample
    assert (c.B, c.T, c.D, c.H) == (1, 1, 1, 1)
    assert "Chung et al." in str(err) and "z * h_{t-1} + (1 - z) * n_t" in str(err)
    assert "Hint 3:" in str(err)
    # expected vs got at the worst element, torch.testing style
    mm = err.mismatch
    assert mm is not None and mm.worst_abs_index == (0, 0, 0)
    assert "Greatest absolute difference" in str(err) and "Mismatched elements: 1 / 1" in str(err)
    np.testing.assert_array_equal(err.got, zoo.reversed_interpolation(c.x, c.h0, c.params)[0])
    np.testing.assert_allclose(err.expected, zoo.loop_gru(c.x, c.h0, c.params)[0], rtol=1e-12)
    assert mm.got_at_worst == err.got[0, 0, 0] and mm.expected_at_worst == err.expected[0, 0, 0]


def test_reproduction_snippet_reproduces_the_failure():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.gates_swapped, profile="ci")
    text = str(info.value)
    snippet = text.split("Reproduce with plain NumPy:\n\n", 1)[1]
    code = "\n".join(line[4:] for line in snippet.splitlines())
    assert "from zoo import gates_swapped as fn" in code
    with pytest.raises(AssertionError):
        exec(compile(code, "<snippet>", "exec"), {})
    # and the same snippet passes for a correct function on the same inputs
    fixed = code.replace("from zoo import gates_swapped as fn", "from zoo import loop_gru as fn")
    exec(compile(fixed, "<snippet>", "exec"), {})


def test_counterexample_is_what_the_function_received():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.reset_gate_ignored, profile="ci")
    err = info.value
    c = err.counterexample
    hs, _ = zoo.reset_gate_ignored(c.x, c.h0, c.params)
    np.testing.assert_array_equal(hs, err.got)
    ref, _ = level3.gru_forward(c.x, c.h0, c.params, reset_after=err.reset_after)
    np.testing.assert_allclose(ref, err.expected, rtol=1e-12, atol=1e-12)


def test_overflow_warnings_are_noted_not_failed():
    report = check_implementation(zoo.loop_gru, profile="ci")
    assert any("overflow encountered in exp" in note for note in report.notes)
    report = check_implementation(zoo.einsum_gru, profile="ci")
    assert report.notes == ()


def test_demanding_the_other_convention_fails_with_its_name():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.loop_gru, reset_after=True, profile="ci")
    assert info.value.diagnosis == "wrong_reset_convention"
    report = check_implementation(zoo.loop_gru, reset_after=False, profile="ci",
                                  properties=["matches_reference"])
    assert report.reset_after is False and not report.convention_detected


def test_the_library_tiers_pass_their_own_checker():
    for ra in (False, True):
        report = check_implementation(
            lambda x, h0, p, ra=ra: level3.gru_forward(x, h0, p, reset_after=ra),
            profile="ci", max_examples=20,
        )
        assert report.reset_after is ra


def test_hang_is_reported_not_waited_for():
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.hangs, timeout=0.1, profile="ci")
    assert "not return within 0.1 s (timeout)" in str(info.value)
    assert info.value.property == "output_contract"


def test_argument_errors_name_the_argument():
    with pytest.raises(TypeError, match="fn: expected a callable"):
        check_implementation(42)
    with pytest.raises(ValueError, match="profile: expected one of"):
        check_implementation(zoo.loop_gru, profile="fast")
    with pytest.raises(ValueError, match="properties: unknown"):
        check_implementation(zoo.loop_gru, properties=["is_fast"])
    with pytest.raises(TypeError, match="reset_after"):
        check_implementation(zoo.loop_gru, reset_after="yes")
    with pytest.raises(ValueError, match="hints"):
        check_implementation(zoo.loop_gru, hints=7)
    with pytest.raises(ValueError, match="max_examples"):
        check_implementation(zoo.loop_gru, max_examples=0)


def test_each_function_gets_its_own_database_key():
    assert _digest(zoo.loop_gru, "matches_reference") != _digest(zoo.einsum_gru, "matches_reference")
    assert _digest(zoo.loop_gru, "matches_reference") != _digest(zoo.loop_gru, "deterministic")
    assert _digest(zoo.loop_gru, "p") == _digest(zoo.loop_gru, "p")


def test_failure_is_replayed_from_the_database(tmp_path, monkeypatch):
    from hypothesis.database import DirectoryBasedExampleDatabase

    from gru_props import check as check_module

    db = DirectoryBasedExampleDatabase(str(tmp_path))
    from hypothesis import settings

    monkeypatch.setitem(check_module.PROFILES, "dev", settings(check_module.PROFILES["dev"], database=db))
    with pytest.raises(ImplementationError):
        check_implementation(zoo.time_reversed, profile="dev", properties=["matches_reference"])
    keys = list(tmp_path.iterdir())
    assert keys, "the failing example was not saved"
    with pytest.raises(ImplementationError) as again:
        check_implementation(zoo.time_reversed, profile="dev", properties=["matches_reference"])
    assert again.value.diagnosis == "time_reversed"


class TestGeneratedClassForACorrectGRU(implementation_tests(zoo.einsum_gru)):
    """The factory's tests run as ordinary pytest/Hypothesis tests."""


def test_generated_class_catches_a_bug():
    cls = implementation_tests(zoo.update_gate_ignored)
    names = sorted(n for n in vars(cls) if n.startswith("test_"))
    assert len(names) == 10
    with pytest.raises(ImplementationError) as info:
        cls().test_matches_reference()
    assert info.value.diagnosis == "update_gate_ignored"
    cls().test_inputs_unchanged()  # the properties it does satisfy still pass


def test_step_functions_are_folded_over_time():
    report = check_implementation(zoo.step_gru, step=True, profile="ci",
                                  properties=["matches_reference", "final_state_is_last"])
    assert report.step and report.reset_after is False
    with pytest.raises(ImplementationError) as info:
        check_implementation(zoo.loop_gru, step=True, profile="ci", properties=["output_contract"])
    assert "expected h_t of shape (B, H)" in str(info.value) or "raised" in str(info.value)


def test_params_passed_to_the_function_are_read_only_copies():
    seen = []

    def spy(x, h0, params):
        seen.append(params)
        return level3.gru_forward(x, h0, params)

    check_implementation(spy, profile="ci", properties=["matches_reference"], max_examples=5)
    assert all(isinstance(p, GRUParams) for p in seen)
    assert not seen[-1].W_z.flags.writeable
