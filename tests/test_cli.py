"""The gru-props command: exit status 0 only after a pass verdict, 1 for a failure, 2 for usage."""

import os
import subprocess
import sys
import textwrap

import pytest

from gru_props.cli import main

ZOO = os.path.join(os.path.dirname(__file__), "zoo.py")
FAST = ["--profile", "ci", "--max-examples", "8"]


def test_check_passes_a_correct_file_function(capsys):
    assert main(["check", f"{ZOO}:none_and_empty_gru", *FAST]) == 0
    out = capsys.readouterr().out
    assert "passed 13 of 13 properties" in out


def test_module_in_the_current_directory_as_pytest_finds_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_gru.py").write_text("from zoo import none_and_empty_gru as gru\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(os.path.dirname(ZOO))
    assert main(["check", "my_gru:gru", *FAST]) == 0
    assert main(["check", "my_gru.py:gru", *FAST]) == 0


def test_check_fails_a_buggy_one_with_the_report(capsys):
    code = main(["check", f"{ZOO}:reversed_interpolation", "--profile", "ci", "--hints", "3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Diagnosis: reversed_interpolation" in out and "Hint 3:" in out


def test_flags_mirror_the_python_arguments(capsys):
    assert main(["check", f"{ZOO}:step_gru", "--step", "--reset-after", "false", *FAST]) == 0
    assert "(as asked)" in capsys.readouterr().out
    assert main(["check", f"{ZOO}:chung_gru", "--interpolation", "chung", *FAST]) == 0
    assert "Chung interpolation" in capsys.readouterr().out
    assert main(["check", f"{ZOO}:chung_gru", "--interpolation", "auto", *FAST]) == 0
    assert main(["check", f"{ZOO}:bias_free_gru", "--no-bias", *FAST]) == 0
    capsys.readouterr()
    assert main(["check", f"{ZOO}:float64_buffer_gru", *FAST]) == 0
    assert main(["check", f"{ZOO}:float64_buffer_gru", "--strict", *FAST]) == 1
    assert "dtype_preserved" in capsys.readouterr().out
    assert main(["check", f"{ZOO}:reversed_interpolation", "--hints", "0", *FAST]) == 1
    assert "Hint 1" not in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["check", "no_such_file.py:f"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", f"{ZOO}:no_such_function"]) == 2
    assert main(["check", "just_a_name"]) == 2
    assert main(["check", "no_such_module_anywhere:f"]) == 2
    bad = tmp_path / "broken.py"
    bad.write_text("def f(:\n    pass\n")
    assert main(["check", f"{bad}:f"]) == 2
    assert "syntax error at line 1" in capsys.readouterr().err
    raises = tmp_path / "raises.py"
    raises.write_text("raise RuntimeError('no GPU here')\n")
    assert main(["check", f"{raises}:f"]) == 2
    assert "RuntimeError: no GPU here" in capsys.readouterr().err
    assert main(["check", f"{ZOO}:loop_gru", "--properties", "nope"]) == 2
    assert main(["check", f"{ZOO}:loop_gru", "--reset-after", "maybe"]) == 2


def _command(*args, **env):
    return subprocess.run([sys.executable, "-c", "import sys; from gru_props.cli import main; sys.exit(main())",
                           *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.mark.parametrize("exit_call", ["import posix; posix._exit(0)", "import os; os._exit(0)",
                                       "import sys; sys.exit(0)"])
def test_a_function_that_exits_the_process_never_reads_as_a_pass(tmp_path, exit_call):
    target = tmp_path / "exits.py"
    target.write_text(textwrap.dedent(f"""
        def gru(x, h0, params):
            {exit_call}
    """))
    proc = _command("check", f"{target}:gru", "--profile", "ci")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pass" not in proc.stdout.splitlines()[0] if proc.stdout else True
    assert ("exit" in (proc.stdout + proc.stderr).lower())


def test_the_command_passes_and_fails_through_the_child_process(tmp_path):
    ok = _command("check", f"{ZOO}:none_and_empty_gru", *FAST)
    assert ok.returncode == 0 and "passed 13 of 13" in ok.stdout
    bad = _command("check", f"{ZOO}:gates_swapped", *FAST)
    assert bad.returncode == 1 and "Diagnosis: gates_swapped" in bad.stdout
    usage = _command("check", "missing.py:f")
    assert usage.returncode == 2


def test_demo_runs_as_a_command():
    env = dict(os.environ, GRU_PROPS_PROFILE="ci")
    proc = subprocess.run([sys.executable, "-m", "gru_props", "demo"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Diagnosis: reversed_interpolation" in proc.stdout
    assert "fixed_gru (forward function) passed 13 of 13 properties" in proc.stdout
