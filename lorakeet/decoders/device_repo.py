"""Codecs from a local checkout of the TTN Device Repository, found the way its index finds them.

Layout of github.com/TheThingsNetwork/lorawan-devices (only what we read)::

    vendor/<brand>/index.yaml          endDevices: [<model>, ...]
    vendor/<brand>/<model>.yaml        firmwareVersions: [{version, profiles: {<band>: {id, codec}}}]
    vendor/<brand>/<codec>.yaml        uplinkDecoder: {fileName, examples}
    vendor/<brand>/<fileName>          the JavaScript named by fileName

A device is resolved from its brand (vendor id), model, firmware version and band, as The
Things Stack does with an end device's ``version_ids``: the model file's firmware version
gives a profile per band, the profile names a codec id, and ``<codec id>.yaml`` (most ids
end in ``-codec``, some do not) names the script. Band names are compared without case and
punctuation, so TTS's ``EU_863_870`` finds the repository's ``EU863-870``. A firmware
version or band may be left out when every candidate names the same codec.

YAML is read with the YAML 1.2 core schema (as the repository's own js-yaml validator
reads it): only ``true``/``false`` are booleans (``on``, ``yes``, ``no`` stay strings),
``0o17`` is octal, ``0x1F`` hexadecimal, ``00012074`` the decimal 12074, and dates stay
strings.

This is the one module of :mod:`lorakeet.decoders` that reads files; it runs no code (the
codec sandbox does: :func:`lorakeet.gateway_bridge.codecs.repo_codec`), and has no logging,
clock or settings. Errors are :class:`DeviceRepoError` (a CodecError).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import CodecError
from .javascript import MAX_SOURCE_CHARS

MAX_YAML_BYTES = 1024 * 1024
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*\Z")


class DeviceRepoError(CodecError):
    """The Device Repository checkout lacks the model or codec, or describes it badly."""


# ---------------------------------------------------------------- YAML 1.2 core schema


class _CoreLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema's implicit types only."""


_CORE_RESOLVERS: tuple[tuple[str, str, str], ...] = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("tag:yaml.org,2002:merge", r"^<<$", "<"),
)
_CoreLoader.yaml_implicit_resolvers = {}
for _tag, _rx, _first in _CORE_RESOLVERS:
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_rx), [*_first, *([""] if "~" in _first else [])])


def _core_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _core_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    text = str(loader.construct_scalar(node)).lower()  # type: ignore[arg-type]
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


_CoreLoader.add_constructor("tag:yaml.org,2002:int", _core_int)
_CoreLoader.add_constructor("tag:yaml.org,2002:float", _core_float)


