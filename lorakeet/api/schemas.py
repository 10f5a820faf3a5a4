"""Request and response models of the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from lorakeet.decoders import Value
from lorakeet.decoders.javascript import MAX_UPLOAD_BYTES
from lorakeet.ids import ID_PATTERN

from .schemas_registry import DeviceList as DeviceList  # moved there; re-exported
from .schemas_registry import DevicePublic as DevicePublic


class LatestValuePublic(BaseModel):
    """The most recent value of one quantity."""

    key: str = Field(examples=["fill_pct"])
    value: Value
    unit: str
    time: datetime


class LatestPublic(BaseModel):
    """A device's latest values."""

    device: str
    values: list[LatestValuePublic]


class PointPublic(BaseModel):
    """Values at one time."""

    time: datetime
    values: dict[str, Value]


class ReadingsPublic(BaseModel):
    """A device's readings over a time range."""

    device: str
    start: datetime
    end: datetime
    every: str | None = None
    agg: str | None = None
    units: dict[str, str]
    points: list[PointPublic]


class FleetDevicePublic(BaseModel):
    """One device of a fleet with its latest values."""

    device: str = Field(examples=["bins-town.bin-001"])
    name: str | None = None
    kind: str
    latitude: float | None = None
    longitude: float | None = None
    values: list[LatestValuePublic]


class FleetLatestPublic(BaseModel):
    """The latest values of every device of a kind that the caller may see."""

    kind: str | None
    count: int = Field(description="devices in this page")
    total: int = Field(description="devices of this kind the caller may see")
    devices: list[FleetDevicePublic]


class UplinkPublic(BaseModel):
    """A stored raw uplink with its radio metadata and decode outcome."""

    time: datetime
    f_cnt: int
    f_port: int
    source: str
    rssi: float | None
    snr: float | None
    sf: int | None = Field(description="LoRa spreading factor")
    frequency: int | None = Field(description="Hz")
    gateways: list[str]
    payload_hex: str
    payload_base64: str
    decoder: str
    decode_error: str | None


class UplinksPublic(BaseModel):
    """A device's stored uplinks, newest first."""

    device: str
    start: datetime
    end: datetime
    count: int
    uplinks: list[UplinkPublic]


class RedecodeRequest(BaseModel):
    """Re-decode the stored uplinks of ``[start, end)`` with the device's current decoder."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(examples=["-7d", "2026-01-01T00:00:00Z"], description="RFC 3339 or relative")
    end: str = Field("now", examples=["now"], description="RFC 3339 or relative")


class JobPublic(BaseModel):
    """A background job and its progress."""

    id: str
    kind: str
    device: str
    state: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    decode_errors: int = Field(description="uplinks whose re-decode produced a decode error")
    errors: list[str] = Field(description="the first few problems (decode or store)")
    created_at: datetime
    finished_at: datetime | None


class IngestAccepted(BaseModel):
    """A webhook message is durably stored (or was already)."""

    status: Literal["stored"] = "stored"


class ApplicationSecretRequest(BaseModel):
    """Set the webhook secret of one network application."""

    model_config = ConfigDict(extra="forbid")

    application_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="printable ASCII without spaces (it is sent as an HTTP header value); "
        "leave out to have one generated (shown once)",
    )


class ApplicationSecretPublic(BaseModel):
    """The secret to configure as the TTS webhook header ``X-Lorakeet-Secret``."""

    application_id: str
    header: str = "X-Lorakeet-Secret"
    secret: str
    pending: bool = Field(
        False, description="true: your claim's secret; the first uplink sent with it proves the application"
    )


class CodecExample(BaseModel):
    """One example a codec must pass: input bytes and the expected readings (or errors)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    f_port: int = Field(alias="fPort", ge=0, le=255)
    bytes: str = Field(pattern=r"^([0-9A-Fa-f]{2})*$", max_length=1024, description="payload, hex")
    expected: dict[str, JsonValue] | None = Field(
        None,
        description="the readings as {key: value}, or the codec's own data object (may nest);"
        " leave out when 'errors' is given",
    )
    errors: list[str] | None = Field(None, description="substrings the codec's error must contain")


class CodecCreate(BaseModel):
    """A JavaScript codec (``decodeUplink(input)``) with examples it must pass."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    source: str = Field(
        min_length=1,
        max_length=MAX_UPLOAD_BYTES,
        description="JavaScript, at most 40 KB (40,960 bytes of UTF-8), The Things Stack's limit",
    )
    examples: list[CodecExample] = Field(min_length=1, max_length=100)

    @field_validator("source")
    @classmethod
    def _source_bytes(cls, v: str) -> str:
        size = len(v.encode("utf-8", "surrogatepass"))
        if size > MAX_UPLOAD_BYTES:
            raise ValueError(f"source is {size} bytes of UTF-8, limit {MAX_UPLOAD_BYTES} (40 KB)")
        return v


class CodecRepoImport(BaseModel):
    """A Device Repository model whose codec to import (TTS ``version_ids`` spellings)."""

    model_config = ConfigDict(extra="forbid")

    brand: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$", examples=["elsys"])
    model: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$", examples=["ers"])
    firmware_version: str | None = Field(
        None, max_length=64, description="needed when firmware versions use different codecs"
    )
    band: str | None = Field(
        None,
        max_length=32,
        description="EU863-870 or EU_863_870; needed when bands use different codecs",
        examples=["EU_863_870"],
    )
    shared: bool = Field(False, description="admins: store it as a shared codec every account may use")


class CodecPublic(BaseModel):
    """A stored codec; devices use it as decoder ``js:<id>``."""

    id: int
    decoder: str = Field(examples=["js:7"])
    name: str
    owner_id: int | None
    source: str
    examples: list[dict[str, Any]]
    created_at: datetime


class CodecSummary(BaseModel):
    """A codec in a listing (no source)."""

    id: int
    decoder: str
    name: str
    owner_id: int | None
    created_at: datetime


class CodecList(BaseModel):
    """Codecs the caller may see."""

    data: list[CodecSummary]
    count: int


class CodecTestRequest(BaseModel):
    """Run a codec on one payload."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    f_port: int = Field(alias="fPort", ge=0, le=255)
    bytes_hex: str = Field(pattern=r"^([0-9A-Fa-f]{2})*$", max_length=1024)


class ReadingPublic(BaseModel):
    """One decoded value."""

    key: str
    value: Value
    unit: str
    time: datetime | None = None


class CodecTestResult(BaseModel):
    """What the codec made of the payload, or its errors."""

    ok: bool
    readings: list[ReadingPublic] = []
    warnings: list[str] = []
    errors: list[str] = []


class BinPublic(BaseModel):
    """One bin as a crew sees it."""

    device: str
    name: str | None
    latitude: float | None
    longitude: float | None
    fill_pct: float | None
    time: datetime | None
    threshold_pct: float
    rate_pct_per_h: float | None
    predicted_full_at: datetime | None
    predicted_threshold_at: datetime | None
    last_emptied_at: datetime | None
    needs_collection: bool
    reason: str
    battery: float | None
