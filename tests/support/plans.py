"""Seeding and inspection helpers shared by the plan and preview tests."""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from ytsync.cli.context import Context
from ytsync.cli.planning import register
from ytsync.config import Settings
from ytsync.db.engine import transaction
from ytsync.db.models import Category, CategoryVideo, Playlist, PlaylistItem, Video


def vid(n: int) -> str:
    """A valid 11-character YouTube id, distinct per n."""
    return f"vid{n:08d}"


def seed_videos(
    sessions: sessionmaker[Session],
    ids: Sequence[str],
    availability: str = "available",
) -> None:
    rows = [
        {"youtube_id": yid, "title": f"Title {yid}", "availability": availability} for yid in ids
    ]
    with transaction(sessions) as session:
        session.execute(insert(Video), rows)


def video_pks(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(select(Video.youtube_id, Video.id))
        return {youtube_id: pk for youtube_id, pk in rows}


def add_playlist(
    sessions: sessionmaker[Session],
    youtube_id: str,
    title: str,
    items: Sequence[str],
    deleted: bool = False,
    *,
    privacy: str = "private",
    description: str = "",
) -> int:
    """An imported (old) playlist with items in the given order; returns its id."""
    from datetime import UTC, datetime

    pks = video_pks(sessions)
    with transaction(sessions) as session:
        playlist = Playlist(
            youtube_id=youtube_id,
            title=title,
            privacy=privacy,
            description=description,
            item_count=len(items),
            deleted_from_youtube_at=datetime(2026, 1, 1, tzinfo=UTC) if deleted else None,
        )
        session.add(playlist)
        session.flush()
        for position, yid in enumerate(items):
            session.add(
                PlaylistItem(
                    playlist_id=playlist.id,
                    video_id=pks[yid],
                    youtube_item_id=f"{youtube_id}-{position}",
                    position=position,
                )
            )
        return playlist.id


def write_plan(tmp_path: Path, text: str, name: str = "plan.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def snapshot(sessions: sessionmaker[Session]) -> tuple[list[Any], list[Any]]:
    """Everything apply may touch, in a comparable form."""
    with sessions() as session:
        categories = session.execute(
            select(
                Category.id,
                Category.name,
                Category.is_protected,
                Category.youtube_playlist_id,
                Category.privacy,
                Category.description,
            ).order_by(Category.id)
        ).all()
        entries = session.execute(
            select(
                CategoryVideo.category_id, CategoryVideo.video_id, CategoryVideo.position
            ).order_by(CategoryVideo.category_id, CategoryVideo.position)
        ).all()
    return [tuple(row) for row in categories], [tuple(row) for row in entries]


def plan_contents(sessions: sessionmaker[Session]) -> dict[str, tuple[bool, list[str]]]:
    """Category name -> (protected, YouTube ids in position order)."""
    with sessions() as session:
        rows = session.execute(
            select(Category.name, Category.is_protected, Video.youtube_id)
            .join(CategoryVideo, CategoryVideo.category_id == Category.id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .order_by(Category.name, CategoryVideo.position)
        ).all()
    result: dict[str, tuple[bool, list[str]]] = {}
    for name, protected, yid in rows:
        result.setdefault(name, (protected, []))[1].append(yid)
    return result


class CliRunner:
    """Runs the planning commands through their real parser and handlers."""

    def __init__(self, database_url: str, **settings: Any) -> None:
        self.buffer = io.StringIO()
        self.ctx = Context(
            Settings(database_url=database_url, **settings),
            # Wide: a temporary path (longer under xdist) must not wrap a sentence.
            out=Console(file=self.buffer, width=250, highlight=False),
        )
        parser = argparse.ArgumentParser(prog="starter.py")
        register(parser.add_subparsers(dest="command", required=True))
        self.parser = parser

    def run(self, *argv: str) -> int:
        args = self.parser.parse_args(argv)
        code: int = args.handler(args, self.ctx)
        return code

    @property
    def output(self) -> str:
        return self.buffer.getvalue()

    def close(self) -> None:
        if "engine" in self.ctx.__dict__:
            self.ctx.engine.dispose()
