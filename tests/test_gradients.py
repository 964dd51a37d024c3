"""check_gradients on a zoo of learner-style backward passes: every named bug caught, correct ones pass.

The zoo (tests/grad_zoo.py) is written independently of the checker's
catalog of broken backward passes: one learner-style BPTT with each mistake
switchable at its line.
"""

import functools

import grad_zoo as gz
import numpy as np
import pytest

from gru_props import CheckReport, ImplementationError, check_gradients, level1, level3
from gru_props.cli import main

EXPECTED = {
    "before": (False, "standard"), "after": (True, "standard"), "after_demanded": (True, "standard"),
    "float32": (False, "standard"), "float32_after": (True, "standard"), "chung": (False, "chung"),
    "chung_detected": (True, "chung"), "step": (False, "standard"), "step_after": (True, "standard"),
}


@functools.lru_cache(maxsize=None)
def outcome(name):
    if name in gz.CORRECT:
        fn, kwargs = gz.CORRECT[name]
    else:
        fn, kwargs, _ = gz.BUGGY[name]
    try:
        return check_gradients(fn, profile="ci", **kwargs)
    except ImplementationError as err:
        str(err)
        return err


def test_every_spec_bug_has_a_zoo_entry():
    spec = {"dh_prev_missing_z_path", "truncated_bptt", "grads_not_accumulated", "dz_sign_flipped",
            "tanh_derivative_wrong", "sigmoid_derivative_wrong", "reset_convention_mixed", "b_hn_not_gated",
            "dU_transposed", "dh0_missing", "grads_averaged_over_batch"}
    assert spec <= {diagnosis for _, _, diagnosis in gz.BUGGY.values()}
    assert set(EXPECTED) == set(gz.CORRECT)


@pytest.mark.parametrize("name", sorted(gz.CORRECT))
def test_correct_backward_passes(name):
    report = outcome(name)
    assert isinstance(report, CheckReport), str(report)
    assert report.kind == "gradients"
    assert (report.reset_after, report.interpolation) == EXPECTED[name]
    for p in report.properties:
        assert p.status in ("passed", "n/a") or (p.status == "warning" and p.name == "dtype_preserved"), p


@pytest.mark.parametrize("name", sorted(gz.BUGGY))
def test_buggy_backward_is_caught_and_named(name):
    _, kwargs, diagnosis = gz.BUGGY[name]
    err = outcome(name)
    assert isinstance(err, ImplementationError), f"{name} passed:\n{err}"
    assert err.diagnosis == diagnosis, str(err)
    assert err.property.startswith("gradients_")
    assert err.parameter is not None and isinstance(err.index, tuple)
    c = err.counterexample
    assert all(isinstance(v, int) for v in (c.B, c.T, c.D, c.H))
    text = str(err)
    assert f"The worst is {err.parameter}[" in text and "expected" in text and "relative" in text
    assert f"Diagnosis: {diagnosis}" in text and len(err.hints) == 3
    if kwargs.get("step"):
        assert err.parameter in ("dx_t", "dh_prev") or err.parameter[0] in "WUb"
        assert all(hasattr(c, a) for a in ("x_t", "h_prev", "dh_t"))


def test_shrinking_stops_where_the_bug_lives_and_claims_nothing_smaller():
    assert outcome("grads_not_accumulated").counterexample.T == 2
    assert outcome("dU_transposed").counterexample.H == 2
    assert outcome("grads_averaged_over_batch").counterexample.B == 2
    for name in ("dz_sign_flipped", "truncated_bptt", "dh_prev_missing_z_path"):
        c = outcome(name).counterexample
        assert (c.B, c.T, c.D, c.H) == (1, 1, 1, 1), name


