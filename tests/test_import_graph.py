"""The package's import graph, read from the source with ``ast`` (nothing is imported).

Checks the layering the design states: no import cycle between modules nor between packages
(every import, the lazy ones inside functions included);
``polyclr.selection`` imports nothing from ``polyclr.pipelines`` or ``polyclr.modalities``;
``polyclr.losses`` imports only torch; a modality package never imports another one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "polyclr"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _index(root: Path) -> tuple[dict[str, Path], set[str]]:
    """Modules (dotted name -> file) and packages under ``root``."""
    return ({_module_name(p, root): p for p in sorted(root.rglob("*.py"))},
            {_module_name(p, root) for p in root.rglob("__init__.py")})


MODULES, PACKAGES = _index(ROOT)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run when the module is imported (not inside functions or classes'
    methods; ``if TYPE_CHECKING`` blocks excluded)."""
    out: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node):
                out += _top_level(node.body) + _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            out += _top_level(node.body) + _top_level(node.orelse) + _top_level(node.finalbody)
            for h in node.handlers:
                out += _top_level(h.body)
        elif isinstance(node, ast.With):
            out += _top_level(node.body)
        elif isinstance(node, ast.ClassDef):
            out += [n for n in node.body if isinstance(n, ast.Import | ast.ImportFrom)]
        else:
            out.append(node)
    return out


def _targets(node: ast.stmt, module: str, modules: dict[str, Path] = MODULES,
             packages: set[str] = PACKAGES) -> list[str]:
    """polyclr modules an import statement loads (``from pkg import sub`` -> ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            pkg = module if module in packages else module.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                pkg = pkg.rsplit(".", 1)[0]
            base = f"{pkg}.{base}" if base else pkg
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    else:
        return []
    out = []
    for name in names:
        while name and name not in modules:  # ``import polyclr.x.y`` of a non-module attribute
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name.startswith("polyclr"):
            out.append(name)
    return out


def _graph(lazy: bool, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> polyclr modules it imports (``lazy``: also imports inside functions)."""
    modules, packages = (MODULES, PACKAGES) if root == ROOT else _index(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = list(ast.walk(tree)) if lazy else _top_level(tree.body)
        graph[name] = {t for n in nodes if isinstance(n, ast.stmt)
                       for t in _targets(n, name, modules, packages)} - {name}
    return graph


def _package_of(module: str) -> str:
    """The package a module belongs to; modules directly under ``polyclr/`` are their own node."""
    if module in PACKAGES:
        return module
    parent = module.rsplit(".", 1)[0]
    return module if parent == "polyclr" else parent


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_find_cycle_finds_a_cycle_and_none_in_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_planted_cycles(tmp_path: Path) -> None:
    """The AST reading resolves relative and ``from pkg import module`` imports, at module level
    and inside functions."""
    pkg = tmp_path / "polyclr"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from polyclr.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from . import a\n")
    assert find_cycle(_graph(lazy=False, root=pkg)) is None
    assert find_cycle(_graph(lazy=True, root=pkg)) == ["polyclr.sub.a", "polyclr.sub.b", "polyclr.sub.a"]


@pytest.mark.parametrize("lazy", [False, True], ids=["module_level", "with_lazy_imports"])
def test_no_cycle_between_modules(lazy: bool) -> None:
    cycle = find_cycle(_graph(lazy=lazy))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for mod, targets in _graph(lazy=True).items():
        src = _package_of(mod)
        packages.setdefault(src, set()).update(
            t for t in map(_package_of, targets) if t != src and not src.startswith(t + "."))
    cycle = find_cycle(packages)
    assert cycle is None, "package import cycle: " + " -> ".join(cycle or [])


def _imports_of(prefix: str) -> dict[str, set[str]]:
    return {m: t for m, t in _graph(lazy=True).items() if m == prefix or m.startswith(prefix + ".")}


def test_selection_imports_no_pipeline_or_modality() -> None:
    bad = {m: sorted(t for t in ts if t.startswith(("polyclr.pipelines", "polyclr.modalities")))
           for m, ts in _imports_of("polyclr.selection").items()}
    assert not {m: t for m, t in bad.items() if t}


def test_modalities_never_import_each_other_nor_pipelines() -> None:
    for name in ("volume", "timeseries", "audio"):
        own = f"polyclr.modalities.{name}"
        for mod, targets in _imports_of(own).items():
            bad = [t for t in targets if t.startswith(("polyclr.modalities.", "polyclr.pipelines"))
                   and not t.startswith(own)]
            assert not bad, f"{mod} imports {bad}"


def test_losses_import_only_losses() -> None:
    for mod, targets in _imports_of("polyclr.losses").items():
        assert all(t.startswith("polyclr.losses") for t in targets), (mod, targets)


def test_every_pipeline_has_the_same_files() -> None:
    folders = [ROOT / "pipelines" / m for m in ("volume", "timeseries", "audio")]
    names = [sorted(p.name for p in f.glob("*.py")) for f in folders]
    assert names[0] == names[1] == names[2], names
    assert {"__init__.py", "config.py", "pipeline.py", "data.py", "train.py"} <= set(names[0])
    for f in folders:  # __init__ exposes only PIPELINE
        tree = ast.parse((f / "__init__.py").read_text(encoding="utf-8"))
        bound = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
        assert bound == {"PIPELINE"}, (f, bound)
