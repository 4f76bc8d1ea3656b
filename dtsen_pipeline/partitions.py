"""Monthly extract partitions: keys are ``YYYY-MM``."""

from dagster import MonthlyPartitionsDefinition

monthly_partitions = MonthlyPartitionsDefinition(start_date="2025-01", fmt="%Y-%m", end_offset=1)
