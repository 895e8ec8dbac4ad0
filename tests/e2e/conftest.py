"""Fixtures for the browser tests: a real server (the ``discord-arch serve`` binary) and
Debian's Chromium driven by Playwright.

The server runs as a subprocess, as deployed: its own process, its own event loop, SQLite
in a temporary directory, the HTTP API (which serves ``web/``) and the gateway on free ports.
It can be stopped and started again on the same ports and data, to test reconnection.

Chromium is the system one (``apt-get install chromium``), never a browser Playwright
downloads. Without it the tests fail, saying what to install; they are never skipped.
Screenshots (and the server's log) go to ``test-artifacts/``; a failing test also leaves a
screenshot of every page it had open there.

What another user does must show within ``LIVE_MS`` of the action; page loads and account
creation get the more patient ``UI_MS``. The ``rest`` fixture and the page helpers at the end
are shared by every test module here.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from tests.integration.gateway_client import free_port

CHROMIUM = "/usr/bin/chromium"
# Flags for a headless browser with nothing of its own going on in the background: no
# sandbox (CI runs as root), no GPU, no QUIC, no first-run, sync or component-update traffic.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
VIEWPORT = {"width": 1280, "height": 800}


class ServerProcess:
    """``python -m gateway.cli serve`` on fixed free ports over one data directory.

    Args:
        data_dir: SQLite directory (kept across restarts).
        log: file the server's output is appended to.
        env: extra environment (``DISCORD_ARCH_*`` settings).
    """

    def __init__(self, data_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log = log
        self.extra_env = env or {}
        self.http_port = free_port()
        self.gateway_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        env = {
            **os.environ,
            # Cheap password hashing, and rate limits that a scripted user cannot hit: the
            # tests time deliveries and must not wait out a 429.
            "DISCORD_ARCH_ARGON2_TIME_COST": "1",
            "DISCORD_ARCH_ARGON2_MEMORY_KIB": "64",
            "DISCORD_ARCH_RATELIMIT_ROUTE_LIMIT": "1000",
            "DISCORD_ARCH_RATELIMIT_GLOBAL_PER_S": "1000",
            # No ops port: the default 9090 may be taken on a shared machine, and a taken
            # port stops the start (gateway.ports).
            "DISCORD_ARCH_METRICS_PORT": "0",
            **self.extra_env,
        }
        cmd = [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1",
               "--data-dir", str(self.data_dir), "--http-port", str(self.http_port),
               "--gateway-port", str(self.gateway_port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                         cwd=Path(__file__).resolve().parents[2])
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self._tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/v10/gateway", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        pytest.fail(f"the server did not answer within {START_TIMEOUT_S} s:\n{self._tail()}")

    def stop(self) -> None:
        """SIGTERM (the server drains: op 7 to every session), then wait; SIGKILL if stuck."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"the server ignored SIGTERM for {STOP_TIMEOUT_S} s")

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


class TcpProxy:
    """A TCP relay from a free local port to ``target_port`` whose connections can be cut,
    as a network failure would: no close frame, the browser sees 1006, the server a lost
    connection (its session stays resumable). Threads, to stay out of Playwright's loop.

    Attributes:
        port: where clients connect.
        refuse: while True, new connections are closed at once (the network is down).
    """

    def __init__(self, target_port: int = 0) -> None:
        self.target_port = target_port
        self.refuse = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                if self.refuse:
                    raise ConnectionRefusedError
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every relayed connection (shutdown wakes the threads blocked in recv)."""
        with self._lock:
            conns, self._conns = self._conns, set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium", pytrace=False)
    return CHROMIUM


# Module scope, not session: while Playwright's sync API is started, its event loop counts
# as running in this thread, and every asyncio test after it would fail to start its own.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    # launch() gives the browser a fresh temporary profile (user-data-dir) and removes it at
    # close; every context below is an isolated profile of its own (storage, cookies).
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def gateway_proxy() -> Iterator[TcpProxy]:
    """A :class:`TcpProxy`; the ``server`` fixture then gives it as the gateway's public URL."""
    proxy = TcpProxy()
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """The server, started; with ``gateway_proxy`` requested, clients reach the gateway (and
    resume) through the proxy."""
    ARTIFACTS.mkdir(exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="discord-arch-e2e-"))
    log = ARTIFACTS / f"{request.node.name}.server.log"
    log.unlink(missing_ok=True)
    proxy = request.getfixturevalue("gateway_proxy") if "gateway_proxy" in request.fixturenames else None
    env = {"DISCORD_ARCH_PUBLIC_GATEWAY_URL": f"ws://127.0.0.1:{proxy.port}"} if proxy else {}
    server = ServerProcess(data, log, env)
    if proxy is not None:
        proxy.target_port = server.gateway_port
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()
# What Chromium itself logs when a connection fails (a server restart does that on purpose);
# the app's own errors are anything else at level "error".
_NETWORK_NOISE = ("WebSocket connection to", "Failed to load resource")


