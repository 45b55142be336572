"""The rules file: TOML read with tomllib, every problem reported by line and rule."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ytsync.errors import UserError
from ytsync.rules.file import MAX_RULES_BYTES, RuleSet, read_rules
from ytsync.rules.lines import Layout, statement_lines


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problem lines the user sees, one per problem."""
    rules = read_rules(write(tmp_path, text))
    with pytest.raises(UserError) as caught:
        rules.problems.raise_if_any()
    message = str(caught.value)
    assert "nothing was applied" in message.splitlines()[0]
    return [line.strip() for line in message.splitlines()[1:]]


def test_a_good_file_reads_every_kind_of_condition(tmp_path: Path) -> None:
    rules = read_rules(
        write(
            tmp_path,
            """\
# Sorting rules
[category."Shorts"]
privacy = "unlisted"
description = "Under a minute"

[category.Archive]
protected = true

[[rule]]
category = "Shorts"
max_duration = "60s"

[[rule]]
category = "Live"
playlist = ["Music*", "Concerts"]
title = 'live|concert'
channel = "* Official"
min_duration = 300
published_after = 2020-01-01
published_before = 2024-06-30T12:00:00+02:00

[[rule]]
category = "Archive"
""",
        )
    )
    assert rules.problems.found == []
    shorts, live, archive = rules.rules
    assert (shorts.number, shorts.line, shorts.category, shorts.max_duration) == (
        1,
        9,
        "Shorts",
        60,
    )
    assert live.line == 13
    assert live.playlist == ("Music*", "Concerts")
    assert live.title == ("live|concert",)
    assert live.channel == ("* Official",)
    assert live.min_duration == 300
    assert live.published_after == datetime(2020, 1, 1, tzinfo=UTC)
    assert live.published_before == datetime(2024, 6, 30, 10, tzinfo=UTC)
    assert archive.catches_all and archive.line == 22
    assert rules.settings["Shorts"].privacy == "unlisted"
    assert rules.settings["Shorts"].description == "Under a minute"
    assert rules.settings["Archive"].protected
    # Names in the order the file first gives them, each checked on that line.
    assert rules.category_lines == {"Shorts": 2, "Archive": 6, "Live": 13}


@pytest.mark.parametrize(
    ("given", "seconds"),
    [('"60s"', 60), ('"5m"', 300), ('"1h30m"', 5400), ('"1h 2m 3s"', 3723), ("90", 90)],
)
def test_durations(tmp_path: Path, given: str, seconds: int) -> None:
    rules = read_rules(write(tmp_path, f'[[rule]]\ncategory = "A"\nmax_duration = {given}\n'))
    assert rules.problems.found == []
    assert rules.rules[0].max_duration == seconds


def test_every_problem_is_reported_by_line_and_rule(tmp_path: Path) -> None:
    text = """\
[category."Shorts"]
privacy = 1
colour = "red"

[[rule]]
category = "Shorts"
max_duration = "a minute"

[[rule]]
title = ["(unclosed", "fine"]
tags = ["x"]

[[rule]]
category = "Live"
min_duration = "1h"
max_duration = "5m"
published_after = 2024-01-01
published_before = 2023-01-01

[[rule]]
category = "Dated"
published_after = 2020-01-01T00:00:00
published_before = "last week"

[category.Nobody]
privacy = "public"
"""
    assert problems_of(tmp_path, text) == [
        "line 2 (category 'Shorts'): privacy must be text in quotes",
        "line 3 (category 'Shorts'): unknown key 'colour'; a category takes privacy, "
        "description, protected",
        "line 7 (rule 1): max_duration 'a minute' is not a duration; write it like 60s, 5m, "
        "1h30m or a number of seconds",
        'line 9 (rule 2): the rule has no category; add category = "NAME"',
        "line 10 (rule 2): title '(unclosed' is not a regular expression: missing ), "
        "unterminated subpattern at position 0",
        "line 11 (rule 2): unknown key 'tags'; a rule takes category, playlist, title, "
        "channel, min_duration, max_duration, published_after, published_before",
        "line 15 (rule 3): min_duration is more than max_duration: the rule matches nothing",
        "line 17 (rule 3): published_after is not before published_before: the rule matches "
        "nothing",
        "line 22 (rule 4): published_after 2020-01-01T00:00:00 has no offset; write a date "
        "(2024-01-31) or a time with its offset (2024-01-31T18:00:00Z)",
        "line 23 (rule 4): published_before 'last week' is not a date; write a date "
        "(2024-01-31) or a time with its offset (2024-01-31T18:00:00Z)",
        "line 25 (category 'Nobody'): no rule places videos in category 'Nobody'; add a rule "
        "for it or remove its settings",
    ]


def test_a_rule_after_a_catch_all_is_refused(tmp_path: Path) -> None:
    text = '[[rule]]\ncategory = "Everything"\n\n[[rule]]\ncategory = "Never"\ntitle = "x"\n'
    assert problems_of(tmp_path, text) == [
        "line 4 (rule 2): this rule never places a video: rule 1 (line 1) has no condition "
        "and places every video first; put it last",
    ]


