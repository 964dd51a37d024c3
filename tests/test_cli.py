"""The gru-props command: exit status 0/1/2 and readable output."""

import os
import subprocess
import sys

from gru_props.cli import main

ZOO = os.path.join(os.path.dirname(__file__), "zoo.py")


def test_check_passes_a_correct_file_function(capsys):
    assert main(["check", f"{ZOO}:einsum_gru", "--profile", "ci", "--max-examples", "10"]) == 0
    assert "passed 10 properties" in capsys.readouterr().out


def test_check_fails_a_buggy_one_with_the_report(capsys):
    code = main(["check", f"{ZOO}:reversed_interpolation", "--profile", "ci", "--hints", "3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Diagnosis: reversed_interpolation" in out and "Hint 3:" in out


def test_check_step_and_convention_flags(capsys):
    args = ["check", f"{ZOO}:step_gru", "--step", "--reset-after", "false", "--profile", "ci",
            "--max-examples", "10"]
    assert main(args) == 0
    assert "reset_after=False (as asked" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main(["check", "no_such_file.py:f"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", f"{ZOO}:no_such_function"]) == 2
    assert main(["check", "just_a_name"]) == 2


def test_demo_runs_as_a_command():
    env = dict(os.environ, GRU_PROPS_PROFILE="ci")
    proc = subprocess.run([sys.executable, "-m", "gru_props", "demo"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Diagnosis: reversed_interpolation" in proc.stdout
    assert "fixed_gru (forward function) passed 10 properties" in proc.stdout
