"""Locust load test of a running Discord Arch server: REST chat users and gateway users.

Two kinds of simulated people share one guild (one per locust process):

- ``RestChatter`` (a ``FastHttpUser``) registers an account, joins the guild, then sends
  messages, reads the newest page of history, scrolls back with ``before=`` and lists its
  guilds, over REST only.
- ``GatewayChatter`` (a plain ``User``) registers over REST, connects to the gateway
  (``?v=10&encoding=json``; URL from ``GET /api/v10/gateway`` unless ``--gateway-url`` or
  ``DISCORD_ARCH_GATEWAY_URL`` says otherwise), IDENTIFYs with GUILDS | GUILD_MESSAGES |
  MESSAGE_CONTENT, heartbeats, and sends messages with op 50 (docs/gateway.md). It reports,
  with request type ``WS``, connect -> READY as ``connect -> READY`` and op 50 -> its own
  MESSAGE_CREATE echo (matched by the nonce, which is the send time) as
  ``op 50 send -> MESSAGE_CREATE echo``. Every other MESSAGE_CREATE of the guild (the REST
  users' and the other gateway users') is read and counted, so the fanout is part of the
  load and the socket never backs up.

Run against a local server, from the repository root (two shells)::

    DISCORD_ARCH_ARGON2_TIME_COST=1 DISCORD_ARCH_ARGON2_MEMORY_KIB=8 \\
    DISCORD_ARCH_RATELIMIT_ROUTE_LIMIT=0 .venv/bin/discord-arch serve --data-dir "$(mktemp -d)"

    .venv/bin/locust -f bench/locustfile.py --headless -u 40 -r 10 -t 60s \\
        --host http://127.0.0.1:8080

Cheap Argon2 because sign-ups are set-up, not what is measured (as in the other benchmarks).
``-u`` is split evenly between the two classes (equal weights): ``-u 40`` is 20 of each.
Options this file adds to locust's command line: ``--gateway-url``,
``--think-time MIN,MAX`` (seconds between one user's tasks, default 0.5,2.5) and
``--echo-timeout`` (default 10 s).

Rate limits: a 429 is honoured as Discord asks (wait ``retry_after``, then repeat the same
request) and counted under the request's name with `` (429)`` appended, not as a failure;
anything else that is not 2xx is a failure. The command above turns the server's limits off
(``DISCORD_ARCH_RATELIMIT_ROUTE_LIMIT=0``) only because every locust user comes from the same
IP: the per-IP bucket of ``POST /auth/register`` (5 per 5 s) would pace the ramp-up to one user
a second. At the default think time a user stays under the per-user limits anyway; with them
on (tests/integration/test_locust.py runs so, with quick users) sends beyond 5 per 5 s are
answered 429 and waited out.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import random
import secrets
import struct
import time
from typing import Any

import gevent
import orjson
import websocket
from gevent.event import AsyncResult, Event
from gevent.lock import Semaphore
from locust import FastHttpUser, User, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import StopUser

logger = logging.getLogger(__name__)

API = "/api/v10"
# GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT: MESSAGE_CREATE with its content, nothing else.
INTENTS = 1 | 512 | 32768
PASSWORD = "correct horse battery"
# About the size of a chat line, as in bench.rest_send and bench.gateway.
_FILLER = "lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod tempor"
# A user that keeps getting 429 is a failure, not something to retry forever.
_MAX_429_RETRIES = 5
_MAX_RETRY_AFTER_S = 60.0
# Discord's gateway allows 120 payloads per connection per 60 s (4008 beyond). Heartbeats
# (~1.5 per minute at the default 41.25 s) and the IDENTIFY count too, so op 50 sends keep
# to 100 per any 60 s: a sliding window never has more in one of the server's fixed windows.
_WS_SEND_BUDGET = 100
_WS_WINDOW_S = 60.0

READY = "connect -> READY"
ECHO = "op 50 send -> MESSAGE_CREATE echo"
DISCONNECT = "unexpected disconnect"

_names = itertools.count(1)
_run_id = secrets.token_hex(3)  # usernames differ between locust runs on the same server


# -- options ----------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument("--gateway-url", default="", env_var="DISCORD_ARCH_GATEWAY_URL",
                        help="gateway websocket URL (default: GET /api/v10/gateway of --host)")
    parser.add_argument("--think-time", default="0.5,2.5",
                        env_var="DISCORD_ARCH_LOCUST_THINK_TIME",
                        help="MIN,MAX seconds a user waits between its tasks (default 0.5,2.5)")
    parser.add_argument("--echo-timeout", type=float, default=10.0,
                        env_var="DISCORD_ARCH_LOCUST_ECHO_TIMEOUT",
                        help="seconds an op 50 send may wait for its echo (default 10)")
    parser.add_argument("--rest-weights", default="10,4,1,1",
                        env_var="DISCORD_ARCH_LOCUST_REST_WEIGHTS",
                        help="SEND,HISTORY,SCROLL,GUILDS: how often a REST user does each "
                             "(default 10,4,1,1)")


def _option(env: Environment, name: str, default: Any) -> Any:
    # parsed_options is None when locust is used as a library.
    return getattr(env.parsed_options, name, default) if env.parsed_options else default


def _think(env: Environment) -> float:
    # 0.5-2.5 s between actions is an active chatter. Load is scaled with the number of
    # users, not by making each one inhumanly fast (which would only measure 429s).
    lo, _, hi = str(_option(env, "think_time", "0.5,2.5")).partition(",")
    return random.uniform(float(lo), float(hi or lo))


def _content(who: str) -> str:
    return f"{who} {time.time():.3f} {_FILLER}"


# -- REST with Discord's rate limits ------------------------------------------------------------


class RequestFailed(Exception):
    """A REST call that did not succeed (already reported to locust as a failure)."""


def _retry_after(resp: Any) -> float:
    """Seconds to wait: the body's ``retry_after`` (float, as Discord), else ``Retry-After``."""
    try:
        seconds = float(resp.json()["retry_after"])
    except (ValueError, TypeError, KeyError):
        try:
            seconds = float(resp.headers.get("Retry-After") or 1)
        except ValueError:
            seconds = 1.0
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


