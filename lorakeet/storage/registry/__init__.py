"""The registry (SQLAlchemy 2): accounts, API keys, devices, codecs, webhook secrets, audit log.

SQLite by default, PostgreSQL when several API or bridge processes share it. The schema is
owned by Alembic (``lorakeet/storage/migrations``); opening a registry upgrades it to head.
Devices the network delivers before anyone registered them are auto-registered as unowned,
so no uplink is ever dropped for being unknown.

The package: ``tables`` (the ORM tables, all that migrations import), ``entities`` (the frozen
records handed out), ``changes`` (typed changes taken in), ``model`` (filters, errors,
vocabularies), ``database`` (engine, sessions, migrations on open), ``cache`` (the lookup
cache), and one repository per concept (``devices``, ``accounts``, ``keys``,
``codecs``, ``audit``, ``applications``). ``Registry`` is all repositories over one database.

The API's hot path reads API keys and devices through a small in-process cache
(``lookup_key``, ``lookup_device``; hits alone: ``cache.key``, ``cache.device``). Every write made through
any ``Registry`` of the same database in this process clears it at once; writes made by other
processes (another API worker, ``lorakeet keys revoke``) are seen within ``CACHE_TTL_S``
(``LookupCache`` says how).
"""

from __future__ import annotations

from .accounts import AccountRepository
from .applications import PROOFS, STRONG_PROOFS, ApplicationRepository, ClaimSecret, Proof
from .audit import AuditRepository
from .cache import CACHE_TTL_S, LookupCache, acquire_cache, database_version, release_cache
from .changes import UNSET, AccountChanges, DeviceChanges, Unset
from .codecs import CodecRepository
from .database import Database, make_engine
from .devices import DeviceRepository
from .entities import Account, ApiKey, Application, ApplicationSecret, AuditRecord, Codec, Device, ModelMap
from .keys import KEY_TOUCH_INTERVAL, KeyRepository
from .model import KINDS, VISIBILITIES, ConflictError, DeviceFilter, DeviceInfo, KeyLookup, RegistryError
from .model_maps import ModelMapRepository
from .tables import (
    AccountRow,
    ApiKeyRow,
    ApplicationSecretRow,
    AuditRow,
    Base,
    CodecRow,
    DeviceRow,
    ModelMapRow,
    as_utc,
)


class Registry(
    DeviceRepository,
    AccountRepository,
    KeyRepository,
    CodecRepository,
    AuditRepository,
    ModelMapRepository,
    ApplicationRepository,
):
    """Registry operations over one database; safe to share between threads. It hands out frozen records
    (``entities``) and takes typed changes (``changes``)."""


__all__ = [
    "CACHE_TTL_S",
    "KEY_TOUCH_INTERVAL",
    "KINDS",
    "PROOFS",
    "STRONG_PROOFS",
    "UNSET",
    "VISIBILITIES",
    "Account",
    "AccountChanges",
    "AccountRepository",
    "AccountRow",
    "ApiKey",
    "ApiKeyRow",
    "Application",
    "ApplicationRepository",
    "ApplicationSecret",
    "ApplicationSecretRow",
    "AuditRecord",
    "AuditRepository",
    "AuditRow",
    "Base",
    "ClaimSecret",
    "Codec",
    "CodecRepository",
    "CodecRow",
    "ConflictError",
    "Database",
    "Device",
    "DeviceChanges",
    "DeviceFilter",
    "DeviceInfo",
    "DeviceRepository",
    "DeviceRow",
    "KeyLookup",
    "KeyRepository",
    "LookupCache",
    "ModelMap",
    "ModelMapRepository",
    "ModelMapRow",
    "Proof",
    "Registry",
    "RegistryError",
    "Unset",
    "acquire_cache",
    "as_utc",
    "database_version",
    "make_engine",
    "release_cache",
]
