"""The transport-free entry point: one HTTP request in, one ``Reply`` out.

Order of checks per request, as on the real service: authentication (401, free), the
token's scope (403 insufficientPermissions, free), quota (403 quotaExceeded, free),
injected faults, then the method itself.  Every authenticated
request that passes the quota check is charged its method's full cost whatever the
outcome, so a client's own ledger (which charges before calling) matches the emulator's
count exactly.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from .errors import (
    BODIES,
    INVALID_CLIENT,
    INVALID_GRANT,
    UNSUPPORTED_GRANT,
    ApiError,
    insufficient_permissions,
)
from .faults import LOSING_KINDS, SPOILING_KINDS
from .methods import ROUTES
from .quota import is_write
from .request import Call, JsonDict, page_token, page_window, parse_query
from .state import YOUTUBE_SCOPE, EmulatorState, WriteVerdict

# The log's status for a write that a write hook dropped before it was applied (the
# client was gone): nginx's "client closed request".
DROPPED_STATUS = 499

API_PREFIX = "/youtube/v3/"
TOKEN_PATH = "/token"
# Where Google's consent screen lives, relative to the emulator's base URL.
AUTH_PATH = "/o/oauth2/auth"
# Installed apps may redirect to any port of these hosts (Google's loopback flow).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(slots=True)
class Reply:
    status: int
    body: JsonDict | None
    # A fault kind from LOSING_KINDS: close the connection instead of answering.
    drop: str | None = None
    # Extra response headers, e.g. the Location of a redirect.
    headers: dict[str, str] | None = None
    # A body that is not JSON (a spoilt answer): sent as it is, instead of ``body``.
    raw: bytes | None = None


def handle(
    state: EmulatorState,
    verb: str,
    path: str,
    query: str,
    body: bytes,
    authorization: str | None,
    connection: int = 0,
) -> Reply:
    """Answer one HTTP request."""
    if path == TOKEN_PATH:
        return _token(state, verb, body, authorization, connection)
    if path == AUTH_PATH:
        return _authorize(state, verb, query, connection)
    now = state.clock()
    route = (
        ROUTES.get((verb, path.removeprefix(API_PREFIX))) if path.startswith(API_PREFIX) else None
    )
    if route is None:
        with state.lock:
            state.record(
                time=now,
                method=f"{verb} {path}",
                status=404,
                units=0,
                applied=False,
                connection=connection,
            )
        return Reply(404, BODIES["notFound"])
    name, cost, handler = route
    call = Call(state, now, parse_query(query), body)
    hook = state.write_hook
    verdict: WriteVerdict = "answer" if hook is None or not is_write(name) else hook(name)
    if verdict == "ignore":
        _note_keys(call)
        with state.lock:
            _log(state, call, name, DROPPED_STATUS, 0, "ignored", connection)
        return Reply(DROPPED_STATUS, None, "lose_response_reset")
    lost = "lose_response_reset" if verdict == "lose" else None
    token = (authorization or "").removeprefix("Bearer ").strip()
    with state.lock:
        if not authorization or not state.access_token_valid(token, now):
            _note_keys(call)
            _log(state, call, name, 401, 0, lost, connection)
            return Reply(401, BODIES["authError"], lost)
        if not state.access_token_has_youtube_scope(token):
            # Refused at the door like a 401: no quota is charged.
            _note_keys(call)
            _log(state, call, name, 403, 0, lost, connection)
            return Reply(403, insufficient_permissions(name), lost)
        period = state.period(now)
        limit = state.daily_limit
        # The quota is the Cloud project's: accounts signed in through one of its
        # clients count on one counter (EmulatorState.join_project).
        with state.quota_lock:
            over = limit is not None and state.quota[period] + cost > limit
            fault = None if over else state.faults.draw(name)
            charged = 0 if over or (fault is not None and fault.kind == "quota_exceeded") else cost
            state.quota[period] += charged
        if over:
            _note_keys(call)
            _log(state, call, name, 403, 0, lost, connection)
            return Reply(403, BODIES["quotaExceeded"], lost)
    if fault is not None and (case := fault.body_case()) is not None:
        # Injected errors are refused before the method runs: nothing is applied.
        error = ApiError(case)
        _note_keys(call)
        with state.lock:
            _log(state, call, name, error.status, charged, fault.kind, connection)
        return Reply(error.status, error.body, lost)
    try:
        status, payload = handler(call)
    except ApiError as error:
        status, payload = error.status, error.body
    drop = fault.kind if fault is not None and fault.kind in LOSING_KINDS else lost
    spoilt = fault.kind if fault is not None and fault.kind in SPOILING_KINDS else None
    with state.lock:
        _log(state, call, name, status, charged, drop or spoilt, connection)
    if spoilt is not None and status == 200 and payload is not None:
        return _spoil(spoilt, payload, call, drop)
    return Reply(status, payload, drop)


HTML_PAGE = b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head></html>"


def _spoil(kind: str, payload: JsonDict, call: Call, drop: str | None) -> Reply:
    """A 200 answer that is not what the API sends (see ytsync_emulator.faults)."""
    if kind == "html_answer":
        return Reply(200, None, drop, {"Content-Type": "text/html; charset=UTF-8"}, HTML_PAGE)
    spoilt = dict(payload)
    listing = "items" in spoilt
    if kind == "garbled_answer":
        if listing:
            spoilt["items"] = [str(item.get("id", "")) for item in spoilt["items"]]
        else:
            spoilt.pop("id", None)
    elif kind == "repeat_page_token" and listing:
        spoilt["nextPageToken"] = call.param("pageToken") or page_token(0)
    elif kind == "endless_pages" and listing:
        offset, size = page_window(call)
        spoilt["nextPageToken"] = page_token(offset + max(size, 1))
    return Reply(200, spoilt, drop)


def owner(
    states: list[EmulatorState], path: str, query: str, body: bytes, authorization: str | None
) -> EmulatorState:
    """Which of several emulated accounts served on one address a request is for: the
    one that issued its access token, or (sign-in) that knows its OAuth client.  The
    first one when none does: it answers 401 like Google would."""
    if len(states) == 1:
        return states[0]
    if path == TOKEN_PATH:
        form = parse_query(body.decode("utf-8", "replace"))
        client_id, _secret = _client_credentials(form, authorization)
        # One OAuth client may sign in several accounts: the grant tells them apart.
        found = [
            s
            for s in states
            if s.knows(refresh_token=form.get("refresh_token", ""), code=form.get("code", ""))
        ] or [s for s in states if s.knows(client_id=client_id)]
    elif path == AUTH_PATH:
        client_id = parse_query(query).get("client_id", "")
        found = [s for s in states if s.knows(client_id=client_id)]
    else:
        token = (authorization or "").removeprefix("Bearer ").strip()
        found = [s for s in states if s.knows(access_token=token)]
    return found[0] if found else states[0]


def _note_keys(call: Call) -> None:
    """Fill the log's key fields for a request that never reaches its handler."""
    call.playlist_id = call.param("playlistId")
    call.video_id = call.param("videoId")
    call.resource_id = call.param("id")
    try:
        body = call.json_body() if call.raw_body else {}
    except ApiError:
        return
    snippet = body.get("snippet")
    if isinstance(snippet, dict):
        call.sent_position = "position" in snippet
        if isinstance(snippet.get("playlistId"), str):
            call.playlist_id = snippet["playlistId"]
        resource = snippet.get("resourceId")
        if isinstance(resource, dict) and isinstance(resource.get("videoId"), str):
            call.video_id = resource["videoId"]
    if isinstance(body.get("id"), str):
        call.resource_id = body["id"]


