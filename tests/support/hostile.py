"""Hostile input as a new user meets it: ytsync's command line and worker run as their
own processes, in a fresh folder, with only the settings a test gives them; and what
the tests look at afterwards (the files of a folder, a listener that counts who
connected to it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ytsync_emulator.credentials import issue_token_file
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState

ROOT = Path(__file__).resolve().parents[2]
# Bounded: reading /dev/zero to the end, or a FIFO with no writer, fails here.
TIMEOUT = 120
# No Temporal server listens here: commands that get that far say they cannot reach it.
NO_TEMPORAL = "127.0.0.1:1"


@dataclass
class Done:
    """A finished process: its exit code and what it wrote, rich's wrapping undone."""

    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        return " ".join((self.out + "\n" + self.err).split())


def environ(cwd: Path, **settings: str) -> dict[str, str]:
    """The environment of a user with no ytsync or Temporal settings but ``settings``,
    and no Temporal config file of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YTSYNC_", "TEMPORAL_"))}
    env["XDG_CONFIG_HOME"] = str(cwd / ".config")
    env["COLUMNS"] = "250"
    return {**env, **settings}


def run(
    cwd: Path,
    *argv: str,
    script: str = "starter.py",
    preexec_fn: Callable[[], None] | None = None,
    env: Mapping[str, str] | None = None,
    **settings: str,
) -> Done:
    """``python SCRIPT ARGV...`` in ``cwd`` with ``env`` and ``settings`` as its
    environment."""
    done = subprocess.run(
        [sys.executable, str(ROOT / script), *argv],
        cwd=cwd,
        env=environ(cwd, **(env or {}), **settings),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=preexec_fn,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def files(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, as relative paths."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def outward_address() -> str | None:
    """This machine's address on its network (not loopback), or None without one.
    A UDP socket's connect() sends nothing: it only picks the route."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@dataclass
class Listener:
    """A TCP server that accepts connections, reads what they send and answers
    nothing: a stand-in for a remote host that would see a secret."""

    host: str
    port: int
    received: list[bytes] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextmanager
def listening(host: str) -> Iterator[Listener]:
    server = socket.create_server((host, 0))
    server.settimeout(0.2)
    listener = Listener(host, server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    listener.received.append(conn.recv(65536))
                except OSError:
                    listener.received.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@contextmanager
def on_youtube(
    state: EmulatorState, folder: Path
) -> Iterator[tuple[EmulatorServer, dict[str, str]]]:
    """``state`` served by the emulator, and the settings (a token file in ``folder``)
    that sign a process in to it."""
    with EmulatorServer(state) as server:
        token = issue_token_file(state, folder / "token.json", base_url=server.base_url)
        yield (
            server,
            {
                "YTSYNC_YOUTUBE_API_ENDPOINT": server.base_url,
                "YTSYNC_OAUTH_TOKEN_URI": server.token_uri,
                "YTSYNC_TOKEN_FILE": str(token),
            },
        )