def _core_str(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


# An explicit !!timestamp is not part of the core schema: keep its text.
_CoreLoader.add_constructor("tag:yaml.org,2002:timestamp", _core_str)


def load_yaml(text: str, where: str = "YAML") -> Any:
    """Parse YAML text with the YAML 1.2 core schema; DeviceRepoError when it is not valid."""
    try:
        return yaml.load(text, Loader=_CoreLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise DeviceRepoError(f"{where}: invalid YAML: {exc}") from exc


# ---------------------------------------------------------------- files


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


@dataclass(frozen=True, slots=True)
class ModelCodec:
    """Which codec a device model uses, and how it was found."""

    brand: str
    model: str
    firmware_version: str
    band: str
    profile_id: str
    codec_id: str
    definition: CodecDefinition


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DeviceRepoError(f"invalid {kind} name {name!r}")
    return name


def _read_text(path: Path, limit: int, what: str) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise DeviceRepoError(f"{what} {path} is {size} bytes, limit {limit}")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeviceRepoError(f"cannot read {what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceRepoError(f"cannot read {what} {path}: {exc}") from exc


def _read_yaml(path: Path, what: str) -> Any:
    return load_yaml(_read_text(path, MAX_YAML_BYTES, what), str(path))


def _vendor_dir(repo_path: Path | str, brand: str) -> Path:
    return Path(repo_path) / "vendor" / _check_name("brand", brand)


def codec_yaml_path(repo_path: Path | str, vendor: str, codec_id: str) -> Path:
    """``vendor/<vendor>/<codec id>.yaml``, or ``<codec id>-codec.yaml`` when only that exists."""
    folder = _vendor_dir(repo_path, vendor)
    exact = folder / f"{_check_name('codec', codec_id)}.yaml"
    if exact.is_file() or codec_id.endswith("-codec"):
        return exact
    suffixed = folder / f"{codec_id}-codec.yaml"
    return suffixed if suffixed.is_file() else exact


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
    if not isinstance(f_port, int) or isinstance(f_port, bool) or not 0 <= f_port <= 255:
        raise DeviceRepoError(f"{where}: input.fPort must be an integer 0-255")
    data, errors, warnings = out.get("data"), out.get("errors"), out.get("warnings")
    return CodecExample(
        description=str(raw.get("description", "")),
        f_port=f_port,
        payload=bytes(raw_bytes),
        data=data if isinstance(data, dict) else None,
        errors=[str(e) for e in errors] if isinstance(errors, list) else None,
        warnings=[str(w) for w in warnings] if isinstance(warnings, list) else None,
        extra_input={k: v for k, v in inp.items() if k not in ("bytes", "fPort")},
    )


def load_definition(repo_path: Path | str, vendor: str, codec_id: str) -> CodecDefinition:
    """Read a codec YAML (by codec id), its uplink decoder script and its examples."""
    yaml_path = codec_yaml_path(repo_path, vendor, codec_id)
    doc = _read_yaml(yaml_path, "codec file")
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
    return CodecDefinition(vendor, yaml_path.stem, yaml_path, script_path, source, examples)


def load_examples(repo_path: Path | str, vendor: str, codec_id: str) -> tuple[CodecExample, ...]:
    """The ``uplinkDecoder.examples`` of a codec."""
    return load_definition(repo_path, vendor, codec_id).examples


# ---------------------------------------------------------------- index and models


def band_key(band: str) -> str:
    """A band name without case or punctuation: ``EU_863_870`` and ``EU863-870`` -> ``EU863870``."""
    return re.sub(r"[^0-9A-Z]", "", band.upper())


def list_vendors(repo_path: Path | str) -> list[str]:
    """Vendor ids with a folder in the checkout, sorted."""
    root = Path(repo_path) / "vendor"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))


def list_models(repo_path: Path | str, brand: str) -> list[str]:
    """The ``endDevices`` of ``vendor/<brand>/index.yaml`` (empty when the vendor has no index)."""
    path = _vendor_dir(repo_path, brand) / "index.yaml"
    if not path.is_file():
        return []
    doc = _read_yaml(path, "vendor index")
    devices = doc.get("endDevices") if isinstance(doc, dict) else None
    if not isinstance(devices, list):
        raise DeviceRepoError(f"{path}: endDevices must be a list")
    return [str(d) for d in devices if isinstance(d, str) and _NAME.match(d)]


def _firmware_entries(doc: object, where: Path) -> list[dict[str, Any]]:
    versions = doc.get("firmwareVersions") if isinstance(doc, dict) else None
    if not isinstance(versions, list) or not versions:
        raise DeviceRepoError(f"{where}: no firmwareVersions")
    return [v for v in versions if isinstance(v, dict)]


def _version_text(value: object) -> str:
    # An unquoted 1.0 is a float under the core schema; its text is what the author wrote
    # in all but trailing-zero cases ('1.10' must be quoted, as the repository asks).
    return str(value) if not isinstance(value, bool) else ""


def _candidates(
    entries: list[dict[str, Any]], firmware_version: str | None, band: str | None
) -> list[tuple[str, str, str, str]]:
    """(firmware version, band, profile id, codec id) for every matching profile."""
    out = []
    want_band = band_key(band) if band else None
    for entry in entries:
        version = _version_text(entry.get("version"))
        if firmware_version is not None and version != firmware_version:
            continue
        profiles = entry.get("profiles")
        if not isinstance(profiles, dict):
            continue
        for band_name, profile in profiles.items():
            if want_band is not None and band_key(str(band_name)) != want_band:
                continue
            if isinstance(profile, dict):
                codec = profile.get("codec")
                out.append((version, str(band_name), str(profile.get("id", "")), codec if codec else ""))
    return out


def resolve(
    repo_path: Path | str,
    brand: str,
    model: str,
    firmware_version: str | None = None,
    band: str | None = None,
) -> ModelCodec:
    """The codec of a device model, found through ``vendor/<brand>/<model>.yaml``.

    ``firmware_version`` and ``band`` narrow the choice; either may be left out when every
    profile that is left names the same codec. DeviceRepoError says what is missing or
    ambiguous, with the versions and bands there are.
    """
    model_path = _vendor_dir(repo_path, brand) / f"{_check_name('model', model)}.yaml"
    entries = _firmware_entries(_read_yaml(model_path, "device model"), model_path)
    versions = [_version_text(e.get("version")) for e in entries]
    if firmware_version is not None and firmware_version not in versions:
        raise DeviceRepoError(
            f"{brand}/{model} has no firmware version {firmware_version!r} (it has {', '.join(versions)})"
        )
    found = _candidates(entries, firmware_version, band)
    if not found:
        bands = sorted({b for _, b, _, _ in _candidates(entries, firmware_version, None)})
        raise DeviceRepoError(
            f"{brand}/{model}"
            + (f" firmware {firmware_version}" if firmware_version else "")
            + f" has no profile for band {band!r} (it has {', '.join(bands) or 'none'})"
        )
    with_codec = [c for c in found if c[3]]
    if not with_codec:
        raise DeviceRepoError(f"{brand}/{model}: its profile names no codec (the device has no decoder)")
    codecs = sorted({c[3] for c in with_codec})
    if len(codecs) > 1:
        choices = "; ".join(f"{v} {b}: {c}" for v, b, _, c in with_codec)
        raise DeviceRepoError(
            f"{brand}/{model} uses different codecs by firmware version and band ({choices}):"
            " give the firmware version and band"
        )
    versions_used = {c[0] for c in with_codec}
    bands_used = {c[1] for c in with_codec}
    profile_ids = {c[2] for c in with_codec}
    codec_id = codecs[0]
    return ModelCodec(
        brand=brand,
        model=model,
        firmware_version=versions_used.pop() if len(versions_used) == 1 else "",
        band=bands_used.pop() if len(bands_used) == 1 else "",
        profile_id=profile_ids.pop() if len(profile_ids) == 1 else "",
        codec_id=codec_id,
        definition=load_definition(repo_path, brand, _check_name("codec", codec_id)),
    )


def list_codecs(repo_path: Path | str) -> list[tuple[str, str]]:
    """Every ``(vendor, codec_id)`` with a codec YAML (one with an ``uplinkDecoder``), sorted."""
    found = []
    for vendor in list_vendors(repo_path):
        for p in (Path(repo_path) / "vendor" / vendor).glob("*.yaml"):
            if not _NAME.match(p.stem) or p.stat().st_size > MAX_YAML_BYTES:
                continue
            try:
                doc = load_yaml(p.read_text(encoding="utf-8"), str(p))
            except (DeviceRepoError, OSError, UnicodeDecodeError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("uplinkDecoder"), dict):
                found.append((vendor, p.stem))
    return sorted(found)
