"""The plan CSV contract: parsing, validation by line, atomic apply, export."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.plans import (
    CliRunner,
    add_playlist,
    plan_contents,
    seed_videos,
    snapshot,
    vid,
    write_plan,
)
from ytsync import plan as plan_module
from ytsync.db.engine import transaction
from ytsync.db.models import Category, SyncJob, SyncOperation
from ytsync.errors import UserError
from ytsync.plan import apply_plan, export_names, export_plan, extract_video_id, parse_protected

# --------------------------------------------------------------------------- pure parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("  dQw4w9WgXcQ ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/watch?list=PL123&v=dQw4w9WgXcQ&t=42s", "dQw4w9WgXcQ"),
        ("http://youtube.com/watch?v=dQw4w9WgXcQ#t=1", "dQw4w9WgXcQ"),
        ("https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share", "dQw4w9WgXcQ"),
        ("https://music.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abcdef", "dQw4w9WgXcQ"),
        ("youtu.be/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/shorts/dQw4w9WgXcQ?feature=share", "dQw4w9WgXcQ"),
        ("https://www.youtube.com/embed/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
        ("dQw4w9WgXc", None),
        ("dQw4w9WgXcQQ", None),
        ("not a video", None),
        ("https://www.youtube.com/playlist?list=PL1234567890", None),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://example.com/watch?v=dQw4w9WgXcQ", None),
        ("ftp://youtube.com/watch?v=dQw4w9WgXcQ", None),
        ("https://youtube.com/@channel", None),
        ("http://[::1", None),
    ],
)
def test_extract_video_id(text: str, expected: str | None) -> None:
    assert extract_video_id(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" Yes ", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
        ("", False),
        ("  ", False),
        ("maybe", None),
        ("2", None),
    ],
)
def test_parse_protected(text: str, expected: bool | None) -> None:
    assert parse_protected(text) is expected


def test_export_names_trim_truncate_and_deduplicate() -> None:
    long = "x" * 160
    titles = ["  Music ", "music", "MUSIC", long, long, "   ", "Rock", "<b>Solo</b>", "a\u2028b"]
    names = export_names(titles)
    assert names == [
        "Music",
        "music (2)",
        "MUSIC (3)",
        "x" * 150,
        "x" * 146 + " (2)",
        "Untitled",
        "Rock",
        "\u2039b\u203aSolo\u2039/b\u203a",
        "a b",
    ]
    assert all(len(name) <= 150 for name in names)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def library(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Twenty available videos vid00000000 .. vid00000019."""
    seed_videos(sessions, [vid(n) for n in range(20)])
    return sessions


@pytest.fixture
def cli(database_url: str, engine: object) -> Iterator[CliRunner]:
    runner = CliRunner(database_url)
    yield runner
    runner.close()


def _plan(*rows: str, header: str = "category,video_id,protected") -> str:
    return "\n".join([header, *rows]) + "\n"


# --------------------------------------------------------------------------- apply


