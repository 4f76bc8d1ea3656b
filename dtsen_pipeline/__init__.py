"""dtsen-pipeline: the DTSEN lakehouse.

The data's path is the package's path:
landing (generate/) -> raw (defs/ingest) -> staging + intermediate (dbt_project/)
-> linkage (defs/linkage, linkage/) -> marts (dbt_project/) -> gate (defs/quality)
-> publication (defs/publish).
"""
