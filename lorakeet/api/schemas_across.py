"""Response models of the makers' queries across devices."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SeriesPoint(BaseModel):
    """A device's aggregated value in one window (the window's start time)."""

    time: datetime
    value: float


class DeviceSeries(BaseModel):
    """One device's windows."""

    device: str
    name: str | None
    kind: str
    latitude: float | None
    longitude: float | None
    points: list[SeriesPoint]


class AcrossPublic(BaseModel):
    """One quantity for many devices."""

    quantity: str
    unit: str = Field(description="the quantity's unit ('' when it has none)")
    start: datetime
    end: datetime
    every: str
    agg: str
    devices: list[DeviceSeries]


class WindowStats(BaseModel):
    """Statistics across devices in one window."""

    time: datetime
    devices: int = Field(description="how many devices reported in the window")
    mean: float
    min: float
    max: float
    percentiles: dict[str, float] = Field(description="p10, p50, ...: linear interpolation between ranks")


class StatsPublic(BaseModel):
    """Per-window statistics of one quantity across the selected devices."""

    quantity: str
    unit: str
    start: datetime
    end: datetime
    every: str
    agg: str
    devices: int = Field(description="devices selected")
    windows: list[WindowStats]
