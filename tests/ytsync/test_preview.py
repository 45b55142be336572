"""The cost preview: the contract's JSON, the quota arithmetic, the human rendering."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.plans import CliRunner, add_playlist, seed_videos, vid, write_plan
from ytsync.cli.views import render_preview
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import Category, CategoryVideo, Playlist, QuotaLedger, Video
from ytsync.plan import apply_plan
from ytsync.preview import Preview, compute_preview, finish_estimate
from ytsync.quota import QuotaClock

NOW = datetime(2026, 3, 2, 10, 20, tzinfo=UTC)
HOUR_CLOCK = {"quota_period_seconds": 3600}


def _settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": "sqlite:///unused.db",
        "daily_quota": 10_000,
        "quota_reserve": 1_000,
        "quota_timezone": "America/Los_Angeles",
        "quota_period_seconds": None,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def small_library(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    """A known library: 9 videos, 3 categories, 3 old playlists (one already deleted).

    v1-v4, v7-v9 available; v5 private; v6 deleted.
    A (new, 3 videos, one private), B (has a playlist, 3 videos, one deleted),
    C (protected, v4).  Old: P1 [v1, v4, v7], P2 deleted [v8], P3 [v7, v9].
    """
    seed_videos(sessions, [vid(n) for n in (1, 2, 3, 4, 7, 8, 9)])
    seed_videos(sessions, [vid(5)], availability="private")
    seed_videos(sessions, [vid(6)], availability="deleted")
    plan = (
        "category,video_id,protected\n"
        f"A,{vid(1)},\nA,{vid(2)},\nA,{vid(5)},\n"
        f"B,{vid(2)},\nB,{vid(3)},\nB,{vid(6)},\n"
        f"C,{vid(4)},yes\n"
    )
    apply_plan(sessions, write_plan(tmp_path, plan))
    with transaction(sessions) as session:
        session.execute(
            update(Category).where(Category.name == "B").values(youtube_playlist_id="PLb")
        )
    add_playlist(sessions, "P1", "Old one", [vid(1), vid(4), vid(7)])
    add_playlist(sessions, "P2", "Already gone", [vid(8)], deleted=True)
    add_playlist(sessions, "P3", "Another", [vid(7), vid(9)])
    return sessions


def _category_ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {name: cid for cid, name in session.execute(select(Category.id, Category.name))}


def _playlist_ids(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {yid: pid for pid, yid in session.execute(select(Playlist.id, Playlist.youtube_id))}


def test_preview_json_matches_the_contract(small_library: sessionmaker[Session]) -> None:
    cats = _category_ids(small_library)
    playlists = _playlist_ids(small_library)
    with small_library() as session:
        data = compute_preview(session, _settings(), NOW).model_dump(mode="json")

    # An extra, beside the contract's keys: rebuild as above, and reuse, which keeps
    # nothing here (no old playlist is half made of one category's videos).
    strategies = data.pop("strategies")
    # Another: no organize schedule reads any of the old playlists.
    assert data.pop("sources_kept") == []
    rebuild = {
        "creates": 1,
        "updates": 0,
        "adds": 4,
        "item_deletes": 0,
        "playlist_deletes": 2,
        "writes": 7,
        "quota_cost": 350,
        "quota_periods_needed": 1,
        "estimated_finish": "2026-03-02T10:20:00Z",
    }
    assert strategies == {
        "rebuild": rebuild,
        "reuse": rebuild,
        "reuse_keeps": [],
        "reuse_out_of_plan_order": 0,
    }
    assert data == {
        "playlists_to_create": {
            "count": 1,
            "quota_cost": 50,
            "items": [{"category_id": cats["A"], "category_name": "A"}],
        },
        "videos_to_add": {
            "count": 4,
            "quota_cost": 200,
            "by_category": [
                {"category_id": cats["A"], "category_name": "A", "video_count": 2},
                {"category_id": cats["B"], "category_name": "B", "video_count": 2},
            ],
        },
        "playlists_to_delete": {
            "count": 2,
            "quota_cost": 100,
            "items": [
                {"playlist_id": playlists["P3"], "name": "Another", "youtube_id": "P3"},
                {"playlist_id": playlists["P1"], "name": "Old one", "youtube_id": "P1"},
            ],
        },
        "total_quota_cost": 350,
        "estimated_days": 1,
        "daily_quota_limit": 10_000,
        "quota_reserve": 1_000,
        "usable_quota_per_period": 9_000,
        "remaining_quota_today": 9_000,
        "quota_periods_needed": 1,
        "estimated_finish": "2026-03-02T10:20:00Z",
        # Midnight in Los Angeles (PST, UTC-8) on 3 March.
        "next_quota_reset": "2026-03-03T08:00:00Z",
        "unavailable_videos": {
            "count": 2,
            "items": [
                {
                    "video_id": vid(5),
                    "title": f"Title {vid(5)}",
                    "availability": "private",
                    "categories": ["A"],
                },
                {
                    "video_id": vid(6),
                    "title": f"Title {vid(6)}",
                    "availability": "deleted",
                    "categories": ["B"],
                },
            ],
        },
        "uncategorized_videos": {
            "count": 2,
            "items": [
                {
                    "video_id": vid(7),
                    "title": f"Title {vid(7)}",
                    "playlists": ["Another", "Old one"],
                },
                {"video_id": vid(9), "title": f"Title {vid(9)}", "playlists": ["Another"]},
            ],
        },
        "protected_categories": [
            {"category_id": cats["C"], "category_name": "C", "video_count": 1}
        ],
        "computed_at": "2026-03-02T10:20:00Z",
        # No other channel signed in through the same OAuth client.
        "quota_shared_with": [],
    }


def test_preview_shows_reuse_beside_rebuild(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The exported plan with a category renamed: rebuild makes the playlist again and
    re-adds every video; reuse keeps the old one, renames it and removes the one video
    planned elsewhere, in one quota period instead of two."""
    seed_videos(sessions, [vid(n) for n in range(1, 201)])
    old = [vid(n) for n in range(1, 181)]
    plan = "category,video_id\n" + "".join(f"Songs,{v}\n" for v in old[:-1])
    plan += f"Other,{old[-1]}\n"
    apply_plan(sessions, write_plan(tmp_path, plan))
    keeps = add_playlist(sessions, "PLmusic", "Music", old)
    with sessions() as session:
        preview = compute_preview(session, _settings(), NOW)
    rebuild, reuse = preview.strategies.rebuild, preview.strategies.reuse
    assert (rebuild.creates, rebuild.adds, rebuild.playlist_deletes) == (2, 180, 1)
    assert rebuild.quota_cost == preview.total_quota_cost
    assert (reuse.creates, reuse.updates, reuse.adds) == (1, 1, 1)
    assert (reuse.item_deletes, reuse.playlist_deletes) == (1, 0)
    assert (rebuild.quota_periods_needed, reuse.quota_periods_needed) == (2, 1)
    [kept] = preview.strategies.reuse_keeps
    assert (kept.category_name, kept.playlist_id, kept.youtube_id) == ("Songs", keeps, "PLmusic")
    assert (kept.update, kept.adds, kept.item_deletes) == (True, 0, 1)
    out = io.StringIO()
    render_preview(preview, Console(file=out, width=120))
    text = out.getvalue()
    assert "Rebuild (what a job does) and reuse" in text
    assert "Music (renamed)" in text


