"""Addresses in settings: where tokens and API calls may travel, and host:port pairs."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# host:port, the host a name or an address ([brackets] around IPv6), as gRPC takes it.
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")


def is_loopback(host: str) -> bool:
    """This machine: ``localhost``, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure_url(value: str) -> str:
    """An https:// URL, or http:// to this machine only (the emulator, a local proxy).

    The refresh token and the client secret go to the token URI, and a bearer token
    to the API endpoint: over plain http to another host anyone on the way reads them.
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port only shows when read
    except ValueError:
        raise ValueError(f"{value!r} is not a URL (e.g. https://youtube.googleapis.com)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL (e.g. https://youtube.googleapis.com)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            "must be an https:// URL: plain http:// is allowed only to this machine "
            "(localhost, 127.0.0.0/8, ::1), since tokens would travel unencrypted"
        )
    return value


def check_host_port(value: str, example: str) -> str:
    """``host:port`` with a port from 1 to 65535."""
    match = _HOST_PORT.fullmatch(value)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(f"{value!r} is not host:port (e.g. {example})")
    return value
