"""Registries of named stage factories, filled by confcam's own modules and by other packages' entry points.

A stage family (sources, detectors, smoothers, styles, sinks) keeps one Registry. Each Entry names a factory and the typed options it
takes, so the command line, the config checks and `confcam plugins` are all read from the same table:
adding a stage is one new module with an `ENTRY`, and a third-party package adds one through an entry
point (`[project.entry-points."confcam.sinks"] name = "package.module:ENTRY"`), as pytest plugins do.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from confcam.errors import ConfcamError

T = TypeVar("T")

OPTION_TYPES = (str, int, float, bool, Path)
"""What an option may be; each maps onto a plain command-line value."""


@dataclass(frozen=True)
class Option:
    """One setting a stage factory takes, as `name=value`; the command line offers it as `--name`."""

    name: str
    type: type = str
    help: str = ""
    flags: tuple[str, ...] = ()
    """Command-line spellings; default `--name` with dashes."""
    required: str | None = None
    """When set, the stage cannot run without it; the text is what to type, e.g. '--output PATH.mp4'."""
    writes_file: bool = False
    """The path is an output: checked against the inputs so a run never overwrites what it reads."""
    reads_file: bool = False
    """The path is an input: no output of the run may name it."""
    default: Any = None
    parse: Callable[[Any], Any] | None = None
    """Turns the command-line value into what the factory takes (e.g. 'X,Y,W,H' into a tuple); raises a
    ConfcamError naming the flag for a value it cannot read."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not a Python identifier")
        if self.type not in OPTION_TYPES:
            raise ValueError(f"option {self.name!r}: type must be one of str, int, float, bool, Path")

    @property
    def cli_flags(self) -> tuple[str, ...]:
        return self.flags or ("--" + self.name.replace("_", "-"),)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A named way to build one stage: `factory(*context, **options)`.

    The context is what the run mode, not the user, decides (a source's pacing, a detector's model file);
    each family documents the one object its factories take first, and sinks take none."""

    name: str
    summary: str
    factory: Callable[..., T]
    options: tuple[Option, ...] = ()
    origin: str = "confcam"
    """Which package registered it (confcam, or the distribution of an entry point)."""

    def missing(self, values: Mapping[str, Any]) -> list[Option]:
        return [o for o in self.options if o.required and values.get(o.name) is None]

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """This entry's options from `given` (defaults for the rest), each parsed; a bad value raises."""
        chosen = {o.name: given.get(o.name, o.default) for o in self.options}
        return {o.name: _parsed(o, chosen[o.name]) for o in self.options}

    def build(self, values: Mapping[str, Any], *context: Any) -> T:
        return self.factory(*context, **self.values(values))


def _parsed(option: Option, value: Any) -> Any:
    return option.parse(value) if option.parse is not None and value is not None else value


@dataclass
class Registry(Generic[T]):
    """The entries of one stage family, by name, in the order they were added."""

    family: str
    """Singular noun for messages and the command-line flag: 'sink', 'source'."""
    group: str = ""
    """The entry-point group other packages add entries through, e.g. 'confcam.sinks'."""
    entries: dict[str, Entry[T]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Plugins that could not be loaded, one line each (shown by `confcam plugins`, never fatal)."""

    def add(self, entry: Entry[T]) -> None:
        if not isinstance(entry, Entry):
            raise ConfcamError(f"a {self.family} plugin must provide a confcam.plugins.Entry, got {type(entry).__name__}")
        if entry.name in self.entries:
            raise ConfcamError(f"two {self.family}s are named {entry.name!r} ({self.entries[entry.name].origin}, {entry.origin})")
        known = {o.name: o for o in self.options()}
        for option in entry.options:
            other = known.get(option.name)
            if other is not None and (other.type, other.cli_flags) != (option.type, option.cli_flags):
                raise ConfcamError(f"{self.family} {entry.name!r}: option {option.name!r} clashes with another {self.family}'s")
        self.entries[entry.name] = entry

    @classmethod
    def load(cls, family: str, package: ModuleType, group: str) -> Registry[T]:
        """A family's registry: confcam's own modules in `package`, then other packages' `group` entry points."""
        registry: Registry[T] = cls(family, group=group)
        registry.add_modules(package)
        registry.add_entry_points(registry.group)
        return registry

    def get(self, name: str) -> Entry[T]:
        if name not in self.entries:
            raise ConfcamError(f"unknown {self.family} {name!r}; known: {', '.join(self.entries)}")
        return self.entries[name]

    def checked(self, name: str, values: Mapping[str, Any]) -> Entry[T]:
        """The entry `--FAMILY NAME` chose, once its required options are given and every value parses."""
        entry = self.get(name)
        missing = entry.missing(values)
        if missing:
            raise ConfcamError(f"--{self.family} {name} needs {missing[0].required}")
        entry.values(values)
        return entry

    def files(self, names: Iterable[str], values: Mapping[str, Any], output: bool) -> dict[str, Path]:
        """The files the chosen entries' options name, by flag: outputs (writes_file) or inputs (reads_file)."""
        return {
            option.cli_flags[0]: Path(values[option.name])
            for entry in (self.get(name) for name in names)
            for option in entry.options
            if (option.writes_file if output else option.reads_file) and values.get(option.name) is not None
        }

    def names(self) -> list[str]:
        return list(self.entries)

    def options(self) -> list[Option]:
        """Every option of every entry, each name once (entries may share one, e.g. a path)."""
        seen: dict[str, Option] = {}
        for entry in self.entries.values():
            for option in entry.options:
                seen.setdefault(option.name, option)
        return list(seen.values())

    def add_modules(self, package: ModuleType) -> None:
        """confcam's own stages: every module of `package` that defines ENTRY (or ENTRIES, for a module
        whose one class reads several model archs)."""
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            entry = getattr(module, "ENTRY", None)
            for each in getattr(module, "ENTRIES", ()) + ((entry,) if entry is not None else ()):
                self.add(each)

    def add_entry_points(self, group: str, found: Iterable[Any] | None = None) -> None:
        """Other packages' stages, from their `group` entry points; a broken one is noted, not fatal."""
        for point in entry_points(group=group) if found is None else found:
            dist = getattr(point, "dist", None)
            origin = dist.name if dist else point.value
            try:
                entry = point.load()
                if isinstance(entry, Entry):
                    entry = Entry(entry.name, entry.summary, entry.factory, entry.options, origin)
                self.add(entry)
            except Exception as exc:  # a plugin's own bug must not stop confcam
                self.problems.append(f"{self.family} plugin {point.name!r} ({origin}): {type(exc).__name__}: {exc}")