def test_empty_database_previews_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        preview = compute_preview(session, _settings(), NOW)
    assert preview.total_quota_cost == 0
    assert preview.estimated_days == 0
    assert preview.quota_periods_needed == 0
    assert preview.estimated_finish == NOW
    assert preview.uncategorized_videos.count == 0


def _set_ledger(
    sessions: sessionmaker[Session], start: datetime, used: int, exhausted: bool
) -> None:
    with transaction(sessions) as session:
        session.execute(
            insert(QuotaLedger).values(
                period_start=start, units_used=used, exhausted=exhausted, updated_at=NOW
            )
        )


def test_estimated_finish_with_a_partly_used_ledger(small_library: sessionmaker[Session]) -> None:
    # 350 units = 7 writes.  150 usable a period = 3 writes; 100 already spent this
    # period leaves 1 write now, then 3 and 3 in the next two periods.
    settings = _settings(daily_quota=200, quota_reserve=50, **HOUR_CLOCK)
    period_start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    # A row for another period must not count.
    _set_ledger(small_library, period_start - timedelta(hours=1), 150, True)
    _set_ledger(small_library, period_start, 100, False)

    with small_library() as session:
        preview = compute_preview(session, settings, NOW)

    assert preview.total_quota_cost == 350
    assert preview.estimated_days == 2  # the seed's rule: ceil(350 / 200)
    assert preview.usable_quota_per_period == 150
    assert preview.remaining_quota_today == 50
    assert preview.quota_periods_needed == 3
    assert preview.next_quota_reset == period_start + timedelta(hours=1)
    assert preview.estimated_finish == period_start + timedelta(hours=2)
    data = preview.model_dump(mode="json")
    assert data["estimated_finish"] == "2026-03-02T12:00:00Z"


def test_exhausted_period_leaves_nothing_today(small_library: sessionmaker[Session]) -> None:
    settings = _settings(daily_quota=200, quota_reserve=50, **HOUR_CLOCK)
    period_start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    _set_ledger(small_library, period_start, 10, True)

    with small_library() as session:
        preview = compute_preview(session, settings, NOW)

    assert preview.remaining_quota_today == 0
    assert preview.quota_periods_needed == 3  # 3 + 3 + 1 writes, none now
    assert preview.estimated_finish == period_start + timedelta(hours=3)


