"""The parent of ``discord-arch serve --workers N``: starts, watches, restarts and stops workers.

Shape (uvicorn ``multiprocess.py``, hypercorn ``run.py``): synchronous code, no
event loop. Workers are started with the ``spawn`` context. Signal handlers only queue the
signal number, and a wakeup fd (``signal.set_wakeup_fd``) makes the wait return at once. The
main loop waits on the workers' sentinels, their pipes (readiness and heartbeats) and that fd.

- SIGTERM, SIGINT: graceful stop. SIGTERM to every worker (each sends op 7 to its sessions,
  flushes pending writes and exits 0), up to ``config.drain_timeout_s`` for them to exit, then
  SIGKILL. A second SIGTERM/SIGINT while draining SIGKILLs at once.
- SIGHUP: rolling restart, one slot at a time. A new worker is started; only when it reports
  ready does the old one get SIGTERM (SIGKILL after the drain timeout), and the next slot
  follows. If a new worker dies, or is not ready within ``START_TIMEOUT_S``, the roll stops
  and the old worker keeps serving.
- A worker that exits unexpectedly is started again: at once the first time, then after
  ``BACKOFF_MIN_S``, doubling up to ``BACKOFF_MAX_S``; the count is forgotten once a worker
  has stayed up ``STABLE_S``.
- A worker exiting with status 2 before any worker was ever ready could not start
  (configuration, unreachable backend; it printed why in one line): everything stops, exit 2.
- A hung worker (alive, but its event loop blocked) is replaced: a worker that has sent a
  heartbeat and then none for ``config.worker_heartbeat_timeout_s`` is SIGKILLed, and started
  again as a crashed one is (with the back-off), with one log line saying so. As uvicorn's
  supervisor pings its workers; here the worker's loop writes the beats (``Heartbeat``) and
  the supervisor only reads, so it never waits on a worker.

Worker index: the target is called as ``target(config, slot + 32 * lane)``. The slot
(``index % 32``, 0..workers-1) is the worker's identity: its own port, its logs. The lane (0
or 1) differs between the live processes of a slot, so a worker still draining and its
replacement never share snowflake bits: a worker's process bits are ``2 * slot + lane`` and
its worker bits the host's ``node_id`` (``core.snowflake``, ``gateway.worker.open_platform``).
A new process takes the lane no live process of its slot has, and a SIGHUP that comes while
an old worker still drains is refused (a third process of the slot would need a third lane).

Readiness and heartbeats: a worker's environment holds ``DISCORD_ARCH_READY_FD``, the write
end of a pipe to the supervisor; the worker writes one byte ``READY`` there once it serves
(:func:`~gateway.supervised.notify_ready`, the idea of systemd's ``sd_notify``) and a byte
``BEAT`` every fifth of the heartbeat timeout from its event loop
(:class:`~gateway.supervised.Heartbeat`). That worker-side half, and ``LANE``, live in the
leaf ``gateway.supervised``: this module imports the worker (its default target), never the
reverse. A worker that never says ready is still supervised, but a SIGHUP roll waits for it
in vain and stops; one that never beats is watched for its exit only. The pipe of a worker
asked to stop is closed (its beats no longer matter).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from core.config import Config
from core.logs import configure_logging, json_of
from core.store.base import StoreUnavailable
from gateway.notify import Notifier
from gateway.supervised import BEAT, LANE, READY, READY_FD_ENV, notify_ready
from gateway.worker import run_worker

# LANE, READY_FD_ENV and notify_ready are gateway.supervised's, named here too as the
# supervisor's protocol (docs/operations.md points at gateway.supervisor.notify_ready).
__all__ = [
    "BACKOFF_MAX_S",
    "LANE",
    "READY_FD_ENV",
    "STABLE_S",
    "Supervisor",
    "notify_ready",
]

logger = logging.getLogger(__name__)

# The status of a worker (and of ``discord-arch``) that cannot start: config, backends, port.
EXIT_UNAVAILABLE = 2
# Restart backoff of a crashing worker, seconds: 0, then BACKOFF_MIN_S doubling to the cap.
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
# A worker up this long (seconds) has its crash count forgotten.
STABLE_S = 60.0
# The longest a SIGHUP replacement may take to report ready, in seconds.
START_TIMEOUT_S = 60.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Target = Callable[[Config, int], "int | None"]


@dataclass(slots=True, eq=False)
class _Worker:
    """One worker process and what the supervisor knows of it."""

    process: BaseProcess
    slot: int
    lane: int  # 0 or 1: the live processes of a slot have different snowflake bits
    ready_pipe: Connection | None  # None once closed: died, or asked to stop
    started: float
    ready: bool = False
    deadline: float | None = None  # ready by (replacement) or killed at (stopping)
    beat_at: float | None = None  # its last heartbeat; None: it never beat (not watched)
    hung_s: float | None = None  # killed after this long without a heartbeat

    @property
    def pid(self) -> int:
        return self.process.pid or 0


@dataclass(slots=True)
class _Slot:
    number: int
    worker: _Worker | None = None
    incoming: _Worker | None = None  # a SIGHUP replacement, until it is ready
    failures: int = 0
    restart_at: float | None = None
    lane: int = 0


class Supervisor:
    """Runs ``config.workers`` worker processes until SIGTERM/SIGINT.

    Args:
        config: the frozen config, pickled to each worker.
        target: the worker body, ``target(config, index)``, a module-level function (spawn
            imports it by name); default :func:`gateway.worker.run_worker`.
        notifier: tells systemd ``READY=1`` once every worker is ready, ``STOPPING=1`` when
            the drain starts (``gateway.notify``; the workers get none).
    """

    def __init__(
        self, config: Config, target: Target | None = None, notifier: Notifier | None = None
    ) -> None:
        self._config = config
        self._target = target or run_worker
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(config.workers)]
        self._retiring: list[_Worker] = []
        self._roll: deque[int] = deque()
        self._signals: deque[int] = deque()
        self._stopping = False
        self._status = 0
        self._ever_ready = False
        self._notifier = notifier or Notifier(None)
        self._announced = False  # READY=1 sent

    def run(self) -> int:
        """Start the workers and supervise them until told to stop; returns the exit status.

        Returns:
            0 when every worker stopped by itself within the drain timeout, 1 when one had to
            be killed or exited with an error, 2 when the workers could not start.
        """
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous = self._install_signals(wake_w)
        try:
            logger.info("supervisor %d: starting %d workers", os.getpid(), len(self._slots))
            for slot in self._slots:
                slot.worker = self._spawn(slot)
            while not self._stopping:
                self._wait(wake_r, self._timeout())
                self._dispatch_signals()
                if not self._stopping:
                    self._step(time.monotonic())
            return self._shutdown(wake_r)
        finally:
            self._restore_signals(previous)
            wake_r.close()
            wake_w.close()

    # -- signals --------------------------------------------------------------------------------

    def _install_signals(self, wake_w: socket.socket) -> dict[int, Any]:
        previous: dict[int, Any] = {sig: signal.signal(sig, self._on_signal)
                                    for sig in (*_STOP_SIGNALS, signal.SIGHUP)}
        previous[-1] = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        signal.set_wakeup_fd(previous.pop(-1))
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)  # nothing else here: the main loop does the work

    def _dispatch_signals(self) -> None:
        while self._signals:
            signum = self._signals.popleft()
            if signum == signal.SIGHUP:
                self.handle_hup()
            else:
                self.handle_term(signum)

    def handle_term(self, signum: int) -> None:
        """SIGTERM/SIGINT: stop every worker gracefully."""
        logger.info("%s: stopping the workers", signal.Signals(signum).name)
        self._notifier.stopping(f"draining {len(self._slots)} workers")
        self._stopping = True

    def handle_hup(self) -> None:
        """SIGHUP: replace every worker, one at a time, each after its successor is ready."""
        if self._roll or any(s.incoming for s in self._slots):
            logger.info("SIGHUP: a restart is already in progress")
            return
        if self._retiring:  # their slots' second lane is theirs until they exit
            logger.info("SIGHUP: old workers are still draining; send it again once they exit")
            return
        logger.info("SIGHUP: restarting %d workers one by one", len(self._slots))
        self._roll.extend(range(len(self._slots)))

    # -- the main loop --------------------------------------------------------------------------

    def _workers(self) -> list[_Worker]:
        slots = [w for s in self._slots for w in (s.worker, s.incoming) if w is not None]
        return slots + self._retiring

    def _timeout(self) -> float | None:
        """Seconds until the next deadline (restart, replacement, kill, heartbeat); None: none
        pending."""
        due = [s.restart_at for s in self._slots if s.restart_at is not None]
        due += [w.deadline for w in self._workers() if w.deadline is not None]
        silence = self._config.worker_heartbeat_timeout_s
        if silence:
            due += [w.beat_at + silence for w in self._watched() if w.beat_at is not None]
        return max(min(due) - time.monotonic(), 0.0) if due else None

    def _watched(self) -> list[_Worker]:
        """The workers whose heartbeats count: each slot's current one and its replacement
        (not those stopping: their drain has a deadline of its own)."""
        return [w for s in self._slots for w in (s.worker, s.incoming) if w is not None]

    def _wait(self, wake_r: socket.socket, timeout: float | None) -> None:
        objects: list[Any] = [wake_r]
        for worker in self._workers():
            objects.append(worker.process.sentinel)
            if worker.ready_pipe is not None:
                objects.append(worker.ready_pipe)
        if wake_r in wait(objects, timeout):
            try:
                while wake_r.recv(64):
                    pass
            except BlockingIOError:
                pass

    def _step(self, now: float) -> None:
        """Take in what happened: readiness, exits, deadlines; then roll and restart."""
        for slot in self._slots:
            for worker in (slot.worker, slot.incoming):
                if worker is not None:
                    self._read_pipe(worker, now)
                    self._check_heartbeat(worker, now)
            if slot.incoming is not None:
                self._check_incoming(slot, now)
            if slot.worker is not None and slot.worker.process.exitcode is not None:
                self._exited(slot, slot.worker, now)
                if self._stopping:
                    return
        self._check_retiring(now)
        self._advance_roll()
        for slot in self._slots:
            if slot.restart_at is not None and now >= slot.restart_at and slot.worker is None:
                slot.restart_at = None
                slot.worker = self._spawn(slot)

    def _spawn(self, slot: _Slot) -> _Worker:
        # Lanes alternate, skipping one a live process of the slot has: the current worker's
        # while its replacement starts, an old one's still draining while a crashed worker is
        # restarted. At most one is ever taken (handle_hup waits for the draining ones).
        taken = {w.lane for w in self._workers() if w.slot == slot.number}
        lane = slot.lane if slot.lane not in taken else 1 - slot.lane
        slot.lane = 1 - lane
        index = slot.number + LANE * lane
        ready_r, ready_w = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_worker_main, name=f"discord-arch-worker-{slot.number}",
            args=(self._target, self._config, index, ready_w),
        )
        process.start()
        ready_w.close()  # the child's copy is the only one left: EOF when it dies
        # Read as raw bytes (gateway.supervised), never waiting: the Connection only carries
        # the fd to the child.
        os.set_blocking(ready_r.fileno(), False)
        logger.info("worker %d started (pid %d)", slot.number, process.pid)
        return _Worker(process, slot.number, lane, ready_r, time.monotonic())

    def _read_pipe(self, worker: _Worker, now: float) -> None:
        """Take in what the worker wrote: READY once, BEATs; EOF when it died."""
        pipe = worker.ready_pipe
        if pipe is None:
            return
        try:
            data = os.read(pipe.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # died: its sentinel tells the rest
            pipe.close()
            worker.ready_pipe = None
            return
        if BEAT in data:
            worker.beat_at = now
        if READY in data and not worker.ready:
            worker.ready = self._ever_ready = True
            logger.info("worker %d ready (pid %d)", worker.slot, worker.pid)
            if not self._announced and all(s.worker and s.worker.ready for s in self._slots):
                self._announced = True
                self._notifier.ready(f"{len(self._slots)} workers ready")

    def _check_heartbeat(self, worker: _Worker, now: float) -> None:
        """SIGKILL a worker that beat once and has been silent past the timeout: its loop is
        blocked. Its exit, seen through its sentinel, restarts it (``_exited``)."""
        silence = self._config.worker_heartbeat_timeout_s
        if (not silence or worker.beat_at is None or worker.hung_s is not None
                or worker.process.exitcode is not None or now - worker.beat_at < silence):
            return
        worker.hung_s = now - worker.beat_at
        worker.process.kill()

    def _exited(self, slot: _Slot, worker: _Worker, now: float) -> None:
        """A slot's current worker is gone without being asked to: start it again later."""
        self._reap(worker)
        slot.worker = None
        code = worker.process.exitcode
        if code == EXIT_UNAVAILABLE and not self._ever_ready:
            logger.error("worker %d could not start (exit status 2): stopping",
                         slot.number)
            self._status, self._stopping = EXIT_UNAVAILABLE, True
            return
        if slot.incoming is not None:
            logger.warning("worker %d (pid %d) %s while replaced",
                           slot.number, worker.pid, _ended(worker))
            return
        uptime = now - worker.started
        if uptime >= STABLE_S:
            slot.failures = 0
        delay = min(BACKOFF_MIN_S * 2 ** (slot.failures - 1), BACKOFF_MAX_S) if slot.failures else 0.0
        slot.failures += 1
        slot.restart_at = now + delay
        logger.warning("worker %d (pid %d) %s after %.1f s; "
                       "restarting in %.1f s", slot.number, worker.pid, _ended(worker),
                       uptime, delay)

    # -- rolling restart ------------------------------------------------------------------------

    def _advance_roll(self) -> None:
        """Start the next replacement when none is pending."""
        if any(s.incoming is not None for s in self._slots):
            return
        while self._roll:
            slot = self._slots[self._roll.popleft()]
            if slot.worker is None:
                continue  # down: its pending restart is a new worker already
            slot.incoming = self._spawn(slot)
            slot.incoming.deadline = time.monotonic() + START_TIMEOUT_S
            return

    def _check_incoming(self, slot: _Slot, now: float) -> None:
        new = slot.incoming
        assert new is not None
        if new.ready:
            new.deadline, slot.incoming, old = None, None, slot.worker
            slot.worker = new
            if old is not None:
                self._retire(old, now)
                logger.info("worker %d replaced (pid %d -> %d)",
                            slot.number, old.pid, new.pid)
            return
        exited = new.process.exitcode is not None
        if not exited and (new.deadline is None or now < new.deadline):
            return
        logger.error("the new worker %d (pid %d) %s: restart stopped%s",
                     slot.number, new.pid,
                     _ended(new) if exited else f"was not ready within {START_TIMEOUT_S:.0f} s",
                     f", pid {slot.worker.pid} keeps serving" if slot.worker else "")
        if not exited:
            new.process.kill()
        self._reap(new)
        slot.incoming = None
        self._roll.clear()
        if slot.worker is None:
            slot.restart_at = now + BACKOFF_MIN_S

    def _retire(self, worker: _Worker, now: float) -> None:
        self._close_pipe(worker)  # its beats no longer matter: the drain deadline does
        worker.process.terminate()
        worker.deadline = now + self._config.drain_timeout_s
        self._retiring.append(worker)

    def _check_retiring(self, now: float) -> None:
        for worker in tuple(self._retiring):
            if worker.process.exitcode is not None:
                self._reap(worker)
                self._retiring.remove(worker)
                logger.info("old worker %d (pid %d) exited with %s",
                            worker.slot, worker.pid, _describe(worker.process.exitcode))
            elif worker.deadline is not None and now >= worker.deadline:
                logger.warning("old worker %d (pid %d) still draining after "
                               "%.0f s: SIGKILL", worker.slot, worker.pid,
                               self._config.drain_timeout_s)
                worker.process.kill()
                worker.deadline = None

    # -- stopping -------------------------------------------------------------------------------

    def _shutdown(self, wake_r: socket.socket) -> int:
        """SIGTERM to all, wait up to the drain timeout, SIGKILL the rest; the exit status."""
        workers = self._workers()
        for worker in workers:
            self._close_pipe(worker)  # beats no longer matter, and would wake the wait
            if worker.process.exitcode is None:
                worker.process.terminate()
        deadline = time.monotonic() + self._config.drain_timeout_s
        alive = workers
        while alive := [w for w in alive if w.process.exitcode is None]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._wait(wake_r, remaining)
            if any(sig in _STOP_SIGNALS for sig in self._signals):
                logger.warning("signalled again: killing the workers now")
                break
        for worker in alive:
            logger.warning("worker %d (pid %d) did not stop within %.0f s: SIGKILL",
                           worker.slot, worker.pid, self._config.drain_timeout_s)
            worker.process.kill()
        clean = True
        for worker in workers:
            self._reap(worker)
            # -SIGTERM: stopped before its own handler was installed, which is a clean stop.
            clean = clean and worker not in alive and worker.process.exitcode in (
                0, -signal.SIGTERM)
        logger.info("all workers stopped")
        return self._status or (0 if clean else 1)

    @staticmethod
    def _reap(worker: _Worker) -> None:
        worker.process.join()
        Supervisor._close_pipe(worker)

    @staticmethod
    def _close_pipe(worker: _Worker) -> None:
        if worker.ready_pipe is not None:
            worker.ready_pipe.close()
            worker.ready_pipe = None


def _worker_main(target: Target, config: Config, index: int, ready: Connection) -> None:
    """The body of a worker process: spawn imports this module, then calls this."""
    # SIGHUP is the supervisor's (a closed terminal sends it to the whole process group).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Logging is not inherited by spawned processes.
    configure_logging(config.log_level, json_of(config.log_format),
                      fields={"worker": index % LANE})
    os.environ[READY_FD_ENV] = str(ready.fileno())
    try:
        status = target(config, index)
    except StoreUnavailable as exc:
        print(f"discord-arch: error: {exc}", file=sys.stderr)
        status = EXIT_UNAVAILABLE
    except OSError as exc:  # e.g. a port taken
        print(f"discord-arch: error: {exc.strerror or exc}", file=sys.stderr)
        status = EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        status = 0
    sys.exit(status or 0)


def _ended(worker: _Worker) -> str:
    """How a worker ended, for the one line that reports it."""
    if worker.hung_s is not None:
        return f"hung: no heartbeat for {worker.hung_s:.1f} s, SIGKILL"
    return f"exited with {_describe(worker.process.exitcode)}"


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return signal.Signals(-exitcode).name
    return f"status {exitcode}"
