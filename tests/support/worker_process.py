"""A ytsync worker in its own process, on the time-skipping server's clock or the wall clock.

Tests SIGKILL it mid-batch, the way a machine dies, then start another, or SIGTERM it
the way a deploy does (it stops as ``ytsync-worker`` does).  Settings come from the
YTSYNC_* environment like the real worker (notifications and metrics included); the
server address from argv:

    python -m tests.support.worker_process HOST:PORT [--cached-workflows N]  # time-skipping server
    python -m tests.support.worker_process HOST:PORT --wall-clock            # a real (dev) server
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from google.protobuf.empty_pb2 import Empty
from temporalio.client import Client

from activities.metrics import TemporalMetrics
from ytsync.cli.worker import build_service, make_runtime, run_until_signalled, shutdown_grace
from ytsync.config import load_settings
from ytsync.logs import configure
from ytsync.metrics import NO_METRICS
from ytsync.sync.clock import Clock

# On a real server a dead worker's sticky queue holds its workflow tasks until this
# timeout passes, then they go to the normal queue: keep the hand-over short.
STICKY_TIMEOUT = timedelta(seconds=1)


async def main(target: str, wall: bool, cached_workflows: int = 0) -> None:
    settings = load_settings()
    configure(settings.log_format)
    runtime = make_runtime(settings.metrics_address)
    client = await Client.connect(target, runtime=runtime)
    metrics = TemporalMetrics(runtime.metric_meter) if runtime is not None else NO_METRICS
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
    service = build_service(
        client,
        settings,
        clock=clock,
        metrics=metrics,
        graceful_shutdown_timeout=shutdown_grace(settings),
        **options,
    )
    await run_until_signalled(service, ready=lambda: print("worker ready", flush=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--wall-clock", action="store_true")
    parser.add_argument("--cached-workflows", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.target, args.wall_clock, args.cached_workflows))
