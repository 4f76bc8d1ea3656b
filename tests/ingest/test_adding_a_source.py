"""Adding a source is one YAML file plus its contract, with no code or test edited (issue 29).

What a source needs, by convention:
- ``config/sources/<name>.yaml``: the registry entry (its ingest asset, raw table, dbt staging model
  and place in the linkage input follow from it);
- ``docs/sources/<name>.md``: its contract, linked from the table of ``docs/sources/README.md``;
- a register: its ``identitas`` row in ``dbt_project/seeds/survivorship.csv`` (``dtsen
  check-config`` names a register without one).

The first test holds every registered source to the documentation convention. The second adds a
scratch source to copies of the configuration folder, the dbt project and the contracts, and shows
that ``dtsen check-config`` accepts it, that the dbt project generated and parsed for it has its
staging model feeding the linkage input, and that the Dagster definitions have its landing, raw and
staging assets: nothing under the checkout is written (the dbt project is a copy).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from dtsen_pipeline.ingest import dbt_registry
from dtsen_pipeline.ingest.sources import load_sources
from dtsen_pipeline.lib import paths

DOCS = paths.PROJECT_ROOT / "docs" / "sources"
SCRATCH = "dinsos_jabar"  # a province's list in Dinsos NTT's layout


def contract_problems(names: list[str], docs: Path) -> list[str]:
    """Sources without their contract page, or whose page the contracts' table does not link."""
    index = (docs / "README.md").read_text(encoding="utf-8")
    problems = []
    for name in names:
        page = docs / f"{name}.md"
        if not page.is_file():
            problems.append(f"{name}: no contract at docs/sources/{name}.md")
        elif not page.read_text(encoding="utf-8").startswith(f"# {name}"):
            problems.append(f"{name}: docs/sources/{name}.md does not open with '# {name}'")
        if f"]({name}.md)" not in index:
            problems.append(f"{name}: docs/sources/README.md does not link {name}.md")
    return problems


def test_every_registered_source_has_its_contract():
    assert contract_problems([s.name for s in load_sources()], DOCS) == []


# Run in a fresh interpreter whose dbt project is the copy (argv[1]): the dbt project directory is a
# constant of lib/paths.py, read by the modules below when they are imported.
PROBE = """
import contextlib, io, json, sys
from pathlib import Path
from dtsen_pipeline.lib import paths
paths.DBT_PROJECT_DIR = Path(sys.argv[1])
from dtsen_pipeline.defs.dbt.project import prepare
prepare()  # `make setup`: the registry's dbt files written into the copy, then dbt parses it
from dtsen_pipeline import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = cli.main(["check-config"])  # (publication rules read the parsed manifest)
from dtsen_pipeline.definitions import defs
graph = defs.resolve_asset_graph()
print(json.dumps({
    "check_config": [status, out.getvalue()],
    "assets": {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    },
    "checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys),
}))
"""


def _add_scratch_source(config: Path, project: Path, docs: Path) -> None:
    """What the convention asks of a new source, written into the copies."""
    ntt = (config / "sources" / "dinsos_ntt.yaml").read_text(encoding="utf-8")
    (config / "sources" / f"{SCRATCH}.yaml").write_text(
        ntt.replace("dinsos_ntt", SCRATCH).replace("Nusa Tenggara Timur", "Jawa Barat"),
        encoding="utf-8",
    )
    seed = project / "seeds" / "survivorship.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + f"identitas,{SCRATCH},7\n", encoding="utf-8")
    (docs / f"{SCRATCH}.md").write_text(
        f"# {SCRATCH}: Dinsos Jawa Barat, vulnerable informal workers\n\nAs dinsos_ntt.\n",
        encoding="utf-8",
    )
    index = docs / "README.md"
    index.write_text(
        index.read_text(encoding="utf-8").replace(
            "| [dinsos_ntt](dinsos_ntt.md)",
            f"| [{SCRATCH}]({SCRATCH}.md) | Dinsos Jawa Barat | CSV `;` latin-1 | delta | "
            "informal workers |\n| [dinsos_ntt](dinsos_ntt.md)",
        ),
        encoding="utf-8",
    )


def test_a_new_source_is_one_yaml_file_plus_its_contract(tmp_path):
    config = Path(shutil.copytree(paths.CONFIG_DIR, tmp_path / "config"))
    project = Path(
        shutil.copytree(
            paths.DBT_PROJECT_DIR,
            tmp_path / "dbt_project",
            # dbt's output, and the registry's generated files (written again for the copy)
            ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "registry"),
        )
    )
    docs = Path(shutil.copytree(DOCS, tmp_path / "docs"))
    _add_scratch_source(config, project, docs)

    names = [s.name for s in load_sources(config / "sources")]
    assert SCRATCH in names
    assert contract_problems(names, docs) == []

    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    env.update(
        DTSEN_CONFIG_DIR=str(config),
        DTSEN_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(paths.PROJECT_ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])

    # `dtsen check-config`: the new source is counted and its survivorship row accepted.
    status, said = found["check_config"]
    assert status == 0, said
    assert re.match(rf"configuration OK \({len(names)} sources, .*survivorship ranks\)", said), said
    # dbt: the staging model generated for it (in the copy), reading its raw table, in the linkage input.
    model = project / "models" / "staging" / "registry" / f"stg_{SCRATCH}__individu.sql"
    assert f"stage_identity('{SCRATCH}__individu'" in model.read_text(encoding="utf-8")
    assert SCRATCH in (project / "macros" / "registry" / "registry.sql").read_text(encoding="utf-8")
    # Dagster: its landing, raw and staging assets, and its checks.
    assets = found["assets"]
    assert assets[f"landing/{SCRATCH}"] == []
    assert assets[f"raw/{SCRATCH}__individu"] == [f"landing/{SCRATCH}"]
    assert f"raw/{SCRATCH}__individu" in assets[f"stg_{SCRATCH}__individu"]
    assert f"stg_{SCRATCH}__individu" in assets["int_identitas"]
    checks = set(found["checks"])
    assert {
        f"raw/{SCRATCH}__individu:rows_reconciled",
        f"raw/{SCRATCH}__individu:files_readable",
        f"stg_{SCRATCH}__individu:gx_stg_{SCRATCH}",
    } <= checks
    # Nothing of the scratch source is left in the checkout's dbt project.
    assert not (dbt_registry.MODELS_DIR / f"stg_{SCRATCH}__individu.sql").exists()
    macros = dbt_registry.MACRO_FILE
    assert not macros.exists() or SCRATCH not in macros.read_text(encoding="utf-8")
    assert SCRATCH not in dbt_registry.survivorship_seed().read_text(encoding="utf-8")
