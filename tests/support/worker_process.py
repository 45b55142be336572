"""A ytsync worker in its own process, on the time-skipping server's clock or the wall clock.

Tests SIGKILL it mid-batch, the way a machine dies, then start another.  Settings come
from the YTSYNC_* environment like the real worker; the server address from argv:

    python -m tests.support.worker_process HOST:PORT [--cached-workflows N]  # time-skipping server
    python -m tests.support.worker_process HOST:PORT --wall-clock            # a real (dev) server
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from google.protobuf.empty_pb2 import Empty
from temporalio.client import Client

from ytsync.cli.worker import build_worker
from ytsync.config import load_settings
from ytsync.sync.clock import Clock

# On a real server a dead worker's sticky queue holds its workflow tasks until this
# timeout passes, then they go to the normal queue: keep the hand-over short.
STICKY_TIMEOUT = timedelta(seconds=1)


async def main(target: str, wall: bool, cached_workflows: int = 0) -> None:
    client = await Client.connect(target)
    loop = asyncio.get_running_loop()

    def skipping_clock() -> datetime:
        future = asyncio.run_coroutine_threadsafe(
            client.test_service.get_current_time(Empty()), loop
        )
        return future.result(timeout=30).time.ToDatetime(tzinfo=UTC)

    # On a real server: the server's own clock, as in production.
    clock: Clock | None = None if wall else skipping_clock
    # No sticky queue on the time-skipping test server unless asked (bench/scale.py
    # caches): it never hands a dead worker's sticky workflow task back to the normal
    # queue, so a killed worker would strand the job.  The dev server does, after the
    # sticky timeout.
    options = (
        {"sticky_queue_schedule_to_start_timeout": STICKY_TIMEOUT}
        if wall
        else {"max_cached_workflows": cached_workflows}
    )
    async with build_worker(client, load_settings(), clock=clock, **options):
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--wall-clock", action="store_true")
    parser.add_argument("--cached-workflows", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.target, args.wall_clock, args.cached_workflows))
