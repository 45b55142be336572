"""How fast a pause takes effect: what `status` shows, and when the writes stop.

    python bench/pause_latency.py [--kill] [--latency-ms 300] [--videos 500]
        [--heartbeat-timeout 60] [--db sqlite|postgres] [--at 40]

A sample library on the emulator (in this process), each insert answered
``--latency-ms`` later as YouTube does, planned into five categories of about 80 videos;
a real ``temporal server start-dev`` and a worker in a process of its own
(``tests.support.worker_process``); one job with 4 lanes.  After the ``--at``-th insert,
``starter.py pause`` runs (in this process, as the CLI does); with ``--kill`` the worker
is SIGKILLed right after it and started again.  Then ``status --json`` is polled until
it shows the request (``pause_requested_at``, or ``stage`` paused on a ytsync without
it) and until ``stage`` is ``paused``; the emulator's request log tells when the last
write started.  Finally ``resume``, and the library is checked.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import threading
import time
from contextlib import redirect_stdout
from datetime import datetime
from pathlib import Path
from typing import Any

import benchkit
from benchkit import figure, heading
from temporalio.client import Client

from tests.support.faultkit import DevServerProcess, WorkerProcess, wall_clock, worker_environ
from ytsync.cli.app import main as cli_main
from ytsync.cli.jobctl import start_job
from ytsync.devserver import free_ports
from ytsync.plan import apply_plan
from ytsync_emulator.state import WriteVerdict
from ytsync_sandbox.invariants import assert_library_as_planned
from ytsync_sandbox.sandbox import Installation, install

LANES = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kill", action="store_true", help="SIGKILL the worker after pause")
    parser.add_argument("--latency-ms", type=int, default=300, help="per insert")
    parser.add_argument("--videos", type=int, default=500)
    parser.add_argument("--heartbeat-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--at", type=int, default=40, help="pause after this many inserts")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def cli(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli_main(list(argv))
    if code != 0:
        raise RuntimeError(f"starter.py {' '.join(argv)} exited with {code}: {out.getvalue()}")
    return out.getvalue()


def status() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cli("status", "--json"))
    return data


def since(start: datetime) -> float:
    return (wall_clock() - start).total_seconds()


class Inserts:
    """The emulator's write hook: sets ``reached`` at the ``at``-th insert."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.count = 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def hook(self, method: str) -> WriteVerdict:
        if method == "playlistItems.insert":
            with self._lock:
                self.count += 1
                if self.count >= self.at:
                    self.reached.set()
        return "answer"


async def poll(check: Any, what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up after {limit:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace, inst: Installation, db_url: str, tmp: Path) -> None:
    rows = [(f"Lane {n % (LANES + 1)}", v, False) for n, (_, v, _) in enumerate(inst.plan_rows)]
    apply_plan(inst.sessions, inst.write_plan(rows))
    inst.state.write_latency = args.latency_ms / 1000
    inserts = Inserts(args.at)
    server = DevServerProcess(tmp / "temporal.db", tmp / "temporal.log", free_ports(1)[0])
    worker = WorkerProcess(server.address, worker_environ(inst, db_url), tmp)
    os.environ.update(
        YTSYNC_DATABASE_URL=db_url,
        YTSYNC_TEMPORAL_ADDRESS=server.address,
        YTSYNC_TASK_QUEUE=inst.settings.task_queue,
    )
    try:
        await server.start()
        await asyncio.to_thread(worker.spawn)
        inst.state.write_hook = inserts.hook
        client = await Client.connect(server.address)
        started = await start_job(
            inst.settings,
            inst.sessions,
            client,
            now=wall_clock(),
            lanes=LANES,
            heartbeat_timeout_seconds=args.heartbeat_timeout,
        )
        await poll(inserts.reached.is_set, "the first inserts", 120)

        asked = wall_clock()
        await asyncio.to_thread(cli, "pause")
        returned = since(asked)
        respawn = None
        if args.kill:
            worker.kill()
            respawn = asyncio.create_task(asyncio.to_thread(worker.spawn))
        shown: list[float] = []

        def requested() -> bool:
            data = status()
            if data.get("pause_requested_at") or data["stage"] == "paused":
                shown.append(since(asked))
                return True
            return False

        await poll(requested, "status to show the pause", 300)
        if respawn is not None:
            await respawn
        await poll(lambda: status()["stage"] == "paused", "the job to show paused", 600)
        paused = since(asked)
        writes = [
            r
            for r in inst.state.requests()
            if r.method in benchkit.WRITE_METHODS and r.time >= asked
        ]
        heading(
            f"pause during add_videos ({args.db}, inserts answered in {args.latency_ms} ms, "
            f"heartbeat timeout {args.heartbeat_timeout:g} s"
            + (", worker SIGKILLed after pause)" if args.kill else ")")
        )
        figure("inserts before the pause", inserts.count - len(writes))
        figure("pause command took", returned, "s")
        figure("status showed the request after", shown[0], "s")
        figure("writes started after the pause", len(writes))
        last = max((r.time for r in writes), default=None)
        figure(
            "the last of them started after",
            (last - asked).total_seconds() if last else "-",
            "s" if last else "",
        )
        figure("status showed paused after", paused, "s")

        await asyncio.to_thread(cli, "resume")
        await asyncio.wait_for(started.handle.result(), timeout=600)
        figure("invariants checked after the resume", assert_library_as_planned(inst))
    finally:
        inst.state.write_hook = None
        worker.kill()
        server.kill()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"checkout {benchkit.checkout()}")
    with benchkit.workdir("ytsync-pause-") as tmp, benchkit.fresh_database(args.db, tmp) as db:
        inst = install(
            tmp,
            db.url,
            wall_clock,
            videos=args.videos,
            playlists=6,
            seed=args.seed,
            daily_quota=1_000_000,
            emulator_limit=None,
            plan=False,
        )
        try:
            asyncio.run(run(args, inst, db.url, tmp))
        finally:
            inst.server.stop()


if __name__ == "__main__":
    main()
