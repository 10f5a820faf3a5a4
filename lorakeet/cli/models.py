"""``lorakeet models``: the device models Lorakeet recognises, and maps of them in the registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lorakeet.settings import Settings

from .common import LazyConsole

if TYPE_CHECKING:
    from lorakeet.decoders.models import Model

models_app = typer.Typer(
    help="Device models: kind, decoder and field map per Device Repository brand and model.",
    no_args_is_help=True,
)
console = LazyConsole()
errors = LazyConsole(stderr=True)

Owner = Annotated[int | None, typer.Option(help="an account's own map; default: the shared map")]


def _effective(brand: str, model: str, owner: int | None) -> Model | None:
    from lorakeet.storage.registry import Registry

    reg = Registry(Settings().registry_url)
    try:
        return reg.effective_model(brand, model, owner)
    finally:
        reg.close()


@models_app.command("list")
def list_models(brand: Annotated[str | None, typer.Option(help="only this brand id")] = None) -> None:
    """The shipped models and those with a map in the registry."""
    from lorakeet.decoders.models import catalog
    from lorakeet.storage.registry import Registry

    reg = Registry(Settings().registry_url)
    try:
        stored = reg.list_model_maps(everyone=True)
    finally:
        reg.close()
    mapped: dict[tuple[str, str], list[str]] = {}
    for row in stored:
        mapped.setdefault((row.brand_id, row.model_id), []).append(
            "shared" if row.owner_id is None else f"account {row.owner_id}"
        )
    shipped = {(m.brand_id, m.model_id): m for m in catalog().all()}
    from rich.table import Table

    table = Table("brand", "model", "name", "kind", "decoder", "fields", "maps")
    for key in sorted(set(shipped) | set(mapped)):
        if brand is not None and key[0] != brand:
            continue
        m = shipped.get(key)
        table.add_row(
            key[0],
            key[1],
            m.name if m else "",
            m.kind if m else "",
            m.decoder if m else "",
            str(len(m.field_map)) if m else "",
            ", ".join(mapped.get(key, [])),
        )
    console.print(table)


@models_app.command("show")
def show(brand: str, model: str, owner: Owner = None) -> None:
    """One model as a device of ``--owner`` (default: an unowned device) sees it."""
    m = _effective(brand, model, owner)
    if m is None:
        errors.print(f"no model {brand}/{model}")
        raise typer.Exit(1)
    console.print(f"{m.brand_id}/{m.model_id}: {m.name}, kind {m.kind}, decoder {m.decoder} ({m.source})")
    from rich.table import Table

    table = Table("field", "quantity", "unit", "scale")
    for path, rule in sorted(m.field_map.items()):
        table.add_row(path, rule.quantity, rule.unit or "", f"{rule.scale:g}")
    console.print(table)


def _rule(text: str) -> tuple[str, dict[str, Any]]:
    path, sep, spec = text.partition("=")
    if not sep or not path or not spec:
        raise typer.BadParameter(f"{text!r}: use PATH=QUANTITY[:UNIT[:SCALE]], e.g. Distance=distance:mm")
    quantity, _, rest = spec.partition(":")
    unit, _, scale = rest.partition(":")
    try:
        factor = float(scale) if scale else 1.0
    except ValueError:
        raise typer.BadParameter(f"{text!r}: scale {scale!r} is not a number") from None
    return path, {"quantity": quantity, "unit": unit or None, "scale": factor}


@models_app.command("set")
def set_map(
    brand: str,
    model: str,
    field: Annotated[
        list[str] | None,
        typer.Option(help="PATH=QUANTITY[:UNIT[:SCALE]], e.g. Distance=distance:mm (repeatable)"),
    ] = None,
    remove: Annotated[list[str] | None, typer.Option(help="a path whose shipped rule is dropped")] = None,
    kind: Annotated[str | None, typer.Option(help="bin, streetlight, boat or other")] = None,
    decoder: Annotated[str | None, typer.Option(help="a built-in decoder, network or js:<id>")] = None,
    name: Annotated[str | None, typer.Option(help="the model's name")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="start from an empty map")] = False,
    owner: Owner = None,
) -> None:
    """Add or change rules of the shared map of a model (or ``--owner``'s), checked first."""
    from lorakeet.decoders import DECODERS
    from lorakeet.decoders.models import NETWORK, ModelFileError, rules_from_json
    from lorakeet.storage.registry import KINDS, Registry

    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"kind {kind!r}: use one of {', '.join(KINDS)}")
    if decoder is not None and not (decoder in (NETWORK, *DECODERS) or decoder.startswith("js:")):
        raise typer.BadParameter(f"unknown decoder {decoder!r}")
    brand, model = brand.lower(), model.lower()
    reg = Registry(Settings().registry_url)
    try:
        old = None if replace else reg.get_model_map(owner, brand, model)
        fields: dict[str, Any] = dict(old.fields) if old else {}
        fields.update(_rule(f) for f in field or [])
        fields.update((p, None) for p in remove or [])
        try:
            rules_from_json(fields, f"map of {brand}/{model}")
        except ModelFileError as exc:
            raise typer.BadParameter(str(exc)) from None
        reg.put_model_map(
            owner,
            brand,
            model,
            name=name or (old.name if old else None),
            kind=kind or (old.kind if old else None),
            decoder=decoder or (old.decoder if old else None),
            fields=fields,
        )
        reg.audit(
            None, "model.put", f"model:{brand}/{model}", {"shared": owner is None, "fields": sorted(fields)}
        )
    finally:
        reg.close()
    errors.print("stored; the bridge uses it within 30 s. Re-decode history with: lorakeet redecode DEVICE")


