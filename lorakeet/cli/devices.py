"""lorakeet devices import: register devices in bulk from CSV or a TTN device list."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from lorakeet.settings import Settings

from .common import console

if TYPE_CHECKING:
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import Registry


"""Points read per store request while exporting."""


devices_app = typer.Typer(help="Register devices in bulk.", no_args_is_help=True)

_DECODER = re.compile(r"^[A-Za-z0-9_.:-]{1,100}\Z")


class SkipRow(ValueError):
    """A row that cannot be imported; the message is the reason."""


@dataclass
class ImportRow:
    """One device to register, normalised from a CSV row or a ttn-lw-cli object."""

    where: str
    application_id: str = ""
    device_id: str = ""
    dev_eui: str | None = None
    name: str | None = None
    kind: str | None = None
    decoder: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    bin_depth_m: float | None = None


@dataclass(frozen=True)
class Skipped:
    """A row already known to be unimportable while reading the file."""

    where: str
    reason: str


@dataclass
class ImportSummary:
    """What an import did."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: object, name: str) -> float | None:
    text = _text(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        raise SkipRow(f"{name} {text!r} is not a number") from None
    if not math.isfinite(number):
        raise SkipRow(f"{name} {text!r} is not a finite number")
    return number


def _from_csv(text: str) -> Iterator[ImportRow | Skipped]:
    reader = csv.DictReader(text.splitlines())
    fields = set(reader.fieldnames or ())
    missing = {"application_id", "device_id"} - fields
    if missing:
        raise ValueError(
            f"CSV header lacks {', '.join(sorted(missing))} (found: {', '.join(sorted(fields))})"
        )
    for n, r in enumerate(reader, start=2):
        where = f"line {n}"
        try:
            yield ImportRow(
                where,
                _text(r.get("application_id")) or "",
                _text(r.get("device_id")) or "",
                _text(r.get("dev_eui")),
                _text(r.get("name")),
                _text(r.get("kind")),
                _text(r.get("decoder")),
                _number(r.get("latitude"), "latitude"),
                _number(r.get("longitude"), "longitude"),
                _number(r.get("bin_depth_m"), "bin_depth_m"),
            )
        except SkipRow as exc:
            yield Skipped(where, str(exc))


def _get(doc: object, *path: str) -> object:
    for part in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def _from_ttn_json(data: object) -> Iterator[ImportRow | Skipped]:
    """``ttn-lw-cli end-devices list`` output: a JSON array of end devices (or the API's
    ``{"end_devices": [...]}``), each with ``ids``, ``name`` and ``locations``."""
    if isinstance(data, Mapping) and "end_devices" in data:
        data = data["end_devices"]
    if not isinstance(data, list):
        raise ValueError("JSON input must be an array of end devices (ttn-lw-cli end-devices list)")
    for n, d in enumerate(data):
        where = f"item {n}"
        if not isinstance(d, Mapping):
            yield Skipped(where, "not a JSON object")
            continue
        try:
            attributes = _get(d, "attributes")
            yield ImportRow(
                where,
                _text(_get(d, "ids", "application_ids", "application_id")) or "",
                _text(_get(d, "ids", "device_id")) or "",
                _text(_get(d, "ids", "dev_eui")),
                _text(d.get("name")),
                _text(_get(attributes, "kind")),
                _text(_get(attributes, "decoder")),
                _number(_get(d, "locations", "user", "latitude"), "latitude"),
                _number(_get(d, "locations", "user", "longitude"), "longitude"),
                _number(_get(attributes, "bin_depth_m"), "bin_depth_m"),
            )
        except SkipRow as exc:
            yield Skipped(where, str(exc))


def read_import_file(path: Path) -> list[ImportRow | Skipped]:
    """Rows of a CSV file or of ttn-lw-cli JSON (told apart by the first character)."""
    text = path.read_text(encoding="utf-8-sig")
    if text.lstrip()[:1] in ("[", "{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        return list(_from_ttn_json(data))
    return list(_from_csv(text))


def _check(row: ImportRow, default_kind: str | None, default_decoder: str | None) -> dict[str, Any]:
    """The registry columns for a row; raises SkipRow with the reason it cannot be imported."""
    from lorakeet.ids import is_dev_eui, is_valid_id
    from lorakeet.storage.registry import KINDS

    if not row.application_id or not row.device_id:
        raise SkipRow("application_id and device_id are required")
    for name, value in (("application_id", row.application_id), ("device_id", row.device_id)):
        if not is_valid_id(value):
            raise SkipRow(f"{name} {value!r} is not a valid id (lower-case letters, digits, - and _)")
    kind = row.kind or default_kind
    if kind is not None and kind not in KINDS:
        raise SkipRow(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    decoder = row.decoder or default_decoder
    if decoder is not None and not _DECODER.match(decoder):
        raise SkipRow(f"decoder {decoder!r} is not a decoder name")
    if row.dev_eui is not None and not is_dev_eui(row.dev_eui):
        raise SkipRow(f"dev_eui {row.dev_eui!r} is not 16 hex digits")
    if (row.latitude is None) != (row.longitude is None):
        raise SkipRow("latitude and longitude go together")
    if row.latitude is not None and not -90 <= row.latitude <= 90:
        raise SkipRow(f"latitude {row.latitude} is out of range")
    if row.longitude is not None and not -180 <= row.longitude <= 180:
        raise SkipRow(f"longitude {row.longitude} is out of range")
    if row.bin_depth_m is not None and not 0 < row.bin_depth_m <= 100:
        raise SkipRow(f"bin_depth_m {row.bin_depth_m} must be above 0 and at most 100")
    if row.name is not None and len(row.name) > 200:
        raise SkipRow("name is longer than 200 characters")
    columns: dict[str, Any] = {
        "dev_eui": row.dev_eui.lower() if row.dev_eui else None,
        "name": row.name,
        "kind": kind,
        "decoder": decoder,
        "latitude": row.latitude,
        "longitude": row.longitude,
    }
    return {k: v for k, v in columns.items() if v is not None}


def import_rows(
    registry: Registry,
    rows: list[ImportRow | Skipped],
    *,
    kind: str | None = None,
    decoder: str | None = None,
    owner_id: int | None = None,
    progress: Callable[[], None] = lambda: None,
) -> ImportSummary:
    """Create or update each device; rows that cannot be imported are skipped with a reason.

    An existing device keeps what a row leaves empty; one owned by an account other than
    ``owner_id`` (when given) is skipped.
    """
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import ConflictError, DeviceChanges

    summary = ImportSummary()
    seen: set[DeviceKey] = set()
    for row in rows:
        try:
            if isinstance(row, Skipped):
                summary.skipped.append((row.where, row.reason))
                continue
            columns = _check(row, kind, decoder)
            key = DeviceKey(row.application_id, row.device_id)
            if key in seen:
                raise SkipRow(f"{key.uid} appears earlier in the file")
            seen.add(key)
            existing = registry.get_row(key)
            if existing is not None and owner_id is not None and existing.owner_id not in (None, owner_id):
                raise SkipRow(f"{key.uid} is owned by another account")
            meta = dict(existing.metadata) if existing is not None else {}
            if row.bin_depth_m is not None:
                meta["bin_depth_m"] = row.bin_depth_m
            fields: dict[str, Any] = {**columns, "metadata": meta, "source": "registered"}
            if owner_id is not None:
                fields["owner_id"] = owner_id
            changes = DeviceChanges(**fields)
            if existing is None:
                try:
                    registry.create_device(key, changes)
                    summary.created.append(key.uid)
                    registry.audit(owner_id, "device.import", f"device:{key.uid}", {"created": True})
                    continue
                except ConflictError:  # registered in the meantime (the bridge auto-registers)
                    pass
            registry.update_device(key, changes)
            summary.updated.append(key.uid)
            registry.audit(owner_id, "device.import", f"device:{key.uid}", {"created": False})
        except SkipRow as exc:
            summary.skipped.append((row.where, str(exc)))
        finally:
            progress()
    return summary


def _owner_id(registry: Registry, email: str | None) -> int | None:
    if email is None:
        return None
    wanted = email.strip().lower()
    offset = 0
    while page := registry.list_accounts(limit=1000, offset=offset):
        for account in page:
            if account.email == wanted:
                return account.id
        offset += len(page)
    raise typer.BadParameter(f"no account with email {email!r}", param_hint="--owner-email")


@devices_app.command(name="import")
def import_devices(
    file: Annotated[Path, typer.Argument(help="CSV, or the JSON of `ttn-lw-cli end-devices list`")],
    kind: Annotated[str | None, typer.Option(help="kind for rows that name none")] = None,
    decoder: Annotated[str | None, typer.Option(help="decoder for rows that name none")] = None,
    owner_email: Annotated[str | None, typer.Option(help="account that owns the imported devices")] = None,
) -> None:
    """Register devices from CSV (application_id, device_id, dev_eui, name, kind, decoder,
    latitude, longitude, bin_depth_m) or from ttn-lw-cli JSON; existing ones are updated."""
    from lorakeet.storage.registry import KINDS, Registry

    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(KINDS)}", param_hint="--kind")
    if decoder is not None and not _DECODER.match(decoder):
        raise typer.BadParameter("not a decoder name", param_hint="--decoder")
    try:
        rows = read_import_file(file)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/]")
        raise typer.Exit(1) from None
    registry = Registry(Settings().registry_url)
    try:
        owner = _owner_id(registry, owner_email)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn(f"importing {file.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.real,
        ) as bar:
            task = bar.add_task("import", total=len(rows))
            summary = import_rows(
                registry,
                rows,
                kind=kind,
                decoder=decoder,
                owner_id=owner,
                progress=lambda: bar.advance(task),
            )
    finally:
        registry.close()
    for where, reason in summary.skipped:
        console.print(f"[yellow]skipped {where}[/]: {reason}")
    console.print(
        f"created {len(summary.created)}, updated {len(summary.updated)}, skipped {len(summary.skipped)}"
    )
