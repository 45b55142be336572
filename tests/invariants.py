"""What must hold on YouTube (the emulator) after any sync, whatever went wrong on the way."""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import select

from tests.harness import Installation
from ytsync.db.models import Category, CategoryVideo, Playlist, Video


def expected_playlists(inst: Installation) -> dict[str, list[str]]:
    """Category name -> the available videos its playlist must hold, in plan order."""
    with inst.sessions() as session:
        rows = session.execute(
            select(Category.name, Video.youtube_id, Video.availability)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .where(Category.is_protected.is_(False))
            .order_by(Category.name, CategoryVideo.position)
        ).all()
    expected: dict[str, list[str]] = defaultdict(list)
    for name, video_id, availability in rows:
        if availability == "available":
            expected[name].append(video_id)
    return dict(expected)


def assert_library_as_planned(inst: Installation) -> int:
    """Check every invariant; returns how many were checked."""
    state = inst.state
    expected = expected_playlists(inst)
    with inst.sessions() as session:
        old_ids = set(session.scalars(select(Playlist.youtube_id)))
        protected = set(
            session.scalars(select(Category.name).where(Category.is_protected.is_(True)))
        )
    by_title = state.playlists_by_title()
    checked = 0
    for name, videos in expected.items():
        ids = by_title.get(name, [])
        assert len(ids) == 1, f"category {name!r} has {len(ids)} playlists"
        items = state.playlist_items(ids[0])
        duplicates = [v for v, n in Counter(items).items() if n > 1]
        assert not duplicates, f"{name!r} holds duplicates {duplicates[:5]}"
        assert sorted(items) == sorted(videos), f"{name!r} differs from the plan"
        checked += 3
    for name in protected:
        assert name not in by_title, f"protected category {name!r} got a playlist"
        checked += 1
    survivors = old_ids & set(state.playlists)
    assert not survivors, f"old playlists still on YouTube: {sorted(survivors)[:5]}"
    checked += 1
    for special in ("WL", "LL", state.uploads_id):
        assert special in state.playlists, f"system list {special} was touched"
        checked += 1
    return checked
