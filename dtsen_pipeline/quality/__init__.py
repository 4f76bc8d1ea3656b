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
    quiet_pyspark_notice()
    import great_expectations

    return great_expectations


def quiet_pyspark_notice() -> None:
    """A lasting filter for pyspark's pandas-3 notice, not catch_warnings(). `dtsen run` imports GX
    on a background thread: the filter is set on the main thread before that thread starts, since a
    catch_warnings() block the main thread entered earlier would put back the filter list without it
    when it ends (the notice then reached `make demo`'s terminal)."""
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
