"""Which optional extra a configured backend needs, checked before anything starts.

The database drivers are optional extras (``pip install 'discord-arch[postgres]'``). Without
this check, a backend URL given with its driver missing surfaced as a ModuleNotFoundError
traceback from deep inside ``Platform.open`` (or from each of N workers); here it is one line
that says what to install.
"""

from __future__ import annotations

import importlib

from core.config import Config, ConfigError

__all__ = ["MissingDriver", "require_drivers"]

# (setting, module the store imports, what it is, the extra that installs it). The module is
# the one the store needs, not the distribution's top level: pymongo older than 4.9 lacks the
# asynchronous client, and that is the same missing extra.
_DRIVERS = (
    ("postgres_url", "asyncpg", "PostgreSQL", "postgres"),
    ("mongo_url", "pymongo.asynchronous.collection", "MongoDB", "mongo"),
    ("redis_url", "redis.asyncio", "Redis", "redis"),
)


class MissingDriver(ConfigError):
    """A backend is configured but its driver (an optional extra) cannot be imported."""


def require_drivers(config: Config) -> None:
    """Import the driver of every configured backend.

    Raises:
        MissingDriver: the first one missing, naming the flag and the extra to install.
    """
    for setting, module, what, extra in _DRIVERS:
        if not getattr(config, setting):
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            flag = "--" + setting.replace("_", "-")
            raise MissingDriver(f"{flag} needs the {what} driver: "
                                f"pip install 'discord-arch[{extra}]'") from None
