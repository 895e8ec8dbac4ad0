"""Backup and restore of the embedded SQLite database (core.store.backup, core.store.datadir).

The round trip runs as in production: a real Platform on a data directory, messages sent
through core.messages.send (acked = durable, "durable before visible") by writers that keep
sending while the backup is taken, the backup restored into a fresh directory, and the history
read back through core.history from a platform opened there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

import core.accounts
import core.guilds
import core.history
import core.messages
from core.config import Config
from core.models import Message, User
from core.platform import Platform
from core.store import datadir
from core.store.backup import (
    BackupError,
    backup,
    latest_schema_version,
    restore,
)
from core.store.base import StoreUnavailable

WRITERS = 4
# Bulk written before the backup so the copy takes a while and the writers run during it.
BULK_MESSAGES = 20_000


def _config(data_dir: Path) -> Config:
    # The cheapest Argon2 the config accepts: registration is not what is tested here.
    return Config(data_dir=str(data_dir), argon2_time_cost=1, argon2_memory_kib=1024)


async def _all_ids(p: Platform, user: User, channel_id: int) -> set[int]:
    """Every message id of the channel, read page by page through core.history."""
    ids: set[int] = set()
    query = {"limit": "100"}
    while page := await core.history.history(p, user, channel_id, query):
        ids.update(int(m["id"]) for m in page)
        query = {"limit": "100", "before": page[-1]["id"]}
    return ids


def _integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


async def test_a_backup_taken_while_writers_send_restores_every_acked_message(
    tmp_path: Path,
) -> None:
    p = await Platform.open(_config(tmp_path / "live"))
    try:
        _, alice = await core.accounts.register(p, "alice", "correct horse battery")
        guild = await core.guilds.create_guild(p, alice, {"name": "backed up"})
        channel_id = int(guild["system_channel_id"])
        await p.messages.insert_many([
            Message(p.ids.next(), channel_id, alice.id, f"bulk {i} " + "x" * 400,
                    guild_id=int(guild["id"]))
            for i in range(BULK_MESSAGES)])

        acked: list[tuple[float, int]] = []  # (monotonic time of the ack, message id)
        stop, swinging = asyncio.Event(), asyncio.Event()

        async def writer(n: int) -> None:
            i = 0
            while not stop.is_set():
                sent = await core.messages.send(p, alice, channel_id,
                                                {"content": f"writer {n} message {i}"})
                acked.append((time.monotonic(), int(sent["id"])))
                if len(acked) >= 50:
                    swinging.set()
                i += 1

        writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
        await swinging.wait()  # the writers are in full swing
        started = time.monotonic()
        # In a thread, as the CLI would be another process: the writers go on meanwhile.
        path, _ = await asyncio.to_thread(backup, str(tmp_path / "live"),
                                          str(tmp_path / "backups"))
        finished = time.monotonic()
        await asyncio.sleep(0.05)  # and after it
        stop.set()
        await asyncio.gather(*writers)
    finally:
        await p.aclose()

    before = {mid for t, mid in acked if t < started}
    during = [mid for t, mid in acked if started <= t < finished]
    assert before and during, "the writers did not run while the backup was taken"
    assert [t for t, _ in acked if t >= finished], "no message was acked after the backup"

    done = restore(str(tmp_path / "backups"), str(tmp_path / "restored"))
    assert done.backup_file == path and not done.forced
    database = tmp_path / "restored" / datadir.DATABASE_FILE
    assert _integrity(database) == ["ok"]
    q = await Platform.open(_config(tmp_path / "restored"))
    try:
        user = await q.meta.get_user(alice.id)
        assert user is not None and user.username == "alice"
        restored = await _all_ids(q, user, channel_id)
    finally:
        await q.aclose()
    assert before <= restored, f"{len(before - restored)} acked messages are missing"
    # Besides the bulk, only messages the writers sent (those acked while the copy was made
    # may or may not be in its snapshot), and nothing half-written: every row reads back.
    sent = {mid for _, mid in acked}
    assert len(restored - sent) == BULK_MESSAGES


async def test_a_server_holding_the_data_dir_refuses_a_restore_unless_forced(
    tmp_path: Path,
) -> None:
    p = await Platform.open(_config(tmp_path / "live"))
    try:
        await core.accounts.register(p, "alice", "correct horse battery")
        backup(str(tmp_path / "live"), str(tmp_path / "backups"))
        with pytest.raises(datadir.DataDirBusy, match="a server is using the data directory"):
            restore(str(tmp_path / "backups"), str(tmp_path / "live"))
        done = restore(str(tmp_path / "backups"), str(tmp_path / "live"), force=True)
        assert done.forced
    finally:
        await p.aclose()
    # Stopped: no lock held, the restore goes through without --force.
    assert not restore(str(tmp_path / "backups"), str(tmp_path / "live")).forced


async def test_a_server_does_not_open_a_data_dir_being_restored(tmp_path: Path) -> None:
    with datadir.exclusive(str(tmp_path / "d")), \
            pytest.raises(StoreUnavailable, match="is being restored"):
        await Platform.open(_config(tmp_path / "d"))
    await (await Platform.open(_config(tmp_path / "d"))).aclose()  # once it is released


async def _backed_up(tmp_path: Path) -> tuple[Path, Path]:
    """A backup of a fresh instance: its file and its manifest."""
    await (await Platform.open(_config(tmp_path / "live"))).aclose()
    path, manifest = backup(str(tmp_path / "live"), str(tmp_path / "backups"))
    return Path(path), Path(manifest)


async def test_the_manifest_says_what_was_backed_up(tmp_path: Path) -> None:
    path, manifest_path = await _backed_up(tmp_path)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["file"] == path.name and path.name.startswith("discord-arch-")
    assert manifest["schema_version"] == latest_schema_version()
    assert manifest["source"] == str((tmp_path / "live" / datadir.DATABASE_FILE).resolve())
    assert manifest["size"] == path.stat().st_size and manifest["created_at"].endswith("Z")
    assert path.stat().st_mode & 0o077 == 0  # password and token hashes: the owner's only
    # One self-contained file: rollback-journal mode, nothing beside it.
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, manifest_path.name])
    assert path.read_bytes()[18:20] == b"\x01\x01"  # not WAL (2, 2)
    # A second backup in the same second gets a name of its own.
    second, _ = backup(str(tmp_path / "live"), str(tmp_path / "backups"))
    assert Path(second) != path and path.exists()


async def test_restore_refuses_a_damaged_backup_and_keeps_the_database(
    tmp_path: Path,
) -> None:
    path, manifest_path = await _backed_up(tmp_path)
    target = tmp_path / "target"
    restore(str(manifest_path), str(target))
    before = (target / datadir.DATABASE_FILE).read_bytes()

    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:2 * page] = bytes(page)  # page 2, a table's root (a fresh file has no free page)
    path.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="is damaged"):
        restore(str(path), str(target))

    # The manifest updated to match the damage: integrity_check is what catches it now.
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="integrity_check|not a usable SQLite database"):
        restore(str(tmp_path / "backups"), str(target))
    assert (target / datadir.DATABASE_FILE).read_bytes() == before
    assert sorted(p.name for p in target.iterdir()) == sorted([datadir.DATABASE_FILE,
                                                               datadir.LOCK_FILE])


async def test_restore_refuses_a_schema_newer_than_the_code(tmp_path: Path) -> None:
    _, manifest_path = await _backed_up(tmp_path)
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = latest_schema_version() + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="newer than this discord-arch's"):
        restore(str(manifest_path), str(tmp_path / "target"))
    assert not (tmp_path / "target" / datadir.DATABASE_FILE).exists()


async def test_restore_removes_the_old_wal_and_replaces_the_database(tmp_path: Path) -> None:
    _, manifest_path = await _backed_up(tmp_path)
    target = tmp_path / "target"
    p = await Platform.open(_config(target))
    await core.accounts.register(p, "later", "correct horse battery")
    await p.aclose()
    # A stale WAL beside the database: replayed onto the restored file it would corrupt it.
    (target / (datadir.DATABASE_FILE + "-wal")).write_bytes(b"\0" * 4096)
    restore(str(manifest_path), str(target))
    assert not (target / (datadir.DATABASE_FILE + "-wal")).exists()
    q = await Platform.open(_config(target))
    try:
        assert await q.meta.get_login("later") is None  # the backup's state
    finally:
        await q.aclose()


def test_nothing_to_restore_or_back_up_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database at"):
        backup(str(tmp_path / "empty"), str(tmp_path / "backups"))
    (tmp_path / "backups").mkdir()
    with pytest.raises(BackupError, match="no backup in"):
        restore(str(tmp_path / "backups"), str(tmp_path / "d"))


async def test_the_restored_database_belongs_to_the_data_directory_s_owner(
    tmp_path: Path,
) -> None:
    """Root restoring for a service that runs as its own user (deploy/: DynamicUser)."""
    _, manifest_path = await _backed_up(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    owner = (12345, 12346) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(target, *owner)
    restore(str(manifest_path), str(target))
    st = (target / datadir.DATABASE_FILE).stat()
    assert (st.st_uid, st.st_gid) == owner
    assert (target / datadir.LOCK_FILE).stat().st_mode & 0o044 == 0o044  # others may lock it
