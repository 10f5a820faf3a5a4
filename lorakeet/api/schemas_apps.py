"""Request and response models of the application routes: ownership, claims, grants."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AccountIdField = Annotated[int, Field(ge=1, le=2**31 - 1)]
Role = Literal["owner", "granted", "claimant", "admin"]


class ApplicationPublic(BaseModel):
    """A network application as the caller may see it."""

    application_id: str = Field(examples=["bins-town"])
    owner_id: int | None = Field(None, description="the account that proved control; null: nobody yet")
    proof: str | None = Field(None, examples=["ingest", "tts_key", "admin", "migrated"])
    proved_at: datetime | None = None
    role: Role = Field(description="what the caller is to the application")
    pending: bool = Field(False, description="the caller's claim is not proved yet: its devices show no data")
    grants: list[int] = Field(default_factory=list, description="accounts let in (owner and admins see them)")


class ApplicationList(BaseModel):
    """Applications the caller owns, was granted or claims (admins: every owned one)."""

    data: list[ApplicationPublic]
    count: int


class ClaimRequest(BaseModel):
    """Claim an application, proving it at once with an API key of it from The Things Stack."""

    model_config = ConfigDict(extra="forbid")

    tts_api_key: (
        Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=r"^[!-~]+$")] | None
    ) = Field(None, description="an API key of the application (NNSXS....); checked, never stored")


class AccountRef(BaseModel):
    """An account to assign an application to, or to grant it."""

    model_config = ConfigDict(extra="forbid")

    account_id: AccountIdField
