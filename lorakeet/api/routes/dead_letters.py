"""Dead letters (admins): what the readings store refused for good, to list, replay or drop.

A replay writes the dead letters to the store again, for example after a retention policy
was widened or a conflicting field renamed: those the store takes are removed (each point
stored once), those it refuses again stay with the new reason. The same operations are
``lorakeet dead-letters list|replay|drop``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, model_validator

from lorakeet.gateway_bridge.durability import replay_dead_letters
from lorakeet.storage.dead_letters import DeadLetters

from ..auth import AdminDep
from ..deps import ServicesDep
from ..errors import problem_responses

router = APIRouter(prefix="/v1/admin/dead-letters", tags=["dead letters"])


class DeadLetterPublic(BaseModel):
    """One dead letter (its body stays in the table)."""

    id: int
    created_at: datetime
    kind: str = Field(description="uplink, or rejected (a body kept for the rejected table)")
    application_id: str
    device_id: str
    f_cnt: int | None
    time_ns: int = Field(description="the uplink's reception time (ns since the epoch)")
    reason: str = Field(description="what the store answered")
    attempts: int


class DeadLetterList(BaseModel):
    """A page of dead letters, oldest first."""

    data: list[DeadLetterPublic]
    count: int
    depth: int = Field(description="dead letters waiting in all")


class DeadLetterSelection(BaseModel):
    """Which dead letters: ``ids``, or ``all``."""

    ids: list[int] | None = Field(None, max_length=10_000)
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> DeadLetterSelection:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids (a list of dead-letter ids) or all: true")
        return self


class ReplayOutcome(BaseModel):
    """What a replay did."""

    stored: int
    refused: int = Field(description="refused again (kept, with the store's new reason)")
    depth: int


class DropOutcome(BaseModel):
    """What a drop did."""

    dropped: int
    depth: int


@router.get("", summary="List dead letters", responses=problem_responses(401, 403))
def list_dead_letters(
    services: ServicesDep,
    viewer: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the last id of the previous page")] = 0,
    application_id: str | None = None,
) -> DeadLetterList:
    """Dead letters oldest first, with the store's reason for each."""
    dead = DeadLetters(services.registry)
    rows = dead.page(limit, after, application_id)
    data = [DeadLetterPublic.model_validate(r, from_attributes=True) for r in rows]
    return DeadLetterList(data=data, count=len(data), depth=dead.count())


@router.post("/replay", summary="Replay dead letters", responses=problem_responses(401, 403, 422, 503))
def replay(services: ServicesDep, viewer: AdminDep, body: DeadLetterSelection) -> ReplayOutcome:
    """Write the selected dead letters to the store again; those it takes are removed."""
    dead = DeadLetters(services.registry)
    result = replay_dead_letters(services.store, dead, None if body.all else body.ids)
    services.registry.audit(
        viewer.account_id,
        "dead_letters.replay",
        "dead-letters",
        {"stored": result.stored, "refused": result.refused},
    )
    return ReplayOutcome(stored=result.stored, refused=result.refused, depth=dead.count())


@router.post("/drop", summary="Drop dead letters", responses=problem_responses(401, 403, 422))
def drop(services: ServicesDep, viewer: AdminDep, body: DeadLetterSelection) -> DropOutcome:
    """Forget the selected dead letters for good."""
    dead = DeadLetters(services.registry)
    if body.all:
        n = dead.remove_all()
    elif body.ids:
        n = dead.remove(body.ids)
    else:
        raise HTTPException(status_code=422, detail="no ids given")
    services.registry.audit(viewer.account_id, "dead_letters.drop", "dead-letters", {"dropped": n})
    return DropOutcome(dropped=n, depth=dead.count())
