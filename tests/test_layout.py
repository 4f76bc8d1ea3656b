"""The code's layout stays what the README and docs/layout.md say it is, and the layers stay apart.

The rules (issue 29), each a test below:
- the package root holds only the entry points (``cli.py``, ``bench.py``, ``definitions.py``), the
  configuration folder and the layer packages;
- ``lib/`` knows no layer: it imports nothing of the package but itself;
- ``lab/`` (the synthetic world, evaluation, baselines, PMT calibration) is imported only by the CLI,
  the bench and itself: production code never depends on the generator or the truth;
- no domain package (lib, ingest, linkage, quality, publish, lab) imports ``defs/``: what the data
  does is apart from how Dagster runs it;
- no folder under ``defs/`` imports another, except the shared wiring in ``defs/common/``;
- no import cycle among the package's modules, counting imports inside functions;
- public Dagster APIs only (no ``dagster._...``);
- no function over 100 lines;
- ``tests/`` mirrors the package, and every layer has tests of its own;
- README's layout table lists every folder of the package, docs/layout.md every module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from dtsen_pipeline.lib import paths

PACKAGE = paths.PACKAGE_DIR
ROOT = paths.PROJECT_ROOT
README = ROOT / "README.md"
LAYOUT_DOC = ROOT / "docs" / "layout.md"
TESTS = ROOT / "tests"
ENTRY_POINTS = {"__init__.py", "cli.py", "bench.py", "definitions.py"}
DOMAIN = ("lib", "ingest", "linkage", "quality", "publish", "lab")
MAX_FUNCTION_LINES = 100


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports, anywhere in it (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("dtsen_pipeline")}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _offenders(importer: str, forbidden: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Modules under ``importer`` that import something under ``forbidden`` (unless allowed)."""

    def under(module: str, prefix: str) -> bool:
        return module == prefix or module.startswith(prefix + ".")

    return sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if under(module, importer)
        for target in targets
        if under(target, forbidden) and not any(under(target, a) for a in allowed)
    )


def test_the_package_root_holds_only_entry_points():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ENTRY_POINTS)
    assert not loose, f"modules at the package root that are not entry points: {loose}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {*DOMAIN, "defs", "config"}


def test_lib_imports_nothing_of_the_package_but_itself():
    assert not _offenders("dtsen_pipeline.lib", "dtsen_pipeline", allowed=("dtsen_pipeline.lib",))


def test_only_the_cli_the_bench_and_the_lab_import_the_lab():
    importers = {
        module
        for module, targets in GRAPH.items()
        if any(t.startswith("dtsen_pipeline.lab") for t in targets)
    }
    allowed = {"dtsen_pipeline.cli", "dtsen_pipeline.bench"}
    assert not {m for m in importers - allowed if not m.startswith("dtsen_pipeline.lab")}


def test_no_domain_package_imports_defs():
    crossings = [
        c for d in DOMAIN for c in _offenders(f"dtsen_pipeline.{d}", "dtsen_pipeline.defs")
    ]
    assert not crossings, "\n".join(crossings)


def test_no_defs_folder_imports_another_but_the_shared_wiring():
    layers = sorted(
        p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )
    assert {"common", "ingest", "dbt", "linkage", "quality", "publish"} <= set(layers)
    crossings = []
    for layer in layers:
        for other in layers:
            if other not in (layer, "common"):
                crossings += _offenders(
                    f"dtsen_pipeline.defs.{layer}", f"dtsen_pipeline.defs.{other}"
                )
    assert not crossings, "\n".join(crossings)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_even_through_function_level_imports():
    assert not _cycles(GRAPH)


# A custom run launcher's health check must return these two, which Dagster defines only under
# dagster._core.launcher (its own dagster-docker and dagster-k8s launchers import them from there):
# launcher.py's one import, pinned to exactly that line.
ALLOWED_PRIVATE = {
    "dtsen_pipeline/defs/common/launcher.py: "
    "from dagster._core.launcher import CheckRunHealthResult, WorkerStatus"
}


def test_public_dagster_apis_only():
    private = sorted(
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in MODULES.values()
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*(from|import) dagster\w*\._", line)
    )
    private = [line for line in private if line not in ALLOWED_PRIVATE]
    assert not private, "\n".join(private)


def test_no_function_over_100_lines():
    long = sorted(
        f"{path.relative_to(ROOT)}: {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    )
    assert not long, "\n".join(long)


def test_tests_mirror_the_package():
    """Every folder of tests/ is a folder of the package (or the dbt project), and every layer has
    tests of its own."""
    test_dirs = {
        p.relative_to(TESTS)
        for p in TESTS.rglob("*")
        if p.is_dir() and p.name not in ("__pycache__", "snapshots")
    }
    strays = sorted(
        str(d)
        for d in test_dirs
        if d.parts[0] != "dbt_project"
        and not (PACKAGE / d).is_dir()
        and not (d.parts[0] == "ingest" and d.parts[1:] == ("hostile",))
    )
    assert not strays, f"test folders with no package folder: {strays}"
    for layer in (*DOMAIN, "defs"):
        assert list((TESTS / layer).glob("test_*.py")) or list(
            (TESTS / layer).rglob("test_*.py")
        ), f"{layer}/ has no tests of its own"


def _block(text: str, heading: str) -> list[str]:
    return text.split(heading, 1)[1].split("```", 2)[1].splitlines()


def test_the_readme_layout_lists_every_folder_of_the_package():
    listed = set()
    for line in _block(README.read_text(encoding="utf-8"), "## Layout"):
        m = re.match(r"^  (\S+?/)\s", line + " ")
        if m:
            listed.add(m.group(1).rstrip("/"))
        m = re.match(r"^  (\S+\.py)\s", line + " ")
        if m:
            listed.add(m.group(1))
    actual = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    actual |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    assert listed == actual, (
        f"README lists {sorted(listed - actual)}, misses {sorted(actual - listed)}"
    )


def test_docs_layout_lists_every_module():
    listed = set()
    for line in _block(LAYOUT_DOC.read_text(encoding="utf-8"), "## Modules"):
        m = re.match(r"^(dtsen_pipeline/\S+\.py)\s", line + " ")
        if m:
            listed.add(m.group(1))
    actual = {
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    missing, stale = sorted(actual - listed), sorted(listed - actual)
    assert not missing and not stale, f"docs/layout.md misses {missing}; lists {stale}"
