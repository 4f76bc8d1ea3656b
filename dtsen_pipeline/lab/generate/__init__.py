"""``dtsen generate``: a synthetic DTSEN world, written as the agencies deliver it.

The world (population.py) is persons in families (KK) in households, in real villages, with a
latent welfare that drives their socio-economic attributes. Every month it changes (dynamics.py);
each agency keeps a register of the part it covers, with the errors the audits describe
(registers.py, rates in profile.yaml), and delivers it in its own layout (extracts.py).

Landing files go to ``<out>/landing/<source>/<YYYY-MM>/``; the ground truth goes beside them to
``<out>/truth/<YYYY-MM>/`` and is read only by evaluation, tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dtsen_pipeline.lab.generate.world import MonthWritten, generate_world, month_range, profile
from dtsen_pipeline.lib import paths

__all__ = ["MonthWritten", "generate", "month_range", "profile"]


def generate(
    persons: int = 5000,
    start: str = "2025-01",
    months: int = 1,
    seed: int = 42,
    out: Path | None = None,
    log: Callable[[str], None] = lambda _: None,
    reverified: float | None = None,
    profile_name: str = "default",
) -> list[MonthWritten]:
    """Write every month's extracts and truth; deterministic for a seed. ``profile_name``: the
    default world, or ``hard`` (profile_hard.yaml's rates over the default's)."""
    if out is not None:
        landing, truth = Path(out) / "landing", Path(out) / "truth"
    else:
        landing, truth = paths.landing_dir(), paths.truth_dir()
    for folder in (landing, truth):  # extracts and truth carry NIKs and names: owner only
        paths.make_private(folder)
    return generate_world(
        persons, start, months, seed, landing, truth, log, reverified, profile_name
    )
