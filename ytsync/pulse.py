"""The worker's metrics pulse: every few seconds, the gauges of each open channel from
its database (ytsync.metrics.publish_channel), so the seconds to the quota reset and a
paused job's figures stay current while no step runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from ytsync.channels import Channels
from ytsync.metrics import Metrics, publish_channel

log = logging.getLogger("ytsync.metrics")

PULSE_SECONDS = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


class Pulse:
    def __init__(
        self,
        channels: Channels,
        metrics: Metrics,
        *,
        every: float = PULSE_SECONDS,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._channels = channels
        self._metrics = metrics
        self._every = every
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ytsync-metrics", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def beat(self) -> None:
        """Publish every open channel's gauges now."""
        for channel in self._channels.opened():
            try:
                with channel.sessions() as session:
                    publish_channel(
                        self._metrics, channel.name, session, channel.settings, self._clock()
                    )
            except Exception:
                log.warning("metrics of channel %s: cannot read them", channel.name, exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat()
            self._stop.wait(self._every)
