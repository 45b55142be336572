"""The fault suite's machinery: a real Temporal dev server and a worker process that are
killed and restarted mid-job, chaos fired at exact emulator writes, and the fault counts
the end-of-session summary prints.

Everything random comes from the case's seed (the library, the fault draws, where the
kills land, whether a killed write was applied), so a failing seed replays the same run
up to thread timing: ``YTSYNC_FAULT_SEEDS=<seed> pytest -m faults -k <case>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.support.harness import ROOT, Installation
from ytsync.db.models import Category, CategoryVideo, Playlist, Video
from ytsync.devserver import command, temporal_binary
from ytsync_emulator.model import RequestRecord
from ytsync_emulator.state import WriteVerdict

SEEDS_ENV = "YTSYNC_FAULT_SEEDS"
# The seeds CI runs: fixed, so a red build is a real regression, not bad luck.
CI_SEEDS = (7,)
WORKER_APP = "ytsync-worker"
STARTUP_TIMEOUT = 60.0
_LOG_TAIL = 25


def wall_clock() -> datetime:
    return datetime.now(UTC)


def fault_seeds(option: str | None) -> list[int]:
    """Seeds from ``--fault-seeds`` or $YTSYNC_FAULT_SEEDS: "1,2,3", "random" (one fresh
    seed) or "random:N"; the CI list when neither is set."""
    raw = (option or os.environ.get(SEEDS_ENV, "")).strip()
    if not raw:
        return list(CI_SEEDS)
    if raw.startswith("random"):
        count = int(raw.partition(":")[2] or 1)
        return [secrets.randbelow(1_000_000) for _ in range(count)]
    return [int(part) for part in raw.split(",") if part.strip()]


def log_tail(path: Path, lines: int = _LOG_TAIL) -> str:
    if not path.is_file():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text) or "    (empty)"


# ------------------------------------------------------------------- the summary


@dataclass
class RunRecord:
    case: str
    seed: int
    faults: Counter[str]
    invariants: int
    seconds: float
    passed: bool


RUNS: list[RunRecord] = []


def summary_line() -> str | None:
    """``fault suite: 7 runs, seeds [..]; faults injected: ...; invariants checked: N``."""
    if not RUNS:
        return None
    seeds = sorted({run.seed for run in RUNS})
    total: Counter[str] = Counter()
    for run in RUNS:
        total.update(run.faults)
    failed = [f"{run.case}[{run.seed}]" for run in RUNS if not run.passed]
    kinds = " ".join(f"{kind}={count}" for kind, count in sorted(total.items()) if count)
    line = (
        f"fault suite: {len(RUNS)} runs, seeds {seeds}; faults injected: {kinds or 'none'}; "
        f"invariants checked: {sum(run.invariants for run in RUNS)}; "
        f"{sum(run.seconds for run in RUNS):.0f} s"
    )
    if failed:
        line += f"; FAILED: {', '.join(failed)}"
    return line


# ---------------------------------------------------------------- the dev server


class DevServerProcess:
    """``temporal server start-dev`` on a fixed port and state file, so a restart after a
    crash carries on with the running workflows."""

    def __init__(self, db_file: Path, log_file: Path, port: int) -> None:
        self.db_file = db_file
        self.log_file = log_file
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.up = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        argv = command(temporal_binary(), port=self.port, ui_port=None, db_file=self.db_file)
        with self.log_file.open("ab") as log:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self._lock:
            self._child = child
        deadline = time.monotonic() + STARTUP_TIMEOUT
        problem = "no answer yet"
        while True:
            if child.poll() is not None:
                raise AssertionError(
                    f"the dev server exited with {child.returncode} while starting:\n"
                    + log_tail(self.log_file)
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the dev server did not answer on {self.address} ({problem}):\n"
                    + log_tail(self.log_file)
                )
            try:
                client = await asyncio.wait_for(Client.connect(self.address), timeout=5)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                )
                break
            except (RuntimeError, RPCError, TimeoutError) as exc:
                problem = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            await asyncio.sleep(0.1)
        self.up.set()

    def running(self) -> bool:
        with self._lock:
            return self._child is not None and self._child.poll() is None

    def kill(self) -> bool:
        """Crash it (SIGKILL); False when it was not running."""
        with self._lock:
            child, self._child = self._child, None
            self.up.clear()
        if child is None or child.poll() is not None:
            return False
        child.send_signal(signal.SIGKILL)
        child.wait()
        return True


# -------------------------------------------------------------------- the worker


class WorkerProcess:
    """``tests.support.worker_process --wall-clock``: started, SIGKILLed, started again."""

    def __init__(
        self, address: str, environ: dict[str, str], log_dir: Path, *, cwd: Path = ROOT
    ) -> None:
        """``cwd``: the source tree whose worker runs (another release's, say)."""
        self.address = address
        self.environ = environ
        self.log_dir = log_dir
        self.cwd = cwd
        self.spawned = 0
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def log_file(self, number: int | None = None) -> Path:
        return self.log_dir / f"worker-{number or self.spawned}.log"

    def spawn(self) -> None:
        """Start one and return when it polls the task queue (blocking)."""
        self.spawned += 1
        log: IO[str]
        with self.log_file().open("w") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.worker_process",
                    self.address,
                    "--wall-clock",
                ],
                cwd=self.cwd,
                env=self.environ,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        watchdog = threading.Timer(STARTUP_TIMEOUT, proc.kill)
        watchdog.start()
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
        finally:
            watchdog.cancel()
        if line.strip() != "worker ready":
            proc.kill()
            proc.wait()
            raise RuntimeError(f"worker {self.spawned} did not start:\n{log_tail(self.log_file())}")
        with self._lock:
            self._proc = proc

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        with self._lock:
            return self._proc is not None and self._proc.poll() is None

    def died_by_itself(self) -> bool:
        with self._lock:
            return self._proc is not None and self._proc.poll() is not None

    def send(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the running worker (SIGTERM: a deploy stops it)."""
        with self._lock:
            proc = self._proc
        assert proc is not None and proc.poll() is None, "no worker is running"
        proc.send_signal(sig)

    def wait(self, timeout: float = 120.0) -> int:
        """Wait for the worker to end by itself; its exit code."""
        with self._lock:
            proc = self._proc
        assert proc is not None, "no worker was started"
        code = proc.wait(timeout)
        with self._lock:
            self._proc = None
        return code

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM, as a deploy does, and wait for the worker to end; its exit code."""
        self.send(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> bool:
        """SIGKILL, the way a machine dies; False when none was running."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def worker_environ(inst: Installation, database_url: str) -> dict[str, str]:
    """The worker's YTSYNC_* settings; its database connections carry an application
    name, so the test can cut exactly those."""
    settings = inst.settings
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        url = url.update_query_dict({"application_name": WORKER_APP})
    environ = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
    environ.update(
        {
            "YTSYNC_DATABASE_URL": url.render_as_string(hide_password=False),
            "YTSYNC_YOUTUBE_API_ENDPOINT": settings.youtube_api_endpoint,
            "YTSYNC_TOKEN_FILE": str(settings.token_file),
            "YTSYNC_OAUTH_TOKEN_URI": settings.oauth_token_uri,
            "YTSYNC_TASK_QUEUE": settings.task_queue,
            "YTSYNC_DAILY_QUOTA": str(settings.daily_quota),
            "YTSYNC_QUOTA_RESERVE": str(settings.quota_reserve),
            "YTSYNC_SETTLE_SECONDS": str(settings.settle_seconds),
            # The emulator answers at once; a short request timeout keeps the lane
            # lease a killed worker leaves behind short too (1.5 times this).
            "YTSYNC_YOUTUBE_TIMEOUT_SECONDS": "3",
        }
    )
    if settings.quota_period_seconds:
        environ["YTSYNC_QUOTA_PERIOD_SECONDS"] = str(settings.quota_period_seconds)
    return environ


# --------------------------------------------------------------------- the chaos


@dataclass(frozen=True)
class Action:
    """One fault fired at an exact emulator write."""

    # worker_kill | server_restart | db_drop | quota_burn | token_expiry | owner_save
    kind: str
    verdict: WriteVerdict = "answer"  # for worker_kill: was the write applied?
    units: int = 0  # for quota_burn
    # For owner_save: the owner saves this video to this old playlist on youtube.com.
    playlist_id: str = ""
    video_id: str = ""


@dataclass
class Chaos:
    """Fires planned actions from the emulator's write hook (in the request's thread,
    so a kill lands while that write is in flight), and restarts what it killed from a
    supervising task on the test's event loop."""

    inst: Installation
    server: DevServerProcess
    worker: WorkerProcess
    database_name: str
    admin_url: str
    loop: asyncio.AbstractEventLoop
    counts: Counter[str] = field(default_factory=Counter)
    burnt: Counter[datetime] = field(default_factory=Counter)
    writes: int = 0
    _due: dict[int, list[Action]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False

    def plan(self, rng: random.Random, actions: list[Action], first: int, last: int) -> None:
        """Put each action at a random write number in [first, last]."""
        for action in actions:
            self._due.setdefault(rng.randint(first, max(first, last)), []).append(action)

    def burnt_per_period(self) -> dict[datetime, int]:
        with self._lock:
            return dict(self.burnt)

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(len(actions) for actions in self._due.values())

    # the hook (emulator threads) ---------------------------------------------------

    def hook(self, method: str) -> WriteVerdict:
        with self._lock:
            self.writes += 1
            due = self._due.pop(self.writes, [])
        verdict: WriteVerdict = "answer"
        for action in due:
            fired = self._fire(action)
            if fired is None:
                # Not possible right now (the server or worker is down): next write.
                with self._lock:
                    self._due.setdefault(self.writes + 1, []).append(action)
            elif fired != "answer":
                verdict = fired
        return verdict

    def _fire(self, action: Action) -> WriteVerdict | None:
        if action.kind == "worker_kill":
            if not self.server.up.is_set() or not self.worker.alive():
                return None
            if not self.worker.kill():
                return None
            self._count(f"worker_kill_{'applied' if action.verdict == 'lose' else 'unapplied'}")
            self._count("worker_kill")
            self.loop.call_soon_threadsafe(self._wake.set)
            return action.verdict
        if action.kind == "server_restart":
            if not self.server.up.is_set() or not self.server.kill():
                return None
            self._count("server_restart")
            self.loop.call_soon_threadsafe(self._wake.set)
            return "answer"
        if action.kind == "db_drop":
            killed, busy = self._drop_worker_connections()
            self._count("db_drop")
            self._count("db_backend_killed", killed)
            self._count("db_backend_killed_mid_transaction", busy)
            return "answer"
        if action.kind == "quota_burn":
            state = self.inst.state
            period = state.period(state.clock())
            with state.lock:
                state.quota[period] += action.units
            with self._lock:
                self.burnt[period] += action.units
            self._count("quota_burn")
            return "answer"
        if action.kind == "token_expiry":
            self.inst.state.expire_all_access_tokens()
            self._count("token_expiry")
            return "answer"
        if action.kind == "owner_save":
            self.inst.state.user_add(action.playlist_id, action.video_id)
            self._count("owner_save")
            return "answer"
        raise AssertionError(f"unknown action {action.kind}")

    def _count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind] += n

    def _drop_worker_connections(self) -> tuple[int, int]:
        """pg_terminate_backend on the worker's connections to this case's database."""
        url = self.admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
                (self.database_name, WORKER_APP),
            ).fetchall()
        busy = sum(1 for state, _ in rows if state in ("active", "idle in transaction"))
        return len(rows), busy

    # the supervisor (event loop) ---------------------------------------------------

    async def supervise(self) -> None:
        """Bring back what was killed: the server first, then a worker."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
            self._wake.clear()
            if self._stopping:
                return
            if not self.server.running():
                if self.server.up.is_set():
                    self._count("server_died_by_itself")
                    self.server.kill()
                await self.server.start()
            if self.worker.died_by_itself():
                self._count("worker_died_by_itself")
                self.worker.kill()
            if not self.worker.alive():
                await asyncio.to_thread(self.worker.spawn)

    def stop(self) -> None:
        self._stopping = True
        self.inst.state.write_hook = None
        self._wake.set()


# ---------------------------------------------------------------- what to expect


@dataclass(frozen=True)
class PlannedWork:
    creates: int
    adds: int
    deletes: int

    @property
    def writes(self) -> int:
        return self.creates + self.adds + self.deletes


def planned_work(inst: Installation) -> PlannedWork:
    with inst.sessions() as session:
        creates = session.scalar(
            select(func.count()).select_from(Category).where(Category.is_protected.is_(False))
        )
        adds = session.scalar(
            select(func.count())
            .select_from(CategoryVideo)
            .join(Category, Category.id == CategoryVideo.category_id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .where(Category.is_protected.is_(False), Video.availability == "available")
        )
        deletes = session.scalar(select(func.count()).select_from(Playlist))
    return PlannedWork(int(creates or 0), int(adds or 0), int(deletes or 0))


def owner_saves(inst: Installation, rng: random.Random, count: int) -> list[Action]:
    """``count`` saves the owner makes during the job: each an available video, not in
    it yet, saved to a different old playlist."""
    with inst.sessions() as session:
        old = sorted(session.scalars(select(Playlist.youtube_id)))
    state = inst.state
    with state.lock:
        available = sorted(v.id for v in state.videos.values() if not v.deleted)
        held = {pid: {item.video_id for item in state.playlists[pid].items} for pid in old}
    actions = []
    for playlist_id in rng.sample(old, count):
        video_id = rng.choice([v for v in available if v not in held[playlist_id]])
        actions.append(Action("owner_save", playlist_id=playlist_id, video_id=video_id))
    return actions


def observed_faults(records: list[RequestRecord]) -> Counter[str]:
    """What YouTube refused by itself during the run (not injected by a rule)."""
    seen: Counter[str] = Counter()
    for r in records:
        if r.status == 401:
            seen["auth_401"] += 1
        elif r.status == 403 and r.units == 0:
            seen["quota_refused"] += 1
        elif r.status == 409 and r.fault is None:
            seen["conflict_409_after_create"] += 1
    return seen


def describe(counts: Counter[str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v)
