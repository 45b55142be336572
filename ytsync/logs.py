"""Worker logging: one JSON object per line for log collectors, or plain text for people.

Every line goes through a filter that masks database passwords and bearer or refresh
tokens, whatever code wrote the message, so a secret never reaches a log file.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_SECRETS = [
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(\w+(?:\+\w+)?://[^:/@\s]+:)[^@\s]+@"), r"\1***@"),
    (re.compile(r"(Bearer\s+)[\w.\-~+/]+=*", re.IGNORECASE), r"\1***"),
    (re.compile(r"\bya29\.[\w.\-]+"), "ya29.***"),
    (re.compile(r"\b1//[\w.\-]+"), "1//***"),
    (re.compile(r"\bGOCSPX-[\w\-]+"), "GOCSPX-***"),
    (re.compile(r'("(?:refresh_token|access_token|token|client_secret)"\s*:\s*")[^"]*'), r"\1***"),
]


def mask(text: str) -> str:
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


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(MaskSecrets())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
