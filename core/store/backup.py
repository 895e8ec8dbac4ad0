"""Backup and restore of the embedded SQLite database (``discord-arch backup`` / ``restore``).

A backup is two files in the backup directory: ``discord-arch-<UTC time>.sqlite3``, a
self-contained copy (rollback-journal mode: no ``-wal`` beside it; mode 0600, as it holds
password and token hashes), and
``discord-arch-<UTC time>.json``, its manifest (schema version, time, source path, size,
SHA-256). PostgreSQL and MongoDB have their own tools (docs/operations.md).

**Consistent while serving.** The copy is made by SQLite's online backup API
(``sqlite3.Connection.backup``) in ONE step: one read transaction, so one snapshot of the
database, every transaction committed before it (every message acked before the backup
started) and none half-way. In WAL mode a reader never blocks the server's writers, nor they
it. A copy made in several steps would restart whenever the server writes between two of them
and, under steady traffic, might never finish.

**Restore** refuses while anything holds the data directory (``core.store.datadir``: the
server, its workers, a migrate) unless forced; checks the backup against its manifest
(size, SHA-256), its integrity (``PRAGMA integrity_check``) and its schema version (not newer
than this code's migrations; an older one is migrated at the next start); then replaces the
database atomically: the copy is written beside the database and synced, the old database's
WAL is checkpointed and its ``-wal``/``-shm``/``-journal`` removed (a stale WAL would be
replayed onto the restored file and corrupt it), and the copy is renamed over the database.
A crash at any point leaves either the old database, whole, or the restored one.

Plain blocking functions: the CLI calls them outside any event loop.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.store import datadir
from core.store.migrations import MIGRATIONS

__all__ = ["BackupError", "Manifest", "Restored", "backup", "latest_schema_version", "restore"]

FORMAT = "discord-arch-sqlite-backup/1"
_PREFIX = "discord-arch-"
_BUSY_TIMEOUT_MS = 5000
# Suffixes of the files SQLite keeps beside a database; any of them left from the old one
# would be applied to (or confused with) the restored file.
_SIDE_FILES = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one line saying why."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What ``DIR/discord-arch-<time>.json`` says of its backup file.

    Attributes:
        format: ``discord-arch-sqlite-backup/1``.
        file: the backup file's name, in the manifest's directory.
        schema_version: the newest migration applied in the copy.
        created_at: when the backup started (ISO 8601, UTC, ms); its snapshot is of then
            or a moment later.
        source: the database that was copied (absolute path).
        size: the backup file's size in bytes.
        sha256: the backup file's SHA-256, hex.
    """

    format: str
    file: str
    schema_version: int
    created_at: str
    source: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Restored:
    """What :func:`restore` did: ``manifest`` of the backup now at ``database``."""

    manifest: Manifest
    backup_file: str
    database: str
    forced: bool


def latest_schema_version() -> int:
    """The newest schema version this code knows (its last migration)."""
    return max(m.version for m in MIGRATIONS)


