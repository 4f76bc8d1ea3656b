"""Great Expectations validation of warehouse tables, in bounded batches."""

import os
import warnings
from types import ModuleType


def import_gx() -> ModuleType:
    """Great Expectations, imported the one way the platform does: its usage analytics off (no
    network here), and without pyspark's notice that it does not yet fully support pandas 3. GX
    imports pyspark whenever it is installed (it is, for Splink's Spark backend), and the linkage's
    Spark path hands data over as Arrow, never through pandas."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # A lasting filter for that one notice, not catch_warnings(): `dtsen run` imports GX in a
    # background thread, and catch_warnings() would put back the whole filter list at its end.
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    import great_expectations

    return great_expectations
