"""``core.auth.TokenAuth`` and revocations made by another process (``TOKENS_REVOKED``).

The admin CLI revokes in the store and deletes what it can reach of the shared cache; a
worker learns of it from the relay and must then stop trusting everything it cached about the
user's tokens: its local entries, the shared cache's entries (which it cannot find by user,
and which the CLI cannot reach at all on the embedded default), and a lookup that was in
flight when the revocation arrived.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from core.auth import TokenAuth, hash_token
from core.events import TOKEN_HASHES_REVOKED, TOKENS_REVOKED, Event
from core.relay import decode
from core.store.base import MetaStore
from core.store.cache import MemoryCache


class FakeMeta:
    """The two token methods of a store; ``gate``, when set, holds lookups until released."""

    def __init__(self) -> None:
        self.tokens: dict[bytes, int] = {}
        self.lookups = 0
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()  # a lookup waits at the gate

    async def add_token(self, token_hash: bytes, user_id: int, created_at: int) -> None:
        self.tokens[token_hash] = user_id

    async def resolve_token(self, token_hash: bytes) -> int | None:
        self.lookups += 1
        found = self.tokens.get(token_hash)
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        return found


def make() -> tuple[TokenAuth, FakeMeta, MemoryCache]:
    meta, cache = FakeMeta(), MemoryCache()
    return TokenAuth(cast(MetaStore, meta), cache, ttl_ms=10_000), meta, cache


def revoked(user_id: int) -> list[Event]:
    return [Event(TOKENS_REVOKED, {"user_id": str(user_id)})]


async def test_a_revocation_elsewhere_drops_local_and_shared_entries_of_the_user() -> None:
    auth, meta, cache = make()
    alice, bob = await auth.issue(1), await auth.issue(2)
    assert (await auth.resolve(alice), await auth.resolve(bob)) == (1, 2)
    looked_up = meta.lookups
    # Another process revokes alice's token: the store forgets it, this worker's caches do not.
    del meta.tokens[hash_token(alice)]
    assert await auth.resolve(alice) == 1 and meta.lookups == looked_up  # cached
    auth.on_events(revoked(1))
    assert await auth.resolve(alice) is None
    # The shared cache still holds alice's entry; it is not trusted for her any more.
    assert await cache.token_get(hash_token(alice)) == 1
    assert await auth.resolve(alice) is None
    assert await auth.resolve(bob) == 2 and meta.lookups == looked_up + 2  # bob: cached


async def test_a_token_issued_after_the_revocation_resolves() -> None:
    auth, meta, _ = make()
    auth.on_events(revoked(1))
    token = await auth.issue(1)
    assert await auth.resolve(token) == 1
    assert await auth.resolve(token) == 1


async def test_a_lookup_in_flight_during_the_revocation_asks_the_store_again() -> None:
    auth, meta, _ = make()
    token = await auth.issue(1)
    meta.gate = asyncio.Event()
    lookup = asyncio.create_task(auth.resolve(token))
    await meta.waiting.wait()
    # The store answered "user 1" (read before the revocation committed), then:
    del meta.tokens[hash_token(token)]
    auth.on_events(revoked(1))
    meta.gate.set()
    assert await lookup is None
    assert meta.lookups == 2
    assert await auth.resolve(token) is None


def test_revoked_since_tells_an_identify_its_lookup_may_be_stale() -> None:
    auth, _, _ = make()
    started = time.monotonic()
    assert not auth.revoked_since(1, started)
    auth.forget_tokens(1)
    assert auth.revoked_since(1, started)
    assert not auth.revoked_since(1, time.monotonic() + 1)
    assert not auth.revoked_since(2, started)


def test_other_events_are_ignored() -> None:
    auth, _, _ = make()
    auth.on_events([Event("GUILD_DELETE", {"id": "1"})])
    assert not auth.revoked_since(1, 0.0)


# -- one token revoked on another worker (a logout, a password change) ----------------------------


def hashes_revoked(*tokens: str) -> list[Event]:
    return [Event(TOKEN_HASHES_REVOKED, {"hashes": [hash_token(t).hex() for t in tokens]})]


async def test_a_logout_elsewhere_drops_that_token_only() -> None:
    auth, meta, cache = make()
    phone, laptop = await auth.issue(1), await auth.issue(1)
    assert (await auth.resolve(phone), await auth.resolve(laptop)) == (1, 1)
    looked_up = meta.lookups
    del meta.tokens[hash_token(phone)]  # revoked in the store by another worker
    assert await auth.resolve(phone) == 1  # still in this worker's cache
    auth.on_events(hashes_revoked(phone))
    assert await auth.resolve(phone) is None
    # The shared cache's entry (made before) is not trusted for that token any more.
    await cache.token_set(hash_token(phone), 1, 60_000)
    assert await auth.resolve(phone) is None
    assert meta.lookups == looked_up + 2
    # The user's other token is still cached here: no store lookup, no 4004 for an identify.
    assert await auth.resolve(laptop) == 1 and meta.lookups == looked_up + 2
    assert not auth.revoked_since(1, 0.0)


async def test_a_lookup_in_flight_during_a_token_revocation_asks_the_store_again() -> None:
    auth, meta, _ = make()
    token = await auth.issue(1)
    meta.gate = asyncio.Event()
    lookup = asyncio.create_task(auth.resolve(token))
    await meta.waiting.wait()
    del meta.tokens[hash_token(token)]
    auth.on_events(hashes_revoked(token))
    meta.gate.set()
    assert await lookup is None
    assert await auth.resolve(token) is None


class RelayingMeta(FakeMeta):
    """Also the store methods a revocation on this worker uses, and the relay's."""

    def __init__(self) -> None:
        super().__init__()
        self.relayed: list[str] = []

    async def revoke_token(self, token_hash: bytes) -> bool:
        return self.tokens.pop(token_hash, None) is not None

    async def revoke_user_tokens(self, user_id: int, keep: bytes | None = None) -> list[bytes]:
        gone = [k for k, u in self.tokens.items() if u == user_id and k != keep]
        for key in gone:
            del self.tokens[key]
        return gone

    async def relay_events(self, events: list[str], now_ms: int, keep_ms: int) -> int:
        self.relayed += events
        return len(self.relayed)


