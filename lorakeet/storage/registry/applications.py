"""Applications are owned: who proved control of a network application, whom it let in, who claims it.

An account proves an application in one of three ways (``Application.proof``): a first uplink
arrives with its ingest secret for it (``ingest``), The Things Stack confirms an API key of
the application (``tts_key``), or an admin assigns it (``admin``). Only the owner, accounts it
grants, and admins register devices in an owned application. A device registered in an
application nobody has proved is *pending*: its registration is kept, its data is shown to no
one but admins, and the registering account holds a claim.

Proving an application settles every device in it: the prover's pending devices become
normal; other accounts' pending devices and the unowned (auto-registered) ones pass to the
prover, the pending ones stripped of what their registrants wrote (name, place, tags,
metadata, licence). A TTS key takes an application from an account that proved it only by
ingest, an admin's assignment takes any: the previous owner's and its grantees' devices there,
their grants and its secret are removed (``Proof.displaced``: the caller purges their readings).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from ..records import DeviceKey
from .database import Database
from .entities import Application
from .model import ConflictError
from .tables import (
    ApplicationClaimRow,
    ApplicationGrantRow,
    ApplicationRow,
    ApplicationSecretRow,
    DeviceRow,
    now_utc,
)

STRONG_PROOFS = ("tts_key", "admin")
PROOFS = ("ingest", "migrated", *STRONG_PROOFS)


@dataclass(frozen=True, slots=True)
class Proof:
    """What proving an application changed."""

    application: Application
    previous_owner: int | None
    displaced: tuple[DeviceKey, ...] = ()  # removed from the registry: purge their readings
    transferred: tuple[DeviceKey, ...] = ()  # now the prover's


@dataclass(frozen=True, slots=True)
class ClaimSecret:
    """An unproved claim's ingest secret, found by its hash."""

    application_id: str
    account_id: int


def _app(s: Session, application_id: str) -> Application | None:
    row = s.get(ApplicationRow, application_id)
    grants = tuple(
        s.scalars(
            select(ApplicationGrantRow.account_id)
            .where(ApplicationGrantRow.application_id == application_id)
            .order_by(ApplicationGrantRow.account_id)
        )
    )
    claims = tuple(
        s.scalars(
            select(ApplicationClaimRow.account_id)
            .where(ApplicationClaimRow.application_id == application_id)
            .order_by(ApplicationClaimRow.account_id)
        )
    )
    if row is None:
        return Application(application_id, None, "", None, grants, claims) if claims else None
    return Application(row.application_id, row.owner_id, row.proof, row.proved_at, grants, claims)


def _keys(s: Session, where: object) -> list[DeviceKey]:
    return [
        DeviceKey(a, d)
        for a, d in s.execute(select(DeviceRow.application_id, DeviceRow.device_id).where(where))  # type: ignore[arg-type]
    ]


