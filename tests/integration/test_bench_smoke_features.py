"""Smoke tests of the feature benchmarks (``bench.reactions``, ``bench.files``), so that their
code cannot rot: a reaction storm of 20 members and 1 MiB files, unpinned. Nothing is timed:
the figures are not asserted, only that there are some and that the checks the benchmarks make
(every event delivered, the count read back, the bytes downloaded equal to those uploaded) hold.
Kept apart from test_bench_smoke.py, which covers the gateway benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parents[2]


def _run(module: str, args: list[str], out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", module, *args, "--server-cpu", "none", "--client-cpu", "none",
           "--json", str(out)]
    run = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True, timeout=150,
                         env={**os.environ, "PYTHONPATH": str(_REPO)})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["command"].startswith(f".venv/bin/python -m {module}")
    return result


def test_reaction_storm_delivers_every_event_and_counts_once(tmp_path: Path) -> None:
    result = _run("bench.reactions", ["--members", "20", "--drain", "10"], tmp_path / "r.json")
    assert result["scenario"] == "reactions" and result["members"] == 20
    assert [r["run"] for r in result["runs"]] == ["same", "spread"]
    for r in result["runs"]:
        assert r["error_count"] == 0 and r["accepted"] == 20 and r["reactions_s"] > 0
        assert r["delivered_events"] == r["expected_events"] == 400
        assert r["sessions_complete"] == 20 and r["sessions_over"] == 0
        assert r["count_read_back"] == 20 and not r["message_edited"] and r["message_unchanged"]
        assert r["deliveries_s"] > 0 and 0 < r["delivery_p50_ms"] <= r["delivery_p99_ms"]
    assert [r["emojis_read_back"] for r in result["runs"]] == [1, 20]


def test_files_upload_and_download_the_same_bytes(tmp_path: Path) -> None:
    result = _run("bench.files", ["--size-mib", "1", "--count", "3"], tmp_path / "f.json")
    assert result["scenario"] == "files" and result["size_mib"] == 1
    phases = {p["phase"]: p for p in result["phases"]}
    assert list(phases) == ["upload", "upload_concurrent", "download", "download_concurrent",
                            "download_range"]
    for p in phases.values():
        assert p["mib_s"] > 0 and p["rss_before_kib"] <= p["rss_peak_kib"]
    assert phases["download_concurrent"]["transfers"] == 6  # every upload fetched back whole
    assert result["rss_peak_kib"] >= result["rss_start_kib"] > 0
