"""``plan rules FILE``: the rules applied to the library, exactly as ``plan apply`` would.

The rules build a plan (``ytsync.plan.PlanBuilder``: the checks of a plan file), which
goes through ``plan apply``'s own checks and apply path, in one transaction with the
read of the library, so a bad file changes nothing.  Before it takes effect the change is
worked out as a diff of the videos it affects: placed (in no category before), moved
(into another category), unplaced (in a category before, matched by no rule now).

The library is what the rules sort: every video of an imported playlist still on
YouTube, and every video already in a category.  A category whose playlist is on
YouTube counts as a playlist its videos sit in, under the category's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import Category, CategoryVideo, Playlist, PlaylistItem, Video
from ytsync.errors import UserError
from ytsync.organize.sources import record_inbox
from ytsync.plan import (
    ApplySummary,
    Plan,
    PlanBuilder,
    checked_videos,
    fold_name,
    refuse_during_job,
    replace_categories,
)
from ytsync.rules.file import RuleSet, read_rules
from ytsync.rules.model import Library, LibraryVideo, Rule, first_matches

# --------------------------------------------------------------------------- results


class RuleCount(BaseModel):
    rule: int
    line: int
    category: str
    conditions: list[str]
    videos: int


class PlacedVideo(BaseModel):
    video_id: str
    title: str
    category: str
    rule: int
    line: int


class UnmatchedVideo(BaseModel):
    video_id: str
    title: str
    availability: str
    # The playlists it sits in (and the category it was in before, if any).
    playlists: list[str]
    categories_before: list[str]


class VideoChange(BaseModel):
    video_id: str
    title: str
    before: list[str]
    after: list[str]


class SettingChange(BaseModel):
    category: str
    setting: str
    before: str | bool | None
    after: str | bool | None


class RulesDiff(BaseModel):
    """What applying changes, by video and by category."""

    placed: list[VideoChange]
    moved: list[VideoChange]
    unplaced: list[VideoChange]
    categories_added: list[str]
    categories_removed: list[str]
    settings_changed: list[SettingChange]

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.placed,
                self.moved,
                self.unplaced,
                self.categories_added,
                self.categories_removed,
                self.settings_changed,
            )
        )


class RulesResult(BaseModel):
    file: str
    dry_run: bool
    videos: int
    matched: int
    unmatched: int
    rules: list[RuleCount]
    diff: RulesDiff
    # None on a dry run.
    applied: ApplySummary | None
    # With --explain: every placed video and every video no rule matched.
    placed_videos: list[PlacedVideo] | None = None
    unmatched_videos: list[UnmatchedVideo] | None = None


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Current:
    """The categories as they are: settings by name, and the names each video is in."""

    settings: dict[str, tuple[bool, str, str | None]]
    of_video: dict[str, list[str]]


def read_library(session: Session) -> tuple[Library, _Current]:
    """The library rules sort, and the categories it is in now."""
    titles: list[str] = []
    index_of: dict[int, int] = {}
    for pk, title in session.execute(
        select(Playlist.id, Playlist.title)
        .where(Playlist.deleted_from_youtube_at.is_(None))
        .order_by(Playlist.id)
    ):
        index_of[pk] = len(titles)
        titles.append(title)
    categories = session.execute(
        select(
            Category.id,
            Category.name,
            Category.is_protected,
            Category.privacy,
            Category.description,
            Category.youtube_playlist_id,
        ).order_by(Category.id)
    ).all()
    category_index: dict[int, int] = {}
    for row in categories:
        if row.youtube_playlist_id:
            category_index[row.id] = len(titles)
            titles.append(row.name)
    items = session.execute(
        select(PlaylistItem.playlist_id, PlaylistItem.video_id)
        .join(Playlist, Playlist.id == PlaylistItem.playlist_id)
        .where(Playlist.deleted_from_youtube_at.is_(None))
        .order_by(PlaylistItem.playlist_id, PlaylistItem.position, PlaylistItem.id)
    ).all()
    entries = session.execute(
        select(CategoryVideo.category_id, CategoryVideo.video_id).order_by(
            CategoryVideo.category_id, CategoryVideo.position
        )
    ).all()
    # Library order: the old playlists' order, then what only a category holds.
    order: dict[int, list[int]] = {}
    for playlist_id, video_pk in items:
        order.setdefault(video_pk, []).append(index_of[playlist_id])
    for category_id, video_pk in entries:
        where = order.setdefault(video_pk, [])
        if category_id in category_index:
            where.append(category_index[category_id])
    videos: dict[int, LibraryVideo] = {}
    for video in session.execute(
        select(
            Video.id,
            Video.youtube_id,
            Video.title,
            Video.availability,
            Video.channel_id,
            Video.channel_title,
            Video.duration_seconds,
            Video.published_at,
        )
    ):
        if video.id in order:
            videos[video.id] = LibraryVideo(
                video.youtube_id,
                video.title,
                video.availability,
                video.channel_id,
                video.channel_title,
                video.duration_seconds,
                video.published_at,
                sorted(set(order[video.id])),
            )
    name_of = {row.id: row.name for row in categories}
    of_video: dict[str, list[str]] = {}
    for category_id, video_pk in entries:
        of_video.setdefault(videos[video_pk].youtube_id, []).append(name_of[category_id])
    current = _Current(
        {row.name: (row.is_protected, row.privacy, row.description) for row in categories},
        of_video,
    )
    return Library([videos[pk] for pk in order], titles), current


# --------------------------------------------------------------------------- applying


def apply_rules(
    sessions: sessionmaker[Session], path: Path, *, dry_run: bool = False, explain: bool = False
) -> RulesResult:
    """Apply the rules file at ``path`` as a plan, or (``dry_run``) only say what would
    change; either way nothing changes when the file or the plan has a problem."""
    ruleset = read_rules(path)
    with transaction(sessions) as session:
        if not dry_run:
            refuse_during_job(session)
        library, current = read_library(session)
        if not library.videos:
            raise UserError("the library has no videos yet: import it first")
        builder = _declared(ruleset)
        # The file's own problems first: a rule that failed its checks cannot be tried.
        ruleset.problems.raise_if_any()
        matches = first_matches(ruleset.rules, library)
        for video, rule in zip(library.videos, matches, strict=True):
            if rule is not None:
                builder.add_video(rule.line, rule.category, video.youtube_id)
        plan = builder.finish()
        video_pks = checked_videos(session, plan)
        if not plan.categories and not dry_run:
            raise UserError(
                f"no rule in {path} matches any of the library's {len(library.videos):,} "
                "videos; nothing was applied (it would remove every category)"
            )
        result = RulesResult(
            file=str(path),
            dry_run=dry_run,
            videos=len(library.videos),
            matched=sum(rule is not None for rule in matches),
            unmatched=sum(rule is None for rule in matches),
            rules=_counts(ruleset.rules, matches),
            diff=_diff(library, current, plan, ruleset),
            applied=None if dry_run else replace_categories(session, plan, video_pks),
        )
        if ruleset.sources.inbox is not None and not dry_run:
            # Before any organize run reads it: a sync of this plan must spare it.
            record_inbox(session, ruleset.sources.inbox)
        if explain:
            result.placed_videos, result.unmatched_videos = _explained(library, current, matches)
        return result


def _declared(ruleset: RuleSet) -> PlanBuilder:
    """A plan builder with the file's categories, named and set up as the file says."""
    builder = PlanBuilder(ruleset.problems)
    for name in ruleset.categories:
        found = ruleset.settings.get(name)
        builder.declare(
            ruleset.category_lines[name],
            name,
            found.protected if found else False,
            {
                "privacy": (found.privacy or "") if found else "",
                "description": (found.description or "") if found else "",
            },
        )
    return builder


