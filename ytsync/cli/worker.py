"""The ytsync worker (`ytsync-worker`, or `python worker.py`): runs the job workflows
and their activities on the task queue, and beside them the notification sender and
the metrics pulse."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.metrics import TemporalMetrics
from activities.organize import OrganizeActivities
from activities.sync import SyncActivities
from activities.visibility import SearchAttributeCheck
from workflows.organize import OrganizeWorkflow
from workflows.restore import RestoreWorkflow
from workflows.sync import SyncWorkflow
from ytsync.channels import Channels, Hooks
from ytsync.cli.exiting import exit_now
from ytsync.cli.hints import with_hint
from ytsync.config import Settings, load_channels, load_environment
from ytsync.db.engine import check_sqlite_file, make_engine, session_factory, upgrade
from ytsync.errors import UserError
from ytsync.logs import configure as configure_logging
from ytsync.logs import mask
from ytsync.metrics import NO_METRICS, Metrics
from ytsync.notify.sender import Sender
from ytsync.notify.service import Notifier
from ytsync.pulse import Pulse
from ytsync.safetext import visible
from ytsync.sync.clock import Clock
from ytsync.temporal import connect

ACTIVITY_THREADS = 16
# A batch hears of its cancellation (a user's pause) only in the answer to a heartbeat,
# and the SDK sends a batch's heartbeats at most this often (default: 80% of the
# heartbeat timeout, 48 s).  One small call a second per running batch.
HEARTBEAT_THROTTLE = timedelta(seconds=1)
SETUP_HINT = "run `python starter.py temporal setup`"
# On SIGTERM a batch stops at its next write; the write in flight may take up to the
# request timeout.  Past this grace beyond it, running activities are cancelled.
SHUTDOWN_MARGIN_SECONDS = 15.0


class Service:
    """A worker and what runs beside it, started and stopped together."""

    def __init__(
        self, worker: Worker, channels: Channels, sender: Sender | None, pulse: Pulse | None
    ) -> None:
        self.worker = worker
        self.channels = channels
        self.sender = sender
        self.pulse = pulse

    async def __aenter__(self) -> Service:
        await self.worker.__aenter__()
        for part in (self.sender, self.pulse):
            if part is not None:
                part.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.worker.__aexit__(*exc)  # type: ignore[arg-type]
        finally:
            for part in (self.sender, self.pulse):
                if part is not None:
                    await asyncio.to_thread(part.stop)


def build_service(
    client: Client,
    settings: Settings,
    *,
    clock: Clock | None = None,
    channels: Mapping[str, Settings] | None = None,
    search_attributes: SearchAttributeCheck | None = None,
    metrics: Metrics = NO_METRICS,
    sender: Callable[[Channels, threading.Event], Sender] | None = None,
    **options: Any,
) -> Service:
    """A worker for the channel of ``settings`` (its environment) and for ``channels``
    (default: those of ``settings.channels_file``), each opened on its first job.
    ``search_attributes``: how the worker finds out what its namespace has (default:
    it asks the server with ``client``).  ``metrics``: where ytsync's metrics go.
    ``sender``: makes the notification sender (default: ``Sender`` as it ships), run
    when a channel has notifications on.

    Without more channels, the worker's own database is opened (and upgraded) now, so
    a bad one stops the worker at start, as it always did; so do notification URLs
    that Apprise cannot use.
    """
    served = dict(channels) if channels is not None else load_channels(settings)
    served.setdefault(settings.channel, settings)
    check_notify(served, settings.channel)
    opened = {}
    if len(served) == 1:
        engine = make_engine(settings.database_url)
        upgrade(engine)
        opened[settings.channel] = session_factory(engine)
    wake = threading.Event()
    registry = Channels(
        served, settings.channel, opened=opened, hooks=Hooks(metrics=metrics, notified=wake.set)
    )
    activities = SyncActivities(registry, clock=clock)
    organize = OrganizeActivities(registry, clock=clock)
    check = search_attributes or SearchAttributeCheck(client, way_out=SETUP_HINT)
    options.setdefault("max_heartbeat_throttle_interval", HEARTBEAT_THROTTLE)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[SyncWorkflow, RestoreWorkflow, OrganizeWorkflow],
        activities=[*activities.all(), *organize.all(), check.usable_search_attributes],
        activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS),
        max_concurrent_activities=ACTIVITY_THREADS,
        **options,
    )
    notifying = any(channel.notify is not None for channel in served.values())
    make_sender = sender or (lambda channels, wake: Sender(channels, wake=wake))
    return Service(
        worker,
        registry,
        make_sender(registry, wake) if notifying else None,
        Pulse(registry, metrics) if metrics is not NO_METRICS else None,
    )


def build_worker(client: Client, settings: Settings, **kwargs: Any) -> Worker:
    """The worker of ``build_service`` alone (no notification sender, no pulse)."""
    return build_service(client, settings, **kwargs).worker


def shutdown_grace(settings: Settings) -> timedelta:
    """How long a stopping worker lets its batches finish their write in flight."""
    return timedelta(seconds=settings.youtube_timeout_seconds + SHUTDOWN_MARGIN_SECONDS)


def check_notify(channels: Mapping[str, Settings], own: str) -> None:
    """Every channel's notification URLs are ones Apprise can use (UserError if not)."""
    for name, channel in sorted(channels.items()):
        if channel.notify is not None:
            where = "YTSYNC_NOTIFY" if name == own else f"channel {name}: notify"
            Notifier(channel.notify.get_secret_value(), where)