class ApplicationRepository(Database):
    """Application ownership, grants and claims."""

    def get_application(self, application_id: str) -> Application | None:
        """The application's owner, grants and claims; None when nobody owns or claims it."""
        with self.session() as s:
            return _app(s, application_id)

    def applications_of(self, account_id: int) -> list[Application]:
        """Applications the account owns, is granted or claims, by id."""
        with self.session() as s:
            ids = set(
                s.scalars(select(ApplicationRow.application_id).where(ApplicationRow.owner_id == account_id))
            )
            ids |= set(
                s.scalars(
                    select(ApplicationGrantRow.application_id).where(
                        ApplicationGrantRow.account_id == account_id
                    )
                )
            )
            ids |= set(
                s.scalars(
                    select(ApplicationClaimRow.application_id).where(
                        ApplicationClaimRow.account_id == account_id
                    )
                )
            )
            return [a for a in (_app(s, i) for i in sorted(ids)) if a is not None]

    def list_applications(self, *, limit: int = 100, offset: int = 0) -> list[Application]:
        """Every owned application, by id (for admins)."""
        with self.session() as s:
            ids = list(
                s.scalars(
                    select(ApplicationRow.application_id)
                    .order_by(ApplicationRow.application_id)
                    .limit(limit)
                    .offset(offset)
                )
            )
            return [a for a in (_app(s, i) for i in ids) if a is not None]

    def may_register(self, application_id: str, account_id: int) -> bool | None:
        """True: the account owns the application or is granted it; False: someone else owns it;
        None: nobody has proved it (a registration there is pending)."""
        with self.session() as s:
            owner = s.scalar(
                select(ApplicationRow.owner_id).where(ApplicationRow.application_id == application_id)
            )
            if owner is None:
                return None
            if owner == account_id:
                return True
            granted = s.get(ApplicationGrantRow, (application_id, account_id))
            return granted is not None

    def add_claim(self, application_id: str, account_id: int, secret_hash: str | None = None) -> None:
        """Record (or refresh) the account's claim; a given secret replaces the claim's secret."""
        with self.session() as s:
            row = s.get(ApplicationClaimRow, (application_id, account_id))
            if row is None:
                row = ApplicationClaimRow(application_id=application_id, account_id=account_id)
                s.add(row)
            if secret_hash is not None:
                row.secret_hash = secret_hash
            s.commit()

    def claim_for_secret(self, secret_hash: str) -> ClaimSecret | None:
        """The unproved claim whose ingest secret has this SHA-256 (hex), or None."""
        with self.session() as s:
            row = s.scalar(select(ApplicationClaimRow).where(ApplicationClaimRow.secret_hash == secret_hash))
            return ClaimSecret(row.application_id, row.account_id) if row is not None else None

    def prove_application(self, application_id: str, account_id: int, proof: str) -> Proof:
        """Make the account the application's owner (see the module docstring).

        ConflictError when another account owns it and ``proof`` cannot take it: an admin's
        assignment takes any application, a TTS key one proved by ingest (or migrated), an ingest
        proof none.
        """
        if proof not in PROOFS:
            raise ValueError(f"unknown proof {proof!r}")
        with self.session() as s:
            app = s.get(ApplicationRow, application_id)
            previous = app.owner_id if app is not None else None
            displaced: list[DeviceKey] = []
            if app is not None and previous not in (None, account_id):
                takes = proof == "admin" or (proof == "tts_key" and app.proof not in STRONG_PROOFS)
                if not takes:
                    raise ConflictError(f"application {application_id!r} belongs to another account")
                grantees = list(
                    s.scalars(
                        select(ApplicationGrantRow.account_id).where(
                            ApplicationGrantRow.application_id == application_id
                        )
                    )
                )
                losers = [previous, *grantees]
                gone = (DeviceRow.application_id == application_id) & DeviceRow.owner_id.in_(losers)
                displaced = _keys(s, gone)
                s.execute(delete(DeviceRow).where(gone))
                s.execute(
                    delete(ApplicationGrantRow).where(ApplicationGrantRow.application_id == application_id)
                )
                s.execute(
                    delete(ApplicationSecretRow).where(ApplicationSecretRow.application_id == application_id)
                )
            if app is None:
                app = ApplicationRow(application_id=application_id, proof=proof)
                s.add(app)
            if previous != account_id or proof in STRONG_PROOFS:
                app.proof = proof
            app.owner_id = account_id
            app.proved_at = now_utc()
            in_app = DeviceRow.application_id == application_id
            granted = select(ApplicationGrantRow.account_id).where(
                ApplicationGrantRow.application_id == application_id
            )
            # the prover's and its grantees' pending devices become normal
            s.execute(
                update(DeviceRow)
                .where(in_app & or_(DeviceRow.owner_id == account_id, DeviceRow.owner_id.in_(granted)))
                .values(pending=False)
            )
            # others' pending devices and unowned ones pass to the prover; pending ones lose what
            # their registrants wrote
            others_pending = in_app & DeviceRow.pending.is_(True)
            transferred = _keys(s, others_pending | (in_app & DeviceRow.owner_id.is_(None)))
            s.execute(
                update(DeviceRow)
                .where(others_pending)
                .values(
                    owner_id=account_id,
                    pending=False,
                    name=None,
                    latitude=None,
                    longitude=None,
                    tags=[],
                    meta={},
                    licence=None,
                    visibility="private",
                )
            )
            s.execute(
                update(DeviceRow).where(in_app & DeviceRow.owner_id.is_(None)).values(owner_id=account_id)
            )
            # claims are settled: the prover's and everyone else's
            s.execute(delete(ApplicationClaimRow).where(ApplicationClaimRow.application_id == application_id))
            s.commit()
            self.cache.clear()
            found = _app(s, application_id)
            assert found is not None
            return Proof(found, previous, tuple(displaced), tuple(transferred))

    def grant(self, application_id: str, account_id: int, *, by: int | None) -> None:
        """Let an account register devices in the application; its pending devices there become normal."""
        with self.session() as s:
            if s.get(ApplicationGrantRow, (application_id, account_id)) is None:
                s.add(
                    ApplicationGrantRow(application_id=application_id, account_id=account_id, granted_by=by)
                )
            s.execute(
                update(DeviceRow)
                .where((DeviceRow.application_id == application_id) & (DeviceRow.owner_id == account_id))
                .values(pending=False)
            )
            s.execute(
                delete(ApplicationClaimRow).where(
                    (ApplicationClaimRow.application_id == application_id)
                    & (ApplicationClaimRow.account_id == account_id)
                )
            )
            s.commit()
            self.cache.clear()

    def revoke_grant(self, application_id: str, account_id: int) -> bool:
        """Withdraw a grant: the account's devices in the application pass to the owner, stripped."""
        with self.session() as s:
            row = s.get(ApplicationGrantRow, (application_id, account_id))
            app = s.get(ApplicationRow, application_id)
            if row is None or app is None:
                return False
            s.delete(row)
            s.execute(
                update(DeviceRow)
                .where((DeviceRow.application_id == application_id) & (DeviceRow.owner_id == account_id))
                .values(
                    owner_id=app.owner_id,
                    name=None,
                    latitude=None,
                    longitude=None,
                    tags=[],
                    meta={},
                    licence=None,
                    visibility="private",
                )
            )
            s.commit()
            self.cache.clear()
            return True
