"""What a short command can learn from a SQLite file without loading SQLAlchemy.

``status --json`` with no job is what scripts poll most; SQLAlchemy alone takes longer
to import than the whole answer should.  Anything this cannot tell cheaply (another
backend, a URL with options, a schema not at the newest revision, a failed read) is
left to the engine, which upgrades and reads as every command does.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# Every migration file is named after its revision: 0009_category_playlist_settings.py.
_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")
_SQLITE = "sqlite:///"


def newest_revision() -> str:
    """The newest migration's revision, from the files' names (tests/ytsync/test_db.py
    checks that Alembic agrees)."""
    names = (_REVISION_FILE.fullmatch(p.name) for p in (MIGRATIONS / "versions").iterdir())
    return max(match.group(1) for match in names if match)


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///FILE`` URL; None for any other URL (another
    backend, options, an in-memory database)."""
    path = url[len(_SQLITE) :] if url.startswith(_SQLITE) else ""
    if not path or "?" in path or path.startswith(":"):
        return None
    return Path(path)


def sqlite_has_jobs(url: str) -> bool | None:
    """Does the SQLite file of ``url``, at the newest schema, hold a job?  None when it
    cannot be told without the engine."""
    file = sqlite_file(url)
    if file is None or not file.is_file():
        # Not there, or not a regular file (opening a FIFO would block): the engine
        # says what is wrong.
        return None
    path = str(file)
    try:
        # Read-only: a file that is not there is not created, and nothing is written.
        connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        if [row[0] for row in versions] != [newest_revision()]:
            return None
        return connection.execute("SELECT 1 FROM sync_jobs LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return None
    finally:
        connection.close()