def call(client: FastHttpSession, method: str, path: str, name: str, token: str | None = None,
         body: Any = None) -> Any:
    """One REST call reported as ``name``; its decoded JSON body (None for 204).

    A 429 is reported as ``name (429)``, a success (the server asked us to wait and we did),
    then the request is repeated after ``retry_after``. Any other status outside 2xx, a body
    that is not JSON or a 429 after ``_MAX_429_RETRIES`` retries is a failure of ``name`` and
    raises :class:`RequestFailed`.
    """
    headers = {"Authorization": token} if token else None
    for attempt in range(_MAX_429_RETRIES + 1):
        with client.request(method, API + path, name=name, headers=headers, json=body,
                            catch_response=True) as resp:
            status = resp.status_code
            if status == 429 and attempt < _MAX_429_RETRIES:
                wait = _retry_after(resp)
                resp.request_meta["name"] = f"{name} (429)"
                resp.success()
            elif 200 <= status < 300:
                try:
                    data = resp.json() if status != 204 else None
                except ValueError:
                    resp.failure(f"{status} with a body that is not JSON")
                    raise RequestFailed(name) from None
                resp.success()
                return data
            else:
                text = (resp.text or "")[:200] if status else repr(getattr(resp, "error", ""))
                resp.failure(f"HTTP {status}: {text}")
                raise RequestFailed(f"{name}: HTTP {status}")
        gevent.sleep(wait)  # outside the with: the wait is not part of the response time
    raise AssertionError("unreachable")


def register(client: FastHttpSession) -> tuple[str, str]:
    """A fresh account: (token, user id)."""
    username = f"lc_{_run_id}_{next(_names)}"
    data = call(client, "POST", "/auth/register", "/auth/register",
                body={"username": username, "password": PASSWORD})
    return str(data["token"]), str(data["user"]["id"])


class SharedGuild:
    """The guild every user of this locust process joins, and the gateway URL.

    One shared guild rather than one per user: in a chat server people talk in guilds with
    many members online, and each message fans out to all of them. A guild per user would
    turn every send into a write with a fanout of one and leave the hub idle. Its first user
    creates it and an invite (no expiry, unlimited uses); everyone else joins through the
    invite, which is the realistic way in. With ``--processes N`` there are N such guilds.
    """

    def __init__(self) -> None:
        self._lock = Semaphore()
        self.channel_id = ""
        self._invite = ""
        self._gateway_url = ""

    def join(self, client: FastHttpSession, token: str) -> str:
        """Make ``token``'s user a member; the guild's text channel id."""
        with self._lock:
            if not self._invite:  # the first user (or the next, if the first failed)
                guild = call(client, "POST", "/guilds", "/guilds", token, {"name": "locust"})
                channels = call(client, "GET", f"/guilds/{guild['id']}/channels",
                                "/guilds/{id}/channels", token)
                channel_id = next(c["id"] for c in channels if c["type"] == 0)
                invite = call(client, "POST", f"/channels/{channel_id}/invites",
                              "/channels/{id}/invites", token, {"max_age": 0, "max_uses": 0})
                self.channel_id, self._invite = str(channel_id), invite["code"]
                return self.channel_id
        call(client, "POST", f"/invites/{self._invite}", "/invites/{code}", token)
        return self.channel_id

    def gateway_url(self, client: FastHttpSession, env: Environment) -> str:
        with self._lock:
            if not self._gateway_url:
                url = _option(env, "gateway_url", "")
                if not url:
                    url = call(client, "GET", "/gateway", "/gateway")["url"]
                self._gateway_url = url.rstrip("/") + "/?v=10&encoding=json"
            return self._gateway_url


