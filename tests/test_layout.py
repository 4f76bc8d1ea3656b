"""The code's layout stays what the README says it is, and the layers stay apart.

- No folder under ``dtsen_pipeline/defs/`` imports another (each is one layer of the graph; what two
  layers share lives below defs/, e.g. graph.py, published.py, quality/results.py).
- The README's layout table lists every module and package of ``dtsen_pipeline/`` and nothing that
  does not exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from dtsen_pipeline.lib import paths

PACKAGE = paths.PACKAGE_DIR
README = paths.PROJECT_ROOT / "README.md"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_defs_folder_imports_another():
    layers = sorted(
        p.name for p in (PACKAGE / "defs").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )
    assert len(layers) >= 5
    crossings = []
    for layer in layers:
        for module in (PACKAGE / "defs" / layer).rglob("*.py"):
            for name in _imports(module):
                m = re.match(r"dtsen_pipeline\.defs\.(\w+)", name)
                if m and m.group(1) != layer:
                    crossings.append(f"{module.relative_to(PACKAGE)} imports {name}")
    assert not crossings, "\n".join(crossings)


def _layout_block() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    return block.splitlines()


def test_the_readme_layout_matches_the_tree():
    listed_top, listed_package = set(), set()
    for line in _layout_block():
        top = re.match(r"^(\S+?)/?\s{2,}", line + "  ")
        inner = re.match(r"^  (\S+?)/?\s{2,}", line + "  ")
        if inner:
            listed_package.add(inner.group(1))
        elif top and not line.startswith(" "):
            listed_top.add(top.group(1).rstrip("/"))
    missing_on_disk = sorted(n for n in listed_package if not (PACKAGE / n).exists())
    missing_on_disk += sorted(n for n in listed_top if not (paths.PROJECT_ROOT / n).exists())
    assert not missing_on_disk, f"the README lists what does not exist: {missing_on_disk}"
    actual = {
        p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    actual.add("config")
    unlisted = sorted(actual - listed_package)
    assert not unlisted, f"the README's layout table does not list: {unlisted}"
