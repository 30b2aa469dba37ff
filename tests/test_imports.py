"""The shape of `qa/`: an import graph with no circle and nothing reaching back up; no function over 60 lines.

The graph is read from the source (ast), not by importing. An edge is every import of a `qa` module: at the
top of a module, inside a function (that only postpones a circle) and under `if TYPE_CHECKING:` (a type named
both ways is still two modules that need each other; `config` <-> `embedding` was such a circle). One kind
of edge is allowed by design: a package's `__init__` importing its own implementation modules inside a
function, the factory choosing an implementation (DESIGN.md: "its `__init__` holds the protocol and the
factory, one module per implementation").
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "qa"
# The flows' orchestrators and the package's public face: parts below them (store/, generation/, …) are called by
# them and must not call back. Front ends (serve/) sit above them and call them.
ORCHESTRATORS = {"qa", "qa.answer.pipeline", "qa.service", "qa.ingest.indexing", "qa.evaluation", "qa.cli"}
FRONT_ENDS = ("qa.serve",)
# Layers, lowest first: a module imports only from its own layer or one below, so an index and a question flow down
# through the folders and nothing climbs back. The answering flow may read sentences the way the indexing flow's
# chunking cuts them (citations' offsets must match the chunks'); the indexing flow never imports the answering one.
LAYERS = [("qa.config", "qa.errors", "qa.text", "qa.cpu", "qa.embedding", "qa.store", "qa.generation"),
          ("qa.ingest",),
          ("qa.answer",)]  # everything else (qa, qa.service, qa.evaluation, qa.cli, qa.readme, qa.serve) sits on top


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(tree: ast.AST, in_function: bool = False):
    """(imported module, level, names, inside a function) for every import statement under `tree`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [a.name for a in node.names], in_function
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, 0, [], in_function
        else:
            inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from _imports(node, inner)


def graph() -> dict[str, set[str]]:
    """module -> the qa modules it imports (see the module docstring for what counts)."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for module, level, names, in_function in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            base = ".".join((here[:len(here) - level + 1] if level else []) + ([module] if module else []))
            for target in [f"{base}.{n}" for n in names if f"{base}.{n}" in modules] or [base]:
                own_implementation = is_package and in_function and target.startswith(name + ".")
                if target in modules and target != name and not own_implementation:
                    targets.add(target)
        edges[name] = targets
    return edges


def _circle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_is_read_correctly():
    edges = graph()
    assert "qa.store.base" in edges["qa.store.local"]  # a relative import
    assert "qa.ingest.indexing_ray" in edges["qa.ingest.indexing"]  # an import inside a function counts
    assert "qa.generation.ctranslate2" not in edges["qa.generation"]  # the factory's choice of implementation
    assert "qa.config" in edges["qa.store.base"]  # an import under TYPE_CHECKING counts
    assert "qa.serve.schemas" in edges["qa.serve.api"]  # `from . import schemas`


def test_no_import_circle():
    circle = _circle(graph())
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_circle_finder_finds_one():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def test_no_subpackage_imports_back_up_into_the_orchestrators():
    packages = {m for m, path in _modules().items() if path.name == "__init__.py"} - {"qa"}
    upward = [f"{m} -> {t}" for m, targets in graph().items() for t in sorted(targets & ORCHESTRATORS)
              if (m in packages or m.count(".") >= 2) and not m.startswith(FRONT_ENDS)]
    assert not upward, upward


def _layer(module: str) -> int:
    return next((n for n, prefixes in enumerate(LAYERS)
                 if any(module == p or module.startswith(p + ".") for p in prefixes)), len(LAYERS))


def test_no_import_runs_back_up_a_layer():
    edges = graph()
    assert _layer("qa.store.local") == 0 and _layer("qa.ingest.indexing") == 1 and _layer("qa.answer.pipeline") == 2
    assert _layer("qa.service") == _layer("qa") == _layer("qa.serve.api") == 3
    upward = [f"{m} -> {t}" for m, targets in edges.items() for t in sorted(targets) if _layer(t) > _layer(m)]
    assert not upward, upward


MAX_FUNCTION_LINES = 60  # DESIGN.md: "a long function is a list of stages waiting to be named"


def test_no_function_over_60_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