def test_the_report_names_the_element_and_lists_the_other_wrong_gradients():
    err = outcome("dU_transposed")
    assert err.parameter == "U_n" and len(err.index) == 2
    text = str(err)
    assert "of h_(t-1) -> candidate n, unit" in text
    assert "right: dx, dh0, W_z" in text
    for name in gz.BUGGY:  # the worst gradient first, then one line for each other wrong one
        f = outcome(name).failures[0]
        listed = [o.split(":")[0] for o in f.others]
        assert [f.parameter] + listed == [n if not f.case.step else {"dx": "dx_t", "dh0": "dh_prev"}.get(n, n)
                                          for n in f.extra["wrong"]], name
    # On a dense case a transposed dU makes all three U gradients wrong, each on its own line.
    from gru_props.backward.diagnosis import detection_cases
    from gru_props.backward.properties import compare_gradients, expected_gradients, gradient_failure
    from gru_props.backward.subject import GradOutcome
    from gru_props.engine.conventions import Convention
    from gru_props.engine.model import Context

    case = detection_cases(True, False)[0]
    dx, dh0, g = gz.learner_backward(case.x, case.h0, case.params, case.dhs, case.dh_T, bug="dU_transposed")
    out = GradOutcome(arrays={"dx": dx, "dh0": dh0, **g})
    ctx = Context(None, (Convention(False),), Convention(False))
    exp = expected_gradients(ctx, case, Convention(False), (np.float64,))
    expected = exp.arrays
    wrong = compare_gradients(ctx, case, out, expected, exp.allowed)
    failure = gradient_failure("p", "what", case, out, expected, wrong, Convention(False), False)
    assert {failure.parameter} | {o.split(":")[0] for o in failure.others} == {"U_z", "U_r", "U_n"}
    # expected vs got are the reference and the learner's own values
    c = err.counterexample
    _, _, ref = level1.gru_backward(c.x, c.h0, c.params, c.dhs, c.dh_T, err.reset_after)
    np.testing.assert_allclose(err.expected, ref.U_n, rtol=1e-12)


def test_float32_answers_are_held_to_the_float64_reference_with_float32_tolerance():
    report = outcome("float32")
    assert "gradients_match_reference" in report.passed
    with pytest.raises(ImplementationError) as info:
        check_gradients(functools.partial(gz.learner_backward, dtype=np.float32, bug="dz_sign_flipped"),
                        profile="ci")
    assert info.value.diagnosis == "dz_sign_flipped"


def test_the_library_backward_passes_its_own_checker():
    for tier in (level1, level3):
        for ra in (False, True):
            report = check_gradients(
                lambda x, h0, p, dhs, dh_T, ra=ra, tier=tier: tier.gru_backward(x, h0, p, dhs, dh_T, ra),
                profile="ci", max_examples=15, strict=True)
            assert report.reset_after is ra and not report.warnings


def test_chung_backward_is_a_convention_when_asked_and_a_bug_otherwise():
    fn, _ = gz.CORRECT["chung"]
    with pytest.raises(ImplementationError) as info:
        check_gradients(fn, profile="ci", properties=["gradients_match_reference"])
    assert info.value.failures[0].distances  # compared with both reset conventions


def test_self_consistency_against_the_users_own_forward():
    # A GRU variant with no reference: its backward is held to finite differences of its forward.
    report = check_gradients(gz.minimal_gated_backward, forward_fn=gz.minimal_gated_forward, profile="ci")
    assert any("self-consistency" in n for n in report.notes)
    assert "gradients_match_reference" in report.passed
    with pytest.raises(ImplementationError) as info:
        check_gradients(functools.partial(gz.minimal_gated_backward, bug="dU_transposed"),
                        forward_fn=gz.minimal_gated_forward, profile="ci")
    err = info.value
    assert err.parameter == "U_n" and err.counterexample.H >= 2
    assert "finite differences of forward_fn" in str(err) and "Self-consistency" in str(err)
    # Without forward_fn the same variant is (rightly) not a GRU.
    with pytest.raises(ImplementationError):
        check_gradients(gz.minimal_gated_backward, profile="ci", properties=["gradients_match_reference"])


def test_self_consistency_needs_a_float64_forward():
    def float32_forward(x, h0, p):
        hs, h = gz.minimal_gated_forward(x, h0, p)
        return hs.astype(np.float32), h.astype(np.float32)

    with pytest.raises(ImplementationError, match="finite differences need float64"):
        check_gradients(gz.minimal_gated_backward, forward_fn=float32_forward, profile="ci",
                        properties=["gradients_match_reference"])


