"""The plan file: which videos go into which category playlist, as CSV the user edits.

``apply_plan`` reads the whole file and checks it against the library before it writes
anything, reports every bad row by its physical line number, and then replaces the
categories in one transaction, so a bad file changes nothing.  ``export_plan`` writes
the imported playlists out as a starting plan.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from ytsync.db.engine import transaction
from ytsync.db.models import (
    Base,
    Category,
    CategoryVideo,
    Playlist,
    PlaylistItem,
    SyncJob,
    SyncOperation,
    Video,
)
from ytsync.errors import JobRunning, UserError
from ytsync.files import read_regular, umask_mode, write_output
from ytsync.reuse import PRIVACIES
from ytsync.safetext import control_in, csv_cell, csv_value, plain, shows_nothing
from ytsync.wire import FINAL_STAGES
from ytsync.youtube.titles import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    description_problem,
    fit_description,
    fit_title,
    refused_characters,
    title_problem,
)

# A category's name becomes its playlist's title, so YouTube's title rules apply.
MAX_NAME_LENGTH = MAX_TITLE
# YouTube refuses the 5,001st item of a playlist (playlistContainsMaximumNumberOfVideos).
MAX_PLAYLIST_VIDEOS = 5_000
MAX_SHOWN_PROBLEMS = 20
# A million rows of the longest plausible names is under 200 MB; anything bigger is
# not a plan, and reading it whole would only exhaust memory.
MAX_PLAN_BYTES = 256 * 1024 * 1024
COLUMNS = ("category", "video_id", "protected", "privacy", "description")
REQUIRED_COLUMNS = ("category", "video_id")
# The columns ``plan export`` always writes; it adds privacy and description only when
# some playlist has a value other than the default.
EXPORT_COLUMNS = COLUMNS[:3]
DEFAULT_PRIVACY = "private"
# A new playlist's description ends with the marker that finds it again when the answer
# to its creation was lost (ytsync.sync.writer.playlist_marker, about 40 characters):
# a description of the plan leaves it this much of YouTube's 5,000.
MARKER_ROOM = 100
MAX_PLAN_DESCRIPTION = MAX_DESCRIPTION - MARKER_ROOM

CATEGORY_VIDEOS = Base.metadata.tables[CategoryVideo.__tablename__]
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0", ""})
# Stays well under SQLite's limit on bound parameters in one statement.
_CHUNK = 500
# Above this many distinct videos in a plan, read the whole id map in one query.
_WHOLE_LIBRARY_AT = 5 * _CHUNK
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_WATCH_HOSTS = frozenset(
    {
        "youtube.com",
        "www.youtube.com",
        "m.youtube.com",
        "music.youtube.com",
        "youtube-nocookie.com",
        "www.youtube-nocookie.com",
    }
)
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_ID_PATH_PREFIXES = frozenset({"shorts", "embed", "live", "v", "e"})
_OTHER_DELIMITERS = {";": "';'", "\t": "tabs", "|": "'|'"}
# What a column's heading looks like: a few words.
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _-]{0,29}")


# --------------------------------------------------------------------------- results


class RemovedCategory(BaseModel):
    category_name: str
    youtube_playlist_id: str


class RenamedCategory(BaseModel):
    old_name: str
    new_name: str
    youtube_playlist_id: str | None


class ApplySummary(BaseModel):
    file: str
    categories: int
    protected_categories: int
    videos: int
    # (category, video) pairs: a video in two categories counts twice.
    assignments: int
    categories_added: int
    categories_kept: int
    categories_removed: int
    # Removed categories whose playlist the sync already created: it stays on YouTube.
    playlists_left_on_youtube: list[RemovedCategory]
    # Kept categories whose spelling changed only in case or spacing.
    renamed_categories: list[RenamedCategory]


class ExportSummary(BaseModel):
    file: str
    categories: int
    videos: int
    protected_categories: int
    skipped_duplicates: int
    # Old playlists without items have nothing to write and are not in the file.
    empty_playlists: int
    # Names made valid playlist titles (at most 150 characters, no '<', '>' or U+2028)
    # or given a " (2)" suffix to stay unique.
    adjusted_names: int


# --------------------------------------------------------------------------- parsing


def extract_video_id(text: str) -> str | None:
    """The 11-character video id in a bare id or a YouTube video URL, else None."""
    text = text.strip()
    if _VIDEO_ID.fullmatch(text):
        return text
    try:
        parts = urlsplit(text if "://" in text else "https://" + text)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    candidate = _id_from_url(
        (parts.hostname or "").lower(), [s for s in parts.path.split("/") if s], parts.query
    )
    return candidate if candidate and _VIDEO_ID.fullmatch(candidate) else None


def _id_from_url(host: str, segments: list[str], query: str) -> str | None:
    if host in _SHORT_HOSTS:
        return segments[0] if segments else None
    if host not in _WATCH_HOSTS:
        return None
    if segments == ["watch"]:
        return parse_qs(query).get("v", [None])[0]
    if len(segments) >= 2 and segments[0] in _ID_PATH_PREFIXES:
        return segments[1]
    return None


def parse_protected(text: str) -> bool | None:
    """true/yes/1 or false/no/0/empty, in any case; None for anything else."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    return False if word in _FALSE else None


