"""The message router's write path: batch, write durably, then answer and publish.

Every send (REST or gateway) becomes a :class:`Message` with a fresh snowflake and is handed to
:meth:`MessageRouter.submit`. One writer task per worker takes everything queued since its last
write (up to ``batch_max_messages``), optionally lingers ``batch_max_delay_ms`` for more, and
writes it with one ``insert_many``. While a write is in flight the next batch fills, so batches
grow with load on their own (group commit) and cost nothing at low rates. Only after the write
returns are the senders answered and the events published, in id order: durable before visible.

A batch is many senders' messages in one write, so one row the store refuses must not fail the
others. When a write fails for a reason other than the store being down
(:class:`~core.store.base.StoreUnavailable`, which fails the whole batch: every retry would
fail too), the batch is bisected: each half is written again, a failing half split again,
until the rows the store refuses are alone; only their senders get :class:`WriteFailed`.
One bad row in a batch of ``n`` costs about ``2·log2(n)`` extra writes, and at most
``ISOLATE_MAX_WRITES`` are spent on one batch (then what is still unresolved fails), so a
store that fails every write does not hold the writer for long. Every store's
``insert_many`` is atomic or accepts a retried row (``core.store.base``), so writing a row
again is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from core.events import Bus, Event
from core.models import Message
from core.store.base import MessageStore, StoreUnavailable
from core.store.cache import Cache
from core.timeline import DURABLE, QUEUED, WRITING, Timeline, Trace

__all__ = ["ISOLATE_MAX_WRITES", "MessageRouter", "RouterClosed", "WriteFailed"]

logger = logging.getLogger(__name__)

# How long an `enforce_nonce` nonce is remembered (Discord: "the past few minutes").
NONCE_TTL_MS = 300_000
# How long a retry waits for the first send with its nonce to become durable elsewhere.
_NONCE_WAIT_S = 5.0
# Extra writes one failed batch may spend isolating the rows the store refuses (bisection):
# enough for a few bad rows in a full batch of 256 (one costs 16).
ISOLATE_MAX_WRITES = 64


class WriteFailed(Exception):
    """The batch holding this message could not be written; nothing was published."""


class RouterClosed(Exception):
    """The router is draining or closed and takes no new messages."""


@dataclass(slots=True)
class _Pending:
    message: Message
    events: Sequence[Event]
    done: asyncio.Future[None]
    trace: Trace | None = None


class MessageRouter:
    """Batches message writes for one worker.

    Args:
        store: where messages are written.
        bus: where their events are published once durable.
        cache: the shared cache, for ``enforce_nonce`` claims across workers.
        max_batch: messages per ``insert_many`` at most.
        max_delay_ms: how long a batch that is not full waits for more (0: none; batches
            then form only from what arrives while the previous write is in flight).
        max_pending: messages queued but not yet written; ``submit`` waits beyond it, which
            pushes back on senders instead of growing memory.
        on_batch: called after each write with ``(messages, seconds, error or None)``, for
            metrics (``core.metrics.Metrics.batch``); once per batch, never per message.
        after_write: awaited with the messages of each batch once they are durable, before
            their events are published (the mention index, ``core.mentions``): once per
            batch, never per message; it must not raise (the messages are written already).
        timeline: the worker's sampled per-message timeline (``core.timeline``): the stamps
            of a traced message from queued to published; off, one test per batch.
    """

    def __init__(
        self,
        store: MessageStore,
        bus: Bus,
        cache: Cache,
        *,
        max_batch: int = 256,
        max_delay_ms: float = 0.0,
        max_pending: int = 10_000,
        on_batch: Callable[[int, float, BaseException | None], None] | None = None,
        after_write: Callable[[Sequence[Message]], Awaitable[None]] | None = None,
        timeline: Timeline | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._cache = cache
        self._max_batch = max_batch
        self._delay = max_delay_ms / 1000
        self._queue: asyncio.Queue[_Pending] | None = None
        self._max_pending = max_pending
        self._task: asyncio.Task[None] | None = None
        self._inflight_nonces: dict[tuple[int, int, str], asyncio.Future[None]] = {}
        self._closing = False
        self._on_batch = on_batch
        self._after_write = after_write
        self._timeline = timeline if timeline is not None and timeline.every else None
        # Counters read by metrics and benchmarks.
        self.batches = 0
        self.messages = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(self._max_pending)
        self._task = asyncio.create_task(self._run(), name="message-router")

    async def aclose(self) -> None:
        """Stop taking messages, write what is queued, then stop the writer."""
        self._closing = True
        if self._task is None or self._queue is None:
            return
        await self._queue.join()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def submit(
        self, message: Message, events: Sequence[Event] = (), *, enforce_nonce: bool = False,
        trace: Trace | None = None,
    ) -> Message | None:
        """Queue ``message`` and return once it is durable and ``events`` are published.

        Args:
            message: the new message, id already assigned.
            events: what to publish once it is durable (its MESSAGE_CREATE).
            enforce_nonce: Discord's ``enforce_nonce``: if the author already sent a message
                with this nonce in this channel recently, nothing is written.

        Returns:
            None when written; the earlier message when ``enforce_nonce`` found one.

        Raises:
            WriteFailed: its batch failed to write.
            RouterClosed: the worker is draining.
        """
        if self._closing or self._queue is None:
            raise RouterClosed
        key = None
        if enforce_nonce and message.nonce is not None:
            key = (message.channel_id, message.author_id, message.nonce)
            earlier = await self._earlier_with_nonce(key, message.id)
            if earlier is not None:
                return earlier
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if key is not None:
            self._inflight_nonces[key] = done
        if trace is not None:
            trace.stamp(QUEUED)
        try:
            await self._queue.put(_Pending(message, events, done, trace))
            await done
        finally:
            if key is not None:
                self._inflight_nonces.pop(key, None)
        return None

    async def _earlier_with_nonce(self, key: tuple[int, int, str], new_id: int) -> Message | None:
        channel_id, author_id, nonce = key
        local = self._inflight_nonces.get(key)
        if local is None:
            claimed = await self._cache.claim_nonce(
                f"nonce:{channel_id}:{author_id}:{nonce}", new_id, NONCE_TTL_MS
            )
            if claimed is None or claimed == new_id:
                return None
            # Claimed by a send on this or another worker: it is durable or about to be.
            return await self._wait_durable(channel_id, claimed)
        await asyncio.shield(local)
        return await self._store.find_by_nonce(channel_id, author_id, nonce, 0)

    async def _wait_durable(self, channel_id: int, message_id: int) -> Message | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _NONCE_WAIT_S
        delay = 0.005
        while True:
            found = await self._store.get_message(channel_id, message_id)
            if found is not None or loop.time() >= deadline:
                return found
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            self._drain_into(batch)
            if self._delay and len(batch) < self._max_batch:
                await asyncio.sleep(self._delay)
                self._drain_into(batch)
            await self._write(batch)
            for _ in batch:
                queue.task_done()

    def _drain_into(self, batch: list[_Pending]) -> None:
        assert self._queue is not None
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _write(self, batch: list[_Pending]) -> None:
        traced = [p.trace for p in batch if p.trace is not None] if self._timeline else ()
        for trace in traced:
            trace.stamp(WRITING)
        started = time.perf_counter()
        failed = await self._write_isolating(batch)
        for trace in traced:
            trace.stamp(DURABLE)
        seconds = time.perf_counter() - started
        error = failed[0][1] if failed else None
        if self._on_batch is not None:
            self._on_batch(len(batch), seconds, error)
        refused = {id(p) for p, _ in failed}
        if failed:
            logger.error("message batch of %d: %d not written: %r",
                         len(batch), len(failed), error)
            for p, e in failed:
                if not p.done.done():
                    p.done.set_exception(WriteFailed(str(e)))
        written = [p for p in batch if id(p) not in refused]
        if not written:
            return
        self.batches += 1
        self.messages += len(written)
        if self._after_write is not None:
            await self._after_write([p.message for p in written])
        events: list[Event] = []
        for p in written:
            events.extend(p.events)
            if not p.done.done():  # the sender may have gone away (cancelled)
                p.done.set_result(None)
        self._bus.publish(events)
        if self._timeline is not None and traced:
            for p in written:
                if p.trace is not None:
                    self._timeline.published(p.trace, p.message.id)

    async def _write_isolating(
        self, batch: list[_Pending]
    ) -> list[tuple[_Pending, BaseException]]:
        """Write ``batch`` durably; the rows that could not be written, with why.

        The whole batch first (the common case: one write); on a failure, halves in order,
        a failing half split again (module docstring). Whatever is written is durable when
        this returns; nothing is answered or published here.
        """
        failed: list[tuple[_Pending, BaseException]] = []
        groups: deque[list[_Pending]] = deque([batch])
        budget = ISOLATE_MAX_WRITES
        while groups:
            group = groups.popleft()
            try:
                await self._store.insert_many([p.message for p in group])
            except StoreUnavailable as e:  # down: every other write would fail the same way
                failed.extend((p, e) for p in group)
                for rest in groups:
                    failed.extend((p, e) for p in rest)
                break
            except Exception as e:  # any other store failure fails its rows, not the writer
                if len(group) == 1 or budget < 2:
                    failed.extend((p, e) for p in group)
                    continue
                budget -= 2
                middle = len(group) // 2
                groups.extendleft((group[middle:], group[:middle]))
        return failed
