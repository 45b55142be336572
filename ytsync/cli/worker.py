"""The ytsync worker (`python worker.py`): runs the job workflows and their activities on
the task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.organize import OrganizeActivities
from activities.sync import SyncActivities
from activities.visibility import SearchAttributeCheck
from workflows.organize import OrganizeWorkflow
from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow
from ytsync.channels import Channels
from ytsync.cli.hints import with_hint
from ytsync.config import Settings, load_channels, load_environment
from ytsync.db.engine import check_sqlite_file, make_engine, session_factory, upgrade
from ytsync.errors import UserError
from ytsync.logs import configure as configure_logging
from ytsync.logs import mask
from ytsync.safetext import visible
from ytsync.sync.clock import Clock
from ytsync.temporal import connect

ACTIVITY_THREADS = 16
# A batch hears of its cancellation (a user's pause) only in the answer to a heartbeat,
# and the SDK sends a batch's heartbeats at most this often (default: 80% of the
# heartbeat timeout, 48 s).  One small call a second per running batch.
HEARTBEAT_THROTTLE = timedelta(seconds=1)
SETUP_HINT = "run `python starter.py temporal setup`"


def build_worker(
    client: Client,
    settings: Settings,
    *,
    clock: Clock | None = None,
    channels: Mapping[str, Settings] | None = None,
    search_attributes: SearchAttributeCheck | None = None,
    **options: Any,
) -> Worker:
    """A worker for the channel of ``settings`` (its environment) and for ``channels``
    (default: those of ``settings.channels_file``), each opened on its first job.
    ``search_attributes``: how the worker finds out what its namespace has (default:
    it asks the server with ``client``).

    Without more channels, the worker's own database is opened (and upgraded) now, so
    a bad one stops the worker at start, as it always did.
    """
    served = dict(channels) if channels is not None else load_channels(settings)
    served.setdefault(settings.channel, settings)
    opened = {}
    if len(served) == 1:
        engine = make_engine(settings.database_url)
        upgrade(engine)
        opened[settings.channel] = session_factory(engine)
    registry = Channels(served, settings.channel, opened=opened)
    activities = SyncActivities(registry, clock=clock)
    organize = OrganizeActivities(registry, clock=clock)
    check = search_attributes or SearchAttributeCheck(client, way_out=SETUP_HINT)
    options.setdefault("max_heartbeat_throttle_interval", HEARTBEAT_THROTTLE)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[SyncWorkflow, RestoreWorkflow, OrganizeWorkflow],
        activities=[*activities.all(), *organize.all(), check.usable_search_attributes],
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


async def serve(settings: Settings, channels: Mapping[str, Settings]) -> None:
    client = await connect(settings, runtime=make_runtime(settings.metrics_address))
    worker = build_worker(client, settings, channels=channels)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    config = client.service_client.config
    logging.info(
        "worker on task queue %s at %s (namespace %s, %s), %d channel(s), metrics %s",
        settings.task_queue,
        config.target_host,
        client.namespace,
        "TLS" if config.tls else "no TLS",
        len(channels),
        f"http://{settings.metrics_address}/metrics" if settings.metrics_address else "off",
    )
    for name, channel in sorted(channels.items()):
        # The database URL without its password; token files are paths, not tokens.
        own = " (own)" if name == settings.channel else ""
        logging.info("channel %s%s: database %s", name, own, channel.safe_database_url)
    async with worker:
        await stop.wait()


def main() -> int:
    try:
        # The environment (this worker's own channel) and the channels file, checked
        # before anything starts: a bad one is exit code 2.
        settings = load_environment()
        channels = load_channels(settings)
        for channel in (settings, *channels.values()):
            # A SQLite file that is a device, a FIFO or no database: before Temporal.
            check_sqlite_file(channel.database_url)
        configure_logging(settings.log_format)
        asyncio.run(serve(settings, channels))
    except UserError as exc:
        print(f"error: {visible(mask(with_hint(exc)))}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"error: {visible(mask(with_hint(exc)))}", file=sys.stderr)
        return 1
    return 0
