"""Connecting to Temporal the way every Temporal tool does, with no secret in sight.

Each setting comes from the first of: ``YTSYNC_TEMPORAL_ADDRESS`` /
``YTSYNC_TEMPORAL_NAMESPACE``; the ``TEMPORAL_*`` variables; the profile
(``TEMPORAL_PROFILE``, else ``default``) of the Temporal config file
(``TEMPORAL_CONFIG_FILE``, else the user's ``temporalio/temporal.toml``); then
``localhost:7233`` and namespace ``default``.  ``temporalio.envconfig`` reads the file and
the variables and decides what they mean; this module checks what it found before a
connection is tried, so a bad value stops the command naming the setting at fault.

The API key, the client key and gRPC metadata are secrets: they stay out of ``repr``,
messages and logs (a TOML error is cut to its position and reason, because the
library quotes the offending line and the value it did not expect), and the API key is
never sent in clear text to another machine.

The config file and the TLS files are read here, with a bound, and handed to the
library as data: ``/dev/zero`` would otherwise be read until memory runs out, and a
FIFO would block the command and the worker for ever.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS, DataSource
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from ytsync.config import Settings
from ytsync.errors import TemporalUnreachable, UserError
from ytsync.files import read_regular
from ytsync.urls import is_loopback

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
CONFIG_FILE_VAR = "TEMPORAL_CONFIG_FILE"
PROFILE_VAR = "TEMPORAL_PROFILE"
TLS_VAR = "TEMPORAL_TLS"
_GRPC_META_PREFIX = "TEMPORAL_GRPC_META_"
# What temporalio's envconfig (sdk-core) takes as a boolean.
_BOOLEANS = ("true", "false", "1", "0")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
# gRPC's rule for a header's name (after envconfig lowered the variable's suffix and
# turned '_' into '-'); a value is printable ASCII.
_HEADER_NAME = re.compile(r"[0-9a-z_.-]+")
# A Temporal config file or a PEM file is a few KiB; these bounds are generous.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_PEM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class _TLSItem:
    """One PEM item of the TLS settings: its attribute on ClientConfigTLS, its
    variables (``<env>_PATH`` / ``<env>_DATA``) and its keys in a profile's ``[tls]``
    (``<toml>_path`` / ``<toml>_data``)."""

    attribute: str
    env: str
    toml: str
    what: str
    is_key: bool = False


_TLS_ITEMS = (
    _TLSItem(
        "server_root_ca_cert",
        "TEMPORAL_TLS_SERVER_CA_CERT",
        "tls.server_ca_cert",
        "server CA certificate",
    ),
    _TLSItem("client_cert", "TEMPORAL_TLS_CLIENT_CERT", "tls.client_cert", "client certificate"),
    _TLSItem(
        "client_private_key",
        "TEMPORAL_TLS_CLIENT_KEY",
        "tls.client_key",
        "client private key",
        is_key=True,
    ),
)


@dataclass(frozen=True)
class TemporalTarget:
    """Where and how to connect.  The secrets are fields without ``repr``."""

    address: str
    namespace: str
    api_key: str | None = field(default=None, repr=False)
    tls: TLSConfig | bool = field(default=False, repr=False)
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """For messages and logs: what is used, never what it holds."""
        parts = ["TLS" if self.tls else "no TLS"]
        if isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            parts.append("client certificate")
        if self.api_key:
            parts.append("API key")
        return f"{self.address} (namespace {self.namespace}, {', '.join(parts)})"


@dataclass(frozen=True)
class _Origins:
    """Names the setting a value came from: a variable when it is set, else the key of
    the profile in the config file."""

    env: Mapping[str, str]
    profile: str
    config_file: Path

    def of(self, variable: str, toml_key: str) -> str:
        if variable in self.env:
            return variable
        return f"{toml_key} of profile '{self.profile}' in {self.config_file}"

    def of_source(self, item: _TLSItem, source: DataSource) -> str:
        suffix = "_PATH" if isinstance(source, Path) else "_DATA"
        return self.of(item.env + suffix, item.toml + suffix.lower())


def resolve_target(settings: Settings, environ: Mapping[str, str] | None = None) -> TemporalTarget:
    """The connection ``settings`` and the Temporal configuration describe, checked.

    Raises UserError naming the setting for a bad value; ``environ`` defaults to
    ``os.environ``.
    """
    # An empty variable is an unset one (as for every YTSYNC_* setting); envconfig
    # would otherwise take an empty TEMPORAL_TLS as "TLS on".  An empty gRPC header
    # keeps its meaning: it removes the header.
    env = {
        key: value
        for key, value in (os.environ if environ is None else environ).items()
        if value or key.startswith(_GRPC_META_PREFIX)
    }
    origins = _Origins(env, env.get(PROFILE_VAR, "default"), default_config_file(env))
    _check_tls_switch(env)
    profile = _load_profile(env, origins)

    if settings.temporal_address:
        address, origin = settings.temporal_address, "YTSYNC_TEMPORAL_ADDRESS"
    elif profile.address:
        address, origin = profile.address, origins.of("TEMPORAL_ADDRESS", "address")
    else:
        address, origin = DEFAULT_ADDRESS, "the default address"
    _check_address(address, origin)
    namespace = settings.temporal_namespace or profile.namespace or DEFAULT_NAMESPACE
    if profile.api_key is not None:
        _check_api_key(profile.api_key, origins.of("TEMPORAL_API_KEY", "api_key"))
    _check_metadata(profile.grpc_meta, env, origins)
    if profile.tls is not None:
        profile = dataclasses.replace(profile, tls=_checked_tls(profile.tls, origins))
    # The library decides what the profile means (an API key turns TLS on, ...); every
    # file is data by now, so it reads none.
    config = profile.to_client_connect_config()
    if config.get("api_key") and config.get("tls", False) is False:
        _refuse_plain_key(address, origins.of("TEMPORAL_API_KEY", "api_key"))
    return TemporalTarget(
        address=address,
        namespace=namespace,
        api_key=config.get("api_key"),
        tls=config.get("tls", False),
        rpc_metadata=dict(config.get("rpc_metadata", {})),
    )


async def connect(
    settings: Settings, runtime: Runtime | None = None, *, environ: Mapping[str, str] | None = None
) -> Client:
    """A client for ``settings`` and the Temporal configuration; UserError for a bad
    setting, ConnectionError when the server cannot be reached."""
    target = resolve_target(settings, environ)
    try:
        return await Client.connect(
            target.address,
            namespace=target.namespace,
            api_key=target.api_key,
            tls=target.tls,
            rpc_metadata=target.rpc_metadata,
            runtime=runtime,
        )
    except RuntimeError as exc:
        raise TemporalUnreachable(f"cannot reach Temporal at {target.describe()}: {exc}") from None


def default_config_file(env: Mapping[str, str]) -> Path:
    """The file envconfig reads: TEMPORAL_CONFIG_FILE, else temporalio/temporal.toml in
    the user's configuration folder (Rust's ``dirs::config_dir``, which reads the
    process's own environment)."""
    if CONFIG_FILE_VAR in env:
        return Path(env[CONFIG_FILE_VAR])
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home())
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "temporalio" / "temporal.toml"


