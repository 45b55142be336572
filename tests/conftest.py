"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.databases import postgres_database
from ytsync.db.engine import make_engine, session_factory, upgrade


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fault-seeds",
        default=None,
        help="seeds for the fault suite: 1,2,3 or random or random:N "
        "(default: $YTSYNC_FAULT_SEEDS, else the fixed CI seeds)",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line on the fault suite, when it ran: runs, seeds, faults, invariants."""
    faultkit = sys.modules.get("tests.faultkit")
    line = faultkit.summary_line() if faultkit is not None else None
    if line:
        terminalreporter.write_sep("-", "fault suite")
        terminalreporter.write_line(line)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'ytsync.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
