"""Engines, sessions and schema upgrades for SQLite and PostgreSQL.

A SQLite URL names a file the driver would open whatever it is: ``/dev/zero``, a CSV
file, or a mistyped path, which it would create.  So the file is looked at first: it
must be a regular file holding a SQLite database (or be empty), and only the commands
that fill a database (``import``) may create one.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, String, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from ytsync.db.peek import MIGRATIONS, newest_revision, sqlite_file
from ytsync.errors import NoDatabase, UserError
from ytsync.files import kind_of

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.orm import Session, sessionmaker


# Every SQLite database file starts with these 16 bytes (sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``; for a SQLite file, checked first (``check_sqlite_file``).
    ``create=False``: a SQLite file that is not there is NoDatabase, not made."""
    check_sqlite_file(url, create=create)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            # Worker threads share the engine; SQLite serialises writers, and the
            # timeout lets a writer wait for another instead of failing at once.
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def check_sqlite_file(url: str, *, create: bool = True) -> None:
    """A SQLite URL's file is a regular file holding a SQLite database, or empty; a
    missing one is NoDatabase unless ``create``.  Other URLs pass."""
    path = sqlite_file(url)
    if path is None:
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if not create:
            raise NoDatabase(f"there is no database at {path} yet") from None
        return
    except OSError as exc:
        raise UserError(f"cannot open the SQLite database {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(
            f"the SQLite database {path} is {kind_of(info.st_mode)}, not a database file"
        )
    if info.st_size == 0:
        return  # SQLite's own start: an empty file is an empty database
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise UserError(f"cannot open the SQLite database {path}: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        raise UserError(
            f"{path} is not a SQLite database (it holds other data); check "
            "YTSYNC_DATABASE_URL, or give a new file's path"
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def compare_type(
    context: MigrationContext,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Alembic's type comparison, except that SQLite has no VARCHAR length: a widened
    String there needs no migration (rebuilding a table to change it would only risk
    the rows its foreign keys cascade to)."""
    if context.dialect.name == "sqlite" and all(
        isinstance(t, String) for t in (inspected_type, metadata_type)
    ):
        return False
    return None  # Alembic's own comparison


def session_factory(engine: Engine) -> sessionmaker[Session]:
    # Here, not at the top: 'status' with no job answers before the ORM loads.
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = None
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; refuse a database from a newer ytsync."""
    if _at_newest(engine):
        return
    # Alembic loads in a fraction of a second more than every command takes otherwise.
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    except DatabaseError as exc:
        raise UserError(f"cannot open the database: {_first_line(exc)}") from None
    unknown = [rev for rev in current if rev not in known]
    if unknown:
        raise UserError(
            f"the database schema is at revision {', '.join(unknown)}, written by a newer "
            "ytsync; upgrade ytsync or point YTSYNC_DATABASE_URL elsewhere"
        )
    head = script.get_current_head()
    if list(current) == [head]:
        return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def no_jobs_yet(engine: Engine) -> bool:
    """Has no job ever been started?  One statement, without the ORM and its models
    (tests/ytsync/test_db.py checks the table's name against them)."""
    with engine.connect() as connection:
        return connection.execute(text("SELECT 1 FROM sync_jobs LIMIT 1")).first() is None


def _at_newest(engine: Engine) -> bool:
    """Is the schema at the newest revision already?  Read without Alembic; any doubt
    (no version table, several heads, a failed read) says no, and Alembic decides."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DatabaseError:
        return False
    return [row[0] for row in rows] == [newest_revision()]


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)) or type(exc).__name__
    return text.strip().splitlines()[0]
