"""Deterministic sample libraries: realistic enough to exercise import, planning and sync.

Every video gets a topic and a genre within it; playlists lean towards one topic, vary
in size (a few big ones, many small ones), overlap (a video can sit in several
playlists), and hold a few duplicate items and unavailable (private or deleted) videos.
The same seed always builds the same library; 100,000 videos take a couple of seconds.
"""

from __future__ import annotations

import random
from collections.abc import Container, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from .model import Playlist, Video
from .state import LONG_AGO, EmulatorState, random_id

# topic -> genre -> (title templates, subjects).  Templates use {s} subject, {y} year, {n} number.
TOPICS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "Music": {
        "Live": (
            (
                "{s} - Live at the Harbour Stage {y}",
                "{s} full concert ({y})",
                "{s} live session #{n}",
            ),
            (
                "The Lantern Quartet",
                "Mira Soleil",
                "Northbound Brass",
                "Velvet Static",
                "Kasai Trio",
            ),
        ),
        "Covers": (
            ("{s} acoustic cover", "{s} - piano cover", "I tried covering {s} ({y})"),
            ("Moonlight Avenue", "Paper Planes Home", "Summer Rain", "Golden Hour", "City Lights"),
        ),
    },
    "Cooking": {
        "Baking": (
            ("How to bake {s}", "The easiest {s} you will ever make", "{s} recipe #{n}"),
            ("sourdough bread", "lemon tart", "cinnamon rolls", "croissants", "banana bread"),
        ),
        "Street Food": (
            ("{s} street food tour {y}", "Best {s} in the night market", "Making {s} at home"),
            ("Bangkok pad thai", "Mexico City tacos", "Istanbul kebab", "Osaka takoyaki", "ramen"),
        ),
    },
    "Travel": {
        "Europe": (
            ("{s} travel guide {y}", "3 days in {s}", "{s} on a budget - part {n}"),
            ("Lisbon", "Krakow", "the Dolomites", "Iceland's ring road", "Seville", "Tallinn"),
        ),
        "Asia": (
            ("{s} travel vlog {y}", "First time in {s}", "{s}: hidden gems #{n}"),
            ("Kyoto", "Hanoi", "Seoul", "Yogyakarta", "Taipei", "the Philippines"),
        ),
    },
    "Science": {
        "Space": (
            ("How {s} really works", "The mystery of {s}", "{s} explained in {n} minutes"),
            ("black holes", "neutron stars", "the James Webb telescope", "Mars rovers", "comets"),
        ),
        "Physics": (
            ("{s} for beginners", "Why {s} is so strange", "Lecture {n}: {s}"),
            ("quantum entanglement", "entropy", "special relativity", "superconductors", "lasers"),
        ),
    },
    "Gaming": {
        "Speedruns": (
            ("{s} any% speedrun in {n} minutes", "{s} world record explained", "{s} glitches"),
            ("Hollow Knight", "Celeste", "Super Metroid", "Portal 2", "Ocarina of Time"),
        ),
        "Retro": (
            ("{s} retrospective", "Is {s} still worth playing in {y}?", "{s} - full playthrough"),
            ("the SNES", "the Game Boy", "Sega Saturn games", "early PC adventures", "arcades"),
        ),
    },
    "Fitness": {
        "Yoga": (
            ("{n} minute {s}", "{s} for beginners", "Daily {s} - day {n}"),
            ("morning yoga", "yoga for back pain", "yin yoga", "power yoga flow", "stretching"),
        ),
        "Strength": (
            ("{s} workout", "The perfect {s} ({y})", "{s} program week {n}"),
            ("full body", "kettlebell", "deadlift form", "home calisthenics", "pull-up progress"),
        ),
    },
    "Technology": {
        "Reviews": (
            ("{s} review after {n} months", "{s} unboxing", "Is the {s} worth it in {y}?"),
            ("mechanical keyboard", "e-reader", "mirrorless camera", "budget phone", "NAS box"),
        ),
        "Programming": (
            ("Learn {s} in {n} minutes", "{s} tutorial ({y})", "Building a {s} from scratch"),
            ("Rust", "Python async", "a compiler", "a ray tracer", "SQL indexes", "Git internals"),
        ),
    },
    "History": {
        "Ancient": (
            ("The rise and fall of {s}", "{s} - documentary", "Daily life in {s}"),
            ("Rome", "the Hittites", "Carthage", "ancient Egypt", "the Maya", "Babylon"),
        ),
        "Modern": (
            ("{s}: what really happened", "The story of {s}", "{s} in {n} maps"),
            ("the Berlin Wall", "the space race", "the printing press", "the telegraph", "1968"),
        ),
    },
    "Comedy": {
        "Stand-up": (
            ("{s} - full stand-up special", "{s} on airports", "Best of {s} {y}"),
            ("Dana Whitlock", "Raj Menon", "Ellie Park", "Tom Baxendale", "Ines Carvalho"),
        ),
        "Sketches": (
            ("{s} sketch", "{s} - episode {n}", "When {s} goes wrong"),
            ("The job interview", "Tech support", "Family dinner", "The group project", "IKEA"),
        ),
    },
    "Nature": {
        "Wildlife": (
            ("{s} in the wild", "The secret life of {s}", "{s} - 4K documentary"),
            ("snow leopards", "octopuses", "crows", "wolves of Yellowstone", "honey bees"),
        ),
        "Oceans": (
            ("Diving {s}", "{s} in 4K", "What lives in {s}?"),
            ("the Great Barrier Reef", "kelp forests", "the deep sea", "tide pools", "Raja Ampat"),
        ),
    },
    "DIY": {
        "Woodworking": (
            ("Building {s}", "{s} - woodworking project", "How I made {s} ({y})"),
            ("a walnut desk", "a workbench", "a floating shelf", "a cutting board", "a bookcase"),
        ),
        "Electronics": (
            ("Repairing {s}", "DIY {s}", "{s} teardown"),
            ("a vintage amplifier", "a synthesizer", "a weather station", "an old radio", "LEDs"),
        ),
    },
    "Languages": {
        "Spanish": (
            ("Spanish lesson {n}: {s}", "Learn {s} in Spanish", "{s} - Spanish listening"),
            ("the subjunctive", "ordering food", "past tenses", "slang from Madrid", "numbers"),
        ),
        "Japanese": (
            ("Japanese lesson {n}: {s}", "Learn {s} in Japanese", "{s} - JLPT N{n}"),
            ("keigo", "particles", "kanji radicals", "counters", "casual speech"),
        ),
    },
}

