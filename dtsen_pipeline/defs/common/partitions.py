"""Monthly extract partitions: keys are ``YYYY-MM``; and how a backfill over several months runs."""

import contextlib
import warnings

from dagster import AssetCheckSpec, BackfillPolicy, MonthlyPartitionsDefinition, PreviewWarning

monthly_partitions = MonthlyPartitionsDefinition(start_date="2025-01", fmt="%Y-%m", end_offset=1)

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