def test_text_that_looks_like_a_rule_is_not_one(tmp_path: Path) -> None:
    """A ``[[rule]]`` line inside a multi-line string or array is text: the lines of
    the real rules still come out right."""
    text = '''\
[category.Notes]
description = """
[[rule]]
category = "not a rule"
"""

[[rule]]
category = "Notes"
playlist = [
  "[[rule]]",
  'x' ]
bad = 1

[[rule]]
category = 'Two'
playlist = \'\'\'it's
[[rule]]\'\'\'
max_duration = "soon"
'''
    assert problems_of(tmp_path, text) == [
        "line 12 (rule 1): unknown key 'bad'; a rule takes category, playlist, title, channel, "
        "min_duration, max_duration, published_after, published_before",
        "line 18 (rule 2): max_duration 'soon' is not a duration; write it like 60s, 5m, "
        "1h30m or a number of seconds",
    ]


def test_statement_lines_follow_tomls_strings_and_arrays() -> None:
    text = (
        'a = "x # not a comment [" # [ a comment\n'
        'b = """one \\""" still\n'
        'two""""\n'
        "c = [\n"
        "  '''[\n"
        "  ]''',\n"
        "]\n"
        '[t."dotted.key"]\n'
        "d = {e = [1, 2]}\n"
    )
    assert statement_lines(text) == [1, 2, 4, 8, 9]
    layout = Layout(text)
    assert [(h.line, h.keys) for h in layout.headers] == [(8, ("t", "dotted.key"))]
    assert layout.key_line("d", layout.headers[0]) == 9
    assert layout.key_line("c") == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "there is no rule; add a [[rule]] table"),
        ('rule = "Shorts"\n', "line 1: 'rule' must be [[rule]] tables"),
        ('category = "Shorts"\n[[rule]]\ncategory = "A"\n', "line 1: 'category' must be"),
        ('[[rule]]\ncategory = "A"\n[inbox]\nname = "Inbox"\n', "line 3: unknown key 'inbox'"),
        ('[[rule]]\ncategory = "A"\n[sources]\ninbox = ""\n', "line 4 (sources): inbox must be"),
        ('[[rule]]\ncategory = "A"\n[sources]\nuploads = "yes"\n', "uploads must be true or"),
        ('[[rule]]\ncategory = "A"\n[sources]\nsaved = "x"\n', "unknown key 'saved'; [sources]"),
        ('[[rule]]\ncategory = ""\n', "line 2 (rule 1): category must be a category's name"),
        ('[[rule]]\ncategory = "A"\nplaylist = []\n', "playlist must be text in quotes"),
        ('[[rule]]\ncategory = "A"\nchannel = [1]\n', "channel must be text in quotes"),
        ('[[rule]]\ncategory = "A"\nmin_duration = -5\n', "min_duration -5 is not a duration"),
        ('[[rule]]\ncategory = "A"\nmin_duration = true\n', "min_duration True is not a"),
        ('[category.A]\nprotected = "yes"\n[[rule]]\ncategory = "A"\n', "protected must be"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, message: str) -> None:
    found = problems_of(tmp_path, text)
    assert len(found) == 1 and message in found[0], found


def test_inline_rules_share_the_line_of_their_array(tmp_path: Path) -> None:
    text = 'rule = [\n  {category = "A", title = "x"},\n  {category = "B", oops = 1},\n]\n'
    assert problems_of(tmp_path, text) == [
        "line 1: rule 2: unknown key 'oops'; a rule takes category, playlist, title, channel, "
        "min_duration, max_duration, published_after, published_before",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[[rule]]\ncategory = "A\n', "is not valid TOML: "),
        (b'[[rule]]\ncategory = "A"\ntitle = "\xff"\n', "is not UTF-8 (byte 0xff on line 3)"),
        (b"[[rule]]\n" + b"# pad\n" * (MAX_RULES_BYTES // 6), "is larger than 1 MiB"),
    ],
)
def test_files_that_are_not_rules(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(data)
    with pytest.raises(UserError, match="rules file") as caught:
        read_rules(path)
    assert message in str(caught.value)


def test_only_a_regular_file_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="is a FIFO"):
        read_rules(fifo)
    with pytest.raises(UserError, match="it is a directory"):
        read_rules(tmp_path)
    with pytest.raises(UserError, match="no such file"):
        read_rules(tmp_path / "missing.toml")


def test_sources_name_an_inbox_and_the_uploads(tmp_path: Path) -> None:
    rules = read_rules(
        write(
            tmp_path, '[sources]\ninbox = " Saved "\nuploads = true\n\n[[rule]]\ncategory = "A"\n'
        )
    )
    assert rules.problems.found == []
    assert (rules.sources.inbox, rules.sources.uploads, rules.sources.any) == ("Saved", True, True)
    plain = read_rules(write(tmp_path, '[[rule]]\ncategory = "A"\n'))
    assert not plain.sources.any


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(b'\xef\xbb\xbf[[rule]]\ncategory = "A"\n')
    rules: RuleSet = read_rules(path)
    assert rules.problems.found == [] and rules.rules[0].category == "A"
