"""``lorakeet keys``: bootstrap an admin and manage API keys from the shell."""

from __future__ import annotations

from typing import Annotated

import typer

from lorakeet.settings import Settings

from .common import LazyConsole

keys_app = typer.Typer(help="API keys: bootstrap an admin, list and revoke keys.", no_args_is_help=True)
console = LazyConsole(stderr=True)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="account name (and key name)")] = "admin",
    email: Annotated[str | None, typer.Option(help="account email; default <name>@localhost")] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="make it an admin account with an admin key")
    ] = False,
    account: Annotated[int | None, typer.Option(help="add the key to this existing account")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="read, write or admin (repeatable)")] = None,
) -> None:
    """Create a key (and an account unless --account is given); prints the key once to stdout."""
    from lorakeet.api.auth import SCOPES, hash_key, new_key
    from lorakeet.storage.registry import AccountChanges, ConflictError, Registry

    scopes = scope or (["admin"] if admin else ["read", "write"])
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise typer.BadParameter(f"unknown scope(s) {', '.join(bad)}: use {', '.join(SCOPES)}")
    reg = Registry(Settings().registry_url)
    try:
        if account is None:
            try:
                acc = reg.create_account(name, email or f"{name}@localhost", is_admin=admin)
            except ConflictError as exc:
                raise typer.BadParameter(f"{exc}; pass --account ID to add a key to it") from None
            account_id = acc.id
        else:
            found = reg.get_account(account)
            if found is None:
                raise typer.BadParameter(f"no account {account}")
            if admin and not found.is_admin:
                reg.update_account(account, AccountChanges(is_admin=True))
            account_id = account
        key = new_key()
        row = reg.create_key(account_id, name=name, key_hash=hash_key(key), prefix=key[:8], scopes=scopes)
        reg.audit(None, "key.create", f"key:{row.id}", {"via": "cli", "account_id": account_id})
        console.print(f"account {account_id}, key {row.id} ({', '.join(scopes)}); it is shown only now:")
        typer.echo(key)
    finally:
        reg.close()


@keys_app.command("list")
def list_keys(
    account: Annotated[int | None, typer.Option(help="only this account's keys")] = None,
) -> None:
    """Every key (prefix, scopes, last use, revocation); never the secrets."""
    from rich.console import Console
    from rich.table import Table

    from lorakeet.storage.registry import Registry

    reg = Registry(Settings().registry_url)
    try:
        table = Table("id", "account", "name", "prefix", "scopes", "created", "last used", "revoked")
        for k in reg.list_keys(account):
            table.add_row(
                str(k.id),
                str(k.account_id),
                k.name,
                k.prefix,
                ",".join(k.scopes or []),
                f"{k.created_at:%Y-%m-%d %H:%M}",
                f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
                f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
            )
        Console().print(table)
    finally:
        reg.close()


@keys_app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="key id (see 'keys list')")]) -> None:
    """Revoke a key."""
    from lorakeet.storage.registry import Registry

    reg = Registry(Settings().registry_url)
    try:
        if reg.revoke_key(key_id) is None:
            raise typer.BadParameter(f"no key {key_id}")
        reg.audit(None, "key.revoke", f"key:{key_id}", {"via": "cli"})
        console.print(f"key {key_id} revoked")
    finally:
        reg.close()
