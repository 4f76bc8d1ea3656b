"""Great Expectations validation of warehouse tables, in bounded batches."""
