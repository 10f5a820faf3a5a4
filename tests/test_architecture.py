"""The house rules of the code base, checked on its source (see docs/architecture.md):
no import circles, route modules never import one another, no module over 400 lines, and
no store-type checks outside ``lorakeet/storage``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lorakeet"
MAX_LINES = 400
STORE_CLASSES = frozenset({"SqliteStore", "InfluxStore"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every lorakeet module ``name`` imports, anywhere in the file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name``, mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import a.b.c`` of a name inside a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def import_graph() -> dict[str, set[str]]:
    """Module -> the lorakeet modules it imports."""
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def route_modules() -> set[str]:
    """Modules that define API routes (an ``APIRouter``)."""
    return {name for name, path in _modules().items() if "APIRouter(" in path.read_text()}


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_route_modules_never_import_each_other() -> None:
    routes = route_modules()
    assert "lorakeet.api.routes.devices" in routes and "lorakeet.api.web.pages" in routes
    graph = import_graph()
    crossing = {name: sorted(graph[name] & routes) for name in sorted(routes) if graph[name] & routes}
    assert crossing == {}


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


LAYERS = (  # bottom first; a module may import its own layer and the ones below
    ("lorakeet.ids", "lorakeet.timefmt", "lorakeet.timeparse", "lorakeet.ttlcache", "lorakeet.settings"),
    ("lorakeet.decoders",),
    ("lorakeet.storage",),
    ("lorakeet.views",),
    ("lorakeet.alerts",),
    ("lorakeet.gateway_bridge", "lorakeet.observability"),
    ("lorakeet.api",),
    ("lorakeet.api.routes", "lorakeet.api.web"),
    ("lorakeet.cli",),
)
COMPOSITION = {"lorakeet.api.app"}  # puts the app together from every route module


def layer_of(name: str) -> int | None:
    """The index in LAYERS of the longest prefix naming ``name``'s package, or None."""
    best: tuple[int, int] | None = None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (name == p or name.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def test_imports_go_down_the_layers() -> None:
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if name not in COMPOSITION and (here := layer_of(name)) is not None
        for target in targets
        if (there := layer_of(target)) is not None and there > here
    )
    assert upward == []


def test_the_layer_finder_prefers_the_longest_prefix() -> None:
    assert layer_of("lorakeet.api.routes.devices") == layer_of("lorakeet.api.web.pages") == 7
    assert layer_of("lorakeet.api.deps") == 6
    assert layer_of("lorakeet.storage.registry.tables") == 2
    assert layer_of("lorakeet.config_check") is None


def _store_type_checks(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("isinstance", "issubclass") and len(node.args) == 2:
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                names |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if names & STORE_CLASSES:
                    yield node.lineno


def test_no_store_type_checks_outside_storage() -> None:
    found = [
        f"{name}:{line}"
        for name, path in _modules().items()
        if not name.startswith("lorakeet.storage")
        for line in _store_type_checks(ast.parse(path.read_text()))
    ]
    assert found == []


def test_the_store_check_finder_sees_a_check() -> None:
    tree = ast.parse("if isinstance(store, (SqliteStore, x.InfluxStore)):\n    pass\n")
    assert list(_store_type_checks(tree)) == [1]
