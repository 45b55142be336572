"""Rules applied to a generated library, imported from the emulator through the real
client, on SQLite and PostgreSQL: each kind of condition, first-match order, the
explanation, the diff, and refusals that change nothing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.harness import Installation, install
from tests.support.plans import add_playlist, plan_contents, seed_videos, snapshot, vid
from tests.support.rules import Truth, iso_seconds, library_truth, shown, write_rules
from ytsync.db.engine import transaction
from ytsync.db.models import Category, Playlist, SyncJob, Video
from ytsync.errors import JobRunning, UserError
from ytsync.plan import apply_plan, export_categories
from ytsync.rules.apply import RulesResult, apply_rules
from ytsync_emulator.clock import utc_now


@pytest.fixture
def library(tmp_path: Path, database_url: str) -> Iterator[Installation]:
    inst = install(tmp_path, database_url, utc_now, videos=400, playlists=9, seed=5, plan=False)
    yield inst
    inst.server.stop()


def placed(result: RulesResult) -> dict[str, str]:
    """Video id -> the category a rule placed it in, from the explanation."""
    assert result.placed_videos is not None
    return {p.video_id: p.category for p in result.placed_videos}


def dry(inst: Installation, text: str) -> RulesResult:
    path = write_rules(inst.tmp, text)
    return apply_rules(inst.sessions, path, dry_run=True, explain=True)


def test_each_kind_of_condition_places_what_the_emulator_says(library: Installation) -> None:
    truth = library_truth(library.state)
    owners = Counter(t.video.owner_title for t in truth.values() if t.video is not None)
    channel = owners.most_common(1)[0][0]
    some_id = next(t.video.owner_channel_id for t in truth.values() if t.video is not None)
    music = next(title for t in truth.values() for title in t.playlists if "Music" in title)
    cases: list[tuple[str, Callable[[Truth], bool]]] = [
        (
            'playlist = "music*"',
            lambda t: any(fnmatchcase(p.casefold(), "music*") for p in t.playlists),
        ),
        (f'playlist = ["{music}", "No such list"]', lambda t: music in t.playlists),
        (
            "title = 'live|CONCERT'",
            shown(lambda v: re.search("live|concert", v.title, re.IGNORECASE) is not None),
        ),
        ("title = '(?-i:Live)'", shown(lambda v: "Live" in v.title)),
        (f'channel = "{channel}"', shown(lambda v: v.owner_title == channel)),
        ('channel = "* kitchen"', shown(lambda v: v.owner_title.endswith(" Kitchen"))),
        (f'channel = "{some_id}"', shown(lambda v: v.owner_channel_id == some_id)),
        ('max_duration = "60s"', shown(lambda v: 0 < iso_seconds(v.duration) <= 60)),
        ('min_duration = "30m"', shown(lambda v: iso_seconds(v.duration) >= 1800)),
        (
            'min_duration = "2m"\nmax_duration = "3m30s"',
            shown(lambda v: 120 <= iso_seconds(v.duration) <= 210),
        ),
        (
            "published_after = 2015-01-01\npublished_before = 2016-01-01",
            shown(lambda v: "2015-01-01" <= v.published_at < "2016-01-01"),
        ),
        (
            'published_after = "2020-06-01T12:00:00+02:00"',
            shown(lambda v: v.published_at >= "2020-06-01T10:00:00Z"),
        ),
    ]
    for condition, expected in cases:
        result = dry(library, f'[[rule]]\ncategory = "Picked"\n{condition}\n')
        want = {video_id for video_id, t in truth.items() if expected(t)}
        assert want, condition  # the library has some of each, or the case proves nothing
        assert want != set(truth), condition
        assert set(placed(result)) == want, condition
        assert result.videos == len(truth)
        assert result.matched == len(want) and result.unmatched == len(truth) - len(want)
        assert result.unmatched_videos is not None
        assert {u.video_id for u in result.unmatched_videos} == set(truth) - want
    # All conditions of one rule must hold; any entry of a list may.
    both = dry(library, '[[rule]]\ncategory = "Both"\nmax_duration = "60s"\ntitle = "#shorts"\n')
    assert set(placed(both)) == {
        video_id
        for video_id, t in truth.items()
        if t.video is not None
        and iso_seconds(t.video.duration) <= 60
        and "#shorts" in t.video.title
    }


def test_the_first_rule_that_matches_wins(library: Installation) -> None:
    long_first = dry(
        library,
        '[[rule]]\ncategory = "Long"\nmin_duration = "5m"\n\n'
        '[[rule]]\ncategory = "Recent"\npublished_after = 2015-01-01\n',
    )
    recent_first = dry(
        library,
        '[[rule]]\ncategory = "Recent"\npublished_after = 2015-01-01\n\n'
        '[[rule]]\ncategory = "Long"\nmin_duration = "5m"\n',
    )
    one, two = placed(long_first), placed(recent_first)
    assert set(one) == set(two)
    overlap = {v for v in one if one[v] != two[v]}
    assert len(overlap) > 20
    assert all(one[v] == "Long" and two[v] == "Recent" for v in overlap)
    # Each video sits in one category, by the rule the explanation names.
    assert long_first.placed_videos is not None
    lines = {"Long": 1, "Recent": 5}
    assert all(p.line == lines[p.category] for p in long_first.placed_videos)
    assert [(r.rule, r.line, r.videos) for r in long_first.rules] == [
        (1, 1, Counter(one.values())["Long"]),
        (2, 5, Counter(one.values())["Recent"]),
    ]


def test_applying_replaces_the_categories_and_shows_the_diff(
    library: Installation,
) -> None:
    apply_plan(library.sessions, library.write_plan())
    before = {v: name for name, (_p, ids) in plan_contents(library.sessions).items() for v in ids}
    text = (
        '[category.Shorts]\nprivacy = "unlisted"\ndescription = "Quick ones"\n\n'
        '[[rule]]\ncategory = "Shorts"\nmax_duration = "60s"\n\n'
        '[[rule]]\ncategory = "Music"\nplaylist = "Music*"\n'
    )
    path = write_rules(library.tmp, text)
    unchanged = snapshot(library.sessions)
    preview = apply_rules(library.sessions, path, dry_run=True, explain=True)
    assert snapshot(library.sessions) == unchanged, "a dry run changes nothing"
    after = placed(preview)
    diff = preview.diff
    assert {c.video_id for c in diff.placed} == {v for v in after if v not in before}
    assert {c.video_id for c in diff.unplaced} == {v for v in before if v not in after}
    assert {c.video_id for c in diff.moved} == {
        v for v in after if v in before and before[v] != after[v]
    }
    assert diff.placed and diff.unplaced and diff.moved
    assert all(
        c.before == [before[c.video_id]] and c.after == ["Shorts"]
        for c in diff.moved
        if after[c.video_id] == "Shorts"
    )
    assert "Shorts" in diff.categories_added
    assert set(diff.categories_removed) == set(before.values()) - {"Music"}
    assert preview.applied is None

    applied = apply_rules(library.sessions, path)
    assert applied.applied is not None and applied.applied.categories == 2
    contents = plan_contents(library.sessions)
    assert {name: set(ids) for name, (_p, ids) in contents.items()} == {
        name: {v for v, n in after.items() if n == name} for name in ("Shorts", "Music")
    }
    with library.sessions() as session:
        shorts = session.query(Category).filter_by(name="Shorts").one()
        assert (shorts.privacy, shorts.description) == ("unlisted", "Quick ones")
    # Applied again: nothing left to change.
    again = apply_rules(library.sessions, path, dry_run=True)
    assert again.diff.empty
    # A setting changes, and only that shows.
    changed = write_rules(library.tmp, text.replace('"unlisted"', '"public"'), "changed.toml")
    settings = apply_rules(library.sessions, changed, dry_run=True).diff
    assert [(s.category, s.setting, s.before, s.after) for s in settings.settings_changed] == [
        ("Shorts", "privacy", "unlisted", "public")
    ]
    assert not (settings.placed or settings.moved or settings.unplaced)


def test_plan_export_writes_what_the_rules_made(library: Installation) -> None:
    path = write_rules(
        library.tmp,
        '[category.Long]\nprivacy = "public"\n\n[[rule]]\ncategory = "Long"\n'
        'min_duration = "20m"\n\n[[rule]]\ncategory = "Rest"\n',
    )
    apply_rules(library.sessions, path)
    made = snapshot(library.sessions)
    exported = library.tmp / "export.csv"
    summary = export_categories(library.sessions, exported)
    assert summary.categories == 2 and summary.videos == len(library_truth(library.state))
    apply_plan(library.sessions, exported)
    assert snapshot(library.sessions) == made
    assert apply_rules(library.sessions, path, dry_run=True).diff.empty


def test_a_running_job_refuses_the_change_but_not_the_dry_run(library: Installation) -> None:
    path = write_rules(library.tmp, '[[rule]]\ncategory = "Short"\nmax_duration = 60\n')
    with transaction(library.sessions) as session:
        session.add(SyncJob(workflow_id="ytsync-job-running", stage="add_videos"))
    before = snapshot(library.sessions)
    with pytest.raises(JobRunning, match="cannot change under a running job"):
        apply_rules(library.sessions, path)
    assert apply_rules(library.sessions, path, dry_run=True).matched > 0
    assert snapshot(library.sessions) == before


def test_no_match_is_refused_unless_dry(library: Installation) -> None:
    path = write_rules(library.tmp, '[[rule]]\ncategory = "None"\ntitle = "^zzz-no-such"\n')
    with pytest.raises(UserError, match=r"matches any of the library's .* nothing was applied"):
        apply_rules(library.sessions, path)
    assert apply_rules(library.sessions, path, dry_run=True).matched == 0


# ------------------------------------------------------------- seeded libraries


def seeded(sessions: sessionmaker[Session], count: int, playlist: str = "Big") -> list[str]:
    ids = [vid(n) for n in range(count)]
    seed_videos(sessions, ids)
    add_playlist(sessions, "PLbig", playlist, ids)
    return ids


def test_problems_only_the_library_shows_are_reported_by_rule_and_line(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The plan's own checks, at the line of the rule that placed the videos: YouTube's
    5,000-video limit, a name YouTube refuses, names that differ only in case."""
    seeded(sessions, 5_001)
    path = write_rules(
        tmp_path,
        '[[rule]]\ncategory = "Everything <here>"\ntitle = "^zz"\n\n'
        '[[rule]]\ncategory = "music"\ntitle = "^yy"\n\n'
        '[[rule]]\ncategory = "Music"\ntitle = "^xx"\n\n'
        '[[rule]]\ncategory = "Big"\nplaylist = "big"\n',
    )
    before = snapshot(sessions)
    with pytest.raises(UserError) as caught:
        apply_rules(sessions, path)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"rules file {path} has 2 problems; nothing was applied")
    assert lines[1].strip() == (
        "line 1 (rule 1): category 'Everything <here>' contains '<' and '>', which YouTube "
        "refuses in playlist titles"
    )
    assert lines[2].strip() == (
        "line 9 (rule 3): 'Music' here and 'music' on line 5 differ only in case or spacing; "
        "use one spelling"
    )
    fixed = write_rules(tmp_path, '[[rule]]\ncategory = "Big"\nplaylist = "big"\n', "big.toml")
    with pytest.raises(UserError) as caught:
        apply_rules(sessions, fixed)
    assert (
        "line 1 (rule 1): category 'Big' has 5,001 videos but a YouTube playlist holds at "
        "most 5,000; split it into 'Big 1' and 'Big 2'"
    ) in str(caught.value)
    assert snapshot(sessions) == before


def test_a_category_playlist_counts_as_a_playlist_its_videos_sit_in(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """After a sync the old playlists are gone: the category playlists hold the videos."""
    ids = seeded(sessions, 6, "Old mix")
    path = write_rules(tmp_path, '[[rule]]\ncategory = "Keep"\nplaylist = "Old*"\n')
    apply_rules(sessions, path)
    with transaction(sessions) as session:
        session.execute(update(Category).values(youtube_playlist_id="PLmadeByTheSync"))
        session.execute(update(Video).values(published_at=datetime(2021, 5, 1, tzinfo=UTC)))
    with transaction(sessions) as session:
        session.execute(update(Playlist).values(deleted_from_youtube_at=datetime.now(UTC)))
    resorted = write_rules(
        tmp_path,
        '[[rule]]\ncategory = "From Keep"\nplaylist = "keep"\npublished_after = 2021-01-01\n',
        "again.toml",
    )
    result = apply_rules(sessions, resorted, dry_run=True, explain=True)
    assert set(placed(result)) == set(ids)
    assert [c.before for c in result.diff.moved] == [["Keep"]] * len(ids)
