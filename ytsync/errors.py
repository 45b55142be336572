"""Errors a user can fix; the CLI prints their message and exits 2, with no traceback."""


class UserError(Exception):
    """Bad input or configuration; nothing was changed."""
