"""Data in and out on the command line: ``export``, ``devices import`` and ``simulate``.

``lorakeet export`` pages through a device's readings by time, so memory stays bounded however
long the range; ``lorakeet devices import`` registers devices from a CSV file or from the JSON
``ttn-lw-cli end-devices list`` prints; ``lorakeet simulate`` publishes a simulated fleet's
uplinks as TTN or ChirpStack MQTT messages, or POSTs them to a Lorakeet webhook.
"""

from __future__ import annotations

import csv
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from lorakeet.settings import Settings

if TYPE_CHECKING:
    from lorakeet.decoders import Value
    from lorakeet.gateway_bridge.simulator import SimDevice
    from lorakeet.storage.records import DeviceKey
    from lorakeet.storage.registry import Registry

console = Console(stderr=True)

EXPORT_PAGE = 5000
"""Points read per store request while exporting."""

# --- export ----------------------------------------------------------------------------------


def _cell(value: Value | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextmanager
def _open_output(output: Path | None) -> Iterator[IO[str]]:
    if output is None or str(output) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with output.open("w", newline="", encoding="utf-8") as f:
        yield f


def export(
    device: Annotated[str, typer.Argument(help="application_id.device_id")],
    start: Annotated[str, typer.Option(help="RFC 3339 or relative (-30d)")] = "-30d",
    end: Annotated[str, typer.Option(help="RFC 3339 or relative")] = "now",
    fmt: Annotated[
        str, typer.Option("--format", help="csv (time + one column per key) or ndjson (one point a line)")
    ] = "csv",
    output: Annotated[Path | None, typer.Option(help="file to write; standard output when absent")] = None,
    page_size: Annotated[int, typer.Option(hidden=True, min=1)] = EXPORT_PAGE,
) -> None:
    """Export a device's readings from the configured store as CSV or NDJSON."""
    from lorakeet.api.timeparse import parse_time
    from lorakeet.storage.factory import open_store
    from lorakeet.storage.records import DeviceKey
    from lorakeet.timefmt import format_rfc3339_ns

    if fmt not in ("csv", "ndjson"):
        raise typer.BadParameter("--format must be csv or ndjson")
    try:
        key = DeviceKey.from_uid(device)
        now = time.time_ns()
        start_ns, end_ns = parse_time(start, now), parse_time(end, now)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if end_ns <= start_ns:
        raise typer.BadParameter("--end must be after --start")
    store = open_store(Settings().store)
    written = 0
    try:
        columns = sorted(store.keys(key))
        with (
            _open_output(output) as out,
            Progress(
                TextColumn(f"exporting {key.uid}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[points]} points"),
                TimeElapsedColumn(),
                console=console,
            ) as bar,
        ):
            task = bar.add_task("export", total=end_ns - start_ns, points=0)
            writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
            if writer is not None:
                writer.writerow(["time", *columns])
            cursor = start_ns
            while cursor < end_ns:
                page = store.points(key, None, cursor, end_ns, page_size)
                for p in page:
                    ts = format_rfc3339_ns(p.time_ns)
                    if writer is not None:
                        writer.writerow([ts, *(_cell(p.values.get(c)) for c in columns)])
                    else:
                        doc = {"device": key.uid, "time": ts, "time_ns": p.time_ns, "values": p.values}
                        out.write(orjson.dumps(doc).decode() + "\n")
                written += len(page)
                if len(page) < page_size:
                    break
                cursor = page[-1].time_ns + 1
                bar.update(task, completed=cursor - start_ns, points=written)
            bar.update(task, completed=end_ns - start_ns, points=written)
    finally:
        store.close()
    where = f" to {output}" if output is not None and str(output) != "-" else ""
    console.print(f"exported {written} points of {key.uid}{where}")


# --- devices import --------------------------------------------------------------------------

devices_app = typer.Typer(help="Register devices in bulk.", no_args_is_help=True)

_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")
_DECODER = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


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
    from lorakeet.storage.records import is_valid_id
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
    if row.dev_eui is not None and not _DEV_EUI.match(row.dev_eui):
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
        with Progress(
            TextColumn(f"importing {file.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
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


# --- simulate --------------------------------------------------------------------------------

Format = Literal["ttn", "chirpstack"]


def sim_message(d: SimDevice, application: str, fmt: Format, now_ns: int | None = None) -> tuple[str, bytes]:
    """The next (MQTT topic, body) of a simulated device in TTN or ChirpStack v4 format."""
    from lorakeet.gateway_bridge.simulator import chirpstack_uplink_body, fleet_uplinks, sim_dev_eui

    if fmt == "ttn":
        _, body = next(fleet_uplinks([d], application, now_ns))
        return f"v3/{application}@ttn/devices/{d.device_id}/up", body
    t = now_ns or time.time_ns()
    d.f_cnt += 1
    rssi = -70 - d.rng.uniform(0, 50)
    f_port, payload = d.payload(t / 1e9)
    eui = sim_dev_eui(d.device_id).lower()
    body = chirpstack_uplink_body(
        application,
        eui,
        payload,
        f_port=f_port,
        f_cnt=d.f_cnt,
        received_at_ns=t,
        device_name=d.device_id,
        rssi=round(rssi),
        snr=round(d.rng.uniform(-10, 10), 1),
        spreading_factor=d.rng.choice([7, 7, 8, 9, 10, 12]),
    )
    return f"application/{application}/device/{eui}/event/up", body


def simulate(
    broker_url: Annotated[str, typer.Option("--broker", help="mqtt://host:port")] = "mqtt://127.0.0.1:1883",
    application: Annotated[
        str, typer.Option(help="TTS application id (ChirpStack: application id/UUID)")
    ] = "lorakeet-demo",
    interval: Annotated[float, typer.Option(help="seconds between a device's uplinks")] = 10.0,
    bins: Annotated[int, typer.Option()] = 50,
    boats: Annotated[int, typer.Option()] = 10,
    lights: Annotated[int, typer.Option()] = 30,
    seconds: Annotated[float, typer.Option(help="stop after this long (0: until Ctrl-C)")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="ttn (v3/.../up) or chirpstack (application/.../event/up)")
    ] = "ttn",
    webhook: Annotated[
        str | None,
        typer.Option(help="POST TTN bodies here (e.g. http://127.0.0.1:8080/v1/ingest/ttn) instead of MQTT"),
    ] = None,
    secret: Annotated[str | None, typer.Option(help="X-Lorakeet-Secret for --webhook")] = None,
) -> None:
    """Publish a simulated fleet's uplinks to a broker (TTN or ChirpStack format) or a webhook."""
    from lorakeet.gateway_bridge.simulator import make_fleet
    from lorakeet.settings import MqttSettings

    if fmt not in ("ttn", "chirpstack"):
        raise typer.BadParameter("must be ttn or chirpstack", param_hint="--format")
    if webhook is not None and fmt != "ttn":
        raise typer.BadParameter("webhooks take TTN bodies only", param_hint="--format")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise typer.BadParameter("must be an http:// or https:// URL", param_hint="--webhook")
    form: Format = "ttn" if fmt == "ttn" else "chirpstack"
    fleet = make_fleet(bins, boats, lights, interval_s=interval)
    failures: dict[str, int] = {}
    sent = 0
    if webhook is not None:
        import httpx

        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Lorakeet-Secret"] = secret
        client = httpx.Client(timeout=10.0)

        def send(topic: str, body: bytes) -> bool:
            try:
                r = client.post(webhook, content=body, headers=headers)
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            else:
                if r.is_success:
                    return True
                reason = f"HTTP {r.status_code}"
            failures[reason] = failures.get(reason, 0) + 1
            return False

        close: Callable[[], None] = client.close
        target = webhook
    else:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        m = MqttSettings(url=broker_url)
        mq = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lorakeet-sim-{time.time_ns() % (1 << 30)}")
        try:
            mq.connect(m.host, m.port)
        except OSError as exc:
            console.print(f"[red]cannot connect to {broker_url}: {exc}[/]")
            raise typer.Exit(1) from None
        mq.loop_start()
        last: list[mqtt.MQTTMessageInfo] = []

        def send(topic: str, body: bytes) -> bool:
            info = mq.publish(topic, body, qos=1)
            last[:] = [info]
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                reason = mqtt.error_string(info.rc)
                failures[reason] = failures.get(reason, 0) + 1
                return False
            return True

        def close() -> None:
            for info in last:
                try:
                    info.wait_for_publish(5)
                except (RuntimeError, ValueError):
                    pass
            mq.disconnect()
            mq.loop_stop()

        target = broker_url
    console.print(f"simulating {len(fleet)} devices, {fmt} format, to {target}")
    stop = threading.Event()
    if seconds <= 0:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + seconds if seconds > 0 else math.inf
    try:
        start = time.monotonic()
        for i, d in enumerate(fleet):
            d.next_at = start + (i % 10) * 0.1
        while not stop.is_set() and (now := time.monotonic()) < deadline:
            for d in fleet:
                if d.next_at <= now:
                    topic, body = sim_message(d, application, form)
                    sent += send(topic, body)
                    d.next_at = now + d.interval_s * d.rng.uniform(0.8, 1.2)
            stop.wait(max(0.0, min(0.05, deadline - time.monotonic())))
    finally:
        close()
    for reason, n in sorted(failures.items()):
        console.print(f"[yellow]{n} uplinks failed: {reason}[/]")
    console.print(f"published {sent} uplinks")
    if failures and not sent:
        raise typer.Exit(1)