# One per locust process: every user of both classes joins the same guild.
GUILD = SharedGuild()
DELIVERED = [0, 0.0]  # MESSAGE_CREATEs received by gateway users; when the test started


@events.test_start.add_listener
def _on_test_start(**_kw: Any) -> None:
    DELIVERED[:] = [0, time.monotonic()]


@events.test_stop.add_listener
def _on_test_stop(**_kw: Any) -> None:
    seconds = max(time.monotonic() - DELIVERED[1], 1e-9)
    logger.info("gateway users received %d MESSAGE_CREATE dispatches (%.0f/s)",
                DELIVERED[0], DELIVERED[0] / seconds)


# -- the REST user ------------------------------------------------------------------------------


class RestChatter(FastHttpUser):
    """A person using the REST API only.

    Weights: sending is what a chatter does most; the newest page of history is read when a
    channel is opened (a client keeps up through the gateway afterwards, so less often than
    sends); scrolling back is rarer still, and the guild list is fetched about as often as
    the client starts or refreshes.
    """

    def wait_time(self) -> float:
        return _think(self.environment)

    def on_start(self) -> None:
        try:
            self.token, self.user_id = register(self.client)
            self.channel_id = GUILD.join(self.client, self.token)
        except RequestFailed as e:
            raise StopUser() from e
        self.oldest: str | None = None  # where scrolling back continues from
        self.sent = 0
        weights = [int(w) for w in str(_option(self.environment, "rest_weights",
                                                "10,4,1,1")).split(",")]
        if len(weights) != 4 or min(weights) < 0 or not any(weights):
            raise StopUser("--rest-weights wants four counts, e.g. 10,4,1,1")
        # An instance's own task list replaces the class's @task weights (locust picks from
        # self.tasks); the defaults are the decorators' weights.
        self.tasks = [t for t, w in zip((RestChatter.send_message, RestChatter.read_history,
                                         RestChatter.scroll_back, RestChatter.list_guilds),
                                        weights, strict=True) for _ in range(w)]

    def _messages(self) -> str:
        return f"/channels/{self.channel_id}/messages"

    @task(10)
    def send_message(self) -> None:
        self.sent += 1
        body = {"content": _content(f"rest {self.user_id} #{self.sent}"),
                "nonce": f"r{time.monotonic_ns()}"}
        with contextlib.suppress(RequestFailed):  # already in the stats
            call(self.client, "POST", self._messages(), "/channels/{id}/messages", self.token,
                 body)

    @task(4)
    def read_history(self) -> None:
        with contextlib.suppress(RequestFailed):  # already in the stats
            page = call(self.client, "GET", self._messages() + "?limit=50",
                        "/channels/{id}/messages?limit=50", self.token)
            # Newest first: the last message is where a scroll back starts.
            self.oldest = page[-1]["id"] if page else None

    @task(1)
    def scroll_back(self) -> None:
        if self.oldest is None:  # the channel has not been opened yet: open it
            self.read_history()
            return
        with contextlib.suppress(RequestFailed):  # already in the stats
            page = call(self.client, "GET", f"{self._messages()}?before={self.oldest}&limit=50",
                        "/channels/{id}/messages?before={id}&limit=50", self.token)
            # Keep scrolling further back next time; at the start of the channel, start over.
            self.oldest = page[-1]["id"] if page else None

    @task(1)
    def list_guilds(self) -> None:
        with contextlib.suppress(RequestFailed):  # already in the stats
            call(self.client, "GET", "/users/@me/guilds", "/users/@me/guilds", self.token)


# -- the gateway user ---------------------------------------------------------------------------


class SendFailed(Exception):
    """A MESSAGE_SEND_FAILED dispatch for one of our nonces."""


