"""The schema: migrations match the models, and a newer database is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ytsync.cli.app import main
from ytsync.db.engine import compare_type, make_engine, no_jobs_yet, upgrade
from ytsync.db.models import Base, SyncJob
from ytsync.db.peek import MIGRATIONS, newest_revision, sqlite_has_jobs
from ytsync.errors import UserError


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": compare_type})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    assert heads == (newest_revision(),)


def test_the_newest_revision_read_from_file_names_is_alembics_head() -> None:
    """``upgrade`` skips Alembic when the database is at this revision: it must be
    the head Alembic would upgrade to."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == newest_revision()


def test_no_jobs_yet_reads_the_jobs_table(engine: Engine) -> None:
    """``status`` with no job answers from this, before the models load."""
    assert SyncJob.__tablename__ == "sync_jobs"
    assert no_jobs_yet(engine)
    with Session(engine) as session, session.begin():
        session.add(SyncJob(workflow_id="ytsync-job-1", stage="completed"))
    assert not no_jobs_yet(engine)


def test_database_from_a_newer_ytsync_is_refused(
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UserError, match="newer ytsync"):
        upgrade(engine)
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    assert main(["preview"]) == 2
    assert "written by a newer ytsync" in capsys.readouterr().err
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "9999"


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    with pytest.raises(UserError, match="cannot open the database"):
        upgrade(engine)


def test_a_sqlite_file_is_peeked_at_without_the_engine(tmp_path: Path) -> None:
    """``status --json`` reads a SQLite file at the newest schema by itself; anything
    else (no file, an older schema, another database) is left to the engine."""
    url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    assert sqlite_has_jobs(url) is None  # no file yet, and none is made
    assert not (tmp_path / "ytsync.db").exists()
    engine = make_engine(url)
    upgrade(engine)
    assert sqlite_has_jobs(url) is False
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert sqlite_has_jobs(url) is None  # an older schema: the engine upgrades it
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE alembic_version SET version_num = :newest"), {"newest": newest_revision()}
        )
    with Session(engine) as session, session.begin():
        session.add(SyncJob(workflow_id="ytsync-job-1", stage="completed"))
    assert sqlite_has_jobs(url) is True
    engine.dispose()
    assert sqlite_has_jobs("postgresql+psycopg://u@h/d") is None
    assert sqlite_has_jobs(f"{url}?timeout=3") is None
