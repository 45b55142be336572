"""The emulator's HTTP face: a threaded stdlib server on 127.0.0.1.

The real google-api-python-client talks to it unchanged when built with
``client_options={"api_endpoint": server.base_url}``: requests arrive as
``/youtube/v3/<resource>`` and token refreshes as ``POST /token``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .api import handle, owner
from .errors import BODIES
from .state import EmulatorState

HOST = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, states: list[EmulatorState]) -> None:
        self.states = states
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, int] = {}
        self._to_reset: set[socket.socket] = set()
        self._next_conn = 0
        super().__init__((HOST, port), _Handler)

    def register(self, conn: socket.socket) -> int:
        with self._conn_lock:
            self._next_conn += 1
            self._connections[conn] = self._next_conn
            return self._next_conn

    def unregister(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.pop(conn, None)

    def mark_reset(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._to_reset.add(conn)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            # Abort with RST: skip the shutdown(SHUT_WR) that would send a clean FIN first.
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_request(request)
            return
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that vanished mid-request (killed, or its connection cut) is
        ordinary life for a server, not an emulator bug worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def drop_all(self) -> int:
        """Shut every open connection down; idle keep-alive threads then exit."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return len(conns)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httplib2 expects
    # http.server writes headers and body separately; without TCP_NODELAY each
    # keep-alive response stalls ~40 ms on delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # and buffering makes it one send() per response anyway
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.conn_id = self.server.register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.unregister(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        try:
            state = owner(
                self.server.states, url.path, url.query, body, self.headers.get("Authorization")
            )
            reply = handle(
                state,
                self.command,
                url.path,
                url.query,
                body,
                self.headers.get("Authorization"),
                self.conn_id,
            )
        except Exception:  # an emulator bug: say so loudly, answer like Google would
            traceback.print_exc(file=sys.stderr)
            self._send(500, BODIES["backendError"])
            return
        if reply.drop is not None:
            # The write (if any) is applied; the client never hears about it.
            self.close_connection = True
            if reply.drop == "lose_response_reset":
                self.server.mark_reset(self.connection)
            return
        self._send(reply.status, reply.body, reply.headers, reply.raw)

    def _send(
        self,
        status: int,
        body: dict[str, Any] | None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():  # e.g. a redirect's Location
            self.send_header(name, value)
        if raw is not None:  # a spoilt answer, its Content-Type among the headers
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        if body is None:
            self.end_headers()
            return
        payload = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the state's request log is the record."""


class EmulatorServer:
    """Serve an ``EmulatorState`` over HTTP on 127.0.0.1.

    >>> with EmulatorServer(EmulatorState()) as server:
    ...     build_client(server.base_url)
    """

    def __init__(
        self,
        state: EmulatorState | None = None,
        *,
        port: int = 0,
        more: list[EmulatorState] | None = None,
    ) -> None:
        self.state = state or EmulatorState()
        # Several YouTube accounts (channels) on one address, told apart by their OAuth
        # clients and access tokens, as Google does: ``state`` and ``more``.
        self.states = [self.state, *(more or [])]
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add_account(self, state: EmulatorState) -> None:
        """Serve one more account (a channel) on this address, running or not."""
        self.states.append(state)

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def token_uri(self) -> str:
        return self.base_url + "/token"

    def start(self) -> str:
        """Bind and serve in a background thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._server = _Server(self._port, self.states)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="ytsync-emulator",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def drop_connections(self) -> int:
        """Close every open client connection now (clients must reconnect)."""
        return self._server.drop_all() if self._server is not None else 0

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
