"""The architecture's layer rules, checked on the import graph of the source (every import, also
those inside functions; only ``if TYPE_CHECKING:`` blocks are left out):

- no module imports another in a circle;
- imports point downward only, through the layers of docs/extending.md:
  ``episodes`` < the shared basics (devices, errors, labels, limits, registry, weights, yamlio) <
  ``data`` < ``features`` < ``backbones``, ``learners`` < ``models`` < ``evaluation`` < ``training``, ``demo`` <
  ``commands``, ``api`` < the entry points run with ``python -m``. So library code never imports a
  command or the command line, models never import training, and ``episodes`` knows nothing of
  faces.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    ("episodes",),
    ("fewshot_fer", "fewshot_fer.errors", "fewshot_fer.labels", "fewshot_fer.limits", "fewshot_fer.registry",
     "fewshot_fer.weights", "fewshot_fer.yamlio", "fewshot_fer.devices"),
    ("fewshot_fer.data",),
    ("fewshot_fer.features",),
    ("fewshot_fer.backbones", "fewshot_fer.learners"),
    ("fewshot_fer.models",),
    ("fewshot_fer.evaluation",),
    ("fewshot_fer.training", "fewshot_fer.demo"),
    ("fewshot_fer.commands", "fewshot_fer.api"),
    # entry points: the modules ``python -m`` runs, which nothing imports
    ("fewshot_fer.__main__", "fewshot_fer.data.__main__", "fewshot_fer.demo.__main__", "fewshot_fer.train", "fewshot_fer.pretrain",
     "fewshot_fer.selftrain", "fewshot_fer.evaluate", "fewshot_fer.predict", "fewshot_fer.export",
     "fewshot_fer.ensemble"),
]


def layer(module: str) -> int:
    """The index of the layer ``module`` belongs to (its longest matching prefix)."""
    best, found = -1, None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, found = len(p), i
    if found is None:
        raise AssertionError(f"{module} is in no layer; add it to LAYERS")
    return found


def module_files() -> dict[str, Path]:
    out = {}
    for package in ("fewshot_fer", "episodes"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported(name: str, path: Path) -> set[str]:
    """The modules (and names inside them) that module ``name`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in
                 ast.unparse(node.test) for sub in ast.walk(node)}
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return out


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: {m for m in imported(name, path) if m in files and m != name} for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_in_a_circle():
    assert cycles(import_graph()) == []


def test_every_import_points_downward():
    graph = import_graph()
    upward = {m: sorted(t for t in graph[m] if layer(t) > layer(m)) for m in graph}
    assert {m: t for m, t in upward.items() if t} == {}


def test_the_layer_rule_catches_an_upward_import():
    assert layer("fewshot_fer.training.trainer") > layer("fewshot_fer.models.build") > layer("fewshot_fer.learners.base")
    assert layer("fewshot_fer.commands.cli") > layer("fewshot_fer.data.cache")
    assert layer("fewshot_fer.data.__main__") > layer("fewshot_fer.commands.data")


def test_library_code_never_imports_a_command_or_the_command_line():
    graph = import_graph()
    front = layer("fewshot_fer.commands")
    wrong = {m: sorted(t for t in graph[m] if layer(t) >= front) for m in graph if layer(m) < front}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_episodes_knows_nothing_of_faces():
    graph = import_graph()
    assert not any(t.startswith("fewshot_fer") for m in graph if within(m, ("episodes",)) for t in graph[m])
