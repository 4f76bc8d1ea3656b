"""Person linkage with Splink on DuckDB: the model (model.py) and the run (run.py)."""
