"""The package's layers, read from the source with `ast`: video I/O below the readers and both stages, the cache
and stage 2 without stage 1, stage 1 without stage 2. Every import counts, at module level or in a function, and
so does all that it imports in turn."""

import ast
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest

import hiermovie

ROOT = Path(hiermovie.__file__).parent
STAGES = ("datasets", "extract", "cache", "contextualize", "tasks")
FORBIDDEN = {  # subpackage -> the subpackages none of its modules may reach
    "video": STAGES,
    "datasets": ("extract",),
    "extract": ("tasks", "contextualize"),
    "cache": ("extract",),
    "contextualize": ("extract",),
    "tasks": ("extract",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The hiermovie modules the code of `module` imports: `import a.b`, `from a.b import c` (c a module or a name),
    relative imports; with every package above each (importing hiermovie.cache.reader runs hiermovie/cache/__init__)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    parts = [name.split(".") for name in names if name in known]
    return {".".join(part[:end]) for part in parts for end in range(1, len(part) + 1)} - {module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    """hiermovie module -> the hiermovie modules it imports itself."""
    paths = {_module_name(path): path for path in ROOT.rglob("*.py")}
    return {
        module: _imports(path.read_text(), module, path.stem == "__init__", set(paths))
        for module, path in paths.items()
    }


def _chains(graph: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every module `start` reaches, with a shortest import chain from `start` to it."""
    chains, todo = {start: [start]}, deque([start])
    while todo:
        current = todo.popleft()
        for target in sorted(graph[current] - chains.keys()):
            chains[target] = [*chains[current], target]
            todo.append(target)
    return chains


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """One line per module and subpackage it reaches but may not: the shortest import chain there."""
    found = []
    for module in sorted(graph):
        forbidden = FORBIDDEN.get(_package(module), ())
        chains = sorted(_chains(graph, module).values(), key=len)
        for package in forbidden:
            chain = next((chain for chain in chains if _package(chain[-1]) == package), None)
            if chain is not None:
                found.append(" -> ".join(chain))
    return found


def test_no_package_reaches_a_layer_it_may_not(graph):
    violations = layer_violations(graph)
    assert not violations, "\n".join(violations)


def test_the_graph_sees_each_import_form(graph):
    """`from a.b import c`, `from a import module`, imports in functions and the packages above: all read."""
    assert "hiermovie.video.decode" in graph["hiermovie.extract.featurize"]  # from hiermovie.video.decode import ...
    assert {"hiermovie.cli.stage1", "hiermovie.cli.stage2"} <= graph["hiermovie.cli.main"]  # from hiermovie.cli import
    assert "hiermovie.demo" in graph["hiermovie.cli.main"]  # imported inside the command
    assert {"hiermovie", "hiermovie.cache"} <= graph["hiermovie.tasks.runs"]


@pytest.mark.parametrize(
    "module, source, caught",
    [
        ("hiermovie.datasets.vidsitu", "import hiermovie.extract.backbone\n", "hiermovie.datasets.vidsitu"),
        ("hiermovie.datasets.vidsitu", "from hiermovie.extract import backbone\n", "hiermovie.datasets.vidsitu"),
        ("hiermovie.video.windows", "from ..datasets import vidsitu\n", "hiermovie.video.windows"),
        (
            "hiermovie.cache.reader",
            "def f():\n    from hiermovie.extract.config import BackboneConfig\n",
            "hiermovie.tasks.runs",
        ),
        ("hiermovie.linear_probe", "from hiermovie.tasks.vidsitu_eval import NUM_REFS\n", "hiermovie.extract.verbs"),
    ],
)
def test_a_forbidden_import_is_caught(graph, module, source, caught):
    """Each import form, in the module itself or in one it imports, turns up as a violation."""
    broken = {**graph, module: graph[module] | _imports(source, module, False, set(graph))}
    assert broken[module] != graph[module]
    assert any(line.startswith(f"{caught} ") for line in layer_violations(broken)), source


def test_the_graph_holds_what_python_imports(graph):
    """Importing the lower layers loads no hiermovie module the graph does not predict (and never stage 1)."""
    roots = ("hiermovie.video.decode", "hiermovie.video.windows", "hiermovie.cache", "hiermovie.datasets.benchmark")
    code = (
        f"import sys; import {', '.join(roots)}; print(' '.join(m for m in sys.modules if m.startswith('hiermovie')))"
    )
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    predicted = set().union(*(_chains(graph, root).keys() for root in roots))
    assert "hiermovie.cache.reader" in loaded and loaded <= predicted
    assert not any(_package(name) == "extract" for name in loaded)