def make_runtime(metrics_address: str | None) -> Runtime | None:
    """A Temporal runtime that serves Prometheus metrics, when an address is set."""
    if not metrics_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_address))
    )


async def run_until_signalled(
    service: Service,
    ready: Callable[[], None] | None = None,
    announce: Callable[[], None] | None = None,
) -> None:
    """Run ``service`` until SIGTERM or SIGINT, then stop it cleanly: running batches
    stop at their next write, hand their lanes over and return.  A second signal ends
    the process at once.  ``announce`` runs once the signals are handled, ``ready``
    once the worker polls."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    grace = service.worker.config().get("graceful_shutdown_timeout") or timedelta(0)

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logging.warning("second %s: stopping at once", signal.Signals(signum).name)
            exit_now(128 + signum)
        logging.info(
            "%s: stopping; running batches stop at their next write and hand their lanes "
            "to another worker (at most %.0f s; signal again to stop at once)",
            signal.Signals(signum).name,
            grace.total_seconds(),
        )
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    if announce is not None:
        announce()
    async with service:
        if ready is not None:
            ready()
        await stop.wait()
    logging.info("worker stopped")


async def serve(settings: Settings, channels: Mapping[str, Settings]) -> None:
    runtime = make_runtime(settings.metrics_address)
    client = await connect(settings, runtime=runtime)
    metrics = TemporalMetrics(runtime.metric_meter) if runtime is not None else NO_METRICS
    service = build_service(
        client,
        settings,
        channels=channels,
        metrics=metrics,
        graceful_shutdown_timeout=shutdown_grace(settings),
    )
    await run_until_signalled(service, announce=lambda: _announce(settings, channels, client))


def _announce(settings: Settings, channels: Mapping[str, Settings], client: Client) -> None:
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
        # The database URL without its password; token files are paths, not tokens;
        # of notification URLs only how many.
        own = " (own)" if name == settings.channel else ""
        urls = channel.notify.get_secret_value() if channel.notify else ""
        notify = re.findall(r"[^\s,;]+", urls)
        logging.info(
            "channel %s%s: database %s, notifications %s",
            name,
            own,
            channel.safe_database_url,
            f"on ({len(notify)} URL(s))" if notify else "off",
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ytsync-worker",
        description=(
            "Run the ytsync worker: the sync jobs' workflows and activities on the task "
            "queue. Configured by the YTSYNC_* and TEMPORAL_* environment (see the "
            "README's Configuration). SIGTERM or Ctrl-C stops it cleanly; a second one "
            "at once."
        ),
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    parse_args(argv)
    try:
        # The environment (this worker's own channel) and the channels file, checked
        # before anything starts: a bad one is exit code 2.
        settings = load_environment()
        channels = load_channels(settings)
        for channel in (settings, *channels.values()):
            # A SQLite file that is a device, a FIFO or no database: before Temporal.
            check_sqlite_file(channel.database_url)
        configure_logging(settings.log_format)
        check_notify(channels, settings.channel)
        asyncio.run(serve(settings, channels))
    except UserError as exc:
        print(f"error: {visible(mask(with_hint(exc)))}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"error: {visible(mask(with_hint(exc)))}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """The ``ytsync-worker`` command."""
    exit_now(main())
