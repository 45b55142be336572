"""Settings from ``YTSYNC_*`` environment variables (the documented outside contract)."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ytsync.errors import UserError
from ytsync.files import read_regular
from ytsync.logs import remember_notify_urls, remember_url_password
from ytsync.quota import WRITE_COST, QuotaClock
from ytsync.urls import check_host_port, check_secure_url

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_CHANNEL = "default"
# A channel's name travels in workflow inputs and shows in logs: a short plain word.
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The database drivers ytsync ships and supports, by backend.
DRIVERS = {
    "sqlite": ("pysqlite", "sqlite:///FILE"),
    "postgresql": ("psycopg", "postgresql+psycopg://"),
}
# Bounds that keep every figure inside what the code, the database (32-bit integer
# columns) and the clock can hold; far beyond any real YouTube quota.
MAX_QUOTA = 1_000_000_000
MAX_PERIOD_SECONDS = 366 * 24 * 3600
MAX_TIMEOUT_SECONDS = 3600.0
# A channels file names a few channels; a bigger file is the wrong file.
MAX_CHANNELS_FILE_BYTES = 4 * 1024 * 1024
# A token file is a few hundred bytes (ytsync.youtube.tokens reads it whole).
MAX_TOKEN_FILE_BYTES = 64 * 1024


def _check_channel_name(value: str) -> str:
    if not CHANNEL_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a channel name (1-64 letters, digits, '_', '.', '-'; "
            "starting with a letter or digit)"
        )
    return value


def _check_database_url(value: str) -> str:
    # First of all: whatever else is wrong, the password never shows in a message or log.
    remember_url_password(value)
    # The messages below never quote the URL: it may hold the password.
    if value.partition("://")[2].partition("?")[0].count("@") > 1:
        raise ValueError(
            "the user name or password holds an unescaped '@': write it as %40 "
            "(and ':' as %3A, '/' as %2F)"
        )
    if value.startswith("sqlite:///") and "?" not in value:
        # A plain SQLite file, the default: nothing for SQLAlchemy's parser to refuse,
        # and a short command need not import SQLAlchemy to know it (ytsync.db.peek).
        return value
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(
            "is not a database URL (e.g. sqlite:///ytsync.db or postgresql+psycopg://HOST/DB)"
        ) from None
    supported = DRIVERS.get(url.get_backend_name())
    if supported is None:
        raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
    driver, form = supported
    if url.get_driver_name() != driver:
        raise ValueError(f"the driver {url.get_driver_name()!r} is not supported: use a {form} URL")
    return value


def _check_notify(value: SecretStr | None) -> SecretStr | None:
    """Apprise URLs hold secrets: masked from the moment they are read.  Whether Apprise
    knows each one is checked where they are used (the worker, ``notify test``): this
    runs for every command, which must not load Apprise."""
    if value is None or not value.get_secret_value().strip():
        return None
    remember_notify_urls(value.get_secret_value())
    return value


def _check_name(value: str) -> str:
    if not value.strip() or not value.isprintable():
        raise ValueError(f"{value!r} must be a non-empty name without control characters")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YTSYNC_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///ytsync.db"
    # Unset: from Temporal's own configuration (TEMPORAL_* variables, config profile),
    # else localhost:7233 and "default"; see ytsync.temporal.
    temporal_address: str | None = None
    temporal_namespace: str | None = None
    task_queue: str = "ytsync"
    youtube_api_endpoint: str = "https://youtube.googleapis.com"
    token_file: Path = Path("token.json")
    oauth_token_uri: str = GOOGLE_TOKEN_URI
    daily_quota: int = Field(default=10_000, gt=0, le=MAX_QUOTA)
    quota_reserve: int = Field(default=1_000, ge=0, le=MAX_QUOTA)
    quota_timezone: str = "America/Los_Angeles"
    quota_period_seconds: int | None = Field(default=None, gt=0, le=MAX_PERIOD_SECONDS)
    # How long one YouTube request may take; a lane's lease outlasts it (see lane_lease).
    youtube_timeout_seconds: float = Field(
        default=60.0, gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False
    )
    # How long after a write ytsync waits before a read may judge it (settle, audit,
    # verify): YouTube's lists show writes late, and promise no read-after-write.
    settle_seconds: float = Field(default=30.0, ge=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)
    # What `start` does unless told (--strategy): rebuild every category playlist, or
    # reuse old playlists where that saves writes (see the README, "Preview").
    strategy: Literal["rebuild", "reuse"] = "rebuild"
    # Worker only: Prometheus metrics at host:port (unset: off), and the log format.
    metrics_address: str | None = None
    log_format: Literal["text", "json"] = "text"
    # Several channels: the one this command works on (the worker's own channel), and a
    # file naming more of them (name -> database, token file, ...), see ChannelsFile.
    channel: str = DEFAULT_CHANNEL
    channels_file: Path | None = None
    # Worker: one or more Apprise URLs (space- or comma-separated) that a job's
    # notifications go to (ytsync.notify); unset: none.  Secrets: masked everywhere.
    notify: SecretStr | None = None
    # A message once a quota period (a day) while a job works: where it stands.
    notify_digest: bool = False
    # Set from the channels file, never from the environment (see share_quotas): the
    # database whose ledger this channel charges (None: its own), and the channels,
    # this one included, signed in through one OAuth client and so sharing its quota.
    _quota_ledger_url: str | None = PrivateAttr(default=None)
    _quota_group: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("notify")
    @classmethod
    def _notify_urls(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_notify(value)

    @field_validator("channel")
    @classmethod
    def _channel_name(cls, value: str) -> str:
        return _check_channel_name(value)

    @field_validator("quota_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _parsable_url(cls, value: str) -> str:
        return _check_database_url(value)

    @field_validator("youtube_api_endpoint", "oauth_token_uri")
    @classmethod
    def _secure_url(cls, value: str) -> str:
        return check_secure_url(value)

    @field_validator("temporal_address")
    @classmethod
    def _temporal_address(cls, value: str | None) -> str | None:
        return None if value is None else check_host_port(value, "localhost:7233")

    @field_validator("metrics_address")
    @classmethod
    def _metrics_address(cls, value: str | None) -> str | None:
        return None if value is None else check_host_port(value, "127.0.0.1:9464")

    @field_validator("temporal_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)

    @field_validator("task_queue")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator(
        "quota_period_seconds",
        "channels_file",
        "metrics_address",
        "temporal_address",
        "temporal_namespace",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _reserve_leaves_room(self) -> Settings:
        if self.daily_quota - self.quota_reserve < WRITE_COST:
            raise ValueError(
                f"YTSYNC_QUOTA_RESERVE ({self.quota_reserve}) leaves less than one write "
                f"({WRITE_COST} units) of YTSYNC_DAILY_QUOTA ({self.daily_quota})"
            )
        return self

    @property
    def quota_clock(self) -> QuotaClock:
        return QuotaClock(self.quota_timezone, self.quota_period_seconds)

    @property
    def lane_lease_seconds(self) -> float:
        """A batch that stops renewing its lane's lease for this long is gone: longer
        than any request it may have had in flight, so none of its writes can still land."""
        return self.youtube_timeout_seconds * 1.5

    @property
    def usable_quota(self) -> int:
        """Units a sync may spend per period: the reserve stays for the user."""
        return self.daily_quota - self.quota_reserve

    @property
    def quota_ledger_url(self) -> str | None:
        """The database of the ledger this channel charges; None: its own."""
        return self._quota_ledger_url

    @property
    def quota_shared_with(self) -> list[str]:
        """The other channels whose jobs spend the same quota (one OAuth client)."""
        return [name for name in self._quota_group if name != self.channel]

    def sharing_quota(self, ledger_url: str | None, group: tuple[str, ...]) -> Settings:
        """These settings, charging the ledger in ``ledger_url`` with ``group``."""
        shared = self.model_copy()
        shared._quota_ledger_url, shared._quota_group = ledger_url, group
        return shared

    @property
    def safe_database_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)


class ChannelEntry(BaseModel):
    """One channel of a channels file: where its data and its sign-in live.

    Everything else (Temporal, task queue, quota clock) is the process's own setting;
    the quota may differ per channel because Google Cloud projects may.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str
    token_file: Path
    youtube_api_endpoint: str | None = None
    oauth_token_uri: str | None = None
    daily_quota: int | None = Field(default=None, gt=0, le=MAX_QUOTA)
    quota_reserve: int | None = Field(default=None, ge=0, le=MAX_QUOTA)
    # The channel's own notification URLs, instead of YTSYNC_NOTIFY.
    notify: SecretStr | None = None

    @field_validator("notify")
    @classmethod
    def _notify_urls(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_notify(value)

    @field_validator("database_url")
    @classmethod
    def _parsable_url(cls, value: str) -> str:
        return _check_database_url(value)

    @field_validator("youtube_api_endpoint", "oauth_token_uri")
    @classmethod
    def _secure_url(cls, value: str | None) -> str | None:
        return None if value is None else check_secure_url(value)


class ChannelsFile(BaseModel):
    """``YTSYNC_CHANNELS_FILE``: ``{"channels": {NAME: ChannelEntry}}`` as JSON or TOML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: dict[str, ChannelEntry]

    @field_validator("channels")
    @classmethod
    def _names(cls, value: dict[str, ChannelEntry]) -> dict[str, ChannelEntry]:
        for name in value:
            _check_channel_name(name)
        return value


def load_channels_file(path: Path) -> ChannelsFile:
    """Read and check a channels file; any problem is one readable UserError."""
    where = f"YTSYNC_CHANNELS_FILE ({path})"
    try:
        text = read_regular(path, MAX_CHANNELS_FILE_BYTES, "YTSYNC_CHANNELS_FILE").decode("utf-8")
    except OSError as exc:
        raise UserError(f"{where}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{where}: not UTF-8 text") from None
    data: Any
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON (name it .toml for TOML)"
        raise UserError(f"{where}: not valid {kind}: {exc}") from None
    try:
        return ChannelsFile.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{where}: " + _problems(exc, lambda loc: loc or "file")) from None


def channel_settings(base: Settings, name: str, entry: ChannelEntry) -> Settings:
    """``base`` (the process's own settings) with one channel's entry laid over it."""
    overrides = {key: value for key, value in entry.model_dump().items() if value is not None}
    try:
        return Settings.model_validate({**base.model_dump(), **overrides, "channel": name})
    except ValidationError as exc:
        raise UserError(
            f"YTSYNC_CHANNELS_FILE ({base.channels_file}): channel {name!r}: "
            + _problems(exc, lambda loc: loc or "settings")
        ) from None


def all_channels(base: Settings, file: ChannelsFile | None) -> dict[str, Settings]:
    """Every channel a worker serves: its own (``YTSYNC_CHANNEL``) and the file's.

    A file entry named like the process's own channel takes its place.
    """
    channels = {base.channel: base}
    for name, entry in (file.channels if file else {}).items():
        channels[name] = channel_settings(base, name, entry)
    return channels


def _problems(exc: ValidationError, name: Callable[[str], str]) -> str:
    problems = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{name(field)}: {message}")
    return "; ".join(problems)


def load_environment() -> Settings:
    """Read the environment only, turning validation errors into one readable UserError."""
    try:
        return Settings()
    except ValidationError as exc:
        message = _problems(exc, lambda f: f"YTSYNC_{f.upper()}" if f else "settings")
        raise UserError("bad configuration: " + message) from None


def load_channels(env: Settings) -> dict[str, Settings]:
    """Every channel a process with this environment knows (reads the channels file)."""
    file = load_channels_file(env.channels_file) if env.channels_file else None
    check_own_channel(env, file)
    channels = all_channels(env, file)
    if file is None:
        return channels
    where = f"YTSYNC_CHANNELS_FILE ({env.channels_file})"
    check_own_databases(channels, where)
    return share_quotas(channels, where)


def check_own_databases(channels: Mapping[str, Settings], where: str) -> None:
    """Each channel needs a database of its own: an import into a shared one would mark
    the other channel's playlists deleted, and its jobs would see the other's."""
    seen: dict[tuple[str, ...], str] = {}
    for name in sorted(channels):
        key = _database_key(channels[name].database_url)
        if key is None:
            continue
        other = seen.setdefault(key, name)
        if other != name:
            raise UserError(
                f"{where}: channels {other!r} and {name!r} use the same database "
                f"({_shown_database(key)}): give each channel a database of its own"
            )


def _database_key(url: str) -> tuple[str, ...] | None:
    """What identifies the database behind ``url`` (None: one nobody else can open)."""
    if url.startswith("sqlite:///") and "?" not in url:
        path = url.removeprefix("sqlite:///")
        return None if path in ("", ":memory:") else ("sqlite", str(Path(path).resolve()))
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return None
        return ("sqlite", str(Path(database).resolve()))
    host = (parsed.host or "localhost").lower()
    return ("postgresql", host, str(parsed.port or 5432), parsed.database or "")


def _shown_database(key: tuple[str, ...]) -> str:
    """A database named without user or password."""
    if key[0] == "sqlite":
        return key[1]
    _backend, host, port, database = key
    return f"{database} on {host}:{port}"


def token_client_id(path: Path) -> str | None:
    """The OAuth client a token file was issued to (its ``client_id``, not a secret);
    None when there is no readable token there yet."""
    try:
        info = json.loads(read_regular(path, MAX_TOKEN_FILE_BYTES, "token file"))
    except (OSError, UserError, ValueError):
        return None
    client = info.get("client_id") if isinstance(info, dict) else None
    return client if isinstance(client, str) and client else None


def share_quotas(channels: Mapping[str, Settings], where: str) -> dict[str, Settings]:
    """The quota belongs to the Google Cloud project behind the OAuth client, not to a
    channel: channels signed in through one client share one ledger, kept in the
    database of the first of them by name, with its daily quota and reserve."""
    groups: dict[str, list[str]] = {}
    for name in sorted(channels):
        client = token_client_id(channels[name].token_file)
        if client is not None:
            groups.setdefault(client, []).append(name)
    shared = dict(channels)
    for names in groups.values():
        if len(names) < 2:
            continue
        first = channels[names[0]]
        for name in names[1:]:
            member = channels[name]
            for field in ("daily_quota", "quota_reserve"):
                if getattr(member, field) != getattr(first, field):
                    raise UserError(
                        f"{where}: channels {names[0]!r} and {name!r} are signed in through "
                        f"one OAuth client and so share one quota, but give different "
                        f"{field} ({getattr(first, field)} and {getattr(member, field)}): "
                        "give them the same"
                    )
        group = tuple(names)
        shared[names[0]] = first.sharing_quota(None, group)
        for name in names[1:]:
            shared[name] = channels[name].sharing_quota(first.database_url, group)
    return shared


def check_own_channel(env: Settings, file: ChannelsFile | None) -> None:
    """``YTSYNC_CHANNEL`` must name a channel something describes, or a misspelt name
    would quietly work on the default database (and tag its jobs with a channel no
    worker serves).

    - ``default`` is the environment's own settings, always;
    - with a channels file, any other name must be one of its channels;
    - without one, the environment describes the channel: ``YTSYNC_DATABASE_URL``
      must then be set too (one worker per channel, each with its own environment).
    """
    name = env.channel
    if name == DEFAULT_CHANNEL:
        return
    if file is not None:
        if name not in file.channels:
            known = ", ".join(repr(n) for n in sorted({DEFAULT_CHANNEL, *file.channels}))
            raise UserError(
                f"YTSYNC_CHANNEL: there is no channel {name!r} in YTSYNC_CHANNELS_FILE "
                f"({env.channels_file}); known channels: {known}"
            )
        return
    if "database_url" not in env.model_fields_set:
        raise UserError(
            f"YTSYNC_CHANNEL: channel {name!r} is not described anywhere: there is no "
            "YTSYNC_CHANNELS_FILE, and YTSYNC_DATABASE_URL is not set for it (it would "
            "use the default database). Set YTSYNC_CHANNELS_FILE, or YTSYNC_DATABASE_URL "
            "and YTSYNC_TOKEN_FILE for this channel, or unset YTSYNC_CHANNEL"
        )


def load_settings() -> Settings:
    """The settings of the channel this command works on (``YTSYNC_CHANNEL``).

    With ``YTSYNC_CHANNELS_FILE`` naming that channel, its database, token file, ...
    replace the environment's.
    """
    env = load_environment()
    return load_channels(env)[env.channel]
