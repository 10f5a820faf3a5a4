"""Device models as data: one TOML file per vendor maps a Device Repository model to a kind,
a decoder and a field map.

A model is recognised by its Device Repository brand id (``dragino``) and model id
(``ldds75``), which The Things Stack sends in ``uplink_message.version_ids``. Each vendor
file (``<brand>.toml`` in this directory) has ``brand`` and a ``[models.<model id>]``
table per model::

    brand = "dragino"

    [models.ldds75]
    name = "LDDS75"
    kind = "bin"                    # bin, streetlight, boat or other
    decoder = "dragino_ldds75"      # a registered decoder, or "network"
    aliases = ["ldds75-lb"]         # other model ids with the same codec (optional)
    profiles = ["LDDS75"]           # ChirpStack device-profile names (optional)

    [models.ldds75.fields]
    Bat = { quantity = "battery_voltage", unit = "V" }   # where the unit comes from
    Distance = { quantity = "distance", unit = "mm" }

A field rule names the source path (nested keys joined with "."), the vocabulary
quantity (optionally with a channel: ``temperature_1``), the unit the source uses and an
optional ``scale``. Files are validated when first loaded: an unknown quantity, a unit
that does not convert exactly into the quantity's unit, or an unknown decoder raises
:class:`ModelFileError` naming the file and the model.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lorakeet.ids import ID_PATTERN

from ..quantities import split_key
from ..types import FieldMap, FieldRule
from ..units import UNITS, base_dimension, convert

__all__ = ["FieldRule", "Model", "ModelFileError", "catalog", "load_catalog", "merge_maps"]

MODELS_DIR = Path(__file__).parent
Kind = Literal["bin", "streetlight", "boat", "other"]
NETWORK = "network"

_PATH = re.compile(r"^[^\x00-\x1f\x7f]{1,200}\Z")
_ID = re.compile(ID_PATTERN)


class ModelFileError(ValueError):
    """A vendor file (or a user's field map) is not valid; says which file, model and field."""


def check_unit(quantity: str, unit: str | None) -> None:
    """Raise ValueError unless ``quantity`` is a reading key and ``unit`` converts into its unit.

    ``None`` means the source already uses the vocabulary's unit. Conversions are the ones the
    decoded-object reader applies (:func:`lorakeet.decoders.units.convert`).
    """
    try:
        q, _ = split_key(quantity)
    except KeyError:
        raise ValueError(f"unknown quantity {quantity!r}") from None
    if unit is None or unit == q.unit or convert(1.0, unit, q.unit) is not None:
        return
    dim = base_dimension(q.unit)
    accepted = sorted({u.symbol for u in UNITS.values() if dim is not None and u.dimension == dim} | {q.unit})
    listed = ", ".join(repr(u) for u in accepted if u) or "none (the quantity has no unit)"
    raise ValueError(f"unit {unit!r} does not convert into {q.name} ({q.unit!r}); accepted: {listed}")


class RuleSpec(BaseModel):
    """One field rule as written in a vendor file or sent to the API."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    quantity: str = Field(min_length=1, max_length=70, examples=["distance"])
    unit: str | None = Field(None, max_length=20, examples=["mm"])
    scale: float = Field(1.0, examples=[1.0])

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("scale cannot be 0")
        return v

    def rule(self) -> FieldRule:
        """The rule the reader applies; raises ValueError for a bad quantity or unit."""
        check_unit(self.quantity, self.unit)
        return FieldRule(self.quantity, self.unit, self.scale)


class ModelSpec(BaseModel):
    """One ``[models.<id>]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    kind: Kind = "other"
    decoder: str = NETWORK
    aliases: list[str] = []
    profiles: list[str] = []
    fields: dict[str, RuleSpec] = {}


class VendorFile(BaseModel):
    """One vendor file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    brand: str
    name: str = ""
    models: dict[str, ModelSpec]


@dataclass(frozen=True, slots=True)
class Model:
    """A recognised device model: what a device of it is, how it is decoded, its field map."""

    brand_id: str
    model_id: str
    name: str
    kind: str
    decoder: str
    field_map: Mapping[str, FieldRule]
    aliases: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    source: str = "shipped"


def check_field_map(fields: Mapping[str, Any], where: str) -> dict[str, FieldRule]:
    """Validate ``{path: {quantity, unit, scale}}``; ModelFileError names ``where`` and the field."""
    out: dict[str, FieldRule] = {}
    for path, raw in fields.items():
        if not _PATH.match(path) or path.startswith(".") or path.endswith(".") or ".." in path:
            raise ModelFileError(f"{where}: field path {path!r} is not a dotted path of keys")
        try:
            spec = raw if isinstance(raw, RuleSpec) else RuleSpec.model_validate(raw)
            out[path] = spec.rule()
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ModelFileError(f"{where}: field {path!r}: {loc}: {first['msg']}") from None
        except ValueError as exc:
            raise ModelFileError(f"{where}: field {path!r}: {exc}") from None
    return out


def check_decoder(decoder: str, where: str, known: Iterable[str]) -> None:
    """A shipped model names a registered decoder or ``network``."""
    if decoder != NETWORK and decoder not in set(known):
        raise ModelFileError(f"{where}: unknown decoder {decoder!r}")


def _load_file(path: Path, known_decoders: Iterable[str]) -> list[Model]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        vendor = VendorFile.model_validate(data)
    except tomllib.TOMLDecodeError as exc:
        raise ModelFileError(f"{path.name}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ModelFileError(f"{path.name}: {loc}: {first['msg']}") from None
    if not _ID.fullmatch(vendor.brand):
        raise ModelFileError(f"{path.name}: brand {vendor.brand!r} is not a Device Repository id")
    known = set(known_decoders)
    out = []
    for model_id, spec in vendor.models.items():
        where = f"{path.name}: model {model_id!r}"
        for mid in (model_id, *spec.aliases):
            if not _ID.fullmatch(mid):
                raise ModelFileError(f"{where}: {mid!r} is not a Device Repository model id")
        check_decoder(spec.decoder, where, known)
        out.append(
            Model(
                vendor.brand,
                model_id,
                spec.name,
                spec.kind,
                spec.decoder,
                check_field_map(spec.fields, where),
                tuple(spec.aliases),
                tuple(spec.profiles),
            )
        )
    return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


@dataclass
class Catalog:
    """Every shipped model, by (brand id, model id) and by ChirpStack profile name."""

    models: dict[tuple[str, str], Model] = field(default_factory=dict)
    by_profile: dict[str, Model] = field(default_factory=dict)

    def add(self, m: Model, where: str) -> None:
        """Index one model under its id and aliases; a duplicate is a ModelFileError."""
        for mid in (m.model_id, *m.aliases):
            if (m.brand_id, mid) in self.models:
                raise ModelFileError(f"{where}: model {m.brand_id}/{mid} is defined twice")
            self.models[(m.brand_id, mid)] = m
        for name in (*m.profiles, f"{m.brand_id} {m.model_id}", f"{m.brand_id}-{m.model_id}", m.name):
            self.by_profile.setdefault(_norm(name), m)
        self.by_profile.setdefault(_norm(f"{m.brand_id} {m.name}"), m)

    def get(self, brand_id: str | None, model_id: str | None) -> Model | None:
        """The model, or None when either id is missing or unknown."""
        if not brand_id or not model_id:
            return None
        return self.models.get((brand_id.lower(), model_id.lower()))

    def match_profile(self, profile_name: str | None) -> Model | None:
        """The model a ChirpStack device-profile name names (``Dragino LDDS75``), or None."""
        if not profile_name:
            return None
        return self.by_profile.get(_norm(profile_name))

    def all(self) -> list[Model]:
        """Every model once, by brand and model id."""
        seen = {id(m): m for m in self.models.values()}
        return sorted(seen.values(), key=lambda m: (m.brand_id, m.model_id))


def load_catalog(directory: Path = MODELS_DIR, known_decoders: Iterable[str] | None = None) -> Catalog:
    """Load and validate every ``*.toml`` in ``directory``; raises ModelFileError."""
    if known_decoders is None:
        from ..registry import DECODERS

        known_decoders = DECODERS
    known = set(known_decoders)
    cat = Catalog()
    for path in sorted(directory.glob("*.toml")):
        for m in _load_file(path, known):
            cat.add(m, path.name)
    return cat


@functools.cache
def catalog() -> Catalog:
    """The shipped catalog, loaded once per process."""
    return load_catalog()


def merge_maps(*layers: Mapping[str, FieldRule | None] | None) -> dict[str, FieldRule]:
    """Later layers win per path; a path mapped to None removes the rule of earlier layers."""
    out: dict[str, FieldRule] = {}
    for layer in layers:
        if not layer:
            continue
        for path, rule in layer.items():
            if rule is None:
                out.pop(path, None)
            else:
                out[path] = rule
    return out


def rules_from_json(fields: Mapping[str, Any] | None, where: str) -> dict[str, FieldRule | None]:
    """A stored user map (``{path: {quantity, unit, scale} | null}``), validated."""
    if not fields:
        return {}
    removed = {p: None for p, v in fields.items() if v is None}
    kept = check_field_map({p: v for p, v in fields.items() if v is not None}, where)
    return {**kept, **removed}


def rules_to_json(rules: FieldMap) -> dict[str, dict[str, Any]]:
    """A field map as JSON: ``{path: {quantity, unit, scale}}``."""
    return {p: {"quantity": r.quantity, "unit": r.unit, "scale": r.scale} for p, r in rules.items()}


@dataclass(frozen=True, slots=True)
class UserMap:
    """A user's map of a model over the shipped one: each part, when set, replaces the shipped."""

    name: str | None = None
    kind: str | None = None
    decoder: str | None = None
    fields: Mapping[str, Any] | None = None  # {path: {quantity, unit, scale} | None}


def effective_model(
    brand_id: str | None, model_id: str | None, *layers: UserMap | None, shipped: Catalog | None = None
) -> Model | None:
    """The shipped model with users' maps laid over it, later layers winning; None if unknown.

    A user map may also describe a model that ships without one.
    """
    if not brand_id or not model_id:
        return None
    brand_id, model_id = brand_id.lower(), model_id.lower()
    base = (shipped or catalog()).get(brand_id, model_id)
    given = [u for u in layers if u is not None]
    if not given:
        return base
    name, kind = (base.name, base.kind) if base else (model_id, "other")
    decoder = base.decoder if base else NETWORK
    fields: Mapping[str, FieldRule] = base.field_map if base else {}
    for u in given:
        name, kind, decoder = u.name or name, u.kind or kind, u.decoder or decoder
        fields = merge_maps(fields, rules_from_json(u.fields, f"map of {brand_id}/{model_id}"))
    return Model(brand_id, model_id, name, kind, decoder, fields, source="user")
