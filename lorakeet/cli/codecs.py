"""``lorakeet codecs``: import a Device Repository model's codec into the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lorakeet.settings import Settings

from .common import LazyConsole

codecs_app = typer.Typer(
    help="JavaScript codecs: import them from the TTN Device Repository.", no_args_is_help=True
)
console = LazyConsole(stderr=True)


@codecs_app.command("import-repo")
def import_repo(
    path: Annotated[Path, typer.Argument(help="checkout of the Device Repository (holds vendor/)")],
    brand: Annotated[str, typer.Option(help="vendor id, e.g. elsys (TTS version_ids.brand_id)")],
    model: Annotated[str, typer.Option(help="model id, e.g. ers (TTS version_ids.model_id)")],
    firmware: Annotated[
        str | None, typer.Option(help="firmware version; needed when versions use different codecs")
    ] = None,
    band: Annotated[
        str | None, typer.Option(help="band, EU863-870 or EU_863_870; needed when bands use different codecs")
    ] = None,
    owner: Annotated[int | None, typer.Option(help="account that owns the codec; default: shared")] = None,
) -> None:
    """Resolve the model's codec, check it against its examples in the sandbox and store it.

    Prints the decoder name (js:<id>) to stdout; a device uses it as its decoder.
    """
    from lorakeet.decoders.device_repo import DeviceRepoError
    from lorakeet.gateway_bridge.repo_import import import_repo_codec
    from lorakeet.storage.registry import Registry

    if not (path / "vendor").is_dir():
        raise typer.BadParameter(
            f"{path} has no vendor/ folder: give the root of a Device Repository checkout"
        )
    reg = Registry(Settings().registry_url)
    try:
        if owner is not None and reg.get_account(owner) is None:
            raise typer.BadParameter(f"no account {owner}")
        try:
            result = import_repo_codec(
                reg, path, brand, model, firmware_version=firmware, band=band, owner_id=owner
            )
        except DeviceRepoError as exc:
            console.print(f"[red]not imported:[/red] {exc}")
            raise typer.Exit(1) from None
        if result.created:
            reg.audit(None, "codec.create", f"codec:{result.row.id}", {"via": "cli", "name": result.row.name})
        found = result.found
        state = "imported" if result.created else "already stored"
        console.print(
            f"{state}: {found.brand}/{found.model} codec {found.codec_id} "
            f"({result.examples_checked} example(s) passed) as js:{result.row.id}"
        )
        typer.echo(f"js:{result.row.id}")
    finally:
        reg.close()