def fold_name(name: str) -> str:
    """The key under which two category names count as the same spelling."""
    return " ".join(name.split()).casefold()


def _quote(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _display_problem(name: str) -> str | None:
    """Why a name would spoof ytsync's own display, or None.  YouTube takes both, but
    a line break in a name prints as a row of its own in a table, and a name of
    invisible characters looks like none."""
    control = control_in(name)
    if control is not None:
        return f"holds a control character ({control}); a category name is one line of text"
    if shows_nothing(name):
        points = ", ".join(f"U+{ord(char):04X}" for char in dict.fromkeys(name[:MAX_TITLE]))
        return f"has no visible character (only {points})"
    return None


def _line(line: int) -> str:
    return f"line {line}"


@dataclass
class Problems:
    """Bad rows, collected so that one run reports all of them.

    ``what`` names the kind of file; ``where`` words a line number (a rules file adds
    the rule it belongs to)."""

    source: str
    found: list[tuple[int, str]] = field(default_factory=list)
    what: str = "plan file"
    where: Callable[[int], str] = _line

    def add(self, line: int, message: str) -> None:
        self.found.append((line, message))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        ordered = sorted(self.found, key=lambda problem: problem[0])
        shown = [f"  {self.where(line)}: {msg}" for line, msg in ordered[:MAX_SHOWN_PROBLEMS]]
        if len(ordered) > MAX_SHOWN_PROBLEMS:
            shown.append(f"  ... and {len(ordered) - MAX_SHOWN_PROBLEMS} more")
        noun = "problem" if len(ordered) == 1 else "problems"
        raise UserError(
            f"{self.what} {self.source} has {len(ordered)} {noun}; nothing was applied:\n"
            + "\n".join(shown)
        )


@dataclass
class PlannedCategory:
    name: str
    line: int
    protected: bool
    # The privacy and description columns: None until a row of the category gives one.
    privacy: str | None = None
    description: str | None = None
    # The line each of them was first given on, for a conflict's report.
    setting_lines: dict[str, int] = field(default_factory=dict)
    # YouTube ids in file order, and the line each one came from.
    video_ids: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    source: str
    categories: dict[str, PlannedCategory]
    problems: Problems

    @property
    def distinct_videos(self) -> set[str]:
        return {vid for category in self.categories.values() for vid in category.video_ids}


class PlanBuilder:
    """Turns data rows into categories, noting every problem instead of stopping.

    A plan file's rows come through ``add``; a rules file declares its categories
    (``declare``) and then places videos in them (``add_video``): the same checks
    either way."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.categories: dict[str, PlannedCategory] = {}
        self.rows = 0
        # fold_name(name) -> the first spelling seen, so near-duplicates are caught.
        self._spellings: dict[str, PlannedCategory] = {}
        # Category-wide problems are reported once, not on every row of the category.
        self._reported: set[tuple[str, str]] = set()

    def add(self, line: int, cells: Sequence[str], columns: Mapping[str, int]) -> None:
        self.rows += 1
        if len(cells) > len(columns):
            self.problems.add(
                line,
                f"{len(cells)} values but the header has {len(columns)} columns "
                "(put quotes around a value that contains a comma)",
            )
            return
        nul = next((i for i, cell in enumerate(cells) if "\x00" in cell), None)
        if nul is not None:
            # SQLite would store it and PostgreSQL refuse it: a plan is text, NUL is not.
            self.problems.add(
                line, f"cell {nul + 1} holds a NUL character (\\x00); save the plan as text"
            )
            return
        # csv_value: a cell 'plan export' wrote as '=x (against spreadsheet formulas) is =x.
        values = {
            col: csv_value(cells[i].strip()) if i < len(cells) else "" for col, i in columns.items()
        }
        name, raw_id = values["category"], values["video_id"]
        name_ok = self._check_name(line, name)
        video_id = self._check_video_id(line, raw_id, name)
        protected = self._check_protected(line, values.get("protected", ""))
        settings = self._check_settings(line, values)
        if name_ok and video_id is not None and protected is not None and settings is not None:
            self._place(line, name, video_id, protected, settings)

    def _check_name(self, line: int, name: str) -> bool:
        if name in self.categories:
            return True  # checked on the category's first line
        if not name:
            self.problems.add(line, "the category is empty")
            return False
        problem = title_problem(name) or _display_problem(name)
        if problem is not None:
            self._once(("title", name), line, f"category {_quote(name)} {problem}")
            return False
        first = self._spellings.get(fold_name(name))
        if first is not None and first.name != name:
            self._once(
                ("spelling", name),
                line,
                f"{name!r} here and {first.name!r} on line {first.line} differ only in "
                "case or spacing; use one spelling",
            )
            return False
        return True

    def _check_video_id(self, line: int, raw: str, name: str) -> str | None:
        if not raw:
            labels = [label for sep, label in _OTHER_DELIMITERS.items() if sep in name]
            hint = f" (the row seems to use {labels[0]}; use commas)" if labels else ""
            self.problems.add(line, "the video_id is empty" + hint)
            return None
        video_id = extract_video_id(raw)
        if video_id is None:
            self.problems.add(
                line,
                f"{_quote(raw)} is not a YouTube video id (11 characters) or video URL",
            )
        return video_id

    def _check_protected(self, line: int, raw: str) -> bool | None:
        flag = parse_protected(raw)
        if flag is None:
            self.problems.add(
                line, f"protected must be true/false, yes/no, 1/0 or empty, not {_quote(raw)}"
            )
        return flag

    def _check_settings(self, line: int, values: Mapping[str, str]) -> dict[str, str] | None:
        """The row's non-empty privacy and description, or None when one is bad."""
        settings: dict[str, str] = {}
        ok = True
        privacy = values.get("privacy", "").lower()
        if privacy and privacy not in PRIVACIES:
            self.problems.add(
                line,
                f"privacy must be {', '.join(PRIVACIES[:-1])} or {PRIVACIES[-1]} (or empty "
                f"for {DEFAULT_PRIVACY}), not {_quote(values.get('privacy', ''))}",
            )
            ok = False
        elif privacy:
            settings["privacy"] = privacy
        description = values.get("description", "")
        problem = description_problem(description, MAX_PLAN_DESCRIPTION)
        if description and problem is not None:
            if len(description) > MAX_PLAN_DESCRIPTION and not refused_characters(description):
                problem += (
                    f" (YouTube allows {MAX_DESCRIPTION:,}; ytsync keeps {MARKER_ROOM} for "
                    "the marker that finds a new playlist again)"
                )
            self.problems.add(line, f"the description {problem}")
            ok = False
        elif description:
            settings["description"] = description
        return settings if ok else None

    def declare(self, line: int, name: str, protected: bool, settings: Mapping[str, str]) -> bool:
        """A category given apart from any row (a rules file), with its ``privacy`` and
        ``description`` settings, checked as a row's would be; False when refused."""
        name_ok = self._check_name(line, name)
        checked = self._check_settings(line, settings)
        if not name_ok or checked is None:
            return False
        self._settle_settings(line, self._category(line, name, protected), checked)
        return True

    def add_video(self, line: int, name: str, video_id: str) -> None:
        """Put ``video_id`` into the declared category ``name``, as given on ``line``."""
        self._append(line, self.categories[name], video_id)

    def _category(self, line: int, name: str, protected: bool) -> PlannedCategory:
        category = self.categories.get(name)
        if category is None:
            category = PlannedCategory(name=name, line=line, protected=protected)
            self.categories[name] = category
            self._spellings[fold_name(name)] = category
        return category

    def _place(
        self, line: int, name: str, video_id: str, protected: bool, settings: Mapping[str, str]
    ) -> None:
        category = self._category(line, name, protected)
        self._settle_settings(line, category, settings)
        if category.protected != protected:
            self._once(
                ("protected", name),
                line,
                f"category {name!r} is protected={_word(protected)} here but "
                f"protected={_word(category.protected)} on line {category.line}; "
                "give every row of a category the same value",
            )
        self._append(line, category, video_id)

    def _append(self, line: int, category: PlannedCategory, video_id: str) -> None:
        name = category.name
        if video_id in category.lines:
            self.problems.add(
                line,
                f"video {video_id} is listed twice in {name!r} (also line "
                f"{category.lines[video_id]}); remove one",
            )
            return
        category.lines[video_id] = line
        category.video_ids.append(video_id)

    def _settle_settings(
        self, line: int, category: PlannedCategory, settings: Mapping[str, str]
    ) -> None:
        """A category's privacy and description: given on any of its rows, empty on the
        others, never two different values."""
        for column, value in settings.items():
            current = getattr(category, column)
            if current is None:
                setattr(category, column, value)
                category.setting_lines[column] = line
            elif current != value:
                self._once(
                    (column, category.name),
                    line,
                    f"category {category.name!r} has another {column} here than on line "
                    f"{category.setting_lines[column]}; give it once, or the same on every "
                    "row",
                )

    def _once(self, key: tuple[str, str], line: int, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            self.problems.add(line, message)

    def finish(self) -> Plan:
        """The plan; a declared category that got no video is left out (a plan has no
        empty category: it would only make an empty playlist)."""
        placed = {name: c for name, c in self.categories.items() if c.video_ids}
        for category in placed.values():
            self._check_size(category)
        return Plan(self.problems.source, placed, self.problems)

    def _check_size(self, category: PlannedCategory) -> None:
        # A protected category never becomes a playlist, so YouTube's limit does not bind.
        count = len(category.video_ids)
        if category.protected or count <= MAX_PLAYLIST_VIDEOS:
            return
        parts = math.ceil(count / MAX_PLAYLIST_VIDEOS)
        name = category.name
        names = f"{name + ' 1'!r} and {name + ' 2'!r}"
        if parts > 2:
            names = f"{name + ' 1'!r} … {name + f' {parts}'!r}"
        self.problems.add(
            category.lines[category.video_ids[MAX_PLAYLIST_VIDEOS]],
            f"category {name!r} has {count:,} videos but a YouTube playlist holds at most "
            f"{MAX_PLAYLIST_VIDEOS:,}; split it into {names}",
        )


def _word(flag: bool) -> str:
    return "true" if flag else "false"


def read_plan(path: Path) -> Plan:
    """Parse a plan file; raise UserError for a file that cannot be a plan at all.

    Row problems are collected in ``plan.problems`` so that the caller can add the
    ones only the database can tell (unknown videos) before reporting them together.
    """
    text = _read_text(path)
    builder = PlanBuilder(Problems(str(path)))
    records, csv_problem = _records(text)
    if not records:
        if csv_problem:
            builder.problems.add(*csv_problem)
            builder.problems.raise_if_any()
        raise UserError(
            f"plan file {path} is empty; nothing was applied (the first line must be "
            "the header category,video_id)"
        )
    header_line, header = records[0]
    columns = _columns(str(path), header_line, header)
    for line, cells in records[1:]:
        builder.add(line, cells, columns)
    if csv_problem:
        builder.problems.add(*csv_problem)
        builder.problems.raise_if_any()
    if builder.rows == 0:
        raise UserError(
            f"plan file {path} has no rows; nothing was applied (an empty plan would "
            "remove every category; add one line per category and video)"
        )
    return builder.finish()


def _read_text(path: Path) -> str:
    try:
        data = read_regular(
            path,
            MAX_PLAN_BYTES,
            "plan file",
            too_large=f"a plan is at most {MAX_PLAN_BYTES / 2**20:,.0f} MiB (about a million "
            "rows). Is it the right file?",
        )
    except FileNotFoundError:
        raise UserError(f"cannot read plan file {path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"cannot read plan file {path}: it is a directory") from None
    except PermissionError:
        raise UserError(f"cannot read plan file {path}: permission denied") from None
    except OSError as exc:
        raise UserError(f"cannot read plan file {path}: {exc.strerror or exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(f'plan file {path} is UTF-16; save it as UTF-8 ("CSV UTF-8")')
    order = _utf16_without_bom(data)
    if order is not None:
        raise UserError(
            f"plan file {path} is UTF-16 ({order}, without a byte-order mark); "
            'save it as UTF-8 ("CSV UTF-8")'
        )
    try:
        # utf-8-sig drops the byte-order mark Excel writes in front of "CSV UTF-8".
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"plan file {path} is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); "
            'save it as UTF-8 ("CSV UTF-8")'
        ) from None


def _utf16_without_bom(data: bytes) -> str | None:
    """ "little-endian" or "big-endian" when ``data`` looks like UTF-16 text: mostly
    Latin text there has a NUL in every other byte, which UTF-8 text never has."""
    sample = data[:4096]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    if odd >= 0.3 * pairs and even <= odd // 4:
        return "little-endian"
    if even >= 0.3 * pairs and odd <= even // 4:
        return "big-endian"
    return None


def _records(text: str) -> tuple[list[tuple[int, list[str]]], tuple[int, str] | None]:
    """Non-blank CSV records with the physical line each starts on, and a parse error."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return records, None
        except csv.Error as exc:
            # The reader cannot resynchronise after a broken quote: stop here.
            if "field larger than field limit" in str(exc):
                limit = f"{csv.field_size_limit():,}"
                return records, (start, f"a cell longer than {limit} characters; is it a plan?")
            return records, (start, f"malformed CSV ({exc}); check the quotes on this line")
        if any(cell.strip() for cell in cells):
            records.append((start, cells))


def _columns(source: str, line: int, header: Sequence[str]) -> dict[str, int]:
    """Column name -> index, from the header row; raise for a header that is not one."""
    names = [cell.strip().lower() for cell in header]
    expected = (
        "the first line must be category,video_id (and optionally ,protected, ,privacy "
        "and ,description)"
    )

    def fail(message: str) -> UserError:
        return UserError(f"plan file {source}, line {line}: {message}; nothing was applied")

    if not set(REQUIRED_COLUMNS) <= set(names):
        for delimiter, label in _OTHER_DELIMITERS.items():
            if any(delimiter in cell for cell in header):
                raise fail(f"the columns are separated by {label}; use commas")
        if any(extract_video_id(cell) for cell in header):
            raise fail(f"there is no header row; {expected}")
    unnamed = [str(i + 1) for i, name in enumerate(names) if not name]
    if unnamed:
        raise fail(f"column {', '.join(unnamed)} has no name (an extra comma?); {expected}")
    unknown = [
        (index, cell.strip())
        for index, (cell, name) in enumerate(zip(header, names, strict=True))
        if name not in COLUMNS
    ]
    if unknown:
        listed = ", ".join(_column_name(index, cell) for index, cell in unknown)
        raise fail(f"unknown column {listed}; {expected}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise fail(f"column {', '.join(map(repr, repeated))} appears twice")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise fail(f"the header has no {' or '.join(map(repr, missing))} column; {expected}")
    return {name: index for index, name in enumerate(names)}


def _column_name(index: int, cell: str) -> str:
    """An unknown column as a message names it: its name when it looks like one, else
    its number only.  The first line of a file that is not a plan may be anything (a
    .env file's first line is a setting, an API key maybe), and is not echoed."""
    if _COLUMN_NAME.fullmatch(cell):
        return repr(cell)
    return f"{index + 1} (its heading is not shown: it is not a column name)"


# --------------------------------------------------------------------------- apply


def apply_plan(sessions: sessionmaker[Session], path: Path) -> ApplySummary:
    """Replace all categories with the plan in ``path``, or change nothing."""
    plan = read_plan(path)
    with transaction(sessions) as session:
        refuse_during_job(session)
        video_pks = checked_videos(session, plan)
        return replace_categories(session, plan, video_pks)


def checked_videos(session: Session, plan: Plan) -> dict[str, int]:
    """YouTube id -> videos.id of the plan's videos, once the whole plan is checked:
    raise every problem together (its own and the videos outside the library)."""
    video_pks = _resolve_videos(session, plan)
    # Everything the file can be blamed for is known now: report it all at once,
    # before the first write.
    plan.problems.raise_if_any()
    return video_pks


def refuse_during_job(session: Session) -> None:
    """The categories cannot change under a job that has not finished."""
    job = session.scalars(
        select(SyncJob)
        .where(SyncJob.stage.not_in(FINAL_STAGES))
        .order_by(SyncJob.id.desc())
        .limit(1)
    ).first()
    if job is None:
        return
    state = f"paused ({job.pause_reason or 'paused'})" if job.stage == "paused" else job.stage
    raise JobRunning(
        f"sync job {job.id} ({job.workflow_id}) is not finished (stage: {state}); the plan "
        "cannot change under a running job. Let it complete (resume it if it is paused), "
        "then apply the plan again"
    )


def _resolve_videos(session: Session, plan: Plan) -> dict[str, int]:
    """YouTube id -> videos.id; every row naming a video outside the library is a problem."""
    found = _video_pks(session, sorted(plan.distinct_videos))
    for category in plan.categories.values():
        for video_id in category.video_ids:
            if video_id not in found:
                plan.problems.add(
                    category.lines[video_id],
                    f"video {video_id} is not in the library: import the library again "
                    "first, or remove the row",
                )
    return found


def _video_pks(session: Session, wanted: Sequence[str]) -> dict[str, int]:
    query = select(Video.youtube_id, Video.id)
    if len(wanted) > _WHOLE_LIBRARY_AT:
        # One scan of two narrow columns beats hundreds of IN (...) round trips.
        return {youtube_id: pk for youtube_id, pk in session.execute(query)}
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = session.execute(query.where(Video.youtube_id.in_(chunk)))
        found.update({youtube_id: pk for youtube_id, pk in rows})
    return found


def replace_categories(session: Session, plan: Plan, video_pks: Mapping[str, int]) -> ApplySummary:
    """Make the categories the checked ``plan`` (``checked_videos``), keeping each
    playlist a category already has."""
    existing = list(session.scalars(select(Category).order_by(Category.id)))
    matches = _match_existing(existing, plan.categories.values())
    kept_ids = {category.id for category in matches.values()}
    removed = [category for category in existing if category.id not in kept_ids]
    # Deletes go first: a kept category may take over a removed one's spelling, and the
    # name is unique.
    session.execute(delete(CategoryVideo))
    _delete_categories(session, removed)
    renamed, rows = _write_categories(session, plan, matches, video_pks)
    _insert_entries(session, rows)
    return ApplySummary(
        file=plan.source,
        categories=len(plan.categories),
        protected_categories=sum(c.protected for c in plan.categories.values()),
        videos=len(plan.distinct_videos),
        assignments=len(rows),
        categories_added=len(plan.categories) - len(matches),
        categories_kept=len(matches),
        categories_removed=len(removed),
        playlists_left_on_youtube=[
            RemovedCategory(category_name=c.name, youtube_playlist_id=c.youtube_playlist_id)
            for c in removed
            if c.youtube_playlist_id
        ],
        renamed_categories=renamed,
    )


def _insert_entries(session: Session, rows: Sequence[dict[str, int]]) -> None:
    if not rows:
        return
    # RETURNING makes SQLAlchemy batch the rows into multi-row INSERTs
    # ("insertmanyvalues", one cached statement per 1,000 rows); without it, psycopg's
    # executemany sends one INSERT per row, seconds for 100,000 entries.
    session.execute(insert(CATEGORY_VIDEOS).returning(CATEGORY_VIDEOS.c.category_id), rows)


def _match_existing(
    existing: Sequence[Category], planned: Iterable[PlannedCategory]
) -> dict[str, Category]:
    """Planned name -> the existing category it continues.

    Matching keeps ``youtube_playlist_id``, so a re-plan after a sync reuses the
    playlist.  An exact name wins; otherwise a spelling that differs only in case or
    spacing still counts, since a new row would make a second playlist on YouTube.
    """
    planned = list(planned)
    by_name = {category.name: category for category in existing}
    matches = {p.name: by_name[p.name] for p in planned if p.name in by_name}
    used = {category.id for category in matches.values()}
    by_fold: dict[str, Category] = {}
    for category in existing:
        if category.id not in used:
            by_fold.setdefault(fold_name(category.name), category)
    for p in planned:
        if p.name not in matches and (found := by_fold.pop(fold_name(p.name), None)):
            matches[p.name] = found
    return matches


def _delete_categories(session: Session, removed: Sequence[Category]) -> None:
    ids = [category.id for category in removed]
    # The rows go by bulk statements; the stale objects must leave the session, since
    # SQLite may hand a deleted id to a new category in the same flush.
    for category in removed:
        session.expunge(category)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        # Operations of finished jobs still point at the category (no ON DELETE on that
        # foreign key); their op_key keeps the id, so the history stays readable.
        session.execute(
            update(SyncOperation)
            .where(SyncOperation.category_id.in_(chunk))
            .values(category_id=None)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(Category)
            .where(Category.id.in_(chunk))
            .execution_options(synchronize_session=False)
        )


def _write_categories(
    session: Session,
    plan: Plan,
    matches: Mapping[str, Category],
    video_pks: Mapping[str, int],
) -> tuple[list[RenamedCategory], list[dict[str, int]]]:
    renamed: list[RenamedCategory] = []
    rows_for: list[tuple[Category, PlannedCategory]] = []
    for planned in plan.categories.values():
        category = matches.get(planned.name)
        if category is None:
            category = Category(name=planned.name, is_protected=planned.protected)
            session.add(category)
        elif category.name != planned.name:
            renamed.append(
                RenamedCategory(
                    old_name=category.name,
                    new_name=planned.name,
                    youtube_playlist_id=category.youtube_playlist_id,
                )
            )
            category.name = planned.name
        category.is_protected = planned.protected
        category.privacy = planned.privacy or DEFAULT_PRIVACY
        category.description = planned.description
        rows_for.append((category, planned))
    session.flush()  # new categories get their ids
    rows = [
        {"category_id": category.id, "video_id": video_pks[video_id], "position": position}
        for category, planned in rows_for
        for position, video_id in enumerate(planned.video_ids)
    ]
    return renamed, rows


# --------------------------------------------------------------------------- export


def export_plan(sessions: sessionmaker[Session], path: Path, force: bool = False) -> ExportSummary:
    """Write the imported playlists as a plan: one unprotected category per playlist,
    with the playlist's privacy and description, so that applying it keeps them."""
    with sessions() as session:
        playlists = session.execute(
            select(Playlist.id, Playlist.title, Playlist.privacy, Playlist.description)
            .where(Playlist.deleted_from_youtube_at.is_(None))
            .order_by(Playlist.id)
        ).all()
        items = session.execute(
            select(PlaylistItem.playlist_id, Video.youtube_id)
            .join(Video, Video.id == PlaylistItem.video_id)
            .join(Playlist, Playlist.id == PlaylistItem.playlist_id)
            .where(Playlist.deleted_from_youtube_at.is_(None))
            .order_by(PlaylistItem.playlist_id, PlaylistItem.position, PlaylistItem.id)
        ).all()
    videos_of: dict[int, list[str]] = {}
    skipped = 0
    for playlist_id, youtube_id in items:
        videos = videos_of.setdefault(playlist_id, [])
        if youtube_id in videos:
            skipped += 1
        else:
            videos.append(youtube_id)
    # Only playlists with items get a name, so an empty one cannot push a " (2)" suffix
    # onto a real one.
    titled = [(pid, title) for pid, title, _p, _d in playlists if videos_of.get(pid)]
    names = export_names([title for _, title in titled])
    settings = {pid: _export_settings(privacy, text) for pid, _t, privacy, text in playlists}
    # The optional columns only when some playlist needs them: an all-private library
    # without descriptions exports as it always did.
    extra = [index for index in (0, 1) if any(settings[pid][index] for pid, _ in titled)]
    header = (*EXPORT_COLUMNS, *(COLUMNS[3 + index] for index in extra))
    rows = [
        # The settings on a category's first row only: the others may leave them empty.
        (name, youtube_id, "false", *(settings[pid][i] if first == 0 else "" for i in extra))
        for (pid, _), name in zip(titled, names, strict=True)
        for first, youtube_id in enumerate(videos_of[pid])
    ]
    _write_csv(path, header, rows, force)
    return ExportSummary(
        file=str(path),
        categories=len(titled),
        videos=len(rows),
        protected_categories=0,
        skipped_duplicates=skipped,
        empty_playlists=len(playlists) - len(titled),
        adjusted_names=sum(
            name != title.strip() for name, (_, title) in zip(names, titled, strict=True)
        ),
    )


def export_categories(
    sessions: sessionmaker[Session], path: Path, force: bool = False
) -> ExportSummary:
    """Write the categories as they are (from a plan file or rules) as a plan, for hand
    edits: applying it gives back exactly these categories, settings and order."""
    with sessions() as session:
        categories = session.execute(
            select(
                Category.id,
                Category.name,
                Category.is_protected,
                Category.privacy,
                Category.description,
            ).order_by(Category.id)
        ).all()
        entries = session.execute(
            select(CategoryVideo.category_id, Video.youtube_id)
            .join(Video, Video.id == CategoryVideo.video_id)
            .order_by(CategoryVideo.category_id, CategoryVideo.position)
        ).all()
    videos_of: dict[int, list[str]] = {}
    for category_id, youtube_id in entries:
        videos_of.setdefault(category_id, []).append(youtube_id)
    rows = [
        # The settings on a category's first row only, as 'plan export' writes them.
        (
            name,
            youtube_id,
            _word(protected),
            privacy if first == 0 else "",
            (description or "") if first == 0 else "",
        )
        for pk, name, protected, privacy, description in categories
        for first, youtube_id in enumerate(videos_of.get(pk, []))
    ]
    _write_csv(path, COLUMNS, rows, force)
    return ExportSummary(
        file=str(path),
        categories=sum(1 for row in categories if videos_of.get(row.id)),
        videos=len(rows),
        protected_categories=sum(1 for row in categories if row.is_protected),
        skipped_duplicates=0,
        empty_playlists=0,
        adjusted_names=0,
    )


def export_names(titles: Sequence[str]) -> list[str]:
    """Category names for playlist titles: trimmed, valid YouTube titles, unique."""
    taken: set[str] = set()
    names: list[str] = []
    for title in titles:
        # plain(): the file is for people, safe to print; apply takes every name back.
        base = fit_title(plain(title))
        if shows_nothing(base):
            base = fit_title("")
        name, number = base, 2
        # Unique by fold_name, the same rule apply uses to spot near-duplicates.
        while fold_name(name) in taken:
            suffix = f" ({number})"
            name = _clip(base, MAX_NAME_LENGTH - len(suffix)) + suffix
            number += 1
        taken.add(fold_name(name))
        names.append(name)
    return names


def _export_settings(privacy: str, description: str) -> tuple[str, str]:
    """An old playlist's privacy and description as plan cells, empty where they are
    the defaults (private, no description), made valid as ``plan apply`` wants them."""
    cell = privacy if privacy in PRIVACIES and privacy != DEFAULT_PRIVACY else ""
    text = fit_description(plain(description, keep_lines=True), "")[:MAX_PLAN_DESCRIPTION].strip()
    return cell, text


def _clip(text: str, limit: int) -> str:
    return text[:limit].rstrip()


def _write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], force: bool
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    # csv_cell: a name starting with = + - @ opens as text in a spreadsheet, and
    # 'plan apply' reads it back as it was.
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    write_output(path, buffer.getvalue().encode("utf-8"), force=force, mode=umask_mode())
