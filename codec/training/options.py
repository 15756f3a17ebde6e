"""Training configs that are also command lines: one ``--field-name`` option per documented field.

Both trainers keep their settings in a frozen ``@dataclass`` (STYLE.md: typed configs, named presets).
A field declared with :func:`option` carries its CLI help (and, where it has them, its choices or a
path check) in the field's metadata, so :func:`config_options` can give every such field an option
whose default ``None`` means "keep the preset's value". Fields declared plainly (e.g. architecture
tuples) stay off the command line. Before this, ``train.py`` listed its options by hand and
``train_dit.py`` found its help texts with a regular expression over its own source.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
PathCheck = Literal["", "exists", "file"]
_TYPES: dict[type, click.ParamType] = {int: click.INT, float: click.FLOAT, str: click.STRING}


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    choices: Sequence[str] = (),
    path: PathCheck = "",
) -> Any:
    """A config field that is also a command-line option.

    Args:
        default: the field's default value.
        help: the option's help text.
        factory: instead of ``default``, a function giving it when a config is made (e.g. the
            registry's default model, which a release may change).
        choices: the values it may take (a :class:`click.Choice`), if limited.
        path: ``"exists"``: a path that must exist; ``"file"``: an existing file.
    """
    metadata = {"help": help, "choices": tuple(choices), "path": path}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _param_type(kind: type, meta: typing.Mapping[str, Any]) -> click.ParamType:
    if meta["choices"]:
        return click.Choice(meta["choices"])
    if meta["path"]:
        return click.Path(exists=True, dir_okay=meta["path"] != "file")
    return _TYPES[kind]


def config_options(config_cls: type) -> Callable[[F], F]:
    """Decorate a click command with one option per :func:`option` field of ``config_cls``.

    ``bool`` fields become ``--name/--no-name`` flags; every option defaults to ``None``, which the
    command reads as "keep the preset's value" (see :func:`overrides`).
    """
    hints = typing.get_type_hints(config_cls)

    def decorate(fn: F) -> F:
        for f in reversed([f for f in dataclasses.fields(config_cls) if "help" in f.metadata]):
            flag = "--" + f.name.replace("_", "-")
            kind, text = hints[f.name], f.metadata["help"]
            if kind is bool:
                fn = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=text)(fn)
            else:
                param = _param_type(kind, f.metadata)
                fn = click.option(flag, f.name, type=param, default=None, help=text)(fn)
        return fn

    return decorate


def overrides(values: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line (those not ``None``), to ``dataclasses.replace`` a preset."""
    return {k: v for k, v in values.items() if v is not None}
