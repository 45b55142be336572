"""ytsync installed on the emulator, the way a user installs it on YouTube.

The one place that does it, for the tests (``tests.support.harness``), the demo and the
benchmarks: a sample library on the emulator, the token file a sign-in would write, the
settings pointing at the emulator, a migrated database, the import, and a plan written
and applied.  Each step is a function of its own for callers that do them one by one
(the demo prints between them); ``install`` does them all.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ytsync.config import Settings
from ytsync.db.engine import make_engine, session_factory, upgrade
from ytsync.importer import import_library
from ytsync.plan import apply_plan
from ytsync_emulator.credentials import issue_token_file
from ytsync_emulator.quota import QuotaPeriods
from ytsync_emulator.sample import generate_library, sample_plan_rows
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import EmulatorState

# A plan row: (category, video id, protected).
Row = tuple[str, str, bool]


# --------------------------------------------------------------------------- the emulator


def sample_library(
    *,
    videos: int = 300,
    playlists: int = 8,
    seed: int = 1,
    unavailable_fraction: float = 0.01,
    clock: Callable[[], datetime] | None = None,
    daily_limit: int | None = 10_000,
    period_seconds: int | None = None,
    state_seed: int = 0,
    **state_options: Any,
) -> EmulatorState:
    """A new emulated account holding a generated library.

    ``seed`` makes the library, ``state_seed`` the ids the emulator hands out later and
    its faults; ``period_seconds``: quota periods that long instead of a Pacific day
    (demos, tests); ``state_options``: any other ``EmulatorState`` option.
    """
    if period_seconds:
        state_options["quota_clock"] = QuotaPeriods(period_seconds=period_seconds)
    state = EmulatorState(clock=clock, daily_limit=daily_limit, seed=state_seed, **state_options)
    generate_library(
        state,
        videos=videos,
        playlists=playlists,
        seed=seed,
        unavailable_fraction=unavailable_fraction,
    )
    return state


@dataclass
class Emulator:
    """A served account and the token file ytsync signs in with."""

    state: EmulatorState
    server: EmulatorServer
    token_file: Path

    @property
    def endpoint(self) -> str:
        return self.server.base_url

    @property
    def token_uri(self) -> str:
        return self.server.token_uri

    def sign_in_again(self) -> None:
        """What a user does after auth_required: new credentials in the token file."""
        issue_token_file(self.state, self.token_file, base_url=self.server.base_url)


def start_emulator(
    state: EmulatorState, token_file: Path, *, server: EmulatorServer | None = None
) -> Emulator:
    """Serve ``state`` and write ``token_file`` (mode 0600) for it.

    ``server``: serve it as one more account (channel) of a running emulator, as Google
    serves every channel on one address; else a new server on a free port.  The caller
    stops a server this starts (``Emulator.server.stop()``), or uses ``running_emulator``.
    """
    if server is None:
        server = EmulatorServer(state)
        server.start()
    else:
        server.add_account(state)
    token = issue_token_file(state, token_file, base_url=server.base_url)
    return Emulator(state, server, token)


@contextmanager
def running_emulator(state: EmulatorState, token_file: Path) -> Iterator[Emulator]:
    """``start_emulator`` on a new server, stopped at the end."""
    emulator = start_emulator(state, token_file)
    try:
        yield emulator
    finally:
        emulator.server.stop()


# --------------------------------------------------------------------------- ytsync


def emulator_settings(
    endpoint: str, token_uri: str, token_file: Path, database_url: str, **fields: Any
) -> Settings:
    """ytsync's settings for an emulator at ``endpoint``; ``fields`` set the rest."""
    return Settings(
        database_url=database_url,
        youtube_api_endpoint=endpoint,
        token_file=token_file,
        oauth_token_uri=token_uri,
        **fields,
    )


def settings_for(emulator: Emulator, database_url: str, **fields: Any) -> Settings:
    return emulator_settings(
        emulator.endpoint, emulator.token_uri, emulator.token_file, database_url, **fields
    )


# What a process needs to reach the sandbox: the database, the emulator and the token.
SANDBOX_FIELDS = ("database_url", "youtube_api_endpoint", "token_file", "oauth_token_uri")


def settings_env(settings: Settings, *fields: str) -> dict[str, str]:
    """The ``YTSYNC_*`` variables that give a process started with them (a worker,
    ``starter.py``) these ``settings``' values of ``fields`` (default ``SANDBOX_FIELDS``)."""
    return {
        f"YTSYNC_{name.upper()}": str(getattr(settings, name)) for name in fields or SANDBOX_FIELDS
    }


