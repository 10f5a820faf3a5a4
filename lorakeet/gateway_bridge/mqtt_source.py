"""MQTT subscriber (paho-mqtt 2.x) feeding the pipeline.

The network thread does nothing but wrap each message and hand it to the pipeline's
bounded queue (blocking when it is full, which pushes back on the broker). Topics are
subscribed in ``on_connect`` so every reconnect restores them; paho reconnects with
exponential backoff between ``reconnect_min_s`` and ``reconnect_max_s``. At QoS 1 the
client acknowledges manually, only after the message's batch is durable.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from lorakeet.settings import MqttSettings

from .sink import Envelope, Inbound
from .topics import CHIRPSTACK_TEMPLATE, TTS_TEMPLATE, TopicTemplate

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
"""Bytes asked of the socket per receive; one chunk holds hundreds of TTS uplinks."""
READ_BURST = 256
"""Packets handled per turn of paho's loop while bytes wait in the buffer."""


class BufferedReads:
    """A socket whose small reads are served from one large ``recv``.

    paho reads each packet as ``recv(1)`` for its type, ``recv(1)`` per length byte and
    ``recv(n)`` for the rest: four or five system calls per uplink, each letting go of
    the GIL and taking it back against the pipeline thread. Here one ``recv`` serves many
    packets, and ``pending()`` (which paho's loop asks of TLS sockets too) tells the loop
    that buffered bytes are ready without waiting in ``select``. Everything else is the
    wrapped socket's.
    """

    __slots__ = ("_buf", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes: from the buffer, else one large read of the socket."""
        pos = self._pos
        if pos >= len(self._buf):
            data: bytes = self._sock.recv(max(bufsize, READ_CHUNK))
            if len(data) <= bufsize:
                return data
            self._buf, self._pos = data, bufsize
            return data[:bufsize]
        end = min(pos + bufsize, len(self._buf))  # a short read, as a socket's may be
        self._pos = end
        return self._buf[pos:end]

    def buffered(self) -> int:
        """Bytes received and not read yet (here; TLS may hold more)."""
        return len(self._buf) - self._pos

    def pending(self) -> int:
        """Bytes readable without touching the network (buffered here or in TLS)."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def fileno(self) -> int:
        """The wrapped socket's descriptor (for select)."""
        return int(self._sock.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """paho's client reading through :class:`BufferedReads`, with direct message dispatch.

    paho matches every message's topic against the filters of ``message_callback_add`` and
    takes two locks before calling ``on_message``; with no such filters (the bridge adds
    none) the message goes straight to ``on_message``. Once a filter is added, paho's own
    dispatch is used.
    """

    _filtered = False

    def _create_socket(self) -> Any:
        return BufferedReads(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read step, taken again while bytes wait in the buffer (up to ``READ_BURST``
        packets): at QoS 0 paho reads one packet per turn of its loop, and each turn costs a
        ``select()`` and the loop's bookkeeping (about a quarter of the receive path's CPU).
        A partial packet ends the burst: its rest is read when the socket has it."""
        sock = self._sock
        rc = super().loop_read(max_packets)
        for _ in range(READ_BURST - 1):
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or self._sock is not sock:
                break
            if not isinstance(sock, BufferedReads) or not sock.buffered():
                break
            rc = super().loop_read(max_packets)
        return rc

    def message_callback_add(self, sub: str, callback: Any) -> None:
        """paho's, and from then on paho's dispatch."""
        self._filtered = True
        super().message_callback_add(sub, callback)

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        on_message = self._on_message
        if self._filtered or on_message is None:
            super()._handle_on_message(message)
            return
        try:
            on_message(self, self._userdata, message)
        except Exception as err:
            log.error("MQTT message callback failed: %r", err)
            if not self.suppress_exceptions:
                raise


class MqttSource:
    """Subscribes to uplink topics and submits every message to a pipeline."""

    def __init__(
        self,
        cfg: MqttSettings,
        submit: Callable[[Inbound], object],
        on_connected: Callable[[bool], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.submit = submit
        self.on_connected = on_connected
        default = TTS_TEMPLATE if cfg.network == "ttn" else CHIRPSTACK_TEMPLATE
        self.template = TopicTemplate(cfg.topic_template or default)
        self.envelope: Envelope = "chirpstack" if cfg.network == "chirpstack" else "tts"
        self.connected = threading.Event()
        self.connections = 0
        self._ever_connected = False
        manual = cfg.qos > 0
        self.client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.effective_client_id,
            clean_session=cfg.clean_session,
            protocol=mqtt.MQTTv311,
            manual_ack=manual,
        )
        if cfg.username:
            password = cfg.password.get_secret_value() if cfg.password else None
            self.client.username_pw_set(cfg.username, password)
        if cfg.tls:
            self.client.tls_set(
                ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                cert_reqs=ssl.CERT_NONE if cfg.tls_insecure else ssl.CERT_REQUIRED,
            )
            if cfg.tls_insecure:
                log.warning("TLS certificate verification is OFF for %s", cfg.host)
                self.client.tls_insecure_set(True)
        self.client.reconnect_delay_set(
            min_delay=max(1, round(cfg.reconnect_min_s)), max_delay=max(1, round(cfg.reconnect_max_s))
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._network = cfg.network
        self._tts = cfg.network != "chirpstack"
        self.client.on_message = self._on_message if manual else self._on_message_qos0

    @property
    def filters(self) -> list[str]:
        """The subscription filters built from the topic template (shared when a group is set)."""
        share = f"$share/{self.cfg.share_group}/" if self.cfg.share_group else ""
        return [share + self.template.filter(self.cfg.application, "+", e) for e in self.cfg.events]

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting on its own."""
        log.info("connecting to MQTT broker %s:%d (tls=%s)", self.cfg.host, self.cfg.port, self.cfg.tls)
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Wait until subscribed (True) or timeout (False)."""
        return self.connected.wait(timeout)

    # -- callbacks (network thread) ------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            return
        session = getattr(flags, "session_present", False)
        qos: int = self.cfg.qos
        client.subscribe([(f, qos) for f in self.filters])
        self.connections += 1
        log.info("connected to MQTT (session present: %s); subscribed to %s", session, self.filters)
        reconnect = self._ever_connected
        self._ever_connected = True
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected(reconnect)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting with backoff", reason)

    def _source_and_event(self, topic: str) -> str:
        if self.cfg.network == "chirpstack":
            m = self.template.parse(topic)
            return m.event if m else "up"
        return "up"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        mid, qos = msg.mid, msg.qos

        def done(error: BaseException | None) -> None:
            if error is None and qos > 0:
                client.ack(mid, qos)

        self.submit(
            Inbound(
                msg.payload,
                self.cfg.network,
                msg.topic,
                self._source_and_event(msg.topic),
                time.time_ns(),
                done,
                self.envelope,
            )
        )

    def _on_message_qos0(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        topic = msg.topic
        event = "up" if self._tts else self._source_and_event(topic)
        self.submit(Inbound(msg.payload, self._network, topic, event, time.time_ns(), envelope=self.envelope))
