"""The tables of the SQLite readings store (see ``sqlite_store`` for the layout)."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS device (
    id INTEGER PRIMARY KEY,
    application_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    UNIQUE (application_id, device_id)
);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    device INTEGER NOT NULL REFERENCES device(id),
    key TEXT NOT NULL,
    unit TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'float',
    last_time INTEGER NOT NULL DEFAULT 0,
    last_value REAL,
    last_text TEXT,
    UNIQUE (device, key)
);
CREATE TABLE IF NOT EXISTS reading (
    series INTEGER NOT NULL,
    time INTEGER NOT NULL,
    value REAL,
    text TEXT,
    PRIMARY KEY (series, time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uplink (
    device INTEGER NOT NULL,
    time INTEGER NOT NULL,
    f_cnt INTEGER NOT NULL,
    f_port INTEGER NOT NULL,
    source TEXT NOT NULL,
    payload BLOB NOT NULL,
    rssi REAL,
    snr REAL,
    sf INTEGER,
    frequency INTEGER,
    gateways TEXT NOT NULL,
    decoder TEXT NOT NULL,
    decode_error TEXT,
    warnings TEXT,
    network_decoded TEXT,
    PRIMARY KEY (device, time, f_cnt)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    source TEXT NOT NULL,
    topic TEXT NOT NULL,
    body BLOB NOT NULL,
    error TEXT NOT NULL
);
"""
