"""The console every view prints through: control characters in text are shown, not
obeyed.

rich leaves ESC and the C1 controls in a ``Text`` as they are (it drops only BEL, BS,
VT, FF and CR), so a title with ``ESC ] 0 ; ... BEL`` would retitle the terminal and
``ESC [ 2 J`` clear it. Doing it here, where every renderable turns into output, covers
every view (tables, live displays, progress, error messages) without each one having
to remember; rich's own cursor and style sequences are control segments and styles,
which stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Span, Text

from ytsync.safetext import has_controls, visible


class SafeConsole(Console):
    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        if isinstance(renderable, Text) and has_controls(renderable.plain):
            # Before layout, so a table sizes the cell for the longer, visible form.
            renderable = visible_text(renderable)
        for segment in super().render(renderable, options):
            if segment.control is None and has_controls(segment.text):
                # Whatever made its own segments, or a str rendered without a Text.
                yield Segment(visible(segment.text), segment.style)
            else:
                yield segment


def visible_text(text: Text) -> Text:
    """A copy of ``text`` with ``visible`` applied, its styled spans moved along."""
    plain = text.plain
    starts = [0]
    pieces = []
    for char in plain:
        shown = visible(char)
        pieces.append(shown)
        starts.append(starts[-1] + len(shown))
    end = len(plain)
    spans = [
        Span(starts[min(span.start, end)], starts[min(span.end, end)], span.style)
        for span in text.spans
    ]
    return Text(
        "".join(pieces),
        style=text.style,
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
        spans=spans,
    )