def _log(
    state: EmulatorState,
    call: Call,
    name: str,
    status: int,
    units: int,
    fault: str | None,
    connection: int,
) -> None:
    state.record(
        time=call.now,
        method=name,
        status=status,
        units=units,
        applied=call.applied,
        playlist_id=call.playlist_id,
        video_id=call.video_id,
        resource_id=call.resource_id,
        sent_position=call.sent_position,
        fault=fault,
        connection=connection,
    )


def _authorize(state: EmulatorState, verb: str, query: str, connection: int) -> Reply:
    """Google's consent screen, with a user who answers at once.

    A good request is redirected (302) straight to ``redirect_uri`` with a fresh code
    (or ``error=access_denied`` when ``state.deny_authorization`` is set), just as the
    browser would be after the user clicked.  A request Google would refuse to redirect
    (unknown client, a redirect URI that is not loopback) gets a 400 page instead.
    """
    now = state.clock()
    params = parse_query(query)
    redirect_uri = params.get("redirect_uri", "")
    scope = params.get("scope", "")
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or "plain"
    with state.lock:
        problem: JsonDict | None = None
        if verb != "GET":
            problem = _oauth_error("invalid_request", "The consent page only answers GET.")
        elif not state.client_registered(params.get("client_id", "")):
            problem = dict(INVALID_CLIENT)
        elif not _loopback(redirect_uri):
            problem = _oauth_error(
                "redirect_uri_mismatch", "redirect_uri must be an http loopback address."
            )
        elif params.get("response_type") != "code":
            problem = _oauth_error("unsupported_response_type", "response_type must be code.")
        elif YOUTUBE_SCOPE not in scope.split():
            problem = _oauth_error("invalid_scope", f"scope must include {YOUTUBE_SCOPE}.")
        elif challenge is not None and method not in ("S256", "plain"):
            problem = _oauth_error("invalid_request", "Unknown code_challenge_method.")
        if problem is not None:
            state.record(
                time=now,
                method="oauth.authorize",
                status=400,
                units=0,
                applied=False,
                connection=connection,
            )
            return Reply(400, problem)
        answer: dict[str, str]
        if state.deny_authorization:
            answer = {"error": "access_denied"}
        else:
            code = state.issue_authorization_code(
                params["client_id"],
                redirect_uri,
                scope,
                now,
                code_challenge=challenge,
                code_challenge_method=method,
            )
            answer = {"code": code, "scope": scope}
        if "state" in params:
            answer["state"] = params["state"]
        state.record(
            time=now,
            method="oauth.authorize",
            status=302,
            units=0,
            applied=not state.deny_authorization,
            connection=connection,
        )
    location = _with_query(redirect_uri, answer)
    # A body with a length keeps a keep-alive client from waiting for the connection
    # to close before it follows the redirect.
    return Reply(302, {"location": location}, headers={"Location": location})


