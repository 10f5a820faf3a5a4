"""Request and response models of the registry routes: accounts, keys, devices, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from lorakeet.ids import DEV_EUI_PATTERN, ID_PATTERN

from .schemas_models import FieldMapBody, FieldRuleBody, RepoId

Kind = Literal["bin", "boat", "streetlight", "other"]
Visibility = Literal["public", "private"]
Scope = Literal["read", "write", "admin"]

# No control characters anywhere (PostgreSQL refuses NUL in text).
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
NetworkId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
Email = Annotated[
    str,
    StringConstraints(
        max_length=320, pattern=r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,}$"
    ),
]
DevEui = Annotated[str, StringConstraints(pattern=DEV_EUI_PATTERN)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.:-]+$")]
Decoder = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
MetaKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# Scalars for most metadata (bin_depth_m, thresholds), small JSON structures for shapes
# such as a boat's geofence polygon or per-quantity thresholds.
MetaValue = (
    float | bool | Text | Annotated[list[JsonValue], Field(max_length=1000)] | dict[MetaKey, JsonValue]
)
Metadata = Annotated[dict[MetaKey, MetaValue], Field(max_length=50)]

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class Location(BaseModel):
    """A static WGS84 location."""

    model_config = _STRICT

    latitude: float = Field(ge=-90, le=90, examples=[52.0907])
    longitude: float = Field(ge=-180, le=180, examples=[5.1214])


# -- accounts and keys -----------------------------------------------------------------------


class AccountCreate(BaseModel):
    """Sign-up."""

    model_config = _STRICT

    name: Text = Field(examples=["Utrecht Makers"])
    email: Email = Field(examples=["makers@example.org"])


class AccountUpdate(BaseModel):
    """What an admin may change on an account."""

    model_config = _STRICT

    name: Text | None = None
    ttn_application_ids: Annotated[list[NetworkId], Field(max_length=100)] | None = Field(
        None, examples=[["bins-town"]], description="TTN applications the account has proved it controls"
    )
    is_admin: bool | None = None


class AccountPublic(BaseModel):
    """An account as its holder and admins see it."""

    id: int = Field(examples=[1])
    name: str = Field(examples=["Utrecht Makers"])
    email: str = Field(examples=["makers@example.org"])
    ttn_application_ids: list[str] = Field(examples=[["bins-town"]])
    is_admin: bool = False
    created_at: datetime


class AccountList(BaseModel):
    """A page of accounts."""

    data: list[AccountPublic]
    count: int


class KeyCreate(BaseModel):
    """A new named, scoped key."""

    model_config = _STRICT

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")] = (
        Field(examples=["grafana"])
    )
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=3)] = Field(["read"], examples=[["read"]])


class KeyPublic(BaseModel):
    """A key without its secret: the prefix is for recognising it."""

    id: int = Field(examples=[3])
    account_id: int = Field(examples=[1])
    name: str = Field(examples=["grafana"])
    prefix: str = Field(examples=["lk_Xc9a2"])
    scopes: list[str] = Field(examples=[["read"]])
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class KeyCreated(KeyPublic):
    """A new key: ``key`` is shown this once and never again."""

    key: str = Field(examples=["lk_Xc9a2kq3...redacted"])


class KeyList(BaseModel):
    """An account's keys."""

    data: list[KeyPublic]
    count: int


class SignupResponse(BaseModel):
    """A new account and its first key (shown once)."""

    account: AccountPublic
    key: str = Field(examples=["lk_Xc9a2kq3...redacted"])
    key_info: KeyPublic


class MePublic(BaseModel):
    """The caller's account and the key in use."""

    account: AccountPublic
    key_id: int | None
    scopes: list[str] = Field(examples=[["read", "write"]])


# -- devices ---------------------------------------------------------------------------------


