"""An organize run's read side, through the real client against the emulator, on
SQLite and PostgreSQL: what is new in the inbox and the uploads, where the rules put
it, what it costs, and when it waits instead of reading."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.harness import Installation, install
from tests.support.organize import new_videos, rules_for, synced
from ytsync import ledger
from ytsync.db.engine import transaction
from ytsync.db.models import OrganizeItem, OrganizeRun, SyncJob, Video
from ytsync.organize.read import SourceMissing, read_sources
from ytsync.organize.wire import ReadInput, Waiting
from ytsync_emulator.clock import utc_now


@pytest.fixture
def library(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    inst = install(tmp_path, database_url, utc_now, videos=300, playlists=6, seed=3)
    yield inst
    inst.server.stop()


def run(inst: Installation, rules: str, name: str = "organize-1") -> ReadInput:
    return ReadInput(workflow_id=name, rules=rules, rules_source="rules.toml")


def items(inst: Installation, run_id: int) -> dict[str, tuple[str, str, str | None]]:
    """Video id -> (source, action, category) of a run."""
    with inst.sessions() as session:
        rows = session.execute(
            select(
                Video.youtube_id, OrganizeItem.source, OrganizeItem.action, OrganizeItem.category
            )
            .join(Video, Video.id == OrganizeItem.video_id)
            .where(OrganizeItem.run_id == run_id)
            .order_by(OrganizeItem.id)
        ).all()
    found: dict[str, tuple[str, str, str | None]] = {}
    for vid, source, action, category in rows:
        found.setdefault(vid, (source, action, category))  # a video's first item
    return found


def test_new_inbox_videos_and_uploads_are_placed_by_the_rules(library: Installation) -> None:
    state = library.state
    categories = synced(library)
    rules = rules_for(categories)
    short_category, recipe_category = sorted(categories)[:2]
    saved = new_videos(library, "saved")
    uploaded = new_videos(library, "upload", own=True)
    # Already where the rules put it: the inbox only loses it.
    there = state.add_video(title="old recipe", duration="PT5M")
    state.add_item(categories[recipe_category], there.id)
    inbox_videos = [
        *(v.id for v in saved.short + saved.recipe + saved.other + saved.secret + saved.deleted),
        there.id,
        saved.short[0].id,  # saved twice
    ]
    inbox = state.add_playlist("Inbox", video_ids=inbox_videos)
    state.clear_log()

    result = read_sources(library.settings, library.sessions, run(library, rules))

    assert result.waiting is None
    found = items(library, result.run_id)
    expected = {
        **{v.id: ("inbox", "move", short_category) for v in saved.short},
        **{v.id: ("inbox", "move", recipe_category) for v in saved.recipe},
        **{v.id: ("inbox", "unmatched", None) for v in saved.other + saved.deleted},
        **{v.id: ("inbox", "protected", "Guarded") for v in saved.secret},
        there.id: ("inbox", "remove", recipe_category),
        **{v.id: ("uploads", "copy", short_category) for v in uploaded.short},
        **{v.id: ("uploads", "copy", recipe_category) for v in uploaded.recipe},
        **{v.id: ("uploads", "unmatched", None) for v in uploaded.other},
        **{v.id: ("uploads", "protected", "Guarded") for v in uploaded.secret},
    }
    # The channel's older uploads (from the sample library) are new to the first run too.
    older = {vid: found.pop(vid) for vid in list(found) if vid not in expected}
    assert found == expected
    assert older and all(source == "uploads" for source, _a, _c in older.values())
    with library.sessions() as session:
        run_row = session.get(OrganizeRun, result.run_id)
        assert run_row is not None and run_row.outcome == "planned"
        removals = session.scalars(
            select(OrganizeItem.source_item_id).where(
                OrganizeItem.run_id == result.run_id, OrganizeItem.source == "inbox"
            )
        ).all()
    # Each inbox item once, by its id: the duplicate is removed after its first moves.
    assert sorted(r or "" for r in removals) == sorted(i.id for i in inbox.items)
    with library.sessions() as session:
        actions = Counter(
            session.scalars(select(OrganizeItem.action).where(OrganizeItem.run_id == result.run_id))
        )
    assert {k: v for k, v in result.counts.items() if v} == dict(actions)
    assert actions["move"] == 4 and actions["remove"] == 2  # the duplicate, the one there
    assert result.read_units == sum(r.units for r in state.requests())
    assert not any(r.method.endswith((".insert", ".delete", ".update")) for r in state.requests())


def test_the_next_run_reads_only_what_is_new(library: Installation) -> None:
    state = library.state
    categories = synced(library)
    rules = rules_for(categories)
    state.add_playlist("Inbox")
    for n in range(60):
        state.add_video(title=f"episode {n}", own=True)
    read_sources(library.settings, library.sessions, run(library, rules))
    uploads = len(state.playlist_items(state.uploads_id))
    assert uploads > 50, "the uploads span pages, or the incremental read proves nothing"

    fresh = new_videos(library, "later", own=True, count=1)
    state.clear_log()
    second = read_sources(library.settings, library.sessions, run(library, rules, "organize-2"))
    # The uploads list is newest first: one page reaches what the first run read.
    listed = state.requests("playlistItems.list")
    assert len([r for r in listed if r.playlist_id == state.uploads_id]) == 1
    assert len(state.requests("videos.list")) == 1
    found = items(library, second.run_id)
    assert found[fresh.short[0].id] == ("uploads", "copy", sorted(categories)[0])
    # A preview handles nothing: what the first run decided is decided again, unread.
    assert len(found) == uploads + 4


def test_the_cheaper_presence_check_is_taken(library: Installation) -> None:
    state = library.state
    categories = synced(library)
    short_category = sorted(categories)[0]
    rules = rules_for(categories)
    many = [state.add_video(title=f"clip {n}", duration="PT20S") for n in range(12)]
    state.add_playlist("Inbox", video_ids=[v.id for v in many])
    size = len(state.playlist_items(categories[short_category]))
    state.clear_log()
    read_sources(library.settings, library.sessions, run(library, rules))
    lookups = [
        r
        for r in state.requests("playlistItems.list")
        if r.playlist_id == categories[short_category]
    ]
    assert len(lookups) == min(12, max(1, math.ceil(size / 50)))


def test_a_running_sync_or_an_empty_quota_makes_it_wait(library: Installation) -> None:
    categories = synced(library)
    rules = rules_for(categories)
    library.state.add_playlist("Inbox")
    with transaction(library.sessions) as session:
        session.add(SyncJob(workflow_id="ytsync-job-9", stage="add_videos"))
    library.state.clear_log()
    waiting = read_sources(library.settings, library.sessions, run(library, rules))
    assert waiting.waiting is Waiting.JOB_RUNNING and waiting.resume_at is not None
    assert library.state.requests() == []
    with transaction(library.sessions) as session:
        session.query(SyncJob).update({"stage": "completed"})
        now = utc_now()
        ledger.mark_exhausted(session, library.settings.quota_clock.period_start(now))
    quota = read_sources(library.settings, library.sessions, run(library, rules))
    assert quota.waiting is Waiting.QUOTA
    assert quota.resume_at == library.settings.quota_clock.next_reset(utc_now())
    assert library.state.requests() == []
    with library.sessions() as session:
        row = session.get(OrganizeRun, quota.run_id)
        assert row is not None and (row.outcome, row.message) == ("waiting", "quota_exhausted")


def test_the_reads_are_paid_from_the_ledger(library: Installation) -> None:
    categories = synced(library)
    library.state.add_playlist("Inbox")
    period = library.settings.quota_clock.period_start(utc_now())
    with library.sessions() as session:
        before = ledger.remaining(session, period, library.settings.usable_quota)
    result = read_sources(library.settings, library.sessions, run(library, rules_for(categories)))
    with library.sessions() as session:
        after = ledger.remaining(session, period, library.settings.usable_quota)
    assert before - after == result.read_units > 0


def test_an_inbox_the_channel_lacks_is_named(library: Installation) -> None:
    categories = synced(library)
    with pytest.raises(SourceMissing, match="no playlist titled or with the id 'Inbox'"):
        read_sources(library.settings, library.sessions, run(library, rules_for(categories)))
    library.state.add_playlist("Inbox")
    library.state.add_playlist("Inbox")
    with pytest.raises(SourceMissing, match="2 playlists are titled 'Inbox'"):
        read_sources(library.settings, library.sessions, run(library, rules_for(categories)))


def test_the_first_run_of_a_schedules_rules_is_a_preview(library: Installation) -> None:
    categories = synced(library)
    library.state.add_playlist("Inbox")
    rules = rules_for(categories)

    def read(name: str, text: str) -> bool:
        run = ReadInput(
            workflow_id=name,
            rules=text,
            rules_source="rules.toml",
            dry_run=False,
            schedule_id="ytsync-organize-test",
            preview_first=True,
        )
        result = read_sources(library.settings, library.sessions, run)
        with library.sessions() as session:
            row = session.get_one(OrganizeRun, result.run_id)
            assert row.dry_run == result.dry_run
        return result.dry_run

    assert read("run-1", rules) is True, "the first run of the rules previews them"
    assert read("run-2", rules) is False, "the runs after it write"
    changed = rules.replace('title = "recipe"', 'title = "recipe|bake"')
    assert read("run-3", changed) is True, "changed rules are previewed first again"
    assert read("run-4", changed) is False
    assert read("run-2", rules) is False, "a retried read keeps what its run decided"


def test_a_second_run_under_the_same_workflow_id_gets_its_own_record(
    library: Installation,
) -> None:
    """A schedule names a run after the second it starts in: two runs triggered within
    one second share a workflow id, and must not share a record."""
    categories = synced(library)
    library.state.add_playlist("Inbox")
    rules = rules_for(categories)

    def read(execution: str) -> int:
        run = ReadInput("ytsync-organize-x-2026", rules, "rules.toml", execution=execution)
        return read_sources(library.settings, library.sessions, run).run_id

    first = read("run-a")
    assert read("run-a") == first, "a retried read finds its run"
    second = read("run-b")
    assert second != first
    with library.sessions() as session:
        names = dict(session.execute(select(OrganizeRun.id, OrganizeRun.workflow_id)).all())
    assert names == {first: f"ytsync-organize-x-2026#{first}", second: "ytsync-organize-x-2026"}
