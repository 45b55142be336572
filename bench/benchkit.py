"""Shared plumbing of the benchmark scripts: paths, fresh databases, the emulator, the
Temporal dev server, process figures.

Importing this module puts the repository root on ``sys.path``, so a script started as
``python bench/NAME.py`` from the root can import ``ytsync``, ``worker`` and ``tests``.
Nothing here re-implements ytsync: it only assembles the pieces the way a user would.
Installing ytsync on the emulator (token file, settings, import, plan) is the sandbox's
(``ytsync_sandbox.sandbox``), shared with the tests and the demo.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import google_auth_httplib2  # noqa: E402
import httplib2  # noqa: E402
from google.oauth2.credentials import Credentials  # noqa: E402
from googleapiclient.discovery import build  # noqa: E402
from sqlalchemy import Engine, create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import Pool  # noqa: E402

from ytsync.config import Settings  # noqa: E402
from ytsync_emulator.credentials import write_token_file  # noqa: E402
from ytsync_emulator.model import RequestRecord  # noqa: E402
from ytsync_emulator.sample import generate_library, sample_plan_rows  # noqa: E402
from ytsync_emulator.server import EmulatorServer  # noqa: E402
from ytsync_emulator.state import EmulatorState  # noqa: E402
from ytsync_sandbox.sandbox import Row, emulator_settings  # noqa: E402

BIN = Path(sys.executable).parent
DEV_SERVER = BIN / "temporal"
TEST_SERVER = BIN / "temporal-test-server"
POSTGRES_ADMIN_URL = os.environ.get(
    "YTSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WRITE_METHODS = (
    "playlists.insert",
    "playlistItems.insert",
    "playlists.delete",
    "playlistItems.delete",
)


# --------------------------------------------------------------------------- output


def heading(title: str) -> None:
    print(f"\n== {title}", flush=True)


def figure(label: str, value: object, unit: str = "") -> None:
    if isinstance(value, float):
        shown = f"{value:,.3f}"
    elif isinstance(value, int):
        shown = f"{value:,}"
    else:
        shown = str(value)
    print(f"  {label:<52} {shown}{(' ' + unit) if unit else ''}", flush=True)


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    """``with timed() as elapsed: ...; elapsed()`` -> seconds (frozen at the block's end)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


# --------------------------------------------------------------------------- process


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int | None = None) -> float:
    """User+system CPU seconds of a process (this one by default), from /proc."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # After the ")" : state is field 3; utime and stime are fields 14 and 15.
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def postgres_backend_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``database`` (still open)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
            total += cpu_seconds(int(entry.name))
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- databases


@dataclass(frozen=True)
class Database:
    kind: str
    url: str
    name: str


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[Database]:
    """An empty database: a SQLite file in ``workdir`` or a new PostgreSQL database,
    dropped again at the end."""
    if kind == "sqlite":
        path = workdir / "ytsync.db"
        yield Database(kind, f"sqlite:///{path}", str(path))
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}")
    name = f"ytsync_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(database=name)
        yield Database(kind, url.render_as_string(hide_password=False), name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- emulator


class EmulatorProcess:
    """The emulator in a forked process of its own, so it does not share the GIL with
    what it measures; the parent asks it for its request log over a pipe."""

    def __init__(self, state: EmulatorState, directory: Path) -> None:
        client_id, secret, refresh = state.issue_credentials()
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve_emulator, args=(state, child), name="ytsync-emulator", daemon=True
        )
        self.process.start()
        self.endpoint, self.token_uri = self._conn.recv()
        self.token_file = write_token_file(
            directory / f"token-{uuid.uuid4().hex[:6]}.json",
            base_url=self.endpoint,
            client_id=client_id,
            client_secret=secret,
            refresh_token=refresh,
        )

    def _ask(self, command: str, *args: Any) -> Any:
        self._conn.send((command, args))
        return self._conn.recv()

    def clear_log(self) -> None:
        self._ask("clear_log")

    def add_fault(self, **rule: Any) -> None:
        """A fault rule (``Faults.add``'s arguments), from now on."""
        self._ask("add_fault", rule)

    def duplicates(self) -> dict[str, dict[str, int]]:
        """Videos held more than once per playlist (``EmulatorState.find_duplicates``)."""
        return dict(self._ask("duplicates"))

    def requests(self) -> list[RequestRecord]:
        return list(self._ask("requests"))

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self._ask("stop")
        self.process.join(timeout=10)


def _serve_emulator(state: EmulatorState, conn: Any) -> None:
    server = EmulatorServer(state)
    server.start()
    conn.send((server.base_url, server.token_uri))
    while True:
        command, args = conn.recv()
        if command == "clear_log":
            state.clear_log()
            conn.send(None)
        elif command == "add_fault":
            state.faults.add(**args[0])
            conn.send(None)
        elif command == "duplicates":
            conn.send(state.find_duplicates())
        elif command == "requests":
            conn.send(state.requests())
        elif command == "stop":
            server.stop()
            conn.send(None)
            return


@contextmanager
def emulator_process(state: EmulatorState, directory: Path) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(state, directory)
    try:
        yield emulator
    finally:
        emulator.stop()


def plain_client(endpoint: str, token_uri: str, credentials: tuple[str, str, str]) -> Any:
    """A bare google-api-python-client service, signed in with (client id, secret,
    refresh token): what a hand-written script would use, nothing of ytsync."""
    client_id, secret, refresh = credentials
    signed_in = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh,
        client_id=client_id,
        client_secret=secret,
        token_uri=token_uri,
        scopes=["https://www.googleapis.com/auth/youtube"],
    )
    http = google_auth_httplib2.AuthorizedHttp(signed_in, http=httplib2.Http(timeout=60))
    return build(
        "youtube",
        "v3",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": endpoint},
    )


