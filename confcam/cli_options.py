"""Command-line options generated from a stage registry, so a plugin's sink or source gets its flags without
cli.py changing: the command function receives them gathered into one mapping."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from typing import Any, Optional

import typer

from confcam.plugins import Registry


def with_stage_options(
    registry: Registry[Any], choice: str, choice_help: str, into: str, default: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Adds `--CHOICE NAME` (one of the registry's names) and every entry's options to a Typer command. With
    a default, one name is chosen and the command takes `CHOICE: str`; without, the flag is repeatable and it
    takes `CHOICE: list[str]`. Either way it takes `INTO: dict[str, Any]` (the options by name)."""
    options = registry.options()

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        kept = [p for p in signature.parameters.values() if p.name not in (choice, into)]
        names = Enum(f"{registry.family.title()}Name", {name: name for name in registry.names()}, type=str)  # type: ignore[misc]
        added = [
            inspect.Parameter(
                choice,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option([] if default is None else names(default), "--" + choice, help=choice_help),
                annotation=list[names] if default is None else names,
            )
        ] + [
            inspect.Parameter(
                option.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(option.default, *option.cli_flags, help=option.help),
                annotation=Optional[option.type],
            )
            for option in options
        ]
        clashes = {p.name for p in kept} & {p.name for p in added}
        if clashes:
            raise RuntimeError(f"{registry.family} options clash with the command's own: {', '.join(sorted(clashes))}")

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {o.name: kwargs.pop(o.name) for o in options}
            chosen = kwargs.get(choice)
            if default is None:
                kwargs[choice] = [getattr(name, "value", name) for name in chosen or []]
            else:
                kwargs[choice] = getattr(chosen, "value", chosen)
            return command(**kwargs, **{into: values})

        del wrapper.__wrapped__
        wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in kept + added}
        return wrapper

    return decorate
