"""Reading agency extracts into the warehouse's raw layer, with quarantine and reconciliation."""
