"""The package's folders are layers: imports point only downward, and no module imports itself
back through others.  Both are read from the source with ``ast``, counting imports inside
functions (only ``if TYPE_CHECKING:`` blocks, which never run, are left out)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[2] / "querygym"

#: lowest first; a module may import its own layer and the layers before it
LAYERS = ["errors", "util", "schema", "actions", "dialects", "plan", "engine", "scoring", "synth", "converters", "data",
          "env", "agents", "runs", "integrations", "analysis", "bench", "web", "cli"]
#: imports that may stay inside functions: optional extras, loaded only when used
OPTIONAL = {"psycopg", "pgserver", "duckdb", "duckdb_engine", "ray", "openai", "langchain_core", "matplotlib",
            "starlette", "uvicorn", "jinja2", "httpx", "openenv", "verifiers", "skyrl_gym",
            "openenv_core", "trl", "fastapi", "pydantic", "datasets"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _skip_type_checking(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        for field in ("body", "orelse"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                setattr(node, field, [s for s in body if not (
                    isinstance(s, ast.If) and isinstance(s.test, ast.Name) and s.test.id == "TYPE_CHECKING")])


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for each import of ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    _skip_type_checking(tree)
    nested: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            nested.update(id(n) for n in ast.walk(fn) if n is not fn)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in nested) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from querygym import util` imports the submodule querygym.util
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                target = candidate if _exists(candidate) else base
                found.append((target, node.lineno, id(node) in nested))
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").exists() or (PACKAGE.parent / rel / "__init__.py").exists()


def _own(module: str) -> str | None:
    """The querygym module an import names (walking up to a module that exists), or None."""
    if module != "querygym" and not module.startswith("querygym."):
        return None
    while module and not _exists(module):
        module = module.rpartition(".")[0]
    return module or None


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        graph.add_node(source)
        for target, line, _ in imports(path):
            own = _own(target)
            if own and own != source:
                graph.add_edge(source, own, line=line)
    return graph


def test_no_import_cycles():
    graph = import_graph()
    cycles = [c for c in nx.simple_cycles(graph)]
    described = [" -> ".join(c + [c[0]]) for c in sorted(cycles, key=len)[:10]]
    assert not cycles, f"{len(cycles)} import cycle(s), shortest first:\n" + "\n".join(described)


def test_imports_point_downward():
    upward = []
    for source, target, data in import_graph().edges(data=True):
        low, high = layer(target), layer(source)
        if low is not None and high is not None and low > high:
            upward.append(f"{source}:{data['line']} imports {target} ({LAYERS[low]} is above {LAYERS[high]})")
    assert not upward, "imports that point upward:\n" + "\n".join(upward)


def test_deferred_imports_are_only_optional_extras():
    deferred = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for target, line, nested in imports(path):
            if nested and _own(target) is not None:
                deferred.append(f"{module_name(path)}:{line} defers the import of {target}")
    assert not deferred, "imports kept inside functions:\n" + "\n".join(deferred)


def test_every_module_is_in_a_layer():
    outside = [m for m in import_graph() if m.count(".") >= 1 and layer(m) is None
               and m not in ("querygym.__main__",)]
    assert not outside, f"modules in no layer: {outside}"


def test_the_checker_sees_a_cycle(tmp_path):
    """The graph builder itself: two modules importing each other inside functions form a cycle."""
    graph = nx.DiGraph([("a", "b"), ("b", "a")])
    assert list(nx.simple_cycles(graph))
