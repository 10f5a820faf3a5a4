"""The alert engine: a pipeline observer that evaluates rules on every durable uplink batch.

Rules and device registrations are re-read every ``refresh_s`` seconds, so API edits take
effect without a restart. Rule state (firing or not, per device) lives in memory and in
the registry (``alert_state``), so an alert fires once per crossing, also across restarts.
Silence rules are checked by a ticker thread every ``silence_check_s`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lorakeet.decoders import Value
from lorakeet.settings import Settings
from lorakeet.storage.alerts_store import AlertRuleRow, AlertStore
from lorakeet.storage.protocols import ReadingReader
from lorakeet.storage.records import DeviceKey, StoredUplink
from lorakeet.storage.registry import DeviceFilter, DeviceInfo, Registry

from .delivery import Delivery, Job, event_body
from .rules import Decision, Rule, evaluate, ring_from_json

log = logging.getLogger(__name__)


def rule_of(row: AlertRuleRow, owner_is_admin: bool) -> Rule:
    """Freeze a rule row."""
    return Rule(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        rule_type=row.rule_type,  # type: ignore[arg-type]
        device=row.device,
        kind=row.kind,
        quantity=row.quantity,
        op="below" if row.op == "below" else "above",
        threshold=row.threshold,
        hysteresis=row.hysteresis or 0.0,
        silence_s=row.silence_s,
        geofence=ring_from_json(row.geofence) if row.geofence is not None else None,
        webhook_url=row.webhook_url,
        webhook_secret=row.webhook_secret,
        mqtt_topic=row.mqtt_topic,
        owner_is_admin=owner_is_admin,
    )


class AlertEngine:
    """Observer of a :class:`~lorakeet.gateway_bridge.pipeline.Pipeline`; see the module docstring."""

    def __init__(
        self,
        registry: Registry,
        *,
        reader: ReadingReader | None = None,
        delivery: Callable[[], Delivery] | Delivery | None = None,
        refresh_s: float = 5.0,
        silence_check_s: float = 30.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.registry = registry
        self.alerts = AlertStore(registry)
        self.reader = reader
        self._delivery_factory = delivery
        self._delivery: Delivery | None = delivery if isinstance(delivery, Delivery) else None
        self.refresh_s = refresh_s
        self.silence_check_s = silence_check_s
        self.clock = clock
        self._lock = threading.RLock()
        self._rules: list[Rule] = []
        self._rules_at = -1e18
        self._devices: dict[DeviceKey, DeviceInfo] = {}
        self._active: set[tuple[int, str]] | None = None
        self.last_seen: dict[str, int] = {}
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.fired = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, registry: Registry, reader: ReadingReader | None
    ) -> AlertEngine:
        """An engine delivering MQTT alerts through the configured broker."""
        engine: AlertEngine

        def make() -> Delivery:
            return Delivery(
                settings.mqtt,
                on_outcome=engine.alerts.set_delivery,
                allow_private_targets=settings.alerts.allow_private_targets,
            )

        engine = cls(registry, reader=reader, delivery=make)
        return engine

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the silence ticker (also started by the first batch)."""
        with self._lock:
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="lorakeet-alert-silence", daemon=True)
                self._ticker.start()

    def stop(self) -> None:
        """Stop the ticker and finish deliveries."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(5)
        if self._delivery is not None:
            self._delivery.close()

    def _tick(self) -> None:
        while not self._stop.wait(self.silence_check_s):
            try:
                self.check_silence()
            except Exception:
                log.exception("silence check failed")

    @property
    def delivery(self) -> Delivery:
        """The delivery worker (made on first use)."""
        if self._delivery is None:
            factory = self._delivery_factory
            self._delivery = factory() if callable(factory) else Delivery(on_outcome=self.alerts.set_delivery)
        return self._delivery

    # -- rules and devices -----------------------------------------------------------------------

    def rules(self) -> list[Rule]:
        """Enabled rules with their reach, re-read every ``refresh_s``.

        A rule has admin reach only while its owner is an admin and the API key that created
        it is unrevoked and holds the ``admin`` scope, so revoking that key or the owner's
        admin flag narrows the rule to its owner's devices within ``refresh_s``.
        """
        now = time.monotonic()
        if now - self._rules_at >= self.refresh_s:
            admins: dict[int, bool | None] = {}
            out = []
            for row in self.alerts.list_rules(enabled_only=True, limit=100_000):
                if row.owner_id not in admins:
                    acc = self.registry.get_account(row.owner_id)
                    admins[row.owner_id] = None if acc is None else acc.is_admin
                is_admin = admins[row.owner_id]
                if is_admin is None:  # rules of deleted accounts are ignored
                    continue
                out.append(rule_of(row, is_admin and self._key_is_admin(row.key_id)))
            self._rules, self._rules_at = out, now
            self._devices.clear()
        return self._rules

    def _key_is_admin(self, key_id: int | None) -> bool:
        if key_id is None:
            return False
        key = self.registry.get_key(key_id)
        return key is not None and key.revoked_at is None and "admin" in (key.scopes or ())

    def _device(self, key: DeviceKey) -> DeviceInfo:
        info = self._devices.get(key)
        if info is None:
            info = self.registry.get_device(key) or DeviceInfo(key)
            self._devices[key] = info
        return info

    def _is_active(self, rule_id: int, device: str) -> bool:
        if self._active is None:
            self._active = self.alerts.active_states()
        return (rule_id, device) in self._active

    # -- evaluation ------------------------------------------------------------------------------

    def __call__(self, batch: Sequence[StoredUplink]) -> None:
        """Evaluate every rule on a durable batch."""
        if self._ticker is None:
            self.start()
        with self._lock:
            rules = self.rules()
            for su in batch:
                u = su.uplink
                uid = u.key.uid
                self.last_seen[uid] = max(self.last_seen.get(uid, 0), u.received_at_ns)
                if not rules:
                    continue
                info = self._device(u.key)
                values: Mapping[str, Value] = {r.key: r.value for r in su.readings}
                for rule in rules:
                    if not rule.applies_to(uid, su.kind or info.kind, info.owner_id, info.visibility):
                        continue
                    active = self._is_active(rule.id, uid)
                    if rule.rule_type == "silence":
                        decision = (
                            Decision(False, None, f"{rule.name}: {uid} reports again") if active else None
                        )
                    else:
                        decision = evaluate(rule, active, values, info.metadata)
                    if decision is not None:
                        self._transition(rule, uid, decision, u.received_at_ns)

    def check_silence(self, now_ns: int | None = None) -> int:
        """Fire silence rules for devices quiet for longer than their limit; returns how many fired."""
        now = self.clock() if now_ns is None else now_ns
        fired = 0
        with self._lock:
            for rule in self.rules():
                if rule.rule_type != "silence" or not rule.silence_s:
                    continue
                for key in self._watched(rule):
                    uid = key.uid
                    last = self.last_seen.get(uid)
                    if last is None and self.reader is not None:
                        last = max((v.time_ns for v in self.reader.latest(key)), default=None)
                        if last is not None:
                            self.last_seen[uid] = last
                    if last is None or self._is_active(rule.id, uid):
                        continue
                    quiet_s = (now - last) / 1e9
                    if quiet_s > rule.silence_s:
                        msg = f"{rule.name}: nothing from {uid} for {quiet_s / 60:.0f} min"
                        self._transition(rule, uid, Decision(True, quiet_s, msg), now)
                        fired += 1
        return fired

    def _watched(self, rule: Rule) -> list[DeviceKey]:
        if rule.device is not None:
            key = DeviceKey.from_uid(rule.device)
            info = self._device(key)
            return [key] if rule.applies_to(rule.device, info.kind, info.owner_id, info.visibility) else []
        f = DeviceFilter(kind=rule.kind, owner_id=None if rule.owner_is_admin else rule.owner_id)
        return [r.key for r in self.registry.find_devices(f, limit=100_000)[0]]

    def _transition(self, rule: Rule, device: str, d: Decision, time_ns: int) -> None:
        assert self._active is not None
        if d.active:
            self._active.add((rule.id, device))
        else:
            self._active.discard((rule.id, device))
        self.alerts.set_state(rule.id, device, d.active)
        row = self.alerts.get_rule(rule.id)
        if row is None:
            return
        state = "fired" if d.active else "cleared"
        event = self.alerts.add_event(row, device, state, d.value, d.message, time_ns)
        self.fired += d.active
        log.info("alert %s: rule %d on %s: %s", state, rule.id, device, d.message)
        if rule.webhook_url or rule.mqtt_topic:
            payload: dict[str, Any] = {
                "event_id": event.id,
                "rule_id": rule.id,
                "rule": rule.name,
                "rule_type": rule.rule_type,
                "device": device,
                "state": state,
                "value": d.value,
                "message": d.message,
                "time": datetime.fromtimestamp(time_ns / 1e9, UTC).isoformat().replace("+00:00", "Z"),
            }
            self.delivery.submit(
                Job(event.id, event_body(payload), rule.webhook_url, rule.webhook_secret, rule.mqtt_topic)
            )
