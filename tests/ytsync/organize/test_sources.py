"""A sync never deletes an organize schedule's inbox, on SQLite and PostgreSQL: named by
a rules file (before any run read it) or read by a run (under its YouTube id)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.harness import Installation, install
from ytsync.db.engine import transaction
from ytsync.db.models import OrganizeRun, OrganizeSource, Playlist
from ytsync.organize.sources import record_inbox
from ytsync.preview import compute_preview
from ytsync.rules.apply import apply_rules
from ytsync.sync import operations as ops
from ytsync_emulator.clock import utc_now


@pytest.fixture
def library(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    inst = install(tmp_path, database_url, utc_now, videos=120, playlists=4, seed=5)
    yield inst
    inst.server.stop()


def old_playlists(inst: Installation) -> list[tuple[int, str, str]]:
    with inst.sessions() as session:
        rows = session.execute(
            select(Playlist.id, Playlist.title, Playlist.youtube_id).order_by(Playlist.id)
        ).all()
    return [(pid, title, youtube_id) for pid, title, youtube_id in rows]


def candidates(inst: Installation) -> set[str]:
    with inst.sessions() as session:
        return {youtube_id for _pid, youtube_id in ops.deletion_candidates(session)}


def test_an_inbox_named_by_title_or_read_by_id_is_never_deleted(library: Installation) -> None:
    (_a, named, named_id), (_b, _title, read_id), *_rest = old_playlists(library)
    everything = candidates(library)
    assert {named_id, read_id} <= everything
    with transaction(library.sessions) as session:
        record_inbox(session, named)
        record_inbox(session, named)  # once
        session.add(OrganizeRun(workflow_id="run-1", inbox_playlist_id=read_id))
    assert candidates(library) == everything - {named_id, read_id}
    with library.sessions() as session:
        assert session.scalars(select(OrganizeSource.inbox)).all() == [named]
        preview = compute_preview(session, library.settings, datetime.now(UTC))
    kept = {p.youtube_id for p in preview.sources_kept}
    assert kept == {named_id, read_id}
    assert not kept & {p.youtube_id for p in preview.playlists_to_delete.items}


def test_plan_rules_records_the_inbox_its_file_names(library: Installation, tmp_path: Path) -> None:
    (_pid, title, youtube_id), *_rest = old_playlists(library)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        f'[sources]\ninbox = "{title}"\n\n[[rule]]\ncategory = "Everything"\n', encoding="utf-8"
    )
    apply_rules(library.sessions, rules, dry_run=True)
    assert youtube_id in candidates(library), "a dry run records nothing"
    apply_rules(library.sessions, rules)
    assert youtube_id not in candidates(library)
