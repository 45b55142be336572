"""An in-memory YouTube Data API v3 emulator for tests, demos and benchmarks.

Typical use::

    state = EmulatorState(clock=VirtualClock(), daily_limit=10_000)
    generate_library(state, videos=500, playlists=12, seed=1)
    with EmulatorServer(state) as server:
        client_id, secret, refresh = state.issue_credentials()
        ...  # build the real client with api_endpoint=server.base_url,
        ...  # token_uri=server.token_uri
"""

from __future__ import annotations

from .clock import VirtualClock, utc_now
from .credentials import NARROW_SCOPE, issue_token_file, write_token_file
from .errors import BODIES, ApiError
from .faults import FAULT_KINDS, FaultKind, FaultRule, Faults
from .model import DeletedPlaylist, Playlist, PlaylistItem, RemovedItem, RequestRecord, Video
from .quota import COSTS, QuotaPeriods
from .sample import TOPICS, generate_library, plan_categories, sample_plan_rows
from .server import EmulatorServer
from .state import (
    LIST_LAG_JITTER_SECONDS,
    LIST_LAG_SECONDS,
    MAX_PLAYLIST_ITEMS,
    NOT_FOUND_AFTER_CREATE_SECONDS,
    YOUTUBE_SCOPE,
    EmulatorState,
    WriteHold,
)

__all__ = [
    "BODIES",
    "COSTS",
    "FAULT_KINDS",
    "LIST_LAG_JITTER_SECONDS",
    "LIST_LAG_SECONDS",
    "MAX_PLAYLIST_ITEMS",
    "NARROW_SCOPE",
    "NOT_FOUND_AFTER_CREATE_SECONDS",
    "TOPICS",
    "YOUTUBE_SCOPE",
    "ApiError",
    "DeletedPlaylist",
    "EmulatorServer",
    "EmulatorState",
    "FaultKind",
    "FaultRule",
    "Faults",
    "Playlist",
    "PlaylistItem",
    "QuotaPeriods",
    "RemovedItem",
    "RequestRecord",
    "Video",
    "VirtualClock",
    "WriteHold",
    "generate_library",
    "issue_token_file",
    "plan_categories",
    "sample_plan_rows",
    "utc_now",
    "write_token_file",
]
