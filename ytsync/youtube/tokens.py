"""The token file: google-auth "authorized_user" JSON, read once, written back safely.

Several processes share one token file (the worker, every command, ``auth``), and
each may refresh the access token at any time:

- a write never shows half a file: ``write_atomically`` renames a finished file in
  place, so readers need no lock;
- writers take a lock beside the file (``flock``), and under it a refresh never
  overwrites a newer sign-in (a different refresh token, written by ``auth``);
- a file readable by others is made private (0600), with a warning;
- a file that cannot be written (a read-only mounted secret) still works: the
  refreshed token stays in memory, with one warning.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials

from ytsync.errors import NotAToken, NoTokenFile, UserError
from ytsync.files import read_regular, write_atomically

SCOPES = ["https://www.googleapis.com/auth/youtube"]
# A token file is a few hundred bytes.
MAX_TOKEN_BYTES = 64 * 1024
_STRING_FIELDS = ("client_id", "client_secret", "refresh_token")
# ytsync's own field of the token file: when the refresh token dies, as Google said at
# sign-in (``refresh_token_expires_in`` of the token response, sent for sign-ins that
# do not last: time-limited access, and apps in Testing).  Absent: Google said nothing.
EXPIRY_FIELD = "refresh_token_expiry"

log = logging.getLogger(__name__)


class TokenStore:
    """One token file: loaded once; written back (0600) whenever a refresh changed it."""

    def __init__(self, path: Path, token_uri: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.credentials = self._load(token_uri)
        self._saved_token = self.credentials.token
        self._refresh_token = self.credentials.refresh_token
        self._expiry = self._info.get(EXPIRY_FIELD)
        self._write_failed = False

    def _load(self, token_uri: str) -> Credentials:
        info = self._info = read_token_file(self.path)
        try:
            creds = Credentials.from_authorized_user_info(info, SCOPES)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            # from_authorized_user_info names the missing fields, never their values.
            raise NotAToken(
                f"token file {self.path} is not an authorized-user token ({exc})"
            ) from None
        # google-auth ignores the file's token_uri in from_authorized_user_*: set ours.
        with_uri: Credentials = creds.with_token_uri(token_uri)
        return with_uri

    def save_if_refreshed(self) -> None:
        with self._lock:
            if self.credentials.token == self._saved_token:
                return
            self._saved_token = self.credentials.token
            document = json.loads(self.credentials.to_json())  # type: ignore[no-untyped-call]
            if self._expiry is not None and self.credentials.refresh_token == self._refresh_token:
                # The same sign-in: it dies when Google said it would.
                document[EXPIRY_FIELD] = self._expiry
            try:
                if write_token(self.path, document, refreshing=self._refresh_token):
                    # Google may hand out a new refresh token with an access token.
                    self._refresh_token = self.credentials.refresh_token
            except OSError as exc:
                if not self._write_failed:
                    self._write_failed = True
                    log.warning(
                        "cannot write the refreshed token to %s (%s); it is kept in memory "
                        "only, and this process refreshes it again when it expires",
                        self.path,
                        exc.strerror or exc,
                    )


def expiry_after(seconds: object, now: datetime) -> str | None:
    """The token file's EXPIRY_FIELD for a token response's ``refresh_token_expires_in``
    (None when Google sent none, or nothing usable)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | str):
        return None
    try:
        lifetime = float(seconds)
    except ValueError:
        return None
    if not 0 < lifetime < 100 * 365 * 86400:
        return None
    return (now + timedelta(seconds=lifetime)).astimezone(UTC).isoformat(timespec="seconds")


def refresh_token_expiry(path: Path) -> datetime | None:
    """When the sign-in in the token file at ``path`` dies, if Google said so."""
    value = read_token_file(path).get(EXPIRY_FIELD)
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def read_token_file(path: Path) -> dict[str, Any]:
    """The token file's JSON object; every problem is a UserError naming the file."""
    try:
        data = read_regular(
            path,
            MAX_TOKEN_BYTES,
            "token file",
            on_open=lambda fd, info: _make_private(path, fd, info),
        )
    except FileNotFoundError:
        raise NoTokenFile(f"no token file at {path}") from None
    except IsADirectoryError:
        raise UserError(
            f"token file {path} is a folder (set YTSYNC_TOKEN_FILE to a file)"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read token file {path}: {exc.strerror or exc}") from None
    try:
        info = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"token file {path} is not UTF-8 text") from None
    except ValueError:
        raise NotAToken(
            f"token file {path} is not an authorized-user token (not valid JSON)"
        ) from None
    if not isinstance(info, dict):
        kind = _json_kind(info)
        raise NotAToken(
            f"token file {path} is not an authorized-user token (its JSON is {kind}, not an object)"
        )
    wrong = [name for name in _STRING_FIELDS if name in info and not isinstance(info[name], str)]
    if wrong:
        raise NotAToken(
            f"token file {path} is not an authorized-user token ({', '.join(wrong)} not text)"
        )
    return info


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a boolean" if isinstance(value, bool) else "a number"


def _make_private(path: Path, fd: int, info: os.stat_result) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return
    try:
        os.fchmod(fd, 0o600)
    except OSError as exc:
        log.warning(
            "token file %s is readable by group or others (mode %03o) and cannot be made "
            "private (%s): keep it where only you can read it",
            path,
            mode,
            exc.strerror or exc,
        )
        return
    log.warning(
        "token file %s was readable by group or others (mode %03o); set it to 0600", path, mode
    )


def write_token(path: Path, document: dict[str, Any], *, refreshing: str | None = None) -> bool:
    """Write a token file (0600, atomically, under the writers' lock); False if not.

    ``refreshing``: the refresh token the new document continues. When the file on disk
    holds another one, someone signed in again meanwhile: that newer sign-in stays.
    A symlinked token file (a mounted secret) is written where the link points.
    """
    target = Path(os.path.realpath(path))
    with _writers_lock(target):
        if refreshing is not None and _refresh_token_on_disk(target) not in (None, refreshing):
            log.info(
                "token file %s holds a newer sign-in; the refreshed token is not written", path
            )
            return False
        write_atomically(target, json.dumps(document).encode("utf-8"))
    return True


def _refresh_token_on_disk(path: Path) -> str | None:
    try:
        info = json.loads(read_regular(path, MAX_TOKEN_BYTES, "token file"))
    except (OSError, ValueError, UserError):
        return None
    token = info.get("refresh_token") if isinstance(info, dict) else None
    return token if isinstance(token, str) else None


@contextmanager
def _writers_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``.NAME.lock`` beside ``path``, between processes.

    The lock file is never removed (removing it would let two writers lock two
    different files) and never followed if someone planted a symlink there.
    """
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
