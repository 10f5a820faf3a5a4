"""The MQTT source's buffered socket reads: byte-exact, and in effect with the installed paho."""

from __future__ import annotations

import itertools
import select
import socket
import threading
import time

import pytest
from paho.mqtt.enums import MQTTErrorCode

from lorakeet.gateway_bridge.broker import LocalBroker
from lorakeet.gateway_bridge.mqtt_source import READ_BURST, READ_CHUNK, BufferedReads, MqttSource
from lorakeet.settings import MqttSettings


def read_exactly(r: BufferedReads, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = r.recv(n - len(out))
        assert chunk, "unexpected end of stream"
        out += chunk
    return out


def test_small_reads_are_served_from_one_large_receive() -> None:
    a, b = socket.socketpair()
    try:
        r = BufferedReads(b)
        data = bytes(range(256)) * 40
        a.sendall(data)
        assert r.recv(1) == data[:1]
        assert r.pending() == len(data) - 1  # the rest came with the first receive
        assert r.recv(3) == data[1:4]
        assert read_exactly(r, len(data) - 4) == data[4:]
        assert r.pending() == 0
        a.close()
        assert r.recv(1) == b""  # end of stream still reads as empty
    finally:
        b.close()


def test_a_read_larger_than_the_buffer_is_short_and_leaves_it_empty() -> None:
    a, b = socket.socketpair()
    try:
        r = BufferedReads(b)
        a.sendall(bytes(range(200)))
        assert r.recv(1) == b"\x00" and r.buffered() == 199 and r.pending() == 199
        assert r.recv(1000) == bytes(range(1, 200))  # what the buffer holds, as a socket may
        assert r.buffered() == 0 and r.pending() == 0
        a.sendall(b"next")
        assert r.recv(4) == b"next"
    finally:
        a.close()
        b.close()


def test_reads_across_chunks_and_partial_packets() -> None:
    a, b = socket.socketpair()
    try:
        b.setblocking(False)  # as paho uses it
        r = BufferedReads(b)
        with pytest.raises(BlockingIOError):
            r.recv(1)
        big = bytes(i % 251 for i in range(3 * READ_CHUNK + 1000))
        writer = threading.Thread(
            target=lambda: [a.sendall(big[i : i + 7000]) for i in range(0, len(big), 7000)]
        )
        writer.start()
        got = bytearray()
        deadline = time.monotonic() + 20
        sizes = itertools.cycle([1, 1, 2, 431, 5000, 70_000])  # paho's read pattern, and more
        while len(got) < len(big) and time.monotonic() < deadline:
            try:
                chunk = r.recv(min(next(sizes), len(big) - len(got)))
            except BlockingIOError:
                select.select([r], [], [], 0.1)  # the wrapper works with select, as paho uses it
                continue
            assert chunk
            got += chunk
        writer.join(10)
        assert bytes(got) == big
        assert r.pending() == 0
    finally:
        a.close()
        b.close()


def test_bridge_client_reads_through_the_buffer(broker: LocalBroker) -> None:
    """A paho upgrade that stops calling ``_create_socket`` would turn the buffer off silently."""
    src = MqttSource(MqttSettings(url=broker.url, qos=1, client_id="buffered-check"), submit=lambda m: None)
    src.start()
    try:
        assert src.wait_connected(10)
        assert isinstance(src.client.socket(), BufferedReads)
    finally:
        src.stop()


def _publish(broker: LocalBroker, topic: str, payload: bytes) -> None:
    import paho.mqtt.publish as publish

    publish.single(topic, payload, hostname="127.0.0.1", port=broker.port)


def test_messages_reach_on_message_directly_and_filtered_callbacks_still_work(broker: LocalBroker) -> None:
    """Direct dispatch with the installed paho: every message arrives, topic and payload intact;
    once a topic filter is added, paho's own dispatch routes messages to it."""
    got: list[tuple[str, bytes]] = []
    src = MqttSource(
        MqttSettings(url=broker.url, qos=0, client_id="direct-check"),
        submit=lambda m: got.append((m.topic, bytes(m.body))),
    )
    src.start()
    try:
        assert src.wait_connected(10)
        for i in range(20):
            _publish(broker, f"v3/town@ttn/devices/bin-{i}/up", b"body-%d" % i)
        deadline = time.monotonic() + 10
        while len(got) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(got) == sorted((f"v3/town@ttn/devices/bin-{i}/up", b"body-%d" % i) for i in range(20))
        filtered: list[str] = []
        src.client.message_callback_add(
            "v3/town@ttn/devices/bin-7/up", lambda c, u, m: filtered.append(m.topic)
        )
        got.clear()
        _publish(broker, "v3/town@ttn/devices/bin-7/up", b"x")
        _publish(broker, "v3/town@ttn/devices/bin-8/up", b"y")
        deadline = time.monotonic() + 10
        while not (filtered and got) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert filtered == ["v3/town@ttn/devices/bin-7/up"]  # paho's matcher took it
        assert got == [("v3/town@ttn/devices/bin-8/up", b"y")]  # the rest still reach on_message
    finally:
        src.stop()


def test_a_burst_is_read_whole_and_a_lone_message_after_it_is_not_held_back(broker: LocalBroker) -> None:
    """Several bursts' worth of packets arrive at once and are read many per turn of paho's
    loop; every one reaches the pipeline, in order. A message sent alone afterwards arrives
    at once: nothing waits in the buffer for paho's one-second select()."""
    from bench._mqtt_blast import blast

    got: list[bytes] = []
    src = MqttSource(
        MqttSettings(url=broker.url, qos=0, client_id="burst-check"),
        submit=lambda m: got.append(bytes(m.body)),
    )
    turns: list[int] = []
    read = src.client.loop_read

    def counted(max_packets: int = 1) -> MQTTErrorCode:
        turns.append(1)  # one turn of paho's loop (one select())
        return read(max_packets)

    src.client.loop_read = counted  # type: ignore[method-assign]
    src.start()
    try:
        assert src.wait_connected(10)
        turns.clear()
        n = 3 * READ_BURST + 17
        blast(broker.port, [(f"v3/town@ttn/devices/bin-{i % 7}/up", b"%06d" % i) for i in range(n)])
        deadline = time.monotonic() + 10
        while len(got) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got == [b"%06d" % i for i in range(n)]
        assert len(turns) < n / 2  # many packets per turn, not one
        for k in range(3):
            sent = time.monotonic()
            _publish(broker, "v3/town@ttn/devices/bin-1/up", b"lone-%d" % k)
            while len(got) < n + k + 1 and time.monotonic() - sent < 5:
                time.sleep(0.005)
            assert got[-1] == b"lone-%d" % k and time.monotonic() - sent < 0.5
    finally:
        src.stop()
