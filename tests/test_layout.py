"""The package layout stays the one CONTRIBUTING.md describes.

The import graph is read from the source (every ``import`` and ``from ...
import``, also those inside functions, except under ``if TYPE_CHECKING:``),
so a cycle or a layering breach fails here before it confuses a reader.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gru_props"

#: What each folder may import from gru_props (besides itself). CONTRIBUTING.md says the same.
ALLOWED = {
    "gru_props.core": set(),
    "gru_props.tiers": {"gru_props.core"},
    "gru_props.engine": {"gru_props.core", "gru_props.tiers"},
    "gru_props.strategies": {"gru_props.core", "gru_props.tiers", "gru_props.engine", "gru_props.forward",
                             "gru_props.level1", "gru_props.level3", "gru_props", "gru_props.stack"},
    "gru_props.forward": {"gru_props.core", "gru_props.tiers", "gru_props.engine", "gru_props.strategies",
                          "gru_props.adapters", "gru_props.stack"},
    "gru_props.backward": {"gru_props.core", "gru_props.tiers", "gru_props.engine", "gru_props.strategies",
                           "gru_props.forward", "gru_props.stack"},
    "gru_props.stack": {"gru_props.core", "gru_props.tiers", "gru_props.engine", "gru_props.strategies",
                        "gru_props.forward", "gru_props.backward"},
    "gru_props.adapters": {"gru_props.core"},
    "gru_props.lstm": {"gru_props.core"},
    "gru_props.rnn": {"gru_props.core"},
}


def _modules():
    """{dotted module name: path} for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _type_checking_lines(tree):
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(range(child.lineno, child.end_lineno + 1))
    return skip


def _imports(name):
    """The gru_props modules ``name`` imports, resolved to modules where ``from X import Y`` names one."""
    tree = ast.parse(MODULES[name].read_text())
    skip = _type_checking_lines(tree)
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(kept + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles():
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    # A reader that found nothing would pass every test below.
    assert "gru_props.core.params" in GRAPH["gru_props.tiers.level1"]
    assert "gru_props.engine.model" in GRAPH["gru_props.engine.search"]
    assert "gru_props.tiers.level1" in GRAPH["gru_props.engine.conventions"]  # an import inside a function
    assert len(MODULES) > 50


def test_no_import_cycle():
    cycles = _cycles()
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _folder(name):
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_folder_imports_only_what_it_may(folder):
    breaches = []
    for name, targets in GRAPH.items():
        if _folder(name) != folder:
            continue
        for target in targets:
            if _folder(target) != folder and _folder(target) not in ALLOWED[folder]:
                breaches.append(f"{name} imports {target}")
    assert not breaches, "\n".join(breaches)


def test_at_most_twelve_files_at_the_top():
    files = [p.name for p in PACKAGE.iterdir() if p.is_file()]
    assert len(files) <= 12, sorted(files)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_800_lines(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= 800, f"{name}: {lines} lines; split it by concern"


def test_every_folder_says_what_it_holds():
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and p.name[0] not in "_."):
        init = folder / "__init__.py"
        assert init.exists(), folder.name
        assert ast.get_docstring(ast.parse(init.read_text())), f"{folder.name}/__init__.py has no docstring"


def test_cycles_are_found(monkeypatch):
    monkeypatch.setitem(GRAPH, "gru_props.core.arrays", GRAPH["gru_props.core.arrays"] | {"gru_props.core.params"})
    assert ["gru_props.core.arrays", "gru_props.core.params"] in _cycles()


def test_every_package_is_installed():
    """A wheel holds only the packages pyproject.toml lists; an editable install would not notice."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert packages == listed
