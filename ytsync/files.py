"""Reading the files a user names, and writing files so no one sees them half done.

Reading: only a regular file, and only up to a size bound. ``/dev/zero`` would
otherwise be read until memory runs out, and a FIFO would block the command forever.

Writing: the data goes to a new file with a random name in the target's folder,
created with O_EXCL|O_NOFOLLOW (a name someone planted, even as a symlink, is never
opened) and mode 0600, synced to disk, then renamed over the target, and the folder is
synced so the rename survives a crash. A reader sees the old file or the new one, never
part of one, without any lock.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from ytsync.errors import UserError

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Room for the random part: a name stays under the usual 255-byte limit.
_MAX_BASE = 200
# Hard links are what make a no-overwrite write atomic; some file systems have none.
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK})


def kind_of(mode: int) -> str:
    """What a file that is not a regular one is, in words ("a FIFO (named pipe)")."""
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def read_regular(
    path: Path,
    limit: int,
    what: str,
    *,
    on_open: Callable[[int, os.stat_result], None] | None = None,
    too_large: str = "is it the right file?",
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    A device, FIFO or socket is a UserError naming ``what`` (opened without blocking,
    so a FIFO with no writer cannot hang the command); so is a file over ``limit``.
    A folder raises IsADirectoryError and a missing file FileNotFoundError, for the
    caller to word. ``on_open`` sees the open descriptor and its status first;
    ``too_large`` ends the message about a file over the bound.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"{what} {path} is {kind_of(info.st_mode)}, not a regular file")
        refusal = UserError(f"{what} {path} is larger than {_size(limit)}; {too_large}")
        if info.st_size > limit:
            raise refusal
        if on_open is not None:
            on_open(fd, info)
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise refusal
    return data


def _size(limit: int) -> str:
    if limit >= 2**20:
        return f"{limit / 2**20:,.0f} MiB"
    return f"{limit / 1024:,.0f} KiB" if limit >= 1024 else f"{limit:,} bytes"


def write_atomically(path: Path, data: bytes, *, replace: bool = True, mode: int = 0o600) -> None:
    """Put ``data`` at ``path`` in one step: a new file, synced, then renamed in place.

    ``replace=False`` refuses any existing entry at ``path`` (FileExistsError), a
    dangling symlink included; ``replace=True`` replaces a file, and the rename
    replaces a symlink itself, never the file it points to.
    """
    _refuse_special(path)
    folder = path.parent
    tmp, fd = _create_temp(folder, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode != 0o600:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path)
        _fsync_folder(folder)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


def _refuse_special(path: Path) -> None:
    """A rename would put a file in place of a device or FIFO (``/dev/null`` as root)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OSError(errno.EINVAL, f"it is {kind_of(mode)}", str(path))


def _create_temp(folder: Path, name: str) -> tuple[Path, int]:
    base = name[:_MAX_BASE]
    for _ in range(100):
        tmp = folder / f".{base}.{random_suffix()}.tmp"
        try:
            return tmp, os.open(tmp, _CREATE, 0o600)
        except FileExistsError:
            continue  # taken, or planted: never opened, try another name
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))


def random_suffix() -> str:
    """The random part of a temporary name (a test plants files at chosen ones)."""
    return secrets.token_hex(8)


def _link_new(tmp: Path, path: Path) -> None:
    """Give the finished file its name only if nothing has that name yet."""
    try:
        os.link(tmp, path)  # fails on any existing entry, without a check-then-write race
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # Some file systems cannot sync a folder; the rename is then as durable as
        # they make it.
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def umask_mode() -> int:
    """The mode a plain new file gets here (0666 less the umask)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def write_output(path: Path, data: bytes, *, force: bool, mode: int = 0o600) -> None:
    """A file the user asked for (an export, a report), with every refusal a UserError:
    an existing file without ``force``, a symlink (even dangling) always."""
    if path.is_symlink():
        raise UserError(
            f"{path} is a symbolic link; ytsync does not write through links: give the real path"
        )
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    try:
        write_atomically(path, data, replace=force, mode=mode)
    except FileExistsError:
        raise UserError(f"{path} already exists; pass --force to overwrite it") from None
    except IsADirectoryError:
        raise UserError(f"cannot write {path}: it is a directory") from None
    except FileNotFoundError:
        raise UserError(f"cannot write {path}: its folder does not exist") from None
    except PermissionError:
        raise UserError(f"cannot write {path}: permission denied") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