class DevicePublic(BaseModel):
    """A device as the API shows it (private locations coarsened for non-owners)."""

    id: str = Field(examples=["bins-town.bin-001"], description="application_id.device_id")
    application_id: str
    device_id: str
    dev_eui: str | None = None
    name: str | None = None
    kind: str = Field(examples=["bin"])
    decoder: str | None = Field(None, examples=["cayenne_lpp"])
    visibility: str = "private"
    licence: str | None = Field(None, examples=["CC-BY-4.0"])
    location: Location | None = None
    metadata: dict[str, MetaValue | None] = Field(
        default_factory=dict, examples=[{"bin_depth_m": 1.2, "thresholds": {"fill_pct": 70}}]
    )
    tags: list[str] = Field(default_factory=list, examples=[["centre"]])
    owner_id: int | None = None
    source: str = Field("registered", examples=["registered", "auto"])
    pending: bool = Field(
        False, description="registered in an application its owner has not proved: its data is not shown"
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    brand_id: str | None = Field(None, examples=["dragino"], description="Device Repository brand")
    model_id: str | None = Field(None, examples=["ldds75"], description="Device Repository model")
    hardware_version: str | None = None
    firmware_version: str | None = Field(None, examples=["1.1.4"])
    band_id: str | None = Field(None, examples=["EU_863_870"])
    field_map: dict[str, FieldRuleBody | None] = Field(
        default_factory=dict, description="the device's own field rules, over its model's"
    )


class DeviceList(BaseModel):
    """A page of devices; ``total`` counts all matches."""

    data: list[DevicePublic]
    count: int
    total: int | None = None


class DeviceCreate(BaseModel):
    """Register a device."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "application_id": "bins-town",
                    "device_id": "bin-001",
                    "kind": "bin",
                    "decoder": "cayenne_lpp",
                    "metadata": {"bin_depth_m": 1.2},
                    "location": {"latitude": 52.0907, "longitude": 5.1214},
                    "visibility": "public",
                    "licence": "CC-BY-4.0",
                    "tags": ["centre"],
                }
            ]
        },
    )

    application_id: NetworkId
    device_id: NetworkId
    dev_eui: DevEui | None = None
    name: Text | None = None
    kind: Kind = "other"
    decoder: Decoder | None = Field(None, description="a built-in decoder name or js:<codec id>")
    metadata: Metadata = Field(default_factory=dict)
    location: Location | None = None
    visibility: Visibility = "private"
    licence: Text | None = Field(None, description="licence of the data when public, e.g. CC-BY-4.0")
    tags: Annotated[list[Tag], Field(max_length=20)] = Field(default_factory=list)
    brand_id: RepoId | None = Field(None, description="Device Repository brand, e.g. dragino")
    model_id: RepoId | None = Field(None, description="Device Repository model, e.g. ldds75")
    field_map: FieldMapBody = Field(default_factory=dict)


class DeviceUpdate(BaseModel):
    """Change a device; absent fields stay as they are, ``null`` clears."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"name": "Bin at the station", "visibility": "public"}]},
    )

    dev_eui: DevEui | None = None
    name: Text | None = None
    kind: Kind | None = None
    decoder: Decoder | None = None
    metadata: Metadata | None = None
    location: Location | None = None
    visibility: Visibility | None = None
    licence: Text | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    owner_id: int | None = Field(None, ge=1, le=2**31 - 1, description="admins only: assign an owner")
    brand_id: RepoId | None = None
    model_id: RepoId | None = None
    field_map: FieldMapBody | None = None


# -- audit -----------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    """One registry change."""

    id: int
    time: datetime
    account_id: int | None = Field(None, examples=[1])
    action: str = Field(examples=["device.update"])
    target: str = Field(examples=["device:bins-town.bin-001"])
    detail: dict[str, object] = Field(default_factory=dict, examples=[{"fields": ["name"]}])


class AuditList(BaseModel):
    """A page of audit entries, newest first."""

    data: list[AuditEntry]
    count: int
