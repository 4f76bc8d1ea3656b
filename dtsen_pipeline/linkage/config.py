"""The declarative part of linkage: thresholds and family/household rules (config/linkage.yaml)."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.settings import Settings, no_repeats, read_yaml, validate


@dataclass(frozen=True)
class LinkageRules:
    predict_threshold: float
    cluster_threshold: float
    kk_authority: tuple[str, ...]
    household_id_sources: tuple[str, ...]
    address_sources: tuple[str, ...]
    max_records_per_person: int  # its default is _Person's: one place
    relatives_years_apart: int  # its default is _Person's too
    engine: str  # where Splink trains and scores: duckdb or spark
    spark: SparkSettings  # the Spark session's settings (used when engine is spark)


def _registered(value: str, info: ValidationInfo) -> str:
    names = (info.context or {}).get("sources")
    if names is not None and value not in names:
        raise ValueError(f"no source named {value!r} (sources: {', '.join(sorted(names))})")
    return value


SourceName = Annotated[str, AfterValidator(_registered)]


SourceList = Annotated[list[SourceName], AfterValidator(no_repeats)]


class _Person(Settings):
    predict_threshold: float
    cluster_threshold: float
    # The most source records one person may have: 9 sources, each holding a person once or with a
    # few duplicates. Reviewers' accepted pairs may not build a bigger person, and the gate fails one.
    max_records_per_person: int = 20
    # Two records on one family card whose birth years (both known) are at least this far apart
    # are relatives, not one person: never linked automatically (review).
    relatives_years_apart: int = 2

    @field_validator("relatives_years_apart")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, not {value!r}")
        return value

    @field_validator("max_records_per_person")
    @classmethod
    def _at_least_two(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"must be at least 2, not {value!r}")
        return value

    @field_validator("predict_threshold", "cluster_threshold")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"must be a probability in (0, 1), not {value!r}")
        return value

    @model_validator(mode="after")
    def _ordered(self):
        if self.predict_threshold > self.cluster_threshold:
            raise ValueError(
                f"predict_threshold ({self.predict_threshold}) must not exceed cluster_threshold "
                f"({self.cluster_threshold})"
            )
        return self


class _Family(Settings):
    kk_authority: SourceList


class _Household(Settings):
    household_id_sources: SourceList
    address_sources: SourceList


ENGINES = ("duckdb", "spark")
_MEMORY = r"^[0-9]+[kmgt]$"


class SparkSettings(Settings):
    master: str = "local[*]"
    driver_memory: Annotated[str, Field(pattern=_MEMORY)] = "8g"
    executor_memory: Annotated[str, Field(pattern=_MEMORY)] = "4g"
    shuffle_partitions: Annotated[int, Field(ge=1)] = 8


class _Engine(Settings):
    name: str = "duckdb"
    spark: SparkSettings = SparkSettings()

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ENGINES:
            raise ValueError(f"{value!r} is not one of {', '.join(ENGINES)}")
        return value


class _LinkageFile(Settings):
    person: _Person
    family: _Family
    household: _Household
    engine: _Engine = _Engine()


def load_rules(config_dir: Path, source_names: Collection[str] | None = None) -> LinkageRules:
    """``config_dir``/linkage.yaml, its sources checked against ``source_names`` (default: the
    registry in ``config_dir``/sources)."""
    if source_names is None:
        from dtsen_pipeline.ingest.sources import load_sources

        source_names = {s.name for s in load_sources(config_dir / "sources")}
    path = config_dir / "linkage.yaml"
    raw = read_yaml(path)
    # One run's engine and Spark settings from the environment (a string each, checked as the
    # file's values are).
    for var, *where, key in _ENGINE_ENV:
        value = os.environ.get(var, "").strip()
        if value:
            section = raw.setdefault("engine", {})
            for name in where:
                section = section.setdefault(name, {})
            section[key] = int(value) if key == "shuffle_partitions" and value.isdigit() else value
    doc = validate(_LinkageFile, raw, path, context={"sources": set(source_names)})
    return LinkageRules(
        predict_threshold=float(doc.person.predict_threshold),
        cluster_threshold=float(doc.person.cluster_threshold),
        max_records_per_person=doc.person.max_records_per_person,
        relatives_years_apart=doc.person.relatives_years_apart,
        kk_authority=tuple(doc.family.kk_authority),
        household_id_sources=tuple(doc.household.household_id_sources),
        address_sources=tuple(doc.household.address_sources),
        engine=doc.engine.name,
        spark=doc.engine.spark,
    )


# The variable that chooses the engine for one run (make bench sets it for each engine it measures).
ENGINE_ENV = "DTSEN_LINKAGE_ENGINE"
# Each variable and where its value goes under `engine:` (the section path, then the key).
_ENGINE_ENV = (
    (ENGINE_ENV, "name"),
    ("DTSEN_SPARK_MASTER", "spark", "master"),
    ("DTSEN_SPARK_DRIVER_MEMORY", "spark", "driver_memory"),
    ("DTSEN_SPARK_EXECUTOR_MEMORY", "spark", "executor_memory"),
    ("DTSEN_SPARK_SHUFFLE_PARTITIONS", "spark", "shuffle_partitions"),
)


@cache
def _rules(config_dir: Path) -> LinkageRules:
    return load_rules(config_dir)


def rules() -> LinkageRules:
    """The rules in force (read once per configuration folder, on first use, never at import)."""
    return _rules(paths.config_dir())


# The thresholds, read when first used (never at import, so a broken file fails the step that needs
# it with its message, not every import). Pairs scored in [predict, cluster) are uncertain: they go
# to clerical review.


def predict_threshold() -> float:
    """Pairs at or above this are kept in linkage.pairwise_predictions."""
    return rules().predict_threshold


def cluster_threshold() -> float:
    """Pairs at or above this join records into one person."""
    return rules().cluster_threshold


def uncorroborated_max() -> float:
    """Highest probability a pair may keep without agreeing on an identity field (review band)."""
    return round(cluster_threshold() - 0.0001, 4)


def max_records_per_person() -> int:
    """The most source records one person may have (reviewers' accepted pairs may not go beyond it)."""
    return rules().max_records_per_person