def backup(data_dir: str, out_dir: str, *, now: datetime | None = None) -> tuple[str, str]:
    """Copy ``data_dir``'s database into ``out_dir`` (created if missing), with its manifest.

    Safe while a server serves and writes the database (see the module's docstring).

    Returns:
        The backup file's path and its manifest's path.

    Raises:
        BackupError: there is no database in ``data_dir``, or it cannot be read or copied.
    """
    source = os.path.abspath(datadir.database_path(data_dir))
    if not os.path.isfile(source):
        raise BackupError(f"no database at {source} (is --data-dir right?)")
    now = now or datetime.now(UTC)
    os.makedirs(out_dir, exist_ok=True)
    # A name of its own (two backups may run at once); an empty file is an empty database.
    fd, partial = tempfile.mkstemp(prefix=f".{_PREFIX}", suffix=".partial", dir=out_dir)
    os.close(fd)
    try:
        schema_version = _copy(source, partial)
        _fsync_file(partial)
        path = _publish(partial, out_dir, now)
    except sqlite3.Error as e:
        raise BackupError(f"cannot back up {source}: {e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    size, digest = _digest(path)
    manifest = Manifest(format=FORMAT, file=os.path.basename(path),
                        schema_version=schema_version,
                        created_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                        source=source, size=size, sha256=digest)
    manifest_path = path.removesuffix(".sqlite3") + ".json"
    _write_atomically(manifest_path, json.dumps(asdict(manifest), indent=2) + "\n")
    _fsync_dir(out_dir)
    return path, manifest_path


def restore(backup_at: str, data_dir: str, *, force: bool = False) -> Restored:
    """Replace ``data_dir``'s database with a backup.

    Args:
        backup_at: a backup directory (its newest backup), a manifest (``.json``) or a backup
            file (``.sqlite3``, its manifest beside it).
        data_dir: the data directory to restore into (created if missing).
        force: restore even though a process holds the data directory. That process keeps
            the old, now unlinked, files open: whatever it writes afterwards is lost, and it
            must be restarted at once.

    Raises:
        BackupError: the backup is missing, damaged, or newer than this code.
        core.store.datadir.DataDirBusy: a server uses ``data_dir`` and ``force`` is false.
    """
    manifest_path = _find_manifest(backup_at)
    manifest = _read_manifest(manifest_path)
    backup_file = os.path.join(os.path.dirname(manifest_path), manifest.file)
    _check_file(backup_file, manifest)
    latest = latest_schema_version()
    if manifest.schema_version > latest:
        raise BackupError(f"{backup_file} has schema version {manifest.schema_version}, newer "
                          f"than this discord-arch's ({latest}): restore it with a newer one")
    database = os.path.abspath(datadir.database_path(data_dir))
    with contextlib.ExitStack() as held:
        forced = False
        try:
            held.enter_context(datadir.exclusive(data_dir))
        except datadir.DataDirBusy:
            if not force:
                raise
            forced = True
        incoming = database + ".restoring"
        try:
            shutil.copyfile(backup_file, incoming)
            _give_owner(incoming, os.path.dirname(database))
            _fsync_file(incoming)
            _check_copy(incoming, backup_file, manifest)  # the bytes that will be the database
            _retire(database)
            os.replace(incoming, database)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(incoming)
        _fsync_dir(os.path.dirname(database))
    return Restored(manifest=manifest, backup_file=backup_file, database=database,
                    forced=forced)


def _connect(path: str) -> sqlite3.Connection:
    """Open an existing database (``mode=rw``: never create an empty one by mistake)."""
    conn = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=rw", uri=True,
                           isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return conn


def _copy(source: str, target: str) -> int:
    """Copy ``source`` into the new file ``target`` in one step; return its schema version."""
    src = _connect(source)
    try:
        dst = sqlite3.connect(target, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: all of it in one step, one snapshot (module docstring)
            # One self-contained file: no WAL to carry along with it.
            dst.execute("PRAGMA journal_mode = DELETE")
            return _schema_version(dst, source)
        finally:
            dst.close()
    finally:
        src.close()


def _schema_version(conn: sqlite3.Connection, what: str) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        raise BackupError(f"{what} is not a discord-arch database (no schema_migrations)") \
            from None
    return int(row[0] or 0)


def _publish(partial: str, out_dir: str, now: datetime) -> str:
    """Give the finished copy its timestamped name; a name already taken gets ``-2``, ``-3``..."""
    stem = f"{_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}"
    for n in range(1, 1000):
        path = os.path.join(out_dir, f"{stem}.sqlite3" if n == 1 else f"{stem}-{n}.sqlite3")
        try:
            # Claim the name first (O_EXCL): a rename alone would replace an existing backup.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        os.replace(partial, path)
        return path
    raise BackupError(f"too many backups named {stem} in {out_dir}")


def _find_manifest(backup_at: str) -> str:
    if os.path.isdir(backup_at):
        manifests = []
        for name in os.listdir(backup_at):
            if name.startswith(_PREFIX) and name.endswith(".json"):
                path = os.path.join(backup_at, name)
                manifests.append((_read_manifest(path).created_at, name, path))
        if not manifests:
            raise BackupError(f"no backup in {backup_at} (no {_PREFIX}*.json manifest)")
        return max(manifests)[2]  # the newest; same millisecond: the later name
    if backup_at.endswith(".json"):
        return backup_at
    if backup_at.endswith(".sqlite3"):
        return backup_at.removesuffix(".sqlite3") + ".json"
    raise BackupError(f"{backup_at} is neither a backup directory, nor a manifest (.json), "
                      "nor a backup file (.sqlite3)")


def _read_manifest(path: str) -> Manifest:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        manifest = Manifest(**data)
    except FileNotFoundError:
        raise BackupError(f"no manifest at {path}: restore the directory that backup wrote, "
                          "or a manifest in it") from None
    except (OSError, ValueError, TypeError) as e:
        raise BackupError(f"{path} is not a backup manifest: {e}") from None
    if manifest.format != FORMAT or os.path.basename(manifest.file) != manifest.file:
        raise BackupError(f"{path} is not a backup manifest of this format ({FORMAT})")
    return manifest


def _check_file(path: str, manifest: Manifest) -> None:
    """The backup file is the one the manifest describes (not truncated or swapped)."""
    try:
        size, digest = _digest(path)
    except FileNotFoundError:
        raise BackupError(f"{path} is missing (its manifest names it)") from None
    if (size, digest) != (manifest.size, manifest.sha256):
        raise BackupError(f"{path} is damaged: its size or SHA-256 differs from its manifest")


def _check_copy(path: str, backup_file: str, manifest: Manifest) -> None:
    try:
        conn = _connect(path)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            version = _schema_version(conn, backup_file)
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise BackupError(f"{backup_file} is not a usable SQLite database: {e}") from None
    if problems != ["ok"]:
        raise BackupError(f"{backup_file} fails PRAGMA integrity_check: {problems[0]}")
    if version != manifest.schema_version:
        raise BackupError(f"{backup_file} has schema version {version}, its manifest says "
                          f"{manifest.schema_version}")


def _retire(database: str) -> None:
    """Empty the old database's WAL into it, then remove the files SQLite keeps beside it.

    Checkpointed first, so that a crash before the rename leaves the old database whole
    without its WAL; removed before the rename, so that the restored file never meets the
    old WAL (SQLite would replay it onto the new file).
    """
    if os.path.exists(database):
        # Best effort: a damaged old database is being replaced anyway.
        with contextlib.suppress(sqlite3.Error):
            conn = _connect(database)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
    for suffix in _SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(database + suffix)


def _give_owner(path: str, data_dir: str) -> None:
    """Give the restored file the data directory's owner, when root restores it.

    The service runs as its own user (deploy/: a systemd DynamicUser owning its
    StateDirectory) and the operator restores as root: a root-owned database would be
    read-only to the server, which needs to write it and to create its ``-wal`` beside it.
    """
    if os.geteuid() != 0:
        return  # not root: the file is ours, as the directory is (or we could not write it)
    st = os.stat(data_dir)
    os.chown(path, st.st_uid, st.st_gid)


def _digest(path: str) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _write_atomically(path: str, text: str) -> None:
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    """Make the renames in ``path`` durable (a directory's entries are synced apart)."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems refuse fsync on a directory: nothing more to do
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