def _counts(rules: list[Rule], matches: list[Rule | None]) -> list[RuleCount]:
    placed: dict[int, int] = {}
    for rule in matches:
        if rule is not None:
            placed[rule.number] = placed.get(rule.number, 0) + 1
    return [
        RuleCount(
            rule=rule.number,
            line=rule.line,
            category=rule.category,
            conditions=rule.conditions(),
            videos=placed.get(rule.number, 0),
        )
        for rule in rules
    ]


def _diff(library: Library, current: _Current, plan: Plan, ruleset: RuleSet) -> RulesDiff:
    after: dict[str, str] = {
        video_id: name
        for name, category in plan.categories.items()
        for video_id in category.video_ids
    }
    placed: list[VideoChange] = []
    moved: list[VideoChange] = []
    unplaced: list[VideoChange] = []
    for video in library.videos:
        before = current.of_video.get(video.youtube_id, [])
        now = [after[video.youtube_id]] if video.youtube_id in after else []
        if before == now or (before and now and _folded(before) == _folded(now)):
            continue
        change = VideoChange(video_id=video.youtube_id, title=video.title, before=before, after=now)
        (unplaced if not now else placed if not before else moved).append(change)
    old = {fold_name(name): name for name in current.settings}
    new = {fold_name(name): name for name in plan.categories}
    changed: list[SettingChange] = []
    for key, name in new.items():
        if key not in old:
            continue
        was = current.settings[old[key]]
        found = ruleset.settings.get(name)
        wanted = (
            found.protected if found else False,
            (found.privacy if found else None) or "private",
            found.description if found else None,
        )
        for setting, before_value, after_value in zip(
            ("protected", "privacy", "description"), was, wanted, strict=True
        ):
            if before_value != after_value:
                changed.append(
                    SettingChange(
                        category=name, setting=setting, before=before_value, after=after_value
                    )
                )
    return RulesDiff(
        placed=placed,
        moved=moved,
        unplaced=unplaced,
        categories_added=[name for key, name in new.items() if key not in old],
        categories_removed=[name for key, name in old.items() if key not in new],
        settings_changed=changed,
    )


def _folded(names: Iterable[str]) -> set[str]:
    return {fold_name(name) for name in names}


def _explained(
    library: Library, current: _Current, matches: list[Rule | None]
) -> tuple[list[PlacedVideo], list[UnmatchedVideo]]:
    placed: list[PlacedVideo] = []
    unmatched: list[UnmatchedVideo] = []
    for video, rule in zip(library.videos, matches, strict=True):
        if rule is not None:
            placed.append(
                PlacedVideo(
                    video_id=video.youtube_id,
                    title=video.title,
                    category=rule.category,
                    rule=rule.number,
                    line=rule.line,
                )
            )
        else:
            unmatched.append(
                UnmatchedVideo(
                    video_id=video.youtube_id,
                    title=video.title,
                    availability=video.availability,
                    playlists=[library.playlist_titles[i] for i in video.playlists],
                    categories_before=current.of_video.get(video.youtube_id, []),
                )
            )
    placed.sort(key=lambda p: p.rule)
    return placed, unmatched
