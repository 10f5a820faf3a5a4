"""lorakeet config show and check: the effective configuration, and whether its services answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from lorakeet.config_check import CHECKS, run_checks
from lorakeet.config_docs import ENV_PREFIX, settings_table
from lorakeet.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

config_app = typer.Typer(help="Inspect the configuration and try its connections.", no_args_is_help=True)


# -- the settings as rows ------------------------------------------------------------------


# -- connection checks ---------------------------------------------------------------------


# Time-bounded, so it is cheap on a big database; 1.x and 2.x both say "database not found".


# -- commands ------------------------------------------------------------------------------


def _load_settings(console: Console) -> Settings:
    from rich.text import Text

    try:
        return Settings()
    except ValidationError as exc:
        console.print(Text("FAIL  configuration", style="bold red"))
        for err in exc.errors():
            env = ENV_PREFIX + "__".join(str(p).upper() for p in err["loc"])
            console.print(Text(f"  {env}: {err['msg']}"), soft_wrap=True)
        raise typer.Exit(1) from None


@config_app.command("show")
def show() -> None:
    """Print the effective configuration (secrets masked)."""
    from rich.console import Console

    console = Console(highlight=False)
    console.print(settings_table(_load_settings(console)))


@config_app.command("check")
def check(
    skip: Annotated[list[str] | None, typer.Option(help="leave out a check: mqtt, store or registry")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no configuration table")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each service")] = 5.0,
) -> None:
    """Print the configuration, then try the broker, the store and the registry; exit 1 if any fails."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    skipped = frozenset(skip or ())
    unknown = skipped - set(CHECKS)
    if unknown:
        raise typer.BadParameter(f"unknown check(s) {sorted(unknown)}; choose from {', '.join(CHECKS)}")
    settings = _load_settings(console)
    if not quiet:
        console.print(settings_table(settings))
    failed = 0
    for res in run_checks(settings, skipped, timeout):
        mark = Text("OK  ", style="bold green") if res.ok else Text("FAIL", style="bold red")
        console.print(Text.assemble(mark, f"  {res.name}  {res.target}: {res.detail}"), soft_wrap=True)
        if not res.ok:
            failed += 1
            console.print(Text(f"      what to fix: {res.fix}"), soft_wrap=True)
    if failed:
        console.print(Text(f"{failed} check(s) failed", style="bold red"))
        raise typer.Exit(1)
    console.print(Text("all checks passed", style="bold green"))