_PLAYLIST_STYLES = (
    "favourites",
    "mix",
    "collection",
    "to watch",
    "watch again",
    "archive",
    "picks",
    "rabbit hole",
)
T = TypeVar("T")
_OWNERS = 400  # distinct uploader channels among other people's videos
_EPOCH_2010 = 1262304000
_SPAN = 15 * 365 * 86400


_DAYS = [
    (datetime.fromtimestamp(_EPOCH_2010, UTC) + timedelta(days=d)).strftime("%Y-%m-%d")
    for d in range(_SPAN // 86400)
]


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` without its per-call overhead (the generator calls it ~1M times)."""
    return seq[int(rng.random() * len(seq))]


def _published(rng: random.Random) -> str:
    """A random timestamp in 2010-2024, without a strftime per video."""
    second = int(rng.random() * 86400)
    hms = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    return f"{_pick(rng, _DAYS)}T{hms}Z"


def _duration(rng: random.Random, short_fraction: float) -> tuple[str, bool]:
    """An ISO 8601 duration as videos.list gives it, and whether the video is a Short
    (at most 60 s); now and then a live or upcoming broadcast, which YouTube gives as
    P0D."""
    roll = rng.random()
    if roll < short_fraction:
        seconds = 8 + int(rng.random() * 53)
    elif roll < short_fraction + 0.003:
        return "P0D", False
    else:
        # 61 s to about an hour and a half, most of them around ten minutes.
        seconds = 61 + int(60 * 2 ** (rng.random() * 6.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + "".join(
        f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if value
    )
    return text, seconds <= 60


def _new_id(rng: random.Random, length: int, taken: Container[str]) -> str:
    while True:
        candidate = random_id(rng, length)
        if candidate not in taken:
            return candidate


def generate_library(
    state: EmulatorState,
    *,
    videos: int,
    playlists: int,
    seed: int,
    unavailable_fraction: float = 0.01,
    duplicate_fraction: float = 0.005,
    own_fraction: float = 0.02,
    coverage: float = 1.15,
    short_fraction: float = 0.08,
) -> dict[str, int]:
    """Fill ``state`` with a library; returns ``state.summary()``.

    ``unavailable_fraction`` of the videos are deleted or private (half each);
    ``duplicate_fraction`` of a playlist's items are repeated; ``own_fraction`` are the
    channel's own uploads; playlists hold about ``coverage`` x ``videos`` items in total;
    ``short_fraction`` are Shorts (at most 60 s, "#shorts" in the title).
    """
    rng = random.Random(seed)
    # Durations draw from a generator of their own: the rest of a seed's library stays
    # what it was before videos had durations.
    lengths = random.Random(f"durations-{seed}")
    topics = list(TOPICS)
    owners = [
        ("UC" + random_id(rng, 22), f"{rng.choice(_NAMES)} {kind}")
        for kind in ("Channel", "TV", "Studio", "Official", "Explains", "Vlogs", "Lab", "Kitchen")
        for _ in range(_OWNERS // 8)
    ]
    genres = {t: list(TOPICS[t]) for t in topics}
    by_topic: dict[str, list[str]] = {t: [] for t in topics}
    all_ids: list[str] = []
    n_unavailable = round(videos * unavailable_fraction)
    with state.lock:
        for i in range(videos):
            topic = topics[i % len(topics)]
            genre = _pick(rng, genres[topic])
            templates, subjects = TOPICS[topic][genre]
            title = _pick(rng, templates).format(
                s=_pick(rng, subjects),
                y=2009 + int(rng.random() * 17),
                n=1 + int(rng.random() * 60),
            )
            duration, short = _duration(lengths, short_fraction)
            if short:
                title += " #shorts"
            vid = _new_id(rng, 11, state.videos)
            roll = rng.random()
            own = roll < own_fraction
            owner_id, owner_title = (
                (state.channel_id, state.channel_title) if own else _pick(rng, owners)
            )
            privacy = "unlisted" if rng.random() < 0.02 else "public"
            if own and rng.random() < 0.1:
                privacy = "private"  # own private uploads stay addable
            state.videos[vid] = Video(
                vid,
                title,
                privacy,
                False,
                owner_id,
                owner_title,
                _published(rng),
                topic,
                genre,
                duration,
            )
            if own:
                state.append_item(state.uploads_id, vid)
            by_topic[topic].append(vid)
            all_ids.append(vid)
        # Unavailable videos: other people's, half deleted, half made private.
        others = [v for v in all_ids if state.videos[v].owner_channel_id != state.channel_id]
        for k, vid in enumerate(rng.sample(others, min(n_unavailable, len(others)))):
            if k % 2:
                state.videos[vid].privacy = "private"
            else:
                state.videos[vid].deleted = True
        _fill_playlists(
            state, rng, by_topic, all_ids, playlists, videos, coverage, duplicate_fraction
        )
        # Specials: some liked, a short watch-later queue.
        for vid in rng.sample(all_ids, min(len(all_ids), max(1, videos // 20))):
            state.append_item("LL", vid)
        for vid in rng.sample(all_ids, min(len(all_ids), max(1, min(300, videos // 50)))):
            state.append_item("WL", vid)
    return state.summary()


_NAMES = (
    "Aurora",
    "Basalt",
    "Cedar",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchard",
    "Pioneer",
)


def _fill_playlists(
    state: EmulatorState,
    rng: random.Random,
    by_topic: dict[str, list[str]],
    all_ids: list[str],
    count: int,
    videos: int,
    coverage: float,
    duplicate_fraction: float,
) -> None:
    """Lock held.  Make ``count`` playlists that lean towards one topic each."""
    if count <= 0 or not all_ids:
        return
    cap = state.max_playlist_items - 10
    weights = [rng.paretovariate(1.3) for _ in range(count)]
    total = sum(weights)
    target = max(count, round(videos * coverage))
    sizes = [max(1, min(cap, round(w / total * target))) for w in weights]
    topics = list(by_topic)
    for pool in by_topic.values():
        rng.shuffle(pool)
    cursor = dict.fromkeys(topics, 0)
    used_titles: set[str] = set()
    for index, size in enumerate(sizes):
        topic = topics[index % len(topics)]
        pool = by_topic[topic]
        main = min(len(pool), round(size * 0.85))
        start = cursor[topic]
        # Walk the topic's pool so successive playlists cover new videos, wrapping to
        # the start (which puts videos into several playlists).
        chosen = [pool[(start + k) % len(pool)] for k in range(main)] if pool else []
        cursor[topic] = (start + main) % max(1, len(pool))
        chosen += rng.choices(all_ids, k=size - len(chosen))
        chosen = list(dict.fromkeys(chosen))  # duplicates come only from the step below
        for _ in range(round(len(chosen) * duplicate_fraction)):
            chosen.append(rng.choice(chosen))
        rng.shuffle(chosen)
        title = f"{topic} {rng.choice(_PLAYLIST_STYLES)}"
        if title in used_titles:
            title = f"{title} {index + 1}"
        used_titles.add(title)
        pid = "PL" + _new_id(rng, 32, state.playlists)
        published = _published(rng)
        playlist = Playlist(
            pid,
            title,
            rng.choice(("", "", f"My {topic.lower()} videos.", "Saved for later.")),
            rng.choice(("private", "private", "public", "unlisted")),
            published,
            LONG_AGO,
        )
        state.playlists[pid] = playlist
        for vid in chosen:
            state.append_item(pid, vid)


def plan_categories(state: EmulatorState) -> list[str]:
    """Category names the sample plan uses for this library (genre-level when big)."""
    with state.lock:
        fine = len(state.videos) >= 1000
    if fine:
        return [f"{t}: {g}" for t, genres in TOPICS.items() for g in genres]
    return list(TOPICS)


def sample_plan_rows(
    state: EmulatorState, seed: int, *, uncategorised_fraction: float = 0.08
) -> list[tuple[str, str, bool]]:
    """Rows ``(category, video_id, protected)`` for a CSV plan over the library's playlists.

    Videos found in the normal playlists are assigned by topic (by genre once the library
    has 1,000+ videos, giving 24 categories); one category is protected; about
    ``uncategorised_fraction`` of available videos stay out of the plan; a few
    unavailable (deleted/private) videos are included, as a stale plan would.
    """
    rng = random.Random(seed)
    categories = plan_categories(state)
    fine = ":" in categories[0]
    protected = rng.choice(categories)
    with state.lock:
        seen: dict[str, Video] = {}
        for playlist in state.playlists.values():
            if playlist.special:
                continue
            for item in playlist.items:
                if item.video_id not in seen and item.video_id in state.videos:
                    seen[item.video_id] = state.videos[item.video_id]
        channel_id = state.channel_id
    rows: list[tuple[str, str, bool]] = []
    unavailable: list[tuple[str, str, bool]] = []
    for vid, video in seen.items():
        category = f"{video.topic}: {video.genre}" if fine else video.topic
        if category not in categories:
            continue  # a hand-made video without a sample topic
        row = (category, vid, category == protected)
        if video.deleted or (video.privacy == "private" and video.owner_channel_id != channel_id):
            unavailable.append(row)
        elif rng.random() >= uncategorised_fraction:
            rows.append(row)
    keep = max(min(3, len(unavailable)), len(unavailable) // 5)
    rows += rng.sample(unavailable, keep)
    rows.sort(key=lambda r: (categories.index(r[0]), r[1]))
    return rows