def _loopback(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def _with_query(uri: str, extra: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *extra.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _oauth_error(error: str, description: str) -> JsonDict:
    return {"error": error, "error_description": description}


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    """The client's id and secret from HTTP Basic auth or the form (RFC 6749 2.3.1):
    requests-oauthlib sends Basic, google-auth's refresh sends them in the body."""
    header = authorization or ""
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header.removeprefix("Basic ").strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, client_secret = decoded.partition(":")
        # Basic credentials are form-urlencoded before base64 (RFC 6749 2.3.1).
        return unquote_plus(client_id), unquote_plus(client_secret)
    return form.get("client_id", ""), form.get("client_secret", "")


def _token(
    state: EmulatorState, verb: str, body: bytes, authorization: str | None, connection: int
) -> Reply:
    """The OAuth 2.0 token endpoint: the refresh_token and authorization_code grants."""
    now = state.clock()
    form = parse_query(body.decode("utf-8", "replace"))
    client_id, client_secret = _client_credentials(form, authorization)
    grant_type = form.get("grant_type")
    with state.lock:
        status: int
        payload: JsonDict
        if verb != "POST" or grant_type not in ("refresh_token", "authorization_code"):
            status, payload = 400, dict(UNSUPPORTED_GRANT)
        elif not state.client_known(client_id, client_secret):
            status, payload = 401, dict(INVALID_CLIENT)
        elif grant_type == "authorization_code":
            issued = state.redeem_authorization_code(
                client_id,
                client_secret,
                form.get("code", ""),
                form.get("redirect_uri", ""),
                form.get("code_verifier") or None,
                now,
            )
            if issued is None:
                status, payload = 400, dict(INVALID_GRANT)
            else:
                access, refresh, scope = issued
                status = 200
                payload = {
                    "access_token": access,
                    "refresh_token": refresh,
                    "expires_in": int(state.access_token_ttl),
                    "token_type": "Bearer",
                    "scope": scope,
                }
                if state.refresh_token_ttl is not None:
                    # A sign-in that does not last (an app in Testing: 7 days) says how
                    # long its refresh token lives, as Google's answer does for
                    # time-limited access; a lasting one says nothing.
                    payload["refresh_token_expires_in"] = int(state.refresh_token_ttl)
        else:
            exchanged = state.exchange_refresh_token(
                client_id, client_secret, form.get("refresh_token", ""), now
            )
            if exchanged is None:
                status, payload = 400, dict(INVALID_GRANT)
            else:
                token, scope = exchanged
                status = 200
                payload = {
                    "access_token": token,
                    "expires_in": int(state.access_token_ttl),
                    "token_type": "Bearer",
                    # What was granted, as Google answers: it may lack what was asked.
                    "scope": scope,
                }
        state.record(
            time=now,
            method="oauth.token",
            status=status,
            units=0,
            applied=status == 200,
            connection=connection,
        )
    return Reply(status, payload)


def client_secrets(base_url: str, client_id: str, client_secret: str) -> JsonDict:
    """A Google "installed app" client-secrets document whose endpoints are the emulator's."""
    base = base_url.rstrip("/")
    return {
        "installed": {
            "client_id": client_id,
            "client_secret": client_secret,
            "project_id": "ytsync-emulator",
            "auth_uri": base + AUTH_PATH,
            "token_uri": base + TOKEN_PATH,
            "redirect_uris": ["http://localhost"],
        }
    }


def write_client_secrets(
    path: str | os.PathLike[str], *, base_url: str, client_id: str, client_secret: str
) -> Path:
    """Write :func:`client_secrets` to ``path`` (mode 0600: it holds the client secret)."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(client_secrets(base_url, client_id, client_secret), handle, indent=2)
        handle.write("\n")
    os.chmod(target, 0o600)  # an existing file keeps its old mode through O_CREAT
    return target