def planned_writes(state: EmulatorState, rows: list[Row]) -> tuple[int, int, int]:
    """(playlists to create, videos to add, playlists to delete) the sample plan implies.

    Mirrors what the preview will count, from the emulator's side: one playlist per
    unprotected category, one insert per available (category, video) row, one delete per
    normal playlist.  The run itself reports the real numbers from the request log.
    """
    with state.lock:
        channel = state.channel_id
        usable = {
            vid
            for vid, video in state.videos.items()
            if not video.deleted
            and (video.privacy != "private" or video.owner_channel_id == channel)
        }
        playlists = sum(1 for p in state.playlists.values() if not p.special)
    categories = {category for category, _vid, protected in rows if not protected}
    adds = sum(1 for _c, vid, protected in rows if not protected and vid in usable)
    return len(categories), adds, playlists


def library_for_writes(
    target: int, *, seed: int, videos_per_playlist: int, emulator: Callable[[], EmulatorState]
) -> tuple[EmulatorState, list[Row], tuple[int, int, int]]:
    """A sample library (and its sample plan) whose sync makes about ``target`` writes.

    The sample plan leaves out unavailable, uncategorised and protected videos, so a
    library of N videos makes fewer than N writes: build once, scale, build again.
    """
    videos = target
    best: tuple[EmulatorState, list[Row], tuple[int, int, int]] | None = None
    tried: set[int] = set()
    # Small libraries are noisy (which category is protected moves a lot): keep the best.
    for _ in range(8):
        tried.add(videos)
        state = emulator()
        generate_library(
            state, videos=videos, playlists=max(1, videos // videos_per_playlist), seed=seed
        )
        rows = sample_plan_rows(state, seed)
        counts = planned_writes(state, rows)
        total = sum(counts)
        if best is None or abs(total - target) < abs(sum(best[2]) - target):
            best = (state, rows, counts)
        if abs(total - target) <= max(5, target // 100):
            break
        videos = max(10, round(videos * target / max(1, total)))
        while videos in tried:
            videos += 1
    assert best is not None
    return best


def write_requests(log: list[RequestRecord]) -> Counter[str]:
    """Successful writes per method in a request log."""
    return Counter(r.method for r in log if r.method in WRITE_METHODS and r.status < 300)


def units_by_method(log: list[RequestRecord]) -> Counter[str]:
    units: Counter[str] = Counter()
    for record in log:
        units[record.method] += record.units
    return units


# --------------------------------------------------------------------------- Temporal


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path


@contextmanager
def dev_server(directory: Path, *extra: str) -> Iterator[DevServer]:
    """``temporal server start-dev`` on free ports, headless, its SQLite file in
    ``directory``; stopped (SIGTERM, then SIGKILL) at the end."""
    port, ui_port = free_port(), free_port()
    log_path = directory / "temporal-dev-server.log"
    args = [
        str(DEV_SERVER),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--headless",
        "--db-filename",
        str(directory / "temporal.db"),
        "--log-level",
        "error",
        *extra,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, cwd=directory, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = DevServer(process, f"127.0.0.1:{port}", log_path)
    try:
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def connect_when_up(address: str, process: subprocess.Popen[bytes], limit: float = 60) -> Any:
    """A Temporal client once the dev server answers (it takes a few seconds to start)."""
    from temporalio.client import Client

    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with {process.returncode}")
        try:
            client = await Client.connect(address)
            await client.count_workflows()
            return client
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


# --------------------------------------------------------------------------- database traffic


class SqlCounter:
    """SQL statements, commits and pool checkouts (each a pre-ping round trip) made by
    every SQLAlchemy engine of this process while ``counting`` is true."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.counting = False
        self._lock = threading.Lock()
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)
        event.listen(Pool, "checkout", self._checkout)

    def _bump(self, key: str) -> None:
        if self.counting:
            with self._lock:
                self.counts[key] += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self._bump("statements")
        self._bump("statement: " + statement.split(None, 1)[0].upper())

    def _commit(self, _conn: Any) -> None:
        self._bump("commits")

    def _checkout(self, *_args: Any) -> None:
        self._bump("pool checkouts")


class PostgresWaits:
    """Samples ``pg_stat_activity`` for one database every ``interval`` seconds: what its
    busy backends are doing (running, waiting for a lock, for the WAL flush, or for the
    client inside an open transaction)."""

    def __init__(self, database: str, interval: float = 0.05) -> None:
        self.database = database
        self.interval = interval
        self.samples: Counter[str] = Counter()
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-waits", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        query = text(
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = :name AND backend_type = 'client backend'"
        )
        try:
            with engine.connect() as conn:
                while not self._stop.wait(self.interval):
                    self.rounds += 1
                    for state, kind, wait in conn.execute(query, {"name": self.database}):
                        if state == "idle":
                            continue
                        self.samples[f"{state} / {kind or '-'}:{wait or '-'}"] += 1
        finally:
            engine.dispose()


def postgres_stats(database: str) -> dict[str, int]:
    """Cumulative counters of one database from ``pg_stat_database``."""
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, "
                    "tup_fetched FROM pg_stat_database WHERE datname = :name"
                ),
                {"name": database},
            ).one()
    finally:
        engine.dispose()
    keys = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_fetched")
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


def checkout() -> str:
    """The commit the figures were taken at, and whether the tree had changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


# --------------------------------------------------------------------------- clocks and histories


class SimClock:
    """Simulated time for a script that runs outside Temporal: real time passes as usual
    from ``start``, and ``sleep_until`` jumps ahead instead of sleeping, counting the
    seconds it skipped.  Readable from any thread (the emulator's handlers read it)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._origin = time.perf_counter()
        self._skipped = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            skipped = self._skipped
        return self._start + timedelta(seconds=time.perf_counter() - self._origin + skipped)

    def sleep_until(self, moment: datetime) -> float:
        """Jump to ``moment`` (if it is ahead); returns the simulated seconds skipped."""
        ahead = (moment - self()).total_seconds()
        if ahead <= 0:
            return 0.0
        with self._lock:
            self._skipped += ahead
        return ahead

    @property
    def skipped(self) -> float:
        with self._lock:
            return self._skipped


async def history_figures(client: Any, workflow_id: str, first_run: str) -> dict[str, Any]:
    """Walk the continue-as-new chain from the first run; events and sizes per run.

    ``server_bytes`` is what the server reports (0 where it does not, as on the
    time-skipping test server); ``proto_bytes`` is the sum of the event protos.
    """
    from temporalio.api.history.v1 import History

    runs: list[dict[str, Any]] = []
    activities: Counter[str] = Counter()
    run_id: str | None = first_run
    while run_id:
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
        described = await handle.describe()
        history = await handle.fetch_history()
        info = described.raw_description.workflow_execution_info
        proto_bytes = History(events=history.events).ByteSize()
        runs.append(
            {
                "run_id": run_id,
                "events": len(history.events),
                "server_bytes": int(info.history_size_bytes),
                "proto_bytes": proto_bytes,
            }
        )
        for entry in history.events:
            if entry.HasField("activity_task_scheduled_event_attributes"):
                activities[entry.activity_task_scheduled_event_attributes.activity_type.name] += 1
        last = history.events[-1]
        run_id = None
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return {"runs": runs, "activities": activities}


def report_histories(histories: dict[str, Any], writes: int, *, each_run: bool = False) -> None:
    """The figures of ``history_figures``: runs, events per write, the largest run (the
    time-skipping test server reports no size of its own: the event protos' sum does)."""
    runs = histories["runs"]
    events = sum(r["events"] for r in runs)
    biggest = max(runs, key=lambda r: r["events"])
    heaviest = max(runs, key=lambda r: max(r["server_bytes"], r["proto_bytes"]))
    heading("workflow histories")
    figure("workflow runs", len(runs))
    figure("continue-as-new count", len(runs) - 1)
    figure("total history events, all runs", events)
    figure("history events per write", events / max(writes, 1))
    figure("largest run: events", biggest["events"])
    server_bytes = heaviest["server_bytes"]
    figure(
        "largest run by size: bytes (server)",
        server_bytes or "not reported (time-skipping test server)",
        "bytes" if server_bytes else "",
    )
    figure("largest run by size: bytes (sum of event protos)", heaviest["proto_bytes"], "bytes")
    figure("total history bytes (event protos)", sum(r["proto_bytes"] for r in runs), "bytes")
    if each_run:
        for index, run in enumerate(runs, 1):
            figure(f"  run {index}", f"{run['events']:,} events, {run['proto_bytes']:,} bytes")
    activities: Counter[str] = histories["activities"]
    figure("activities scheduled, all runs", sum(activities.values()))
    for name, count in activities.most_common():
        figure(f"  {name}", count)


def peak_rss_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) of a running process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# --------------------------------------------------------------------------- profiling


class PySpy:
    """``py-spy record`` on this process (raw collapsed stacks), for finding hot spots.

    py-spy is not a project dependency: pass the path of a binary installed anywhere.
    """

    def __init__(self, binary: Path | None, directory: Path) -> None:
        self.binary = binary
        self.output = directory / "py-spy.txt"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.binary is None:
            return
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "record",
                "--pid",
                str(os.getpid()),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(self.output),
                "--nonblocking",
                # Only the thread holding the GIL: Python CPU is what bounds the worker.
                "--gil",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_and_report(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(2)  # SIGINT: py-spy writes its file and exits
        self.process.wait(timeout=60)
        report_stacks(self.output)


def report_stacks(path: Path, top: int = 25) -> None:
    """Self and inclusive samples per function from py-spy's collapsed stacks."""
    if not path.exists():
        print(f"  (no py-spy output at {path})")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")[1:]]  # [0] is the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    heading(f"py-spy: {total:,} samples of the thread holding the GIL at 200 Hz")
    print("  self samples (where the time is spent):")
    for frame, count in own.most_common(top):
        print(f"    {100 * count / total:5.1f}%  {frame}")
    print("  inclusive samples, project code only:")
    ours = [
        (frame, count)
        for frame, count in inclusive.most_common()
        if any(part in frame for part in ("ytsync/", "activities/", "workflows/", "worker.py"))
    ]
    for frame, count in ours[:top]:
        print(f"    {100 * count / total:5.1f}%  {frame}")


def _short(frame: str) -> str:
    """'func (path/to/file.py:123)' -> 'func (file path below site-packages or repo)'."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def utc_from(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def unlimited_settings(
    emulator: EmulatorProcess, db: Database, server: DevServer, **fields: Any
) -> Settings:
    """ytsync's settings for a throughput run: this emulator, database and dev server, a
    task queue of its own, and no quota to wait for (``fields`` set the rest)."""
    return emulator_settings(
        emulator.endpoint,
        emulator.token_uri,
        emulator.token_file,
        db.url,
        temporal_address=server.address,
        task_queue=f"ytsync-bench-{uuid.uuid4().hex[:8]}",
        daily_quota=10**9,
        quota_reserve=0,
        **fields,
    )
