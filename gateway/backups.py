"""``discord-arch backup DIR`` and ``discord-arch restore DIR``: the CLI side of core.store.backup.

They cover the embedded SQLite database only. PostgreSQL and MongoDB are backed up with their
own tools (pg_dump, mongodump: docs/operations.md, "Backups"), which know their servers'
consistency and permissions far better than a wrapper would; with either configured, both
commands refuse in one line and point there, rather than copy a SQLite file that holds only
part of the data (or none).
"""

from __future__ import annotations

import argparse
import sys

from core.config import Config
from core.store.backup import BackupError, backup, latest_schema_version, restore
from core.store.datadir import DataDirBusy

__all__ = ["ARGUMENTS", "COMMANDS", "add_commands", "run"]

COMMANDS = ("backup", "restore")
# The parsed arguments of these commands that are not config settings.
ARGUMENTS = ("backup_dir", "force")
DOCS = "docs/operations.md, \"Backups\""


def add_commands(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                 config_help: str) -> None:
    """Add ``backup`` and ``restore`` to the CLI's sub-commands."""
    make = sub.add_parser(
        "backup", help="copy the embedded SQLite database into DIR (safe while serving)")
    make.add_argument("backup_dir", metavar="DIR",
                      help="directory to write the backup and its manifest into")
    undo = sub.add_parser(
        "restore", help="replace the embedded SQLite database with a backup (server stopped)")
    undo.add_argument("backup_dir", metavar="DIR",
                      help="a backup directory (its newest backup), or one backup's .json "
                           "manifest or .sqlite3 file")
    undo.add_argument("--force", action="store_true",
                      help="restore even though a server holds the data directory (it must "
                           "be restarted at once; what it writes meanwhile is lost)")
    for p in (make, undo):
        p.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
        p.add_argument("--data-dir", help="embedded SQLite directory (default ./data)")
        # Accepted so that the serve command line can be reused, and refused with a pointer.
        p.add_argument("--postgres-url", help="(refused: use pg_dump, see docs/operations.md)")
        p.add_argument("--mongo-url", help="(refused: use mongodump, see docs/operations.md)")


def run(args: argparse.Namespace, config: Config) -> int:
    """Run ``backup`` or ``restore``; every failure is one line on stderr and status 2."""
    elsewhere = [name for name, url in (("PostgreSQL", config.postgres_url),
                                        ("MongoDB", config.mongo_url)) if url]
    if elsewhere:
        return _fail(f"{args.command} covers the embedded SQLite database only, not "
                     f"{' and '.join(elsewhere)}: use {'its' if len(elsewhere) == 1 else 'their'}"
                     f" own tools ({DOCS})")
    try:
        if args.command == "backup":
            path, manifest = backup(config.data_dir, args.backup_dir)
            print(f"backed up {config.data_dir} to {path} (manifest {manifest})")
            return 0
        done = restore(args.backup_dir, config.data_dir, force=bool(args.force))
    except (BackupError, DataDirBusy) as e:
        return _fail(str(e))
    except OSError as e:
        return _fail(f"{e.strerror or e}: {e.filename}" if e.filename else str(e))
    m = done.manifest
    line = (f"restored {done.backup_file} (schema version {m.schema_version}, backed up "
            f"{m.created_at} from {m.source}) into {done.database}")
    if m.schema_version < latest_schema_version():
        line += f"; the next start migrates it to version {latest_schema_version()}"
    print(line)
    if done.forced:
        print(f"discord-arch: warning: a process still holds {config.data_dir}: restart it "
              "now (it still has the old database open)", file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"discord-arch: error: {message}", file=sys.stderr)
    return 2