def test_apply_creates_categories_in_file_order(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_plan(
        tmp_path,
        _plan(
            f"Music,{vid(3)},",
            f"Music,https://www.youtube.com/watch?v={vid(1)}&t=3s,no",
            f"Talks,https://youtu.be/{vid(2)},",
            f" Music ,{vid(2)},false",
            f"Family,{vid(4)},YES",
            f"Family,{vid(5)},true",
        ),
    )
    summary = apply_plan(library, path)

    assert plan_contents(library) == {
        "Music": (False, [vid(3), vid(1), vid(2)]),
        "Talks": (False, [vid(2)]),
        "Family": (True, [vid(4), vid(5)]),
    }
    assert summary.categories == 3
    assert summary.protected_categories == 1
    assert summary.videos == 5
    assert summary.assignments == 6
    assert (summary.categories_added, summary.categories_kept, summary.categories_removed) == (
        3,
        0,
        0,
    )
    _, entries = snapshot(library)
    assert sorted(position for _, _, position in entries) == [0, 0, 0, 1, 1, 2]


def test_protected_column_is_optional(library: sessionmaker[Session], tmp_path: Path) -> None:
    path = write_plan(tmp_path, f"Category , VIDEO_ID\nMusic,{vid(1)}\n")
    apply_plan(library, path)
    assert plan_contents(library) == {"Music": (False, [vid(1)])}


def test_bom_crlf_and_blank_lines_are_accepted(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "excel.csv"
    text = f"category,video_id\r\n\r\nMusic,{vid(1)}\r\n,\r\nMusic,{vid(2)}\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    apply_plan(library, path)
    assert plan_contents(library) == {"Music": (False, [vid(1), vid(2)])}


def test_reapply_keeps_playlist_ids_and_replaces_the_rest(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    apply_plan(
        library,
        write_plan(tmp_path, _plan(f"Music,{vid(1)},", f"Old,{vid(2)},", f"Gone,{vid(3)},")),
    )
    with transaction(library) as session:
        for category in session.scalars(select(Category)):
            category.youtube_playlist_id = f"PL-{category.name}"
        music_id = session.scalars(select(Category.id).where(Category.name == "Music")).one()

    summary = apply_plan(
        library,
        write_plan(tmp_path, _plan(f"Music,{vid(5)},", f"Music,{vid(1)},", f"New,{vid(2)},")),
    )

    with library() as session:
        rows = session.execute(
            select(Category.id, Category.name, Category.youtube_playlist_id).order_by(Category.name)
        ).all()
    by_name = {name: (cid, playlist) for cid, name, playlist in rows}
    assert by_name["Music"] == (music_id, "PL-Music")
    assert by_name["New"][1] is None
    assert set(by_name) == {"Music", "New"}
    assert plan_contents(library) == {
        "Music": (False, [vid(5), vid(1)]),
        "New": (False, [vid(2)]),
    }
    assert (summary.categories_added, summary.categories_kept, summary.categories_removed) == (
        1,
        1,
        2,
    )
    assert sorted(
        (r.category_name, r.youtube_playlist_id) for r in summary.playlists_left_on_youtube
    ) == [("Gone", "PL-Gone"), ("Old", "PL-Old")]


def test_respelling_keeps_the_category_and_its_playlist(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    apply_plan(library, write_plan(tmp_path, _plan(f"Music,{vid(1)},")))
    with transaction(library) as session:
        session.scalars(select(Category)).one().youtube_playlist_id = "PL-music"

    summary = apply_plan(library, write_plan(tmp_path, _plan(f"music,{vid(1)},")))

    categories, _ = snapshot(library)
    assert [(name, playlist) for _, name, _, playlist, *_ in categories] == [("music", "PL-music")]
    assert [(r.old_name, r.new_name) for r in summary.renamed_categories] == [("Music", "music")]
    assert summary.categories_kept == 1


def test_protected_flag_changes_on_reapply(library: sessionmaker[Session], tmp_path: Path) -> None:
    apply_plan(library, write_plan(tmp_path, _plan(f"Music,{vid(1)},")))
    apply_plan(library, write_plan(tmp_path, _plan(f"Music,{vid(1)},yes")))
    assert plan_contents(library) == {"Music": (True, [vid(1)])}


def test_apply_after_a_finished_job_detaches_its_operations(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    apply_plan(library, write_plan(tmp_path, _plan(f"Gone,{vid(1)},", f"Kept,{vid(2)},")))
    with transaction(library) as session:
        gone, kept = session.scalars(select(Category.id).order_by(Category.name)).all()
        job = SyncJob(workflow_id="wf-1", stage="completed")
        session.add(job)
        session.flush()
        for cid in (gone, kept):
            session.add(
                SyncOperation(
                    job_id=job.id, kind="create_playlist", op_key=f"create:{cid}", category_id=cid
                )
            )

    apply_plan(library, write_plan(tmp_path, _plan(f"Kept,{vid(2)},")))

    with library() as session:
        rows = session.execute(select(SyncOperation.op_key, SyncOperation.category_id))
        ops = {op_key: category_id for op_key, category_id in rows}
    assert ops == {f"create:{gone}": None, f"create:{kept}": kept}


@pytest.mark.parametrize("stage", ["pending", "backup", "add_videos", "paused"])
def test_apply_refused_while_a_job_is_active(
    library: sessionmaker[Session], tmp_path: Path, stage: str
) -> None:
    apply_plan(library, write_plan(tmp_path, _plan(f"Music,{vid(1)},")))
    with transaction(library) as session:
        session.add(
            SyncJob(
                workflow_id="wf-active",
                stage=stage,
                pause_reason="quota_exhausted" if stage == "paused" else None,
            )
        )
    before = snapshot(library)

    with pytest.raises(UserError, match=r"sync job \d+ \(wf-active\) is not finished") as err:
        apply_plan(library, write_plan(tmp_path, _plan(f"Other,{vid(2)},")))

    assert stage in str(err.value)
    assert snapshot(library) == before


def test_finished_jobs_do_not_block(library: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(library) as session:
        session.add_all(
            [
                SyncJob(workflow_id="wf-a", stage="completed"),
                SyncJob(workflow_id="wf-b", stage="failed"),
            ]
        )
    apply_plan(library, write_plan(tmp_path, _plan(f"Music,{vid(1)},")))
    assert plan_contents(library) == {"Music": (False, [vid(1)])}


# --------------------------------------------------------------------------- bad input

LONG = "L" * 151

BAD_PLANS: list[tuple[str, str, str]] = [
    ("no header", f"Music,{vid(1)}\n", "line 1: there is no header row"),
    (
        "missing video_id",
        "category,protected\nMusic,yes\n",
        "line 1: the header has no 'video_id' column",
    ),
    ("missing both", "\nprotected\nyes\n", "line 2: the header has no 'category' or 'video_id'"),
    (
        "unknown column",
        f"category,video_id, Notes \nMusic,{vid(1)},x\n",
        "line 1: unknown column 'Notes'; the first line must be category,video_id",
    ),
    ("unnamed column", f"category,video_id,\nMusic,{vid(1)},\n", "column 3 has no name"),
    (
        "repeated column",
        f"category,video_id,Category\nMusic,{vid(1)},x\n",
        "column 'category' appears twice",
    ),
    ("semicolons", f"category;video_id\nMusic;{vid(1)}\n", "separated by ';'; use commas"),
    ("tabs", f"category\tvideo_id\nMusic\t{vid(1)}\n", "separated by tabs; use commas"),
    (
        "semicolon rows",
        f"category,video_id\nMusic;{vid(1)}\n",
        "line 2: the video_id is empty (the row seems to use ';'; use commas)",
    ),
    ("empty category", _plan(f"Music,{vid(1)},", f" ,{vid(2)},"), "line 3: the category is empty"),
    ("empty video", _plan("Music, ,"), "line 2: the video_id is empty"),
    (
        "malformed id",
        _plan(f"Music,{vid(1)},", "Music,not-a-video-id,"),
        "line 3: 'not-a-video-id' is not a YouTube video id",
    ),
    (
        "playlist url",
        _plan("Music,https://www.youtube.com/playlist?list=PLxyz,"),
        "line 2: 'https://www.youtube.com/playlist?list=PLxyz' is not a YouTube video id",
    ),
    (
        "unknown video",
        _plan(f"Music,{vid(1)},", "Music,zzzzzzzzzzz,", "Talks,zzzzzzzzzzz,"),
        "line 3: video zzzzzzzzzzz is not in the library",
    ),
    (
        "long name",
        _plan(f"Music,{vid(1)},", f"{LONG},{vid(2)},", f"{LONG},{vid(3)},"),
        "line 3: category 'LLLL",
    ),
    (
        "listed twice",
        _plan(f"Music,{vid(1)},", f"Music,{vid(2)},", f"Music,https://youtu.be/{vid(1)},"),
        f"line 4: video {vid(1)} is listed twice in 'Music' (also line 2); remove one",
    ),
    (
        "conflicting protected",
        _plan(f"Family,{vid(1)},yes", f"Family,{vid(2)},", f"Family,{vid(3)},no"),
        "line 3: category 'Family' is protected=false here but protected=true on line 2",
    ),
    (
        "bad protected",
        _plan(f"Music,{vid(1)},maybe"),
        "line 2: protected must be true/false, yes/no, 1/0 or empty, not 'maybe'",
    ),
    (
        "case collision",
        _plan(f"Music,{vid(1)},", f"Talks,{vid(2)},", f"music,{vid(3)},"),
        "line 4: 'music' here and 'Music' on line 2 differ only in case or spacing; "
        "use one spelling",
    ),
    (
        "spacing collision",
        _plan(f"Hard  Rock,{vid(1)},", f"Hard Rock,{vid(2)},"),
        "line 3: 'Hard Rock' here and 'Hard  Rock' on line 2 differ only in case or spacing",
    ),
    (
        "too many values",
        _plan(f"Music,{vid(1)},no,extra"),
        "line 2: 4 values but the header has 3 columns",
    ),
    (
        "malformed csv",
        _plan(f"Music,{vid(1)},", f'"Music,{vid(2)},'),
        "line 3: malformed CSV",
    ),
    ("bad quote", _plan(f'"Mu"sic,{vid(1)},'), "line 2: malformed CSV"),
    ("header only", "category,video_id,protected\n", "has no rows"),
    ("blank rows only", "category,video_id\n,\n\n", "has no rows"),
    ("empty file", "", "is empty"),
    ("whitespace file", "\n \n", "is empty"),
]


@pytest.fixture
def applied(library: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    """A library with a plan already applied, so 'nothing changed' means something."""
    apply_plan(library, write_plan(tmp_path, _plan(f"Before,{vid(7)},", f"Before,{vid(8)},")))
    return library


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in BAD_PLANS], ids=[c[0] for c in BAD_PLANS]
)
def test_bad_plan_is_reported_and_changes_nothing(
    applied: sessionmaker[Session], tmp_path: Path, text: str, message: str
) -> None:
    before = snapshot(applied)
    with pytest.raises(UserError) as err:
        apply_plan(applied, write_plan(tmp_path, text, "bad.csv"))
    assert message in str(err.value)
    assert "nothing was applied" in str(err.value)
    assert snapshot(applied) == before


def test_every_bad_row_is_reported_with_its_physical_line(
    applied: sessionmaker[Session], tmp_path: Path
) -> None:
    text = (
        "category,video_id\n"  # 1
        f'"Two\nlines",bad-id\n'  # 2-3: the record starts on line 2
        "\n"  # 4
        f"Music,{vid(1)}\n"  # 5
        "Music,\n"  # 6
        f",{vid(2)}\n"  # 7
        "Music,zzzzzzzzzzz\n"  # 8
    )
    with pytest.raises(UserError) as err:
        apply_plan(applied, write_plan(tmp_path, text))
    lines = str(err.value).splitlines()
    # Line 2: a name holding a line break, and a bad id.
    assert lines[0].endswith("has 5 problems; nothing was applied:")
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "line 2",
        "line 2",
        "line 6",
        "line 7",
        "line 8",
    ]


def test_long_reports_are_cut_after_twenty(applied: sessionmaker[Session], tmp_path: Path) -> None:
    rows = [f"Music,bad{n}" for n in range(25)]
    with pytest.raises(UserError) as err:
        apply_plan(applied, write_plan(tmp_path, _plan(*rows, header="category,video_id")))
    message = str(err.value)
    assert "has 25 problems" in message
    assert "line 21:" in message and "line 22:" not in message
    assert message.endswith("  ... and 5 more")


def test_more_than_5000_videos_in_a_category(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ids = [vid(n) for n in range(5_001)]
    seed_videos(sessions, ids)
    rows = [f"Big,{yid}" for yid in ids]
    path = write_plan(tmp_path, _plan(*rows, header="category,video_id"))
    with pytest.raises(UserError) as err:
        apply_plan(sessions, path)
    assert (
        "line 5002: category 'Big' has 5,001 videos but a YouTube playlist holds at most 5,000; "
        "split it into 'Big 1' and 'Big 2'"
    ) in str(err.value)
    assert snapshot(sessions) == ([], [])

    # A protected category never becomes a playlist, so it may be larger.
    path = write_plan(tmp_path, _plan(*[f"{row},yes" for row in rows]))
    assert apply_plan(sessions, path).assignments == 5_001


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "category,video_id\nMusique é,x\n".encode("latin-1"),
            "is not UTF-8 (byte 0xe9 on line 2)",
        ),
        ("category,video_id\n".encode("utf-16"), "is UTF-16; save it as UTF-8"),
    ],
)
def test_wrong_encoding(
    applied: sessionmaker[Session], tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "encoded.csv"
    path.write_bytes(data)
    before = snapshot(applied)
    with pytest.raises(UserError, match="save it as UTF-8") as err:
        apply_plan(applied, path)
    assert message in str(err.value)
    assert snapshot(applied) == before


def test_unreadable_files(applied: sessionmaker[Session], tmp_path: Path) -> None:
    before = snapshot(applied)
    with pytest.raises(UserError, match=r"cannot read plan file .*missing\.csv: no such file"):
        apply_plan(applied, tmp_path / "missing.csv")
    with pytest.raises(UserError, match="it is a directory"):
        apply_plan(applied, tmp_path)
    if os.geteuid() != 0:  # root reads any file
        locked = write_plan(tmp_path, _plan(f"Music,{vid(1)},"), "locked.csv")
        locked.chmod(0)
        with pytest.raises(UserError, match="permission denied"):
            apply_plan(applied, locked)
    assert snapshot(applied) == before


# --------------------------------------------------------------------------- export


def test_export_writes_old_playlists_as_a_plan(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    add_playlist(library, "PL1", "  Music  ", [vid(1), vid(2), vid(1), vid(3)])
    add_playlist(library, "PL2", "music", [vid(4)])
    add_playlist(library, "PL3", "Deleted", [vid(5)], deleted=True)
    add_playlist(library, "PL4", "Empty", [])
    add_playlist(library, "PL5", "T" * 160, [vid(6)])
    path = tmp_path / "export.csv"

    summary = export_plan(library, path)

    assert path.read_text(encoding="utf-8") == (
        "category,video_id,protected\n"
        f"Music,{vid(1)},false\n"
        f"Music,{vid(2)},false\n"
        f"Music,{vid(3)},false\n"
        f"music (2),{vid(4)},false\n"
        f"{'T' * 150},{vid(6)},false\n"
    )
    assert summary.model_dump() == {
        "file": str(path),
        "categories": 3,
        "videos": 5,
        "protected_categories": 0,
        "skipped_duplicates": 1,
        "empty_playlists": 1,
        "adjusted_names": 2,
    }


def test_export_refuses_to_overwrite_without_force(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    add_playlist(library, "PL1", "Music", [vid(1)])
    path = tmp_path / "plan.csv"
    path.write_text("keep me")
    with pytest.raises(UserError, match="already exists; pass --force"):
        export_plan(library, path)
    assert path.read_text() == "keep me"
    export_plan(library, path, force=True)
    assert path.read_text().startswith("category,video_id,protected\n")
    with pytest.raises(UserError, match="its folder does not exist"):
        export_plan(library, tmp_path / "nope" / "plan.csv")


def test_export_then_apply_round_trip(library: sessionmaker[Session], tmp_path: Path) -> None:
    add_playlist(library, "PL1", "Music, live", [vid(3), vid(1), vid(3)])
    add_playlist(library, "PL2", 'Talks "best"', [vid(2), vid(1)])
    add_playlist(library, "PL3", 'TALKS "BEST"', [vid(4)])
    path = tmp_path / "roundtrip.csv"
    export_plan(library, path)

    summary = apply_plan(library, path)

    assert plan_contents(library) == {
        "Music, live": (False, [vid(3), vid(1)]),
        'Talks "best"': (False, [vid(2), vid(1)]),
        'TALKS "BEST" (2)': (False, [vid(4)]),
    }
    assert summary.videos == 4


# --------------------------------------------------------------------------- playlist settings


def settings_of(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    """Category name -> (privacy, description) as stored."""
    with sessions() as session:
        rows = session.execute(select(Category.name, Category.privacy, Category.description))
        return {name: (privacy, description) for name, privacy, description in rows}


def test_privacy_and_description_are_per_category_and_optional(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    """Given on any row of a category, empty on the others; a category that gives none
    is private with no description of its own; the case of a privacy is not kept."""
    header = "category,video_id,protected,privacy,description"
    path = write_plan(
        tmp_path,
        _plan(
            f"Music,{vid(1)},,,",
            f'Music,{vid(2)},,Public,"Songs, live\nand not … only"',
            f"Music,{vid(3)},,public,",
            f"Talks,{vid(4)},,unlisted,",
            f"Plain,{vid(5)},,,",
            header=header,
        ),
    )
    apply_plan(library, path)
    assert settings_of(library) == {
        "Music": ("public", "Songs, live\nand not … only"),
        "Talks": ("unlisted", None),
        "Plain": ("private", None),
    }
    # Applied again without the columns: the defaults again.
    apply_plan(library, write_plan(tmp_path, _plan(f"Music,{vid(1)},"), "again.csv"))
    assert settings_of(library) == {"Music": ("private", None)}


def test_bad_privacy_or_description_is_reported_by_line_and_changes_nothing(
    applied: sessionmaker[Session], tmp_path: Path
) -> None:
    header = "category,video_id,privacy,description"
    text = _plan(
        f"Music,{vid(1)},secret,",  # 2
        f"Talks,{vid(2)},,<b>bold</b>",  # 3
        f"Long,{vid(3)},,{'d' * 4901}",  # 4
        f"Fits,{vid(4)},,{'d' * 4900}",  # 5
        f"Mixed,{vid(5)},public,",  # 6
        f"Mixed,{vid(6)},unlisted,",  # 7
        f"Mixed,{vid(7)},private,",  # 8: reported once per category
        f"Told,{vid(8)},,one",  # 9
        f"Told,{vid(9)},,two",  # 10
        f"Sep,{vid(10)},,a\u2028b",  # 11
        header=header,
    )
    before = snapshot(applied)
    with pytest.raises(UserError) as err:
        apply_plan(applied, write_plan(tmp_path, text))
    lines = str(err.value).splitlines()
    assert lines[0].endswith("has 6 problems; nothing was applied:")
    assert lines[1:] == [
        "  line 2: privacy must be private, unlisted or public (or empty for private), "
        "not 'secret'",
        "  line 3: the description contains '<' and '>', which YouTube refuses in playlist "
        "descriptions",
        "  line 4: the description is 4,901 characters long; at most 4,900 fit (YouTube "
        "allows 5,000; ytsync keeps 100 for the marker that finds a new playlist again)",
        "  line 7: category 'Mixed' has another privacy here than on line 6; give it once, "
        "or the same on every row",
        "  line 10: category 'Told' has another description here than on line 9; give it "
        "once, or the same on every row",
        "  line 11: the description contains a line separator (U+2028), which YouTube "
        "refuses in playlist descriptions",
    ]
    assert snapshot(applied) == before


def test_starter_exits_2_on_a_bad_privacy(
    applied: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ytsync.cli.app import main

    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    before = snapshot(applied)
    path = write_plan(tmp_path, _plan(f"Music,{vid(1)},hidden", header="category,video_id,privacy"))
    assert main(["plan", "apply", str(path)]) == 2
    assert "line 2: privacy must be private, unlisted or public" in capsys.readouterr().err
    assert snapshot(applied) == before


def test_export_writes_privacy_and_description_only_when_set(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    """An all-private library without descriptions exports as before; otherwise each
    category's first row carries its playlist's settings, made valid for apply, and
    applying the file gives the categories exactly those."""
    add_playlist(library, "PL1", "Plain", [vid(1)])
    path = tmp_path / "plain.csv"
    export_plan(library, path)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "category,video_id,protected"

    add_playlist(library, "PL2", "Shared", [vid(2), vid(3)], privacy="public")
    add_playlist(library, "PL3", "Notes", [vid(4)], description="a <b> note\u2028" + "n" * 5000)
    path = tmp_path / "set.csv"
    export_plan(library, path)
    long = "a \u2039b\u203a note " + "n" * (4900 - len("a <b> note "))
    assert path.read_text(encoding="utf-8") == (
        "category,video_id,protected,privacy,description\n"
        f"Plain,{vid(1)},false,,\n"
        f"Shared,{vid(2)},false,public,\n"
        f"Shared,{vid(3)},false,,\n"
        f"Notes,{vid(4)},false,,{long}\n"
    )
    apply_plan(library, path)
    assert settings_of(library) == {
        "Plain": ("private", None),
        "Shared": ("public", None),
        "Notes": ("private", long),
    }


# --------------------------------------------------------------------------- CLI


def test_cli_apply_and_export(
    library: sessionmaker[Session],
    cli: CliRunner,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_playlist(library, "PL1", "Music", [vid(1), vid(2)])
    path = tmp_path / "cli.csv"

    assert cli.run("plan", "export", str(path)) == 0
    assert f"Wrote 1 categories with 2 videos to {path}" in cli.output
    assert cli.run("plan", "apply", str(path)) == 0
    assert "Applied" in cli.output and "1 categories (0 protected), 2 videos" in cli.output

    capsys.readouterr()
    assert cli.run("plan", "apply", str(path), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["categories"] == 1 and data["videos"] == 2 and data["categories_kept"] == 1

    assert cli.run("plan", "export", str(path), "--force", "--json") == 0
    assert json.loads(capsys.readouterr().out)["videos"] == 2


def test_cli_bad_plan_raises_user_error(
    applied: sessionmaker[Session], cli: CliRunner, tmp_path: Path
) -> None:
    before = snapshot(applied)
    path = write_plan(tmp_path, _plan("Music,nope,"))
    with pytest.raises(UserError, match="line 2: 'nope' is not a YouTube video id"):
        cli.run("plan", "apply", str(path))
    with pytest.raises(UserError, match="already exists"):
        cli.run("plan", "export", str(path))
    assert snapshot(applied) == before


def test_cli_requires_a_plan_action(cli: CliRunner) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.run("plan")
    assert exit_info.value.code == 2


def test_starter_exits_2_on_a_bad_plan(
    applied: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ytsync.cli.app import main

    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    before = snapshot(applied)
    path = write_plan(tmp_path, _plan(f"Music,{vid(1)},", "Music,zzzzzzzzzzz,"))

    assert main(["plan", "apply", str(path)]) == 2

    assert "line 3: video zzzzzzzzzzz is not in the library" in capsys.readouterr().err
    assert snapshot(applied) == before
    assert main(["plan", "apply", str(write_plan(tmp_path, _plan(f"Music,{vid(1)},")))]) == 0
    assert main(["preview", "--json"]) == 0


def test_plan_apply_refuses_names_youtube_would_refuse_as_titles(
    applied: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A category's name becomes its playlist's title; YouTube refuses over 150
    characters, '<', '>' and U+2028 (with a vague 400 at run time): say so up front."""
    from ytsync.cli.app import main

    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    before = snapshot(applied)
    path = write_plan(
        tmp_path,
        _plan(
            f"Music,{vid(1)},",
            f"<b>Solo</b>,{vid(2)},",
            f"{'N' * 151},{vid(3)},",
            f"Line\u2028Break,{vid(4)},",
            f"{'M' * 150},{vid(5)},",
            f"a > b,{vid(6)},",
            f"<b>Solo</b>,{vid(7)},",
        ),
    )

    assert main(["plan", "apply", str(path)]) == 2

    err = " ".join(capsys.readouterr().err.split())  # unwrapped
    assert "has 4 problems; nothing was applied" in err
    assert (
        "line 3: category '<b>Solo</b>' contains '<' and '>', which YouTube refuses in "
        "playlist titles" in err
    )
    assert "line 4: category 'NNNN" in err
    assert "is 151 characters long; a YouTube playlist title holds at most 150" in err
    assert (
        "line 5: category 'Line\\u2028Break' contains a line separator (U+2028), which "
        "YouTube refuses in playlist titles" in err
    )
    assert "line 7: category 'a > b' contains '>'" in err
    assert "line 6" not in err and "line 8" not in err, "150 characters pass; one report a name"
    assert snapshot(applied) == before


def test_unicode_and_emoji_category_names_are_kept_exactly(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    names = ["Müsik 🎸", "日本の料理", "Ünïcödé — talks"]
    path = write_plan(tmp_path, _plan(*(f"{name},{vid(i)}," for i, name in enumerate(names))))
    apply_plan(library, path)
    assert sorted(plan_contents(library)) == sorted(names)


def test_150_emoji_fit_the_title_limit_but_151_do_not(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    apply_plan(library, write_plan(tmp_path, _plan(f"{'🎵' * 150},{vid(1)},")))
    before = snapshot(library)
    with pytest.raises(UserError, match="line 2"):
        apply_plan(library, write_plan(tmp_path, _plan(f"{'🎵' * 151},{vid(1)},"), "b.csv"))
    assert snapshot(library) == before


def test_a_huge_bad_file_reports_a_bounded_list_and_changes_nothing(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [f"Music,{'x' * 11 if n % 2 else vid(n % 20)}," for n in range(100_000)]
    path = write_plan(tmp_path, _plan(*rows))
    before = snapshot(library)
    with pytest.raises(UserError) as caught:
        apply_plan(library, path)
    message = str(caught.value)
    assert "line 3" in message
    assert "more" in message
    assert len(message) < 10_000, "the report must stay readable"
    assert snapshot(library) == before


def test_a_file_too_big_to_be_a_plan_is_refused_before_reading(
    library: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "MAX_PLAN_BYTES", 1_000)
    path = write_plan(tmp_path, _plan(*[f"Music,{vid(n % 20)}," for n in range(100)]))
    before = snapshot(library)
    with pytest.raises(UserError, match=r"a plan is at most .* Is it the right file\?"):
        apply_plan(library, path)
    assert snapshot(library) == before


def test_a_giant_cell_is_named_with_its_line(
    library: sessionmaker[Session], tmp_path: Path
) -> None:
    path = write_plan(tmp_path, _plan(f"Music,{vid(1)},", f"{'x' * 200_000},{vid(2)},"))
    before = snapshot(library)
    with pytest.raises(UserError, match=r"line 3: a cell longer than 131,072 characters"):
        apply_plan(library, path)
    assert snapshot(library) == before
