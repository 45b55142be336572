"""Text from YouTube or a plan, made harmless for a terminal, a file and a spreadsheet.

Titles come from YouTube, and anyone's public video can sit in a user's playlist: a
title can carry terminal control sequences (ESC, OSC, CSI) that clear the screen or
retitle the terminal, characters that show nothing but reorder or hide the text around
them (U+202E turns "exe.txt" into "txt.exe"; a name of U+200B alone looks empty), or
start with ``=`` and run as a formula in a spreadsheet.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls but newline and tab, DEL, and the C1 controls (U+0080-U+009F: a terminal
# may read U+009B as CSI, like ESC [).
_CONTROL_CHARS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
# What shows nothing yet changes the text around it: the soft hyphen, the bidi marks,
# embeddings, overrides and isolates (Trojan Source, CVE-2021-42574), zero-width space,
# word joiner and invisible operators, line and paragraph separators, the byte-order
# mark, interlinear annotations and the tag characters.  Not U+200C/U+200D: joiners
# that emoji sequences and several scripts need.
_HIDDEN_CHARS = (
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f"
)
_SHOWN = re.compile(f"[{_CONTROL_CHARS}{_HIDDEN_CHARS}]")
_CONTROL = re.compile(f"[{_CONTROL_CHARS}\n\t]")
_HIDDEN = re.compile(f"[{_HIDDEN_CHARS}]")
# What PostgreSQL cannot store in text (NUL) or no database can encode (a lone
# surrogate, from a JSON "\\ud800").
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def has_controls(text: str) -> bool:
    """Does ``text`` hold a character ``visible`` writes out?"""
    return _SHOWN.search(text) is not None


def visible(text: str) -> str:
    r"""``text`` with every control character but newline and tab, and every hidden
    character, written out as an escape: ESC becomes the four characters ``\x1b`` and
    U+202E the six characters ``\u202e``, so a terminal shows them instead of obeying
    them."""
    if not has_controls(text):
        return text
    return _SHOWN.sub(lambda found: _escape(found.group()), text)


def one_line(text: str) -> str:
    r"""``visible``, with newline and tab written out too: for a value shown in one
    cell or line (a name, an id), which must not start a line of its own."""
    return visible(text).replace("\n", "\\n").replace("\t", "\\t")


def plain(text: str, *, keep_lines: bool = False) -> str:
    """``text`` for a file a person reads (safe to ``cat``): control characters
    become spaces (newlines and tabs stay with ``keep_lines``), hidden ones go."""
    # A line or paragraph separator is a line break: a space, like the others.
    text = _HIDDEN.sub("", text.replace("\u2028", " ").replace("\u2029", " "))
    if keep_lines:
        return _SHOWN.sub(" ", text)
    return _CONTROL.sub(" ", text)


def control_in(text: str) -> str | None:
    """The first control character in ``text`` (newline and tab included), written
    out, or None."""
    found = _CONTROL.search(text)
    return None if found is None else one_line(found.group())


# Letters and symbols that print as blank space.
_BLANK = frozenset("\u115f\u1160\u2800\u3164\uffa0")
# Unicode categories that print nothing of their own: controls, formats, separators,
# combining marks and lone surrogates.
_NOTHING = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp", "Mn", "Me"})


def shows_nothing(text: str) -> bool:
    """Does ``text`` print as nothing (only spaces, controls, invisible characters,
    blank letters)?  A name like that looks like no name at all."""
    return all(char in _BLANK or unicodedata.category(char) in _NOTHING for char in text)


def storable(text: str) -> str:
    """``text`` as every database stores it alike: NUL (which PostgreSQL refuses) and
    lone surrogates (which no database encodes) become U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def json_visible(document: str) -> str:
    r"""A JSON document with the characters ``json.dumps(ensure_ascii=False)`` leaves
    raw (DEL, the C1 controls, the hidden ones) written as ``\uXXXX`` escapes: the
    same data when read back, and nothing a terminal obeys when shown."""
    return _SHOWN.sub(lambda found: _json_escape(found.group()), document)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters past U+FFFF
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# OWASP's rule for CSV injection: a cell starting with one of these is a formula to
# a spreadsheet. Quotes in front are counted too, so the escape can be undone exactly.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")


def csv_cell(value: str) -> str:
    """A value as a CSV cell a spreadsheet shows as text: a value starting with
    ``= + - @``, tab or CR, after any number of single quotes, gets one more single
    quote in front (``=SUM(A1)`` -> ``'=SUM(A1)``, ``'-x`` -> ``''-x``)."""
    return "'" + value if _FORMULA.match(value) else value


def csv_value(cell: str) -> str:
    """The value of a cell ``csv_cell`` wrote: one leading quote comes off when the
    rest of the cell is what ``csv_cell`` protects. Every other cell is taken as it
    is, so a typed ``'quoted`` stays ``'quoted``; only a typed quote right before
    ``= + - @`` is read as the escape (type two quotes to keep one)."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell, 1) else cell
