"""One event loop on a thread of its own, running up to ``limit`` ``async def`` jobs of a worker at once.

Sync jobs keep the worker's main thread, where the SIGALRM soft timeout works; async jobs share this loop,
each cancelled at its own timeout by ``executor.invoke_async``. A coroutine that blocks the loop (a sync
call inside an async job) cannot be cancelled: the pool's supervisor kills the process at the hard limit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("tasks.worker")

T = TypeVar("T")


class AsyncRunner:
    """Runs coroutines on a private loop; ``try_acquire`` a slot before each ``submit``."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"async concurrency must be >= 1, got {limit}")
        self.limit = limit
        self._slots = threading.Semaphore(limit)
        self._changed = threading.Condition()
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self, timeout_s: float = 0.0) -> bool:
        """Take a slot for one job: ``False`` when all ``limit`` are busy for ``timeout_s``."""
        return self._slots.acquire(timeout=timeout_s) if timeout_s > 0 else self._slots.acquire(blocking=False)

    def release(self) -> None:
        """Give back a slot taken for a job that will not be submitted after all."""
        self._slots.release()

    def submit(self, work: Callable[[], Awaitable[T]], done: Callable[[T], None]) -> None:
        """Run ``work()`` on the loop (the caller holds a slot), then ``done(result)`` on the loop's thread.

        The slot is given back when ``work`` ends, however it ends.
        """
        with self._changed:
            self._in_flight += 1
        asyncio.run_coroutine_threadsafe(self._run(work, done), self._ensure_loop())

    def wait_change(self, timeout_s: float) -> None:
        """Block until a job ends or ``timeout_s`` passes (the worker then sends its acknowledgements)."""
        with self._changed:
            if self._in_flight:
                self._changed.wait(timeout_s)

    def wait_idle(self) -> None:
        """Block until no job is in flight (a worker stopping lets them finish; its supervisor bounds the wait)."""
        with self._changed:
            while self._in_flight:
                self._changed.wait(0.5)

    def close(self) -> None:
        """Stop the loop and join its thread; jobs still in flight are abandoned (call ``wait_idle`` first)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._loop = self._thread = None

    async def _run(self, work: Callable[[], Awaitable[T]], done: Callable[[T], None]) -> None:
        try:
            done(await work())
        except Exception:  # a bug of ours in ``done``; the job's own errors are caught by ``work``
            log.exception("async job bookkeeping failed")
        finally:
            self._slots.release()
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()
                loop.close()

            self._thread = threading.Thread(target=serve, name="tasks-async", daemon=True)
            self._thread.start()
            started.wait()
            self._loop = loop
        return self._loop
