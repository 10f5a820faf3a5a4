"""Print the LORAKEET_* configuration reference (a Markdown table) from lorakeet.settings.Settings.

    .venv/bin/python scripts/gen_config_docs.py

docs/deployment.md includes this output; tests/test_deploy.py fails when it is stale.
"""

from __future__ import annotations

from lorakeet.config_docs import describe_fields

# Said here when the Settings field has no description of its own.
NOTES = {
    "LORAKEET_MQTT__NETWORK": "envelope format and topic layout: The Things Stack v3 or ChirpStack v4",
    "LORAKEET_MQTT__USERNAME": "TTN: app-id@ttn; local Mosquitto: a user from its password file",
    "LORAKEET_MQTT__PASSWORD": "TTN: an application API key (NNSXS...) with 'Read application traffic'",
    "LORAKEET_MQTT__TOPIC_TEMPLATE": "override the network's topic layout",
    "LORAKEET_MQTT__EVENTS": "event types to subscribe to, as a JSON list",
    "LORAKEET_MQTT__CLIENT_ID": "unique per bridge instance",
    "LORAKEET_MQTT__CLEAN_SESSION": "false keeps the broker-side queue while the bridge is away (QoS 1)",
    "LORAKEET_MQTT__KEEPALIVE": "seconds",
    "LORAKEET_MQTT__RECONNECT_MIN_S": "first reconnect delay; doubles up to the maximum",
    "LORAKEET_MQTT__RECONNECT_MAX_S": "longest reconnect delay",
    "LORAKEET_STORE__KIND": "where readings go: one SQLite file or InfluxDB",
    "LORAKEET_STORE__SQLITE_PATH": "the readings file (kind=sqlite)",
    "LORAKEET_STORE__SQLITE_SYNCHRONOUS": "SQLite durability: FULL survives power loss",
    "LORAKEET_STORE__INFLUX_URL": "InfluxDB base URL",
    "LORAKEET_STORE__INFLUX_API": "v1: /write (any 1.x); v2: the v2 write API (2.x, 3.x, 1.8+)",
    "LORAKEET_STORE__INFLUX_DATABASE": "the InfluxQL database reads use (2.x: the DBRP mapping's name)",
    "LORAKEET_STORE__INFLUX_RETENTION_POLICY": "1.x retention policy; the database default when unset",
    "LORAKEET_STORE__INFLUX_USERNAME": "1.x user (or v1-auth user on 2.x)",
    "LORAKEET_STORE__INFLUX_PASSWORD": "1.x password",
    "LORAKEET_STORE__INFLUX_TOKEN": "2.x/3.x API token (write to the bucket, read for the API)",
    "LORAKEET_STORE__INFLUX_ORG": "2.x organisation; `-` for 1.8",
    "LORAKEET_STORE__INFLUX_BUCKET": "2.x bucket; the database name when unset",
    "LORAKEET_PIPELINE__BATCH_SIZE": "uplinks per store write",
    "LORAKEET_PIPELINE__FLUSH_INTERVAL_S": "write a partial batch after this many seconds",
    "LORAKEET_PIPELINE__QUEUE_SIZE": "uplinks buffered between MQTT and the writer",
    "LORAKEET_PIPELINE__DEDUP_CAPACITY": "recent (device, f_cnt, received_at) keys remembered",
    "LORAKEET_API__HOST": "listen address (0.0.0.0 in a container)",
    "LORAKEET_API__PORT": "listen port",
    "LORAKEET_API__PUBLIC_URL": "the API's URL as clients see it (links, OpenAPI servers)",
    "LORAKEET_REGISTRY_URL": "SQLAlchemy URL: sqlite:///path or postgresql://user:pass@host/db",
    "LORAKEET_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "LORAKEET_LOG_JSON": "one JSON object per log line",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    """Print the table."""
    print("| Variable | Type | Default | Description |")
    print("|---|---|---|---|")
    for f in describe_fields():
        default = "(secret)" if f.secret else (f"`{f.default}`" if f.default else "")
        kind = f.type.replace(" | ", ", ")
        if f.secret:
            kind = "secret"
        note = f.description or NOTES.get(f.env, "")
        print(f"| `{f.env}` | {_cell(kind)} | {_cell(default)} | {_cell(note)} |")


if __name__ == "__main__":
    main()
