"""Coverage-guided fuzzing with atheris (libFuzzer), for a bounded time: the frame path of
the listener (reassembly, UTF-8, RSV bits, control frames, close codes: fuzz_frames) and the
payload decoders with the command parser (fuzz_payloads). Each target runs in its own process
(libFuzzer exits when done) for ``DISCORD_ARCH_FUZZ_SECONDS`` (default 8), from a seed corpus
of valid input; any exception, a run over 10 s or over 2 GiB of memory fails the test, with
the input that did it (``crash-*`` in the test's tmp_path; tests/fuzz/harness.py replays it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from picows import WSMsgType

from gateway import etf
from tests.fuzz.harness import encode_frames

pytest.importorskip("atheris", reason="atheris has wheels for Linux x86_64 only; the test "
                    "extra installs it there")

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("DISCORD_ARCH_FUZZ_SECONDS", "8"))
T, B, C, PING, PONG, CLOSE = (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION,
                              WSMsgType.PING, WSMsgType.PONG, WSMsgType.CLOSE)
IDENTIFY = {"op": 2, "d": {"token": "t", "intents": 513, "properties": {
    "os": "linux", "browser": "x", "device": "x"}, "presence": {"status": "idle", "since": 1.5,
                                                             "activities": [], "afk": False}}}
PRESENCE = {"op": 3, "d": {"status": "online", "since": 91879201.5, "afk": False,
                           "activities": [{"name": "x", "type": 0}]}}
HEARTBEAT = b'{"op":1,"d":null}'
SEEDS = {
    "fuzz_frames": [
        encode_frames(0, [(T, HEARTBEAT, True)]),
        encode_frames(0, [(T, HEARTBEAT[:5], False), (PING, b"p", True), (C, HEARTBEAT[5:], True)]),
        encode_frames(1, [(B, etf.pack({"op": 1, "d": None}), True), (CLOSE, b"\x03\xe8", True)]),
        encode_frames(2, [(T, "κόσμε".encode()[:3], False), (C, "κόσμε".encode()[3:], True)]),
        encode_frames(0, [(PONG, b"", True), (CLOSE, b"\x0f\xa0bye", True)]),
    ],
    "fuzz_payloads": [
        b"\x00" + orjson.dumps(IDENTIFY), b"\x01" + etf.pack(IDENTIFY),
        b"\x00" + orjson.dumps(PRESENCE), b"\x01" + etf.pack(PRESENCE),
        b"\x01" + etf.pack({"op": 8, "d": {"guild_id": 1, "query": "", "limit": 0}}),
        b"\x01" + etf.pack({"op": 6, "d": {"token": "t", "session_id": "s", "seq": 3}}),
    ],
}


@pytest.mark.parametrize("target", sorted(SEEDS))
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(SEEDS[target]):
        (corpus / f"seed-{i}").write_bytes(seed)
    result = subprocess.run(
        [sys.executable, "-m", f"tests.fuzz.{target}", f"-max_total_time={SECONDS}",
         "-max_len=4200", "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/",
         "-seed=1",  # the same exploration every run: a finding is reproducible, not luck
         str(corpus)],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 60, check=False,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert "Done " in result.stderr  # it ran, and to the end
