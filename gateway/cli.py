"""``discord-arch``: the single binary's command line (serve, migrate, backup, restore, admin,
--version).

Every way it can fail to start (a bad setting, a missing driver, a port taken, a store that
does not answer) is one line ``discord-arch: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence

from core.config import Config, ConfigError
from core.logs import configure_logging, json_of
from core.store.drivers import require_drivers
from gateway import admin_cli, backups
from gateway.ports import PortUnavailable, check_ports

__all__ = ["main"]

logger = logging.getLogger("discord_arch")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="discord-arch", description="A Discord-compatible chat server."
    )
    config_help = "TOML config file (keys as in the env table, without DISCORD_ARCH_)"
    parser.add_argument("--config", help=config_help)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the REST API and the gateway")
    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    for p in (serve, migrate):
        # After the sub-command too (where people put it). SUPPRESS: when it is not given
        # there, the sub-parser must not overwrite a --config given before the sub-command.
        p.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
        p.add_argument("--data-dir", help="embedded SQLite directory (default ./data)")
        p.add_argument("--postgres-url", help="PostgreSQL DSN for metadata")
        p.add_argument("--mongo-url", help="MongoDB URL for message history")
        p.add_argument("--redis-url", help="Redis URL (bus, caches, rate limits)")
        p.add_argument("--redis-cluster", action="store_true", default=None,
                       help="--redis-url is one node of a Redis Cluster (sharded pub/sub)")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--http-port", type=int, help="REST API port (default 8080)")
    serve.add_argument("--gateway-port", type=int, help="gateway port (default 8081)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1, at most 16)")
    serve.add_argument("--node-id", type=int,
                       help="this host's number among the hosts sharing the stores, 0..30 "
                            "(default 0): every host needs its own")
    serve.add_argument("--metrics-host", help="interface of the ops port (default 127.0.0.1)")
    serve.add_argument("--metrics-port", type=int,
                       help="ops port (/metrics, /healthz, /readyz) of worker 0, worker i "
                            "uses it + i (default 9090; 0: off)")
    serve.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO)")
    serve.add_argument("--log-format", choices=("auto", "json", "text"), default=None,
                       help="auto (default): JSON lines unless stderr is a terminal")
    backups.add_commands(sub, config_help)
    admin_cli.add_commands(sub, config_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("command", "config", *backups.ARGUMENTS, *admin_cli.ARGUMENTS)}
    try:
        config = Config.load(os.environ, overrides, args.config)
        if args.command in backups.COMMANDS:  # SQLite only: no driver, no port, no logging
            return backups.run(args, config)
        require_drivers(config)  # MissingDriver is a ConfigError
        if args.command == "serve":
            # Before any store is opened or port bound: another instance on these ports would
            # otherwise be joined silently (SO_REUSEPORT, gateway.ports).
            check_ports(config)
    except (ConfigError, PortUnavailable) as e:
        print(f"discord-arch: error: {e}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, json_of(config.log_format))
    if args.command == admin_cli.COMMAND:
        return admin_cli.run(args, config)
    if args.command == "migrate":
        from gateway.worker import migrate

        return _report(lambda: asyncio.run(migrate(config)))
    from gateway.notify import Notifier
    from gateway.worker import check, run_worker

    if config.workers > 1:
        from gateway.supervisor import Supervisor

        # Once, here: the migrations run before the workers start (not N times at once), and
        # a store that is down is one line and status 2, not N workers failing to start.
        status = _report(lambda: asyncio.run(check(config)))
        if status:
            return status
        # The supervisor is the service's main process: it tells systemd, its workers don't.
        run = Supervisor(config, notifier=Notifier.from_env(os.environ)).run
    else:
        # One worker is the service's main process: it tells systemd itself (gateway.notify).
        def run() -> int:
            return run_worker(config, 0, Notifier.from_env(os.environ))
    return _serve_as_node(config, run)


def _serve_as_node(config: Config, run: Callable[[], int]) -> int:
    """Run ``run`` while this process holds ``config.node_id`` in Redis (core.store.nodeclaim).

    A node id another live process holds is one line and status 2. Without Redis nothing is
    claimed (one host). If another process takes the id while this one serves, the claim's
    keep-alive SIGTERMs this process (a clean drain) and the status is 2.
    """
    if not config.redis_url:
        return _report(run)
    from core.store.base import StoreUnavailable
    from core.store.nodeclaim import NodeClaim, NodeIdInUse

    try:
        claim = NodeClaim.take(config.redis_url, config.node_id, cluster=config.redis_cluster,
                               on_lost=lambda reason: os.kill(os.getpid(), signal.SIGTERM))
    except (NodeIdInUse, StoreUnavailable) as e:
        print(f"discord-arch: error: {e}", file=sys.stderr)
        return 2
    try:
        status = _report(run)
    finally:
        claim.release()
    if claim.lost:
        print(f"discord-arch: error: node id {config.node_id} was taken by another host while "
              "this one served", file=sys.stderr)
        return 2
    return status


def _version() -> str:
    """The installed package's version (pyproject.toml), or say it is not installed."""
    try:
        return importlib.metadata.version("discord-arch")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout without pip install
        return "(not installed)"


def _report(run: object) -> int:
    """Run ``run`` and turn a store that cannot be reached into one clear line."""
    from core.store.base import StoreUnavailable

    try:
        result = run()  # type: ignore[operator]
    except StoreUnavailable as e:
        print(f"discord-arch: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the port is taken
        print(f"discord-arch: error: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