def _check_tls_switch(env: Mapping[str, str]) -> None:
    value = env.get(TLS_VAR)
    if value is not None and value.lower() not in _BOOLEANS:
        raise UserError(f"{TLS_VAR}: {value!r} is not true, false, 1 or 0")


def _load_profile(env: Mapping[str, str], origins: _Origins) -> ClientConfigProfile:
    try:
        return ClientConfigProfile.load(
            config_source=_read_config_file(env, origins), override_env_vars=env
        )
    except RuntimeError as exc:  # envconfig's ConfigError
        raise UserError(_config_error(str(exc), env, origins)) from None


def _read_config_file(env: Mapping[str, str], origins: _Origins) -> bytes:
    """The config file's bytes (none when the default file is not there: envconfig
    skips a missing one in silence, but one named on purpose is a mistake)."""
    path = origins.config_file
    named = CONFIG_FILE_VAR in env
    what = CONFIG_FILE_VAR if named else "Temporal config file"
    setting = f"{what} ({path})"
    try:
        return read_regular(path, MAX_CONFIG_BYTES, what)
    except FileNotFoundError:
        if not named:
            return b""
        raise UserError(f"{setting}: cannot read it: no such file") from None
    except OSError as exc:
        raise UserError(f"{setting}: cannot read it: {exc.strerror}") from None


def _config_error(message: str, env: Mapping[str, str], origins: _Origins) -> str:
    if message.startswith("Profile ") and message.endswith("not found"):
        where = f"{PROFILE_VAR}: no profile '{origins.profile}' in {origins.config_file}"
        return where if PROFILE_VAR in env else f"{where} ({message})"
    if "TOML parse error" in message:
        # The library quotes the offending line, which may hold an API key: keep only
        # where it is and why.
        lines = [line for line in message.splitlines() if line.strip()]
        position = lines[0].removeprefix("Configuration loading error: ")
        setting = CONFIG_FILE_VAR if CONFIG_FILE_VAR in env else "Temporal config file"
        return f"{setting} ({origins.config_file}): {position}: {_no_values(lines[-1].strip())}"
    return f"Temporal client configuration: {_no_values(message)}"


