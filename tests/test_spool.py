"""The durable spool: store down -> spooled and acknowledged; replayed in order; disk full is loud."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lorakeet.gateway_bridge.admission import MAX_BODY
from lorakeet.gateway_bridge.pipeline import Inbound
from lorakeet.storage.records import DeviceModel, RejectedMessage
from lorakeet.storage.spool import Spool, decode, encode

from .fakes import MemoryWriter
from .test_pipeline import BIN, make_pipeline, msg


def acked(m: Inbound, log: list[BaseException | None]) -> Inbound:
    m.done = log.append
    return m


def test_records_round_trip(tmp_path: Path) -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.process([msg(1, decoded_payload={"a": [1, {"b": None}]})])
    (s,) = w.stored
    r = RejectedMessage("ttn", "t", b"\x00{", "bad", 5)
    assert decode(encode([s], [r])) == ([s], [r])
    with_model = s._replace(uplink=s.uplink._replace(device_model=DeviceModel("dragino", "ldds75")))
    (back,), _ = decode(encode([with_model], []))
    assert back == with_model and isinstance(back.uplink.device_model, DeviceModel)


def test_store_down_batch_is_spooled_acked_then_replayed_in_order(tmp_path: Path) -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.spool = Spool(tmp_path / "spool.db")
    acks: list[BaseException | None] = []
    w.fail_next = 1
    p.process([acked(msg(1), acks)])
    assert acks == [None]  # durable in the spool: acknowledged
    assert p.stats.spool_depth == 1 and p.stats.spooled == 1 and w.stored == []
    # store still down for the replay attempt: the newer batch goes behind it
    w.fail_next = 1
    p.durability._next_replay = 0
    p.process([acked(msg(2), acks)])
    assert p.stats.spool_depth == 2 and w.stored == []
    # store back: the spool drains first, in order, then the new batch
    p.durability._next_replay = 0
    p.process([acked(msg(3), acks)])
    assert [s.uplink.f_cnt for s in w.stored] == [1, 2, 3]
    assert p.stats.spool_depth == 0 and p.stats.replayed == 2 and p.stats.stored == 3
    assert acks == [None, None, None]


def test_spool_survives_a_restart(tmp_path: Path) -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.spool = Spool(tmp_path / "spool.db")
    w.fail_next = 1
    p.process([msg(1), msg(2)])
    p.spool.close()
    # a new process: the spool file is found at start and replayed
    w2 = MemoryWriter()
    p2, _ = make_pipeline(w2)
    p2.spool = Spool(tmp_path / "spool.db")
    p2.start()
    try:
        assert p2.stats.spool_depth == 2
        p2.submit(msg(3))
        assert p2.wait_idle(5)
    finally:
        p2.stop()
    assert [s.uplink.f_cnt for s in w2.stored] == [1, 2, 3]


def test_idle_pipeline_replays_once_the_store_is_back(tmp_path: Path) -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.spool = Spool(tmp_path / "spool.db")
    w.fail_next = 1
    p.start()
    try:
        p.submit(msg(1))
        assert p.wait_idle(5)
        import time

        deadline = time.monotonic() + 5
        while w.stored == [] and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        p.stop()
    assert [s.uplink.f_cnt for s in w.stored] == [1]


def test_full_spool_is_critical_and_the_batch_stays_unacknowledged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.spool = Spool(tmp_path / "spool.db", max_pages=3)  # a "full disk" (SQLITE_FULL)
    big = bytes(200) * 40
    w.fail_next = 3  # the first write, then one retry, fail
    acks: list[BaseException | None] = []
    with caplog.at_level(logging.WARNING):
        p.process([acked(msg(i, payload=big), acks) for i in range(1, 40)])
    assert any(r.levelno == logging.CRITICAL and "spool unusable" in r.message for r in caplog.records)
    # it kept retrying (unacknowledged) until the store itself took the batch
    assert len(w.stored) == 39 and acks == [None] * 39


def test_unwritable_spool_path_is_critical(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.spool = Spool(blocker / "spool.db")  # a path under a regular file
    w.fail_next = 1
    with caplog.at_level(logging.WARNING):
        p.process([msg(1)])
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)
    assert len(w.stored) == 1


def test_oversize_and_non_json_bodies_are_rejected_and_kept_raw(caplog: pytest.LogCaptureFixture) -> None:
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    big = b'{"end_device_ids": "' + b"x" * (MAX_BODY + 10) + b'"}'
    with caplog.at_level(logging.WARNING):
        p.process(
            [
                Inbound(big, "ttn", topic=f"v3/x/devices/{BIN.device_id}/up"),
                Inbound(b"\xff\xfe not json", "ttn", topic="v3/x/devices/y/up"),
                msg(1),
            ]
        )
    assert len(w.stored) == 1
    assert [r.topic for r in w.rejected] == [f"v3/x/devices/{BIN.device_id}/up", "v3/x/devices/y/up"]
    assert "over the 65536 byte limit" in w.rejected[0].error and len(w.rejected[0].body) == MAX_BODY
    assert w.rejected[1].body == b"\xff\xfe not json"
    assert sum("rejected message" in r.message for r in caplog.records) == 2


def test_processes_on_one_spool_path_take_separate_slots(tmp_path: Path) -> None:
    """`lorakeet api --workers 2` gives both workers one path; each spools to its own file."""

    def rejected(tag: bytes) -> list[RejectedMessage]:
        return [RejectedMessage("ttn", "t", tag, "e", 1)]

    a = Spool(tmp_path / "s.db")
    a.append([], rejected(b"a"))
    # flock is per open file description: a second open in this process counts as another process
    b = Spool(tmp_path / "s.db")
    b.append([], rejected(b"b"))
    assert (a.path.name, b.path.name) == ("s.db", "s-2.db")
    a.close()
    b.close()
    # after a restart, each process takes a slot left with batches and replays it
    c, d = Spool(tmp_path / "s.db"), Spool(tmp_path / "s.db")
    c.open_if_present()
    d.open_if_present()
    replayed = []
    for sp in (c, d):
        head = sp.peek()
        assert head is not None
        replayed.append(head[2][0].body)
        sp.remove(head[0])
        assert sp.peek() is None
    assert sorted(replayed) == [b"a", b"b"]
    e = Spool(tmp_path / "s.db")
    e.open_if_present()  # every slot on disk is taken: nothing to replay here
    assert e.peek() is None and e.depth == 0
    for sp in (c, d, e):
        sp.close()


def test_a_spool_with_every_slot_taken_refuses_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lorakeet.storage import spool as spool_module

    monkeypatch.setattr(spool_module, "SLOTS", 2)
    held = [Spool(tmp_path / "s.db"), Spool(tmp_path / "s.db")]
    for sp in held:
        sp.append([], [])
    with pytest.raises(spool_module.SpoolError, match="all 2 slots are in use"):
        Spool(tmp_path / "s.db").append([], [])
    for sp in held:
        sp.close()


def test_an_unreadable_batch_is_set_aside_and_the_rest_replayed(tmp_path: Path) -> None:
    import sqlite3

    spool = Spool(tmp_path / "spool.db")
    w = MemoryWriter()
    p, _ = make_pipeline(w)
    p.spool = spool
    w.fail_next = 2
    p.process([msg(1)])
    p.process([msg(2)])
    assert spool.batches == 2
    db = sqlite3.connect(spool.path)
    db.execute("UPDATE batch SET body = x'00ff' WHERE id = (SELECT min(id) FROM batch)")  # damaged on disk
    db.commit()
    db.close()
    w.fail_next = 0  # the store answers again
    p.durability._next_replay = 0
    assert p.durability.replay()
    assert [s.uplink.f_cnt for s in w.stored] == [2]
    assert spool.batches == 0 and spool.depth == 0
    db = sqlite3.connect(spool.path)
    assert db.execute("SELECT count(*) FROM unreadable").fetchone() == (1,)
    db.close()
