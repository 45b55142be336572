"""Errors a user can fix; the CLI prints their message and exits 2, with no traceback.

The messages say what is wrong, not which command fixes it: the command line adds its
own hint where it prints them."""


class UserError(Exception):
    """Bad input or configuration; nothing was changed."""


class NoDatabase(UserError):
    """The SQLite file a command would read is not there: only ``import`` makes one."""


class NoPlan(UserError):
    """A sync needs a plan applied first."""


class NoSnapshot(UserError):
    """The snapshot asked for (or any at all) is not there."""


class NothingToRestore(UserError):
    """Every playlist of the snapshot is still on YouTube."""


class JobRunning(UserError):
    """A sync job is not finished, and what was asked would change what it works on."""


class NoTokenFile(UserError):
    """Nobody has signed in yet: there is no token file where the settings point."""


class NotAToken(UserError):
    """The token file holds no authorized-user token: signing in again writes one."""


class TemporalUnreachable(ConnectionError):
    """No Temporal server answers where the settings point (exit code 1)."""


class NotInLibrary(UserError):
    """A plan names videos the library does not have."""


class JobConflict(Exception):
    """Another job is active: starting a second one would race it (exit code 1)."""


class Refused(Exception):
    """The job turned a pause or resume down: it has ended, is paused already, or is
    not paused (exit code 1).  ``kind``: the refusal's type (NotPausable, NotPaused),
    when the job itself refused."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
