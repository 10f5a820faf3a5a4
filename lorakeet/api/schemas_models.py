"""Request and response models of device models and field maps (``/v1/models``, device fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lorakeet.decoders.models import check_unit
from lorakeet.ids import ID_PATTERN

Kind = Literal["bin", "boat", "streetlight", "other"]
RepoId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN),
]


def _dotted(path: str) -> str:
    if path.startswith(".") or path.endswith(".") or ".." in path:
        raise ValueError(f"field path {path!r} is not a dotted path of keys")
    return path


FieldPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(_dotted),
]


class FieldRuleBody(BaseModel):
    """One field rule: the source field becomes ``quantity``; ``unit`` is the unit the source uses."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    quantity: str = Field(min_length=1, max_length=70, examples=["distance"])
    unit: str | None = Field(None, max_length=20, examples=["mm"])
    scale: float = Field(1.0, description="multiplies the source number first", examples=[1.0])

    @model_validator(mode="after")
    def _known(self) -> FieldRuleBody:
        if self.scale == 0:
            raise ValueError("scale cannot be 0")
        check_unit(self.quantity, self.unit)  # ValueError: unknown quantity, unit that does not convert
        return self


FieldMapBody = Annotated[
    dict[FieldPath, FieldRuleBody | None],
    Field(
        max_length=500,
        description="source path (nested keys joined with '.') -> rule; null removes the model's rule",
        examples=[{"Distance": {"quantity": "distance", "unit": "mm"}, "Bat": None}],
    ),
]


class ModelMapBody(BaseModel):
    """Your map of a device model: the parts you set replace the shipped model's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: (
        Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] | None
    ) = None
    kind: Kind | None = None
    decoder: (
        Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")] | None
    ) = Field(None, description="a built-in decoder, 'network' or js:<codec id>")
    fields: FieldMapBody = Field(default_factory=dict)


class ModelPublic(BaseModel):
    """A device model as a viewer's devices see it: the shipped file with users' maps applied."""

    brand_id: str = Field(examples=["dragino"])
    model_id: str = Field(examples=["ldds75"])
    name: str = Field(examples=["LDDS75"])
    kind: str = Field(examples=["bin"])
    decoder: str = Field(examples=["dragino_ldds75"])
    aliases: list[str] = Field(default_factory=list)
    field_map: dict[str, FieldRuleBody] = Field(default_factory=dict)
    layers: list[Literal["shipped", "shared", "own"]] = Field(
        default_factory=list, description="where the map comes from, later ones winning"
    )


class ModelList(BaseModel):
    """Device models."""

    data: list[ModelPublic]
    count: int


class ModelMapPublic(BaseModel):
    """A stored map of a model (``owner_id`` null: shared with every account)."""

    id: int
    owner_id: int | None
    brand_id: str
    model_id: str
    name: str | None = None
    kind: str | None = None
    decoder: str | None = None
    fields: dict[str, FieldRuleBody | None] = Field(default_factory=dict)
    updated_at: datetime | None = None