def test_overspent_ledger_counts_as_nothing_left(small_library: sessionmaker[Session]) -> None:
    settings = _settings(daily_quota=200, quota_reserve=50, **HOUR_CLOCK)
    _set_ledger(small_library, datetime(2026, 3, 2, 10, tzinfo=UTC), 180, False)
    with small_library() as session:
        assert compute_preview(session, settings, NOW).remaining_quota_today == 0


@pytest.mark.parametrize(
    ("total", "remaining", "expected_periods", "expected_finish"),
    [
        (0, 9_000, 0, NOW),
        (50, 50, 1, NOW),
        (9_000, 9_000, 1, NOW),
        (9_050, 9_000, 2, datetime(2026, 3, 3, 8, tzinfo=UTC)),
        (9_050, 0, 2, datetime(2026, 3, 4, 8, tzinfo=UTC)),
        # Only whole writes fit: 49 units left today is no write at all.
        (100, 49, 1, datetime(2026, 3, 3, 8, tzinfo=UTC)),
        # Across the DST change (8 March 2026): midnight is then 07:00 UTC.
        (9_000 * 7 + 50, 0, 8, datetime(2026, 3, 10, 7, tzinfo=UTC)),
    ],
)
def test_finish_estimate_on_the_pacific_clock(
    total: int, remaining: int, expected_periods: int, expected_finish: datetime
) -> None:
    periods, finish = finish_estimate(total, remaining, 9_000, QuotaClock(), NOW)
    assert (periods, finish) == (expected_periods, expected_finish)


def test_uncategorized_list_is_capped_but_counted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = [vid(n) for n in range(150)]
    seed_videos(sessions, ids)
    add_playlist(sessions, "P1", "Everything", ids)
    apply_plan(sessions, write_plan(tmp_path, f"category,video_id\nKept,{vid(0)}\n"))

    with sessions() as session:
        preview = compute_preview(session, _settings(), NOW)

    assert preview.uncategorized_videos.count == 149
    assert len(preview.uncategorized_videos.items) == 100
    assert preview.uncategorized_videos.items[0].video_id == vid(1)


def _big_library(sessions: sessionmaker[Session], categories: int, per_category: int) -> None:
    """Categories with distinct videos, inserted in bulk (no plan file needed)."""
    seed_videos(sessions, [vid(n) for n in range(categories * per_category)])
    with transaction(sessions) as session:
        session.execute(
            insert(Category), [{"name": f"Category {n:04d}"} for n in range(categories)]
        )
        cat_ids = list(session.scalars(select(Category.id).order_by(Category.id)))
        video_ids = list(session.scalars(select(Video.id).order_by(Video.id)))
        session.execute(
            insert(CategoryVideo),
            [
                {"category_id": cat_ids[i // per_category], "video_id": pk, "position": i}
                for i, pk in enumerate(video_ids)
            ],
        )


def test_render_preview_is_readable_for_many_categories(sessions: sessionmaker[Session]) -> None:
    _big_library(sessions, categories=45, per_category=2)
    add_playlist(sessions, "PLold", "[bold]Old[/bold] list", [vid(0)])
    with sessions() as session:
        preview = compute_preview(session, _settings(), NOW)
    console = Console(file=io.StringIO(), width=120, highlight=False)

    render_preview(preview, console)

    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Create playlists" in text and "Total" in text
    assert "… 25 more categories" in text
    # A name is shown as written, never read as rich markup.
    assert "[bold]Old[/bold] list" in text
    assert "Category 0000" in text


def test_render_preview_warns_about_skipped_and_uncategorized(
    small_library: sessionmaker[Session],
) -> None:
    settings = _settings(daily_quota=200, quota_reserve=150, quota_period_seconds=86_400 * 2)
    with small_library() as session:
        preview = compute_preview(session, settings, NOW)
    console = Console(file=io.StringIO(), width=200, highlight=False)

    render_preview(preview, console)

    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "2 video(s) are private or deleted" in text
    assert "2 video(s) are in an old playlist but in no category" in text
    assert f"{vid(7)} Title {vid(7)} (Another, Old one)" in text
    assert "Protected categories" in text
    # 7 writes at one per 2-day period: past the 7-day life of a Testing refresh token.
    assert "refresh token expires after 7 days" in text


@pytest.fixture
def cli(database_url: str, engine: object) -> Iterator[CliRunner]:
    runner = CliRunner(database_url)
    yield runner
    runner.close()


def test_cli_preview(
    small_library: sessionmaker[Session], cli: CliRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run("preview") == 0
    assert "What the sync will do" in cli.output
    assert "350" in cli.output

    capsys.readouterr()
    assert cli.run("preview", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    Preview.model_validate(data)
    assert data["total_quota_cost"] == 350
    assert {
        "playlists_to_create",
        "videos_to_add",
        "playlists_to_delete",
        "total_quota_cost",
        "estimated_days",
        "daily_quota_limit",
    } <= set(data)
