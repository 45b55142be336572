"""Signing in to YouTube: the installed-app OAuth flow, and the token file it leaves.

The flow is google-auth-oauthlib's loopback flow (a one-shot HTTP server on localhost
receives the browser's redirect), with PKCE.  What it hands back is stored as google-auth
"authorized_user" JSON, mode 0600, exactly what ``YouTube``'s ``TokenStore`` reads.

Secrets stay out of the terminal and the logs: the client secret, the authorization
code and the tokens are never printed, and the loggers of the OAuth libraries (whose
DEBUG output contains the token request body and the token response) are held at
WARNING while the flow runs, whatever ``YTSYNC_DEBUG`` says.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import InstalledAppFlow
from oauthlib.oauth2.rfc6749.errors import AccessDeniedError, OAuth2Error
from requests import RequestException

from ytsync.errors import UserError
from ytsync.files import read_regular
from ytsync.urls import is_loopback
from ytsync.youtube.tokens import EXPIRY_FIELD, SCOPES, expiry_after, write_token

CLIENT_TYPES = ("installed", "web")
REQUIRED_FIELDS = ("client_id", "client_secret", "auth_uri", "token_uri")
# A client-secrets file is a few hundred bytes; anything this large is the wrong file.
MAX_CLIENT_SECRETS_BYTES = 1_000_000
# DEBUG records of these carry the code, the client secret or the tokens.
SECRET_BEARING_LOGGERS = ("google_auth_oauthlib", "requests_oauthlib", "oauthlib")

TESTING_STATUS_WARNING = (
    'Important: if your OAuth app\'s publishing status is still "Testing", Google lets '
    "its refresh tokens die after 7 days, and a sync that runs longer would stop. "
    'Before a multi-day sync, set the publishing status to "In production" in the '
    "Google Cloud console (APIs & Services > OAuth consent screen)."
)


class SignInCancelled(Exception):
    """The user said no on the consent screen (or closed the flow): nothing was written."""


class SignInFailed(Exception):
    """The flow ran but did not yield usable credentials (exit code 1)."""


@dataclass(frozen=True)
class ClientSecrets:
    """A validated Google client-secrets document."""

    path: Path
    client_type: str  # installed | web
    config: dict[str, Any]

    @property
    def token_uri(self) -> str:
        return str(self.config[self.client_type]["token_uri"])

    @property
    def auth_uri(self) -> str:
        return str(self.config[self.client_type]["auth_uri"])


def load_client_secrets(path: Path) -> ClientSecrets:
    """Read and check a client-secrets file; every problem is a UserError that names
    the file and the missing fields, never a value (one of them is the secret)."""
    where = f"client-secrets file {path}"
    try:
        text = read_regular(path, MAX_CLIENT_SECRETS_BYTES, "client-secrets file").decode("utf-8")
    except FileNotFoundError:
        raise UserError(
            f"{where} does not exist: download it from the Google Cloud console "
            "(APIs & Services > Credentials > OAuth client ID > Download JSON)"
        ) from None
    except IsADirectoryError:
        raise UserError(f"{where} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise UserError(f"{where} is not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"cannot read {where}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise UserError(f"{where} is not JSON") from None
    if not isinstance(document, dict):
        raise UserError(f"{where} is not a Google client-secrets document (not a JSON object)")
    client_type = next((kind for kind in CLIENT_TYPES if kind in document), None)
    if client_type is None:
        raise UserError(
            f'{where} is not for an "installed" (Desktop app) or "web" OAuth client; '
            "create a Desktop app client in the Google Cloud console"
        )
    section = document[client_type]
    if not isinstance(section, dict):
        raise UserError(f'{where}: "{client_type}" is not a JSON object')
    missing = [
        name
        for name in REQUIRED_FIELDS
        if not isinstance(section.get(name), str) or not section[name]
    ]
    if missing:
        raise UserError(f"{where} lacks {', '.join(missing)}")
    for name in ("auth_uri", "token_uri"):
        try:
            url = urlsplit(section[name])
        except ValueError:
            raise UserError(f"{where}: {name} is not a URL") from None
        # Plain http only to this machine (the emulator): a code or token sent over a
        # network in clear text could be read on the way.
        if not (url.scheme == "https" or (url.scheme == "http" and _loopback(section[name]))):
            raise UserError(f"{where}: {name} must be an https URL")
    return ClientSecrets(path, client_type, document)


def check_token_destination(path: Path) -> None:
    """Fail before the browser opens when the token could not be written afterwards."""
    folder = path.parent
    if not folder.is_dir():
        raise UserError(
            f"the folder for the token file does not exist: {folder} "
            "(create it, or set YTSYNC_TOKEN_FILE)"
        )
    if path.is_dir():
        raise UserError(f"the token file {path} is a folder (set YTSYNC_TOKEN_FILE to a file)")
    if path.exists() and not path.is_file():
        raise UserError(
            f"the token file {path} is not a regular file (set YTSYNC_TOKEN_FILE to a file)"
        )
    # The token is written next to itself and renamed into place: the folder must
    # take new files.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"cannot write the token file: folder {folder} is not writable")


@dataclass(frozen=True)
class SignedIn:
    credentials: Credentials
    # When the refresh token dies (ISO 8601), if Google's answer said so.
    expires: str | None = None


def sign_in(secrets: ClientSecrets, *, port: int, open_browser: bool, prompt: str) -> SignedIn:
    """Run the loopback flow; return credentials that carry a refresh token, and when
    they die if Google said so (``refresh_token_expires_in``).

    ``prompt`` is printed (with ``{url}`` filled in) before waiting for the browser.
    Raises SignInCancelled, SignInFailed, UserError (port taken) or ConnectionError.
    A KeyboardInterrupt while waiting propagates: the caller decides the exit code.
    """
    flow = InstalledAppFlow.from_client_config(secrets.config, scopes=SCOPES)
    if open_browser and not browser_available():
        # A server or container has no browser: the printed address is then the way in,
        # rather than a crash inside the flow.
        open_browser = False
    try:
        with _quiet_oauth_loggers(), _plain_http_if_loopback(secrets.auth_uri, secrets.token_uri):
            credentials = flow.run_local_server(
                host="localhost",
                port=port,
                open_browser=open_browser,
                authorization_prompt_message=prompt,
                success_message="ytsync is signed in. You may close this window.",
                # offline + consent: Google then always returns a refresh token, even
                # to an account that granted access before.
                access_type="offline",
                prompt="consent",
            )
    except AccessDeniedError:
        raise SignInCancelled("access was not granted on the consent screen") from None
    except OAuth2Error as exc:
        # error and description only: the exception also holds the request, with secrets.
        detail = f"{exc.error}: {exc.description}" if exc.description else str(exc.error)
        raise SignInFailed(f"Google refused the sign-in ({detail})") from None
    except Warning as exc:
        # oauthlib raises a bare Warning when the granted scopes differ from the asked.
        raise SignInFailed(
            "the sign-in did not grant access to YouTube; sign in again and allow "
            f'"Manage your YouTube account" ({type(exc).__name__})'
        ) from None
    except RequestException as exc:
        raise ConnectionError(
            f"cannot reach Google's token endpoint {secrets.token_uri}: {type(exc).__name__}"
        ) from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on localhost is in use: choose another with --port "
                "(0 picks a free one)"
            ) from None
        raise
    if not isinstance(credentials, Credentials) or not credentials.refresh_token:
        raise SignInFailed(
            "Google returned no refresh token; remove ytsync's access at "
            "https://myaccount.google.com/permissions and sign in again"
        )
    answer = flow.oauth2session.token or {}
    return SignedIn(
        credentials, expiry_after(answer.get("refresh_token_expires_in"), datetime.now(UTC))
    )


def browser_available() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def token_document(credentials: Credentials, expires: str | None = None) -> dict[str, Any]:
    """The authorized-user JSON google-auth reads back (with the type gcloud writes),
    and when the sign-in dies, if known (ytsync.youtube.tokens.EXPIRY_FIELD)."""
    document: dict[str, Any] = json.loads(credentials.to_json())  # type: ignore[no-untyped-call]
    document["type"] = "authorized_user"
    if expires is not None:
        document[EXPIRY_FIELD] = expires
    return document


def save_token(path: Path, signed_in: SignedIn) -> None:
    write_token(path, token_document(signed_in.credentials, signed_in.expires))


@contextmanager
def _quiet_oauth_loggers() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in SECRET_BEARING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _plain_http_if_loopback(*uris: str) -> Iterator[None]:
    """oauthlib refuses http:// endpoints.  Allow them only when every endpoint is on
    this machine (the emulator): such traffic never crosses a network."""
    name = "OAUTHLIB_INSECURE_TRANSPORT"
    local = all(urlsplit(uri).scheme == "https" or _loopback(uri) for uri in uris)
    if not local or name in os.environ:
        yield
        return
    os.environ[name] = "1"
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _loopback(uri: str) -> bool:
    try:
        return is_loopback(urlsplit(uri).hostname or "")
    except ValueError:
        return False
