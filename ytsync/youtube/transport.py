"""An httplib2 transport that never sends a write twice on its own.

httplib2 re-sends a request once when the connection closes before any answer (it
takes that for a stale keep-alive connection), whatever ``httplib2.RETRIES`` says.  For
a POST whose answer was lost after YouTube applied it, that second send is a duplicate
playlist item no reconcile can see.  Here such a loss surfaces as ``ResponseLost``
for every method but GET and HEAD, and the sync's protocol looks before it writes again.
"""

from __future__ import annotations

import http.client
from typing import Any

import httplib2

SAFE_METHODS = frozenset({"GET", "HEAD"})


class ResponseLost(ConnectionError):
    """The connection ended before the answer: the request may or may not have applied."""


class _NoResend:
    _last_method = "GET"

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        self._last_method = method.upper()
        super().request(method, url, *args, **kwargs)  # type: ignore[misc]

    def getresponse(self) -> http.client.HTTPResponse:
        try:
            response: http.client.HTTPResponse = super().getresponse()  # type: ignore[misc]
        except (http.client.BadStatusLine, http.client.ResponseNotReady) as exc:
            if self._last_method in SAFE_METHODS:
                raise
            raise ResponseLost(
                f"connection closed before the {self._last_method} was answered"
            ) from exc
        return response


class _HTTPConnection(_NoResend, httplib2.HTTPConnectionWithTimeout):  # type: ignore[misc]
    pass


class _HTTPSConnection(_NoResend, httplib2.HTTPSConnectionWithTimeout):  # type: ignore[misc]
    pass


class OneShotHttp(httplib2.Http):  # type: ignore[misc]
    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        redirections: int = httplib2.DEFAULT_MAX_REDIRECTS,
        connection_type: Any = None,
    ) -> Any:
        if connection_type is None:
            https = uri.lower().startswith("https:")
            connection_type = _HTTPSConnection if https else _HTTPConnection
        return super().request(uri, method, body, headers, redirections, connection_type)
