"""The ytsync worker: runs SyncWorkflow and its activities on the task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.sync import Clock, SyncActivities, wall_clock
from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow
from ytsync.config import Settings, load_settings
from ytsync.db.engine import make_engine, session_factory, upgrade
from ytsync.errors import UserError
from ytsync.logs import configure as configure_logging
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


def make_runtime(metrics_address: str | None) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics, when an address is set."""
    if not metrics_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address))
    )


async def serve(settings: Settings) -> None:
    client = await connect(settings, runtime=make_runtime(settings.metrics_address))
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info(
        "worker on task queue %s at %s, database %s, metrics %s",
        settings.task_queue,
        settings.temporal_address,
        settings.safe_database_url,
        f"http://{settings.metrics_address}/metrics" if settings.metrics_address else "off",
    )
    async with worker:
        await stop.wait()


def main() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log_format)
        asyncio.run(serve(settings))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
