"""Worker logging: one JSON object per line for log collectors, or plain text for people.

Every line goes through a filter that masks database passwords and bearer or refresh
tokens, whatever code wrote the message, so a secret never reaches a log file. The
command line's error messages go through the same ``mask``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from ytsync.safetext import visible

_SECRETS = [
    # scheme://user:password@host -> scheme://user:***@host. Up to the last '@' of
    # the word: a password may hold '@', ':' or '/' (escaped or not).
    (re.compile(r"(\b[A-Za-z][\w+.-]*://[^:/@\s]*:)\S*@"), r"\1***@"),
    (re.compile(r"(\bpassword=)[^&\s]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(Bearer\s+)[\w.\-~+/]+=*", re.IGNORECASE), r"\1***"),
    (re.compile(r"\bya29\.[\w.\-]+"), "ya29.***"),
    (re.compile(r"\b1//[\w.\-]+"), "1//***"),
    (re.compile(r"\bGOCSPX-[\w\-]+"), "GOCSPX-***"),
    (re.compile(r'("(?:refresh_token|access_token|token|client_secret)"\s*:\s*")[^"]*'), r"\1***"),
]


# Passwords of the database URLs this process was given, as written and unescaped:
# masked wherever they appear, even cut out of their URL (a driver's message).
_known: set[str] = set()
_known_lock = threading.Lock()
# Shorter ones are masked inside URLs only: as bare words they would hit plain text.
_MIN_KNOWN = 4


def remember_url_password(url: str) -> None:
    """Mask this URL's password from now on, whatever characters it holds.

    The user information runs to the last '@' before any '?': a password written
    with a bare '@' (which URL parsers read as the host's start) is still all of it.
    """
    rest = url.partition("://")[2].partition("?")[0]
    userinfo, at, _host = rest.rpartition("@")
    password = userinfo.partition(":")[2] if at else ""
    plain = unquote(password)
    with _known_lock:
        # As written, unescaped, and escaped (as a URL built from it would show it).
        for form in {password, plain, quote(plain, safe="")}:
            if len(form) >= _MIN_KNOWN:
                _known.add(form)


# Parts of a notification URL shorter than this stay visible (a scheme, a short topic).
_MIN_URL_PART = 6


def remember_notify_urls(text: str) -> None:
    """Mask these Apprise URLs (``YTSYNC_NOTIFY``) from now on: each whole, and each
    part that may be a token (a password, a path segment, a query value), wherever a
    library's message quotes one of them."""
    forms: set[str] = set()
    for url in re.split(r"[\s,;]+", text.strip()):
        if not url:
            continue
        forms.add(url)
        rest = url.partition("://")[2]
        userinfo, at, hostpath = rest.rpartition("@")
        if at:
            forms.update(userinfo.split(":"))
        path, _, query = hostpath.partition("?")
        forms.update(path.split("/")[1:])
        for pair in query.split("&"):
            forms.add(pair.partition("=")[2])
    with _known_lock:
        for form in forms:
            for variant in {form, unquote(form)}:
                if len(variant) >= _MIN_URL_PART:
                    _known.add(variant)


def mask(text: str) -> str:
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        # Not inside a longer word: a password "secret" must not turn the hint
        # "--client-secrets" into "--client-***s".
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", "***", text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        for key in ("workflow_id", "activity_type", "job_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Lines for a terminal or ``tail -f``: a title from YouTube in a message cannot
    send the terminal control sequences (JSON lines escape them already)."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(MaskSecrets())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
