"""`--config FILE`: the pipeline's stage options from a TOML file, checked against the typed configs.

The file mirrors the dataclasses in confcam/config.py, so every stage option that exists can be set and
nothing else can: an unknown key or a value of the wrong type is a one-line error naming the key.
Command-line flags given explicitly win over the file; the file wins over the defaults.

    # confcam.toml
    [pipeline]
    model = "minixception-2d-ferplus"
    detect_interval_s = 0.0          # search every frame

    [pipeline.smoother]
    time_constant_s = 0.8

    [pipeline.grid]
    tiles_per_frame = 8
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from confcam.config import PipelineConfig
from confcam.errors import ConfcamError

T = TypeVar("T")

SECTIONS = {"pipeline": PipelineConfig}
"""Top-level tables a config file may have, and the config each fills."""


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's tables; a one-line error for a missing file, bad TOML or an unknown table."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise ConfcamError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfcamError(f"--config {path}: cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfcamError(f"--config {path}: not valid TOML ({error})") from None
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ConfcamError(f"--config {path}: unknown table [{unknown[0]}]; known: {', '.join(SECTIONS)}")
    return document


def pipeline_config(path: Path | None, **flags: Any) -> PipelineConfig:
    """The pipeline config: defaults, then the file's [pipeline] table, then the flags that were given
    (None means not given)."""
    base = PipelineConfig()
    if path is not None:
        base = with_values(base, read_config_file(path).get("pipeline", {}), "pipeline", path)
    return dataclasses.replace(base, **{name: value for name, value in flags.items() if value is not None})


def with_values(config: T, table: Mapping[str, Any], where: str, path: Path) -> T:
    """A copy of the dataclass `config` with the table's values, checked key by key (nested tables fill
    nested configs)."""
    if not isinstance(table, Mapping):
        raise ConfcamError(f"--config {path}: {where} must be a table")
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config) if f.init}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{where}.{key}"
        if key not in fields:
            raise ConfcamError(f"--config {path}: unknown option {name}; known: {', '.join(sorted(fields))}")
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            changes[key] = with_values(current, value, name, path)
        else:
            changes[key] = _checked(value, hints[key], name, path)
    try:
        return dataclasses.replace(config, **changes)  # type: ignore[type-var]
    except (ValueError, TypeError, ConfcamError) as error:
        raise ConfcamError(f"--config {path}: {where}: {error}") from None


def _checked(value: Any, hint: Any, name: str, path: Path) -> Any:
    """The value as the field's type wants it (a TOML array for a tuple, a string for an enum)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            continue
        origin = typing.get_origin(option) or option
        if isinstance(origin, type) and issubclass(origin, enum.Enum) and isinstance(value, str):
            try:
                return origin(value)
            except ValueError:
                continue
        if origin is tuple and isinstance(value, list):
            items = typing.get_args(option)
            if items and items[-1] is not Ellipsis and len(items) != len(value):
                continue
            return tuple(value)
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is Path and isinstance(value, str):
            return Path(value)
        if isinstance(origin, type) and isinstance(value, origin) and not (origin is int and isinstance(value, bool)):
            return value
    wanted = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfcamError(f"--config {path}: {name} must be {wanted}, got {value!r}")


def option_rows() -> list[tuple[str, str, str, str]]:
    """(key, type, default, what it does) for every option a config file can set, from the dataclasses
    themselves (their field docstrings included), so the reference never drifts from the code."""
    rows: list[tuple[str, str, str, str]] = []
    for section, cls in SECTIONS.items():
        rows += _rows_of(cls(), section)
    return rows


def reference_markdown() -> str:
    """The table `confcam options` prints and docs/configuration.md carries."""
    lines = ["| option | type | default | what it does |", "|---|---|---|---|"]
    for key, kind, default, doc in option_rows():
        lines.append(f"| `{key}` | {kind} | `{default}` | {doc} |")
    return "\n".join(lines) + "\n"


def _rows_of(config: Any, where: str) -> list[tuple[str, str, str, str]]:
    hints = typing.get_type_hints(type(config))
    docs = _field_docs(type(config))
    rows: list[tuple[str, str, str, str]] = []
    for field in dataclasses.fields(config):
        if not field.init:
            continue
        value = getattr(config, field.name)
        key = f"{where}.{field.name}"
        if dataclasses.is_dataclass(value):
            rows += _rows_of(value, key)
            continue
        shown = value.value if isinstance(value, enum.Enum) else value
        shown = list(shown) if isinstance(shown, tuple) else shown
        rows.append((key, _type_name(hints[field.name]), repr(shown).replace("'", '"'), docs.get(field.name, "")))
    return rows


def _type_name(hint: Any) -> str:
    """How a Markdown cell names a field's type: 'str (optional)', 'one of emoji, text, ...', 'tuple[int, int]'."""
    options = [o for o in typing.get_args(hint) if o is not type(None)] if typing.get_origin(hint) in (
        typing.Union, types.UnionType) else [hint]
    names = []
    for option in options:
        if isinstance(option, type) and issubclass(option, enum.Enum):
            names.append("one of " + ", ".join(m.value for m in option))
        else:
            names.append(str(option).replace("<class '", "").replace("'>", "").replace("pathlib.", ""))
    optional = len(options) < len(typing.get_args(hint))
    return " or ".join(names) + (" (optional)" if optional else "")


def _field_docs(cls: type) -> dict[str, str]:
    """The string literal under each field of a dataclass's source: its documentation, on one line."""
    import ast
    import inspect
    import textwrap

    try:
        body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                docs[node.target.id] = " ".join(str(following.value.value).split()).replace("|", "/")
    return docs
