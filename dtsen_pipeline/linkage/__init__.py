"""Person linkage with Splink: the model (model.py), one month's run in phases (run.py: training,
scoring, evidence, decisions, attach_only, clustering, explanations), stable ids (ids.py), families
(families.py) and accuracy from labels (accuracy.py)."""