def test_bad_return_values_are_contract_failures_with_the_reason():
    def no_b_hn(x, h0, p, dhs, dh_T):
        dx, dh0, g = gz.learner_backward(x, h0, p, dhs, dh_T)
        del g["b_hn"]
        return dx, dh0, g

    def transposed_W(x, h0, p, dhs, dh_T):
        dx, dh0, g = gz.learner_backward(x, h0, p, dhs, dh_T)
        g["W_z"] = g["W_z"].T
        return dx, dh0, g

    with pytest.raises(ImplementationError, match=r"grads has no \['b_hn'\]"):
        check_gradients(no_b_hn, profile="ci", max_examples=5)
    with pytest.raises(ImplementationError, match="it looks transposed"):
        check_gradients(transposed_W, profile="ci", max_examples=10)


def test_gradients_may_come_back_as_gruparams_and_none_is_optional():
    from gru_props import GRUParams

    def as_params(x, h0, p, dhs, dh_T):
        if h0 is None or dh_T is None:
            h0 = np.zeros((x.shape[0], p.H), x.dtype) if h0 is None else h0
            dh_T = np.zeros((x.shape[0], p.H), x.dtype) if dh_T is None else dh_T
        dx, dh0, g = gz.learner_backward(x, h0, p, dhs, dh_T)
        return dx, dh0, GRUParams(**g)

    report = check_gradients(as_params, profile="ci", max_examples=10)
    assert {p.name: p.status for p in report.properties}["accepts_none"] == "passed"
    statuses = {p.name: p.status for p in outcome("before").properties}
    assert statuses["accepts_none"] == "n/a"  # refusing None is not a finding for a backward pass


def test_gradient_arguments_are_validated():
    with pytest.raises(TypeError, match="backward_fn: expected a callable"):
        check_gradients(3)
    with pytest.raises(TypeError, match="forward_fn"):
        check_gradients(gz.learner_backward, forward_fn=3)
    with pytest.raises(ValueError, match="properties: unknown"):
        check_gradients(gz.learner_backward, properties=["matches_reference"])


def test_check_gradients_on_the_command_line(tmp_path, capsys):
    target = tmp_path / "my_backward.py"
    target.write_text(
        "import functools, grad_zoo\n"
        "good = functools.partial(grad_zoo.learner_backward)\n"
        "bad = functools.partial(grad_zoo.learner_backward, bug='dz_sign_flipped')\n"
        "fwd = grad_zoo.minimal_gated_forward\nvariant = grad_zoo.minimal_gated_backward\n")
    assert main(["check-gradients", f"{target}:good", "--profile", "ci", "--max-examples", "8"]) == 0
    assert "backward function" in capsys.readouterr().out
    assert main(["check-gradients", f"{target}:bad", "--profile", "ci"]) == 1
    assert "Diagnosis: dz_sign_flipped" in capsys.readouterr().out
    assert main(["check-gradients", f"{target}:variant", "--forward", f"{target}:fwd", "--profile", "ci",
                 "--max-examples", "5"]) == 0


def test_snippet_reproduces_a_gradient_failure():
    err = outcome("dz_sign_flipped")
    text = str(err).split("Reproduce with plain NumPy:\n\n", 1)[1]
    code = "\n".join(line[4:] for line in text.splitlines())
    assert "functools.partial(learner_backward, bug='dz_sign_flipped'" in code
    with pytest.raises(AssertionError):
        exec(compile(code, "<snippet>", "exec"), {})
    exec(compile(code.replace(", bug='dz_sign_flipped'", ""), "<snippet>", "exec"), {})


def test_a_float64_backward_computed_in_float32_is_a_warning_not_a_wrong_gradient():
    def float32_inside(x, h0, p, dhs, dh_T):
        dx, dh0, g = gz.learner_backward(x, h0, p, dhs, dh_T, dtype=np.float32)
        return dx.astype(np.float64), dh0.astype(np.float64), {k: v.astype(np.float64) for k, v in g.items()}

    report = check_gradients(float32_inside, profile="ci", properties=["gradients_match_reference"])
    assert report.warnings and "float32 precision only" in report.warnings[0]
