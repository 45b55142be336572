"""The worker's notification sender: a thread that delivers the outbox of every channel
it has opened.

It wakes when a step recorded a message (``wake``), scans at start and every
``scan_seconds`` (what a killed worker left, retries that came due), claims each row
before sending it, and gives up on a message after ``attempts`` tries, with a log
line.  A job never waits for it: the steps only record.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from ytsync.channels import Channel, Channels
from ytsync.db.engine import transaction
from ytsync.notify import outbox
from ytsync.notify.service import Notifier, Sent

log = logging.getLogger("ytsync.notify")

# Waits before the 2nd, 3rd, 4th try of a message; then it is given up.
BACKOFF = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5))
SCAN_SECONDS = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


class Sender:
    def __init__(
        self,
        channels: Channels,
        *,
        backoff: Sequence[timedelta] = BACKOFF,
        scan_seconds: float = SCAN_SECONDS,
        clock: Callable[[], datetime] = _now,
        wake: threading.Event | None = None,
    ) -> None:
        """``wake``: the event the channels' steps set (``Hooks.notified``) when they
        recorded a message."""
        self._channels = channels
        self._backoff = list(backoff)
        self._scan_seconds = scan_seconds
        self._clock = clock
        self._wake = wake or threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notifiers: dict[str, Notifier] = {}

    def wake(self) -> None:
        """A message was recorded: deliver it now (any thread)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ytsync-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        # What a killed worker left behind may sit in a channel no job has opened yet.
        for name in self._channels.names:
            if self._channels.settings_of(name).notify is not None:
                try:
                    self._channels.get(name)
                except Exception as exc:
                    log.warning("notifications of channel %s: cannot open it: %s", name, exc)
        wait = self.deliver_due()
        for channel in self._channels.opened():
            if channel.settings.notify is not None:
                log.info("notifications of channel %s: on (outbox checked)", channel.name)
        while not self._stop.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            wait = self.deliver_due()

    def deliver_due(self) -> float:
        """Send what is due on every open channel; the seconds until the next scan."""
        wait = self._scan_seconds
        for channel in self._channels.opened():
            if self._stop.is_set():
                break
            try:
                wait = min(wait, self._deliver(channel))
            except Exception:
                # A database that is down for a while: the next scan tries again.
                log.warning(
                    "notifications of channel %s: delivery failed", channel.name, exc_info=True
                )
        log.debug("notification outbox scanned")
        return max(wait, 0.05)

    def _deliver(self, channel: Channel) -> float:
        notify = channel.settings.notify
        if notify is None:
            return self._scan_seconds
        notifier = self._notifier(channel.name, notify.get_secret_value())
        with channel.sessions() as session:
            rows = outbox.due(session, self._clock())
            session.expunge_all()
        for row in rows:
            with transaction(channel.sessions) as session:
                if not outbox.claim(session, row, self._clock()):
                    continue  # another worker has it
            sent = self._send(notifier, row.title, row.body)
            retry_at = None
            if not sent.ok and row.attempts < len(self._backoff):
                retry_at = self._clock() + self._backoff[row.attempts]
            with transaction(channel.sessions) as session:
                outbox.finish(session, row, self._clock(), sent=sent.ok, retry_at=retry_at)
            self._log(channel.name, row.job_id, row.event, row.attempts + 1, sent, retry_at)
        with channel.sessions() as session:
            upcoming = outbox.next_due(session)
        if upcoming is None:
            return self._scan_seconds
        return (upcoming - self._clock()).total_seconds()

    def _notifier(self, channel: str, urls: str) -> Notifier:
        notifier = self._notifiers.get(channel)
        if notifier is None:
            where = (
                "YTSYNC_NOTIFY" if channel == self._channels.own else f"channel {channel}: notify"
            )
            notifier = self._notifiers[channel] = Notifier(urls, where)
        return notifier

    @staticmethod
    def _send(notifier: Notifier, title: str, body: str) -> Sent:
        try:
            return notifier.send(title, body)
        except Exception as exc:
            return Sent(False, len(notifier.schemes), [f"{type(exc).__name__}: {exc}"])

    @staticmethod
    def _log(
        channel: str, job_id: int, event: str, attempt: int, sent: Sent, retry_at: datetime | None
    ) -> None:
        what = f"notification {event} of job {job_id} (channel {channel})"
        if sent.ok:
            log.info("%s sent to %d service(s)", what, sent.services)
            return
        why = "; ".join(sent.problems) or "no service accepted it"
        if retry_at is not None:
            log.info("%s not sent (try %d: %s); trying again at %s", what, attempt, why, retry_at)
        else:
            log.warning("%s not sent after %d tries, given up: %s", what, attempt, why)
