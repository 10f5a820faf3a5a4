"""Request and response models of the API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lorakeet.decoders import Value


class DevicePublic(BaseModel):
    """A device as the API shows it."""

    id: str = Field(examples=["bins-town.bin-001"], description="application_id.device_id")
    application_id: str
    device_id: str
    name: str | None = None
    kind: str = Field(examples=["bin"])
    decoder: str | None = Field(None, examples=["cayenne_lpp"])
    visibility: str = "private"


class DeviceList(BaseModel):
    """A page of devices."""

    data: list[DevicePublic]
    count: int


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
