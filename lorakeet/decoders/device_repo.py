"""Codecs from a local checkout of the TTN Device Repository.

Layout of github.com/TheThingsNetwork/lorawan-devices (only what we read)::

    vendor/<vendor>/<codec>-codec.yaml      uplinkDecoder: {fileName, examples}
    vendor/<vendor>/<fileName>              the JavaScript named by fileName

``<codec>`` is the codec id a device profile points at (``lht65`` for
``lht65-codec.yaml``); ``model`` below accepts it with or without ``-codec``.

This is the one module of :mod:`lorakeet.decoders` that reads files; it still has no
logging, clock or settings. Errors are :class:`DeviceRepoError` (a CodecError).

YAML is read with PyYAML's safe loader, with the YAML 1.1 booleans ``yes/no/on/off``
kept as strings the way the repository's own js-yaml validator reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import CodecError
from .javascript import MAX_SOURCE_CHARS, JsCodec, get_codec

MAX_YAML_BYTES = 1024 * 1024
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class DeviceRepoError(CodecError):
    """The Device Repository checkout lacks the codec or describes it badly."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True, slots=True)
class CodecExample:
    """One ``uplinkDecoder.examples`` entry: input bytes and the expected output."""

    description: str
    f_port: int
    payload: bytes
    data: dict[str, Any] | None
    errors: list[str] | None = None
    warnings: list[str] | None = None
    extra_input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CodecDefinition:
    """A codec YAML with its uplink decoder script read."""

    vendor: str
    codec_id: str
    yaml_path: Path
    script_path: Path
    source: str
    examples: tuple[CodecExample, ...]


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise DeviceRepoError(f"invalid {kind} name {name!r}")
    return name


def codec_yaml_path(repo_path: Path | str, vendor: str, model: str) -> Path:
    """``vendor/<vendor>/<model>-codec.yaml`` inside the checkout."""
    codec_id = _check_name("codec", model.removesuffix("-codec"))
    return Path(repo_path) / "vendor" / _check_name("vendor", vendor) / f"{codec_id}-codec.yaml"


def _read_text(path: Path, limit: int, what: str) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise DeviceRepoError(f"{what} {path} is {size} bytes, limit {limit}")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceRepoError(f"cannot read {what} {path}: {exc}") from exc


def _example(raw: object, where: str) -> CodecExample:
    if not isinstance(raw, dict) or not isinstance(raw.get("input"), dict):
        raise DeviceRepoError(f"{where}: an example needs an input mapping")
    inp: dict[str, Any] = raw["input"]
    raw_out = raw.get("output")
    out: dict[str, Any] = raw_out if isinstance(raw_out, dict) else {}
    raw_bytes = inp.get("bytes")
    f_port = inp.get("fPort")
    if not isinstance(raw_bytes, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in raw_bytes
    ):
        raise DeviceRepoError(f"{where}: input.bytes must be a list of bytes")
    if not isinstance(f_port, int) or isinstance(f_port, bool):
        raise DeviceRepoError(f"{where}: input.fPort must be an integer")
    data = out.get("data")
    return CodecExample(
        description=str(raw.get("description", "")),
        f_port=f_port,
        payload=bytes(raw_bytes),
        data=data if isinstance(data, dict) else None,
        errors=out.get("errors"),
        warnings=out.get("warnings"),
        extra_input={k: v for k, v in inp.items() if k not in ("bytes", "fPort")},
    )


def load_definition(repo_path: Path | str, vendor: str, model: str) -> CodecDefinition:
    """Read a codec YAML, its uplink decoder script and its examples."""
    yaml_path = codec_yaml_path(repo_path, vendor, model)
    try:
        doc = yaml.load(_read_text(yaml_path, MAX_YAML_BYTES, "codec file"), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise DeviceRepoError(f"{yaml_path}: invalid YAML: {exc}") from exc
    decoder = doc.get("uplinkDecoder") if isinstance(doc, dict) else None
    if not isinstance(decoder, dict) or not isinstance(decoder.get("fileName"), str):
        raise DeviceRepoError(f"{yaml_path}: no uplinkDecoder.fileName")
    vendor_dir = yaml_path.parent.resolve()
    script_path = (vendor_dir / decoder["fileName"]).resolve()
    if not script_path.is_relative_to(vendor_dir):
        raise DeviceRepoError(f"{yaml_path}: fileName {decoder['fileName']!r} leaves the vendor folder")
    source = _read_text(script_path, MAX_SOURCE_CHARS, "codec script")
    raw_examples = decoder.get("examples") or []
    if not isinstance(raw_examples, list):
        raise DeviceRepoError(f"{yaml_path}: uplinkDecoder.examples must be a list")
    examples = tuple(_example(e, f"{yaml_path} example {i}") for i, e in enumerate(raw_examples))
    return CodecDefinition(vendor, model.removesuffix("-codec"), yaml_path, script_path, source, examples)


def load_codec(repo_path: Path | str, vendor: str, model: str) -> JsCodec:
    """The compiled uplink decoder of ``vendor/<model>-codec.yaml`` (cached by source)."""
    d = load_definition(repo_path, vendor, model)
    return get_codec(d.source, f"{d.vendor}/{d.codec_id}")


def load_examples(repo_path: Path | str, vendor: str, model: str) -> tuple[CodecExample, ...]:
    """The ``uplinkDecoder.examples`` of a codec."""
    return load_definition(repo_path, vendor, model).examples


def list_codecs(repo_path: Path | str) -> list[tuple[str, str]]:
    """Every ``(vendor, codec_id)`` with a codec YAML in the checkout, sorted."""
    root = Path(repo_path) / "vendor"
    found = [
        (p.parent.name, p.name.removesuffix("-codec.yaml"))
        for p in root.glob("*/*-codec.yaml")
        if _NAME.match(p.parent.name) and _NAME.match(p.name.removesuffix("-codec.yaml"))
    ]
    return sorted(found)
