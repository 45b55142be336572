"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL.

The suite runs in parallel worker processes (pytest-xdist, ``-n`` in pyproject's
addopts); ``-n 0`` runs it in this process.  The hooks below keep the fault suite's
seeds and its summary line whole across the workers.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.support.databases import postgres_database
from ytsync.db.engine import make_engine, session_factory, upgrade

SEEDS_ENV = "YTSYNC_FAULT_SEEDS"
FAULT_RUN = "fault_run"  # the user_properties key a worker sends its fault-suite runs under
_sent_key = pytest.StashKey[int]()  # in a worker: how many of faultkit.RUNS were sent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fault-seeds",
        default=None,
        help="seeds for the fault suite: 1,2,3 or random or random:N "
        "(default: $YTSYNC_FAULT_SEEDS, else the fixed CI seeds)",
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        # A worker collects the seeds the controller drew (below), so that every
        # worker collects the same tests.
        if workerinput.get("fault_seeds"):
            config.option.fault_seeds = workerinput["fault_seeds"]
        return
    raw = (config.getoption("--fault-seeds") or os.environ.get(SEEDS_ENV, "")).strip()
    if raw.startswith("random"):
        # Draw random seeds once, here: each xdist worker drawing its own would collect
        # different tests.
        from tests.support.faultkit import fault_seeds

        config.option.fault_seeds = ",".join(str(seed) for seed in fault_seeds(raw))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, in the controller: hand each worker the seeds drawn in pytest_configure."""
    node.workerinput["fault_seeds"] = node.config.option.fault_seeds


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per CPU.  Most tests wait on servers (Temporal, the
    emulator, PostgreSQL, worker processes) rather than compute: one worker per CPU
    leaves the CPUs half idle."""
    return 2 * (os.cpu_count() or 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests (markers ``faults`` and ``slow``) first, each file's order kept:
    started last, one of them would run on alone while the other workers sit idle.
    (Under ``--dist worksteal`` they form the first worker's share, which the others
    then take from.)"""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("faults") is None and item.get_closest_marker("slow") is None
        )
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In an xdist worker: send the fault-suite runs this test recorded to the controller
    with its report, for the summary line there."""
    if _is_worker(item.config) and call.when == "call":
        faultkit = sys.modules.get("tests.support.faultkit")
        runs = faultkit.RUNS if faultkit is not None else []
        sent = item.config.stash.setdefault(_sent_key, 0)
        for run in runs[sent:]:
            # Pickled: the record crosses to the controller whole, whatever its fields.
            item.user_properties.append((FAULT_RUN, pickle.dumps(run).hex()))
        item.config.stash[_sent_key] = len(runs)
    return (yield)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the xdist controller: collect the fault-suite runs the workers sent."""
    if getattr(report, "node", None) is None or report.when != "call":
        # Not a report from an xdist worker (RUNS is filled in this process), or a
        # teardown report, which carries the test's user_properties again.
        return
    runs = [value for key, value in report.user_properties if key == FAULT_RUN]
    if not runs:
        return
    from tests.support.faultkit import RUNS

    for data in runs:
        assert isinstance(data, str)
        RUNS.append(pickle.loads(bytes.fromhex(data)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line on the fault suite, when it ran: runs, seeds, faults, invariants."""
    faultkit = sys.modules.get("tests.support.faultkit")
    line = faultkit.summary_line() if faultkit is not None else None
    if line:
        terminalreporter.write_sep("-", "fault suite")
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps output at the console width, 80 columns when not a terminal, and
    breaks a word longer than a line, such as a temporary path (longer under xdist:
    .../popen-gw3/test_x0/token.json).  Tests read whole sentences, so give them a
    width no message reaches."""
    monkeypatch.setenv("COLUMNS", "250")


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
