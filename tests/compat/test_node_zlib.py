"""Node's zlib (the library under discord.js's zlib-sync and native inflaters) decodes our
zlib-stream connections message by message: the per-connection stream and the
``gateway_zlib_shared`` one (self-contained messages, a dispatch's body deflated once).

discord.js (``@discordjs/ws``) pushes each websocket message into one inflater, with
``Z_SYNC_FLUSH`` when it ends with ``00 00 ff ff``, and parses what came out as one JSON
payload. Node inflates here every prefix of the stream that ends at a message boundary with
``finishFlush: Z_SYNC_FLUSH``, which is the same inflate state, and prints each new payload.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib

import orjson
import pytest

from gateway.codec import Dispatch
from gateway.limits import SessionLimits
from gateway.session import frames
from tests.unit.gateway_client import Client

_SCRIPT = r"""
const zlib = require("node:zlib");
const messages = JSON.parse(require("node:fs").readFileSync(0, "utf8")).map(h => Buffer.from(h, "hex"));
let stream = Buffer.alloc(0), seen = 0;
const out = [];
for (const m of messages) {
  stream = Buffer.concat([stream, m]);
  const l = m.length;
  if (!(l >= 4 && m[l - 4] === 0 && m[l - 3] === 0 && m[l - 2] === 255 && m[l - 1] === 255)) continue;
  const all = zlib.inflateSync(stream, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  out.push(JSON.parse(all.subarray(seen).toString("utf8")));
  seen = all.length;
}
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.parametrize("shared", [False, True], ids=["own-stream", "shared"])
def test_node_zlib_decodes_each_message_of_a_zlib_stream(shared: bool) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (apt-get install nodejs)", pytrace=False)
    client = Client("json", "zlib-stream", limits=SessionLimits(zlib_shared=shared))
    client.ready(guilds=2)
    client.send({"op": 1, "d": 3})
    for i in range(60):
        event = Dispatch("MESSAGE_CREATE", {"id": str(i), "content": f"message {i} " * (i % 7)})
        if i % 2:
            client.session.pusher(event.parts(client.session.fanout_key))  # the hub's way
        else:
            client.session.dispatch(event)
    raw = client.raw + frames(client.session.outgoing())
    expected = [orjson.loads(p) for p in _inflate_all(client, raw)]
    done = subprocess.run([node, "-e", _SCRIPT], input=json.dumps([m.hex() for m in raw]),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got == expected
    assert [p["s"] for p in got if p["op"] == 0][-60:] == list(range(4, 64))


def _inflate_all(client: Client, raw: list[bytes]) -> list[bytes]:
    inflater, out = zlib.decompressobj(), []
    for m in raw:
        out.append(inflater.decompress(m))
    assert client.session.close_code is None
    return out
