"""The Apprise services of ``YTSYNC_NOTIFY`` (or a channel's ``notify``): checked once,
then sent to with a bound on each send.

Apprise's own log lines are kept out of the log (``apprise`` logger at CRITICAL): they
can quote a service's URL or answer.  What went wrong comes back from ``send``,
masked, for the caller to log once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ytsync.errors import UserError
from ytsync.logs import mask
from ytsync.safetext import visible

# One send to every service may take this long; Apprise's own connect and read
# timeouts (4 s each by default, ``cto``/``rto`` in a URL) come first for HTTP services.
SEND_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Sent:
    ok: bool
    services: int
    problems: list[str] = field(default_factory=list)


class Notifier:
    """The services behind one setting's URLs.  Raises UserError (naming ``where`` and
    the URL's position and scheme, never the URL) when Apprise cannot use one."""

    def __init__(self, urls: str, where: str = "YTSYNC_NOTIFY") -> None:
        import apprise
        from apprise.utils.parse import parse_urls

        logging.getLogger("apprise").setLevel(logging.CRITICAL)
        self._apprise = apprise.Apprise()
        self.schemes: list[str] = []
        found: list[str] = parse_urls(urls)  # type: ignore[no-untyped-call]
        for number, url in enumerate(found, start=1):
            scheme, sep, _rest = url.partition("://")
            shown = visible(scheme[:24]) if sep else None
            if shown is None:
                raise UserError(f"{where}: item {number} is not a URL (SCHEME://...)")
            service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
            if service is None:
                raise UserError(
                    f"{where}: URL {number} ({shown}://...) is not one Apprise can use: an "
                    "unknown service, or a part missing or malformed (see Apprise's list of "
                    "services and their URLs)"
                )
            self._apprise.add(service)
            self.schemes.append(shown)
        if not self.schemes:
            raise UserError(f"{where}: no URL given")

    def send(self, title: str, body: str) -> Sent:
        result = self._apprise.notify(body=body, title=title, timeout=SEND_TIMEOUT_SECONDS)
        problems = [
            mask(visible(entry.message))
            for entry in result.logs()
            if entry.level in ("WARNING", "ERROR", "CRITICAL")
        ]
        return Sent(bool(result), len(self.schemes), problems)
