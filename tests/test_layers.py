"""The package layout is the architecture: lower layers never import higher ones, and nothing imports in a circle.

``RANKS`` is the table of docs/architecture.md. A module may import its own unit, and any
unit of a lower rank; units of the same rank (``checks``, ``fuzz``, ``kit``) are siblings
that never import each other. Imports inside functions count too (a lazy import is still a
dependency); imports under ``if TYPE_CHECKING:`` do not (annotations only).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mtlsgate"

#: unit (the first name below ``mtlsgate``) -> rank; ``""`` is the tiny top ``__init__`` (``__version__``).
RANKS = {
    "": 0, "errors": 0,
    "pki": 1,
    "wire": 2,
    "judge": 3,
    "checks": 4, "fuzz": 4, "kit": 4,
    "targets": 5,
    "report": 6,
    "gate": 7,
    "replay": 8, "cmdline": 8, "scheduling": 8,
    "plugin": 9, "cli": 9,
    "__main__": 10,
}
#: Top-level modules allowed beside the layer packages (docs/architecture.md says why each is there).
TOP_MODULES = {"__init__", "__main__", "errors", "plugin", "cli", "replay", "cmdline", "scheduling"}


def module_name(root: Path, path: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for alt in child.orelse:
                    visit(alt)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules of ``package`` it imports (``from pkg import submodule`` names the submodule)."""
    modules = {module_name(root, p, package): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == package}
                continue
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != package:
                continue
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules}
            targets |= subs
            if len(subs) < len(node.names):
                targets.add(mod)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(root: Path, package: str, ranks: dict[str, int]) -> list[str]:
    """One line per upward or sideways import between units, and per import circle."""
    graph = import_graph(root, package)
    problems = []
    for src, targets in sorted(graph.items()):
        for dst in sorted(targets):
            a, b = unit(src), unit(dst)
            if a == b:
                continue
            if a not in ranks or b not in ranks:
                problems.append(f"{src} -> {dst}: unit {a if a not in ranks else b!r} has no rank")
            elif ranks[b] > ranks[a]:
                problems.append(f"{src} -> {dst}: {a} (rank {ranks[a]}) imports the higher layer {b} (rank {ranks[b]})")
            elif ranks[b] == ranks[a]:
                problems.append(f"{src} -> {dst}: {a} and {b} are siblings (rank {ranks[a]}) and never import each other")
    problems += [f"import circle: {' -> '.join(c)}" for c in _cycles(graph)]
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


# -- the package as it is ------------------------------------------------------------

def test_no_upward_import_and_no_circle() -> None:
    assert layer_violations(PACKAGE, "mtlsgate", RANKS) == []


def test_every_unit_has_a_rank_and_the_top_holds_only_faces() -> None:
    units = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP_MODULES, f"modules at the top that belong in a layer package: {sorted(top - TOP_MODULES)}"
    assert (units - {"_fixtures"}) | (top - {"__init__"}) <= set(RANKS)


def _face_names(package: str) -> tuple[set[str], set[str]]:
    """(what the face's __all__ says, what its modules' __all__ say, renamed as the face renames them)."""
    face = importlib.import_module(f"mtlsgate.{package}")
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
    by_module: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            by_module.setdefault(node.module, {}).update({a.name: a.asname or a.name for a in node.names})
    for name, names in by_module.items():
        module = importlib.import_module(f"mtlsgate.{package}.{name}")
        assert set(names) == set(module.__all__), f"mtlsgate.{package} re-exports {name} partly"
    return set(face.__all__), {alias for names in by_module.values() for alias in names.values()}


@pytest.mark.parametrize("package", sorted(u for u in RANKS if u and (PACKAGE / u / "__init__.py").exists()))
def test_package_face_is_its_modules_all(package: str) -> None:
    """httpx's rule: each module declares __all__; the package face re-exports exactly those names."""
    declared, exported = _face_names(package)
    assert declared == exported
    face = importlib.import_module(f"mtlsgate.{package}")
    assert all(hasattr(face, name) for name in declared)
    assert face.__doc__ and "May import" in face.__doc__, f"mtlsgate.{package}: the docstring says what it may import"


def test_top_package_stays_tiny() -> None:
    """pytest imports ``mtlsgate`` in every session (the plugin's entry point): it must not pull in the stack."""
    code = "import sys, mtlsgate; print(sorted(m for m in sys.modules if m.startswith('mtlsgate')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['mtlsgate']"


def test_every_module_imports_alone_without_warnings() -> None:
    """pytest's test_meta: each module in a fresh interpreter with -W error (catches a circle at import time)."""
    names = sorted(module_name(PACKAGE, p, "mtlsgate") for p in PACKAGE.rglob("*.py")
                   if "_fixtures" not in p.parts and p.name != "__main__.py")

    def run(name: str) -> tuple[str, int, str]:
        proc = subprocess.run([sys.executable, "-W", "error", "-c", f"import {name}"], capture_output=True,
                              text=True, timeout=120)
        return name, proc.returncode, proc.stderr.strip().splitlines()[-1:] and proc.stderr.strip().splitlines()[-1]

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [f"{n}: {err}" for n, rc, err in pool.map(run, names) if rc != 0]
    assert failed == []


# -- the checker itself, on synthetic trees ------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


SYNTHETIC_RANKS = {"": 0, "errors": 0, "pki": 1, "report": 6, "checks": 4, "fuzz": 4}


def test_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "pki/__init__.py": "from .certs import issue\n",
        "pki/certs.py": "from ..errors import UsageError\ndef issue(): pass\n",
        "report/__init__.py": "from ..pki import issue\n",
    })
    assert layer_violations(root, "pkg", SYNTHETIC_RANKS) == []


def test_checker_catches_an_upward_import_even_inside_a_function(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "pki/__init__.py": "",
        "pki/certs.py": "def issue():\n    from ..report import write\n",
        "report/__init__.py": "",
        "report/write.py": "",
    })
    problems = layer_violations(root, "pkg", SYNTHETIC_RANKS)
    assert problems == ["pkg.pki.certs -> pkg.report.write: pki (rank 1) imports the higher layer report (rank 6)"]


def test_checker_ignores_type_checking_imports(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "pki/__init__.py": "",
        "pki/certs.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.report import Row\n",
        "report/__init__.py": "",
    })
    assert layer_violations(root, "pkg", SYNTHETIC_RANKS) == []


def test_checker_catches_siblings_and_circles(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "checks/__init__.py": "",
        "checks/bypass.py": "from .resume import exchange\n",
        "checks/resume.py": "from . import bypass\n",
        "checks/catalogue.py": "from ..fuzz import strategies\n",
        "fuzz/__init__.py": "",
        "fuzz/strategies.py": "",
    })
    problems = layer_violations(root, "pkg", SYNTHETIC_RANKS)
    assert "import circle: pkg.checks.bypass -> pkg.checks.resume -> pkg.checks.bypass" in problems
    assert any("checks and fuzz are siblings" in p for p in problems)


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject.toml lists packages by name: a new layer package missing there would vanish from the wheel."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    present = {module_name(PACKAGE, p, "mtlsgate") for p in PACKAGE.glob("*/__init__.py")} | {"mtlsgate"}
    assert present <= listed, f"add to [tool.setuptools] packages: {sorted(present - listed)}"
