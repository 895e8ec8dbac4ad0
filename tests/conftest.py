"""Fixtures for every test: real servers (session-scoped) and the loop exception guard.

The service fixtures are synchronous and session-scoped: each server is found or started
once (see ``tests/services.py``) and a test that cannot get one fails, it is never skipped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest
import pytest_asyncio

from tests import services


def _provided(provide: Callable[[ExitStack, Mapping[str, str]], str]) -> Iterator[str]:
    with ExitStack() as stack:
        try:
            url = provide(stack, os.environ)
        except services.ServiceUnavailable as exc:
            reason = str(exc)
        else:
            yield url
            return
    # Outside the except block, so the report is the one line that says what to do.
    pytest.fail(reason, pytrace=False)


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL DSN (env, local 5432, or a throwaway cluster stopped at session end)."""
    yield from _provided(services.provide_postgres)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL (env, local 6379 db 15 flushed at start, or a throwaway redis-server)."""
    yield from _provided(services.provide_redis)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """One node of a 3-master Redis Cluster (env, else started from redis-server here)."""
    yield from _provided(services.provide_redis_cluster)


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """A MongoDB URL (env, else a SecantusDB server for the session)."""
    yield from _provided(services.provide_mongo)


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """An S3 API endpoint (env, else moto's S3 server, an emulator, for the session)."""
    yield from _provided(services.provide_s3)


# -- unhandled exceptions in the event loop (asyncpg ``_testbase``) ---------------------------


def _format_context(context: dict[str, Any]) -> str:
    exc = context.get("exception")
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    return f"{context.get('message', '')} {detail}".strip()


@pytest.fixture
async def _loop_exception_guard() -> AsyncIterator[list[dict[str, Any]]]:
    """Record every call of the running loop's exception handler during the test.

    A "Task exception was never retrieved" or an exception in a callback is logged by the
    default handler and otherwise lost; here it fails the test at teardown.
    """
    loop = asyncio.get_running_loop()
    contexts: list[dict[str, Any]] = []

    def on_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        contexts.append(context)
        loop.default_exception_handler(context)  # keep the log line and its traceback

    previous = loop.get_exception_handler()
    loop.set_exception_handler(on_exception)
    try:
        yield contexts
    finally:
        loop.set_exception_handler(previous)
    if contexts:
        lines = "\n".join(f"  {i}. {_format_context(c)}" for i, c in enumerate(contexts, 1))
        pytest.fail(f"unexpected exceptions in asynchronous code:\n{lines}", pytrace=False)


@pytest.fixture(autouse=True)
def _fail_on_loop_exceptions(request: pytest.FixtureRequest) -> None:
    """Install the loop exception guard for async tests only.

    Being synchronous, this autouse fixture starts no event loop for sync tests (unit tests
    never start one); for an async test it pulls in ``_loop_exception_guard``, which
    pytest-asyncio runs in the test's own (function-scoped) loop.
    """
    if pytest_asyncio.is_async_test(request.node):
        request.getfixturevalue("_loop_exception_guard")
