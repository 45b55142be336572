"""``status`` is what scripts poll: with no job it must start light, loading none of
the workflow, activity, API client or Temporal client code, nor Alembic or rich
(bench/cli_startup.py times it; this checks what it imports, which does not depend on
the machine's load)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ytsync.db.engine import make_engine, session_factory, transaction, upgrade
from ytsync.db.models import SyncJob

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "workflows",
    "activities",
    "googleapiclient",
    "ytsync.youtube.client",
    "temporalio.client",
    "alembic",
    "rich",
)


def imported(stderr: str) -> set[str]:
    """The modules ``python -X importtime`` reports."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "cumulative" not in line
    }


def status_json(tmp_path: Path, database_url: str) -> tuple[str, set[str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("YTSYNC_", "TEMPORAL_"))}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "starter.py"), "status", "--json"],
        cwd=tmp_path,
        env={**environ, "YTSYNC_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, imported(done.stderr)


def new_database(url: str) -> None:
    """A database at the newest schema (status reads one; only import creates one)."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_status_json_with_no_job_imports_no_workflow_activity_or_client_code(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    new_database(url)
    out, modules = status_json(tmp_path, url)
    assert out.strip() == "null"
    assert "ytsync.cli.jobs" in modules  # the command did run through the CLI
    assert heavy(modules) == []
    # A SQLite file at the newest schema is read without SQLAlchemy (ytsync.db.peek).
    assert "ytsync.db.peek" in modules
    assert not any(m == "sqlalchemy" or m.startswith("sqlalchemy.") for m in modules)


@pytest.mark.parametrize("stage", ["completed", "failed"])
def test_status_json_of_a_finished_job_asks_no_temporal(tmp_path: Path, stage: str) -> None:
    """A finished job has nothing live to ask its workflow: the database answers."""
    url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    new_database(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        session.add(SyncJob(workflow_id="ytsync-job-1", stage=stage))
    engine.dispose()
    out, modules = status_json(tmp_path, url)
    assert f'"stage": "{stage}"' in out
    assert heavy(modules) == []
