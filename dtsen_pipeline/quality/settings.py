"""config/expectations.yaml as typed, validated settings (the quality gate's suites, as data).

Checked in two passes: the schema (types, unknown keys, ranges, source and mart names), then
across the file: each "$name" a setting, each source's override a valid value of that setting,
min_value not above max_value, `mostly` a share, every setting used, and every expectation built
by Great Expectations itself from its resolved arguments (an unknown type or argument fails here,
not in the middle of a run).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, ValidationError, ValidationInfo, field_validator

from dtsen_pipeline.lib.settings import (
    NonNegative,
    Settings,
    Share,
    Text,
    field_path,
    messages,
    problems_error,
    read_yaml,
    validate,
)
from dtsen_pipeline.publish import contents

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _registered(value: str, info: ValidationInfo) -> str:
    names = (info.context or {}).get("sources")
    if names is not None and value not in names:
        raise ValueError(f"no source named {value!r} (sources: {', '.join(sorted(names))})")
    return value


def _published(value: str) -> str:
    tables = contents.release_tables()
    if value not in tables:
        raise ValueError(f"{value!r} is not a published table (tables: {', '.join(tables)})")
    return value


def _identifier(value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"{value!r} must be letters, digits and '_'")
    return value


class Thresholds(Settings):
    """`settings`: the numbers expectations refer to as "$name". The code reads the first two; the
    others are typed when present; a setting of your own must be a number some expectation uses."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    row_count_tolerance: NonNegative  # share a mart may grow or shrink against the last release
    drift_tolerance: Share  # share a value's frequency may move against the last release
    dukcapil_match_floor: Share | None = None
    desil_share_min: Share | None = None
    desil_share_max: Share | None = None
    region_known_mostly: Share | None = None
    nik_structure_mostly: Share | None = None

    def values(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Expectation(Settings):
    label: Text | None = None
    type: Annotated[str, AfterValidator(_identifier)]
    kwargs: dict[str, Any]

    def as_dict(self) -> dict:
        return {
            **({"label": self.label} if self.label else {}),
            "type": self.type,
            "kwargs": dict(self.kwargs),
        }


def _needs(*placeholders: str):
    def check(value: str) -> str:
        missing = [p for p in placeholders if p not in value]
        if missing:
            raise ValueError(f"the query must use {', '.join(missing)}")
        return value

    return AfterValidator(check)


class Summary(Settings):
    name: Annotated[str, AfterValidator(_identifier)]
    query: Annotated[Text, _needs("{rows}")]
    expectations: list[Expectation]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "query": self.query,
            "expectations": [e.as_dict() for e in self.expectations],
        }


class StagedSource(Settings):
    query: Annotated[Text, _needs("{source}", "{month}")]
    batch_by: Text
    expectations: list[Expectation]


class RowSuite(Settings):
    """A suite on a mart's rows: one query, validated one batch per value of ``batch_by``."""

    query: Text
    batch_by: Text
    expectations: list[Expectation]
    allow_empty: bool = False


class MartSuite(RowSuite):
    columns: list[Text] = []
    summaries: list[Summary] = []
    drift: list[Text] = []
    row_count_tolerance: NonNegative | None = None  # null: not compared; absent: settings' value

    def tolerance(self, default: float) -> float | None:
        return (
            self.row_count_tolerance if "row_count_tolerance" in self.model_fields_set else default
        )

    @field_validator("summaries")
    @classmethod
    def _distinct_names(cls, value: list[Summary]) -> list[Summary]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"summary names repeat: {names}")
        return value


class MartWarning(RowSuite):
    """A suite on a published mart that warns: shown on the mart's page and listed by `dtsen run`,
    never holding up the release (a kabupaten late on its proposals is a fact to act on, not a
    broken table)."""

    mart: Annotated[str, AfterValidator(_published)]


class ExpectationsConfig(Settings):
    settings: Thresholds
    source_settings: dict[Annotated[str, AfterValidator(_registered)], dict[str, Any]] = {}
    staged_source: StagedSource
    marts: dict[Annotated[str, AfterValidator(_published)], MartSuite]
    mart_warnings: dict[Annotated[str, AfterValidator(_identifier)], MartWarning] = {}

    @field_validator("mart_warnings")
    @classmethod
    def _not_a_mart_name(cls, value: dict[str, MartWarning]) -> dict[str, MartWarning]:
        # A warning's check is gx_<name>: a mart's name would give two checks one name.
        clash = sorted(set(value) & set(contents.release_tables()))
        if clash:
            raise ValueError(f"a warning suite may not take a mart's name: {', '.join(clash)}")
        return value

    def setting_values(self, source: str | None = None) -> dict[str, float]:
        """The settings "$name" may refer to: this file's, a source's overrides, and the few that
        another file owns (the gate's cap on records per person is linkage's own, declared once)."""
        from dtsen_pipeline.linkage.config import rules

        owned_elsewhere = {"max_records_per_person": rules().max_records_per_person}
        return {
            **owned_elsewhere,
            **self.settings.values(),
            **(self.source_settings.get(source, {}) if source else {}),
        }


def _expectations(cfg: ExpectationsConfig) -> Iterator[tuple[str, Expectation]]:
    yield from (
        (f"staged_source.expectations[{i}]", e)
        for i, e in enumerate(cfg.staged_source.expectations)
    )
    for mart, suite in cfg.marts.items():
        yield from (
            (f"marts.{mart}.expectations[{i}]", e) for i, e in enumerate(suite.expectations)
        )
        for j, summary in enumerate(suite.summaries):
            yield from (
                (f"marts.{mart}.summaries[{j}].expectations[{i}]", e)
                for i, e in enumerate(summary.expectations)
            )
    for name, warning in cfg.mart_warnings.items():
        yield from (
            (f"mart_warnings.{name}.expectations[{i}]", e)
            for i, e in enumerate(warning.expectations)
        )