def _no_values(reason: str) -> str:
    """A parser's reason without the values it quotes ("invalid type: string "...",
    expected a boolean"): an API key pasted into the wrong field would show."""
    reason = re.sub(r'string "(?:[^"\\]|\\.)*"', "a string", reason)
    return re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`', "…", reason)


def _check_address(address: str, origin: str) -> None:
    problem = f"{origin}: {address!r} is not HOST:PORT (for example localhost:7233)"
    parts = urlsplit(f"//{address}")
    try:
        port = parts.port
    except ValueError:
        raise UserError(problem) from None
    host = parts.hostname or ""
    if (
        port is None
        or port == 0
        or parts.netloc != address
        or parts.username is not None
        or not (_HOSTNAME.fullmatch(host) or (address.startswith("[") and ":" in host))
    ):
        raise UserError(problem)


def _check_api_key(key: str, origin: str) -> None:
    # A header value: a pasted key with a line break or a space fails deep in gRPC.
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise UserError(f"{origin}: the API key holds spaces, line breaks or non-ASCII characters")


def _checked_tls(tls: ClientConfigTLS, origins: _Origins) -> ClientConfigTLS:
    """``tls`` checked, with each file read (once, bounded) into data."""
    read: dict[str, DataSource] = {}
    for item in _TLS_ITEMS:
        source: DataSource | None = getattr(tls, item.attribute)
        if source is not None:
            read[item.attribute] = _check_pem(item, source, origins.of_source(item, source))
    cert, key = tls.client_cert is not None, tls.client_private_key is not None
    if cert != key:
        have, missing = ("certificate", "key") if cert else ("key", "certificate")
        raise UserError(
            f"Temporal TLS: a client {have} without its {missing} "
            "(set both TEMPORAL_TLS_CLIENT_CERT_* and TEMPORAL_TLS_CLIENT_KEY_*, or neither)"
        )
    return dataclasses.replace(tls, **read)  # type: ignore[arg-type]


def _check_pem(item: _TLSItem, source: DataSource, origin: str) -> bytes:
    """The PEM item's bytes, checked; UserError naming ``origin`` when it is not one."""
    if isinstance(source, Path):
        try:
            data = read_regular(source, MAX_PEM_BYTES, f"{origin}: {item.what} file")
        except OSError as exc:
            raise UserError(f"{origin}: cannot read {source}: {exc.strerror}") from None
    else:
        data = source.encode() if isinstance(source, str) else source
    try:
        if item.is_key:
            serialization.load_pem_private_key(data, password=None)
        else:
            x509.load_pem_x509_certificates(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Never the content: it may be a private key.
        kind = "an unencrypted PEM private key" if item.is_key else "a PEM certificate"
        raise UserError(f"{origin}: the {item.what} is not {kind}") from None
    return data


def _check_metadata(metadata: Mapping[str, str], env: Mapping[str, str], origins: _Origins) -> None:
    """gRPC headers a connection can carry: a bad name or a line break in a value
    fails deep in the connection, which would look like an unreachable server."""
    for name, value in metadata.items():
        origin = _metadata_origin(name, env, origins)
        if not _HEADER_NAME.fullmatch(name):
            raise UserError(
                f"{origin}: {name!r} is not a gRPC header name (letters, digits, '_', '-', '.')"
            )
        if value and not (value.isascii() and value.isprintable()):
            # Never the value: metadata often carries a token.
            raise UserError(f"{origin}: the value holds line breaks or non-ASCII characters")


def _metadata_origin(name: str, env: Mapping[str, str], origins: _Origins) -> str:
    for variable in env:
        suffix = variable.removeprefix(_GRPC_META_PREFIX)
        if variable.startswith(_GRPC_META_PREFIX) and suffix.lower().replace("_", "-") == name:
            return variable
    return origins.of(_GRPC_META_PREFIX + name.upper(), f"grpc_meta.{name}")


def _refuse_plain_key(address: str, origin: str) -> None:
    """An API key goes in a header of every call: over a plain connection to another
    machine, anyone on the way reads it."""
    host = urlsplit(f"//{address}").hostname or ""
    if not is_loopback(host):
        raise UserError(
            f"{origin}: the API key would travel in clear text to {host}, since TLS is off "
            "(TEMPORAL_TLS=false or tls.disabled); turn TLS on, or use the key only with a "
            "server on this machine"
        )
