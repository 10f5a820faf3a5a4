"""``lorakeet dead-letters``: list, replay or drop what the readings store refused for good."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakeet.settings import Settings

from .common import LazyConsole

dead_letters_app = typer.Typer(
    help="Dead letters: uplinks the store refused for good (list, replay once the cause is fixed, drop).",
    no_args_is_help=True,
)
console = LazyConsole(stderr=True)


@dead_letters_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, help="how many, oldest first")] = 100,
    after: Annotated[int, typer.Option(min=0, help="start after this id")] = 0,
    application: Annotated[str | None, typer.Option(help="only this application id")] = None,
) -> None:
    """Print dead letters, one per line (tab-separated), with the store's reason; the depth goes to stderr."""
    from lorakeet.storage.dead_letters import DeadLetters
    from lorakeet.storage.registry import Registry
    from lorakeet.timefmt import format_rfc3339_ns

    reg = Registry(Settings().registry_url)
    try:
        dead = DeadLetters(reg)
        rows = dead.page(limit, after, application)
        typer.echo("id\tkind\tdevice\tf_cnt\ttime\tattempts\treason")
        for r in rows:
            device = f"{r.application_id}.{r.device_id}" if r.application_id else "-"
            f_cnt = "-" if r.f_cnt is None else str(r.f_cnt)
            when = format_rfc3339_ns(r.time_ns)
            typer.echo(f"{r.id}\t{r.kind}\t{device}\t{f_cnt}\t{when}\t{r.attempts}\t{r.reason}")
        console.print(f"{dead.count()} dead letters in all")
    finally:
        reg.close()


@dead_letters_app.command("replay")
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="dead-letter ids; none: all of them")] = None,
) -> None:
    """Write dead letters to the store again; those it takes are removed, the others stay."""
    from lorakeet.gateway_bridge.durability import replay_dead_letters
    from lorakeet.storage.dead_letters import DeadLetters
    from lorakeet.storage.factory import open_store
    from lorakeet.storage.protocols import StoreError
    from lorakeet.storage.registry import Registry

    settings = Settings()
    reg = Registry(settings.registry_url)
    store = open_store(settings.store)
    try:
        dead = DeadLetters(reg)
        try:
            result = replay_dead_letters(store, dead, ids or None)
        except StoreError as exc:
            console.print(f"[red]the store did not take the replay[/]: {exc}")
            raise typer.Exit(1) from None
        console.print(
            f"stored {result.stored}, refused again {result.refused}; {dead.count()} dead letters left"
        )
        if result.refused:
            raise typer.Exit(2)
    finally:
        store.close()
        reg.close()


@dead_letters_app.command("drop")
def drop(
    ids: Annotated[list[int] | None, typer.Argument(help="dead-letter ids")] = None,
    all_: Annotated[bool, typer.Option("--all", help="drop every dead letter")] = False,
) -> None:
    """Forget dead letters for good."""
    from lorakeet.storage.dead_letters import DeadLetters
    from lorakeet.storage.registry import Registry

    if bool(ids) == all_:
        raise typer.BadParameter("give dead-letter ids, or --all")
    reg = Registry(Settings().registry_url)
    try:
        dead = DeadLetters(reg)
        n = dead.remove_all() if all_ else dead.remove(ids or [])
        console.print(f"dropped {n}; {dead.count()} dead letters left")
    finally:
        reg.close()
