"""A fake TTS Storage Integration: the documented HTTP API, in a thread, on a free port.

``GET /api/v3/as/applications/{app}/packages/storage/uplink_message?after=&limit=&order=``
with ``Authorization: Bearer <key>`` answers newline-delimited ``{"result": ApplicationUp}``
(uplinks received strictly after ``after``, oldest first, at most ``limit``); a wrong key
is a 401 with a TTS-style error body. ``junk`` lines are put in the first page as-is.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from lorakeet.timefmt import parse_rfc3339_ns


class FakeStorageIntegration:
    """Holds uplink bodies and serves them like TTS does."""

    def __init__(self, application: str, api_key: str = "NNSXS.TEST-KEY") -> None:
        self.application = application
        self.api_key = api_key
        self.uplinks: list[tuple[int, bytes]] = []
        self.junk: list[bytes] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeStorageIntegration:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, body: bytes) -> None:
        """Store an ApplicationUp body (as TTS would, keyed by its received_at)."""
        t = parse_rfc3339_ns(orjson.loads(body)["received_at"])
        with self._lock:
            self.uplinks.append((t, body))

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append({"path": parts.path, "query": q, "auth": h.headers.get("Authorization")})
        expected = f"/api/v3/as/applications/{self.application}/packages/storage/uplink_message"
        if parts.path != expected:
            self._send(h, 404, b'{"code": 5, "message": "not found"}\n')
            return
        if h.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send(h, 401, b'{"code": 16, "message": "error:pkg/auth:token_not_found"}\n')
            return
        if h.headers.get("Accept") != "text/event-stream":
            self._send(h, 406, b'{"message": "want text/event-stream"}\n')
            return
        after = parse_rfc3339_ns(q["after"]) if "after" in q else 0
        limit = int(q.get("limit", "1000"))
        with self._lock:
            rows = sorted((t, b) for t, b in self.uplinks if t > after)[:limit]
            junk, self.junk = self.junk, []
        lines = [b'{"result": ' + b + b"}" for _, b in rows]
        body = b"\n".join(junk + lines) + (b"\n" if lines or junk else b"")
        self._send(h, 200, body, "text/event-stream")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
