"""A library as it stands after a sync, and new videos arriving: what an organize run
reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ytsync.db.engine import transaction
from ytsync.db.models import Category, CategoryVideo, Video
from ytsync_emulator.model import Video as EmulatorVideo
from ytsync_sandbox.sandbox import Installation

RULES = """\
[sources]
inbox = "Inbox"
uploads = true

[[rule]]
category = "{short}"
max_duration = "60s"

[[rule]]
category = "{recipe}"
title = "recipe"

[[rule]]
category = "Guarded"
title = "secret"
"""


def rules_for(categories: dict[str, str]) -> str:
    """RULES with two of the synced categories: Shorts into one, recipes into another."""
    short, recipe = sorted(categories)[:2]
    return RULES.format(short=short, recipe=recipe)


def synced(inst: Installation, *, protected: str = "Guarded") -> dict[str, str]:
    """Make the categories look synced: each non-protected one gets a playlist on the
    emulator holding its planned videos, recorded as its playlist; ``protected`` is
    added as a protected category.  Category name -> playlist id."""
    made: dict[str, str] = {}
    with transaction(inst.sessions) as session:
        rows = session.execute(
            select(Category, Video.youtube_id)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .order_by(Category.id, CategoryVideo.position)
        ).all()
        planned: dict[int, list[str]] = {}
        categories: dict[int, Category] = {}
        for category, youtube_id in rows:
            categories[category.id] = category
            planned.setdefault(category.id, []).append(youtube_id)
        for category_id, videos in planned.items():
            category = categories[category_id]
            if category.is_protected:
                continue
            playlist = inst.state.add_playlist(category.name, video_ids=videos)
            category.youtube_playlist_id = playlist.id
            made[category.name] = playlist.id
        session.add(Category(name=protected, is_protected=True))
    return made


@dataclass
class Arrivals:
    """New videos, by what the rules should make of them."""

    short: list[EmulatorVideo] = field(default_factory=list)
    recipe: list[EmulatorVideo] = field(default_factory=list)
    other: list[EmulatorVideo] = field(default_factory=list)
    secret: list[EmulatorVideo] = field(default_factory=list)
    deleted: list[EmulatorVideo] = field(default_factory=list)


def new_videos(inst: Installation, tag: str, *, own: bool = False, count: int = 2) -> Arrivals:
    """Videos that did not exist at the import: ``count`` of each kind."""
    state = inst.state
    made = Arrivals()
    for n in range(count):
        made.short.append(state.add_video(title=f"{tag} short {n}", duration="PT30S", own=own))
        made.recipe.append(state.add_video(title=f"{tag} recipe {n}", duration="PT12M", own=own))
        made.other.append(state.add_video(title=f"{tag} other {n}", duration="PT9M", own=own))
        made.secret.append(state.add_video(title=f"{tag} secret {n}", duration="PT9M", own=own))
    if not own:
        made.deleted.append(state.add_video(title=f"{tag} gone", deleted=True))
    return made


def assert_moved(
    inst: Installation,
    inbox: str,
    before: list[str],
    placed: dict[str, str],
) -> None:
    """The inbox held ``before``; ``placed`` (video -> its category's playlist) were to
    move.  Each is in its category exactly once and out of the inbox; the inbox holds
    the rest, in their order; nothing else was removed anywhere."""
    state = inst.state
    for video, playlist in placed.items():
        count = state.playlist_items(playlist).count(video)
        assert count == 1, f"{video} is {count} times in {playlist}"
    assert state.playlist_items(inbox) == [v for v in before if v not in placed]
    with state.lock:
        removed = [(r.playlist_id, r.video_id) for r in state.removed_items]
    foreign = [(p, v) for p, v in removed if p != inbox and v not in placed]
    assert not foreign, f"removed what was not ytsync's to remove: {foreign}"
    assert not [v for p, v in removed if p == inbox and v not in placed], "lost from the inbox"
    assert not state.user_items_removed()
