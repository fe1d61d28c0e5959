"""The package's layout: no import cycles, and every import points down the layers.

Every module of ``arerec/`` is parsed with ``ast``; every ``import`` and ``from ... import`` counts,
at the top of a module or inside a function (or under ``if TYPE_CHECKING:``), relative ones
included. Run it alone with:

    python -m pytest tests/test_layout.py -q
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "arerec"

# The layers, lowest first. A layer holds one or more units: a subpackage, or a group of top-level
# modules. A module may import modules of its own unit and of any unit of a lower layer; never a unit
# of its own layer (data and model know nothing of each other) nor of a higher one.
# The training loop scores its epochs with the metrics, so evaluate sits below train; the sweeps
# (seeds, the validation search, the headline, the ablation) train many runs, so they sit above it.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"shared": ("arerec", "arerec.config", "arerec.console", "arerec.errors", "arerec.files", "arerec.backend_check", "arerec.locks",
                "arerec.malloc_tuning")},
    {"data": ("arerec.data",), "model": ("arerec.model",)},
    {"evaluate": ("arerec.evaluate",)},
    {"train": ("arerec.train",)},
    {"sweeps": ("arerec.sweeps",)},
    {"report": ("arerec.report",)},
    {"bench": ("arerec.bench",)},
    {"entry points": ("arerec.cli", "arerec.__main__")},
]


def module_name(path: Path, root: Path) -> str:
    """``arerec/train/loop.py`` -> ``arerec.train.loop``; a package's ``__init__.py`` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package: Path) -> dict[str, Path]:
    return {module_name(p, package.parent): p for p in sorted(package.rglob("*.py")) if "__pycache__" not in p.parts}


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The modules of ``known`` that one import statement of ``module`` names (the most specific that exists)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:  # relative: from the module's package, one level up per extra dot
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        names = [f"{origin}.{alias.name}" for alias in node.names]  # `from pkg import module`, or a name in pkg
    found = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its source."""
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(imported(node, module, path.name == "__init__.py", known))
        graph[module] = targets - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def unit_of(module: str) -> tuple[int, str] | None:
    """(layer, unit) of a module: a unit's subpackage holds it, or it is one of the unit's modules."""
    for rank, layer in enumerate(LAYERS):
        for unit, members in layer.items():
            for member in members:
                if module == member or (member != "arerec" and module.startswith(member + ".")):
                    return rank, unit
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in sorted(graph.items()):
        (rank, unit) = unit_of(source) or (-1, "?")
        for target in sorted(targets):
            (target_rank, target_unit) = unit_of(target) or (-1, "?")
            if target_unit != unit and target_rank >= rank:
                found.append(f"{source} ({unit}) imports {target} ({target_unit}), a layer at or above its own")
    return found


# --------------------------------------------------------------------------------------------
# The package
# --------------------------------------------------------------------------------------------
def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph(package_modules(PACKAGE)))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_is_in_a_layer():
    unplaced = [m for m in package_modules(PACKAGE) if unit_of(m) is None]
    assert not unplaced, f"modules in no layer of LAYERS (add them, lowest layer first): {unplaced}"


def test_every_import_points_down_the_layers():
    violations = layer_violations(import_graph(package_modules(PACKAGE)))
    assert not violations, "\n".join(violations)


def test_imports_inside_functions_are_seen():
    graph = import_graph(package_modules(PACKAGE))
    # build() imports the model inside the function (Keras is heavy), and so does the CLI's train command
    assert "arerec.model.layers" in graph["arerec.train.build"]
    assert "arerec.train.loop" in graph["arerec.cli"]
    assert graph["arerec.report.__main__"] == {"arerec.report.runner"}


# --------------------------------------------------------------------------------------------
# The checker itself, on a package written here
# --------------------------------------------------------------------------------------------
def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package_modules(root / "arerec")


def test_the_checker_resolves_relative_and_function_level_imports_and_finds_a_cycle(tmp_path):
    modules = write_package(tmp_path, {
        "arerec/__init__.py": "",
        "arerec/config.py": "import numpy\n",
        "arerec/data/__init__.py": "from . import split\n",
        "arerec/data/split.py": "from ..config import x\nfrom .prepare import y\n",
        "arerec/data/prepare.py": "def f():\n    from arerec.data import split\n",
        "arerec/model/layers.py": "import arerec.data.split as s\n",
    })
    graph = import_graph(modules)
    assert graph == {
        "arerec": set(),
        "arerec.config": set(),
        "arerec.data": {"arerec.data.split"},
        "arerec.data.split": {"arerec.config", "arerec.data.prepare"},
        "arerec.data.prepare": {"arerec.data.split"},
        "arerec.model.layers": {"arerec.data.split"},
    }
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"arerec.data.split", "arerec.data.prepare"}
    # model and data share a layer: neither may import the other
    assert layer_violations(graph) == [
        "arerec.model.layers (model) imports arerec.data.split (data), a layer at or above its own"]
    del graph["arerec.data.prepare"]
    assert find_cycle(graph) is None
