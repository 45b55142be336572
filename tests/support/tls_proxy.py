"""A TLS-terminating proxy on loopback, in front of a Temporal dev server that has no TLS.

gRPC over TLS is HTTP/2 inside TLS (ALPN ``h2``).  The proxy does the TLS handshake with
the client (server certificate from a test CA; with ``require_client_cert`` it demands a
client certificate from the same CA, as an mTLS cluster does), then relays the plaintext
bytes to the dev server and back: the HTTP/2 stream needs no change.  It runs its own
event loop in a thread, so synchronous tests and subprocess clients can use it alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import trustme

CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    handshakes: int = 0
    # Names (subjectAltName) of the client certificates the proxy accepted (mTLS).
    client_names: list[str] = field(default_factory=list)
    refused: int = 0


class TLSProxy:
    def __init__(
        self,
        backend: tuple[str, int],
        ca: trustme.CA,
        server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
        *,
        require_client_cert: bool = False,
    ) -> None:
        self.backend = backend
        self.stats = ProxyStats()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.set_alpn_protocols(["h2"])
        ca.issue_cert(*server_names).configure_cert(self._context)
        if require_client_cert:
            self._context.verify_mode = ssl.CERT_REQUIRED
            ca.configure_trust(self._context)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                # Open relays are tasks of this loop: cancel them, then let them end.
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> int:
        # The handshake timeout keeps a client that never speaks TLS from hanging on.
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self._context, ssl_handshake_timeout=10
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        tls = client_w.get_extra_info("ssl_object")
        with self._lock:
            self.stats.handshakes += 1
            peer = tls.getpeercert() if tls is not None else None
            if peer:
                self.stats.client_names += [name for _kind, name in peer["subjectAltName"]]
        try:
            backend_r, backend_w = await asyncio.open_connection(*self.backend)
        except OSError:
            with self._lock:
                self.stats.refused += 1
            client_w.close()
            return
        # Cancelled when the proxy stops: end quietly, as a closed connection would.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                _pump(client_r, backend_w), _pump(backend_r, client_w), return_exceptions=True
            )


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.contextmanager
def tls_proxy(
    backend: tuple[str, int],
    ca: trustme.CA,
    server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    *,
    require_client_cert: bool = False,
) -> Iterator[TLSProxy]:
    proxy = TLSProxy(backend, ca, server_names, require_client_cert=require_client_cert)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