async def test_a_revocation_here_is_relayed_naming_the_tokens() -> None:
    meta = RelayingMeta()
    auth = TokenAuth(cast(MetaStore, meta), MemoryCache(), ttl_ms=10_000)
    a, b, keep = await auth.issue(1), await auth.issue(1), await auth.issue(1)
    for token in (a, b, keep):
        assert await auth.resolve(token) == 1
    assert await auth.revoke(a) is True
    assert await auth.revoke(a) is False  # already revoked: nothing more to tell
    assert await auth.revoke_others(1, keep=keep) == 1
    events = [decode(text) for text in meta.relayed]
    assert [(e.name, e.data) for e in events] == [
        (TOKEN_HASHES_REVOKED, {"hashes": [hash_token(a).hex()]}),
        (TOKEN_HASHES_REVOKED, {"hashes": [hash_token(b).hex()]}),
    ]
    assert (await auth.resolve(a), await auth.resolve(b), await auth.resolve(keep)) == (
        None, None, 1)


async def test_expired_local_entries_go_when_new_ones_are_set() -> None:
    # Not only when read again or pushed out by 10,000 newer ones: an idle worker would keep
    # a token per session it ever identified (issue 16, idle memory).
    meta, cache = FakeMeta(), MemoryCache()
    auth = TokenAuth(cast(MetaStore, meta), cache, ttl_ms=0)  # every entry expires at once
    tokens = [await auth.issue(i) for i in range(1, 7)]
    for token in tokens:
        assert await auth.resolve(token) is not None
    assert not auth._local  # noqa: SLF001 - each expired as it was set, and went
    fresh = TokenAuth(cast(MetaStore, meta), cache, ttl_ms=10_000)
    for token in tokens:
        await fresh.resolve(token)
    assert len(fresh._local) == 6  # noqa: SLF001 - unexpired entries stay
