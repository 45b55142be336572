"""The channels one worker serves: each with its own database, token file and client;
channels signed in through one OAuth client share a quota ledger (ytsync.ledger).

A job names its channel in its workflow input (a name, never a secret); the worker
resolves the name here on first use and keeps the engine and the YouTube client for
the next activity.  Secrets stay in the worker's configuration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ytsync import ledger
from ytsync.config import Settings
from ytsync.db.engine import make_engine, session_factory, upgrade
from ytsync.metrics import NO_METRICS, Metrics
from ytsync.youtube.client import YouTube


class UnknownChannel(LookupError):
    """A job names a channel this worker has no configuration for."""


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Hooks:
    """What the worker lends every channel: where its metrics go, and how a step wakes
    the notification sender once it recorded a message (ytsync.notify)."""

    metrics: Metrics = NO_METRICS
    notified: Callable[[], None] = _nothing


@dataclass
class Channel:
    """What the activities of one channel's jobs share."""

    name: str
    settings: Settings
    sessions: sessionmaker[Session]
    engine: Engine | None = None
    # The signed-in client, made on first use and dropped when its sign-in fails.
    youtube: YouTube | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (job id, workflow id) pairs already checked against the job's row.
    owners: set[tuple[int, str]] = field(default_factory=set)
    # Job id -> when its progress row was last refreshed (time.monotonic()).
    progress_refreshed: dict[int, float] = field(default_factory=dict)
    hooks: Hooks = field(default_factory=Hooks)


class Channels:
    """Channel name -> ``Channel``, opened lazily (engine, schema upgrade) and cached.

    ``own`` is the channel of jobs whose input names none (started before there were
    channels): the worker's own ``YTSYNC_CHANNEL``.
    """

    def __init__(
        self,
        settings: Mapping[str, Settings],
        own: str,
        *,
        opened: Mapping[str, sessionmaker[Session]] | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        if own not in settings:
            raise ValueError(f"the worker's own channel {own!r} has no settings")
        self._settings = dict(settings)
        self.own = own
        self.hooks = hooks or Hooks()
        self._open: dict[str, Channel] = {
            name: Channel(name, self._settings[name], sessions, hooks=self.hooks)
            for name, sessions in (opened or {}).items()
        }
        self._lock = threading.Lock()

    @classmethod
    def single(cls, settings: Settings, sessions: sessionmaker[Session]) -> Channels:
        """One channel, already open: what a worker without a channels file serves."""
        return cls(
            {settings.channel: settings}, settings.channel, opened={settings.channel: sessions}
        )

    @property
    def names(self) -> list[str]:
        return sorted(self._settings)

    def settings_of(self, name: str) -> Settings:
        return self._settings[name]

    def opened(self) -> list[Channel]:
        """The channels opened so far (by a job's first step, or ``get``)."""
        with self._lock:
            return list(self._open.values())

    def get(self, name: str | None) -> Channel:
        """The channel called ``name`` (None: the worker's own), opened on first use."""
        key = self.own if name is None else name
        with self._lock:
            channel = self._open.get(key)
            if channel is not None:
                return channel
            settings = self._settings.get(key)
            if settings is None:
                known = ", ".join(repr(n) for n in self.names)
                raise UnknownChannel(
                    f"unknown channel {key!r}: this worker serves {known} "
                    "(see YTSYNC_CHANNEL and YTSYNC_CHANNELS_FILE)"
                )
            # Under the lock: two first activities of one channel open it once. Opening
            # is a connect and a schema check, once per channel for the worker's life.
            engine = make_engine(settings.database_url)
            try:
                upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
            channel = Channel(key, settings, session_factory(engine), engine, hooks=self.hooks)
            self._open[key] = channel
            return channel

    def close(self) -> None:
        with self._lock:
            for channel in self._open.values():
                if channel.engine is not None:
                    channel.engine.dispose()
            self._open.clear()
        # The ledgers charged in other channels' databases (channels of one OAuth client).
        ledger.close_shared()
