"""The ytsync worker: runs SyncWorkflow and its activities on the task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.sync import Clock, SyncActivities, wall_clock
from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow
from ytsync.config import Settings, load_settings
from ytsync.db.engine import make_engine, session_factory, upgrade
from ytsync.errors import UserError
from ytsync.temporal import connect

ACTIVITY_THREADS = 16


def build_worker(
    client: Client, settings: Settings, *, clock: Clock = wall_clock, **options: Any
) -> Worker:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    activities = SyncActivities(settings, session_factory(engine), clock=clock)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[SyncWorkflow, RestoreWorkflow],
        activities=activities.all(),
        activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
        **options,
    )


async def serve(settings: Settings) -> None:
    client = await connect(settings)
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info(
        "worker on task queue %s at %s, database %s",
        settings.task_queue,
        settings.temporal_address,
        settings.safe_database_url,
    )
    async with worker:
        await stop.wait()


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(load_settings()))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
