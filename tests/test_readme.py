"""The README and the module docstrings: every Python example runs, and the two commands work.

Python examples are fenced ``python`` blocks in the README and ``::`` literal
blocks (and ``>>>`` doctests) in docstrings; a block that does not parse as
Python (equations, shell commands, report text) is not an example. Each
example runs in a fresh namespace, in a temporary directory, and every
``test_*`` function it defines is called, as pytest would.
"""

import ast
import doctest
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import shlex
import subprocess
import textwrap

import pytest

import gru_props

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _python_blocks(text):
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)]


def _literal_blocks(doc):
    """The indented blocks after a line ending in '::' (reStructuredText literal blocks)."""
    blocks, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        indent = None
        while j < len(lines):
            current = lines[j]
            if current.strip():
                width = len(current) - len(current.lstrip())
                base = len(line) - len(line.lstrip())
                if width <= base:
                    break
                indent = width if indent is None else min(indent, width)
            body.append(current)
            j += 1
        block = textwrap.dedent("\n".join(body)).strip()
        if block:
            blocks.append(block)
    return blocks


def _is_python(block):
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return False
    return any(isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign, ast.Expr))
               for node in tree.body) and ">>>" not in block


_OPTIONAL = ("dask", "distributed")  # documented recipes for tools we do not install


def _run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRU_PROPS_PROFILE", "ci")
    namespace = {"__name__": "example"}
    try:
        exec(compile(code, "<example>", "exec"), namespace)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in _OPTIONAL:
            pytest.skip(f"the example needs {exc.name}, which gru_props does not install")
        raise
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            value()


def _modules():
    names = ["gru_props", "gru_props.strategies"]
    for info in pkgutil.walk_packages(gru_props.__path__, "gru_props."):
        if not info.name.endswith(("__main__", "_pytest_plugin")):
            names.append(info.name)
    return sorted(set(names))


def _docstrings(module):
    yield module.__name__, module.__doc__ or ""
    for name, value in vars(module).items():
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue
        yield f"{module.__name__}.{name}", getattr(value, "__doc__", "") or ""


def _docstring_examples():
    examples = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional extra (the study's joblib, tqdm, matplotlib) is missing
            continue
        for where, doc in _docstrings(module):
            for i, block in enumerate(_literal_blocks(doc)):
                if _is_python(block):
                    examples.append(pytest.param(block, id=f"{where}[{i}]"))
    return examples


@pytest.mark.parametrize("code", [pytest.param(b, id=f"README[{i}]") for i, b in enumerate(_python_blocks(README))])
def test_readme_python_examples_run(code, tmp_path, monkeypatch):
    _run(code, tmp_path, monkeypatch)


@pytest.mark.parametrize("code", _docstring_examples())
def test_docstring_examples_run(code, tmp_path, monkeypatch):
    _run(code, tmp_path, monkeypatch)


@pytest.mark.parametrize("name", _modules())
def test_doctests_pass(name, monkeypatch, tmp_path):
    try:
        module = importlib.import_module(name)
    except ImportError:
        pytest.skip(f"{name} needs an optional extra")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRU_PROPS_PROFILE", "ci")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def _commands():
    block = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_starts_with_the_two_commands_ci_runs():
    demo, tests = _commands()[:2]
    assert demo.endswith("gru-props demo") and "pip install -e ." in demo
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == tests, "the README's test command and .ci/run must be the same"


def test_the_demo_command_works_in_a_fresh_virtualenv(tmp_path):
    """The README's first command, verbatim, in a new virtualenv in an empty directory."""
    demo = _commands()[0].replace("pip install -e .", f"pip install -q -e {shlex.quote(str(ROOT))}")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["GRU_PROPS_PROFILE"] = "ci"
    proc = subprocess.run(["bash", "-c", demo], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Diagnosis: reversed_interpolation" in proc.stdout
    assert "passed 13 of 13 properties" in proc.stdout
    # the command used that virtualenv's own installation, not this one's
    assert list((tmp_path / ".venv").glob("lib/python*/site-packages/*gru_props*"))
