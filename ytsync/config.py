"""Settings from ``YTSYNC_*`` environment variables (the documented outside contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ytsync.errors import UserError
from ytsync.quota import WRITE_COST, QuotaClock

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YTSYNC_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///ytsync.db"
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "ytsync"
    youtube_api_endpoint: str = "https://youtube.googleapis.com"
    token_file: Path = Path("token.json")
    oauth_token_uri: str = GOOGLE_TOKEN_URI
    daily_quota: int = Field(default=10_000, gt=0)
    quota_reserve: int = Field(default=1_000, ge=0)
    quota_timezone: str = "America/Los_Angeles"
    quota_period_seconds: int | None = Field(default=None, gt=0)
    # Worker only: Prometheus metrics at host:port (unset: off), and the log format.
    metrics_address: str | None = None
    log_format: Literal["text", "json"] = "text"

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
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a database URL (e.g. sqlite:///ytsync.db)") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("quota_period_seconds", mode="before")
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
    def usable_quota(self) -> int:
        """Units a sync may spend per period: the reserve stays for the user."""
        return self.daily_quota - self.quota_reserve

    @property
    def safe_database_url(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)


def load_settings() -> Settings:
    """Read the environment, turning validation errors into one readable UserError."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"])
            name = f"YTSYNC_{field.upper()}" if field else "settings"
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
        raise UserError("bad configuration: " + "; ".join(problems)) from None
