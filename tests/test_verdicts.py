"""Verdicts and report lines that are true for the function checked (issue: trust on real code).

One test per finding of the red team's and the published-code survey's:
each failed before the change it tests.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import grad_zoo as gz
import numpy as np
import pytest
import zoo

from gru_props import (
    GRUParams,
    ImplementationError,
    check_gradients,
    check_implementation,
    equal_budget_hidden,
    level1,
    level3,
)
from gru_props.adapters import keras_layout, no_initial_state, onnx_layout, torch_cell, torch_layout


def _fails(fn, check=check_implementation, **kw):
    with pytest.raises(ImplementationError) as info:
        check(fn, profile="ci", **kw)
    return info.value


# ------------------------------------------------------------------ held lists
def test_a_property_stopped_by_other_failures_is_not_listed_as_held():
    def overflows_at_extremes(x, h0, p):  # right, except that it raises on large inputs
        if np.max(np.abs(x)) > 100:
            raise OverflowError("math range error")
        return zoo.none_and_empty_gru(x, h0, p)

    err = _fails(overflows_at_extremes)
    statuses = {p.name: p.status for p in err.report.properties}
    assert statuses["finite_and_bounded"] != "passed" and "finite_and_bounded" not in err.report.passed
    assert "finite_and_bounded" in str(err).split("Not fully checked")[1]


def test_a_property_whose_failure_another_search_recorded_is_failed_not_held():
    def no_b_hn(x, h0, p, dhs, dh_T):  # a GRU with biases that leaves one bias gradient out
        dx, dh0, g = level1.gru_backward(x, h0, p, dhs, dh_T)
        return dx, dh0, {k: v for k, v in g.arrays().items() if k != "b_hn"}

    err = _fails(no_b_hn, check_gradients, reset_after=False)
    assert "output_contract" not in err.report.passed
    assert "grads has no ['b_hn']" in str(err) and "bias=False" in str(err)


# ------------------------------------------------------------------ bias-free backward
def _bias_free_backward(keep_biases):
    def backward(x, h0, p, dhs, dh_T):
        dx, dh0, g = level1.gru_backward(x, h0, p, dhs, dh_T)
        grads = g.arrays()
        for k in ("b_z", "b_r", "b_n", "b_hn"):
            if keep_biases == "zeros":
                grads[k] = np.zeros_like(grads[k])
            elif keep_biases == "absent":
                del grads[k]
        return dx, dh0, grads
    return backward


@pytest.mark.parametrize("biases", ["zeros", "absent"])
def test_a_bias_free_cell_passes_with_bias_false(biases):
    report = check_gradients(_bias_free_backward(biases), profile="ci", bias=False, reset_after=False,
                             max_examples=20)
    assert report.complete and "gradients_match_reference" in report.passed


def test_bias_gradients_returned_under_bias_false_must_be_zero():
    err = _fails(_bias_free_backward("keep"), check_gradients, bias=False, reset_after=False)
    assert "bias=False" in str(err) and "must" not in err.property
    assert err.failures[0].kind == "contract"


# ------------------------------------------------------------------ tolerances
@pytest.mark.parametrize("tier", [level1, level3], ids=["level1", "level3"])
def test_correct_float32_passes_at_large_sizes(tier):
    def gru32(x, h0, p):
        return tier.gru_forward(x.astype(np.float32), h0.astype(np.float32), p.astype(np.float32))

    report = check_implementation(gru32, profile="ci", reset_after=False, max_examples=6,
                                  sizes={"B": 3, "T": 200, "D": 16, "H": 256},
                                  properties=["matches_reference", "batch_rows_independent"])
    assert report.complete and len(report.passed) == 2
    assert report.largest["T"] > 50 and report.largest["H"] > 64


def test_correct_float32_gradients_pass_the_thorough_profile():
    def backward32(x, h0, p, dhs, dh_T):
        f = np.float32
        return level3.gru_backward(x.astype(f), h0.astype(f), p.astype(f), dhs.astype(f), dh_T.astype(f))

    report = check_gradients(backward32, profile="thorough", reset_after=False, max_examples=25,
                             properties=["gradients_match_reference", "gradients_with_loss_on_last_state"])
    assert report.complete and len(report.passed) == 2


def test_the_float32_tolerance_still_catches_a_small_slip():
    def slightly_wrong(x, h0, p):  # the candidate bias counted 1.05 times, in float32
        q = p.astype(np.float32)
        return level3.gru_forward(x.astype(np.float32), h0.astype(np.float32), q.replace(b_n=q.b_n * 1.05))

    err = _fails(slightly_wrong, reset_after=False, properties=["matches_reference"])
    assert err.property == "matches_reference"


def test_a_chaotic_case_is_not_judged_rather_than_failed():
    # Large weights over many units: a change in the last bit of x changes the answer, so no comparison
    # means anything there; a correct float64 GRU must not fail on it.
    from gru_props.engine.conventions import Convention
    from gru_props.engine.model import Context
    from gru_props.forward.case import GRUCase
    from gru_props.forward.properties import reference

    rng = np.random.default_rng(5)
    case = GRUCase(rng.standard_normal((2, 57, 8)), rng.uniform(-1, 1, (2, 152)),
                   GRUParams.random(8, 152, seed=5, scale=2.5))
    ctx = Context(None, (Convention(False),), Convention(False))
    exp = reference(ctx, case, Convention(False), (np.dtype(np.float64),))
    judged = exp.allowed_hs.judged
    assert judged is not None and judged[:, :2].all() and not judged[:, -1].all()


# ------------------------------------------------------------------ report lines
def test_step_backward_reports_speak_of_dh_prev_throughout():
    err = _fails(gz.BUGGY["step_dz_sign_flipped"][0], check_gradients, step=True, reset_after=False)
    text = str(err)
    assert "dh0" not in text.split("Reproduce")[0] and err.parameter in ("dx_t", "dh_prev", "W_z", "U_z", "b_z")
    report = check_gradients(gz.CORRECT["step"][0], profile="ci", step=True, reset_after=False, max_examples=10)
    assert "(dx_t, dh_prev, grads)" in str(report) and "empty_sequence" not in str(report)


def test_the_self_consistency_check_says_what_it_checked():
    def forward_after(x, h0, p):
        return level1.gru_forward(x, h0, p, reset_after=True)

    def backward_after(x, h0, p, dhs, dh_T):
        return level1.gru_backward(x, h0, p, dhs, dh_T, reset_after=True)

    report = check_gradients(backward_after, profile="ci", forward_fn=forward_after, max_examples=5)
    line = next(ln for ln in str(report).splitlines() if ln.startswith("Convention:"))
    assert "finite differences" in line and "reset_after=True" in line and "(as asked)" not in line


def test_a_nan_from_a_tanh_written_as_an_exp_ratio_is_blamed_on_the_tanh():
    def exp_ratio_tanh(x, h0, p):
        def tanh(a):
            return (np.exp(a) - np.exp(-a)) / (np.exp(a) + np.exp(-a))

        def sig(a):
            return 0.5 * np.tanh(0.5 * a) + 0.5
        h, hs = h0, []
        for t in range(x.shape[1]):
            z = sig(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)
            r = sig(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)
            n = tanh(x[:, t] @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
            h = z * h + (1 - z) * n
            hs.append(h)
        return np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (p.H,), x.dtype), h

    err = _fails(exp_ratio_tanh, reset_after=False, properties=["matches_reference_at_extremes"])
    assert err.diagnosis == "candidate_tanh_exp_ratio" and err.diagnoses == ("candidate_tanh_exp_ratio",)
    summary = str(err).split("Diagnosis:")[1].split("\n")[0]
    assert "tanh written as" in summary and "sigmoid written as" not in summary


def test_a_nan_at_small_values_is_not_called_an_overflow():
    err = _fails(zoo.BUGGY["nan_at_zero"][0])
    summary = str(err).split("Diagnosis:")[1].split("\n")[0]
    assert "not an" in summary and "overflow" in summary and "exp overflows (" not in summary


def test_all_nan_gradients_are_not_reported_as_expected_nan_got_nan():
    def nan_backward(x, h0, p, dhs, dh_T):
        dx, dh0, g = level1.gru_backward(x, h0, p, dhs, dh_T)
        return dx * np.nan, dh0 * np.nan, {k: v * np.nan for k, v in g.arrays().items()}

    err = _fails(nan_backward, check_gradients, reset_after=False)
    assert all(f.property != "accepts_none" for f in err.failures)


def test_a_float16_answer_is_described_as_float16():
    def half(x, h0, p):
        hs, h = zoo.none_and_empty_gru(x, h0, p)
        return hs.astype(np.float16), h.astype(np.float16)

    report_or_err = None
    try:
        report_or_err = check_implementation(half, profile="ci", properties=["dtype_preserved"])
    except ImplementationError as err:
        report_or_err = err
    text = str(report_or_err)
    assert "float16" in text and "float32's" not in text


def test_a_missing_dh0_in_float64_is_a_wrong_gradient_not_float32_precision():
    err = _fails(gz.BUGGY["dh0_missing"][0], check_gradients, **gz.BUGGY["dh0_missing"][1])
    assert "float32 precision" not in str(err) and err.parameter == "dh0"


def test_a_hanging_forward_fn_is_blamed_on_forward_fn():
    def hangs(x, h0, p):
        while True:
            time.sleep(0.01)

    err = _fails(level1.gru_backward, check_gradients, forward_fn=hangs, timeout=0.2)
    assert "forward_fn" in err.failures[0].message and "is not to blame" in err.failures[0].message


def test_messages_are_never_cut_mid_sentence():
    def raises_long(x, h0, p):
        raise ValueError("cannot access local variable 't' where it is not associated with a value, "
                         "because the loop over the time steps never ran")

    err = _fails(raises_long)
    assert "because the loop over the time steps never ran" in err.failures[0].headline()


def test_a_torch_layout_backward_with_one_bias_not_accumulated_is_a_wrong_gradient():
    from published import ENTRIES

    entry = next(e for e in ENTRIES if e.name == "cmu_described_hidden_bias_backward")
    err = _fails(entry.glue, check_gradients, **entry.check_kwargs)
    assert err.property.startswith("gradients_") and err.failures[0].kind == "value"
    assert "TiedGradientError" not in str(err).split("Reproduce")[0]
    assert err.parameter not in err.report.passed


# ------------------------------------------------------------------ snippets
def test_the_snippet_of_a_decorated_function_imports_it_as_decorated(tmp_path, monkeypatch):
    (tmp_path / "decorated_gru.py").write_text(textwrap.dedent('''
        import numpy as np
        from gru_props.adapters import keras_layout

        @keras_layout(reset_after=False)
        def my_gru(x, h0, kernel, recurrent_kernel, bias):
            return np.zeros(x.shape[:2] + (recurrent_kernel.shape[0],), x.dtype)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    import decorated_gru

    err = _fails(decorated_gru.my_gru, properties=["matches_reference"])
    code = str(err).split("Reproduce with plain NumPy:")[1]
    assert "from decorated_gru import my_gru" in code and "keras_layout(my_gru" not in code
    namespace = {}
    with pytest.raises(AssertionError):
        exec(compile(textwrap.dedent(code), "<snippet>", "exec"), namespace)


def test_the_snippet_of_a_lambda_pastes_the_lambda():
    err = _fails(lambda x, h0, p: zoo.reversed_interpolation(x, h0, p), properties=["matches_reference"])
    code = str(err).split("Reproduce with plain NumPy:")[1]
    assert "user_fn = lambda x, h0, p: zoo.reversed_interpolation(x, h0, p)" in code and "it uses zoo" in code


# ------------------------------------------------------------------ loss of control
class _BlockingArray:
    def __array__(self, dtype=None, copy=None):
        time.sleep(60)


def test_converting_what_the_function_returns_is_under_the_time_limit():
    start = time.monotonic()
    err = _fails(lambda x, h0, p: _BlockingArray(), timeout=0.5, properties=["output_contract"])
    assert time.monotonic() - start < 20 and "did not return within 0.5 s" in err.failures[0].message


def test_a_forking_gru_passes_and_leaves_no_child_behind():
    import multiprocessing

    children = []

    def forking(x, h0, p):
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=lambda: None)
        child.start()
        children.append(child)
        child.join(5)
        assert child.exitcode == 0
        return zoo.none_and_empty_gru(x, h0, p)

    report = check_implementation(forking, profile="ci", max_examples=3, properties=["matches_reference"])
    assert report.complete and report.passed == ["matches_reference"]
    assert children and not any(c.is_alive() for c in children)  # (other tests' pools may still be alive)


def test_a_gru_that_reads_input_gets_eof_instead_of_blocking():
    def asks(x, h0, p):
        input("press return")
        return zoo.none_and_empty_gru(x, h0, p)

    start = time.monotonic()
    err = _fails(asks, properties=["output_contract"])
    assert "EOFError" in str(err) and time.monotonic() - start < 20


def test_checks_run_under_a_global_seterr_raise():
    old = np.seterr(all="raise")
    try:
        assert check_implementation(level3.gru_forward, profile="ci", max_examples=10).complete
        assert check_gradients(level3.gru_backward, profile="ci", max_examples=10).complete
    finally:
        np.seterr(**old)


def _cli(args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "gru_props", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, **kw)


def test_a_module_that_exits_at_import_is_a_usage_error(tmp_path):
    (tmp_path / "exits.py").write_text("import os\nos._exit(0)\ndef gru(x, h0, p):\n    return x\n")
    env = dict(os.environ)
    env.pop("GRU_PROPS_CLI_VERDICT", None)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "gru-props"), "check", "exits.py:gru"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and "ended the process" in proc.stderr


def test_ctrl_c_stops_the_cli_cleanly(tmp_path):
    (tmp_path / "slow.py").write_text("import pathlib, time\ndef gru(x, h0, p):\n"
                                      "    pathlib.Path('started').touch()\n    time.sleep(60)\n")
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "gru-props"), "check", "slow.py:gru",
                             "--timeout", "120"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            # a job started in the background of a shell inherits SIGINT ignored: undo that
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120  # Ctrl-C once the check is calling the function (a loaded machine is slow)
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in out + err and "interrupted" in err


# ------------------------------------------------------------------ arguments and tiers
def test_equal_budget_hidden_is_exact_and_fast_for_any_budget():
    from gru_props import count_parameters

    start = time.monotonic()
    for budget in (10 ** 12, 10 ** 44, 10 ** 400):
        H = equal_budget_hidden("gru", 2, budget, "torch", side="below")
        assert count_parameters("gru", 2, H, "torch") <= budget < count_parameters("gru", 2, H + 1, "torch")
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("adapter", [keras_layout, onnx_layout, torch_cell], ids=["keras", "onnx", "torch_cell"])
def test_an_adapter_given_none_says_so_instead_of_returning_a_decorator(adapter):
    with pytest.raises(TypeError, match="got None|a NoneType"):
        adapter(None)


@pytest.mark.parametrize("tier", [level1, level3], ids=["level1", "level3"])
def test_inputs_whose_products_overflow_are_warned_about_by_every_tier(tier):
    from gru_props.core.validation import ProductsOverflowWarning

    p = GRUParams.random(29, 18, seed=4, scale=10.0)
    x = np.random.default_rng(4).standard_normal((2, 3, 29)) * 1e307
    with pytest.warns(ProductsOverflowWarning, match="overflow float64"):
        tier.gru_forward(x, None, p)


# ------------------------------------------------------------------ no initial state
def test_a_gru_without_an_initial_state_is_checked_from_zeros():
    @no_initial_state
    def from_zeros(x, p):
        return zoo.none_and_empty_gru(x, np.zeros((x.shape[0], p.H), x.dtype), p)

    report = check_implementation(from_zeros, profile="ci")
    names = {p.name for p in report.properties}
    assert report.complete and not names & {"reset_gate_zero", "accepts_h0_none"}
    assert any("h0 = 0 only" in n for n in report.notes)

    @no_initial_state
    def backward_from_zeros(x, p, dhs, dh_T):
        dx, _, g = level1.gru_backward(x, None, p, dhs, dh_T)
        return dx, g

    report = check_gradients(backward_from_zeros, profile="ci", reset_after=False)
    assert report.complete and "gradients_match_reference" in report.passed


def test_no_initial_state_goes_innermost():
    with pytest.raises(ValueError, match="innermost"):
        no_initial_state(torch_layout(lambda *a: None))


def test_an_exception_under_an_adapter_is_located_in_the_users_code_not_the_adapters():
    def torch_gru(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        raise ValueError("mine")

    err = _fails(torch_layout(torch_gru), properties=["output_contract"])
    message = err.failures[0].message
    assert "test_verdicts.py" in message and "adapters" not in message.split("raised ValueError: mine")[1]


def _upcasting(empty_dtype):
    def gru(x, h0, p):  # float64 biases upcast the loop; at T = 0 the state comes back as h0 is
        hs, h = level1.gru_forward(x.astype(np.float64), h0.astype(np.float64), p.astype(np.float64))
        if x.shape[1] == 0:
            return np.zeros((x.shape[0], 0, p.H), empty_dtype), h0
        return hs, h
    return gru


def test_an_empty_sequence_answered_in_the_inputs_dtype_is_no_failure():
    kw = dict(profile="ci", max_examples=40, properties=["empty_sequence", "dtype_preserved"])
    report = check_implementation(_upcasting(np.float64), **kw)  # (float64, float32): h0's own dtype
    assert "empty_sequence" in report.passed and any("dtype_preserved" in w for w in report.warnings)
    with pytest.raises(ImplementationError) as info:  # (float16, ...) differs from the contract and T = 1
        check_implementation(_upcasting(np.float16), **kw)
    assert info.value.property == "empty_sequence" and "another path" in str(info.value)


def _column_dict_gru(x, h0, w):  # Wnh used without its transpose: a slip whose effect is tiny on some cases
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    h, hs = h0, []
    for t in range(x.shape[1]):
        z = sigmoid(x[:, t] @ w["Wzx"].T + h @ w["Wzh"].T + w["bz"])
        r = sigmoid(x[:, t] @ w["Wrx"].T + h @ w["Wrh"].T + w["br"])
        n = np.tanh(x[:, t] @ w["Wnx"].T + (r * h) @ w["Wnh"] + w["bn"])
        h = z * h + (1 - z) * n
        hs.append(h)
    return (np.stack(hs, 1) if hs else np.zeros(x.shape[:2] + h0.shape[1:], x.dtype)), h


def test_a_bug_with_a_small_effect_is_not_called_float32_precision():
    from gru_props.adapters import named_weights

    names = {"Wzx": "W_z.T", "Wzh": "U_z.T", "bz": "b_z", "Wrx": "W_r.T", "Wrh": "U_r.T", "br": "b_r",
             "Wnx": "W_n.T", "Wnh": "U_n.T", "bn": "b_n+b_hn"}
    err = _fails(named_weights(_column_dict_gru, names=names, pass_as="dict"))
    assert err.diagnoses == ("candidate_recurrent_transposed",)
    assert not [w for w in err.warnings if "float32 precision" in str(w)], err.warnings


def test_a_nan_from_another_use_of_exp_is_not_blamed_on_an_exp_ratio_the_code_lacks():
    def inf_gate(x, h0, p):  # "sigmoid" 1 + (1 + exp(-a)): inf * 0 = NaN, no exp ratio anywhere
        h, hs = h0, []
        for t in range(x.shape[1]):
            z = 1 + (1 + np.exp(-(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)))
            r = 1 / (1 + np.exp(-(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)))
            n = np.tanh(x[:, t] @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn)
            h = z * h + (1 - z) * n
            hs.append(h)
        return np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (p.H,), x.dtype), h

    with np.errstate(all="ignore"):
        err = _fails(inf_gate)
    nan = [f for f in err.failures if f.diagnosis == "non_finite_output"]
    assert nan, [(f.property, f.diagnosis) for f in err.failures]
    text = " ".join(f.message for f in nan) + str(err)
    assert "reaches" in text and "so does any other use of exp" in text
    assert "in a sigmoid written as" not in text


def _tanh_gates_learner(x, h0, p):  # a learner's loop with both gates in tanh (its states exceed 1)
    B, T, D = x.shape
    H = h0.shape[1]
    hs = np.zeros((B, T, H))
    h_prev = h0
    for t in range(T):
        x_t = x[:, t, :]
        z = np.tanh(x_t @ p.W_z + h_prev @ p.U_z + p.b_z)
        r = np.tanh(x_t @ p.W_r + h_prev @ p.U_r + p.b_r)
        n = np.tanh(x_t @ p.W_n + (r * h_prev) @ p.U_n + p.b_n + p.b_hn)
        h = z * h_prev + (1 - z) * n
        hs[:, t, :] = h
        h_prev = h
    return hs, h_prev


def test_rounding_amplified_by_another_bug_is_not_rows_mixing():
    err = _fails(_tanh_gates_learner, reset_after=False)
    assert err.property == "matches_reference"  # the real bug is still reported
    assert "batch_rows_independent" not in [f.property for f in err.failures], [
        (f.property, f.message[:200]) for f in err.failures]


def test_a_gru_without_h0_is_explained_from_zeros_and_never_told_it_ignores_h0():
    from gru_props.adapters import no_initial_state

    def exp_ratio_no_h0(x, p):  # starts from zeros; its tanh is an exp ratio (NaN past |a| = 710)
        h = np.zeros((x.shape[0], p.H))
        hs = []
        for t in range(x.shape[1]):
            z = 1 / (1 + np.exp(-(x[:, t] @ p.W_z + h @ p.U_z + p.b_z)))
            r = 1 / (1 + np.exp(-(x[:, t] @ p.W_r + h @ p.U_r + p.b_r)))
            a = x[:, t] @ p.W_n + (r * h) @ p.U_n + p.b_n + p.b_hn
            n = (np.exp(a) - np.exp(-a)) / (np.exp(a) + np.exp(-a))
            h = z * h + (1 - z) * n
            hs.append(h)
        return np.stack(hs, axis=1) if hs else np.zeros(x.shape[:2] + (p.H,)), h

    with np.errstate(all="ignore"):
        err = _fails(no_initial_state(exp_ratio_no_h0), reset_after=False)
    assert err.diagnoses == ("candidate_tanh_exp_ratio",), [(f.property, f.diagnoses) for f in err.failures]
    assert "initial_state_ignored" not in str(err)
