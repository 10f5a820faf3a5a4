"""The configuration described: every setting with its environment variable, type and default
(for docs/deployment.md and ``lorakeet config show``), secrets masked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from lorakeet.settings import Settings

if TYPE_CHECKING:
    from rich.table import Table

ENV_PREFIX = "LORAKEET_"
MASK = "******"


# -- the settings as rows ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDoc:
    """One leaf setting: its env variable, dotted path, type, default and description."""

    env: str
    path: str
    type: str
    default: str
    description: str
    secret: bool


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin is not None and getattr(origin, "__name__", "") == "Literal":
        return " | ".join(str(a) for a in get_args(annotation))
    if args and origin is not None and origin is not list:
        # Optional[X] and X | None
        return " | ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]" if args else "list"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_fields(
    model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX, path: str = ""
) -> Iterator[FieldDoc]:
    """Every leaf setting of ``model`` with the env variable that sets it (nested with ``__``)."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        env = f"{prefix}{name.upper()}"
        dotted = f"{path}{name}"
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from describe_fields(ann, f"{env}__", f"{dotted}.")
            continue
        secret = "SecretStr" in _type_name(ann)
        yield FieldDoc(
            env=env,
            path=dotted,
            type=_type_name(ann),
            default=_default_text(info.get_default(call_default_factory=True)),
            description=info.description or "",
            secret=secret,
        )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``******``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.password:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def _value_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else "(empty)"
    if value is None:
        return "(unset)"
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return _default_text(value)


def settings_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(env variable, value, "default" or "set") for every leaf setting, secrets masked."""
    defaults = Settings.model_construct()
    rows: list[tuple[str, str, str]] = []
    for doc in describe_fields():
        value: Any = settings
        default: Any = defaults
        for part in doc.path.split("."):
            value = getattr(value, part)
            default = getattr(default, part)
        rows.append((doc.env, _value_text(value), "default" if value == default else "set"))
    return rows


def settings_table(settings: Settings) -> Table:
    """The effective configuration as a rich table."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Effective configuration (LORAKEET_* environment, .env)", title_justify="left")
    table.add_column("variable", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", style="dim")
    for env, value, source in settings_rows(settings):
        table.add_row(env, Text(value), source)
    return table


# -- connection checks ---------------------------------------------------------------------


# Time-bounded, so it is cheap on a big database; 1.x and 2.x both say "database not found".


# -- commands ------------------------------------------------------------------------------
