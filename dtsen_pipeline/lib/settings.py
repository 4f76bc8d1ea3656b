"""Typed settings from the YAML files users edit: the shared part (strict models, error messages).

Each file's schema lives beside the code that reads it (ingest/sources.py, linkage/config.py,
publish/releases.py, quality/settings.py, lab/generate/world.py); `dtsen check-config` (cli.py)
loads them all. A schema is a pydantic model that rejects unknown keys and never coerces ("one" is
not a number, a string is not a list). A failed load raises ``ConfigError`` listing every problem
found, one line each: ``<file>: <field path>: <reason>``.
Messages show configuration values, never data: configuration holds no personal data.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from dtsen_pipeline.lib import paths


class ConfigError(ValueError):
    """Problems in configuration files; ``messages`` holds one line per problem, file and field named."""

    def __init__(self, messages: str | Iterable[str]):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


class Settings(BaseModel):
    """Base of every schema: unknown keys are errors, values are never coerced, settings never change."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value!r}")
    return value


def _share(value: float) -> float:
    if not 0 <= _finite(value) <= 1:
        raise ValueError(f"must be a share in [0, 1], not {value!r}")
    return value


def _non_negative(value: float) -> float:
    if _finite(value) < 0:
        raise ValueError(f"must not be negative, not {value!r}")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# Strict float accepts an int (1 is a fine share) but never a string or a bool.
Share = Annotated[float, AfterValidator(_share)]
NonNegative = Annotated[float, AfterValidator(_non_negative)]
Text = Annotated[str, AfterValidator(_not_blank)]


def duplicates(values: Iterable) -> list:
    seen, repeated = set(), []
    for v in values:
        if v in seen and v not in repeated:
            repeated.append(v)
        seen.add(v)
    return repeated


def no_repeats(value: list[str]) -> list[str]:
    """A validator for lists that must not name anything twice."""
    if duplicates(value):
        raise ValueError(f"lists {duplicates(value)} more than once")
    return value


def shown(path: Path) -> str:
    """How messages name a file: relative to the package for its own files (config/linkage.yaml)."""
    try:
        return str(Path(path).resolve().relative_to(paths.PACKAGE_DIR))
    except ValueError:
        return str(path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load keeps the last of two equal keys without a word; a repeated key is a mistake."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    for key in duplicates(k for k in keys if isinstance(k, typing.Hashable)):
        raise yaml.constructor.ConstructorError(
            None, None, f"key {key!r} is repeated", node.start_mark
        )
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: Path, error: type[ConfigError] = ConfigError) -> Any:
    where = shown(path)
    if not Path(path).is_file():
        raise error([f"{where}: file not found"])
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (safe)
    except yaml.YAMLError as exc:
        raise error([f"{where}: not valid YAML: {' '.join(str(exc).split())}"]) from None


M = TypeVar("M", bound=BaseModel)


def validate(
    model: type[M],
    doc: Any,
    path: Path,
    context: dict | None = None,
    error: type[ConfigError] = ConfigError,
    problems: Iterable[tuple[str, str]] = (),
) -> M:
    """``doc`` as a ``model``, or ``error`` listing every problem with the file and field path;
    ``problems`` (field path, reason) are found by the caller across fields and reported alongside."""
    lines = []
    try:
        result = model.model_validate(doc, context=context)
    except ValidationError as exc:
        lines = messages(model, exc)
    lines += [f"{where + ': ' if where else ''}{reason}" for where, reason in problems]
    if lines:
        raise error([f"{shown(path)}: {line}" for line in lines])
    return result


def field_path(loc: Iterable) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (
            part != "[key]"
        ):  # pydantic's marker for a mapping key's own error: the key is already named
            out += ("." if out else "") + str(part)
    return out


_TYPE_WORDS = {
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "set_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
    "none_required": "must be empty (null)",
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = next(
                (a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), args[0]
            )
        else:
            return tp


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The fields the schema allows at ``loc`` (for an unknown key's message)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return []
            tp = tp.model_fields[part].annotation
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def messages(model: type[BaseModel], exc: ValidationError, prefix: tuple = ()) -> list[str]:
    """One line per error, ``<field path>: <reason>``; ``prefix`` is where ``model`` sits in the file."""
    out = []
    for err in exc.errors(include_url=False):
        loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
        where = field_path(prefix + loc)
        if kind == "missing":
            parent = field_path(prefix + loc[:-1])
            out.append(f"{parent + ': ' if parent else ''}field '{loc[-1]}' is missing")
        elif kind == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(
                f"{where}: unknown field{hint} (fields: {', '.join(allowed)})"
                if allowed
                else f"{where}: unknown field"
            )
        elif kind == "literal_error":
            out.append(f"{where} {_short(value)} is not one of {err['ctx']['expected']}")
        elif kind in _TYPE_WORDS:
            out.append(f"{where + ': ' if where else ''}{_TYPE_WORDS[kind]}, not {_short(value)}")
        elif kind in ("value_error", "assertion_error"):
            out.append(f"{where + ': ' if where else ''}{err['ctx']['error']}")
        else:
            out.append(f"{where + ': ' if where else ''}{err['msg']}")
    return out


def problems_error(
    path: Path, problems: Iterable[tuple[str, str]], error: type[ConfigError] = ConfigError
) -> ConfigError | None:
    """Checks across fields or files, as (field path, reason) pairs: one error naming them all."""
    lines = [
        f"{shown(path)}: {where + ': ' if where else ''}{reason}" for where, reason in problems
    ]
    return error(lines) if lines else None
