"""``gru-props check FILE.py:fn --layout NAME`` for every adapter, the backward check from the shell, exit codes
0/1/2, and ``--json`` parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cli_layouts
import pytest

from gru_props.adapters.registry import LAYOUTS
from gru_props.cli import main

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "cli_layouts.py")


def test_every_layout_has_a_case():
    assert set(cli_layouts.CASES) == set(LAYOUTS)


@pytest.mark.parametrize("layout", sorted(cli_layouts.CASES))
def test_each_layout_checks_a_correct_function_from_the_shell(layout, capsys):
    if layout in ("d2l", "torch-function", "torch-cell", "torch-module"):
        pytest.importorskip("torch")
    name, flags = cli_layouts.CASES[layout]
    code = main(["check", f"{TARGET}:{name}", "--layout", layout, "--profile", "ci", "--max-examples", "5",
                 "--json", *flags], isolate=False)
    out = capsys.readouterr().out
    verdict = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and verdict["verdict"] == "pass", verdict.get("message", verdict)
    assert all(p["status"] != "failed" for p in verdict["properties"])


def test_the_backward_check_from_the_shell_passes_fails_and_names_the_users_array(capsys):
    ok = main(["check-gradients", f"{TARGET}:torch_backward", "--layout", "torch", "--profile", "ci",
               "--max-examples", "5"], isolate=False)
    assert ok == 0, capsys.readouterr().out
    capsys.readouterr()
    bad = main(["check-gradients", f"{TARGET}:torch_buggy_backward", "--layout", "torch", "--profile", "ci",
                "--max-examples", "5", "--json"], isolate=False)
    verdict = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert bad == 1 and verdict["verdict"] == "fail"
    assert verdict["parameter"] in ("U_z", "U_r", "U_n") and len(verdict["index"]) == 2
    assert verdict["in_your_layout"].startswith("the gradient for weight_hh[")
    assert set(verdict["counterexample"]) == {"B", "T", "D", "H", "dtype"}
    assert verdict["failures"][0]["property"] == verdict["property"]


def test_a_stack_with_directions_and_lengths_from_the_shell(capsys):
    flags = ["--num-layers", "2", "--bidirectional", "--lengths", "--profile", "ci", "--max-examples", "5"]
    assert main(["check", f"{TARGET}:loop_with_flips", *flags], isolate=False) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["check", f"{TARGET}:halves_swapped", *flags[2:], "--json"], isolate=False) == 1  # one layer
    verdict = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert verdict["verdict"] == "fail" and "directions_swapped" in verdict["diagnoses"], verdict
    assert main(["check", f"{TARGET}:halves_swapped", "--padding", "sideways"], isolate=False) == 2
    capsys.readouterr()


def test_a_class_and_a_cell_over_a_sequence_from_the_shell(capsys):
    assert main(["check-gradients", f"{TARGET}:CMUCell", "--layout", "cmu-11785", "--profile", "ci",
                 "--max-examples", "5"], isolate=False) == 0
    capsys.readouterr()


def test_layouts_compose_outermost_first_and_unknown_ones_are_usage_errors(capsys):
    assert main(["check", f"{TARGET}:unbatched", "--layout", "time-major,unbatched", "--profile", "ci"],
                isolate=False) == 2  # time_major(unbatched(fn)) is refused: an unbatched fn has no batch axis
    err = capsys.readouterr().err
    assert "unbatched" in err
    assert main(["check", f"{TARGET}:torch", "--layout", "pytorch", "--json"], isolate=False) == 2
    captured = capsys.readouterr()
    assert "unknown 'pytorch'" in captured.err and "torch" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["verdict"] == "usage"


def test_names_from_the_users_own_file(tmp_path, capsys):
    (tmp_path / "mine.py").write_text(
        "import numpy as np\n"
        "from gru_props import level1, GRUParams\n"
        "NAMES = {'Wz': 'W_z', 'Wr': 'W_r', 'Wn': 'W_n', 'Uz': 'U_z', 'Ur': 'U_r', 'Un': 'U_n',\n"
        "         'bz': 'b_z', 'br': 'b_r', 'bn': 'b_n', 'bhn': 'b_hn'}\n"
        "def gru(x, h0, w):\n"
        "    p = GRUParams(W_z=w['Wz'], W_r=w['Wr'], W_n=w['Wn'], U_z=w['Uz'], U_r=w['Ur'], U_n=w['Un'],\n"
        "                  b_z=w['bz'], b_r=w['br'], b_n=w['bn'], b_hn=w['bhn'])\n"
        "    return level1.gru_forward(x, h0, p)\n")
    code = main(["check", f"{tmp_path}/mine.py:gru", "--names", f"{tmp_path}/mine.py:NAMES", "--pass-as", "dict",
                 "--profile", "ci", "--max-examples", "5"], isolate=False)
    assert code == 0, capsys.readouterr().out
    capsys.readouterr()
    (tmp_path / "bad.py").write_text("NAMES = {'Wz': 'W_q'}\ndef gru(x, h0, w):\n    return None\n")
    assert main(["check", f"{tmp_path}/bad.py:gru", "--names", f"{tmp_path}/bad.py:NAMES"], isolate=False) == 2
    assert "'W_q' is not a GRUParams field" in capsys.readouterr().err


def test_the_command_prints_json_through_its_child_process():
    exe = os.path.join(os.path.dirname(sys.executable), "gru-props")
    proc = subprocess.run([exe, "check", f"{TARGET}:torch", "--layout", "torch", "--profile", "ci",
                           "--max-examples", "5", "--json"], capture_output=True, text=True, timeout=300,
                          cwd=HERE)
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and verdict["verdict"] == "pass" and verdict["function"].startswith("torch_layout(")
    listing = subprocess.run([exe, "layouts"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and all(name in listing.stdout for name in LAYOUTS)
