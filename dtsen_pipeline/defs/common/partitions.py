"""Monthly extract partitions: keys are ``YYYY-MM``, from the first month to the latest month that
has landed files; and how a backfill over several months runs."""

import contextlib
import os
import re
import warnings
from datetime import UTC, datetime

from dagster import AssetCheckSpec, BackfillPolicy, MonthlyPartitionsDefinition, PreviewWarning

FIRST_MONTH = "2025-01"
# A configured last month (YYYY-MM), for a data root whose landing folder is not yet fed (a new
# environment) or to open months ahead of their files; otherwise the partitions end at the data.
LAST_MONTH_ENV = "DTSEN_LAST_MONTH"
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def landed_months() -> list[str]:
    """Months (``YYYY-MM``) with at least one file a source would read under landing/<source>/."""
    from dtsen_pipeline.ingest.sources import load_sources
    from dtsen_pipeline.lib import paths

    months = set()
    for spec in load_sources():
        folder = paths.landing_dir() / spec.name
        if folder.is_dir():
            months |= {
                d.name
                for d in folder.iterdir()
                if d.is_dir() and MONTH.fullmatch(d.name) and any(spec.landing_files(d.name))
            }
    return sorted(months)


def last_month() -> str:
    """Where the partitions end: the configured month (DTSEN_LAST_MONTH), else the latest month with
    landed files, else (nothing landed yet: a fresh clone) the current calendar month."""
    configured = os.environ.get(LAST_MONTH_ENV, "").strip()
    if configured:
        if not MONTH.fullmatch(configured):
            raise ValueError(f"{LAST_MONTH_ENV}={configured!r} is not a month (YYYY-MM)")
        return max(configured, FIRST_MONTH)
    months = [m for m in landed_months() if m >= FIRST_MONTH]
    return months[-1] if months else datetime.now(UTC).strftime("%Y-%m")


def _month_after(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:])
    return f"{year + mon // 12}-{mon % 12 + 1:02d}"


def month_partitions() -> MonthlyPartitionsDefinition:
    """The partitions as the data stands now: FIRST_MONTH .. last_month(), both included. The
    UI's "Latest" is then a month with files, and "Missing" lists no month still to come."""
    return MonthlyPartitionsDefinition(
        start_date=FIRST_MONTH,
        end_date=_month_after(last_month()),
        fmt="%Y-%m",
        end_offset=1,  # the month in progress too, when its files have landed (capped by end_date)
    )


def month_refusal(month: str) -> str | None:
    """Why ``month`` cannot run now (None when it can): a month past the partitions' end has no
    landed file, and is refused before any asset is marked materialised."""
    end = last_month()
    if FIRST_MONTH <= month <= end:
        return None
    if month < FIRST_MONTH:
        return f"{month} is before the first month {FIRST_MONTH}"
    return (
        f"{month} has no landed files (the months end at {end}, the latest month with files under "
        f"the landing folder): deliver its extracts first, or set {LAST_MONTH_ENV}"
    )


# Read when the definitions load (each `dtsen run`, each code-location load or reload): a month
# that lands later becomes a partition when the code location reloads (the landing sensor says
# so; the daemon reloads the code servers it starts itself every minute).
monthly_partitions = month_partitions()

# Every partitioned asset backfills ONE MONTH PER RUN, and all share this one policy, so a backfill
# launched from the asset graph, a group or Job -> Partitions becomes one run per month holding every
# selected asset, submitted in month order; the instance runs one run at a time, first in first out
# (paths._DAGSTER_YAML), so month M is linked, built and published before M+1 starts. A single run
# over a range cannot be right here: the marts are the month's tables (each month replaces them), and
# the gate and the release of month M must see M's marts before M+1's replace them; linkage of M
# builds on M-1's ids.
#
# The policy is Dagster's default (None: one partition per run, runs tagged with their month) rather
# than an explicit BackfillPolicy.multi_run(max_partitions_per_run=1), which the backfill daemon
# treats the same way: the UI (dagster-webserver 1.13) compares policies by object identity, so two
# equal explicit policies already show "varying backfill policies" in the Materialize dialog.
# dagster-dbt sets single_run on time-partitioned dbt assets unless told otherwise; defs/dbt/assets.py
# puts them back on this policy.
ONE_MONTH_PER_RUN: BackfillPolicy | None = None


@contextlib.contextmanager
def partitioned_checks():
    """Declare asset checks whose results belong to a month, so a check's page names the month of
    each result. Dagster marks ``partitions_def`` on a check as a preview feature and warns each time
    the definitions load; the choice is deliberate here, so the warning is not repeated to every user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PreviewWarning)
        yield


def monthly_check_spec(name: str, **kwargs) -> AssetCheckSpec:
    """An asset check spec partitioned by month (see partitioned_checks)."""
    with partitioned_checks():
        return AssetCheckSpec(name, partitions_def=monthly_partitions, **kwargs)
