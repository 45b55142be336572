"""The transport-free entry point: one HTTP request in, one ``Reply`` out.

Order of checks per request, as on the real service: authentication (401, free), quota
(403 quotaExceeded, free), injected faults, then the method itself.  Every authenticated
request that passes the quota check is charged its method's full cost whatever the
outcome, so a client's own ledger (which charges before calling) matches the emulator's
count exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BODIES, INVALID_CLIENT, INVALID_GRANT, UNSUPPORTED_GRANT, ApiError
from .faults import LOSING_KINDS
from .methods import ROUTES
from .request import Call, JsonDict, parse_query
from .state import YOUTUBE_SCOPE, EmulatorState

API_PREFIX = "/youtube/v3/"
TOKEN_PATH = "/token"


@dataclass(slots=True)
class Reply:
    status: int
    body: JsonDict | None
    # A fault kind from LOSING_KINDS: close the connection instead of answering.
    drop: str | None = None


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
        return _token(state, verb, body, connection)
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
    token = (authorization or "").removeprefix("Bearer ").strip()
    with state.lock:
        if not authorization or not state.access_token_valid(token, now):
            _note_keys(call)
            _log(state, call, name, 401, 0, None, connection)
            return Reply(401, BODIES["authError"])
        period = state.period(now)
        limit = state.daily_limit
        if limit is not None and state.quota[period] + cost > limit:
            _note_keys(call)
            _log(state, call, name, 403, 0, None, connection)
            return Reply(403, BODIES["quotaExceeded"])
        fault = state.faults.draw(name)
        charged = 0 if fault is not None and fault.kind == "quota_exceeded" else cost
        state.quota[period] += charged
    if fault is not None and (case := fault.body_case()) is not None:
        # Injected errors are refused before the method runs: nothing is applied.
        error = ApiError(case)
        _note_keys(call)
        with state.lock:
            _log(state, call, name, error.status, charged, fault.kind, connection)
        return Reply(error.status, error.body)
    try:
        status, payload = handler(call)
    except ApiError as error:
        status, payload = error.status, error.body
    drop = fault.kind if fault is not None and fault.kind in LOSING_KINDS else None
    with state.lock:
        _log(state, call, name, status, charged, drop, connection)
    return Reply(status, payload, drop)


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


def _token(state: EmulatorState, verb: str, body: bytes, connection: int) -> Reply:
    """The OAuth 2.0 token endpoint (refresh_token grant only)."""
    now = state.clock()
    form = parse_query(body.decode("utf-8", "replace"))
    with state.lock:
        if verb != "POST" or form.get("grant_type") != "refresh_token":
            status, payload = 400, dict(UNSUPPORTED_GRANT)
        elif not state.client_known(form.get("client_id", ""), form.get("client_secret", "")):
            status, payload = 401, dict(INVALID_CLIENT)
        else:
            token = state.exchange_refresh_token(
                form.get("client_id", ""),
                form.get("client_secret", ""),
                form.get("refresh_token", ""),
                now,
            )
            if token is None:
                status, payload = 400, dict(INVALID_GRANT)
            else:
                status = 200
                payload = {
                    "access_token": token,
                    "expires_in": int(state.access_token_ttl),
                    "token_type": "Bearer",
                    "scope": form.get("scope") or YOUTUBE_SCOPE,
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
