"""Smoke test of ``python -m bench`` as a tool: ``send`` and ``history`` at tiny sizes in the
embedded deployment, one tiny ``send`` with ``--deploy workers2`` (two workers, Redis and a
fresh PostgreSQL database, dropped afterwards), and ``report`` regenerating a RESULTS.md in a
temporary directory from their results. Nothing is timed: figures are not asserted, only that
there are some, of the right shape. Unpinned (``--server-cpu none``), so it runs anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

_REPO = Path(__file__).resolve().parents[2]
_UNPINNED = ["--server-cpu", "none", "--client-cpu", "none", "--no-report"]
_TINY = ["--senders", "3", "--messages", "50"]
_LATENCY = {"count", "per_s", "p50_ms", "p99_ms", "errors", "server_cpu_pct"}


def bench(*argv: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=_REPO, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def bench_databases(dsn: str) -> set[str]:
    async def names() -> set[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database "
                                    "WHERE datname LIKE 'discord_arch_bench_%'")
        finally:
            await conn.close()
        return {r["datname"] for r in rows}

    return asyncio.run(names())


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, redis_url: str, postgres_dsn: str
            ) -> Path:
    """A results directory with send and history (embedded) and send (workers2)."""
    out = tmp_path_factory.mktemp("results")
    bench("send", *_TINY, *_UNPINNED, "--json", str(out / "send.json"))
    bench("history", *_TINY, "--readers", "2", "--reads", "5", *_UNPINNED,
          "--json", str(out / "history.json"))
    before = bench_databases(postgres_dsn)
    bench("send", "--deploy", "workers2", "--redis-url", redis_url, "--postgres-url",
          postgres_dsn, *_TINY, *_UNPINNED, "--json", str(out / "send_workers2.json"))
    assert bench_databases(postgres_dsn) <= before  # its fresh database was dropped
    return out


def _load(path: Path) -> dict[str, Any]:
    r = json.loads(path.read_text())
    for key in ("date", "commit", "cpu", "kernel", "versions", "loadavg", "command"):
        assert key in r, key
    assert r["command"].startswith(f".venv/bin/python -m bench {r['scenario']} ")
    assert r["server_cpu"] is None and r["senders"] == 3 and r["messages"] == 50
    assert len(r["variants"]) == 1 and r["variants"][0]["variant"] == "batched"
    return r


def _ran(lat: dict[str, Any], count: int) -> None:
    assert set(lat) == _LATENCY
    assert lat["count"] == count and lat["errors"] == 0
    assert lat["per_s"] > 0 and 0 < lat["p50_ms"] <= lat["p99_ms"]


def test_send_measures_rest_and_gateway_sends_embedded(results: Path) -> None:
    r = _load(results / "send.json")
    assert r["scenario"] == "send"
    assert r["deployment"] == {"name": "embedded", "label": "embedded", "workers": 1,
                               "metadata": "sqlite", "messages": "sqlite", "bus": "in-process"}
    assert r["ws_senders"] == 3 and r["ws_sessions"] == 3 and r["ws_per_session"] == 100
    v = r["variants"][0]
    assert set(v) == {"variant", "rest_send", "gateway_send"}
    _ran(v["rest_send"], 50)
    _ran(v["gateway_send"], 50)  # op 50, each acked by its MESSAGE_CREATE echo


def test_history_reads_the_newest_and_a_deep_page(results: Path) -> None:
    r = _load(results / "history.json")
    assert r["scenario"] == "history" and r["deployment"]["label"] == "embedded"
    v = r["variants"][0]
    assert set(v) == {"variant", "fill", "newest_page", "deep_page"}
    _ran(v["fill"], 50)
    _ran(v["newest_page"], 10)
    _ran(v["deep_page"], 10)


def test_send_with_two_workers_redis_and_postgres(results: Path) -> None:
    r = _load(results / "send_workers2.json")
    assert r["deployment"] == {"name": "workers2", "label": "workers2", "workers": 2,
                               "metadata": "postgres", "messages": "postgres", "bus": "redis"}
    _ran(r["variants"][0]["rest_send"], 50)
    _ran(r["variants"][0]["gateway_send"], 50)


def test_report_regenerates_the_generated_sections_only(results: Path, tmp_path: Path) -> None:
    real = (_REPO / "bench" / "RESULTS.md").read_bytes()
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\nWritten by hand.\n\n<!-- bench.rest:begin -->\nstale"
                   "\n<!-- bench.rest:end -->\n\n## Analysis\n\nAlso by hand.\n")
    bench("report", "--results", str(results), "--out", str(out))
    text = out.read_text()
    assert "stale" not in text
    assert text.startswith("# Benchmark results\n\nWritten by hand.\n")
    assert text.endswith("## Analysis\n\nAlso by hand.\n")
    rest = text[text.index("<!-- bench.rest:begin -->"):text.index("<!-- bench.rest:end -->")]
    assert "### send" in rest and "### history" in rest
    send = rest[rest.index("### send"):rest.index("### history")]
    assert "| embedded | 1 worker, sqlite, in-process bus, unpinned | batched |" in send
    assert "| workers2 | 2 workers, postgres, redis bus, unpinned | batched |" in send
    assert ".venv/bin/python -m bench send --deploy workers2" in send
    assert "bench.gateway:begin" not in text  # no gateway results here: no section
    assert (tmp_path / "sends.png").stat().st_size > 0
    assert (_REPO / "bench" / "RESULTS.md").read_bytes() == real  # the real one untouched


def test_all_runs_every_scenario_in_each_deployment_then_report() -> None:
    run = bench("all", "--dry-run", "--mongo-url", "mongodb://127.0.0.1:27017")
    lines = run.stdout.splitlines()
    # Each scenario embedded and with workers2; send and history also embedded on PostgreSQL.
    assert len(lines) == 6 * 2 + 2 + 1 and lines[-1] == ".venv/bin/python -m bench report"
    assert lines[0] == ".venv/bin/python -m bench fanout --no-report"
    assert lines[1] == (".venv/bin/python -m bench fanout --deploy workers2 --targets gateway "
                        "--mongo-url mongodb://127.0.0.1:27017 --no-report")
    # The peers run with the embedded fanout, idle and storm only.
    assert lines[4:8] == [".venv/bin/python -m bench idle --no-report",
                          ".venv/bin/python -m bench idle --deploy workers2 --targets gateway "
                          "--mongo-url mongodb://127.0.0.1:27017 --no-report",
                          ".venv/bin/python -m bench storm --no-report",
                          ".venv/bin/python -m bench storm --deploy workers2 --targets gateway "
                          "--mongo-url mongodb://127.0.0.1:27017 --no-report"]
    assert lines[8:11] == [".venv/bin/python -m bench send --no-report",
                           ".venv/bin/python -m bench send --backend postgres --no-report",
                           ".venv/bin/python -m bench send --deploy workers2 --mongo-url "
                           "mongodb://127.0.0.1:27017 --no-report"]
    assert {line.split()[3] for line in lines[:-1]} == {"fanout", "guilds", "idle", "storm",
                                                        "send", "history"}
