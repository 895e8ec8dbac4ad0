"""Tokens and passwords.

Tokens look like Discord's (``base64(user id).random``) and are unguessable: 32 random bytes.
Only their SHA-256 is stored, so a database leak reveals no usable token; SHA-256 (not Argon2)
is right here because the secret has 256 bits of entropy, and it keeps the lookup cheap.
Lookups are cached per worker for ``token_cache_ttl_ms`` and in the shared cache, so a burst of
requests does not reach the database. Passwords use Argon2id in a thread pool, off the loop.

A revocation made in another process (``discord-arch admin``) reaches each worker as a
``TOKENS_REVOKED`` event (``core.relay``): the worker forgets what it cached for the user and,
for as long as a shared-cache entry made before can live, asks the store instead of the shared
cache for that user's tokens (the in-process shared cache of the embedded default cannot be
reached by the other process, and is not searchable by user). A revocation made on a worker (a
logout, a password change) is relayed the same way as ``TOKEN_HASHES_REVOKED``, naming the
tokens: every worker forgets those, at once rather than when its cache expires.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.events import TOKEN_HASHES_REVOKED, TOKENS_REVOKED, Event
from core.models import User
from core.relay import relay
from core.store.base import MetaStore
from core.store.cache import Cache

__all__ = ["Passwords", "TokenAuth", "hash_token", "new_token"]

_LOCAL_CACHE_MAX = 10_000
# Shared-cache entries live longer than local ones; revoking deletes them explicitly.
_SHARED_TTL_MS = 300_000
# Expired local entries forgotten per entry set: more than one, so they go faster than they come.
_EXPIRED_PER_SET = 4


def new_token(user_id: int) -> str:
    """A fresh token for ``user_id``: ``base64url(id).secret`` (43 url-safe secret chars)."""
    prefix = base64.urlsafe_b64encode(str(user_id).encode()).rstrip(b"=").decode()
    return f"{prefix}.{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _drop_expired(entries: OrderedDict[Any, tuple[float, Any]], now: float) -> None:
    """Forget a few expired entries from the front of a local cache (kept in expiry order:
    each entry is set with the same ttl and moved to the end). Without it an expired entry
    stayed until read or pushed out by 10,000 newer ones: an idle worker kept a token and a
    ``User`` per session it ever identified (issue 16, idle memory)."""
    for _ in range(_EXPIRED_PER_SET):
        if not entries:
            return
        first = next(iter(entries.values()))
        if first[0] > now:
            return
        entries.popitem(last=False)


class TokenAuth:
    """Resolves tokens to user ids: local TTL cache → shared cache → store.

    Args:
        meta: the metadata store holding token hashes.
        cache: the shared cache (Redis with several workers, in-process otherwise).
        ttl_ms: how long this worker trusts a lookup; also the longest a token revoked on
            another worker keeps working here.
    """

    def __init__(self, meta: MetaStore, cache: Cache, ttl_ms: int) -> None:
        self._meta = meta
        self._cache = cache
        self._ttl = ttl_ms / 1000
        self._local: OrderedDict[bytes, tuple[float, int]] = OrderedDict()
        self._users: OrderedDict[int, tuple[float, User]] = OrderedDict()
        # user id -> monotonic time this worker learned its tokens were revoked, oldest
        # first; kept while a shared-cache entry made before may still live.
        self._revoked: OrderedDict[int, float] = OrderedDict()
        # The same for single tokens (logouts, password changes), by token hash.
        self._revoked_keys: OrderedDict[bytes, float] = OrderedDict()

    async def issue(self, user_id: int) -> str:
        token = new_token(user_id)
        await self._meta.add_token(hash_token(token), user_id, int(time.time() * 1000))
        return token

    async def resolve(self, token: str) -> int | None:
        """The user id for ``token``, or None if unknown, revoked or its user disabled."""
        key = hash_token(token)
        now = time.monotonic()
        hit = self._local.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        user_id = await self._cache.token_get(key)
        if user_id is not None and (self._distrusted(user_id, now) or key in self._revoked_keys):
            user_id = None  # the entry may predate the user's revocation: ask the store
        if user_id is None:
            user_id = await self._meta.resolve_token(key)
            if user_id is None:
                return None
            await self._cache.token_set(key, user_id, _SHARED_TTL_MS)
        key_revoked_at = self._revoked_keys.get(key)
        if self.revoked_since(user_id, now) or (key_revoked_at is not None
                                                 and key_revoked_at >= now):
            # The user's tokens (or this one) were revoked while this lookup awaited: what it
            # read may predate that. Ask the store again and cache nothing.
            await self._cache.token_delete(key)
            return await self._meta.resolve_token(key)
        self._local[key] = (now + self._ttl, user_id)
        self._local.move_to_end(key)
        if len(self._local) > _LOCAL_CACHE_MAX:
            self._local.popitem(last=False)
        _drop_expired(self._local, now)
        return user_id

    async def resolve_user(self, token: str) -> User | None:
        """The user ``token`` belongs to; the record is cached like the token (``ttl_ms``),
        so an authenticated request costs no query while both are fresh."""
        user_id = await self.resolve(token)
        if user_id is None:
            return None
        now = time.monotonic()
        hit = self._users.get(user_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        user = await self._meta.get_user(user_id)
        if user is not None:
            self._users[user_id] = (now + self._ttl, user)
            self._users.move_to_end(user_id)
            if len(self._users) > _LOCAL_CACHE_MAX:
                self._users.popitem(last=False)
            _drop_expired(self._users, now)
        return user

    def forget_user(self, user_id: int) -> None:
        """Drop the cached record after the user changed (other workers catch up in ``ttl_ms``)."""
        self._users.pop(user_id, None)

    async def revoke_user(self, user_id: int) -> int:
        """Revoke every token of ``user_id``; how many. Forgotten by the store, then by the
        shared cache and this worker's; other workers learn it from a ``TOKENS_REVOKED``
        event the caller publishes or relays."""
        revoked = await self._meta.revoke_user_tokens(user_id)
        for key in revoked:
            await self._cache.token_delete(key)
        self.forget_tokens(user_id)
        return len(revoked)

    def on_events(self, events: Sequence[Event]) -> None:
        """Bus subscriber: a ``TOKENS_REVOKED`` makes this worker forget the user's tokens, a
        ``TOKEN_HASHES_REVOKED`` the tokens it names."""
        for event in events:
            if event.name == TOKENS_REVOKED:
                self.forget_tokens(int(event.data["user_id"]))
            elif event.name == TOKEN_HASHES_REVOKED:
                self.forget_keys([bytes.fromhex(h) for h in event.data["hashes"]])

    def forget_tokens(self, user_id: int) -> None:
        """Stop trusting anything cached about ``user_id``'s tokens, at once.

        Its entries leave the local cache (a scan: revocations are rare, the cache bounded),
        and the shared cache is not asked about the user's tokens for ``_SHARED_TTL_MS``:
        its entries cannot be found by user, and one made before the revocation may live
        that long. Their lookups go to the store meanwhile, which knows.
        """
        now = time.monotonic()
        for key in [k for k, (_, uid) in self._local.items() if uid == user_id]:
            del self._local[key]
        self._users.pop(user_id, None)
        self._revoked.pop(user_id, None)
        self._revoked[user_id] = now
        horizon = now - _SHARED_TTL_MS / 1000
        while self._revoked and next(iter(self._revoked.values())) < horizon:
            self._revoked.popitem(last=False)

    def forget_keys(self, keys: Sequence[bytes]) -> None:
        """Stop trusting anything cached about the tokens hashed to ``keys``, at once: as
        :meth:`forget_tokens` does for a user's, for these tokens only."""
        now = time.monotonic()
        for key in keys:
            self._local.pop(key, None)
            self._revoked_keys.pop(key, None)
            self._revoked_keys[key] = now
        horizon = now - _SHARED_TTL_MS / 1000
        while self._revoked_keys and next(iter(self._revoked_keys.values())) < horizon:
            self._revoked_keys.popitem(last=False)

    def revoked_since(self, user_id: int, since: float) -> bool:
        """Whether this worker learned of a revocation of ``user_id``'s tokens at or after
        ``since`` (``time.monotonic()``): a lookup made before may be stale."""
        at = self._revoked.get(user_id)
        return at is not None and at >= since

    def _distrusted(self, user_id: int, now: float) -> bool:
        at = self._revoked.get(user_id)
        return at is not None and now - at < _SHARED_TTL_MS / 1000

    async def revoke(self, token: str) -> bool:
        """Revoke ``token`` (a logout); whether it was valid. See :meth:`_retire`."""
        key = hash_token(token)
        if not await self._meta.revoke_token(key):
            return False
        await self._retire([key])
        return True

    async def revoke_others(self, user_id: int, keep: str) -> int:
        """Revoke every token of ``user_id`` but ``keep`` (a password change); how many. See
        :meth:`_retire`."""
        revoked = await self._meta.revoke_user_tokens(user_id, hash_token(keep))
        if revoked:
            await self._retire(revoked)
        return len(revoked)

    async def _retire(self, keys: list[bytes]) -> None:
        """Tokens the store has just revoked: out of the shared cache, out of this worker's
        (a lookup in flight asks the store again), and relayed as ``TOKEN_HASHES_REVOKED`` so
        that every other worker forgets them within ``core.relay.RELAY_POLL_S``, however long
        its cache would have trusted them. The store forgets first: a lookup racing with the
        revocation cannot cache the token again after it is forgotten here."""
        for key in keys:
            await self._cache.token_delete(key)
        self.forget_keys(keys)
        event = Event(TOKEN_HASHES_REVOKED, {"hashes": [key.hex() for key in keys]})
        await relay(self._meta, [event], int(time.time() * 1000))


class Passwords:
    """Argon2id hashing on a small thread pool (hashing costs tens of ms of CPU).

    Args:
        time_cost: Argon2 iterations.
        memory_kib: Argon2 memory in KiB.
        threads: pool size; bounds the CPU and memory a login burst can take.
    """

    def __init__(self, time_cost: int, memory_kib: int, threads: int = 2) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than the configured ones (raised
        ``argon2_time_cost``/``argon2_memory_kib``): the caller that just verified the
        password hashes it again, so hashes follow the config one login at a time."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    async def verify(self, stored: str | None, password: str) -> bool:
        """Check ``password`` against ``stored``; with ``stored`` None (unknown user) a dummy
        hash is checked instead, so a login takes as long whether or not the user exists."""
        loop = asyncio.get_running_loop()
        if stored is None:
            if self._dummy is None:
                self._dummy = await loop.run_in_executor(self._pool, self._hasher.hash, "x" * 16)
            await loop.run_in_executor(self._pool, _verify_quietly, self._hasher, self._dummy)
            return False
        try:
            return await loop.run_in_executor(self._pool, self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _verify_quietly(hasher: PasswordHasher, stored: str) -> None:
    try:
        hasher.verify(stored, "not the password")
    except VerificationError:
        pass