class Disconnected(Exception):
    """The connection was closed (by the server, or a socket error)."""


class GatewayConnection:
    """One websocket to the gateway, IDENTIFIED: a receive greenlet, a heartbeat greenlet."""

    def __init__(self, env: Environment, url: str, token: str) -> None:
        self.env, self.url, self.token = env, url, token
        self.ws: websocket.WebSocket | None = None
        self.user_id = ""
        self.seq: int | None = None
        self.pending: dict[str, AsyncResult] = {}
        self.closed: Exception | None = None  # set once the connection is gone
        self._closing = False
        self._stop = Event()
        self._greenlets: list[gevent.Greenlet] = []
        self._sends: collections.deque[float] = collections.deque()

    def _fire(self, name: str, ms: float, length: int, exc: Exception | None = None) -> None:
        self.env.events.request.fire(request_type="WS", name=name, response_time=ms,
                                     response_length=length, exception=exc, context={})

    def _send(self, payload: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send(orjson.dumps(payload).decode())

    def _read(self) -> tuple[int, bytes]:
        """One whole message as (opcode, data); pings answered. A CLOSE is returned as is
        (``recv_data`` would answer it, a second close frame when we started the close)."""
        assert self.ws is not None
        parts: list[bytes] = []
        opcode = 0
        while True:
            frame = self.ws.recv_frame()
            if frame.opcode == websocket.ABNF.OPCODE_PING:
                self.ws.pong(frame.data)
            elif frame.opcode == websocket.ABNF.OPCODE_CLOSE:
                return frame.opcode, frame.data
            elif frame.opcode != websocket.ABNF.OPCODE_PONG:
                if frame.opcode != websocket.ABNF.OPCODE_CONT:
                    opcode = frame.opcode
                parts.append(frame.data)
                if frame.fin:
                    return opcode, b"".join(parts)

    def connect(self, timeout: float) -> None:
        """Hello -> Identify -> READY, reported as ``connect -> READY``; raises on failure."""
        start = time.perf_counter()
        try:
            # No Origin header: a bot or app client sends none, and the gateway refuses
            # browser origins other than its own site's.
            self.ws = websocket.create_connection(self.url, timeout=timeout,
                                                  enable_multithread=True, suppress_origin=True)
            deadline = time.monotonic() + timeout
            hello = self._expect(lambda m: m["op"] == 10, deadline)
            self._send({"op": 2, "d": {
                "token": self.token, "intents": INTENTS,
                "properties": {"os": "linux", "browser": "locust", "device": "locust"}}})
            ready, length = self._expect(lambda m: m.get("t") == "READY", deadline,
                                         with_length=True)
        except Exception as e:
            self._fire(READY, (time.perf_counter() - start) * 1000, 0, e)
            self.close()
            raise
        self._fire(READY, (time.perf_counter() - start) * 1000, length)
        self.user_id = ready["d"]["user"]["id"]
        self.ws.settimeout(None)  # the receive greenlet blocks until the next frame
        interval_s = hello["d"]["heartbeat_interval"] / 1000
        self._greenlets = [gevent.spawn(self._receive), gevent.spawn(self._heartbeat, interval_s)]

    def _expect(self, match: Any, deadline: float, with_length: bool = False) -> Any:
        assert self.ws is not None
        while True:
            self.ws.settimeout(max(0.01, deadline - time.monotonic()))
            opcode, data = self._read()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise Disconnected(f"closed before READY: {_close_code(data)}")
            message = orjson.loads(data)
            if message.get("s") is not None:
                self.seq = message["s"]
            if match(message):
                return (message, len(data)) if with_length else message

    def _heartbeat(self, interval_s: float) -> None:
        # As Discord asks: the first after interval * random(), then every interval.
        delay = interval_s * random.random()
        while not self._stop.wait(delay):
            try:
                self._send({"op": 1, "d": self.seq})
            except Exception:
                return  # the receive greenlet reports the broken connection
            delay = interval_s

    def _receive(self) -> None:
        """Reads everything the server sends, so its buffer for us never fills: our echoes
        resolve their pending sends, every other MESSAGE_CREATE is counted and dropped."""
        try:
            while True:
                opcode, data = self._read()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = _close_code(data)
                    if not self._closing:
                        self.ws.send_close(code if 1000 <= code < 5000 else 1000)  # type: ignore[union-attr]
                    raise Disconnected(f"closed by the server: {code}")
                self._on_message(data)
        except Exception as e:
            self._lost(e)

    def _on_message(self, data: bytes) -> None:
        received_ns = time.monotonic_ns()
        message = orjson.loads(data)
        if message.get("s") is not None:
            self.seq = message["s"]
        op, name, d = message["op"], message.get("t"), message.get("d")
        if op == 0 and name == "MESSAGE_CREATE":
            DELIVERED[0] += 1
            waiter = self.pending.get(d.get("nonce") or "")
            if waiter is not None and d["author"]["id"] == self.user_id:
                # The nonce is the send time (monotonic ns, one clock for the machine).
                waiter.set(((received_ns - int(d["nonce"])) / 1e6, len(data)))
        elif op == 0 and name == "MESSAGE_SEND_FAILED":
            waiter = self.pending.get(d.get("nonce") or "")
            if waiter is not None:
                waiter.set_exception(SendFailed(f"{d.get('code')}: {d.get('message')}"))
        elif op in (7, 9):  # Reconnect, Invalid Session: this connection is over
            raise Disconnected(f"op {op}")

    def _lost(self, e: Exception) -> None:
        if self._closing:
            return
        self.closed = e if isinstance(e, Disconnected) else Disconnected(repr(e))
        self._fire(DISCONNECT, 0, 0, self.closed)
        for waiter in self.pending.values():
            waiter.set_exception(self.closed)
        self._stop.set()

    def _pace(self) -> None:
        """Wait until one more op 50 fits in ``_WS_SEND_BUDGET`` per ``_WS_WINDOW_S``."""
        while len(self._sends) >= _WS_SEND_BUDGET:
            wait = self._sends[0] + _WS_WINDOW_S - time.monotonic()
            if wait > 0:
                gevent.sleep(wait)
            self._sends.popleft()

    def send_message(self, channel_id: str, content: str, timeout: float) -> None:
        """op 50, then wait for its MESSAGE_CREATE echo; reported as ``op 50 send -> ...``."""
        self._pace()
        nonce = str(time.monotonic_ns())  # the send time: the echo gives the latency
        waiter = self.pending[nonce] = AsyncResult()
        self._sends.append(time.monotonic())
        try:
            self._send({"op": 50, "d": {"channel_id": channel_id, "content": content,
                                        "nonce": nonce}})
            ms, length = waiter.get(timeout=timeout)
        except gevent.Timeout:
            self._fire(ECHO, timeout * 1000, 0, TimeoutError(f"no echo within {timeout:g} s"))
        except Exception as e:
            self._fire(ECHO, (time.monotonic_ns() - int(nonce)) / 1e6, 0, e)
        else:
            self._fire(ECHO, ms, length)
        finally:
            del self.pending[nonce]

    def close(self) -> None:
        """Close 1000, wait briefly for the server's close frame, then drop the socket."""
        self._closing = True
        self._stop.set()
        ws = self.ws
        if ws is None:
            return
        if ws.connected and self.closed is None:
            try:
                ws.send_close(1000, b"locust user stopped")
            except Exception:
                pass
            receiver = self._greenlets[0] if self._greenlets else None
            if receiver is not None:
                receiver.join(timeout=2)  # it returns on the server's close frame
        ws.shutdown()
        gevent.killall(self._greenlets, block=False)


def _close_code(data: bytes) -> int:
    return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005


class GatewayChatter(User):
    """A person on a gateway client: sends with op 50 and sees every message of the guild."""

    def wait_time(self) -> float:
        return _think(self.environment)

    def on_start(self) -> None:
        self.conn: GatewayConnection | None = None
        self.http = FastHttpSession(base_url=self.host,
                                    request_event=self.environment.events.request, user=self)
        try:
            self.token, self.user_id = register(self.http)
            self.channel_id = GUILD.join(self.http, self.token)
            self.url = GUILD.gateway_url(self.http, self.environment)
            self._connect()
        except (RequestFailed, OSError, websocket.WebSocketException, Disconnected) as e:
            raise StopUser() from e
        self.sent = 0

    def _connect(self) -> None:
        self.conn = GatewayConnection(self.environment, self.url, self.token)
        self.conn.connect(_option(self.environment, "echo_timeout", 10.0))

    @task
    def send_message(self) -> None:
        if self.conn is None or self.conn.closed is not None:
            # The close was reported already; a client reconnects (IDENTIFY again).
            try:
                self._connect()
            except Exception:
                return  # reported as a failed READY
        assert self.conn is not None
        self.sent += 1
        self.conn.send_message(self.channel_id, _content(f"ws {self.user_id} #{self.sent}"),
                               _option(self.environment, "echo_timeout", 10.0))

    def on_stop(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
