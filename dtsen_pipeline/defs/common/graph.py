"""What the asset graph's layers share. The folders under ``defs/`` never import one another (each is
one layer of the graph); a key one layer names in another, and the owner of every asset, live here."""

from dagster import AssetKey

OWNERS = ["team:data-engineering"]  # shown on every asset; the team the UI's owner filter finds
GATE_KEY = AssetKey(["quality", "gate"])  # the month's gate: the publication waits for it
