"""The shape of the code, read from its imports: no module imports itself round a
circle, and the videos app imports nothing of the jobs app (jobs builds on videos, and
videoproc, the project package, sits above both).

Every import counts, those inside functions too: they only postpone a circle to run
time. Tests and migrations are left out; the files are read, not imported."""

import ast
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("jobs", "videos", "videoproc")
LEFT_OUT = {"tests", "migrations", "__pycache__", ".venv"}


def source_files() -> dict[str, Path]:
    """Our modules by dotted name, and their files."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if LEFT_OUT & set(parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The modules of ours that module imports anywhere in its file, with the line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module
            for alias in node.names:
                name = f"{source}.{alias.name}"
                if name in modules:  # from pkg import module
                    yield name, node.lineno
                elif source in modules:  # from module import name
                    yield source, node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    """module → {module it imports: the first line that does}."""
    modules = source_files()
    graph: dict[str, dict[str, int]] = {module: {} for module in modules}
    for module, path in modules.items():
        for target, line in imported(module, path, modules):
            if target != module:
                graph[module][target] = min(line, graph[module].get(target, line))
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's components of more than one module: each holds at least one circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def circle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """One shortest circle through the component's first module, back to it."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node]):
            if target == start:
                return [*paths[node], start]
            if target in members and target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no circle in {component}")


def described(graph: dict[str, dict[str, int]], path: list[str]) -> str:
    """a (line 3) → b (line 7) → a: a imports b on its line 3, b imports a on its line 7."""
    steps = [f"{module} (line {graph[module][target]})" for module, target in pairwise(path)]
    return " → ".join([*steps, path[-1]])


def test_the_walk_sees_the_project_and_imports_inside_functions():
    graph = import_graph()

    assert {"jobs.models", "videos.services", "videoproc.urls"} <= set(graph)
    assert not any(".tests" in module or ".migrations" in module for module in graph)
    assert "videos.views" in graph["videoproc.urls"]  # from videos.views import ...
    assert "videos.services" in graph["videos.views"]  # from . import services
    assert "jobs.services" in graph["jobs.recovery"]  # inside a function


def test_no_module_imports_itself_round_a_circle():
    graph = import_graph()

    circles = [described(graph, circle(graph, c)) for c in strongly_connected(graph)]

    assert not circles, "import circles:\n" + "\n".join(circles)


def test_videos_imports_nothing_of_jobs():
    graph = import_graph()

    arrows = [
        f"{module} (line {line}) imports {target}"
        for module, targets in graph.items()
        if module.split(".")[0] == "videos"
        for target, line in targets.items()
        if target.split(".")[0] == "jobs"
    ]

    assert not arrows, "videos imports jobs:\n" + "\n".join(arrows)
