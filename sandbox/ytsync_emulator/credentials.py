"""Token files the real client loads with ``Credentials.from_authorized_user_file``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .state import YOUTUBE_SCOPE, EmulatorState

# A sign-in that lets an app read the channel but not change it: what a user who
# unticked "Manage your YouTube account" on Google's consent screen leaves behind.
NARROW_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"


def write_token_file(
    path: str | os.PathLike[str],
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
) -> Path:
    """Write google-auth "authorized_user" JSON pointing at the emulator, mode 0600.

    Note: google-auth's ``from_authorized_user_file`` ignores ``token_uri`` from the file
    (it always uses Google's), so clients must pass the token URI themselves; it is
    written here for humans and for clients that do read it.
    """
    target = Path(path)
    data = {
        "type": "authorized_user",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "token_uri": base_url.rstrip("/") + "/token",
    }
    # Create with 0600 from the start: a refresh token must never be world-readable,
    # not even for the moment between write and chmod.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.chmod(target, 0o600)  # an existing file keeps its old mode through O_CREAT
    return target


def issue_token_file(
    state: EmulatorState,
    path: str | os.PathLike[str],
    *,
    base_url: str,
    scope: str | None = None,
    client_id: str | None = None,
) -> Path:
    """What ``starter.py auth`` leaves behind, for an emulator account: a new OAuth
    client and refresh token issued by ``state``, in a token file at ``path``.

    ``scope``: what the user granted (default: the youtube scope).  Pass another, e.g.
    ``NARROW_SCOPE``, for a sign-in whose every API call YouTube refuses with 403
    insufficientPermissions.  ``client_id``: sign in through that client of the account
    (one joined with ``join_project``) instead of a new one.
    """
    client, secret, refresh = state.issue_credentials(scope or YOUTUBE_SCOPE, client_id=client_id)
    return write_token_file(
        path, base_url=base_url, client_id=client, client_secret=secret, refresh_token=refresh
    )
