"""One folder per layer, in the order data flows: ingest, dbt, linkage, quality, publish."""
