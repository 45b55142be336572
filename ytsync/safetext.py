"""Text from YouTube or a plan, made harmless for a terminal and for a spreadsheet.

Titles come from YouTube, and anyone's public video can sit in a user's playlist: a
title can carry terminal control sequences (ESC, OSC, CSI) that clear the screen or
retitle the terminal, or start with ``=`` and run as a formula in a spreadsheet.
"""

from __future__ import annotations

import re

# C0 controls but newline and tab, DEL, and the C1 controls (U+0080-U+009F: a terminal
# may read U+009B as CSI, like ESC [).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_VISIBLE = {code: f"\\x{code:02x}" for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]}
del _VISIBLE[ord("\n")], _VISIBLE[ord("\t")]


def has_controls(text: str) -> bool:
    return _CONTROL.search(text) is not None


def visible(text: str) -> str:
    r"""``text`` with every control character but newline and tab written out as an
    escape: ESC becomes the four characters ``\x1b``, so a terminal shows it instead
    of obeying it."""
    return text.translate(_VISIBLE) if has_controls(text) else text


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
