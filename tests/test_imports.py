"""cnnlib's import graph: no cycle among its modules, and foundations never import what builds
on them (runtime -> data -> train -> the rest).

Every ``import``/``from`` statement counts, also those inside functions: a function-level import
is still a dependency, only a hidden one, and hiding a cycle that way is what this test forbids.
The graph is read from the source with ``ast`` (nothing is imported), relative imports are
resolved, and importing ``a.b.c`` also counts as importing the packages ``a.b`` and ``a`` (their
``__init__`` runs first), except the importer's own packages, which are already being imported.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the modules it must never reach, directly or through others
LAYERS = {
    "cnnlib.data": ("cnnlib.train", "cnnlib.models", "cnnlib.pretrained", "cnnlib.viz"),
    # the training loop trains any model: it needs no network of the book
    "cnnlib.train": ("cnnlib.models", "cnnlib.pretrained", "cnnlib.transfer", "cnnlib.adapt",
                     "cnnlib.viz", "cnnlib.exercises"),
}
# runtime, the foundation of all, imports no other cnnlib module but these
RUNTIME_MAY_IMPORT = {"cnnlib.precision"}


def module_files(root: Path, package: str) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of ``package`` under ``root``."""
    modules = {}
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _ancestors(module: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b"]``."""
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name that an import statement anywhere in ``tree`` may load: the module
    named and, for ``from m import x``, also ``m.x`` (``x`` may be a submodule)."""
    names = set()
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb level - 1 packages from the importer's own
                parts = here.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of package it imports}``, function-level imports included."""
    modules = module_files(root, package)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        own = set(_ancestors(module)) | {module}
        targets = set()
        for name in _imported_names(tree, module, path.name == "__init__.py"):
            if name in modules:
                targets.update(m for m in [*_ancestors(name), name] if m in modules)
        graph[module] = targets - own
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (depth-first search with three colours)."""
    state = {}  # module -> "open" while on the current path, "done" after
    path = []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module that importing ``start`` may import, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _in(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT, "cnnlib")


def test_cnnlib_has_no_import_cycle_counting_imports_inside_functions(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_foundation_never_imports_what_builds_on_it(graph, layer):
    found = {}
    for module in (m for m in graph if _in(m, layer)):
        bad = sorted(t for t in reachable(graph, module) if any(_in(t, f) for f in LAYERS[layer]))
        if bad:
            found[module] = bad
    assert not found, f"{layer} must not import {LAYERS[layer]}; found: {found}"


def test_runtime_imports_no_other_cnnlib_module_but_precision(graph):
    # the root package cnnlib is runtime's own package (importing runtime runs it anyway)
    assert reachable(graph, "cnnlib.runtime") <= RUNTIME_MAY_IMPORT


# The old import paths issue 22 found kept alive by shims, only for tests: each is gone (the
# Colab set-up cell installs a tagged release, so an old notebook keeps its own version).
OLD_PATHS = {"cnnlib.book": ["checkpoint_path"], "cnnlib.initialisation": ["conv_stack"],
             "cnnlib.adapt.adda": ["discriminator"], "cnnlib.adapt.cyclegan": ["generator", "ResidualBlock"]}
# transfer uses freeze and convnet itself, so imports them; it no longer offers them as its own.
NOT_EXPORTED = {"cnnlib.transfer": ["freeze", "convnet"]}


def _module_level_functions(path: Path) -> set[str]:
    return {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}


def test_no_shim_module_or_alias_for_an_old_import_path():
    modules = module_files(ROOT, "cnnlib")
    assert "cnnlib.augment" not in modules, "cnnlib/augment.py: the augmentations live in cnnlib.data"
    lazy = sorted(name for name, path in modules.items() if "__getattr__" in _module_level_functions(path))
    assert not lazy, f"a module-level __getattr__ (a lazy alias) in {lazy}"
    for module, names in OLD_PATHS.items():
        kept = [name for name in names if hasattr(importlib.import_module(module), name)]
        assert not kept, f"{module} still offers {kept}"
    for module, names in NOT_EXPORTED.items():
        exported = set(importlib.import_module(module).__all__) & set(names)
        assert not exported, f"{module} still exports {sorted(exported)}"


# --------------------------------------------------------------------------------------
# The checker itself, on a made-up package: it sees what it must see

def _write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_a_cycle_hidden_in_a_function_through_a_package(tmp_path):
    _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .sub.b import thing\n",
        "pkg/sub/__init__.py": "from . import c\n",
        "pkg/sub/b.py": "thing = 1\n",
        "pkg/sub/c.py": "def late():\n    from .. import a\n    return a\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}  # the package's __init__ runs first
    assert graph["pkg.sub.c"] == {"pkg.a"}  # function-level, and `from .. import a` is pkg.a
    assert find_cycle(graph) == ["pkg.a", "pkg.sub", "pkg.sub.c", "pkg.a"]
    assert reachable(graph, "pkg.sub.b") == set()  # b itself imports nothing
    (tmp_path / "pkg/sub/c.py").write_text("def late():\n    return 1\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None


def test_the_checker_resolves_absolute_imports_and_ignores_other_packages(tmp_path):
    _write_package(tmp_path, {
        "pkg/__init__.py": "import os\nimport pkg.low\n",
        "pkg/low.py": "import torch\n",
        "pkg/high.py": "from pkg import low\nfrom pkg.low import x\n",
    })
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg": {"pkg.low"}, "pkg.low": set(), "pkg.high": {"pkg.low"}}
