"""The command that helps, added to an error the domain raised: the domain says what
is wrong, only the command line knows what to type."""

from __future__ import annotations

from ytsync.errors import (
    JobConflict,
    JobRunning,
    NoDatabase,
    NoPlan,
    NoSnapshot,
    NotAToken,
    NothingToRestore,
    NoTokenFile,
    TemporalUnreachable,
)

HINTS: dict[type[Exception], str] = {
    JobConflict: " or see 'python starter.py status'",
    JobRunning: " (python starter.py status)",
    NoDatabase: (
        "; 'python starter.py import' creates it (or set YTSYNC_DATABASE_URL to the "
        "database you meant)"
    ),
    NoPlan: ": run 'python starter.py plan apply FILE' first",
    NoSnapshot: "; see 'python starter.py backup list'",
    NothingToRestore: " (run 'python starter.py import' if you deleted some by hand)",
    NoTokenFile: (
        ": sign in first with 'python starter.py auth --client-secrets FILE' "
        "(or set YTSYNC_TOKEN_FILE)"
    ),
    NotAToken: "; sign in again with 'python starter.py auth --client-secrets FILE'",
    TemporalUnreachable: (
        ". Start it with 'python starter.py dev-server', or set YTSYNC_TEMPORAL_ADDRESS, "
        "TEMPORAL_ADDRESS or a Temporal config profile"
    ),
}


# The way out of an old playlist kept because videos were saved to it since the import.
KEPT_NEW_WAY_OUT = (
    "run 'python starter.py import', put the new videos in a category "
    "('python starter.py plan apply') or leave them out, then 'python starter.py start' again"
)


def with_hint(exc: BaseException) -> str:
    """The error's message, and the command that helps when there is one."""
    hint = next((HINTS[kind] for kind in type(exc).__mro__ if kind in HINTS), "")
    return f"{exc}{hint}"
