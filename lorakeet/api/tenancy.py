"""Application ownership at the API: checking a TTS API key, and settling what a proof changed.

The Things Stack answers ``GET /api/v3/applications/{id}/rights`` with the rights the
presented API key holds on that application; a key of another application (or none) gets
401/403/404. A key with at least one right on the application proves the caller controls it.
The server asked is ``api.tts_url``, set by the operator, never by the caller.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from lorakeet.storage.alerts_store import AlertStore
from lorakeet.storage.registry import Proof

from .services import Services

log = logging.getLogger(__name__)

TTS_TIMEOUT_S = 10.0


class TtsUnavailable(Exception):
    """The Things Stack is not configured or did not answer."""


def tts_key_proves(tts_url: str | None, application_id: str, api_key: str) -> bool:
    """True when The Things Stack says ``api_key`` holds rights on ``application_id``."""
    if not tts_url:
        raise TtsUnavailable("this server has no The Things Stack to ask (api.tts_url is not set)")
    url = f"{tts_url.rstrip('/')}/api/v3/applications/{quote(application_id, safe='')}/rights"
    try:
        r = httpx.get(
            url, headers={"Authorization": f"Bearer {api_key}"}, timeout=TTS_TIMEOUT_S, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise TtsUnavailable(f"The Things Stack did not answer: {type(exc).__name__}") from None
    if r.status_code in (401, 403, 404):
        return False
    if r.status_code != 200:
        raise TtsUnavailable(f"The Things Stack answered {r.status_code}")
    try:
        rights = r.json().get("rights", [])
    except ValueError:
        raise TtsUnavailable("The Things Stack answered something that is not JSON") from None
    return isinstance(rights, list) and any(
        isinstance(x, str) and x.startswith("RIGHT_APPLICATION") for x in rights
    )


def settle_proof(services: Services, proof: Proof, *, by: int | None, how: str) -> None:
    """After a proof: purge displaced devices' readings and rules, audit the change."""
    services.purge_devices(proof.displaced)
    alerts = AlertStore(services.registry)
    for key in proof.transferred:  # now private to the prover: others' rules on them go
        alerts.drop_foreign_rules(key.uid, proof.application.owner_id)
    app = proof.application
    services.registry.audit(
        by,
        "application.prove",
        f"application:{app.application_id}",
        {
            "owner_id": app.owner_id,
            "proof": how,
            "previous_owner_id": proof.previous_owner,
            "displaced": [k.uid for k in proof.displaced],
            "transferred": [k.uid for k in proof.transferred],
        },
    )
    log.info("application %s proved by account %s (%s)", app.application_id, app.owner_id, how)
