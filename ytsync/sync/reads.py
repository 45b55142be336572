"""Reads inside a job: every page paid from the job's budget before it goes out, and
every re-send the client makes paid as it happens.

A failed read proves nothing about a write: it stops the batch (out of quota, signed
out) or has Temporal run it again later; it is never taken as "not there".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ytsync.quota import LIST_COST
from ytsync.sync.budget import Budget
from ytsync.sync.writer import RetryLater, StopBatch, stop_for
from ytsync.wire import PauseReason
from ytsync.youtube.client import PAGE_SIZE, Page, YouTube
from ytsync.youtube.errors import EndlessListing, Outcome, classify
from ytsync.youtube.responses import Pages

T = TypeVar("T")


class Gone(Exception):
    """The playlist read is not on YouTube (404 playlistNotFound)."""


class PagedReader:
    def __init__(
        self, youtube: YouTube, budget: Budget, heartbeat: Callable[[], None] = lambda: None
    ) -> None:
        self._yt = youtube
        self._budget = budget
        self._heartbeat = heartbeat
        # Quota units these reads cost, re-sends included.
        self.units = 0

    def all_pages(self, fetch: Callable[[str | None], Page]) -> list[dict[str, Any]]:
        """Every item of a listing; raises Gone when its playlist does not exist, and
        RetryLater for a listing that would never end (its pages are bounded)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        pages: Pages | None = None
        while True:
            page = self.one(lambda t=token: fetch(t))  # type: ignore[misc]
            items.extend(page.items)
            self._heartbeat()
            pages = pages or Pages(page.method)
            try:
                token = pages.follow(page.next_token)
            except EndlessListing as endless:
                raise RetryLater(str(endless)) from None
            if token is None:
                return items

    def playlist_items(self, playlist_id: str) -> list[dict[str, Any]]:
        return self.all_pages(lambda token: self._yt.playlist_items(playlist_id, token))

    def by_ids(
        self, ids: list[str], fetch: Callable[[list[str]], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """What ``fetch`` answers for these ids, asked 50 at a time (1 unit each)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), PAGE_SIZE):
            chunk = ids[start : start + PAGE_SIZE]
            found += self.one(lambda c=chunk: fetch(c))  # type: ignore[misc]
            self._heartbeat()
        return found

    def unavailable(self, videos: set[str]) -> set[str]:
        """Of these videos, those YouTube no longer shows to this channel (deleted, or
        private to someone else): not missing from a playlist, gone (1 unit per 50)."""
        shown = {str(v["id"]) for v in self.by_ids(sorted(videos), self._yt.videos)}
        return videos - shown

    def one(self, call: Callable[[], T]) -> T:
        self._pay(LIST_COST)
        try:
            with self._yt.resends_paid_by(lambda _method, units: self._pay(units)):
                return call()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if failure.outcome is Outcome.NOT_FOUND:
                raise Gone(failure.describe()) from None
            raise stop_for(failure, self._budget) or RetryLater(failure.describe()) from None

    def _pay(self, units: int) -> None:
        if not self._budget.try_spend(units):
            raise StopBatch(
                PauseReason.QUOTA,
                self._budget.next_reset(),
                "the usable quota of this period is spent",
            )
        self.units += units
