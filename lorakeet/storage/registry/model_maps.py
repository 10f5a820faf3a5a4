"""Users' maps of device models (kind, decoder, field rules) over the shipped model files.

Precedence, per field path: a device's own rules > its owner's map of the model > the shared
map (no owner, set by admins) > the shipped file (``lorakeet/decoders/models``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from lorakeet.decoders.models import Model, ModelFileError, UserMap, effective_model

from .database import Database
from .entities import ModelMap
from .tables import ModelMapRow

log = logging.getLogger(__name__)


def _owner_is(owner_id: int | None) -> Any:
    return ModelMapRow.owner_id.is_(None) if owner_id is None else ModelMapRow.owner_id == owner_id


def user_map(row: ModelMapRow | ModelMap | None) -> UserMap | None:
    """A stored map as the layer ``effective_model`` takes."""
    if row is None:
        return None
    return UserMap(row.name, row.kind, row.decoder, dict(row.fields or {}))


def model_in_session(
    s: Session, brand_id: str | None, model_id: str | None, owner_id: int | None
) -> Model | None:
    """The effective model for a device of ``owner_id`` (shared and owner's maps applied)."""
    if not brand_id or not model_id:
        return None
    brand_id, model_id = brand_id.lower(), model_id.lower()
    rows = list(
        s.scalars(
            select(ModelMapRow).where(
                ModelMapRow.brand_id == brand_id,
                ModelMapRow.model_id == model_id,
                or_(ModelMapRow.owner_id.is_(None), ModelMapRow.owner_id == owner_id)
                if owner_id is not None
                else ModelMapRow.owner_id.is_(None),
            )
        )
    )
    shared = next((r for r in rows if r.owner_id is None), None)
    own = next((r for r in rows if r.owner_id is not None), None)
    try:
        return effective_model(brand_id, model_id, user_map(shared), user_map(own))
    except ModelFileError as exc:  # written around the API's checks: the shipped model stands
        log.warning("ignoring a stored model map: %s", exc)
        return effective_model(brand_id, model_id)


class ModelMapRepository(Database):
    """Model maps: the shared ones and each account's own."""

    def list_model_maps(self, owner_id: int | None = None, *, everyone: bool = False) -> list[ModelMap]:
        """Every map (``everyone``), or the shared ones plus ``owner_id``'s, by brand and model."""
        q = select(ModelMapRow).order_by(ModelMapRow.brand_id, ModelMapRow.model_id, ModelMapRow.id)
        if not everyone:
            q = q.where(_owner_is(None) if owner_id is None else or_(_owner_is(None), _owner_is(owner_id)))
        with self.session() as s:
            return [ModelMap.from_row(r) for r in s.scalars(q)]

    def get_model_map(self, owner_id: int | None, brand_id: str, model_id: str) -> ModelMap | None:
        """The shared (``owner_id`` None) or an account's map of one model."""
        with self.session() as s:
            row = s.scalar(
                select(ModelMapRow).where(
                    _owner_is(owner_id),
                    ModelMapRow.brand_id == brand_id.lower(),
                    ModelMapRow.model_id == model_id.lower(),
                )
            )
            return ModelMap.from_row(row) if row is not None else None

    def put_model_map(
        self,
        owner_id: int | None,
        brand_id: str,
        model_id: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        decoder: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> ModelMap:
        """Create or replace a map (validate ``fields`` first: see ``rules_from_json``)."""
        brand_id, model_id = brand_id.lower(), model_id.lower()
        with self.session() as s:
            row = s.scalar(
                select(ModelMapRow).where(
                    _owner_is(owner_id), ModelMapRow.brand_id == brand_id, ModelMapRow.model_id == model_id
                )
            )
            if row is None:
                row = ModelMapRow(owner_id=owner_id, brand_id=brand_id, model_id=model_id)
                s.add(row)
            row.name, row.kind, row.decoder, row.fields = name, kind, decoder, dict(fields or {})
            s.commit()
            self.cache.clear()
            return ModelMap.from_row(row)

    def delete_model_map(self, owner_id: int | None, brand_id: str, model_id: str) -> bool:
        """Remove a map; False when there was none."""
        with self.session() as s:
            n = s.execute(
                delete(ModelMapRow).where(
                    _owner_is(owner_id),
                    ModelMapRow.brand_id == brand_id.lower(),
                    ModelMapRow.model_id == model_id.lower(),
                )
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            self.cache.clear()
            return bool(n)

    def effective_model(
        self, brand_id: str | None, model_id: str | None, owner_id: int | None
    ) -> Model | None:
        """The model as a device of ``owner_id`` sees it (shipped, shared map, owner's map)."""
        with self.session() as s:
            return model_in_session(s, brand_id, model_id, owner_id)