def _is_app_error(kind: str, text: str) -> bool:
    return kind == "error" and not text.startswith(_NETWORK_NOISE)


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``new_page(name)``: a page in a context of its own (one user each). Console errors
    and uncaught exceptions in a page fail the test; on failure every page is screenshot."""
    pages: dict[str, Page] = {}
    errors: list[str] = []

    def make(name: str) -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{name}: uncaught {e}"))
        page.on("console", lambda m: _is_app_error(m.type, m.text)
                and errors.append(f"{name}: console {m.text}"))
        pages[name] = page
        return page

    yield make
    if request.node.stash.get(_FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        for name, page in pages.items():
            if not page.is_closed():
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"))
    for page in pages.values():
        page.context.close()  # a no-op for a context the test closed itself
    assert not errors, "\n".join(errors)


# -- for the tests: timeouts, REST shortcuts to set the scene, what a person does in the page --

LIVE_MS = 1000
UI_MS = 10_000
PASSWORD = "correct horse"
TOKEN_KEY = "discord-arch.token"

_names = itertools.count(1)


def _name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


# -- REST shortcuts, for setting the scene quickly ------------------------------------------


class Rest:
    """The REST API through Playwright's request context (no browser involved)."""

    def __init__(self, request: APIRequestContext) -> None:
        self.request = request

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        headers = {"Authorization": token} if token else {}
        r = self.request.fetch("/api/v10" + path, method=method, headers=headers, data=body)
        assert r.ok, f"{method} {path}: {r.status} {r.text()}"
        return r.json() if r.status != 204 else None

    def register(self, name: str) -> tuple[str, str]:
        body = self.call("POST", "/auth/register", body={"username": name, "password": PASSWORD})
        return body["token"], body["user"]["id"]


@pytest.fixture
def rest(playwright: Playwright, server: ServerProcess) -> Iterator[Rest]:
    request = playwright.request.new_context(base_url=server.url)
    try:
        yield Rest(request)
    finally:
        request.dispose()


# -- what a person does in the page -----------------------------------------------------------


def register(page: Page, url: str, username: str) -> None:
    """Open ``url`` and create an account in the log-in screen it shows."""
    page.goto(url)
    expect(page.get_by_label("Username")).to_be_visible(timeout=UI_MS)
    if page.get_by_role("heading", name="Welcome back!").is_visible():
        page.get_by_role("button", name="Register", exact=True).click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form.auth-card button[type=submit]").click()
    expect(page.get_by_role("navigation", name="Servers")).to_be_visible(timeout=UI_MS)


def log_in_with_token(page: Page, url: str, token: str) -> None:
    page.goto(url + "/")
    page.evaluate("([key, token]) => localStorage.setItem(key, token)", [TOKEN_KEY, token])
    page.reload()
    expect(page.get_by_role("navigation", name="Servers")).to_be_visible(timeout=UI_MS)


def send(page: Page, text: str) -> None:
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")


def create_channel(page: Page, name: str) -> None:
    page.get_by_role("button", name="Create channel in Text channels").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Channel name").fill(name)
    dialog.get_by_role("button", name="Create channel").click()


def message(page: Page, text: str) -> Any:
    """The confirmed (not pending) message whose content contains ``text``."""
    return page.locator(".message:not(.pending)").filter(
        has=page.locator(".message-content", has_text=text))


def user_id_of(page: Page) -> str:
    """The logged-in user's id, asked of the API with the page's own token."""
    return str(page.evaluate("""async (key) => {
        const r = await fetch('/api/v10/users/@me', {headers: {Authorization: localStorage.getItem(key)}});
        return (await r.json()).id;
    }""", TOKEN_KEY))


def guild_of_two(rest: Rest, name: str) -> tuple[str, str, str, str]:
    """Alice's guild ``name`` with Bob joined by invite: (alice token, id, bob token, id)."""
    alice_token, alice_id = rest.register(_name("alice"))
    bob_token, bob_id = rest.register(_name("bob"))
    guild = rest.call("POST", "/guilds", alice_token, {"name": name})
    channel = rest.call("GET", f"/guilds/{guild['id']}/channels", alice_token)[0]
    invite = rest.call("POST", f"/channels/{channel['id']}/invites", alice_token, {})
    rest.call("POST", f"/invites/{invite['code']}", bob_token)
    return alice_token, alice_id, bob_token, bob_id


def wait_live(page: Page) -> None:
    """The gateway session is READY (the connection banner is gone, my status is online)."""
    expect(page.locator(".connection-banner")).to_be_hidden(timeout=UI_MS)
    expect(page.locator(".user-status")).to_have_text("online", timeout=UI_MS)


def capture_frames(page: Page) -> tuple[list[str], list[str]]:
    """The gateway frames ``page`` sends and receives from now on, as text (two lists that
    grow as the page's websockets carry frames)."""
    sent: list[str] = []
    received: list[str] = []
    page.on("websocket", lambda ws: (
        ws.on("framesent", lambda f: sent.append(str(f))),
        ws.on("framereceived", lambda f: received.append(str(f))),
    ))
    return sent, received


def open_chat(page: Page, url: str, token: str) -> None:
    """Log in with ``token`` and wait until #general is open and the session is live."""
    log_in_with_token(page, url, token)
    expect(page.locator(".chat-title")).to_have_text("# general", timeout=UI_MS)
    wait_live(page)
