"""Loads the TTN Device Repository examples copied into tests/decoders/vectors/."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"


@dataclass(frozen=True)
class Example:
    """One upstream example: bytes in, vendor fields (or errors) out."""

    codec: str
    description: str
    f_port: int
    payload: bytes
    expected: dict[str, Any] | None
    errors: list[str] | None
    warnings: list[str] | None
    extra_input: dict[str, Any] | None

    @property
    def id(self) -> str:
        return f"{self.codec}:{self.description}"


def load(codec_file: str) -> list[Example]:
    """All examples of one codec file (e.g. ``dragino__ldds75-codec.json``)."""
    data = json.loads((VECTORS / codec_file).read_text())
    return [
        Example(
            codec=codec_file.removesuffix("-codec.json"),
            description=e["description"],
            f_port=e["fPort"],
            payload=bytes.fromhex(e["bytes_hex"]),
            expected=e["expected"],
            errors=e["errors"],
            warnings=e["warnings"],
            extra_input=e.get("extra_input"),
        )
        for e in data["examples"]
    ]


def close(a: float, b: float) -> bool:
    """Float comparison with the tolerance the vectors' README asks for."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
