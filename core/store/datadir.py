"""The embedded data directory: where its SQLite database is, and who is using it.

Every process that opens the embedded database through :class:`core.platform.Platform` (a
``serve`` worker, each of ``--workers N``, ``migrate``) holds a *shared* ``flock`` on
``DATA_DIR/discord-arch.lock`` for as long as the database is open. ``discord-arch restore``
takes it *exclusively*, without waiting: while anything holds it, the restore is refused, and
while a restore holds it, a server does not start (one line, status 2). ``backup`` takes no
lock: it is a reader, meant to run beside the server.

Why a lock and not the ports (``gateway/ports.py``): the ports say whether *something* listens
on the ports a config names, not whether it uses *this* directory; a server started with other
ports, or a ``migrate`` in progress, would go unseen, and another program on 8080 would block a
restore for nothing. The kernel drops a ``flock`` when its process dies, so a crash leaves no
stale lock to clean up. The lock file is never deleted (deleting it would let two processes
lock two different files). ``flock`` is advisory and local: a data directory on NFS shared by
several machines is not protected (it is not supported for SQLite either).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator

__all__ = ["DATABASE_FILE", "LOCK_FILE", "DataDirBusy", "database_path", "exclusive", "shared"]

DATABASE_FILE = "discord-arch.sqlite3"
LOCK_FILE = "discord-arch.lock"


class DataDirBusy(Exception):
    """The data directory's lock is held in a conflicting mode; the message is one line."""


def database_path(data_dir: str) -> str:
    """The embedded database's file in ``data_dir``."""
    return os.path.join(data_dir, DATABASE_FILE)


@contextlib.contextmanager
def shared(data_dir: str) -> Iterator[None]:
    """Hold ``data_dir`` as a user of its database (creating the directory if needed).

    Raises:
        DataDirBusy: a restore holds the directory.
    """
    with _locked(data_dir, fcntl.LOCK_SH,
                 f"the data directory {data_dir} is being restored (discord-arch restore "
                 f"holds {LOCK_FILE}); start the server when it is done"):
        yield


@contextlib.contextmanager
def exclusive(data_dir: str) -> Iterator[None]:
    """Hold ``data_dir`` alone, as a restore must (creating the directory if needed).

    Raises:
        DataDirBusy: a server (or a migrate, or another restore) uses the directory.
    """
    with _locked(data_dir, fcntl.LOCK_EX,
                 f"a server is using the data directory {data_dir} (it holds {LOCK_FILE}); "
                 f"stop it first, or pass --force"):
        yield


@contextlib.contextmanager
def _locked(data_dir: str, mode: int, busy: str) -> Iterator[None]:
    os.makedirs(data_dir, exist_ok=True)
    # Read-only (flock needs no more), readable by all: a lock file that root's restore
    # created must not stop the service's own user from opening it.
    fd = os.open(os.path.join(data_dir, LOCK_FILE), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC,
                 0o644)
    try:
        try:
            # Never wait: a server that waited for a restore, or a restore that waited for a
            # server to stop, would look hung; both say why and stop instead.
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise DataDirBusy(busy) from None
            raise
        yield
    finally:
        os.close(fd)  # releases the lock
