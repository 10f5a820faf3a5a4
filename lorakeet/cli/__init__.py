"""The ``lorakeet`` command line: one module per command (or group of commands), put together here.

``serve`` (version, bridge, api), ``demo``, ``simulate``, ``export``, ``devices`` (import),
``keys``, ``codecs``, ``models``, ``dead_letters``, ``config``, ``jobs`` (redecode) and
``backfill``; ``common`` holds what they share. A new command goes in its own module and is registered below.
"""

from __future__ import annotations

import typer

from .backfill import backfill
from .codecs import codecs_app
from .config import config_app
from .dead_letters import dead_letters_app
from .demo import demo
from .devices import devices_app
from .export import export
from .jobs import redecode
from .keys import keys_app
from .models import models_app
from .serve import api, bridge, version
from .simulate import simulate

app = typer.Typer(
    help="Lorakeet: community LoRaWAN sensor backend.", no_args_is_help=True, add_completion=False
)
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(dead_letters_app, name="dead-letters")
app.command(name="redecode")(redecode)
app.add_typer(codecs_app, name="codecs")
app.add_typer(models_app, name="models")
app.command(name="backfill")(backfill)
app.command(name="version")(version)
app.command(name="bridge")(bridge)
app.command(name="api")(api)
app.command(name="demo")(demo)
app.command(name="simulate")(simulate)
app.command(name="export")(export)
app.add_typer(devices_app, name="devices")


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
