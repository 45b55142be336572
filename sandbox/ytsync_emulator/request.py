"""One API request as the method handlers see it, plus paging and list envelopes."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from .errors import ApiError, unknown_part
from .errors import invalid_parameter as _invalid
from .state import EmulatorState

JsonDict = dict[str, Any]


@dataclass(slots=True)
class Call:
    """One API request on its way through a method handler."""

    state: EmulatorState
    now: datetime
    params: dict[str, str]
    raw_body: bytes
    playlist_id: str | None = None
    video_id: str | None = None
    resource_id: str | None = None
    sent_position: bool = False
    applied: bool = False

    def param(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None

    def ids(self, name: str) -> list[str]:
        return [v for v in (self.params.get(name) or "").split(",") if v]

    def parts(self, known: frozenset[str]) -> set[str]:
        names = self.ids("part")
        if not names:
            raise ApiError(_invalid("Required parameter: part", location="part"))
        for name in names:
            if name not in known:
                raise ApiError(unknown_part(name))
        return set(names)

    def json_body(self) -> JsonDict:
        try:
            body = json.loads(self.raw_body or b"{}")
        except ValueError:
            raise ApiError(_invalid("Request body is not valid JSON.", location="body")) from None
        if not isinstance(body, dict):
            raise ApiError(_invalid("Request body must be a JSON object.", location="body"))
        return body


Handler = Callable[[Call], tuple[int, JsonDict | None]]


def parse_query(query: str) -> dict[str, str]:
    """Repeated parameters (``part=a&part=b``, as the client sends lists) join with commas."""
    return {k: ",".join(v) for k, v in parse_qs(query, keep_blank_values=True).items()}


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def page_window(call: Call) -> tuple[int, int]:
    """(offset, size) of the requested page."""
    raw_max = call.param("maxResults")
    try:
        size = 5 if raw_max is None else int(raw_max)
    except ValueError:
        size = -1
    if not 0 <= size <= 50:
        raise ApiError(
            _invalid(
                f"Invalid value '{raw_max}'. Values must be within the range: [0, 50]",
                location="maxResults",
            )
        )
    token = call.param("pageToken")
    if token is None:
        return 0, size
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset = int(text.removeprefix("o:")) if text.startswith("o:") else -1
    except (binascii.Error, ValueError, UnicodeDecodeError):
        offset = -1
    if offset < 0:
        raise ApiError("invalidPageToken")
    return offset, size


def list_response(
    kind: str, call: Call, items: list[Any], render: Callable[[Any], JsonDict]
) -> JsonDict:
    offset, size = page_window(call)
    page = items[offset : offset + size]
    response: JsonDict = {"kind": kind, "etag": etag(kind, offset, len(items))}
    if offset + size < len(items):
        response["nextPageToken"] = page_token(offset + size)
    if offset > 0:
        response["prevPageToken"] = page_token(max(0, offset - size))
    response["pageInfo"] = {"totalResults": len(items), "resultsPerPage": size}
    response["items"] = [render(x) for x in page]
    return response


def etag(*parts: object) -> str:
    """A stable opaque tag (crc32, not hash(): the same across runs)."""
    return format(zlib.crc32(repr(parts).encode()), "08x")
