"""What every command gets: settings, a lazily upgraded database, and the consoles."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ytsync.config import Settings, load_settings
from ytsync.db.engine import make_engine, session_factory, upgrade


@dataclass
class Context:
    # None: read from the environment on first use, so commands that need no
    # settings (demo, dev-server) are not stopped by a bad YTSYNC_* variable.
    given_settings: Settings | None = None
    out: Console = field(default_factory=lambda: Console(highlight=False))
    err: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    @cached_property
    def settings(self) -> Settings:
        return self.given_settings or load_settings()

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.database_url)
        upgrade(engine)
        return engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def print_json(self, data: Any) -> None:
        # Plain stdout, not rich: scripts parse it, so no wrapping or colour.
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
