"""Readiness: do the stores, the cache and the bus of a platform answer right now?

``/readyz`` (``api.ops``) asks this on every probe, so each check is one cheap round trip that
writes nothing: a point read of a user id that never exists (snowflakes start far above 0),
the same for a message, a token-cache read of a key nobody sets, and the bus's own
subscription check (a PING through the Redis subscriber connection; immediate in-process).
All run concurrently, each bounded by the same timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from core.platform import Platform

__all__ = ["READY_TIMEOUT_S", "readiness"]

# How long one component may take to answer a readiness probe, in seconds. Below the usual
# probe timeouts (Kubernetes 1 s default is too short for a remote PostgreSQL under load;
# load balancers use 2-5 s).
READY_TIMEOUT_S = 2.0
# Longest error text reported per component (a driver's message can be a page long).
_REASON_MAX = 200
_PROBE_TOKEN = b"discord-arch readiness probe"


async def readiness(platform: Platform, timeout_s: float = READY_TIMEOUT_S) -> dict[str, str]:
    """Check every backend of ``platform``; returns what failed, by component.

    Args:
        platform: the worker's platform.
        timeout_s: seconds each check may take.

    Returns:
        ``{component: reason}`` for each of ``meta``, ``messages``, ``cache``, ``bus`` that
        failed or did not answer in time; empty when all are ready. Each failure that comes
        from a backend is also counted in ``discord_arch_backend_errors_total{where="ready"}``.
    """
    checks: dict[str, Callable[[], Awaitable[object]]] = {
        "meta": lambda: platform.meta.get_user(0),
        "messages": lambda: platform.messages.get_message(0, 0),
        "cache": lambda: platform.cache.token_get(_PROBE_TOKEN),
        "bus": platform.bus.subscribed,
    }
    names = list(checks)
    results = await asyncio.gather(*(_check(checks[n], timeout_s) for n in names))
    failed: dict[str, str] = {}
    for name, error in zip(names, results, strict=True):
        if error is None:
            continue
        if isinstance(error, TimeoutError):
            failed[name] = f"no answer within {timeout_s:g} s"
        else:
            text = str(error).splitlines()[0] if str(error) else ""
            failed[name] = f"{type(error).__name__}: {text}"[:_REASON_MAX].rstrip(": ")
        platform.metrics.backend_error(error, "ready")
    return failed


async def _check(call: Callable[[], Awaitable[object]], timeout_s: float) -> Exception | None:
    try:
        async with asyncio.timeout(timeout_s):
            await call()
    except Exception as e:  # any failure means not ready; the caller reports which
        return e
    return None
