"""Plans for the reuse strategy: exported from an installation, merged, applied."""

from __future__ import annotations

import csv
from collections import defaultdict

from sqlalchemy import select

from tests.support.harness import (
    Installation,
)
from ytsync.db.models import (
    Category,
    CategoryVideo,
    Video,
)
from ytsync.plan import apply_plan, export_plan


def exported(inst: Installation) -> dict[str, list[str]]:
    """The plan ``plan export`` writes: category -> videos, one category per old
    playlist with items, in the file's order."""
    path = inst.tmp / "exported.csv"
    export_plan(inst.sessions, path, force=True)
    plan: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            plan[row["category"]].append(row["video_id"])
    return dict(plan)


def apply(inst: Installation, plan: dict[str, list[str]]) -> None:
    rows = [(name, video, False) for name, videos in plan.items() for video in videos]
    apply_plan(inst.sessions, inst.write_plan(rows))


def category_playlists(inst: Installation) -> dict[str, str]:
    with inst.sessions() as session:
        rows = session.execute(
            select(Category.name, Category.youtube_playlist_id).where(
                Category.is_protected.is_(False)
            )
        ).all()
    return {name: str(playlist_id) for name, playlist_id in rows}


def planned(inst: Installation) -> dict[str, tuple[list[str], set[str]]]:
    """Category name -> (available videos in plan order, unavailable ones)."""
    with inst.sessions() as session:
        rows = session.execute(
            select(Category.name, Video.youtube_id, Video.availability)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .order_by(Category.name, CategoryVideo.position)
        ).all()
    result: dict[str, tuple[list[str], set[str]]] = defaultdict(lambda: ([], set()))
    for name, video, availability in rows:
        if availability == "available":
            result[name][0].append(video)
        else:
            result[name][1].add(video)
    return dict(result)


def merged(plan: dict[str, list[str]], size: int) -> dict[str, list[str]]:
    """Fold the exported categories ``size`` at a time into one each."""
    names = list(plan)
    folded: dict[str, list[str]] = {}
    for start in range(0, len(names), size):
        group = names[start : start + size]
        videos = [video for name in group for video in plan[name]]
        folded[f"Merged {start // size + 1}"] = list(dict.fromkeys(videos))
    return folded


def moved(plan: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every fifth video of each category moved into the next category, and every
    seventh left out of the plan: the kept playlists hold items that must go."""
    names = list(plan)
    result: dict[str, list[str]] = {name: [] for name in names}
    for index, name in enumerate(names):
        for position, video in enumerate(plan[name]):
            if position % 7 == 6:
                continue  # planned nowhere: the user's choice
            target = names[(index + 1) % len(names)] if position % 5 == 4 else name
            result[target].append(video)
    return {name: list(dict.fromkeys(videos)) for name, videos in result.items()}
