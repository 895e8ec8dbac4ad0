"""The fault harness's fixtures, and its table: one row per scenario, printed at the end.

``scripts/test tests/faults -s`` reproduces the table that README.md's Reliability section
shows. A scenario that cannot record its row (it failed before its checks) is simply absent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.faults.ledger import RESULTS, Result


def table(results: list[Result]) -> str:
    """The rows as a Markdown table (the README's format)."""
    lines = ["| scenario | acked | lost | time to recover |", "| --- | ---: | ---: | ---: |"]
    for r in results:
        recover = "-" if r.recover_s is None else f"{r.recover_s:.1f} s"
        lines.append(f"| {r.scenario} | {r.acked} | {r.lost} | {recover} |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("fault harness")
        terminalreporter.write_line(table(RESULTS))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose connections are never reused across a fault (no keep-alive
    pool of sockets to a killed worker)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        yield http