@models_app.command("device")
def device_rules(
    device: Annotated[str, typer.Argument(help="application_id.device_id")],
    field: Annotated[
        list[str] | None,
        typer.Option(help="PATH=QUANTITY[:UNIT[:SCALE]], e.g. Distance=distance:mm (repeatable)"),
    ] = None,
    remove: Annotated[list[str] | None, typer.Option(help="a path whose model rule is dropped")] = None,
    unset: Annotated[
        list[str] | None, typer.Option(help="a path of the device's own rules to forget")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="forget all the device's own rules")] = False,
) -> None:
    """Show or change one device's own field rules (they win over its model's)."""
    from lorakeet.decoders.models import ModelFileError, rules_from_json
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import DeviceChanges, Registry

    try:
        key = DeviceKey.from_uid(device)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    reg = Registry(Settings().registry_url)
    try:
        row = reg.get_row(key)
        if row is None:
            errors.print(f"no device {device}")
            raise typer.Exit(1)
        fields: dict[str, Any] = {} if clear else dict(row.field_map)
        for p in unset or []:
            fields.pop(p, None)
        fields.update(_rule(f) for f in field or [])
        fields.update((p, None) for p in remove or [])
        changed = clear or bool(field or remove or unset)
        if changed:
            try:
                rules_from_json(fields, f"device {device}")
            except ModelFileError as exc:
                raise typer.BadParameter(str(exc)) from None
            reg.update_device(key, DeviceChanges(field_map=fields))
            reg.audit(None, "device.update", f"device:{device}", {"fields": ["field_map"]})
        model = f"{row.brand_id}/{row.model_id}" if row.brand_id else "no model"
        console.print(f"{device} ({model}), kind {row.kind}, decoder {row.decoder or 'none'}")
        from rich.table import Table

        table = Table("field", "quantity", "unit", "scale")
        for path, rule in sorted(fields.items()):
            if rule is None:
                table.add_row(path, "(model rule removed)", "", "")
            else:
                table.add_row(path, rule["quantity"], rule.get("unit") or "", f"{rule.get('scale', 1.0):g}")
        console.print(table)
    finally:
        reg.close()


@models_app.command("delete")
def delete(brand: str, model: str, owner: Owner = None) -> None:
    """Remove the shared map of a model (or ``--owner``'s); the shipped model stays."""
    from lorakeet.storage.registry import Registry

    reg = Registry(Settings().registry_url)
    try:
        if not reg.delete_model_map(owner, brand, model):
            errors.print(f"no {'shared' if owner is None else 'such'} map of {brand}/{model}")
            raise typer.Exit(1)
        reg.audit(None, "model.delete", f"model:{brand}/{model}", {"shared": owner is None})
    finally:
        reg.close()


@models_app.command("check")
def check(
    directory: Annotated[
        Path | None, typer.Argument(help="a directory of vendor files; default: shipped")
    ] = None,
) -> None:
    """Load and validate vendor files (``<brand>.toml``): quantities, units, decoders, duplicates."""
    from lorakeet.decoders.models import MODELS_DIR, ModelFileError, load_catalog

    try:
        cat = load_catalog(directory or MODELS_DIR)
    except ModelFileError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    models = cat.all()
    rules = sum(len(m.field_map) for m in models)
    console.print(
        f"{len(models)} models of {len({m.brand_id for m in models})} brands, {rules} field rules: OK"
    )
