"""``plan rules FILE``: what a person and a script see, exit codes, nothing applied on
a bad file; ``plan export --categories`` afterwards."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.support.harness import ROOT, install
from tests.support.plans import add_playlist, plan_contents, seed_videos, snapshot, vid
from tests.support.rules import write_rules
from ytsync.cli.app import main
from ytsync.db.engine import transaction
from ytsync.db.models import Video
from ytsync.rules.apply import apply_rules
from ytsync_sandbox.demo import DemoOptions

RULES = """\
[category."Shorts"]
privacy = "unlisted"

[[rule]]
category = "Shorts"
max_duration = "60s"

[[rule]]
category = "Music"
playlist = "Music*"
"""


def flat(text: str) -> str:
    return " ".join(text.split())  # undo rich's line wrapping


@pytest.fixture
def library(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> sessionmaker[Session]:
    """Ten videos: 0-3 Shorts in "Music mix", 4-6 long in "Music mix", 7-9 long in
    "Other" (9 deleted, with no details)."""
    for name in list(os.environ):
        if name.startswith("YTSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("YTSYNC_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    ids = [vid(n) for n in range(10)]
    seed_videos(sessions, ids)
    with transaction(sessions) as session:
        for n, youtube_id in enumerate(ids[:9]):
            session.execute(
                update(Video)
                .where(Video.youtube_id == youtube_id)
                .values(duration_seconds=30 if n < 4 else 600, channel_title="Some Channel")
            )
        session.execute(
            update(Video).where(Video.youtube_id == ids[9]).values(availability="deleted")
        )
    add_playlist(sessions, "PLmusic", "Music mix", ids[:7])
    add_playlist(sessions, "PLother", "Other", ids[7:])
    return sessions


def test_dry_run_shows_the_change_and_changes_nothing(
    library: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(tmp_path, RULES)
    before = snapshot(library)
    assert main(["plan", "rules", str(path), "--dry-run"]) == 0
    out = flat(capsys.readouterr().out)
    assert "10 videos in the library; 7 placed by the rules, 3 matched by none." in out
    assert "Changes: 7 videos newly placed, 0 moved to another category, 0 no longer" in out
    assert "New categories: Shorts, Music" in out
    assert "Dry run: nothing was changed." in out
    assert snapshot(library) == before


def test_apply_prints_the_diff_then_applies(
    library: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(tmp_path, RULES)
    assert main(["plan", "rules", str(path)]) == 0
    out = flat(capsys.readouterr().out)
    assert "Changes: 7 videos newly placed" in out
    assert f"Applied {path}: 2 categories (0 protected), 7 videos, 7 category entries." in out
    assert plan_contents(library) == {
        "Shorts": (False, [vid(n) for n in range(4)]),
        "Music": (False, [vid(n) for n in range(4, 7)]),
    }
    # Rules changed: the long Music videos move, the Shorts lose their category.
    path.write_text('[[rule]]\ncategory = "Long"\nmin_duration = "5m"\n', encoding="utf-8")
    assert main(["plan", "rules", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    diff = data["diff"]
    assert [c["video_id"] for c in diff["moved"]] == [vid(n) for n in range(4, 7)]
    assert diff["moved"][0]["before"] == ["Music"] and diff["moved"][0]["after"] == ["Long"]
    assert [c["video_id"] for c in diff["placed"]] == [vid(7), vid(8)]
    assert [c["video_id"] for c in diff["unplaced"]] == [vid(n) for n in range(4)]
    assert diff["categories_added"] == ["Long"]
    assert diff["categories_removed"] == ["Shorts", "Music"]
    assert data["applied"]["categories"] == 1
    assert "placed_videos" not in data and data["unmatched"] == 5


def test_explain_lists_every_video_by_its_rule(
    library: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(tmp_path, RULES)
    assert main(["plan", "rules", str(path), "--dry-run", "--explain", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [
        (p["video_id"], p["category"], p["rule"], p["line"]) for p in data["placed_videos"]
    ] == [
        *((vid(n), "Shorts", 1, 4) for n in range(4)),
        *((vid(n), "Music", 2, 8) for n in range(4, 7)),
    ]
    assert [
        (u["video_id"], u["availability"], u["playlists"]) for u in data["unmatched_videos"]
    ] == [
        (vid(7), "available", ["Other"]),
        (vid(8), "available", ["Other"]),
        (vid(9), "deleted", ["Other"]),
    ]
    assert [(r["rule"], r["conditions"], r["videos"]) for r in data["rules"]] == [
        (1, ["at most 60s"], 4),
        (2, ["playlist 'Music*'"], 3),
    ]
    assert data["applied"] is None and data["dry_run"] is True
    assert main(["plan", "rules", str(path), "--dry-run", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "Rule 1 (line 4) -> Shorts: 4 videos" in out
    assert f"  {vid(0)}  Title {vid(0)}" in out
    assert "Matched by no rule: 3 videos" in out
    assert f"  {vid(9)}  Title {vid(9)} [deleted]  (in: Other)" in out


def test_bad_rules_exit_2_naming_rule_and_line(
    library: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(tmp_path, RULES + '\n[[rule]]\ncategory = "Bad"\nmax_duration = "forever"\n')
    before = snapshot(library)
    assert main(["plan", "rules", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: rules file {path} has 1 problem; nothing was applied:" in err
    assert "line 14 (rule 3): max_duration 'forever' is not a duration" in err
    assert "Traceback" not in err
    assert snapshot(library) == before
    path.write_text("[[rule]\n", encoding="utf-8")
    assert main(["plan", "rules", str(path), "--dry-run"]) == 2
    assert "is not valid TOML: " in capsys.readouterr().err
    assert main(["plan", "rules", str(tmp_path)]) == 2
    assert "it is a directory" in capsys.readouterr().err


def test_plan_export_categories_after_rules(
    library: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(tmp_path, RULES)
    assert main(["plan", "rules", str(path)]) == 0
    made = snapshot(library)
    capsys.readouterr()
    assert main(["plan", "export", "--categories", "mine.csv"]) == 0
    assert "Wrote 2 categories with 7 videos to mine.csv (none protected)." in flat(
        capsys.readouterr().out
    )
    lines = (tmp_path / "mine.csv").read_text(encoding="utf-8").splitlines()
    assert lines[:3] == [
        "category,video_id,protected,privacy,description",
        f"Shorts,{vid(0)},false,unlisted,",
        f"Shorts,{vid(1)},false,,",
    ]
    assert main(["plan", "apply", "mine.csv"]) == 0
    assert snapshot(library) == made
    # The default export is still the imported playlists.
    assert main(["plan", "export", "old.csv"]) == 0
    assert (
        (tmp_path / "old.csv")
        .read_text(encoding="utf-8")
        .splitlines()[1]
        .startswith(f"Music mix,{vid(0)},false")
    )


def test_the_readme_example_works_on_the_demos_library(tmp_path: Path, database_url: str) -> None:
    """The rules of README's "Keep it organized", on the library ``./run demo`` builds:
    each rule places videos, and they apply."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Keep it organized") :]
    example = section[section.index("```toml\n") + 8 : section.index("```\n", 8)]
    options = DemoOptions()
    inst = install(
        tmp_path,
        database_url,
        videos=options.videos,
        playlists=options.playlists,
        seed=options.seed,
        plan=False,
    )
    try:
        path = write_rules(tmp_path, example)
        result = apply_rules(inst.sessions, path, dry_run=True)
        assert len(result.rules) == 6
        assert all(rule.videos > 0 for rule in result.rules), result.rules
        applied = apply_rules(inst.sessions, path).applied
        assert applied is not None and applied.protected_categories == 1
    finally:
        inst.server.stop()
