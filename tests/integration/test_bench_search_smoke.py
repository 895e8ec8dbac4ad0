"""Smoke test of the search benchmark (``bench.search``), so that its code cannot rot: 2,000
messages on SQLite and on PostgreSQL, two timed runs of each query. Nothing here is timed:
the figures are not asserted, only that there are some and that the counts are right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.search import cases

_REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_search_smoke_run_reports_every_query(
    backend: str, tmp_path: Path, postgres_dsn: str
) -> None:
    out = tmp_path / "search.json"
    cmd = [sys.executable, "-m", "bench.search", "--messages", "2000", "--backend", backend,
           "--repeat", "2", "--json", str(out), "--postgres-url", postgres_dsn]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=110,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["backend"] == backend and result["messages"] == 2000
    assert result["command"].startswith(".venv/bin/python -m bench.search")
    assert result["fill_msg_s"] > 0 and result["search_index_bytes"] > 0
    timings = {t["case"]: t for t in result["timings"]}
    assert list(timings) == [c.name for c in cases(1000)]
    for timing in timings.values():
        assert timing["timeouts"] == 0 and timing["p50_ms"] > 0
        assert timing["p50_ms"] <= timing["p95_ms"] <= timing["max_ms"]
    assert timings["no condition (every message)"]["total_results"] == 2000
    common = timings["commonest word (rank 1)"]["total_results"]
    assert 0 < timings["mid word (rank 100)"]["total_results"] < common < 2000
    assert "| commonest word (rank 1) |" in run.stdout
