"""A loopback webhook for notifications: what Apprise's ``json://127.0.0.1:PORT/`` posts
lands here.  It answers (``up``), refuses with a 500 (``down``) or holds every request
open without an answer until it closes (``hang``: a notifier that never answers)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["up", "down", "hang"]


@dataclass
class Webhook:
    port: int
    mode: Mode = "up"
    # Every request that reached it, answered or not.
    requests: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/"

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def titled(self, part: str) -> list[dict[str, Any]]:
        return [m for m in self.delivered() if part in str(m.get("title", ""))]

    def seen(self) -> int:
        with self.lock:
            return self.requests


@contextmanager
def webhook(mode: Mode = "up") -> Iterator[Webhook]:
    state: Webhook

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.requests += 1
                mode = state.mode
            if mode == "hang":
                state.closing.wait(120)
                return
            if mode == "down":
                self.send_response(500)
                self.end_headers()
                return
            with state.lock:
                state.messages.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Webhook(server.server_address[1], mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.closing.set()
        server.shutdown()
        server.server_close()