def open_database(database_url: str) -> tuple[Engine, sessionmaker[Session]]:
    """The database migrated to the newest schema, and sessions on it."""
    engine = make_engine(database_url)
    upgrade(engine)
    return engine, session_factory(engine)


def write_plan(path: Path, rows: list[Row]) -> Path:
    """A plan file (``category,video_id,protected``) as ``starter.py plan`` reads it."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "video_id", "protected"])
        for category, video_id, protected in rows:
            writer.writerow([category, video_id, "true" if protected else "false"])
    return path


def prepare(
    settings: Settings, rows: list[Row], plan_file: Path
) -> tuple[Engine, sessionmaker[Session]]:
    """A migrated database, the library imported into it and ``rows`` written to
    ``plan_file`` and applied: ready for ``starter.py preview`` and ``start``."""
    engine, sessions = open_database(settings.database_url)
    import_library(settings, sessions)
    apply_plan(sessions, write_plan(plan_file, rows))
    return engine, sessions


# --------------------------------------------------------------------------- all of it


@dataclass
class Installation:
    """ytsync installed on an emulated account: imported, and planned unless asked not."""

    state: EmulatorState
    server: EmulatorServer
    settings: Settings
    sessions: sessionmaker[Session]
    plan_rows: list[Row]
    tmp: Path

    def write_plan(self, rows: list[Row] | None = None) -> Path:
        path = self.tmp / f"plan-{uuid.uuid4().hex[:6]}.csv"
        return write_plan(path, rows or self.plan_rows)

    def sign_in_again(self) -> None:
        """What a user does after auth_required: new credentials in the token file."""
        issue_token_file(self.state, self.settings.token_file, base_url=self.server.base_url)


def install(
    tmp: Path,
    database_url: str,
    clock: Callable[[], datetime] | None = None,
    *,
    videos: int = 300,
    playlists: int = 8,
    seed: int = 1,
    daily_quota: int = 10_000,
    quota_reserve: int = 1_000,
    emulator_limit: int | None = None,
    period_seconds: int | None = None,
    plan: bool = True,
    server: EmulatorServer | None = None,
    channel: str | None = None,
    unavailable_fraction: float = 0.01,
    settle_seconds: float = 1.0,
    **state_options: Any,
) -> Installation:
    """A library on the emulator, imported into ``database_url``, with the sample plan.

    ``tmp``: where the token file and plans go; ``clock``: the time of the emulator and
    the import (default the wall clock); ``emulator_limit``: the emulator's quota (None:
    unlimited) apart from ytsync's ``daily_quota``; ``server``: one more account of a
    running emulator; ``channel``: the settings' channel.  ``state_options``: any other
    ``EmulatorState`` option.
    """
    # Short, for a real clock: the emulator's lists lag behind writes by less than
    # ytsync waits before judging them (``settle_seconds``; tests of the lag make both
    # longer), by a lag that differs per list call but stays within the settle (lags
    # past it are their own tests' subject).
    state_options.setdefault("list_lag_seconds", 0.5)
    state_options.setdefault("list_lag_jitter_seconds", 0.4)
    state = sample_library(
        videos=videos,
        playlists=playlists,
        seed=seed,
        unavailable_fraction=unavailable_fraction,
        clock=clock,
        daily_limit=emulator_limit,
        period_seconds=period_seconds,
        **state_options,
    )
    emulator = start_emulator(state, tmp / "token.json", server=server)
    fields: dict[str, Any] = {"settle_seconds": settle_seconds}
    if period_seconds:
        fields["quota_period_seconds"] = period_seconds
    if channel is not None:
        fields["channel"] = channel
    settings = settings_for(
        emulator,
        database_url,
        task_queue=f"ytsync-test-{uuid.uuid4().hex[:8]}",
        daily_quota=daily_quota,
        quota_reserve=quota_reserve,
        **fields,
    )
    _engine, sessions = open_database(database_url)
    if clock is None:
        import_library(settings, sessions)
    else:
        import_library(settings, sessions, now=clock)
    rows = sample_plan_rows(state, seed)
    inst = Installation(state, emulator.server, settings, sessions, rows, tmp)
    if plan:
        apply_plan(sessions, inst.write_plan())
    return inst
