"""Where things are in a TOML file that ``tomllib`` has already read.

``tomllib`` gives values, not positions.  To name the line of a rule, a category or a
key, this finds the lines that begin a TOML statement (a table header or a key) at
their start: not the inside of a multi-line string or a multi-line array, where a line
such as ``[[rule]]`` is only text.  Only a document ``tomllib`` accepted is scanned, so
the scan follows TOML's rules for strings, comments and brackets and need not report
errors of its own.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from dataclasses import dataclass

_BASIC, _LITERAL = '"', "'"
_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_HEADER = re.compile(rf"\s*\[(\[?)\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*\]")


def statement_lines(text: str) -> list[int]:
    """The 1-based numbers of the lines of ``text`` that begin a TOML statement."""
    starts: list[int] = []
    depth = 0  # open arrays and inline tables of a value
    open_string: str | None = None  # the delimiter of a multi-line string we are in
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        at_start = open_string is None and depth == 0
        if at_start and line.strip() and not line.lstrip().startswith("#"):
            starts.append(number)
            if line.lstrip().startswith("["):
                continue  # a table header is one line; its keys may hold any character
        index = 0
        while index < len(line):
            if open_string is not None:
                index, open_string = _after_multiline(line, index, open_string)
                continue
            char = line[index]
            if char == "#":
                break
            if char in (_BASIC, _LITERAL):
                if line.startswith(char * 3, index):
                    open_string = char * 3
                    index += 3
                else:
                    index = _after_string(line, index)
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
            index += 1
    return starts


def _after_multiline(line: str, index: int, delimiter: str) -> tuple[int, str | None]:
    """Where the multi-line string that is open at ``index`` ends on this line (past
    its delimiter, and the up to two quotes TOML lets stand before it), or the line's
    end and the string still open."""
    while index < len(line):
        if delimiter == '"""' and line[index] == "\\":
            index += 2
            continue
        if line.startswith(delimiter, index):
            end = index + 3
            while end < len(line) and end - index < 5 and line[end] == delimiter[0]:
                end += 1
            return end, None
        index += 1
    return index, delimiter


def _after_string(line: str, index: int) -> int:
    quote = line[index]
    index += 1
    while index < len(line):
        if quote == _BASIC and line[index] == "\\":
            index += 2
            continue
        if line[index] == quote:
            return index + 1
        index += 1
    return index


@dataclass(frozen=True)
class Header:
    """A table header: ``[a.b]`` (``array`` False) or ``[[a.b]]``, and its key path."""

    line: int
    array: bool
    keys: tuple[str, ...]


class Layout:
    """The statements of a TOML document, by line: its table headers, and the lines of
    the keys set under each."""

    def __init__(self, text: str) -> None:
        self._lines = text.split("\n")
        self._starts = statement_lines(text)
        self.headers = [h for n in self._starts if (h := self._header(n)) is not None]
        self._header_lines = [h.line for h in self.headers]

    def _header(self, number: int) -> Header | None:
        line = self._lines[number - 1]
        match = _HEADER.match(line)
        if match is None:
            return None
        # The key path, read by tomllib itself, so quoting and escapes are TOML's.
        table: object = tomllib.loads(f"[{match.group(2)}]")
        keys: list[str] = []
        while isinstance(table, dict) and len(table) == 1:
            key = next(iter(table))
            keys.append(key)
            table = table[key]
        return Header(number, bool(match.group(1)), tuple(keys))

    def tables(self, *keys: str, array: bool = False) -> list[Header]:
        """The headers of exactly ``keys``, in order (``[[rule]]``: ``"rule"``, array)."""
        return [h for h in self.headers if h.keys == keys and h.array == array]

    def sub_tables(self, key: str) -> dict[str, Header]:
        """``[key.NAME]`` headers by NAME (the first of each)."""
        found: dict[str, Header] = {}
        for header in self.headers:
            if len(header.keys) == 2 and header.keys[0] == key and not header.array:
                found.setdefault(header.keys[1], header)
        return found

    def key_line(self, key: str, within: Header | None = None) -> int | None:
        """The line that sets ``key`` (its first key part) at the top of the document,
        or directly under the header ``within``."""
        first = 1 if within is None else within.line + 1
        end = self.end_of(within)
        pattern = re.compile(
            rf"\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]"
        )
        for number in self._starts:
            if first <= number < end and pattern.match(self._lines[number - 1]):
                return number
        return None

    def end_of(self, header: Header | None) -> int:
        """The first line after the statements that belong to ``header`` (the top of
        the document for None)."""
        start = 0 if header is None else header.line
        index = bisect_right(self._header_lines, start)
        return (
            self._header_lines[index] if index < len(self._header_lines) else len(self._lines) + 1
        )

    def top_key_line(self, key: str) -> int | None:
        """Where ``key`` is first given at the top level: a key line before any header,
        or a header that starts with it."""
        line = self.key_line(key)
        if line is not None:
            return line
        return next((h.line for h in self.headers if h.keys[:1] == (key,)), None)
