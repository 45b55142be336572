"""YouTube's rules for playlist titles and descriptions.

YouTube Help ("Playlist titles cannot include invalid characters"): a title holds at
most 150 characters, a description at most 5,000, and neither may contain '<', '>' or
U+2028 (LINE SEPARATOR).  A refused one comes back as a vague 400 (``badRequest``,
"Sorry, something went wrong." has been seen), so ytsync checks names before a job
starts, and fits the texts it composes itself.
"""

from __future__ import annotations

MAX_TITLE = 150
MAX_DESCRIPTION = 5_000
REFUSED = {"<": "'<'", ">": "'>'", "\u2028": "a line separator (U+2028)"}
# What texts ytsync composes itself (exported names, restored titles) get instead: the
# single angle quotation marks look alike and YouTube takes them.
STAND_INS = {"<": "\u2039", ">": "\u203a", "\u2028": " "}


def refused_characters(text: str) -> list[str]:
    """How the refused characters in ``text`` are named, in the order of REFUSED."""
    return [label for char, label in REFUSED.items() if char in text]


def title_problem(title: str) -> str | None:
    """Why YouTube would refuse ``title`` as a playlist title, or None."""
    found = refused_characters(title)
    if found:
        return f"contains {' and '.join(found)}, which YouTube refuses in playlist titles"
    if len(title) > MAX_TITLE:
        return (
            f"is {len(title)} characters long; a YouTube playlist title holds at most {MAX_TITLE}"
        )
    return None


def description_problem(text: str, limit: int = MAX_DESCRIPTION) -> str | None:
    """Why YouTube would refuse ``text`` as a playlist description (or, with a smaller
    ``limit``, why it leaves too little room), or None."""
    found = refused_characters(text)
    if found:
        return f"contains {' and '.join(found)}, which YouTube refuses in playlist descriptions"
    if len(text) > limit:
        return f"is {len(text):,} characters long; at most {limit:,} fit"
    return None


def _stand_ins(text: str) -> str:
    for char, stand_in in STAND_INS.items():
        text = text.replace(char, stand_in)
    return text


def fit_title(title: str) -> str:
    """``title`` as YouTube takes it: refused characters replaced by their STAND_INS,
    trimmed, cut to 150 characters; "Untitled" when nothing is left."""
    return _stand_ins(title).strip()[:MAX_TITLE].rstrip() or "Untitled"


def fit_description(text: str, tail: str) -> str:
    """``text`` then ``tail`` (a marker that must survive whole), within YouTube's rules:
    refused characters replaced, and ``text`` cut so the whole fits."""
    tail = _stand_ins(tail)
    room = MAX_DESCRIPTION - len(tail)
    return (_stand_ins(text)[: max(0, room)] + tail).strip()
