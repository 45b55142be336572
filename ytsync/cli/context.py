"""What every command gets: settings, a lazily upgraded database, and the consoles."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ytsync.cli.hints import with_hint
from ytsync.config import Settings, load_settings
from ytsync.errors import JobConflict, UserError
from ytsync.logs import mask

if TYPE_CHECKING:
    # Only the commands that start a job load the Temporal client.
    from rich.console import Console
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker
    from temporalio.client import Client

    from ytsync.cli.jobctl import StartedJob


class Context:
    def __init__(
        self,
        given_settings: Settings | None = None,
        out: Console | None = None,
        err: Console | None = None,
    ) -> None:
        # None: read from the environment on first use, so commands that need no
        # settings (demo, dev-server) are not stopped by a bad YTSYNC_* variable.
        self.given_settings = given_settings
        # None: made on first use; 'status --json' never loads rich.
        self._out = out
        self._err = err
        # Only a command that fills a database (import) may create a SQLite file: for
        # any other, a missing one is a mistyped path, refused (ytsync.db.engine).
        self.creates_database = False

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = _safe_console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = _safe_console(stderr=True)
        return self._err

    @cached_property
    def settings(self) -> Settings:
        return self.given_settings or load_settings()

    @cached_property
    def engine(self) -> Engine:
        # Here, not at the top: SQLAlchemy takes longer to import than 'status --json'
        # with no job takes to answer (see ytsync.db.peek).
        from ytsync.db.engine import make_engine, upgrade

        engine = make_engine(self.settings.database_url, create=self.creates_database)
        upgrade(engine)
        return engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        from ytsync.db.engine import session_factory

        return session_factory(self.engine)

    def print_json(self, data: Any) -> None:
        # Plain stdout, not rich: scripts parse it, so no wrapping or colour.
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _safe_console(*, stderr: bool) -> Console:
    # SafeConsole: text from YouTube or a plan shows its control characters escaped.
    from ytsync.cli.console import SafeConsole

    return SafeConsole(stderr=stderr, highlight=False)


def confirmed(question: str, what: str) -> bool:
    """Ask on a terminal; without one, demand --yes rather than guess."""
    if not sys.stdin.isatty():
        raise UserError(f"confirmation needed: run again with --yes to start the {what}")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def launch(
    ctx: Context, start: Callable[[Client], Awaitable[StartedJob]], json: bool, noun: str
) -> int:
    """Connect, start a job, and say so; another active job is exit code 1."""
    import asyncio

    from ytsync.temporal import connect

    async def go() -> StartedJob:
        return await start(await connect(ctx.settings))

    try:
        started = asyncio.run(go())
    except JobConflict as exc:
        ctx.err.print(f"error: {mask(with_hint(exc))}", markup=False)
        return 1
    if json:
        ctx.print_json({"job_id": started.job_id, "workflow_id": started.workflow_id})
    else:
        ctx.out.print(f"Started {noun} {started.job_id} (workflow {started.workflow_id}).")
        ctx.out.print("Follow it with 'python starter.py status --watch'.")
    return 0
