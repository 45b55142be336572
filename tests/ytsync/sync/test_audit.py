"""The verdicts of a settled check, from what ytsync knows for sure (ytsync.sync.audit).

Pure: a lane's writes as the database has them, a listing, what a look-up by id found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ytsync.sync.audit import Copy, Verdicts, Write, judge, sent_while

NOW = datetime(2026, 12, 8, 12, 0, 0, tzinfo=UTC)
SETTLE = timedelta(seconds=3)
WINDOW = timedelta(seconds=60)
# YouTube's clock runs 7 s ahead of the job's here: the check learns it from the
# answered writes.
AHEAD = timedelta(seconds=7)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def answered(op_id: int, video: str, sent: float) -> Write:
    return Write(op_id, "completed", video, f"item-{video}", ago(sent), False, ())


def lost(op_id: int, video: str, sent: float, *earlier: float) -> Write:
    sends = (*(ago(s) for s in earlier), ago(sent))
    return Write(op_id, "in_flight", video, None, ago(sent), False, sends)


def listed_copy(write: Write, sent: float) -> Copy:
    """The copy an answered write made, as a listing shows it."""
    assert write.item_id is not None
    return Copy(write.item_id, write.key, ago(sent) + AHEAD)


def copy(item_id: str, video: str, added_ago: float) -> Copy:
    return Copy(item_id, video, ago(added_ago) + AHEAD)


def check(
    writes: list[Write], listing: list[Copy], by_id: frozenset[str] = frozenset()
) -> Verdicts:
    sends = [
        (w.sent_at, c.added)
        for w in writes
        for c in listing
        if c.id == w.item_id and w.sent_at is not None and c.added is not None
    ]
    ours = sent_while(sends, WINDOW)
    return judge(writes, listing, set(by_id), NOW, SETTLE, ours)


def test_an_answered_write_a_listing_lacks_is_never_sent_again() -> None:
    old, fresh = answered(1, "a", 30), answered(2, "b", 6)
    verdicts = check([old, fresh], [listed_copy(old, 30)])
    assert verdicts.resend == [] and verdicts.waiting == 1
    # Its age is the listing's lag, at least: the settle grows to twice that.
    assert verdicts.late_by == 6.0
    assert verdicts.confirmed == [1]


def test_an_answered_write_found_by_id_is_confirmed_though_not_listed() -> None:
    old, fresh = answered(1, "a", 30), answered(2, "b", 6)
    verdicts = check([old, fresh], [listed_copy(old, 30)], frozenset({"item-b"}))
    assert verdicts.confirmed == [1, 2] and verdicts.waiting == 0
    assert verdicts.late_by == 6.0 and verdicts.settled


def test_a_lost_write_is_sent_again_once_a_later_write_is_listed() -> None:
    unknown, later = lost(1, "a", 20), answered(2, "b", 10)
    verdicts = check([unknown, later], [listed_copy(later, 10)])
    assert verdicts.resend == [1]


def test_a_lost_write_waits_while_the_listing_may_still_lag() -> None:
    # Nothing sent after it is listed, and an answered write 8 s old is not listed yet:
    # the listing lags 8 s at least, so 10 s of absence prove nothing.
    earlier, unknown, late = answered(1, "z", 40), lost(2, "a", 10), answered(3, "b", 8)
    verdicts = check([earlier, unknown, late], [listed_copy(earlier, 40)])
    assert verdicts.resend == [] and verdicts.waiting == 2
    # Older than twice the lag seen: absent for real.
    older = lost(2, "a", 17)
    assert check([earlier, older, late], [listed_copy(earlier, 40)]).resend == [2]


def test_a_lost_write_found_is_done_with_its_own_copy() -> None:
    reference, unknown = answered(1, "z", 30), lost(2, "a", 20)
    found = copy("item-a", "a", 20.5)
    verdicts = check([reference, unknown], [listed_copy(reference, 30), found])
    assert verdicts.found == [(2, "item-a")] and verdicts.extra == []


def test_a_copy_each_unanswered_send_made_beyond_one_is_deleted() -> None:
    """Sent twice, both answers lost, both applied (a listing that lagged past the
    settle judged the first missing): one copy stays, the other goes."""
    reference = answered(1, "z", 300)
    twice = lost(2, "a", 100, 200)
    first, second = copy("first", "a", 200.5), copy("second", "a", 100.5)
    verdicts = check([reference, twice], [listed_copy(reference, 300), first, second])
    assert verdicts.found == [(2, "first")]
    assert verdicts.extra == [(2, "second")]


def test_the_owners_copy_is_never_a_duplicate() -> None:
    """The owner saved the video to the category playlist by hand, an hour after
    ytsync's copy: it is no send of ytsync's, so it stays, and counts for nothing."""
    mine = answered(1, "a", 4000)
    resent = Write(2, "completed", "b", "item-b", ago(3000), False, (ago(3500),))
    owners = [copy("owner-a", "a", 100), copy("owner-b", "b", 100)]
    listing = [listed_copy(mine, 4000), listed_copy(resent, 3000), *owners]
    verdicts = check([mine, resent], listing)
    assert verdicts.extra == [] and verdicts.confirmed == [1, 2] and verdicts.settled


def test_a_lost_write_whose_video_the_owner_added_needs_no_second_copy() -> None:
    reference, unknown = answered(1, "z", 4000), lost(2, "a", 20)
    owners = copy("owner-a", "a", 3000)
    verdicts = check([reference, unknown], [listed_copy(reference, 4000), owners])
    # The video is there: nothing is sent again; the owner's copy is not taken for
    # ytsync's (its id stays unknown).
    assert verdicts.found == [(2, None)] and verdicts.resend == []
    # If the lost send lands after all, that copy is ytsync's, and goes; the owner's
    # stays.
    done = Write(2, "completed", "a", None, ago(20), True, (ago(20),))
    late = copy("late-a", "a", 20.2)
    again = check([reference, done], [listed_copy(reference, 4000), owners, late])
    assert again.extra == [(2, "late-a")]


def test_an_answered_copy_the_owner_removed_is_not_sent_again() -> None:
    removed, later = answered(1, "a", 50), answered(2, "b", 10)
    verdicts = check([removed, later], [listed_copy(later, 10)])
    assert verdicts.gone == [1] and verdicts.resend == [] and verdicts.settled


def test_the_creation_check_takes_every_marked_playlist_for_ytsyncs() -> None:
    made = Write(1, "completed", "7", "PL-made", ago(100), False, ())
    unknown = Write(2, "in_flight", "8", None, ago(90), False, (ago(90),))
    listing = [
        Copy("PL-made", "7", ago(100)),
        Copy("PL-second", "7", ago(99), items=0),
        Copy("PL-found", "8", ago(90)),
    ]
    verdicts = judge(
        [made, unknown], listing, set(), NOW, SETTLE, lambda _w, _c: True, counted=False
    )
    assert verdicts.confirmed == [1]
    assert verdicts.found == [(2, "PL-found")]
    assert verdicts.extra == [(1, "PL-second")]
