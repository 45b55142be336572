"""Many small jobs at once: one worker, one channel per job.

    python bench/many_jobs.py [--jobs 100] [--writes 30] [--db sqlite|postgres] [--seed 1]

Setup (not timed): ``--jobs`` channels, each a small sample library sized for about
``--writes`` writes on its own account of one emulator (one address, accounts told
apart by their tokens, as on Google), its own database (a SQLite file, or a new
PostgreSQL database) and its own token file; each imported and planned.  A channels
file names them all.  A real ``temporal server start-dev`` runs as a subprocess (free
ports, headless, temp dir); the worker is ``python worker.py`` in its own process with
``YTSYNC_CHANNELS_FILE``, so its memory and CPU are its own.

Timed: every job started at once with ``ytsync.cli.jobctl.start_job`` (as ``starter.py
start`` would, per channel), until the last one finished.  Quota is unlimited.

Printed: jobs, total writes, wall time, writes/s, jobs/s, the worker's peak RSS
(VmHWM) and CPU, CPU per write (worker, and worker + Temporal server), history events
per job.  Nothing is asserted about speed.

PostgreSQL: every channel's database has its own connection pool in the worker, so 100
channels need a server with more than the default 100 connections (or fewer --jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit
from benchkit import figure, heading, timed
from sqlalchemy.orm import Session, sessionmaker

from ytsync.cli.jobctl import StartedJob, start_job
from ytsync.config import Settings
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox import sandbox

UNLIMITED_QUOTA = 10**9


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100, help="channels, one job each")
    parser.add_argument("--writes", type=int, default=30, help="about this many writes a job")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def proc_status(pid: int, key: str) -> float:
    """A ``/proc/PID/status`` field in MiB (VmHWM: peak RSS; VmRSS: now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class ChannelSetup:
    def __init__(self, name: str, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.name = name
        self.settings = settings
        self.sessions = sessions


def build_channels(
    args: argparse.Namespace, tmp: Path, server: EmulatorServer, stack: ExitStack
) -> tuple[list[ChannelSetup], list[EmulatorState]]:
    channels: list[ChannelSetup] = []
    states: list[EmulatorState] = []
    for index in range(args.jobs):
        name = f"ch{index:03d}"
        state, rows, _counts = benchkit.library_for_writes(
            args.writes,
            seed=args.seed * 1000 + index,
            videos_per_playlist=12,
            emulator=lambda: EmulatorState(daily_limit=None),
        )
        states.append(state)
        home = tmp / name
        home.mkdir()
        emulator = sandbox.start_emulator(state, home / "token.json", server=server)
        db = stack.enter_context(benchkit.fresh_database(args.db, home))
        settings = sandbox.settings_for(
            emulator, db.url, channel=name, daily_quota=UNLIMITED_QUOTA, quota_reserve=0
        )
        _engine, sessions = sandbox.prepare(settings, rows, home / "plan.csv")
        channels.append(ChannelSetup(name, settings, sessions))
    return channels, states


def start_worker(
    tmp: Path, address: str, queue: str, channels: list[ChannelSetup], server: EmulatorServer
) -> tuple[subprocess.Popen[bytes], Path]:
    """``python worker.py`` with a channels file naming every channel."""
    channels_file = tmp / "channels.json"
    channels_file.write_text(
        json.dumps(
            {
                "channels": {
                    c.name: {
                        "database_url": c.settings.database_url,
                        "token_file": str(c.settings.token_file),
                    }
                    for c in channels
                }
            },
            indent=2,
        )
    )
    env = {
        **os.environ,
        "YTSYNC_TEMPORAL_ADDRESS": address,
        "YTSYNC_TASK_QUEUE": queue,
        "YTSYNC_CHANNELS_FILE": str(channels_file),
        # The worker's own channel is never used here: it is not opened.
        "YTSYNC_DATABASE_URL": f"sqlite:///{tmp / 'own.db'}",
        "YTSYNC_YOUTUBE_API_ENDPOINT": server.base_url,
        "YTSYNC_OAUTH_TOKEN_URI": server.token_uri,
        "YTSYNC_DAILY_QUOTA": str(UNLIMITED_QUOTA),
        "YTSYNC_QUOTA_RESERVE": "0",
    }
    log_path = tmp / "worker.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, str(benchkit.ROOT / "worker.py")],
        cwd=benchkit.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    deadline = time.monotonic() + 60
    while b"worker on task queue" not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    return process, log_path


async def history_events(client: Any, started: StartedJob) -> tuple[int, int]:
    """(events, runs) of one job, along its continue-as-new chain."""
    events = runs = 0
    run_id: str | None = started.handle.first_execution_run_id or started.handle.run_id
    while run_id:
        history = await client.get_workflow_handle(
            started.workflow_id, run_id=run_id
        ).fetch_history()
        events += len(history.events)
        runs += 1
        last = history.events[-1]
        run_id = None
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return events, runs


async def main_async(args: argparse.Namespace) -> int:
    heading(f"many jobs: {args.jobs} channels x about {args.writes} writes, {args.db}")
    with benchkit.workdir("ytsync-bench-many-") as tmp, ExitStack() as stack:
        server = EmulatorServer(EmulatorState(daily_limit=None))  # account 0: unused
        server.start()
        stack.callback(server.stop)
        with timed() as elapsed:
            channels, states = build_channels(args, tmp, server, stack)
        figure("setup: libraries, imports, plans", elapsed(), "s")
        for state in states:
            state.clear_log()

        dev = stack.enter_context(benchkit.dev_server(tmp))
        client = await benchkit.connect_when_up(dev.address, dev.process)
        queue = f"ytsync-bench-{uuid.uuid4().hex[:8]}"
        worker, _log = start_worker(tmp, dev.address, queue, channels, server)
        try:
            rss_before = proc_status(worker.pid, "VmRSS")
            cpu_worker = benchkit.cpu_seconds(worker.pid)
            cpu_server = benchkit.cpu_seconds(dev.process.pid)
            now = datetime.now(UTC)
            with timed() as elapsed:
                started = await asyncio.gather(
                    *(
                        start_job(
                            c.settings.model_copy(update={"task_queue": queue}),
                            c.sessions,
                            client,
                            now=now,
                        )
                        for c in channels
                    )
                )
                results = await asyncio.gather(*(s.handle.result() for s in started))
            seconds = elapsed()
            cpu_worker = benchkit.cpu_seconds(worker.pid) - cpu_worker
            cpu_server = benchkit.cpu_seconds(dev.process.pid) - cpu_server
            peak_rss = proc_status(worker.pid, "VmHWM")
            threads = proc_status(worker.pid, "Threads") * 1024
            counted = [await history_events(client, s) for s in started]
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            for channel in channels:
                channel.sessions.kw["bind"].dispose()

    writes = sum(sum(benchkit.write_requests(s.requests()).values()) for s in states)
    duplicates = sum(len(s.find_duplicates()) for s in states)
    completed = sum(1 for r in results if r.stage == "completed")
    events = [e for e, _runs in counted]
    heading("results")
    figure("checkout", benchkit.checkout())
    figure("jobs (channels, one worker)", args.jobs)
    figure("jobs completed", completed)
    figure("total writes (emulator logs, 2xx)", writes)
    figure("  per job, mean", writes / max(args.jobs, 1))
    figure("playlists holding a duplicate", duplicates)
    figure("wall time, first start -> last result", seconds, "s")
    figure("writes/s", writes / seconds)
    figure("jobs/s", args.jobs / seconds)
    figure("worker RSS before the jobs", rss_before, "MiB")
    figure("worker peak RSS (VmHWM)", peak_rss, "MiB")
    figure("worker threads at the end", int(threads))
    figure("CPU s, worker process", cpu_worker, "s")
    figure("CPU s, Temporal dev server", cpu_server, "s")
    figure("CPU ms per write, worker", 1000 * cpu_worker / max(writes, 1), "ms")
    figure(
        "CPU ms per write, worker + Temporal",
        1000 * (cpu_worker + cpu_server) / max(writes, 1),
        "ms",
    )
    figure("history events per job, mean", statistics.fmean(events))
    figure("history events per job, min / max", f"{min(events)} / {max(events)}")
    figure("history events per write", sum(events) / max(writes, 1))
    figure("workflow runs (continue-as-new chains)", sum(r for _e, r in counted))
    return 0 if completed == args.jobs else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
