"""The declarative part of linkage: thresholds and family/household rules (config/linkage.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import yaml

from dtsen_pipeline import paths


@dataclass(frozen=True)
class LinkageRules:
    predict_threshold: float
    cluster_threshold: float
    kk_authority: tuple[str, ...]
    household_id_sources: tuple[str, ...]
    address_sources: tuple[str, ...]
    max_records_per_person: int = 20


@cache
def rules() -> LinkageRules:
    path = paths.CONFIG_DIR / "linkage.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        r = LinkageRules(
            predict_threshold=float(doc["person"]["predict_threshold"]),
            cluster_threshold=float(doc["person"]["cluster_threshold"]),
            kk_authority=tuple(doc["family"]["kk_authority"]),
            household_id_sources=tuple(doc["household"]["household_id_sources"]),
            address_sources=tuple(doc["household"]["address_sources"]),
            max_records_per_person=int(doc["person"].get("max_records_per_person", 20)),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: missing or malformed setting {exc}") from None
    if not 0 < r.predict_threshold <= r.cluster_threshold < 1:
        raise ValueError(f"{path}: need 0 < person.predict_threshold <= person.cluster_threshold < 1")
    if r.max_records_per_person < 2:
        raise ValueError(f"{path}: person.max_records_per_person must be at least 2")
    return r
