"""Loading the Dagster definitions reads each configuration file at most once (issue 17): every
loader of config/ is cached per configuration folder, and no module reads a setting at import
that a later caller reads again."""

import json
import os
import subprocess
import sys
import textwrap

from dtsen_pipeline.lib import paths

# Counts, in a fresh interpreter, every file opened while the definitions load (Python's ``open``
# audit event: pathlib, yaml and the builtin all go through it).
PROBE = textwrap.dedent("""
    import collections, json, os, sys
    opened = collections.Counter()
    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes)):
            opened[os.path.realpath(os.fsdecode(args[0]))] += 1
    sys.addaudithook(hook)
    import dtsen_pipeline.definitions
    from dtsen_pipeline.lib import paths
    print(json.dumps({"config_dir": os.path.realpath(paths.config_dir()), "opened": opened}))
""")


def test_loading_the_definitions_reads_each_configuration_file_at_most_once(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DTSEN_") and k != "DAGSTER_HOME"
    }
    env.update(
        DTSEN_DATA_DIR=str(tmp_path / "data"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(paths.PROJECT_ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    config_dir = report["config_dir"]
    reads = {
        os.path.relpath(path, config_dir): n
        for path, n in report["opened"].items()
        if path.startswith(config_dir + os.sep) and path.endswith((".yaml", ".yml"))
    }
    # The definitions are built from the source registry and the quality suites: both were read,
    # so the count below is not vacuous.
    declared = {os.path.relpath(p, config_dir) for p in paths.config_dir().glob("sources/*.yaml")}
    assert declared and declared <= reads.keys(), sorted(reads)
    assert "expectations.yaml" in reads, sorted(reads)
    assert {name: n for name, n in reads.items() if n > 1} == {}, reads