def _gx_problem(expectation: Expectation, kwargs: dict) -> str | None:
    """Great Expectations' own verdict on the expectation: its class exists and takes these arguments."""
    from dtsen_pipeline.quality import import_gx

    gx = import_gx()
    cls = getattr(gx.expectations, expectation.type, None)
    if not (isinstance(cls, type) and issubclass(cls, gx.expectations.Expectation)):
        return f"type: {expectation.type!r} is not a Great Expectations expectation (great_expectations.expectations)"
    try:
        cls(**kwargs)
    except (
        Exception
    ) as exc:  # GX raises pydantic (v1) validation errors, and others, for bad arguments
        try:
            errors = exc.errors()
        except Exception:
            errors = None
        if errors:
            return "kwargs: " + "; ".join(f"{field_path(e['loc'])}: {e['msg']}" for e in errors[:3])
        return f"kwargs: {' '.join(str(exc).split())[:200]}"
    return None


def _kwargs_problems(
    where: str, exp: Expectation, values: dict, refs: dict, check_gx: bool
) -> list[tuple[str, str]]:
    kwargs = {k: values[refs[k]] if k in refs else v for k, v in exp.kwargs.items()}
    problems = []
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) and lo > hi:
        problems.append((f"{where}.kwargs", f"min_value ({lo}) exceeds max_value ({hi})"))
    mostly = kwargs.get("mostly")
    if mostly is not None and (
        isinstance(mostly, bool) or not isinstance(mostly, (int, float)) or not 0 <= mostly <= 1
    ):
        problems.append((f"{where}.kwargs.mostly", f"must be a share in [0, 1], not {mostly!r}"))
    if check_gx and not problems:  # GX would repeat a problem found above
        problem = _gx_problem(exp, kwargs)
        if problem:
            problems.append((where, problem))
    return problems


def _cross_problems(
    cfg: ExpectationsConfig, source_names: Collection[str], check_gx: bool
) -> list[tuple[str, str]]:
    # Every published table is gated: a mart marked `publish: true` in dbt needs its blocking suite.
    problems = [
        (
            "marts",
            f"{table} is published (meta publish: true in its dbt YAML) but has no suite here: "
            "every published table needs its blocking gate",
        )
        for table in contents.release_tables()
        if table not in cfg.marts
    ]
    base = cfg.setting_values()
    # A source's override is a value of an existing setting, checked like the setting itself.
    for source, override in cfg.source_settings.items():
        for name in override:
            if name not in base:
                problems.append(
                    (
                        f"source_settings.{source}.{name}",
                        f"no setting named {name!r} (settings: {', '.join(base)})",
                    )
                )
        try:
            Thresholds.model_validate({**base, **{k: v for k, v in override.items() if k in base}})
        except ValidationError as exc:
            problems += [
                ("", line) for line in messages(Thresholds, exc, ("source_settings", source))
            ]
    for name, value in base.items():
        if name not in Thresholds.model_fields and (
            isinstance(value, bool) or not isinstance(value, (int, float))
        ):
            problems.append((f"settings.{name}", f"must be a number, not {value!r}"))
    numbers = {
        k: v for k, v in base.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    for name in [k for k in numbers if k.endswith("_min")]:
        top = name[:-4] + "_max"
        if top in numbers and numbers[name] > numbers[top]:
            problems.append((f"settings.{name}", f"{base[name]} exceeds {top} ({base[top]})"))
    used: set[str] = set()
    # Staged suites run once per source, with its overrides; marts with the settings alone.
    contexts = [None, *[s for s in source_names if s in cfg.source_settings]]
    for where, exp in _expectations(cfg):
        refs = {k: v[1:] for k, v in exp.kwargs.items() if isinstance(v, str) and v.startswith("$")}
        used |= set(refs.values())
        unknown = {k: r for k, r in refs.items() if r not in base}
        for key, ref in unknown.items():
            problems.append(
                (f"{where}.kwargs.{key}", f"no setting named {ref!r} (settings: {', '.join(base)})")
            )
        if unknown:
            continue
        found: list[tuple[str, str]] = []
        for source in contexts if where.startswith("staged_source") else [None]:
            mine = _kwargs_problems(where, exp, cfg.setting_values(source), refs, check_gx)
            # A problem every source shares is reported once; one only a source's override causes, for it.
            found += [
                (w, f"{m} (for {source})" if source else m)
                for w, m in mine
                if source is None or (w, m) not in found
            ]
        problems += found
    for name in base:
        if name not in Thresholds.model_fields and name not in used:
            close = difflib.get_close_matches(name, [*Thresholds.model_fields, *used], n=1)
            problems.append(
                (
                    f"settings.{name}",
                    "is used by no expectation"
                    + (f"; did you mean '{close[0]}'?" if close else " (a typo?)"),
                )
            )
    return problems


def load_expectations(
    config_dir: Path, source_names: Collection[str] | None = None, check_gx: bool = True
) -> ExpectationsConfig:
    """``config_dir``/expectations.yaml; source names checked against ``source_names`` (default: the
    registry in ``config_dir``/sources)."""
    if source_names is None:
        from dtsen_pipeline.ingest.sources import load_sources

        source_names = [s.name for s in load_sources(config_dir / "sources")]
    path = config_dir / "expectations.yaml"
    cfg = validate(
        ExpectationsConfig, read_yaml(path), path, context={"sources": set(source_names)}
    )
    error = problems_error(path, _cross_problems(cfg, source_names, check_gx))
    if error:
        raise error
    return cfg
